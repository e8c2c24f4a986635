"""Sizes, encoding and decoding of engine images (numpy RGB uint8), shared by every engine,
the RunPod worker and the quality check. Pure numpy/OpenCV/Pillow, no Django."""

from __future__ import annotations

import base64
import binascii
import io

import cv2
import numpy as np

# Larger than any photo we accept after preprocessing, small enough that a hostile PNG cannot
# make us allocate gigabytes before we notice.
MAX_DECODE_PIXELS = 40_000_000


class ImageDecodeError(ValueError):
    """The bytes are not an image we can read."""


def fit_size(width: int, height: int, max_size: tuple[int, int]) -> tuple[int, int]:
    """(width, height) scaled down to fit a (long side, short side) cap; never scaled up."""
    long_cap, short_cap = max(max_size), min(max_size)
    long_side, short_side = max(width, height), min(width, height)
    scale = min(1.0, long_cap / long_side, short_cap / short_side)
    if scale >= 1.0:
        return width, height
    return max(1, round(width * scale)), max(1, round(height * scale))


def expected_size(image: np.ndarray, max_size: tuple[int, int]) -> tuple[int, int]:
    """The (width, height) an engine's result must have for ``image`` under ``max_size``."""
    height, width = image.shape[:2]
    return fit_size(width, height, max_size)


def resize_to(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` resized to exactly (width, height); area filter when shrinking."""
    width, height = size
    if (image.shape[1], image.shape[0]) == (width, height):
        return image
    shrinking = width * height < image.shape[0] * image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


def resize_to_fit(image: np.ndarray, max_size: tuple[int, int]) -> np.ndarray:
    """``image`` shrunk to fit ``max_size`` (unchanged when it already fits)."""
    return resize_to(image, expected_size(image, max_size))


def encode_png(image: np.ndarray) -> bytes:
    """Lossless PNG bytes of an RGB image (fast compression: these are transport copies)."""
    ok, buffer = cv2.imencode(
        ".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 3]
    )
    if not ok:  # pragma: no cover - OpenCV encodes any valid uint8 array
        raise ValueError("Could not encode the image as PNG.")
    return buffer.tobytes()


def encode_jpeg(image: np.ndarray, quality: int = 92) -> bytes:
    """JPEG bytes of an RGB image."""
    ok, buffer = cv2.imencode(
        ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:  # pragma: no cover
        raise ValueError("Could not encode the image as JPEG.")
    return buffer.tobytes()


def encode_b64(image: np.ndarray) -> str:
    """Base64 text of the PNG encoding (how small images travel inside RunPod JSON)."""
    return base64.b64encode(encode_png(image)).decode("ascii")


def decode_image(data: bytes) -> np.ndarray:
    """Decode PNG/JPEG/WebP bytes to an RGB uint8 array, or raise ImageDecodeError."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > MAX_DECODE_PIXELS:
                raise ImageDecodeError("The image has too many pixels.")
            return np.ascontiguousarray(np.asarray(img.convert("RGB")))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, ImageDecodeError):
            raise
        raise ImageDecodeError("The data is not a readable image.") from exc


def decode_b64(text: str) -> np.ndarray:
    """Decode base64 text (optionally a ``data:`` URL) holding an image."""
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageDecodeError("The data is not valid base64.") from exc
    return decode_image(data)
