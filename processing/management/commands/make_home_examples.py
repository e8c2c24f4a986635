"""Make the before/after examples the home page shows, with the product itself.

manage.py make_home_examples [--out static/img/examples]

Three portraits of the photo set (processing/engines/photoset.py: freely licensed photos that
ship inside installed packages) are aged with a fixed seed (``age_realistically``), sent through
the same path as an upload and a "restore" job on the local engine — preparation, fitting to
the paid size cap, the engine, the quality check — and written as small web JPEGs with a
manifest (examples.json) of each photo's source, licence, sizes, hashes and this command.
Same packages and libraries in, same bytes out: the seeds are fixed and OpenCV runs on one
thread while the command works.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from PIL import Image

from photos import imaging
from processing.engines import photoset
from processing.engines.aging import age_realistically
from processing.engines.base import EngineError, EngineRequest, get_engine
from processing.engines.codec import expected_size
from processing.kinds import job_first_step
from processing.quality import QualityCheckFailed, quality_check

COMMAND = "python manage.py make_home_examples"
DEFAULT_OUT = Path(settings.BASE_DIR) / "static" / "img" / "examples"
MANIFEST = "examples.json"
# Web-sized pictures: the long side at most this, JPEG at this quality, each file under the
# byte budget (the command fails rather than write a heavier page).
SIDE = 640
QUALITY = 75
MAX_BYTES = 80_000
# The aged photo goes in as a phone would send it.
UPLOAD_QUALITY = 92
# The whole frame is the print: the person kept the corners where they are.
WHOLE_FRAME = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]


@dataclass(frozen=True)
class Example:
    name: str  # of the photo in the photo set
    seed: int  # of the ageing
    alt: str  # what the picture shows, for the alt text
    credit: str  # the credit line the page shows


EXAMPLES = (
    Example(
        "grace_hopper",
        14_001,
        "Portrait of Grace Hopper in her U.S. Navy uniform",
        "Grace Hopper, U.S. Navy photograph, public domain (from the Matplotlib sample data).",
    ),
    Example(
        "astronaut",
        14_002,
        "Portrait of astronaut Eileen Collins in front of the American flag",
        "Eileen Collins, NASA photograph, public domain (from the scikit-image sample data).",
    ),
    Example(
        "camera",
        14_003,
        "A man with a film camera on a tripod in a park, in black and white",
        "Photographer by Lav Varshney, CC0 1.0 (from the scikit-image sample data).",
    ),
)


def _jpeg(image: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality, optimize=True)
    return buffer.getvalue()


def restore_like_a_job(aged: np.ndarray) -> np.ndarray:
    """The aged photo uploaded (whole frame kept), prepared and restored on the local engine,
    exactly as the ``restore`` command and a paid-plan job do it."""
    prepared = imaging.prepare(io.BytesIO(_jpeg(aged, UPLOAD_QUALITY)), quad=WHOLE_FRAME)
    cap = settings.JOB_SIZE_CAP_PAID
    image, keep_tone = job_first_step(np.asarray(imaging.fit_within(prepared.image, cap)), kind="restore")
    result = get_engine("local").run(
        EngineRequest(image=image, kind="restore", max_size=cap, keep_tone=keep_tone)
    )
    quality_check(image, result.image, expected_size(image, cap))
    return result.image


class Command(BaseCommand):
    help = "Write the home page's before/after examples and their manifest into --out."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the files")

    def handle(self, *args: Any, **options: Any) -> None:
        out: Path = options["out"]
        threads = cv2.getNumThreads()
        cv2.setNumThreads(1)  # one thread: the same pixels on every machine and every run
        try:
            files, entries = {}, []
            for example in EXAMPLES:
                made, entry = self._make(example)
                files.update(made)
                entries.append(entry)
        finally:
            cv2.setNumThreads(threads)
        # Everything is made (and within budget) before anything is written: a failure leaves
        # the folder as it was.
        out.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (out / name).write_bytes(data)
        manifest = {
            "command": COMMAND,
            "made_by": "the local engine (classical restoration, kind restore), paid-plan size cap",
            "examples": entries,
        }
        (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        for entry in entries:
            self.stdout.write(
                f"{entry['name']}: {entry['width']}x{entry['height']}, before "
                f"{entry['before_bytes']} B, after {entry['after_bytes']} B ({entry['damage']})"
            )
        self.stdout.write(f"Wrote {len(files)} pictures and {MANIFEST} to {out}")

    def _make(self, example: Example) -> tuple[dict[str, bytes], dict[str, Any]]:
        photo = photoset.by_name(example.name)
        try:
            clean = photoset.load(photo, side=SIDE)
        except photoset.PhotoMissing as exc:
            raise CommandError(str(exc)) from exc
        aged = age_realistically(clean, seed=example.seed)
        try:
            restored = restore_like_a_job(aged.image)
        except (EngineError, QualityCheckFailed, imaging.ImageRefused) as exc:
            raise CommandError(f"{example.name}: the engine failed: {exc}") from exc
        if restored.shape != aged.image.shape:
            raise CommandError(f"{example.name}: the result is {restored.shape}, not {aged.image.shape}")
        before, after = _jpeg(aged.image, QUALITY), _jpeg(restored, QUALITY)
        for label, data in (("before", before), ("after", after)):
            if len(data) > MAX_BYTES:
                raise CommandError(f"{example.name} {label}: {len(data)} bytes, over {MAX_BYTES}")
        height, width = restored.shape[:2]
        names = {"before": f"{example.name}-before.jpg", "after": f"{example.name}-after.jpg"}
        entry = {
            "name": example.name,
            "before": f"img/examples/{names['before']}",
            "after": f"img/examples/{names['after']}",
            "width": width,
            "height": height,
            "before_bytes": len(before),
            "after_bytes": len(after),
            "before_sha256": hashlib.sha256(before).hexdigest(),
            "after_sha256": hashlib.sha256(after).hexdigest(),
            "alt": example.alt,
            "credit": example.credit,
            "licence": photo.licence,
            "source": photo.source,
            "package": photo.package,
            "package_path": photo.path,
            # "tuning": the engine was tuned on this photo; "evaluation": it never saw it.
            "photo_set_half": photoset.half_of(photo),
            "seed": example.seed,
            "damage": aged.description,
        }
        return {names["before"]: before, names["after"]: after}, entry
