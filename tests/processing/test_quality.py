"""The quality check an engine result must pass before a person sees it."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from processing.engines.aging import age_photo
from processing.engines.codec import encode_jpeg, encode_png, expected_size
from processing.engines.local import restore, tint
from processing.quality import QualityCheckFailed, quality_check, ssim


def test_a_real_restoration_passes(astronaut: np.ndarray) -> None:
    aged = age_photo(astronaut, seed=2)
    restored, _ = restore(aged)

    quality_check(aged, restored, expected_size(aged, (1280, 720)))


def test_a_tinted_colourization_passes_and_encoded_bytes_are_accepted(camera: np.ndarray) -> None:
    quality_check(camera, encode_jpeg(tint(camera)), (512, 512))


@pytest.mark.parametrize("fill", [0, 128, 255])
def test_blank_or_uniform_result_is_rejected(astronaut: np.ndarray, fill: int) -> None:
    with pytest.raises(QualityCheckFailed) as caught:
        quality_check(astronaut, np.full_like(astronaut, fill), (512, 512))

    assert caught.value.code == "result_blank"


def test_wrong_size_is_rejected(astronaut: np.ndarray) -> None:
    with pytest.raises(QualityCheckFailed) as caught:
        quality_check(astronaut, astronaut[:, :500], (512, 512))

    assert caught.value.code == "result_wrong_size"
    assert "500x512" in caught.value.reason


def test_an_unrelated_photo_is_rejected(astronaut: np.ndarray, coffee: np.ndarray) -> None:
    other = np.ascontiguousarray(coffee[:, 44:556])[:400, :400]
    other = np.pad(other, ((56, 56), (56, 56), (0, 0)), mode="reflect")

    with pytest.raises(QualityCheckFailed) as caught:
        quality_check(astronaut, other, (512, 512))

    assert caught.value.code == "result_not_same_photo"


def test_noise_instead_of_a_photo_is_rejected(astronaut: np.ndarray) -> None:
    noise = np.random.default_rng(0).integers(0, 255, astronaut.shape, dtype=np.uint8)

    with pytest.raises(QualityCheckFailed):
        quality_check(astronaut, noise, (512, 512))


@pytest.mark.parametrize(
    "data", [b"", b"not an image at all", encode_png(np.zeros((64, 64, 3), np.uint8))[:40]]
)
def test_bytes_that_are_not_an_image_are_rejected(astronaut: np.ndarray, data: bytes) -> None:
    with pytest.raises(QualityCheckFailed) as caught:
        quality_check(astronaut, data, (512, 512))

    assert caught.value.code == "result_not_image"


def test_non_rgb_arrays_are_rejected(astronaut: np.ndarray) -> None:
    with pytest.raises(QualityCheckFailed):
        quality_check(astronaut, astronaut.astype(np.float32), (512, 512))
    with pytest.raises(QualityCheckFailed):
        quality_check(astronaut, astronaut[:, :, 0], (512, 512))


def test_ssim_agrees_with_scikit_image(astronaut: np.ndarray) -> None:
    aged = age_photo(astronaut, seed=3)
    ours = ssim(astronaut[:, :, 1], aged[:, :, 1])
    reference = structural_similarity(
        astronaut[:, :, 1], aged[:, :, 1], gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False, data_range=255,
    )  # fmt: skip

    assert ours == pytest.approx(reference, abs=0.01)
