"""Make a clean photo look old, repeatably, to measure restoration against a known original.

``age_photo`` is the fixed "tired 1970s print" (blur, fading with a yellow cast, grain, short
scratches, dust) the engine tests and benchmarks use. ``age_realistically`` draws a different
mix for every photo from its seed, as the evaluation set (``manage.py engine_eval``) needs:
film grain, fading with a yellow or magenta cast, dust, long thin scratches and creases/folds
running across the whole picture (faces included), small tears and missing corners, halftone
dots of a printed photo, uneven lighting and glare from photographing a print with a phone, and
JPEG recompression. It also returns masks of the line defects and of the torn paper, so the
evaluation can count how much of each the engine repaired. Pure numpy/OpenCV."""

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


# Paper showing through a tear or a missing corner: off-white, a little warm.
PAPER = (236, 231, 216)


@dataclass(frozen=True)
class Aged:
    """A realistically aged photo with masks (bool, True = damaged) of what was done to it."""

    image: np.ndarray
    lines: np.ndarray  # long scratches and crease cores
    tears: np.ndarray  # torn paper and missing corners
    description: str


def _long_line(rng: np.random.Generator, width: int, height: int, *, straight: bool) -> np.ndarray:
    """Points of a long stroke crossing much of the picture, gently curved unless ``straight``."""
    diagonal = float(np.hypot(width, height))
    angle = rng.uniform(0.0, np.pi)
    cx, cy = rng.uniform(0.25, 0.75) * width, rng.uniform(0.25, 0.75) * height
    length = rng.uniform(0.6, 1.1) * diagonal if straight else rng.uniform(0.3, 0.8) * diagonal
    bend = 0.0 if straight else rng.uniform(-0.04, 0.04) * length
    points = []
    for t in np.linspace(-0.5, 0.5, 24):
        offset = bend * (1 - 4 * t * t)
        x = cx + np.cos(angle) * length * t - np.sin(angle) * offset
        y = cy + np.sin(angle) * length * t + np.cos(angle) * offset
        points.append((x, y))
    return np.asarray(points, dtype=np.float32)


def age_realistically(image: np.ndarray, *, seed: int) -> Aged:
    """Age an RGB uint8 photo with a seeded, varied mix of the damage old prints show."""
    rng = np.random.default_rng(seed)
    height, width = image.shape[:2]
    scale = max(height, width) / 640
    notes: list[str] = []
    out = image.astype(np.float32)
    # Optics of the print and of the copy: slightly soft.
    out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.4, 1.0) * scale)
    # Fading: contrast lost, blacks lifted, a yellow (most) or magenta (some) cast.
    fade = rng.uniform(0.55, 0.85)
    out = out * fade + rng.uniform(25.0, 60.0) * (1.0 - fade) / 0.45
    if rng.random() < 0.7:
        cast = (1.0, rng.uniform(0.88, 0.96), rng.uniform(0.70, 0.85))
        notes.append("yellowed")
    else:
        cast = (rng.uniform(0.98, 1.0), rng.uniform(0.82, 0.9), rng.uniform(0.92, 1.0))
        notes.append("magenta")
    out *= np.asarray(cast, dtype=np.float32)
    # Photographed with a phone: light falls off across the print, and a lamp glares on it.
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    tilt = rng.uniform(-0.12, 0.12, 2)
    out *= (1.0 + tilt[0] * (xx / width - 0.5) + tilt[1] * (yy / height - 0.5))[:, :, None]
    if rng.random() < 0.4:
        gx, gy = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height
        radius = rng.uniform(0.08, 0.2) * max(height, width)
        glare = np.exp(-((xx - gx) ** 2 + (yy - gy) ** 2) / (2 * radius * radius))
        out += (rng.uniform(20.0, 45.0) * glare)[:, :, None]
        notes.append("glare")
    # A printed (magazine, newspaper) photo: a fine halftone screen.
    if rng.random() < 0.25:
        period = 4.0 * scale
        screen = np.cos(2 * np.pi * (xx + yy) / period / np.sqrt(2)) * np.cos(
            2 * np.pi * (xx - yy) / period / np.sqrt(2)
        )
        out += (rng.uniform(4.0, 8.0) * screen)[:, :, None]
        notes.append("halftone")
    # Film grain: mostly in lightness, a little in colour.
    sigma = rng.uniform(4.0, 10.0)
    out += rng.normal(0.0, sigma, (height, width, 1)).astype(np.float32)
    out += rng.normal(0.0, sigma * 0.3, (height, width, 3)).astype(np.float32)
    canvas = np.clip(out, 0, 255).astype(np.uint8)
    before_lines = canvas.copy()
    # Long thin scratches (bright where the emulsion is gone, some dark), any orientation.
    for _ in range(int(rng.integers(2, 6))):
        points = _long_line(rng, width, height, straight=False)
        tone = int(rng.integers(210, 250)) if rng.random() < 0.7 else int(rng.integers(10, 45))
        thickness = max(1, round(rng.choice([1, 1, 2]) * scale))
        cv2.polylines(canvas, [np.round(points).astype(np.int32)], False, (tone,) * 3, thickness, cv2.LINE_AA)
    # Creases and folds: a straight line across the whole print with a cracked light core and
    # a faint shadow along one side.
    creases = int(rng.integers(0, 3))
    for _ in range(creases):
        points = np.round(_long_line(rng, width, height, straight=True)).astype(np.int32)
        shade = np.zeros((height, width), np.float32)
        cv2.polylines(shade, [points + np.int32([2, 2])], False, 1.0, max(2, round(4 * scale)), cv2.LINE_AA)
        shade = cv2.GaussianBlur(shade, (0, 0), 1.5 * scale)
        canvas = np.clip(canvas.astype(np.float32) - 12.0 * shade[:, :, None], 0, 255).astype(np.uint8)
        tone = int(rng.integers(200, 240))
        cv2.polylines(canvas, [points], False, (tone,) * 3, max(1, round(2 * scale)), cv2.LINE_AA)
    if creases:
        notes.append(f"{creases} crease{'s' if creases > 1 else ''}")
    line_change = np.abs(canvas.astype(np.int16) - before_lines.astype(np.int16)).max(axis=2)
    lines = line_change > 20
    # Dust: small dark and light specks.
    for _ in range(int(rng.integers(40, 160))):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        radius = max(1, round(rng.choice([1, 1, 1, 2, 2, 3]) * scale))
        tone = int(rng.integers(5, 40)) if rng.random() < 0.6 else int(rng.integers(220, 252))
        cv2.circle(canvas, centre, radius, (tone,) * 3, -1, cv2.LINE_AA)
    # Tears and missing corners: paper shows through at the edge.
    torn = np.zeros((height, width), np.uint8)
    if rng.random() < 0.5:
        corner = int(rng.integers(0, 4))
        size = rng.uniform(0.05, 0.12) * min(height, width)
        x0 = 0 if corner in (0, 3) else width - 1
        y0 = 0 if corner in (0, 1) else height - 1
        dx = size if x0 == 0 else -size
        dy = size * rng.uniform(0.7, 1.3) if y0 == 0 else -size * rng.uniform(0.7, 1.3)
        triangle = np.int32([[x0, y0], [x0 + dx, y0], [x0, y0 + dy]])
        cv2.fillPoly(torn, [triangle], 255)
        notes.append("missing corner")
    for _ in range(int(rng.integers(0, 3))):
        side = int(rng.integers(0, 4))
        along = rng.uniform(0.15, 0.85)
        depth = rng.uniform(0.03, 0.07) * min(height, width)
        spread = depth * rng.uniform(0.5, 1.0)
        tip = np.asarray([rng.normal(0, spread * 0.3), depth])
        base = [np.asarray([-spread, -2.0]), np.asarray([spread * 0.8, -2.0])]
        jag = [np.asarray([rng.uniform(-spread, 0), rng.uniform(0.2, 0.6) * depth])]
        shape = np.asarray([base[0], *jag, tip, base[1]])
        if side == 0:  # top
            pts = shape * [1, 1] + [along * width, 0]
        elif side == 1:  # bottom
            pts = shape * [1, -1] + [along * width, height - 1]
        elif side == 2:  # left
            pts = shape[:, ::-1] + [0, along * height]
        else:  # right
            pts = shape[:, ::-1] * [-1, 1] + [width - 1, along * height]
        cv2.fillPoly(torn, [np.round(pts).astype(np.int32)], 255)
        notes.append("tear")
    tears = torn > 0
    paper = np.asarray(PAPER, np.float32) + rng.normal(0.0, 1.5, 3)
    canvas[tears] = np.clip(paper, 0, 255).astype(np.uint8)
    # The copy: recompressed as a JPEG.
    quality = int(rng.integers(60, 90))
    ok, encoded = cv2.imencode(
        ".jpg", cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    assert ok
    canvas = cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    notes.append(f"grain {sigma:.0f}, jpeg q{quality}")
    return Aged(image=canvas, lines=lines & ~tears, tears=tears, description=", ".join(notes))


def film_original(image: np.ndarray, *, seed: int) -> np.ndarray:
    """The photo as a grainy film original (the kind an old print was made from): seeded grain,
    sigma 2.5-7 in lightness, white or (half the time) slightly coarse, the same in every
    channel. ``engine_eval --originals film`` ages and measures against this instead of the
    grain-free file, so restoring a print from a grainy original is measured too (denoising
    takes the original's own grain with the print's)."""
    rng = np.random.default_rng(seed)
    sigma = rng.uniform(2.5, 7.0)
    coarse = rng.uniform(0.0, 1.0) > 0.5
    grain = rng.normal(0.0, 1.0, image.shape[:2]).astype(np.float32)
    if coarse:
        grain = cv2.GaussianBlur(grain, (0, 0), 0.7)
        grain /= grain.std()
    out = image.astype(np.float32) + sigma * grain[:, :, None]
    return np.clip(out, 0, 255).astype(np.uint8)
