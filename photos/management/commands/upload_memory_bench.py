"""``python manage.py upload_memory_bench``: how much memory one upload can cost the web process.

Builds (once, cached under ``var/bench/upload/``) the worst cases the upload path accepts, each
at the pixel cap (``imaging.MAX_PIXELS``) and within the size limit: a 16-bit grayscale PNG, a
16-bit RGBA PNG, a HEIC, a progressive JPEG (4:4:4, the largest coefficient buffer), a lossy
WebP and a baseline JPEG. Their pixels are mostly flat with a real photograph in the middle,
so they stay small on disk; decoding costs the same whatever the content.

For each file, in a fresh process on a fresh embedded database (a temporary ``var/``), it runs
the service the upload view and API call (``photo_upload``: header, pixel cap, check decode
when cheap, store) and prints the process's baseline RSS (after imports and a warm-up upload),
its peak RSS and the added peak; then, in another fresh process, the worker's preprocessing of
the same stored upload (``photo_preprocess``: the full decode), for comparison. Django's
multipart parsing, which streams a large upload to a temporary file in 64 KB chunks, is left
out: the file is handed over as that temporary file would be.

``--concurrent 12`` starts gunicorn as production does (3 workers × 4 threads) on a fresh
embedded database and sends 12 worst-case uploads at once over HTTP while polling
``/healthz``; it prints each upload's status, the /healthz latencies, whether every call was
answered, and the web processes' largest RSS. Figures only: nothing here asserts.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from PIL import Image

from photos import imaging

# The bound on what any accepted file may add to a web process's peak RSS.
TARGET_ADDED_MB = 300
CASES = (
    "gray16.png", "rgba16.png", "cap.heic", "progressive.jpg", "cap.webp", "baseline.jpg",
    "budget.webp", "budget.heic", "budget-rgba16.png",
)  # fmt: skip
BENCH_EMAIL = "upload-bench@rekindle.invalid"
HEALTHZ_TIMEOUT_S = 10.0


def cap_size(max_pixels: int = imaging.MAX_PIXELS) -> tuple[int, int]:
    """The largest 4:3 size within the pixel cap."""
    height = int((max_pixels * 3 / 4) ** 0.5)
    width = max_pixels // height
    while width * height > max_pixels:
        width -= 1
    return width, height


def budget_size(name: str) -> tuple[int, int]:
    """The largest 4:3 size whose check decode still fits the request's budget: the files that
    cost a request the most memory, since larger ones are not decoded there at all."""
    fmt, mode = {"webp": ("WEBP", "RGB"), "heic": ("HEIF", "RGB"), "png": ("PNG", "RGBA")}[
        name.rsplit(".")[-1]
    ]
    probe = Image.new(mode, (4, 3))
    probe.format = fmt
    per_pixel = imaging.decode_cost(probe) / 12
    return cap_size(int(settings.PHOTO_VERIFY_MAX_DECODE_BYTES / per_pixel))


def _picture(size: tuple[int, int]) -> np.ndarray:
    from skimage import data

    return np.asarray(Image.fromarray(data.astronaut()).resize(size, Image.Resampling.BICUBIC))


def build_case(name: str, path: Path) -> None:
    """One worst-case file at the pixel cap (or the check-decode budget, for "budget" names):
    flat, with a 2000×1500 photograph in the middle."""
    width, height = budget_size(name) if name.startswith("budget") else cap_size()
    photo = _picture((2000, 1500))
    top, left = (height - 1500) // 2, (width - 2000) // 2
    if name.endswith("16.png"):  # Pillow writes no 16-bit colour PNGs; OpenCV does
        import cv2

        channels = 1 if name.startswith("gray") else 4
        canvas = np.full((height, width, channels), 40000, np.uint16)
        patch = photo.astype(np.uint16) * 257
        if channels == 1:
            patch = patch.mean(axis=2, keepdims=True).astype(np.uint16)
        else:
            patch = np.dstack([patch[..., ::-1], np.full((1500, 2000), 65535, np.uint16)])  # BGRA
        canvas[top : top + 1500, left : left + 2000] = patch
        cv2.imwrite(str(path), canvas if channels == 4 else canvas[..., 0])
        return
    img = Image.new("RGB", (width, height), (150, 140, 120))
    img.paste(Image.fromarray(photo), (left, top))
    if name.endswith(".heic"):
        import pillow_heif

        pillow_heif.from_pillow(img).save(path, quality=60)
    elif name.endswith(".webp"):
        img.save(path, "WEBP", quality=80, method=0)
    else:
        img.save(path, "JPEG", quality=90, subsampling=0, progressive=name.startswith("progressive"))


def build_inputs(folder: Path, stdout: Any) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in CASES:
        path = paths[name] = folder / name
        if path.exists() and name.startswith("budget"):
            with Image.open(path) as img:
                stale = img.size != budget_size(name)  # the budget setting changed
            if stale:
                path.unlink()
        if not path.exists():
            stdout.write(f"  making {name} (once)…")
            build_case(name, path)
    return paths


# --- the measured child processes ------------------------------------------------------


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # the peak RSS starts again from the current RSS
        return True
    except OSError:
        return False


def child_request(path: str) -> dict[str, Any]:
    """Upload one file through ``photo_upload`` in this fresh process; its memory as a dict."""
    import io
    from unittest import mock

    from django.contrib.auth import get_user_model
    from django.core.files import File

    from photos import services
    from rekindle.exceptions import DomainError

    user, _ = get_user_model().objects.get_or_create(email=BENCH_EMAIL)
    with mock.patch.object(services, "photo_enqueue_preprocess"):  # the worker is measured apart
        warm = Image.new("RGB", (64, 48), (120, 90, 60))
        buffer = io.BytesIO()
        warm.save(buffer, "JPEG")
        services.photo_upload(user=user, file=buffer, size=buffer.tell(), name="warm.jpg")
        exact = _reset_peak()
        base = _status_kb("VmRSS")
        result: dict[str, Any] = {"exact": exact}
        with open(path, "rb") as fh:
            try:
                photo = services.photo_upload(
                    user=user, file=File(fh), size=os.path.getsize(path), name=Path(path).name
                )
                result.update(status="accepted", photo_id=photo.pk)
            except DomainError as exc:
                result.update(status=f"refused {exc.status}: {exc.message}")
        peak = _status_kb("VmHWM")
    return {**result, "base_mb": base / 1024, "peak_mb": peak / 1024, "added_mb": (peak - base) / 1024}


def child_worker(photo_id: int) -> dict[str, Any]:
    """Preprocess one stored upload in this fresh process (as the Celery task does)."""
    from photos.services import photo_preprocess

    exact = _reset_peak()
    base = _status_kb("VmRSS")
    photo = photo_preprocess(photo_id=photo_id)
    peak = _status_kb("VmHWM")
    return {
        "exact": exact,
        "status": photo.status if photo else "missing",
        "error": photo.error if photo else "",
        "size": [photo.width, photo.height] if photo else None,
        "base_mb": base / 1024,
        "peak_mb": peak / 1024,
        "added_mb": (peak - base) / 1024,
    }


# --- the embedded server ---------------------------------------------------------------


def embedded_env(var_dir: Path, **extra: str) -> dict[str, str]:
    """A fresh embedded setup (SQLite and files under ``var_dir``), as tests/embedded.py makes."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "AWS_STORAGE_BUCKET_NAME"}
    }
    env.update({"REKINDLE_VAR_DIR": str(var_dir), "PYTHONUNBUFFERED": "1", "LOG_FORMAT": "text", **extra})
    return env


def _last_json(output: str) -> dict[str, Any]:
    """The JSON line a child printed (log lines may come before it)."""
    return json.loads([line for line in output.splitlines() if line.startswith("{")][-1])


def manage(env: dict[str, str], *args: str, timeout: float = 600) -> str:
    done = subprocess.run(  # noqa: S603 -- our own interpreter and manage.py
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed: {done.stderr[-2000:]}")
    return done.stdout


@contextmanager
def fresh_var() -> Iterator[tuple[Path, dict[str, str]]]:
    var_dir = Path(tempfile.mkdtemp(prefix="upload-bench-"))
    env = embedded_env(var_dir, PHOTO_UPLOAD_RATE="100000/h")
    try:
        manage(env, "migrate", "--noinput")
        manage(env, "createcachetable")
        yield var_dir, env
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tree_rss_mb(proc: Any) -> dict[int, float]:
    import psutil

    out = {}
    with suppress(psutil.Error):  # the server stopping while it is read
        for p in [proc, *proc.children(recursive=True)]:
            with suppress(psutil.Error):  # a worker that exited between listing and reading
                out[p.pid] = p.memory_info().rss / 2**20
    return out


class Command(BaseCommand):
    help = "Peak memory of one upload request per worst-case file; --concurrent N for /healthz under load."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dir",
            default=str(Path(settings.BASE_DIR) / "var" / "bench" / "upload"),
            help="inputs kept here",
        )
        parser.add_argument("--only", nargs="*", choices=CASES, help="just these cases")
        parser.add_argument("--no-worker", action="store_true", help="skip the worker's preprocessing runs")
        parser.add_argument("--concurrent", type=int, default=0, help="N uploads at once against gunicorn")
        parser.add_argument("--child-request", help=EMPTY_HELP)
        parser.add_argument("--child-worker", type=int, help=EMPTY_HELP)

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["child_request"]:
            self.stdout.write(json.dumps(child_request(opts["child_request"])))
            return
        if opts["child_worker"]:
            self.stdout.write(json.dumps(child_worker(opts["child_worker"])))
            return
        self.stdout.write("Preparing worst-case inputs…")
        paths = build_inputs(Path(opts["dir"]), self.stdout)
        if opts["only"]:
            paths = {name: paths[name] for name in opts["only"]}
        self.stdout.write(
            f"Pixel cap {imaging.MAX_PIXELS / 1e6:.0f} MP ({'×'.join(map(str, cap_size()))}); check-decode "
            f"budget {settings.PHOTO_VERIFY_MAX_DECODE_BYTES / 2**20:.0f} MB; size limit "
            f"{settings.PHOTO_MAX_BYTES / 2**20:.0f} MB"
        )
        if opts["concurrent"]:
            self._concurrent(paths, opts["concurrent"])
        else:
            self._per_file(paths, worker=not opts["no_worker"])

    def _per_file(self, paths: dict[str, Path], *, worker: bool) -> None:
        self.stdout.write("")
        self.stdout.write(
            f"{'input':<18}{'file':>9}  {'request: base':>13} {'peak':>7} {'added':>7}  {'result':<10}"
            f"{'worker: added':>14}  worker result"
        )
        worst = 0.0
        with fresh_var() as (_var, env):
            for name, path in paths.items():
                req = _last_json(manage(env, "upload_memory_bench", "--child-request", str(path)))
                accepted = req["status"] == "accepted"
                if accepted:
                    worst = max(worst, req["added_mb"])
                work = "skipped"
                work_mb = ""
                if worker and accepted:
                    w = _last_json(manage(env, "upload_memory_bench", "--child-worker", str(req["photo_id"])))
                    work_mb = f"{w['added_mb']:.0f} MB"
                    size = "×".join(map(str, w["size"])) if w["size"] and w["size"][0] else ""
                    work = f"{w['status']} {size} {w['error']}".strip()
                flag = "" if req["exact"] else " (peak since start)"
                self.stdout.write(
                    f"{name:<18}{path.stat().st_size / 2**20:>7.1f}MB  {req['base_mb']:>10.0f} MB "
                    f"{req['peak_mb']:>4.0f} MB {req['added_mb']:>4.0f} MB  "
                    f"{req['status'] if accepted else req['status'][:60]:<10}{work_mb:>14}  {work}{flag}"
                )
        self.stdout.write("")
        verdict = "within" if worst <= TARGET_ADDED_MB else "OVER"
        line = (
            f"Largest added peak of an accepted upload request: {worst:.0f} MB "
            f"({verdict} {TARGET_ADDED_MB} MB)."
        )
        self.stdout.write(self.style.SUCCESS(line) if worst <= TARGET_ADDED_MB else self.style.WARNING(line))

    def _concurrent(self, paths: dict[str, Path], count: int) -> None:
        import psutil
        import requests

        files = list(paths.values())
        with fresh_var() as (_var, env):
            token = manage(
                env,
                "shell",
                "-c",
                "from django.contrib.auth import get_user_model\n"
                "from accounts.services import api_token_create\n"
                f"u, _ = get_user_model().objects.get_or_create(email='{BENCH_EMAIL}')\n"
                "print(api_token_create(user=u, name='bench')[1])",
            ).splitlines()[-1]  # log lines may come first
            port = _free_port()
            web = subprocess.Popen(  # noqa: S603 -- gunicorn from our own environment
                [str(Path(sys.executable).parent / "gunicorn"), "rekindle.wsgi",
                 "--bind", f"127.0.0.1:{port}", "--workers", "3", "--threads", "4", "--timeout", "120"],
                cwd=settings.BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            base = f"http://127.0.0.1:{port}"
            try:
                self._wait(base, web)
                server = psutil.Process(web.pid)
                idle = _tree_rss_mb(server)
                uploads: list[tuple[str, int | str, float]] = []
                latencies: list[float] = []
                unanswered = 0
                peak: dict[int, float] = dict(idle)

                def send(path: Path) -> None:
                    start = time.perf_counter()
                    try:
                        with path.open("rb") as fh:
                            r = requests.post(
                                f"{base}/api/v1/photos",
                                files={"file": (path.name, fh)},
                                headers={"Authorization": f"Bearer {token}"},
                                timeout=300,
                            )
                        status: int | str = r.status_code
                    except requests.RequestException as exc:
                        status = type(exc).__name__
                    uploads.append((path.name, status, time.perf_counter() - start))

                threads = [threading.Thread(target=send, args=(files[i % len(files)],)) for i in range(count)]
                started = time.perf_counter()
                for t in threads:
                    t.start()
                while any(t.is_alive() for t in threads):
                    t0 = time.perf_counter()
                    try:
                        ok = requests.get(f"{base}/healthz", timeout=HEALTHZ_TIMEOUT_S).status_code == 200
                    except requests.RequestException:
                        ok = False
                    latencies.append(time.perf_counter() - t0)
                    unanswered += not ok
                    for pid, rss in _tree_rss_mb(server).items():
                        peak[pid] = max(peak.get(pid, 0.0), rss)
                    time.sleep(0.2)
                elapsed = time.perf_counter() - started
            finally:
                web.terminate()
                web.wait(timeout=30)
        self._report_concurrent(count, uploads, latencies, unanswered, idle, peak, elapsed)

    def _wait(self, base: str, web: subprocess.Popen) -> None:
        import requests

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if web.poll() is not None:
                raise RuntimeError("gunicorn exited while starting")
            try:
                requests.get(f"{base}/healthz", timeout=5)
                return
            except requests.RequestException:  # not listening yet
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not answer /healthz within 60 s")

    def _report_concurrent(
        self,
        count: int,
        uploads: list[tuple[str, int | str, float]],
        latencies: list[float],
        unanswered: int,
        idle: dict[int, float],
        peak: dict[int, float],
        elapsed: float,
    ) -> None:
        self.stdout.write("")
        self.stdout.write(
            f"{count} concurrent uploads against gunicorn (3 workers × 4 threads), {elapsed:.1f} s:"
        )
        for name, status, seconds in sorted(uploads):
            self.stdout.write(f"  {name:<18} {status!s:<6} {seconds:6.1f} s")
        accepted = sum(status == 201 for _, status, _ in uploads)
        self.stdout.write(f"Uploads accepted: {accepted}/{count}")
        answered = len(latencies) - unanswered
        self.stdout.write(
            f"/healthz: {answered}/{len(latencies)} answered within {HEALTHZ_TIMEOUT_S:.0f} s; latency "
            f"median {statistics.median(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
            if latencies
            else "/healthz: not polled (the uploads finished at once)"
        )
        workers = {pid: rss for pid, rss in peak.items() if pid in idle}
        added = [rss - idle[pid] for pid, rss in workers.items()]
        self.stdout.write(
            f"Web processes: largest RSS {max(workers.values()):.0f} MB, largest growth over idle "
            f"{max(added):.0f} MB (sampled every 0.2 s)"
        )
        line = (
            "Every /healthz call was answered." if unanswered == 0 else f"{unanswered} /healthz calls failed."
        )
        self.stdout.write(self.style.SUCCESS(line) if unanswered == 0 else self.style.WARNING(line))


EMPTY_HELP = "internal: one measured run in a fresh process"
