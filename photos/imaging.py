"""Pure image functions for uploads: sniffing, decoding, perspective, enhancement, sizes.

No Django here (engines, the `restore` command and benchmarks reuse it). Arrays are
H×W×3 uint8 RGB, the same convention as ``processing.engines``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import BinaryIO

import cv2
import numpy as np
import pillow_heif
from PIL import Image, ImageCms, ImageFile, ImageOps, UnidentifiedImageError

pillow_heif.register_heif_opener()

# Pillow's names for the four formats we take; everything else is refused by content.
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "HEIF")
# More pixels than any phone or scanner makes: beyond this a file is a decompression bomb.
MAX_PIXELS = 120_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
# Never silently accept a truncated file: it must fail as "unreadable".
ImageFile.LOAD_TRUNCATED_IMAGES = False

PROCESSING_SIZE = (1280, 720)
THUMBNAIL_SIZE = 320
# Decode a little larger than the output so a perspective crop still has pixels to spare.
DECODE_MARGIN = 1.5
# Auto-detected borders are applied only above this confidence.
BORDER_CONFIDENCE_MIN = 0.6

Quad = list[list[float]]  # four [x, y] corners, normalized 0..1: TL, TR, BR, BL


class ImageRefused(ValueError):
    """Base: the file cannot be used. ``reason`` is one of "unsupported", "unreadable"."""

    reason = "unreadable"


class UnsupportedFormat(ImageRefused):
    reason = "unsupported"


class Unreadable(ImageRefused):
    reason = "unreadable"


@dataclass
class Decoded:
    image: Image.Image  # RGB, upright, sRGB, no metadata
    source_format: str
    original_size: tuple[int, int]  # upright size of the file as stored
    is_grayscale: bool


def sniff(stream: BinaryIO) -> str:
    """The file's real format (by content), or UnsupportedFormat/Unreadable."""
    stream.seek(0)
    if not stream.read(16):
        raise UnsupportedFormat("The file is empty.")
    stream.seek(0)
    try:
        with Image.open(stream, formats=ACCEPTED_FORMATS) as img:
            fmt = img.format or ""
            width, height = img.size
    except UnidentifiedImageError as exc:
        raise UnsupportedFormat("Not a JPEG, PNG, HEIC or WebP image.") from exc
    except Image.DecompressionBombError as exc:
        raise Unreadable("The image has far too many pixels.") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise Unreadable("The image is damaged or incomplete.") from exc
    finally:
        stream.seek(0)
    if width * height > MAX_PIXELS:
        raise Unreadable("The image has far too many pixels.")
    return fmt


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any mode to 8-bit RGB in sRGB: ICC profiles converted, alpha flattened on white."""
    icc = img.info.get("icc_profile")
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit PNG: keep the top 8 bits (Pillow's convert("L") would clip instead).
        arr = np.asarray(img, dtype=np.uint32)
        img = Image.fromarray((arr >> 8).clip(0, 255).astype(np.uint8), "L")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("LA", "RGBA", "PA") or (img.mode == "RGB" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba).convert("RGB")
    if icc and img.mode in ("RGB", "CMYK", "L"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            target = ImageCms.createProfile("sRGB")
            out_mode = "RGB"
            img = ImageCms.profileToProfile(img, source, target, outputMode=out_mode)
        except (ImageCms.PyCMSError, OSError, ValueError):
            img = img.convert("RGB")  # a broken profile: use the numbers as they are
    if img.mode != "RGB":
        img = img.convert("RGB")
    return img


def decode(
    stream: BinaryIO, *, need: tuple[int, int] = PROCESSING_SIZE, margin: float = DECODE_MARGIN
) -> Decoded:
    """Decode just enough pixels: JPEGs use Pillow's draft (DCT scaling) so a 48 MP photo is
    never decoded in full when ~2000 px is plenty. Orientation applied, first frame only,
    metadata dropped (the returned image carries none)."""
    fmt = sniff(stream)
    try:
        img = Image.open(stream, formats=ACCEPTED_FORMATS)
        img.seek(0)  # animated WebP/PNG: the first frame
        original = img.size
        orientation = img.getexif().get(0x0112, 1)
        swapped = orientation in (5, 6, 7, 8)
        if fmt == "JPEG":
            want_long = int(max(need) * margin)
            w, h = img.size
            scale = max(w, h) / want_long
            if scale >= 2:
                img.draft(None, (w // int(scale), h // int(scale)))
        img.load()
    except Image.DecompressionBombError as exc:
        raise Unreadable("The image has far too many pixels.") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise Unreadable("The image is damaged or incomplete.") from exc
    icc = img.info.get("icc_profile")
    upright = ImageOps.exif_transpose(img)
    if icc and "icc_profile" not in upright.info:
        upright.info["icc_profile"] = icc
    rgb = _to_rgb(upright)
    if swapped:
        original = (original[1], original[0])
    clean = Image.frombytes("RGB", rgb.size, rgb.tobytes())  # no info, no EXIF, no profile
    return Decoded(clean, fmt, original, is_grayscale(np.asarray(clean)))


def is_grayscale(rgb: np.ndarray) -> bool:
    """True for black-and-white pictures, including colour files whose pixels are gray."""
    small = rgb[:: max(1, rgb.shape[0] // 256), :: max(1, rgb.shape[1] // 256)].astype(np.int16)
    spread = np.abs(small[..., 0] - small[..., 1]) + np.abs(small[..., 1] - small[..., 2])
    return float(np.percentile(spread, 99)) <= 12 and float(spread.mean()) <= 3


# --- geometry -------------------------------------------------------------------------


def validate_quad(quad: object) -> Quad:
    """Four [x, y] pairs within 0..1 forming a convex, non-degenerate quadrilateral."""
    try:
        points = [[float(x), float(y)] for x, y in quad]  # type: ignore[union-attr, misc]
    except (TypeError, ValueError) as exc:
        raise ValueError("The corners must be four [x, y] pairs.") from exc
    if len(points) != 4 or not all(0.0 <= v <= 1.0 for p in points for v in p):
        raise ValueError("The corners must be four [x, y] pairs between 0 and 1.")
    pts = np.array(points, dtype=np.float64)
    cross = []
    for i in range(4):
        a, b, c = pts[i], pts[(i + 1) % 4], pts[(i + 2) % 4]
        cross.append((b[0] - a[0]) * (c[1] - b[1]) - (b[1] - a[1]) * (c[0] - b[0]))
    if not (all(v > 0 for v in cross) or all(v < 0 for v in cross)):
        raise ValueError("The corners must outline the photo without crossing.")
    if cv2.contourArea(pts.astype(np.float32)) < 0.01:
        raise ValueError("The corners are too close together.")
    return points


def quad_output_size(quad: Quad, width: int, height: int) -> tuple[int, int]:
    """Straightened size from the quad's edge lengths, in pixels of the given image."""
    p = np.array(quad) * [width, height]
    top, bottom = np.linalg.norm(p[1] - p[0]), np.linalg.norm(p[2] - p[3])
    left, right = np.linalg.norm(p[3] - p[0]), np.linalg.norm(p[2] - p[1])
    return max(16, round(max(top, bottom))), max(16, round(max(left, right)))


def warp_quad(rgb: np.ndarray, quad: Quad) -> np.ndarray:
    """Perspective-correct the quad (normalized corners on this image) to a rectangle."""
    h, w = rgb.shape[:2]
    out_w, out_h = quad_output_size(quad, w, h)
    src = (np.array(quad, dtype=np.float32) * [w, h]).astype(np.float32)
    dst = np.array([[0, 0], [out_w - 1, 0], [out_w - 1, out_h - 1], [0, out_h - 1]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(
        rgb, matrix, (out_w, out_h), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE
    )


def _order_corners(pts: np.ndarray) -> np.ndarray:
    s, d = pts.sum(axis=1), np.diff(pts, axis=1).ravel()
    return np.array([pts[np.argmin(s)], pts[np.argmin(d)], pts[np.argmax(s)], pts[np.argmax(d)]])


def detect_border(rgb: np.ndarray) -> tuple[Quad | None, float]:
    """Find a photo-of-a-photo's edges: (quad, confidence 0..1), or (None, 0.0).

    Looks for the largest convex four-sided contour that covers a plausible share of the
    frame, and scores it by its area, how rectangular it is, and how much the print stands
    out from what surrounds it.
    """
    h, w = rgb.shape[:2]
    scale = 512 / max(h, w)
    small = cv2.resize(
        rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
    )
    sh, sw = small.shape[:2]
    gray = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), (5, 5), 0)
    best: tuple[float, np.ndarray] | None = None
    for low, high in ((30, 90), (50, 150), (75, 200)):
        edges = cv2.dilate(cv2.Canny(gray, low, high), np.ones((3, 3), np.uint8))
        contours, _ = cv2.findContours(edges, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        for contour in sorted(contours, key=cv2.contourArea, reverse=True)[:8]:
            # Edges inside the print join its outline; the convex hull sees past them.
            hull = cv2.convexHull(contour)
            perimeter = cv2.arcLength(hull, True)
            approx = None
            for eps in (0.01, 0.02, 0.03, 0.05, 0.08):
                candidate = cv2.approxPolyDP(hull, eps * perimeter, True)
                if len(candidate) == 4:
                    approx = candidate
                    break
            if approx is None or not cv2.isContourConvex(approx):
                continue
            area = cv2.contourArea(approx) / (sw * sh)
            if not 0.15 <= area <= 0.97:
                continue
            pts = _order_corners(approx.reshape(4, 2).astype(np.float64))
            rect_area = cv2.contourArea(cv2.boxPoints(cv2.minAreaRect(pts.astype(np.float32))))
            rectangularity = cv2.contourArea(pts.astype(np.float32)) / max(rect_area, 1.0)
            mask = np.zeros((sh, sw), np.uint8)
            cv2.fillConvexPoly(mask, pts.astype(np.int32), 255)
            inner = cv2.erode(mask, np.ones((9, 9), np.uint8))
            outer = cv2.dilate(mask, np.ones((9, 9), np.uint8)) - mask
            band_in, band_out = gray[(mask > 0) & (inner == 0)], gray[outer > 0]
            if band_in.size == 0 or band_out.size == 0:
                continue
            contrast = min(1.0, abs(float(band_in.mean()) - float(band_out.mean())) / 40.0)
            # A real print's outline lies on edges all the way round; a hull drawn across
            # the picture's content does not.
            outline = np.zeros((sh, sw), np.uint8)
            cv2.polylines(outline, [pts.astype(np.int32)], True, 255, 3)
            support = float((edges[outline > 0] > 0).mean())
            margin = 0.01 * max(sw, sh)
            touches = bool(
                (pts[:, 0] <= margin).any()
                or (pts[:, 0] >= sw - 1 - margin).any()
                or (pts[:, 1] <= margin).any()
                or (pts[:, 1] >= sh - 1 - margin).any()
            )
            score = 0.2 * min(1.0, area / 0.3) + 0.2 * rectangularity + 0.2 * contrast + 0.4 * support
            if touches:
                score *= 0.5  # no background on that side: likely the frame, not a print
            if best is None or score > best[0]:
                best = (score, pts)
    if best is None:
        return None, 0.0
    score, pts = best
    quad = [[round(float(x) / sw, 4), round(float(y) / sh, 4)] for x, y in pts]
    return quad, round(min(1.0, score), 3)


# --- tone and size ---------------------------------------------------------------------


def enhance(rgb: np.ndarray) -> np.ndarray:
    """Gentle levels and white balance, each only when the photo needs it.

    A clean photo (full tonal range, neutral grays) comes back unchanged; a faded or tinted
    one is moved halfway towards a full range and neutral balance — never harsh.
    """
    out = rgb.astype(np.float32)
    lo = np.percentile(out, 0.5, axis=(0, 1))
    hi = np.percentile(out, 99.5, axis=(0, 1))
    span = float((hi - lo).min())
    if span < 200:  # faded: lifted blacks or dimmed whites
        stretched = (out - lo) / np.maximum(hi - lo, 1.0) * 255.0
        out = 0.5 * out + 0.5 * stretched
    means = out.reshape(-1, 3).mean(axis=0)
    cast = float(means.max() - means.min())
    if cast > 18 and not is_grayscale(rgb):
        gray = float(means.mean())
        balanced = out * (gray / np.maximum(means, 1.0))
        out = 0.5 * out + 0.5 * balanced
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def fit_size(width: int, height: int, box: tuple[int, int] = PROCESSING_SIZE) -> tuple[int, int]:
    """Largest size within box (either orientation) keeping the aspect; never upscales."""
    long_box, short_box = max(box), min(box)
    long_side, short_side = max(width, height), min(width, height)
    scale = min(1.0, long_box / long_side, short_box / short_side)
    return max(1, round(width * scale)), max(1, round(height * scale))


def fit_within(image: Image.Image, box: tuple[int, int] = PROCESSING_SIZE) -> Image.Image:
    size = fit_size(image.width, image.height, box)
    if size == image.size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def thumbnail(image: Image.Image, size: int = THUMBNAIL_SIZE) -> Image.Image:
    thumb = image.copy()
    thumb.thumbnail((size, size), Image.Resampling.LANCZOS)
    return thumb


def encode_jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, optimize=True, progressive=True)
    return buffer.getvalue()


@dataclass
class Prepared:
    image: Image.Image  # processing-ready
    thumbnail: Image.Image
    quad: Quad | None
    quad_source: str  # "person", "auto" or ""
    quad_confidence: float
    decoded: Decoded


def prepare(
    stream: BinaryIO, *, quad: Quad | None = None, box: tuple[int, int] = PROCESSING_SIZE
) -> Prepared:
    """The whole preprocessing pipeline on one file: decode → straighten → enhance → fit."""
    margin = DECODE_MARGIN
    if quad is not None:
        # A crop keeps only part of the frame: decode enough pixels for it to fill the box.
        pts = np.array(quad)
        extent = max(float(np.ptp(pts[:, 0])), float(np.ptp(pts[:, 1])), 0.2)
        margin = DECODE_MARGIN / extent
    decoded = decode(stream, need=box, margin=margin)
    rgb = np.asarray(decoded.image)
    detected, confidence = detect_border(rgb)
    source = ""
    if quad is not None:
        rgb, source, confidence = warp_quad(rgb, quad), "person", 1.0
    elif detected is not None and confidence >= BORDER_CONFIDENCE_MIN:
        rgb, quad, source = warp_quad(rgb, detected), detected, "auto"
    else:
        quad = detected  # recorded as a starting point for the crop page, not applied
    improved = Image.fromarray(enhance(rgb))
    ready = fit_within(improved, box)
    return Prepared(ready, thumbnail(ready), quad, source, confidence, decoded)
