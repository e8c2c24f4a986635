"""Make a clean photo look old, repeatably: blur, fading with a yellow cast, grain, scratches
and dust. Used by ``manage.py engine_eval`` and the engine tests to measure restoration
against a known original. Pure numpy/OpenCV."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Aging:
    """How hard each kind of damage hits; the defaults look like a tired 1970s print."""

    blur_sigma: float = 0.9
    fade: float = 0.62  # contrast kept (1.0 = none lost)
    lift: float = 52.0  # how far blacks are lifted toward gray
    cast: tuple[float, float, float] = (1.0, 0.92, 0.74)  # per-channel gain: yellowing
    noise_sigma: float = 9.0
    scratches: int = 8
    dust: int = 160


def age_photo(image: np.ndarray, *, seed: int = 0, aging: Aging | None = None) -> np.ndarray:
    """A damaged copy of an RGB uint8 ``image``; the same seed gives the same damage."""
    aging = aging or Aging()
    rng = np.random.default_rng(seed)
    height, width = image.shape[:2]
    out = image.astype(np.float32)
    if aging.blur_sigma > 0:
        out = cv2.GaussianBlur(out, (0, 0), aging.blur_sigma)
    out = out * aging.fade + aging.lift
    out *= np.asarray(aging.cast, dtype=np.float32)
    if aging.noise_sigma > 0:
        # Film grain is mostly in lightness, with a little colour noise on top.
        grain = rng.normal(0.0, aging.noise_sigma, (height, width, 1)).astype(np.float32)
        chroma = rng.normal(0.0, aging.noise_sigma * 0.3, (height, width, 3)).astype(np.float32)
        out += grain + chroma
    canvas = np.clip(out, 0, 255).astype(np.uint8)
    scale = max(height, width) / 512
    for _ in range(aging.scratches):
        x0 = int(rng.integers(0, width))
        y0 = int(rng.integers(0, height))
        length = rng.uniform(0.15, 0.6) * max(height, width)
        angle = rng.uniform(-0.35, 0.35) + (np.pi / 2 if rng.random() < 0.7 else 0.0)
        points = []
        for t in np.linspace(0.0, 1.0, 8):
            wobble = rng.normal(0.0, 1.5 * scale)
            points.append(
                (x0 + np.cos(angle) * length * t + wobble, y0 + np.sin(angle) * length * t + wobble)
            )
        tone = int(rng.integers(215, 250)) if rng.random() < 0.75 else int(rng.integers(15, 50))
        thickness = max(1, round(rng.choice([1, 1, 2]) * scale))
        cv2.polylines(
            canvas, [np.asarray(points, dtype=np.int32)], False, (tone, tone, tone), thickness, cv2.LINE_AA
        )
    for _ in range(aging.dust):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        radius = max(1, round(rng.choice([1, 1, 1, 2, 2, 3]) * scale))
        tone = int(rng.integers(5, 40)) if rng.random() < 0.6 else int(rng.integers(220, 252))
        cv2.circle(canvas, centre, radius, (tone, tone, tone), -1, cv2.LINE_AA)
    return canvas
