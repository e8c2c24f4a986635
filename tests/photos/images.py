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


def sepia_photo(size: tuple[int, int] = (640, 480)) -> Image.Image:
    """The camera man as a sepia-toned print: warm shadows to cream highlights, one hue."""
    g = np.asarray(gray_photo(size), dtype=np.float32)
    toned = np.stack([g * 1.07 + 10, g * 0.95 + 5, g * 0.74], axis=-1)
    return Image.fromarray(np.clip(toned, 0, 255).astype(np.uint8))


def faded_tinted_photo(size: tuple[int, int] = (640, 480)) -> Image.Image:
    """The astronaut as a faded print with a warm cast: the kind of photo enhancement changes."""
    rgb = np.asarray(photo(size), dtype=np.float32) * 0.55 + 70
    return Image.fromarray(np.clip(rgb * [1.0, 0.9, 0.72], 0, 255).astype(np.uint8))


def encode(img: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def jpeg(img: Image.Image | None = None, quality: int = 90, **kwargs: object) -> bytes:
    return encode(img or photo(), "JPEG", quality=quality, **kwargs)


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


def gray_jpeg() -> bytes:
    """A true one-channel (L) JPEG, as scanners make."""
    return encode(gray_photo(), "JPEG", quality=90)


def ycck_jpeg(img: Image.Image | None = None) -> bytes:
    """An Adobe YCCK JPEG (what Photoshop writes for CMYK), decoding to ``img`` in CMYK.

    Pillow only writes plain Adobe CMYK, so the Y/Cb/Cr/K planes are computed here, stored
    as if they were CMYK, and the Adobe marker's transform flag is set to 2 (YCCK).
    """
    cmyk = np.asarray((img or photo()).convert("CMYK"), dtype=np.float64)
    c, m, y, k = (cmyk[..., i] for i in range(4))
    # libjpeg turns YCC back into "RGB" = C, M, Y of Pillow's inverted CMYK;I storage.
    luma = 0.299 * c + 0.587 * m + 0.114 * y
    cb = -0.168736 * c - 0.331264 * m + 0.5 * y + 128
    cr = 0.5 * c - 0.418688 * m - 0.081312 * y + 128
    planes = np.stack([255 - luma, 255 - cb, 255 - cr, k], axis=2)
    raw = encode(Image.fromarray(planes.round().clip(0, 255).astype(np.uint8), "CMYK"), "JPEG", quality=95)
    at = raw.index(b"Adobe") + 11  # "Adobe", version (2), flags0 (2), flags1 (2), transform
    assert raw[at] == 0
    return raw[:at] + b"\x02" + raw[at + 1 :]


def icc_profile_rgb(primaries: tuple[tuple[float, float, float], ...], gamma: float = 2.2) -> bytes:
    """A minimal ICC v2 matrix/TRC display profile (D50-adapted colourant XYZs, one gamma)."""
    import struct

    def s15(v: float) -> bytes:
        return struct.pack(">i", round(v * 65536))

    def xyz(v: tuple[float, float, float]) -> bytes:
        return b"XYZ " + b"\0" * 4 + b"".join(s15(c) for c in v)

    curve = b"curv" + b"\0" * 4 + struct.pack(">I", 1) + struct.pack(">H", round(gamma * 256)) + b"\0\0"
    text = (
        b"desc"
        + b"\0" * 4
        + struct.pack(">I", 5)
        + b"test\0"
        + b"\0" * 4
        + b"\0" * 4
        + b"\0" * 3
        + b"\0" * 67
    )
    tags = [
        (b"desc", text),
        (b"wtpt", xyz((0.9642, 1.0, 0.8249))),
        (b"rXYZ", xyz(primaries[0])),
        (b"gXYZ", xyz(primaries[1])),
        (b"bXYZ", xyz(primaries[2])),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
        (b"cprt", b"text" + b"\0" * 4 + b"none\0"),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for sig, payload in tags:
        while len(payload) % 4:
            payload += b"\0"
        table += sig + struct.pack(">II", offset + len(body), len(payload))
        body += payload
    size = offset + len(body)
    header = (
        struct.pack(">I", size) + b"none" + bytes([2, 0x20, 0, 0]) + b"mntrRGB XYZ "
        + bytes(12) + b"acsp" + bytes(28)
        + s15(0.9642) + s15(1.0) + s15(0.8249) + bytes(48)
    )  # fmt: skip
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


# Display P3's colourants, adapted to D50 (as in Apple's profile): a wide-gamut camera space.
DISPLAY_P3 = ((0.5151, 0.2412, -0.0011), (0.2920, 0.6922, 0.0419), (0.1571, 0.0666, 0.7841))


def wide_gamut_jpeg() -> tuple[bytes, bytes]:
    """A photo's numbers tagged as Display P3; returns (file, profile)."""
    profile = icc_profile_rgb(DISPLAY_P3)
    return encode(photo(), "JPEG", quality=95, icc_profile=profile), profile


def animated_png() -> bytes:
    frames = [photo(), photo().transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    return encode(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=100, loop=0)


def jpeg_with_everything() -> bytes:
    """EXIF with GPS, an ICC profile, XMP and a comment: all of it must be gone afterwards."""
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0), 3: "W", 4: (0.0, 7.0, 0.0)}
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/>SECRET-XMP</x:xmpmeta>'
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return encode(photo(), "JPEG", quality=90, exif=exif.tobytes(), icc_profile=srgb, xmp=xmp,
                  comment=b"SECRET-COMMENT")  # fmt: skip


def zip_polyglot() -> bytes:
    """A valid JPEG with a zip archive appended (opens as both)."""
    import zipfile

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("payload.txt", "SECRET-PAYLOAD")
    return jpeg() + archive.getvalue()
