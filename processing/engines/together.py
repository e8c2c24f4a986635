"""Bring together: the size of the new picture, the local stand-in that places the photos side by
side, and the face count the quality check uses. Pure numpy/OpenCV (faces: scikit-image's
bundled cascade), no Django: the GPU worker, the local engine and the server share it.

The new picture is a composition of its own, not an edit of one input: it is about one megapixel
(what Qwen-Image-Edit was trained around) in a landscape shape that fits the people side by
side, then fitted to the job's size cap. ``result_size`` is the one rule for that size; the
worker's Qwen backend generates at the model's size of that shape and resizes to it, the local
stand-in composes straight onto it and the quality check expects it.
"""

from __future__ import annotations

import math
import threading

import cv2
import numpy as np

from processing.engines.codec import fit_size, resize_to

# About one megapixel, like the model's own working area.
RESULT_PIXELS = 1024 * 1024
# The shape of the new picture: the photos side by side at one height, kept between 4:3 and 2:1
# so two portraits are not a square and three landscapes not a banner.
MIN_ASPECT = 4 / 3
MAX_ASPECT = 2.0
MULTIPLE = 16

# The local stand-in's neutral background (a light warm grey) and layout.
BACKGROUND = (214, 210, 203)
MARGIN = 0.05  # of the short side, around and between the photos
FEATHER = 0.06  # soft edge, as a share of each photo's short side

NOTE_STAND_IN = "Not AI: places your photos side by side."
NOTE_STAYS_GREY = "Black-and-white photos stay black and white here: this stand-in cannot add colour."


def result_aspect(images: list[np.ndarray] | tuple[np.ndarray, ...]) -> float:
    """Width over height of the new picture: the inputs side by side at one height, clamped."""
    side_by_side = sum(image.shape[1] / image.shape[0] for image in images)
    return min(MAX_ASPECT, max(MIN_ASPECT, side_by_side))


def result_size(
    images: list[np.ndarray] | tuple[np.ndarray, ...], max_size: tuple[int, int]
) -> tuple[int, int]:
    """(width, height) of the new picture for these inputs: about ``RESULT_PIXELS`` in the shape
    of ``result_aspect``, sides multiples of 16, fitted to the (long side, short side) cap."""
    aspect = result_aspect(images)
    height = math.sqrt(RESULT_PIXELS / aspect)
    width = height * aspect
    width = max(MULTIPLE, round(width / MULTIPLE) * MULTIPLE)
    height = max(MULTIPLE, round(height / MULTIPLE) * MULTIPLE)
    return fit_size(width, height, max_size)


# --- tone and colour matching ---------------------------------------------------------------


def _lab(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)


def is_grey(image: np.ndarray) -> bool:
    """Whether a picture is black and white (or a toned monochrome print): hardly any chroma."""
    lab = _lab(image)
    chroma = np.hypot(lab[:, :, 1] - 128, lab[:, :, 2] - 128)
    return float(np.percentile(chroma, 95)) < 12.0


def match_tones(images: list[np.ndarray]) -> list[np.ndarray]:
    """The pictures with their lightness (mean and spread) and colour cast (mean a/b) moved to
    the average of all of them, so they look taken in the same light. A monochrome picture
    keeps its neutral colour: only colour pictures share their casts."""
    labs = [_lab(image) for image in images]
    means = np.array([lab[:, :, 0].mean() for lab in labs])
    stds = np.array([max(1.0, float(lab[:, :, 0].std())) for lab in labs])
    target_mean, target_std = float(means.mean()), float(stds.mean())
    colour = [lab for lab, image in zip(labs, images, strict=True) if not is_grey(image)]
    cast = np.mean([lab[:, :, 1:].reshape(-1, 2).mean(axis=0) for lab in colour], axis=0) if colour else None
    out = []
    for lab, mean, std, image in zip(labs, means, stds, images, strict=True):
        lab = lab.copy()
        lab[:, :, 0] = (lab[:, :, 0] - mean) * (target_std / std) + target_mean
        if cast is not None and not is_grey(image):
            lab[:, :, 1:] += cast - lab[:, :, 1:].reshape(-1, 2).mean(axis=0)
        out.append(cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB))
    return out


def _feather_mask(height: int, width: int) -> np.ndarray:
    """Alpha (0..1) that is 1 inside and fades to 0 over the soft edge at the borders."""
    ramp = max(2.0, FEATHER * min(height, width))
    ys = np.minimum(np.arange(height), np.arange(height)[::-1]).astype(np.float32)
    xs = np.minimum(np.arange(width), np.arange(width)[::-1]).astype(np.float32)
    edge = np.minimum(ys[:, None], xs[None, :])
    alpha = np.clip((edge + 0.5) / ramp, 0.0, 1.0)
    return alpha * alpha * (3 - 2 * alpha)  # smoothstep: no visible line where the fade starts


def composite(images: list[np.ndarray], size: tuple[int, int], *, colour: bool = True) -> np.ndarray:
    """The local stand-in for bring together: the pictures at one height, tone- and colour-
    matched, side by side on a neutral background with soft edges, on a canvas of exactly
    ``size`` (width, height). ``colour`` False makes the whole picture black and white."""
    width, height = size
    matched = match_tones([np.ascontiguousarray(image) for image in images])
    margin = max(2, round(MARGIN * min(width, height)))
    row_height = height - 2 * margin
    widths = [image.shape[1] * row_height / image.shape[0] for image in matched]
    room = width - margin * (len(matched) + 1)
    scale = min(1.0, room / sum(widths))
    row_height = max(1, round(row_height * scale))
    widths = [max(1, round(w * scale)) for w in widths]
    canvas = np.empty((height, width, 3), np.float32)
    canvas[:] = BACKGROUND
    gap = (width - sum(widths)) / (len(matched) + 1)
    top = (height - row_height) // 2
    x = gap
    for image, w in zip(matched, widths, strict=True):
        left = round(x)
        placed = resize_to(image, (w, row_height)).astype(np.float32)
        alpha = _feather_mask(row_height, w)[:, :, None]
        region = canvas[top : top + row_height, left : left + w]
        canvas[top : top + row_height, left : left + w] = placed * alpha + region * (1 - alpha)
        x += w + gap
    result = np.clip(canvas + 0.5, 0, 255).astype(np.uint8)
    if not colour:
        grey = cv2.cvtColor(result, cv2.COLOR_RGB2GRAY)
        result = np.repeat(grey[:, :, None], 3, axis=2)
    return np.ascontiguousarray(result)


# --- faces ----------------------------------------------------------------------------------

# Faces are looked for at this short side (bounded cost, and the cascade's 24 px window still
# finds faces a twentieth of the picture high).
FACE_SIDE = 480
FACE_MIN = 24
# The cascade's own grouping: a face counts when found this many times at nearby positions and
# scales (like OpenCV's minNeighbors); fewer is mostly texture (badges, patterns).
FACE_MIN_NEIGHBOURS = 6
# In one picture, a "face" under this share of the largest face's side is a detail, not a person.
FACE_MIN_RELATIVE = 0.5


class FaceDetectorMissing(RuntimeError):
    """scikit-image (which ships the face cascade) is not installed."""


_local = threading.local()


def _cascade():  # type: ignore[no-untyped-def]
    """The face cascade, one per thread (a worker may check results in several threads)."""
    cascade = getattr(_local, "cascade", None)
    if cascade is None:
        cascade = _local.cascade = _load_cascade()
    return cascade


def _load_cascade():  # type: ignore[no-untyped-def]
    try:
        from skimage.data import lbp_frontal_face_cascade_filename
        from skimage.feature import Cascade
    except ImportError as exc:  # pragma: no cover - scikit-image is in requirements.txt
        raise FaceDetectorMissing("scikit-image is needed to count faces") from exc
    # The LBP frontal-face cascade scikit-image bundles (from OpenCV): no download at run time.
    return Cascade(lbp_frontal_face_cascade_filename())


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = min(ax + aw, bx + bw) - max(ax, bx)
    h = min(ay + ah, by + bh) - max(ay, by)
    if w <= 0 or h <= 0:
        return 0.0
    return w * h / min(aw * ah, bw * bh)


Box = tuple[int, int, int, int]


def find_faces(image: np.ndarray, *, min_relative: float = FACE_MIN_RELATIVE) -> list[Box]:
    """Frontal faces in an RGB picture as (x, y, width, height) in its own pixels: the cascade's
    grouped hits, overlapping ones merged, "faces" under ``min_relative`` of the largest face's
    side left out (the check counts a new picture's faces more leniently than an input's)."""
    height, width = image.shape[:2]
    scale = min(1.0, FACE_SIDE / min(height, width))
    small = resize_to(image, (max(1, round(width * scale)), max(1, round(height * scale))))
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float64) / 255.0
    side = min(grey.shape)
    hits = _cascade().detect_multi_scale(
        img=grey, scale_factor=1.2, step_ratio=1, min_size=(FACE_MIN, FACE_MIN), max_size=(side, side),
        min_neighbor_number=FACE_MIN_NEIGHBOURS,
    )  # fmt: skip
    boxes = sorted(
        ((int(h["c"]), int(h["r"]), int(h["width"]), int(h["height"])) for h in hits), key=lambda b: -b[2]
    )
    faces: list[tuple[int, int, int, int]] = []
    for box in boxes:
        if faces and box[2] < min_relative * faces[0][2]:
            continue
        if not any(_overlap(box, face) > 0.3 for face in faces):
            faces.append(box)
    return [tuple(round(v / scale) for v in face) for face in faces]  # type: ignore[misc]


def count_faces(image: np.ndarray, *, min_relative: float = FACE_MIN_RELATIVE) -> int:
    return len(find_faces(image, min_relative=min_relative))
