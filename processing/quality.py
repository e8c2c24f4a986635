"""The quality check an engine's result must pass, and the image metrics it (and
``engine_eval``) use: PSNR and SSIM. Pure numpy/OpenCV, no Django.

A result passes when it decodes, has exactly the expected size, is not blank or uniform, and
is still structurally the same photo: the SSIM of its lightness against the input's, both
shrunk to a small common size (so restoration of grain, dust and contrast barely counts but a
different or badly shifted picture does), stays above ``STRUCTURE_FLOOR``.
"""

from __future__ import annotations

import cv2
import numpy as np

from processing.engines.codec import ImageDecodeError, decode_image

# Lightness SSIM at COMPARE_SIDE pixels of the short side: restorations of the aged test photos
# score 0.75-0.95 against their input; unrelated photos score below 0.2 (see engine_eval).
STRUCTURE_FLOOR = 0.45
COMPARE_SIDE = 192
# A result whose lightness barely varies is a blank or a flat fill, not a photo.
MIN_LIGHTNESS_STD = 4.0


class QualityCheckFailed(Exception):
    """The engine's result is not fit to show; ``reason`` says why, for a person."""

    def __init__(self, reason: str, *, code: str = "quality_check_failed") -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = reason
        self.code = code


def lightness(image: np.ndarray) -> np.ndarray:
    """The L channel (0-255) of an RGB uint8 image, as uint8."""
    return cv2.cvtColor(image, cv2.COLOR_RGB2LAB)[:, :, 0]


def psnr(reference: np.ndarray, image: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB between two uint8 images of the same shape."""
    mse = float(np.mean((reference.astype(np.float64) - image.astype(np.float64)) ** 2))
    if mse == 0.0:
        return float("inf")
    return 10.0 * np.log10(255.0**2 / mse)


def ssim(reference: np.ndarray, image: np.ndarray) -> float:
    """Mean SSIM (Wang et al. 2004: Gaussian window sigma 1.5, K1 0.01, K2 0.03) of two uint8
    images of the same shape; colour images average their channels, like scikit-image does."""
    if reference.shape != image.shape:
        raise ValueError("SSIM needs images of the same shape.")
    if reference.ndim == 3:
        return float(np.mean([ssim(reference[:, :, c], image[:, :, c]) for c in range(reference.shape[2])]))
    x = reference.astype(np.float64)
    y = image.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(a: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(a, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    pad = 5  # skip the border where the window hangs over the edge, as scikit-image does
    return float(ssim_map[pad:-pad, pad:-pad].mean())


def structural_similarity(input_img: np.ndarray, result_img: np.ndarray) -> float:
    """Lightness SSIM of two RGB photos at a small common size (see module docstring)."""
    a, b = _small_lightness(input_img, result_img)
    return ssim(a, b)


def _small_lightness(input_img: np.ndarray, result_img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both photos' lightness at COMPARE_SIDE pixels of the result's short side: shrunk first,
    then converted (a tenth of the work of converting 1280×720 pictures)."""
    height, width = result_img.shape[:2]
    scale = COMPARE_SIDE / min(height, width)
    size = (max(16, round(width * scale)), max(16, round(height * scale)))
    small = [cv2.resize(image, size, interpolation=cv2.INTER_AREA) for image in (input_img, result_img)]
    return lightness(small[0]), lightness(small[1])


def quality_check(
    input_img: np.ndarray, result_img: np.ndarray | bytes, expected_size: tuple[int, int]
) -> None:
    """Raise QualityCheckFailed unless ``result_img`` is a fit result for ``input_img``.

    ``result_img`` may be an RGB uint8 array or encoded bytes; ``expected_size`` is
    (width, height), normally ``codec.expected_size(input_img, max_size)``.
    """
    if isinstance(result_img, bytes | bytearray | memoryview):
        try:
            result_img = decode_image(bytes(result_img))
        except ImageDecodeError as exc:
            raise QualityCheckFailed("The result is not an image.", code="result_not_image") from exc
    if (
        not isinstance(result_img, np.ndarray)
        or result_img.dtype != np.uint8
        or result_img.ndim != 3
        or result_img.shape[2] != 3
    ):
        raise QualityCheckFailed("The result is not an RGB image.", code="result_not_image")
    width, height = result_img.shape[1], result_img.shape[0]
    if (width, height) != tuple(expected_size):
        raise QualityCheckFailed(
            f"The result is {width}x{height} pixels instead of {expected_size[0]}x{expected_size[1]}.",
            code="result_wrong_size",
        )
    input_l, result_l = _small_lightness(input_img, result_img)
    if float(result_l.std()) < MIN_LIGHTNESS_STD:
        raise QualityCheckFailed("The result is blank.", code="result_blank")
    score = ssim(input_l, result_l)
    if not score >= STRUCTURE_FLOOR:
        raise QualityCheckFailed(
            "The result no longer looks like the same photo.", code="result_not_same_photo"
        )
