"""Aligning a generated result back onto its input (pure OpenCV, synthetic drift)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from processing.engines.local import tint
from processing.quality import ssim
from processing.runpod_worker.align import AlignmentFailed, align_to_reference
from processing.runpod_worker.backends import model_size


def drift(image: np.ndarray, *, zoom: float, shift: tuple[float, float], angle: float = 0.0) -> np.ndarray:
    """What an edit model does to a picture: a slight zoom about the centre, a shift, a turn."""
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, zoom)
    matrix[:, 2] += shift
    return cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REFLECT)


def gray(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


@pytest.mark.parametrize(
    ("zoom", "shift", "angle"),
    [(1.0, (9.0, -6.0), 0.0), (1.05, (0.0, 0.0), 0.0), (0.96, (-12.0, 7.0), 0.6), (1.08, (15.0, 10.0), -1.0)],
)
def test_shifted_and_zoomed_result_is_lined_up_again(
    astronaut: np.ndarray, zoom: float, shift: tuple[float, float], angle: float
) -> None:
    reference = cv2.resize(astronaut, (720, 720), interpolation=cv2.INTER_CUBIC)
    # The model's output: drifted, recoloured, and at its own ~1 MP working size.
    generated = cv2.resize(tint(drift(reference, zoom=zoom, shift=shift, angle=angle)), model_size(720, 720))

    aligned = align_to_reference(generated, reference)

    before = ssim(gray(reference), gray(cv2.resize(generated, (720, 720))))
    after = ssim(gray(reference), gray(aligned))
    assert aligned.shape == reference.shape
    assert after > 0.8
    assert after > before + 0.1 or before > 0.8


def test_a_result_that_already_lines_up_is_left_in_place(camera: np.ndarray) -> None:
    aligned = align_to_reference(camera, camera)

    assert ssim(gray(camera), gray(aligned)) > 0.98


def test_a_landscape_photo_keeps_its_size(coffee: np.ndarray) -> None:
    generated = cv2.resize(drift(coffee, zoom=1.03, shift=(5.0, 3.0)), model_size(600, 400))

    aligned = align_to_reference(generated, coffee)

    assert aligned.shape == coffee.shape
    assert ssim(gray(coffee), gray(aligned)) > 0.8


def test_model_size_is_about_one_megapixel_in_multiples_of_16() -> None:
    width, height = model_size(1280, 720)

    assert width % 16 == 0 and height % 16 == 0
    assert 0.9e6 < width * height < 1.1e6
    assert abs(width / height - 1280 / 720) < 0.02


@pytest.mark.parametrize("make", ["unrelated", "uniform", "noise", "too_far"])
def test_alignment_fails_when_the_result_is_not_the_same_picture(
    astronaut: np.ndarray, coffee: np.ndarray, make: str
) -> None:
    generated = {
        "unrelated": cv2.resize(coffee, (512, 512)),
        "uniform": np.full_like(astronaut, 120),
        "noise": np.random.default_rng(0).integers(0, 255, astronaut.shape, dtype=np.uint8),
        "too_far": drift(astronaut, zoom=1.6, shift=(120.0, 0.0)),
    }[make]

    with pytest.raises(AlignmentFailed):
        align_to_reference(generated, astronaut)
