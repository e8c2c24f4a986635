"""Test images made in code from scikit-image's real photographs (never downloaded)."""

from __future__ import annotations

import io

import numpy as np
import pillow_heif
from PIL import Image, ImageCms
from skimage import data


def photo(size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A real photograph (the astronaut) at the given size."""
    return Image.fromarray(data.astronaut()).resize(size, Image.Resampling.LANCZOS)


def gray_photo(size: tuple[int, int] = (640, 480)) -> Image.Image:
    return Image.fromarray(data.camera()).resize(size, Image.Resampling.LANCZOS)


def encode(img: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def jpeg(img: Image.Image | None = None, **kwargs: object) -> bytes:
    return encode(img or photo(), "JPEG", quality=90, **kwargs)


def jpeg_with_orientation(orientation: int, img: Image.Image | None = None) -> bytes:
    img = img or photo()
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x8825] = {2: (51.0, 30.0, 0.0), 4: (0.0, 7.0, 0.0)}  # GPS info, which must be stripped
    return encode(img, "JPEG", quality=90, exif=exif.tobytes())


def cmyk_jpeg() -> bytes:
    return encode(photo().convert("CMYK"), "JPEG", quality=90)


def png16() -> bytes:
    arr = (np.asarray(gray_photo(), dtype=np.uint16) * 257).astype(np.uint16)
    return encode(Image.fromarray(arr), "PNG")


def palette_png() -> bytes:
    return encode(photo().convert("P", palette=Image.Palette.ADAPTIVE, colors=64), "PNG")


def rgba_png() -> bytes:
    img = photo().convert("RGBA")
    alpha = Image.new("L", img.size, 0)
    alpha.paste(255, (100, 100, 500, 400))
    img.putalpha(alpha)
    return encode(img, "PNG")


def heic() -> bytes:
    buffer = io.BytesIO()
    pillow_heif.from_pillow(photo()).save(buffer, quality=85)
    return buffer.getvalue()


def animated_webp() -> bytes:
    frames = [photo(), photo().transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    return encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100)


def srgb_icc_jpeg() -> bytes:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return encode(photo(), "JPEG", quality=90, icc_profile=profile)


def photo_of_photo(
    print_img: Image.Image, canvas: tuple[int, int], quad_px: list[tuple[float, float]]
) -> Image.Image:
    """The print warped onto a plain table at the given corners (TL, TR, BR, BL)."""
    import cv2

    src = np.array(
        [[0, 0], [print_img.width, 0], [print_img.width, print_img.height], [0, print_img.height]], np.float32
    )
    matrix = cv2.getPerspectiveTransform(src, np.array(quad_px, np.float32))
    table = np.full((canvas[1], canvas[0], 3), (70, 60, 50), np.uint8)
    warped = cv2.warpPerspective(np.asarray(print_img.convert("RGB")), matrix, canvas)
    mask = cv2.warpPerspective(np.full((print_img.height, print_img.width), 255, np.uint8), matrix, canvas)
    table[mask > 0] = warped[mask > 0]
    return Image.fromarray(table)
