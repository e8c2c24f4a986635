"""``python manage.py preprocess_bench``: how fast and how lean photo preprocessing is.

Builds (once, cached under ``var/bench/``) a 12 MP and a 48 MP JPEG, a 12 MP HEIC and a 12 MP
PNG of photographic content: scikit-image's bundled photographs tiled into a 4×3 grid and
given a little sensor grain, so they compress like camera files rather than flat test
cards. For each file it times, interleaved in the same run (median of ``--repeat``):

- ``to size``: our decode (draft/reduce, orientation, sRGB, metadata dropped) fitted into
  1280×720, against pyvips ``thumbnail`` to the same size — the like-for-like comparison,
  which the targets apply to; for HEIC, against pillow-heif's bare decode (HEVC decoding is
  the floor, and the pyvips wheel's libheif has no HEVC decoder);
- ``plain decode``: Pillow decoding every pixel, then fitting (what draft/reduce avoids);
- ``full``: the whole pipeline (``imaging.prepare``: border detection,
  thumbnail) with both JPEGs encoded, against pyvips making and encoding the same two sizes;

and the peak memory of each, each run once in a fresh process (peak RSS above the process's
own baseline after imports and reading the file). scikit-image and pyvips are development
dependencies (requirements-dev.txt).
"""

from __future__ import annotations

import io
import json
import logging
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from PIL import Image

from photos import imaging

# The targets from the photos issue: ratios to pyvips (or pillow-heif) and the 48 MP peak.
TARGETS = {"12mp.jpg": 1.1, "48mp.jpg": 0.8, "12mp.heic": 1.1}
PEAK_TARGET_MB = {"48mp.jpg": 120}
# Phone-camera sizes: 4032×3024 is 12.2 MP, 8064×6048 is 48.8 MP.
INPUTS = {
    "12mp.jpg": ((4032, 3024), "JPEG"),
    "48mp.jpg": ((8064, 6048), "JPEG"),
    "12mp.heic": ((4032, 3024), "HEIF"),
    "12mp.png": ((4032, 3024), "PNG"),
}
TILES = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field",
         "retina", "cat", "astronaut", "coffee", "rocket", "chelsea")  # fmt: skip


def scene(size: tuple[int, int], seed: int = 0) -> Image.Image:
    """Real photographs tiled 4×3 to ``size``, with mild grain (σ 3) as a camera leaves."""
    from skimage import data

    width, height = size
    cell_w, cell_h = width // 4, height // 3
    canvas = np.zeros((height, width, 3), np.uint8)
    for i, name in enumerate(TILES):
        tile = Image.fromarray(getattr(data, name)()).resize((cell_w, cell_h), Image.Resampling.BICUBIC)
        row, col = divmod(i, 4)
        canvas[row * cell_h : (row + 1) * cell_h, col * cell_w : (col + 1) * cell_w] = np.asarray(tile)
    grain = np.random.default_rng(seed).normal(0, 3, canvas.shape)
    return Image.fromarray((canvas + grain).clip(0, 255).astype(np.uint8))


def build_inputs(folder: Path) -> dict[str, Path]:
    """The four benchmark files, made once and reused."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, (size, fmt) in INPUTS.items():
        path = paths[name] = folder / name
        if path.exists():
            continue
        img = scene(size)
        if fmt == "HEIF":
            import pillow_heif

            pillow_heif.from_pillow(img).save(path, quality=85)
        elif fmt == "JPEG":
            img.save(path, "JPEG", quality=92)
        else:
            img.save(path, "PNG")
    return paths


def box_for(width: int, height: int) -> tuple[int, int]:
    """pyvips' width/height for our 1280×720 box in the picture's own orientation."""
    return (1280, 720) if width >= height else (720, 1280)


# --- the measured operations (each takes the file's bytes) -----------------------------


def ours_to_size(data: bytes) -> Image.Image:
    return imaging.fit_within(imaging.decode(io.BytesIO(data)).image)


def plain_to_size(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        return imaging.fit_within(img.convert("RGB"))


def ours_full(data: bytes) -> tuple[bytes, bytes]:
    prepared = imaging.prepare(io.BytesIO(data))
    return imaging.encode_jpeg(prepared.image), imaging.encode_jpeg(prepared.thumbnail, quality=82)


def vips_to_size(data: bytes) -> Any:
    import pyvips

    probe = pyvips.Image.new_from_buffer(data, "")
    width, height = box_for(probe.width, probe.height)
    return pyvips.Image.thumbnail_buffer(data, width, height=height, size="down").write_to_memory()


def vips_full(data: bytes) -> tuple[bytes, bytes]:
    import pyvips

    probe = pyvips.Image.new_from_buffer(data, "")
    width, height = box_for(probe.width, probe.height)
    ready = pyvips.Image.thumbnail_buffer(data, width, height=height, size="down").copy_memory()
    thumb = pyvips.Image.thumbnail_image(ready, 320, height=320)
    return ready.jpegsave_buffer(Q=90), thumb.jpegsave_buffer(Q=82)


def heif_bare(data: bytes) -> Any:
    import pillow_heif

    return pillow_heif.open_heif(io.BytesIO(data))[0].data


OPERATIONS: dict[str, Callable[[bytes], Any]] = {
    "ours": ours_to_size,
    "plain": plain_to_size,
    "ours_full": ours_full,
    "vips": vips_to_size,
    "vips_full": vips_full,
    "heif": heif_bare,
}


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def child(operation: str, path: str) -> None:
    """Run one operation once in this (fresh) process and print its peak memory as JSON."""
    if operation.startswith("vips"):
        import pyvips

        pyvips.cache_set_max(0)
    data = Path(path).read_bytes()
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak RSS to the current RSS
        exact = True
    except OSError:
        exact = False
    base = _status_kb("VmRSS")
    OPERATIONS[operation](data)
    peak = _status_kb("VmHWM")
    print(json.dumps({"peak_mb": (peak - base) / 1024, "base_mb": base / 1024, "exact": exact}))


def peak_memory(operation: str, path: Path) -> float | None:
    """Peak RSS (MB) of one operation in a fresh interpreter, above its own baseline."""
    code = (
        "import sys; from photos.management.commands.preprocess_bench import child; "
        "child(sys.argv[1], sys.argv[2])"
    )
    done = subprocess.run(  # noqa: S603 -- our own interpreter and module
        [sys.executable, "-c", code, operation, str(path)],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])["peak_mb"]


def median_times(operations: dict[str, Callable[[], Any]], repeat: int) -> dict[str, float]:
    """Median seconds of each operation, run interleaved so background load hits all alike."""
    for op in operations.values():
        op()  # warm-up: imports, caches, first-call costs
    times: dict[str, list[float]] = {name: [] for name in operations}
    for _ in range(repeat):
        for name, op in operations.items():
            start = time.perf_counter()
            op()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


class Command(BaseCommand):
    help = "Time and measure photo preprocessing against pyvips on 12/48 MP JPEG, HEIC and PNG."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--repeat", type=int, default=7, help="timed runs per operation (median)")
        parser.add_argument(
            "--dir", default=str(Path(settings.BASE_DIR) / "var" / "bench"), help="where inputs are kept"
        )
        parser.add_argument("--no-memory", action="store_true", help="skip the fresh-process memory runs")

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            import pyvips
            import skimage  # noqa: F401 -- the inputs are made from its photographs
        except ImportError as exc:
            raise CommandError(
                "preprocess_bench needs scikit-image and pyvips (development dependencies): "
                "pip install -r requirements-dev.txt"
            ) from exc
        pyvips.cache_set_max(0)  # no cached results between runs
        logging.getLogger("pyvips").setLevel(logging.WARNING)  # its INFO lines narrate every call
        self.stdout.write("Preparing inputs…")
        paths = build_inputs(Path(opts["dir"]))
        misses: list[str] = []
        rows = []
        for name, path in paths.items():
            data = path.read_bytes()
            heic = name.endswith(".heic")
            ops = ["ours", "plain", "ours_full"] + (["heif"] if heic else ["vips", "vips_full"])
            runs = {op: (lambda op=op, data=data: OPERATIONS[op](data)) for op in ops}
            times = median_times(runs, opts["repeat"])
            peaks = {} if opts["no_memory"] else {op: peak_memory(op, path) for op in ops}
            with Image.open(path) as img:
                megapixels = img.width * img.height / 1e6
            rows.append((name, len(data), megapixels, times, peaks))
        self._report(rows, misses, measured_memory=not opts["no_memory"])
        if misses:
            self.stdout.write(self.style.WARNING("Targets missed: " + "; ".join(misses)))
        else:
            self.stdout.write(self.style.SUCCESS("All targets met."))

    def _report(self, rows: list[tuple], misses: list[str], *, measured_memory: bool) -> None:
        def ms(value: float) -> str:
            return f"{value * 1000:7.1f} ms"

        def mb(value: float | None) -> str:
            return "    n/a" if value is None else f"{value:6.0f} MB"

        self.stdout.write("")
        self.stdout.write(
            "To size (decode + fit 1280×720) — median time, ratio, peak memory in a fresh process"
        )
        self.stdout.write(
            f"{'input':<11}{'file':>9}  {'ours':>10} {'reference':>21} {'ratio':>6} {'target':>7}  "
            f"{'plain decode':>18}  {'peak ours':>9} {'peak ref':>9} {'peak plain':>10}"
        )
        for name, size, _mp, times, peaks in rows:
            ref = "heif" if "heif" in times else "vips"
            label = "pillow-heif decode" if ref == "heif" else "pyvips thumbnail"
            ratio = times["ours"] / times[ref]
            target = TARGETS.get(name)
            ok = target is None or ratio <= target
            if not ok:
                misses.append(f"{name} to size {ratio:.2f}× > {target}×")
            plain_ratio = times["plain"] / times[ref]
            self.stdout.write(
                f"{name:<11}{size / 2**20:>7.1f}MB  {ms(times['ours'])} "
                f"{label:>18}:{ms(times[ref]).strip():>9}"
                f" {ratio:5.2f}× {('≤' + str(target) + '×') if target else '—':>7}{'' if ok else ' ✗'}  "
                f"{ms(times['plain'])} ({plain_ratio:4.1f}×)  {mb(peaks.get('ours'))}  {mb(peaks.get(ref))}"
                f"  {mb(peaks.get('plain'))}"
            )
            limit = PEAK_TARGET_MB.get(name)
            if limit and measured_memory:
                peak = peaks.get("ours")
                if peak is None or peak >= limit:
                    misses.append(f"{name} peak {mb(peak).strip()} ≥ {limit} MB")
        self.stdout.write("")
        self.stdout.write("Full preprocessing (decode, border detection, fit, thumbnail, both JPEGs encoded)")
        self.stdout.write(
            f"{'input':<11}{'ours':>12} {'pyvips (2 sizes + encode)':>27} {'ratio':>7}  {'peak':>9}"
        )
        for name, _size, _mp, times, peaks in rows:
            vips = times.get("vips_full")
            versus = f"{ms(vips):>27} {times['ours_full'] / vips:6.2f}×" if vips else f"{'n/a':>27} {'':>7}"
            self.stdout.write(
                f"{name:<11}{ms(times['ours_full']):>12} {versus}  {mb(peaks.get('ours_full'))}"
            )
        self.stdout.write("")
