"""Line a generated result back up with the photo it came from.

Image-edit models work at about one megapixel and shift or zoom the picture slightly; the
before/after slider only makes sense when both images line up. We estimate a similarity-like
affine warp (shift, zoom, a little rotation) on grayscale copies — ECC first, ORB features +
RANSAC when ECC does not converge — check that it is plausible and that the warped result
really matches, and warp the full-size result onto the reference. Pure OpenCV.
"""

from __future__ import annotations

import cv2
import numpy as np

from processing.engines.codec import resize_to

# Work size for estimating the warp: large enough for sub-pixel accuracy at 720p, small
# enough to take a fraction of a second.
WORK_SIDE = 512
# Plausible model drift: zoom within ±15 %, shift within 12 % of the picture, no big shear.
MAX_ZOOM = 0.15
MAX_SHIFT = 0.12
MAX_SHEAR = 0.05
# Correlation of the aligned grayscale images below which the result is not the same picture
# (or is too far off to trust): a restoration correlates at 0.8+ with its input.
MIN_CORRELATION = 0.5


class AlignmentFailed(Exception):
    """The result could not be lined up with the input."""


def _gray_small(image: np.ndarray, scale: float) -> np.ndarray:
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    if scale < 1.0:
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return gray


def _ecc(reference: np.ndarray, moving: np.ndarray, warp: np.ndarray) -> np.ndarray | None:
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 200, 1e-6)
    try:
        _, warp = cv2.findTransformECC(
            reference.astype(np.float32),
            moving.astype(np.float32),
            warp.copy(),
            cv2.MOTION_AFFINE,
            criteria,
            None,
            5,
        )
    except cv2.error:
        return None
    return warp


def _orb(reference: np.ndarray, moving: np.ndarray) -> np.ndarray | None:
    orb = cv2.ORB_create(nfeatures=2000)
    kp_ref, des_ref = orb.detectAndCompute(reference, None)
    kp_mov, des_mov = orb.detectAndCompute(moving, None)
    if des_ref is None or des_mov is None or len(kp_ref) < 8 or len(kp_mov) < 8:
        return None
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(des_ref, des_mov)
    if len(matches) < 8:
        return None
    src = np.float32([kp_ref[m.queryIdx].pt for m in matches])
    dst = np.float32([kp_mov[m.trainIdx].pt for m in matches])
    # Maps reference coordinates to result coordinates, the same direction ECC uses.
    warp, inliers = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=3.0)
    if warp is None or inliers is None or int(inliers.sum()) < 8:
        return None
    return warp.astype(np.float32)


def _plausible(warp: np.ndarray, width: int, height: int) -> bool:
    """Zoom, shear and the shift of the picture's centre within what the model plausibly does."""
    linear = warp[:, :2].astype(np.float64)
    scale_x, scale_y = np.linalg.norm(linear[:, 0]), np.linalg.norm(linear[:, 1])
    shear = abs(float(linear[:, 0] @ linear[:, 1])) / max(scale_x * scale_y, 1e-9)
    centre = np.array([width / 2, height / 2])
    moved = linear @ centre + warp[:, 2].astype(np.float64) - centre
    return (
        abs(scale_x - 1.0) <= MAX_ZOOM
        and abs(scale_y - 1.0) <= MAX_ZOOM
        and shear <= MAX_SHEAR
        and abs(moved[0]) <= MAX_SHIFT * width
        and abs(moved[1]) <= MAX_SHIFT * height
    )


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two equally sized grayscale images (1.0 = same up to contrast)."""
    x = a.astype(np.float64).ravel() - a.mean()
    y = b.astype(np.float64).ravel() - b.mean()
    denominator = float(np.sqrt((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / denominator) if denominator > 0 else 0.0


def align_to_reference(result: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``result`` (RGB, any size) warped onto ``reference``'s geometry and size.

    Raises AlignmentFailed when no plausible warp makes the two match.
    """
    height, width = reference.shape[:2]
    resized = resize_to(result, (width, height))
    scale = min(1.0, WORK_SIDE / max(width, height))
    ref_small = _gray_small(reference, scale)
    mov_small = _gray_small(resized, scale)
    small_h, small_w = ref_small.shape

    candidates = []
    warp = _ecc(ref_small, mov_small, np.eye(2, 3, dtype=np.float32))
    if warp is not None:
        candidates.append(warp)
    features = _orb(ref_small, mov_small)
    if features is not None:
        refined = _ecc(ref_small, mov_small, features)
        candidates.extend(w for w in (refined, features) if w is not None)

    best, best_score = None, -1.0
    for candidate in candidates:
        if not _plausible(candidate, small_w, small_h):
            continue
        warped = cv2.warpAffine(
            mov_small, candidate, (small_w, small_h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )  # fmt: skip
        score = correlation(ref_small, warped)
        if score > best_score:
            best, best_score = candidate, score
    if best is None or best_score < MIN_CORRELATION:
        raise AlignmentFailed("The result could not be lined up with the photo.")

    full = best.astype(np.float64).copy()
    full[:, 2] /= scale
    # Edges the model cropped away are filled by extending the border: a few pixels at most
    # for a plausible warp, and better than black bars on the slider.
    return cv2.warpAffine(
        resized, full, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )  # fmt: skip
