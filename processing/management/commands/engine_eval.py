"""``python manage.py engine_eval``: how well the local engine restores aged photos.

Ages scikit-image's bundled photos (noise, scratches, dust, fading with a yellow cast, blur),
restores them with the local engine and prints PSNR/SSIM against the clean original before
and after, per photo and on average; the SSIM between each clean photo and its own
restoration (how much the engine disturbs a photo that needs nothing); the quality-check
structure score of each restoration against its aged input and of unrelated photo pairs (to
show the margin around processing.quality.STRUCTURE_FLOOR); and the time of one 1280x720
restore on one core. scikit-image is a development dependency (requirements-dev.txt).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import cv2
import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser

from processing.engines.aging import age_photo
from processing.engines.base import EngineRequest
from processing.engines.local import LocalEngine, restore
from processing.quality import STRUCTURE_FLOOR, psnr, ssim, structural_similarity


def load_photos() -> dict[str, np.ndarray]:
    try:
        from skimage import data
    except ImportError as exc:
        raise CommandError(
            "engine_eval needs scikit-image (a development dependency): pip install -r requirements-dev.txt"
        ) from exc

    def rgb(gray: np.ndarray) -> np.ndarray:
        return np.repeat(gray[:, :, None], 3, axis=2)

    return {
        "astronaut": data.astronaut(),
        "coffee": data.coffee(),
        "chelsea": data.chelsea(),
        "rocket": data.rocket(),
        "motorcycle": data.stereo_motorcycle()[0],
        "camera (b/w)": rgb(data.camera()),
        "coins (b/w)": rgb(data.coins()),
    }


class Command(BaseCommand):
    help = "Age scikit-image's photos, restore them with the local engine, print PSNR/SSIM and speed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=1, help="damage seed (same seed, same damage)")
        parser.add_argument("--repeat", type=int, default=5, help="timed 1280x720 restores")

    def handle(self, *args: Any, **options: Any) -> None:
        photos = load_photos()
        engine = LocalEngine()
        # One core, as the target says, and as a busy worker machine gives each job.
        threads = cv2.getNumThreads()
        cv2.setNumThreads(1)
        try:
            self._quality(photos, engine, options["seed"])
            self._speed(photos["coffee"], engine, options["seed"], options["repeat"])
        finally:
            cv2.setNumThreads(threads)

    def _quality(self, photos: dict[str, np.ndarray], engine: LocalEngine, seed: int) -> None:
        rows = []
        header = (
            f"{'photo':<14}{'PSNR aged':>10}{'PSNR rest.':>11}{'SSIM aged':>10}{'SSIM rest.':>11}"
            f"{'SSIM clean->self':>17}{'structure':>10}  steps"
        )
        self.stdout.write(header)
        for name, clean in photos.items():
            aged = age_photo(clean, seed=seed)
            restored = engine.run(EngineRequest(image=aged, kind="restore", max_size=(4096, 4096))).image
            self_restored = engine.run(
                EngineRequest(image=clean, kind="restore", max_size=(4096, 4096))
            ).image
            steps = ",".join(restore(aged)[1].steps)
            row = (
                psnr(clean, aged),
                psnr(clean, restored),
                ssim(clean, aged),
                ssim(clean, restored),
                ssim(clean, self_restored),
                structural_similarity(aged, restored),
            )
            rows.append(row)
            self.stdout.write(
                f"{name:<14}{row[0]:>10.2f}{row[1]:>11.2f}{row[2]:>10.3f}{row[3]:>11.3f}{row[4]:>17.3f}"
                f"{row[5]:>10.2f}  {steps}"
            )
        means = np.mean(np.asarray(rows), axis=0)
        self.stdout.write(
            f"{'average':<14}{means[0]:>10.2f}{means[1]:>11.2f}{means[2]:>10.3f}{means[3]:>11.3f}"
            f"{means[4]:>17.3f}{means[5]:>10.2f}"
        )
        self.stdout.write(
            f"PSNR gain {means[1] - means[0]:+.2f} dB, SSIM gain {means[3] - means[2]:+.3f}; "
            f"worst clean-photo SSIM {min(r[4] for r in rows):.3f}"
        )
        names = list(photos)
        unrelated = []
        for a, b in zip(names, names[1:] + names[:1], strict=True):
            size = (photos[a].shape[1], photos[a].shape[0])
            other = cv2.resize(photos[b], size, interpolation=cv2.INTER_AREA)
            unrelated.append(structural_similarity(photos[a], other))
        self.stdout.write(
            f"quality-check structure score: restorations {min(r[5] for r in rows):.2f}-"
            f"{max(r[5] for r in rows):.2f}, unrelated pairs {min(unrelated):.2f}-{max(unrelated):.2f}, "
            f"floor {STRUCTURE_FLOOR}"
        )

    def _speed(self, photo: np.ndarray, engine: LocalEngine, seed: int, repeat: int) -> None:
        big = cv2.resize(photo, (1280, 720), interpolation=cv2.INTER_CUBIC)
        aged = age_photo(big, seed=seed)
        timings = []
        for _ in range(max(1, repeat)):
            started = time.perf_counter()
            engine.run(EngineRequest(image=aged, kind="restore", max_size=(1280, 720)))
            timings.append(time.perf_counter() - started)
        clean_started = time.perf_counter()
        engine.run(EngineRequest(image=big, kind="restore", max_size=(1280, 720)))
        clean_seconds = time.perf_counter() - clean_started
        self.stdout.write(
            f"1280x720 restore on one core: aged {statistics.median(timings):.2f} s "
            f"(median of {len(timings)}, best {min(timings):.2f} s), clean {clean_seconds:.2f} s"
        )
