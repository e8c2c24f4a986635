"""Pure imaging: perspective correction, border detection, enhancement, sizes, draft decoding."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from skimage.metrics import structural_similarity

from photos import imaging
from tests.photos import images

CORNERS = [(180, 90), (1010, 140), (960, 760), (150, 700)]  # a tilted print on a table
CANVAS = (1200, 860)


def _ssim(a: np.ndarray, b: np.ndarray) -> float:
    return structural_similarity(a, b, channel_axis=2, data_range=255)


def test_perspective_correction_from_the_persons_corners_recovers_the_print():
    original = images.photo((800, 600))
    scene = np.asarray(images.photo_of_photo(original, CANVAS, CORNERS))
    quad = [[x / CANVAS[0], y / CANVAS[1]] for x, y in CORNERS]
    corrected = imaging.warp_quad(scene, quad)
    back = np.asarray(Image.fromarray(corrected).resize(original.size, Image.Resampling.LANCZOS))
    assert _ssim(np.asarray(original), back) >= 0.9


def test_border_of_a_photo_of_a_photo_is_found_and_confident():
    original = images.photo((800, 600))
    scene = np.asarray(images.photo_of_photo(original, CANVAS, CORNERS))
    quad, confidence = imaging.detect_border(scene)
    assert quad is not None and confidence >= imaging.BORDER_CONFIDENCE_MIN
    found = np.array(quad) * CANVAS
    assert np.abs(found - np.array(CORNERS)).max() < 25  # within a few pixels at 1200 px


def test_prepare_applies_a_confident_detection_and_straightens_the_print():
    original = images.photo((800, 600))
    scene = images.photo_of_photo(original, CANVAS, CORNERS)
    prepared = imaging.prepare(io.BytesIO(images.jpeg(scene)))
    assert prepared.quad_source == "auto"
    back = np.asarray(prepared.image.resize(original.size, Image.Resampling.LANCZOS))
    # Detected corners are within about 1% of the true ones (a sliver of table may remain),
    # so this is looser than the 0.9 of a correction from exact corners.
    assert _ssim(np.asarray(original), back) >= 0.7


def test_a_frame_without_a_clear_border_is_left_alone():
    prepared = imaging.prepare(io.BytesIO(images.jpeg(images.photo((1024, 768)))))
    assert prepared.quad_source == ""
    assert prepared.image.size == (960, 720)  # only fitted into 1280×720, not cropped


def test_enhancement_leaves_a_clean_photo_close_to_itself_and_lifts_a_faded_one():
    clean = np.asarray(images.photo((640, 480)))
    assert _ssim(clean, imaging.enhance(clean)) >= 0.97
    faded = (clean.astype(np.float32) * 0.5 + 90).astype(np.uint8)
    improved = imaging.enhance(faded)
    assert np.ptp(improved) > np.ptp(faded)


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((4000, 3000), (960, 720)),
        ((3000, 4000), (720, 960)),
        ((640, 480), (640, 480)),
        ((2000, 500), (1280, 320)),
    ],
)
def test_fit_size_fits_either_orientation_and_never_upscales(size, expected):
    assert imaging.fit_size(*size) == expected


def test_large_jpeg_is_decoded_at_reduced_scale():
    big = images.jpeg(images.photo((4000, 3000)))
    decoded = imaging.decode(io.BytesIO(big))
    assert decoded.original_size == (4000, 3000)
    assert decoded.image.size == (1000, 750)  # DCT scaling at 1/4: never the full 12 MP
    assert imaging.fit_size(*decoded.image.size) == (960, 720)  # still enough for the box


def test_validate_quad_rejects_crossed_and_out_of_range_corners():
    with pytest.raises(ValueError, match="without crossing"):
        imaging.validate_quad([[0, 0], [1, 1], [1, 0], [0, 1]])
    with pytest.raises(ValueError, match="between 0 and 1"):
        imaging.validate_quad([[0, 0], [1.5, 0], [1, 1], [0, 1]])


def test_signatures_tell_the_four_formats_from_everything_else():
    for content in (images.jpeg(), images.encode(images.photo(), "PNG"), images.heic(),
                    images.encode(images.photo(), "WEBP")):  # fmt: skip
        assert imaging.looks_like_image(content[:64])
    for content in (b"%PDF-1.4", b"PK\x03\x04zip", b"<svg", b"GIF89a", b"", b"\x00\x00\x00\x18ftypavis"):
        assert not imaging.looks_like_image(content)


def test_ssim_helper_agrees_with_scikit_image():
    clean = np.asarray(images.photo((320, 240)))
    noisy = np.clip(clean + np.random.default_rng(1).normal(0, 12, clean.shape), 0, 255).astype(np.uint8)
    ours = imaging.ssim(clean, noisy)
    reference = structural_similarity(clean, noisy, channel_axis=2, data_range=255, gaussian_weights=True,
                                      sigma=1.5, use_sample_covariance=False)  # fmt: skip
    assert abs(ours - reference) < 0.01
    assert imaging.ssim(clean, clean) == pytest.approx(1.0)


def _hue(rgb: np.ndarray) -> tuple[float, float]:
    """(hue angle in degrees, cast strength) of a picture's mean colour in Lab."""
    import cv2

    lab = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float64)
    a, b = lab[:, 1].mean() - 128, lab[:, 2].mean() - 128
    return float(np.degrees(np.arctan2(b, a))), float(np.hypot(a, b))


def test_preparation_leaves_tones_and_colours_as_uploaded():
    # given a faded print with a warm cast, the very photo enhancement would change
    original = np.asarray(images.faded_tinted_photo((800, 600)))
    assert _ssim(original, imaging.enhance(original)) < 0.97
    # when it is prepared
    upload = images.jpeg(Image.fromarray(original), quality=95)
    prepared = np.asarray(imaging.prepare(io.BytesIO(upload)).image)
    # then it is the upload, fitted: same size (nothing to straighten), same tones and cast
    original = np.asarray(Image.open(io.BytesIO(upload)).convert("RGB"))
    assert prepared.shape == original.shape
    assert _ssim(original, prepared) >= 0.99
    assert np.abs(prepared.reshape(-1, 3).mean(0) - original.reshape(-1, 3).mean(0)).max() < 2


def test_a_toned_print_is_told_from_neutral_and_colour_photos():
    assert imaging.is_toned(np.asarray(images.sepia_photo()))
    assert not imaging.is_toned(np.asarray(images.gray_photo().convert("RGB")))
    assert not imaging.is_toned(np.asarray(images.photo()))
    assert not imaging.is_toned(np.asarray(images.faded_tinted_photo()))


def test_enhancement_keeping_the_tone_lifts_levels_but_keeps_the_hue():
    sepia = np.asarray(images.sepia_photo())
    faded = (sepia.astype(np.float32) * 0.6 + 60).astype(np.uint8)
    hue, cast = _hue(faded)
    kept = imaging.enhance(faded, keep_tone=True)
    assert np.ptp(kept) > np.ptp(faded)  # levels still lifted
    kept_hue, kept_cast = _hue(kept)
    assert abs(kept_hue - hue) < 3 and kept_cast >= 0.9 * cast
    # without it, white balance takes much of the cast away
    assert _hue(imaging.enhance(faded))[1] < 0.7 * cast
