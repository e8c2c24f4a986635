"""Pure image functions for uploads: sniffing, decoding, perspective, enhancement, sizes.

No Django here (engines, the `restore` command and benchmarks reuse it). Arrays are
H×W×3 uint8 RGB, the same convention as ``processing.engines``.
"""

from __future__ import annotations

import io
import math
import zlib
from dataclasses import dataclass
from typing import BinaryIO

import cv2
import numpy as np
import pillow_heif
from PIL import Image, ImageCms, ImageFile, UnidentifiedImageError

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
# A perspective crop decodes this much more than the crop's share of the frame needs, so the
# warp (a bilinear resampling) still has pixels to spare.
DECODE_MARGIN = 1.5
# Auto-detected borders are applied only above this confidence.
BORDER_CONFIDENCE_MIN = 0.6
# Downscaling filter for the processing-ready image (see preprocess_bench for its cost),
# and the largest step for which plain bicubic (no antialiasing) is as good.
FIT_FILTER = Image.Resampling.LANCZOS
SMALL_STEP = 1.25

Quad = list[list[float]]  # four [x, y] corners, normalized 0..1: TL, TR, BR, BL


class ImageRefused(ValueError):
    """Base: the file cannot be used. ``reason`` is one of "unsupported", "unreadable"."""

    reason = "unreadable"


class UnsupportedFormat(ImageRefused):
    reason = "unsupported"


class Unreadable(ImageRefused):
    reason = "unreadable"


class TooCostly(ImageRefused):
    """Readable, but more than this caller may decode (a web request, not the worker)."""

    reason = "too_costly"


@dataclass
class Decoded:
    image: Image.Image  # RGB, upright, sRGB, no metadata
    source_format: str
    original_size: tuple[int, int]  # upright size of the file as stored
    is_grayscale: bool
    preview: np.ndarray  # the same picture, at most PREVIEW_SIZE px long (detection, statistics)


# What an EXIF orientation asks for, to turn the stored pixels upright (as ImageOps does).
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
TOO_MANY_PIXELS = "The image has far too many pixels."
DAMAGED = "The image is damaged or incomplete."
TOO_COSTLY = "The image needs more memory to decode than this request may use."
# Detection and statistics need only this many pixels along the long side.
PREVIEW_SIZE = 512


def _open(stream: BinaryIO) -> Image.Image:
    """Open (headers only) with Pillow restricted to the four formats we take."""
    stream.seek(0)
    if not stream.read(16):
        raise UnsupportedFormat("The file is empty.")
    stream.seek(0)
    try:
        img = Image.open(stream, formats=ACCEPTED_FORMATS)
    except UnidentifiedImageError as exc:
        raise UnsupportedFormat("Not a JPEG, PNG, HEIC or WebP image.") from exc
    except Image.DecompressionBombError as exc:
        raise Unreadable(TOO_MANY_PIXELS) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise Unreadable(DAMAGED) from exc
    if img.width * img.height > MAX_PIXELS:
        raise Unreadable(TOO_MANY_PIXELS)
    return img


# Bytes per pixel of Pillow's image buffer for each mode a file can open in.
_MODE_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2}
# A HEIC or WebP decode also holds the codec's own buffers besides Pillow's 4-byte pixels:
# measured 7.8 bytes per pixel in all for an 8-bit HEIC (16-bit ones hold more), 15-17 for
# WebP (upload_memory_bench, "budget" rows).
_CODEC_BYTES = {"HEIF": 8, "WEBP": 14}


def decode_cost(img: Image.Image) -> int:
    """Bytes of memory a check decode (``verify_decode``) of this opened file needs, from
    its header alone.

    A baseline JPEG decodes at 1/8 scale (libjpeg streams it, holding only the small
    result). A progressive JPEG needs all its DCT coefficients at once whatever the scale:
    2 bytes per sample, counted as if no channel were subsampled. Other formats decode every
    pixel into Pillow's buffer (1 to 4 bytes per pixel), HEIC and WebP into the codec's too.
    """
    pixels = img.width * img.height
    if img.format == "JPEG":
        if img.info.get("progressive") or img.info.get("progression"):
            return pixels * 2 * len(img.getbands())
        return pixels * 4 // 64
    return pixels * (_MODE_BYTES.get(img.mode, 4) + _CODEC_BYTES.get(img.format or "", 0))


def _check_png_chunks(stream: BinaryIO) -> None:
    """Walk a PNG's chunks without decompressing: each CRC must match and IEND must come, so
    a truncated or corrupted file is caught without holding its pixels."""
    stream.seek(8)
    while True:
        head = stream.read(8)
        if len(head) < 8:
            raise Unreadable(DAMAGED)
        length, kind = int.from_bytes(head[:4], "big"), head[4:8]
        crc = zlib.crc32(kind)
        remaining = length
        while remaining:
            chunk = stream.read(min(remaining, 1 << 20))
            if not chunk:
                raise Unreadable(DAMAGED)
            crc = zlib.crc32(chunk, crc)
            remaining -= len(chunk)
        stored = stream.read(4)
        if len(stored) < 4 or int.from_bytes(stored, "big") != crc:
            raise Unreadable(DAMAGED)
        if kind == b"IEND":
            return


def verify_decode(img: Image.Image) -> None:
    """Decode an opened file at the least cost that still reads all of it (JPEG at 1/8
    scale), to catch damage; the pixels are dropped."""
    try:
        if img.format == "JPEG":
            img.draft(None, (max(1, img.width // 8), max(1, img.height // 8)))
        img.load()
    except Image.DecompressionBombError as exc:
        raise Unreadable(TOO_MANY_PIXELS) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise Unreadable(DAMAGED) from exc


def verify(stream: BinaryIO, *, max_decode_bytes: int) -> str:
    """Check an upload cheaply, for the web request: the real format and the pixel count from
    the header; then a check decode only when ``decode_cost`` fits ``max_decode_bytes``.

    Larger files are checked as far as their structure allows without decoding (a PNG's
    chunk CRCs and end); their full decode happens in the worker, which rejects a damaged
    one there. Returns the format's name (by content); raises UnsupportedFormat/Unreadable.
    """
    try:
        with _open(stream) as img:
            fmt = img.format or ""
            if decode_cost(img) <= max_decode_bytes:
                verify_decode(img)
            elif fmt == "PNG":
                _check_png_chunks(stream)
        return fmt
    finally:
        stream.seek(0)


HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}


def looks_like_image(head: bytes) -> bool:
    """Whether a file's first bytes carry one of the four formats' signatures.

    A cheap first look for files stored before they could be checked (direct S3 uploads):
    everything else is refused at once; what passes is still fully decoded later.
    """
    if head.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")):
        return True
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return True
    if head[4:8] == b"ftyp":
        size = int.from_bytes(head[:4], "big")
        brands = [head[8:12]] + [head[i : i + 4] for i in range(16, min(size, len(head)) - 3, 4)]
        return any(brand in HEIF_BRANDS for brand in brands)
    return False


# Rows converted at a time from 16 to 8 bits: the temporary copies stay a few MB.
STRIP_ROWS = 256


def _top_byte(img: Image.Image) -> Image.Image:
    """A 16-bit gray image (I;16* or I) as 8-bit L, keeping the top 8 bits, in strips of
    rows: the only whole-image allocation is the 1-byte-per-pixel result (a whole-image
    32-bit copy of a 120 MP scan would be 480 MB)."""
    width, height = img.size
    out = np.empty((height, width), np.uint8)
    for top in range(0, height, STRIP_ROWS):
        strip = np.asarray(img.crop((0, top, width, min(height, top + STRIP_ROWS))))
        out[top : top + strip.shape[0]] = (strip >> 8).clip(0, 255)
    return Image.fromarray(out, "L")


def _eight_bit(img: Image.Image) -> Image.Image:
    """16-bit and palette images as 8-bit L/RGB/RGBA, so they can be reduced and converted."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit PNG: keep the top 8 bits (Pillow's convert("L") would clip instead).
        return _top_byte(img)
    if img.mode == "P":
        return img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode == "1":
        return img.convert("L")
    if img.mode in ("L", "RGB") and "transparency" in img.info:
        return img.convert("RGBA")  # a colour key: make it real alpha before any averaging
    return img


_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _to_srgb(img: Image.Image, icc: bytes | None) -> Image.Image:
    """8-bit RGB in sRGB: ICC profiles converted, alpha flattened on white."""
    if img.mode in ("LA", "RGBA", "PA"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba).convert("RGB")
    if icc and img.mode in ("RGB", "CMYK", "L"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            img = ImageCms.profileToProfile(img, source, _SRGB, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile: use the numbers as they are
    if img.mode != "RGB":
        img = img.convert("RGB")
    return img


def _reduce(img: Image.Image, long_side: int) -> Image.Image:
    """Integer box reduction (fast, in C) that keeps at least ``long_side`` px along the long side.

    Done in strips of rows (a multiple of the factor, so the boxes and the result are the
    same): Pillow reduces RGBA and LA through a premultiplied copy of the whole image, which
    for a 120 MP scan would be another 480 MB.
    """
    factor = int(max(img.size) // long_side)
    if factor < 2:
        return img
    width, height = img.size
    out = Image.new(img.mode, (-(-width // factor), -(-height // factor)))
    step = factor * max(1, STRIP_ROWS // factor)
    for top in range(0, height, step):
        out.paste(img.crop((0, top, width, min(height, top + step))).reduce(factor), (0, top // factor))
    return out


def _preview(img: Image.Image) -> np.ndarray:
    """The picture box-reduced to at most PREVIEW_SIZE px (one integer ``reduce``: fast)."""
    factor = math.ceil(max(img.size) / PREVIEW_SIZE)
    return np.asarray(img.reduce(factor) if factor > 1 else img)


def decode(
    stream: BinaryIO,
    *,
    need: tuple[int, int] = PROCESSING_SIZE,
    margin: float = 1.0,
    max_decode_bytes: int | None = None,
) -> Decoded:
    """Decode just enough pixels, upright, sRGB, without metadata.

    "Enough" is what fitting into ``need`` keeps, times ``margin`` (a crop asks for more).
    JPEGs use Pillow's draft (libjpeg's DCT scaling: a 12 MP photo decodes at 1/4, a 48 MP
    one at 1/8, never in full); other formats are box-reduced by an integer factor right
    after decoding, before any colour work. Animated files give their first frame. With
    ``max_decode_bytes``, a file whose ``decode_cost`` is larger is refused (TooCostly)
    before any pixel is decoded.
    """
    img = _open(stream)
    if max_decode_bytes is not None and decode_cost(img) > max_decode_bytes:
        img.close()
        raise TooCostly(TOO_COSTLY)
    fmt = img.format or ""
    try:
        img.seek(0)  # animated WebP/PNG: the first frame
        original = img.size
        want = max(1, math.ceil(max(fit_size(*img.size, need)) * margin))  # long side worth keeping
        orientation = img.getexif().get(0x0112, 1)
        icc = img.info.get("icc_profile")
        if fmt == "JPEG" and max(img.size) >= 2 * want:
            w, h = img.size
            factor = max(w, h) / want
            img.draft(None, (max(1, int(w / factor)), max(1, int(h / factor))))
        img.load()
    except Image.DecompressionBombError as exc:
        raise Unreadable(TOO_MANY_PIXELS) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise Unreadable(DAMAGED) from exc
    loaded = img
    img = _reduce(_eight_bit(img), want)
    if orientation in _ORIENTATION:
        img = img.transpose(_ORIENTATION[orientation])
    if orientation in (5, 6, 7, 8):
        original = (original[1], original[0])
    img = _to_srgb(img, icc)
    if img is loaded:
        img = img.copy()  # the opened file's object carries its EXIF; ours must carry nothing
    img.info = {}
    preview = _preview(img)
    return Decoded(img, fmt, original, is_grayscale(preview), preview)


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


# A print photographed at an ordinary angle keeps its corners near square; outlines with
# sharper or flatter corners come from the picture's own content (tiles, windows, shadows).
CORNER_ANGLES = (65.0, 115.0)


def _plausible_print(pts: np.ndarray) -> bool:
    for i in range(4):
        a, b, c = pts[i - 1], pts[i], pts[(i + 1) % 4]
        u, v = a - b, c - b
        cos = float(np.dot(u, v) / max(np.linalg.norm(u) * np.linalg.norm(v), 1e-9))
        if not CORNER_ANGLES[0] <= np.degrees(np.arccos(np.clip(cos, -1, 1))) <= CORNER_ANGLES[1]:
            return False
    return True


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
            if not _plausible_print(pts):
                continue
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


def _enhance_tables(hist: np.ndarray, gray: bool, keep_tone: bool = False) -> np.ndarray | None:
    """Per-channel lookup tables (3×256) for gentle levels and white balance, from the
    channels' histograms (3×256); None when the photo needs neither.

    Both corrections are per-channel affine maps, so they are exact as tables: levels move
    the 0.5/99.5 percentiles halfway towards 0/255 when the range is short; white balance
    moves the channel means halfway towards their average when the cast is strong. With
    ``keep_tone`` (a sepia or otherwise toned print the person wants kept) there is no white
    balance, and levels use one map for all three channels (the darkest channel's black and
    the brightest one's white), so the print's tone is kept.
    """
    counts = hist.astype(np.float64)
    total = np.maximum(counts.sum(axis=1), 1.0)
    cdf = np.cumsum(counts, axis=1) / total[:, None]
    lo = np.array([np.searchsorted(c, 0.005) for c in cdf], dtype=np.float64)
    hi = np.array([np.searchsorted(c, 0.995) for c in cdf], dtype=np.float64)
    if keep_tone:
        lo, hi = np.full(3, lo.min()), np.full(3, hi.max())
    values = np.arange(256, dtype=np.float64)
    means = (counts * values).sum(axis=1) / total
    # y = a * x + b per channel, starting from the identity
    a, b = np.ones(3), np.zeros(3)
    changed = False
    if float((hi - lo).min()) < 200:  # faded: lifted blacks or dimmed whites
        stretch = 255.0 / np.maximum(hi - lo, 1.0)
        a, b = 0.5 + 0.5 * stretch, -0.5 * lo * stretch
        changed = True
    levelled = a * means + b
    if float(levelled.max() - levelled.min()) > 18 and not gray and not keep_tone:
        gain = 0.5 + 0.5 * float(levelled.mean()) / np.maximum(levelled, 1.0)
        a, b = a * gain, b * gain
        changed = True
    if not changed:
        return None
    tables = a[:, None] * values[None, :] + b[:, None]
    return np.clip(tables + 0.5, 0, 255).astype(np.uint8)


def enhance(rgb: np.ndarray, *, keep_tone: bool = False) -> np.ndarray:
    """Gentle levels and white balance, each only when the photo needs it: the first step of
    every job (``processing.services``), never of preparation, so the "before" stays the
    person's own photo.

    A clean photo (full tonal range, neutral grays) comes back unchanged; a faded or tinted
    one is moved halfway towards a full range and neutral balance — never harsh. With
    ``keep_tone`` a toned print keeps its tone: levels only, the same for every channel.
    """
    hist = np.stack([cv2.calcHist([rgb], [c], None, [256], [0, 256]).ravel() for c in range(3)])
    tables = _enhance_tables(hist.astype(np.int64), is_grayscale(rgb), keep_tone)
    if tables is None:
        return rgb.copy()
    return cv2.LUT(rgb, np.ascontiguousarray(tables.T.reshape(256, 1, 3)))


# A toned print (sepia, selenium, cyanotype): colour that depends on lightness alone (its
# spread around each lightness level's own mean, in Lab units, at most TONED_SPREAD) and a
# clear, consistent cast (the mean a/b offset from neutral, at least TONED_CAST). A neutral
# black-and-white photo has no cast; a colour photo's colour varies within every lightness.
# An age-yellowed print measures as toned too: keeping its tone is the safe default, and the
# person may untick it. Synthetic checks (scikit-image's photos, 640×480): sepia-toned ones
# cast 12-20, spread 0.7-2.6 (aged, or as a JPEG thumbnail, included); neutral gray cast 0;
# colour photos spread 7.2 and up.
TONED_CAST = 4.0
TONED_SPREAD = 3.5


def tone_cast(rgb: np.ndarray) -> tuple[float, float]:
    """(cast, spread) of a picture in Lab units: how far its mean colour sits from neutral,
    and how much its colour varies around the mean colour of each lightness level."""
    small = rgb[:: max(1, rgb.shape[0] // 256), :: max(1, rgb.shape[1] // 256)]
    lab = cv2.cvtColor(np.ascontiguousarray(small), cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float64)
    a, b = lab[:, 1] - 128.0, lab[:, 2] - 128.0
    bins = (lab[:, 0] // 16).astype(np.int64)
    counts = np.maximum(np.bincount(bins, minlength=16), 1)
    mean_a = np.bincount(bins, a, minlength=16) / counts
    mean_b = np.bincount(bins, b, minlength=16) / counts
    spread = float(np.hypot(a - mean_a[bins], b - mean_b[bins]).mean())
    return float(np.hypot(a.mean(), b.mean())), spread


def is_toned(rgb: np.ndarray) -> bool:
    """True for a black-and-white print with a consistent tone (sepia and the like)."""
    cast, spread = tone_cast(rgb)
    return cast >= TONED_CAST and spread <= TONED_SPREAD


def fit_size(width: int, height: int, box: tuple[int, int] = PROCESSING_SIZE) -> tuple[int, int]:
    """Largest size within box (either orientation) keeping the aspect; never upscales."""
    long_box, short_box = max(box), min(box)
    long_side, short_side = max(width, height), min(width, height)
    scale = min(1.0, long_box / long_side, short_box / short_side)
    return max(1, round(width * scale)), max(1, round(height * scale))


def fit_within(image: Image.Image, box: tuple[int, int] = PROCESSING_SIZE) -> Image.Image:
    """The image fitted into ``box`` (1280×720 fits 1280×720 landscape or 720×1280 portrait);
    never upscaled."""
    size = fit_size(image.width, image.height, box)
    if size == image.size:
        return image
    if image.mode == "RGB" and image.width / size[0] <= SMALL_STEP:
        # After draft/reduce the last step is often a few percent: bicubic needs no
        # antialiasing there, and OpenCV's is ten times faster than Pillow's Lanczos.
        resized = cv2.resize(np.asarray(image), size, interpolation=cv2.INTER_CUBIC)
        return Image.fromarray(resized)
    return image.resize(size, FIT_FILTER, reducing_gap=3.0)


def thumbnail(image: Image.Image, size: int = THUMBNAIL_SIZE) -> Image.Image:
    thumb = image.copy()
    thumb.thumbnail((size, size), Image.Resampling.LANCZOS)
    return thumb


def encode_jpeg(image: Image.Image, quality: int = 90) -> bytes:
    """Re-encode with nothing but pixels: no EXIF, no ICC profile, no comment."""
    buffer = io.BytesIO()
    clean = image if not image.info else image.copy()
    clean.info = {}
    clean.save(buffer, format="JPEG", quality=quality, optimize=True, progressive=True)
    return buffer.getvalue()


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean structural similarity of two same-sized images (gray or RGB, uint8), with the
    usual 11×11 Gaussian window (σ 1.5); numpy/OpenCV only, for runtime checks."""
    if a.shape != b.shape:
        raise ValueError(f"SSIM needs images of the same size, not {a.shape} and {b.shape}.")
    x, y = a.astype(np.float64), b.astype(np.float64)
    if x.ndim == 2:
        x, y = x[..., None], y[..., None]
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    scores = []
    for ch in range(x.shape[2]):
        p, q = x[..., ch], y[..., ch]
        blur = lambda m: cv2.GaussianBlur(m, (11, 11), 1.5)  # noqa: E731
        mp, mq = blur(p), blur(q)
        vp, vq, cov = blur(p * p) - mp * mp, blur(q * q) - mq * mq, blur(p * q) - mp * mq
        index = ((2 * mp * mq + c1) * (2 * cov + c2)) / ((mp * mp + mq * mq + c1) * (vp + vq + c2))
        scores.append(float(index[5:-5, 5:-5].mean()) if min(p.shape) > 10 else float(index.mean()))
    return float(np.mean(scores))


def crop_margin(quad: Quad) -> float:
    """How much more than a whole-frame fit to decode so this crop still fills the box."""
    pts = np.array(quad)
    extent = max(float(np.ptp(pts[:, 0])), float(np.ptp(pts[:, 1])), 0.2)
    return DECODE_MARGIN / extent


@dataclass
class Prepared:
    image: Image.Image  # processing-ready
    thumbnail: Image.Image
    quad: Quad | None
    quad_source: str  # "person", "auto" or ""
    quad_confidence: float
    decoded: Decoded
    is_grayscale: bool = False


def prepare(
    stream: BinaryIO, *, quad: Quad | None = None, box: tuple[int, int] = PROCESSING_SIZE
) -> Prepared:
    """The whole preprocessing pipeline on one file: decode → straighten → fit.

    Border detection looks at the small preview; only a crop that is applied touches the
    larger decoded pixels. Nothing changes the photo's tones or colours here: the prepared
    image is the "before" people compare results with, so it is what they uploaded,
    straightened and fitted; the gentle levels and white balance (``enhance``) are part of
    each job's work.
    """
    margin = 1.0 if quad is None else crop_margin(quad)
    decoded = decode(stream, need=box, margin=margin)
    detected, confidence = detect_border(decoded.preview)
    source = ""
    if quad is not None:
        source, confidence = "person", 1.0
    elif detected is not None and confidence >= BORDER_CONFIDENCE_MIN:
        quad, source = detected, "auto"
        if decoded.image.size != decoded.original_size:
            # The print is only part of the frame: decode again with pixels enough for it.
            decoded = decode(stream, need=box, margin=crop_margin(quad))
    else:
        quad = detected  # recorded as a starting point for the crop page, not applied
    image = decoded.image
    if source:
        image = Image.fromarray(warp_quad(np.asarray(image), quad))
    fitted = fit_within(image, box)
    gray = is_grayscale(_preview(fitted))
    return Prepared(fitted, thumbnail(fitted), quad, source, confidence, decoded, gray)
