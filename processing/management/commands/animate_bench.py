"""Benchmark of the local engine's living photo (the animation stand-in): seconds per 5 s 720p
video on one CPU core, and the MP4's size, for each motion preset. Prints figures; asserts
nothing. The target is at most 10 s per video on one core.

manage.py animate_bench [--photo FILE] [--runs 3] [--size 1280x720]
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand
from PIL import Image

from processing.engines.living import MOVES, living_photo
from processing.engines.video import decode_mp4

DEFAULT_PHOTO = Path(settings.BASE_DIR) / "static" / "img" / "examples" / "grace_hopper-after.jpg"


def _cover(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` scaled to cover width x height and centre-cropped: a full 720p frame."""
    scale = max(width / image.shape[1], height / image.shape[0])
    resized = cv2.resize(
        image, (round(image.shape[1] * scale), round(image.shape[0] * scale)), cv2.INTER_CUBIC
    )
    top, left = (resized.shape[0] - height) // 2, (resized.shape[1] - width) // 2
    return np.ascontiguousarray(resized[top : top + height, left : left + width])


class Command(BaseCommand):
    help = "Seconds per 5 s 720p living-photo video on one CPU core, and MP4 size, per preset."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--photo", type=Path, default=DEFAULT_PHOTO)
        parser.add_argument("--runs", type=int, default=3)
        parser.add_argument("--size", default="1280x720")

    def handle(self, *args: Any, photo: Path, runs: int, size: str, **options: Any) -> None:
        width, height = (int(v) for v in size.split("x"))
        image = _cover(np.asarray(Image.open(photo).convert("RGB")), width, height)
        # One core: this process on one CPU, OpenCV and x264 single-threaded.
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        cv2.setNumThreads(1)
        frames, fps = settings.VIDEO_FRAMES, settings.VIDEO_FPS
        self.stdout.write(
            f"living photo, {width}x{height}, {frames} frames at {fps} fps ({frames / fps:.1f} s), one core, "
            f"{runs} runs per preset, photo {photo.name}"
        )
        for preset in MOVES:
            wall, cpu, data = [], [], b""
            for _ in range(runs):
                started, cpu_started = time.perf_counter(), time.process_time()
                data = living_photo(image, preset=preset, frames=frames, fps=fps, threads=1)
                wall.append(time.perf_counter() - started)
                cpu.append(time.process_time() - cpu_started)
            video = decode_mp4(data)
            self.stdout.write(
                f"  {preset:<12} median {statistics.median(wall):6.2f} s wall, "
                f"{statistics.median(cpu):6.2f} s CPU; "
                f"MP4 {len(data) / 1024:7.0f} KB ({len(data) * 8 / (frames / fps) / 1e6:.2f} Mbit/s); "
                f"{len(video.frames)} frames {video.size[0]}x{video.size[1]}"
            )
