"""The local engine: gated classical restoration (pure numpy/OpenCV, no Django needed)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from processing.engines import local
from processing.engines.aging import age_photo
from processing.engines.base import EngineRequest, Kind, PermanentEngineError, get_engine
from processing.engines.codec import fit_size
from processing.engines.local import NOTE_ALREADY_COLOUR, NOTE_NO_HINTS, NOTE_TINT, LocalEngine
from processing.quality import psnr, ssim


def run(image: np.ndarray, kind: str = "restore", **kwargs: object) -> np.ndarray:
    return LocalEngine().run(EngineRequest(image=image, kind=kind, **kwargs)).image


@pytest.mark.parametrize("name", ["astronaut", "camera", "coffee"])
def test_clean_photo_comes_back_nearly_unchanged(name: str, request: pytest.FixtureRequest) -> None:
    clean = request.getfixturevalue(name)

    restored = run(clean)

    assert restored.shape == clean.shape
    assert ssim(clean, restored) >= 0.97


@pytest.mark.parametrize("name", ["astronaut", "camera", "coffee"])
def test_aged_photo_measurably_improves(name: str, request: pytest.FixtureRequest) -> None:
    clean = request.getfixturevalue(name)
    aged = age_photo(clean, seed=7)

    restored = run(aged)

    assert psnr(clean, restored) > psnr(clean, aged)
    assert ssim(clean, restored) > ssim(clean, aged) + 0.1


def test_aged_photos_gain_on_average_in_psnr(
    astronaut: np.ndarray, camera: np.ndarray, coffee: np.ndarray
) -> None:
    gains = []
    for clean in (astronaut, camera, coffee):
        aged = age_photo(clean, seed=11)
        gains.append(psnr(clean, run(aged)) - psnr(clean, aged))

    assert np.mean(gains) > 2.0


def test_each_step_is_gated_on_what_was_measured(astronaut: np.ndarray) -> None:
    _, clean_steps = local.restore(astronaut)
    _, aged_steps = local.restore(age_photo(astronaut, seed=1))

    assert not {"denoise", "colour", "contrast"} & set(clean_steps.steps)
    assert {"denoise", "dust_and_scratches", "colour", "contrast"} <= set(aged_steps.steps)


def test_noise_estimate_follows_added_grain(camera: np.ndarray) -> None:
    gray = camera[:, :, 0].astype(np.float32)
    noisy = np.clip(gray + np.random.default_rng(0).normal(0, 10, gray.shape), 0, 255).astype(np.uint8)

    assert local.estimate_noise(camera[:, :, 0]) < 3.0
    assert 8.0 < local.estimate_noise(noisy) < 12.5


def test_dust_on_a_smooth_area_is_found_and_removed() -> None:
    sky = np.tile(np.linspace(10, 245, 400, dtype=np.float32)[:, None], (1, 600))
    clean = np.repeat(sky[:, :, None], 3, axis=2).astype(np.uint8)
    dusty = clean.copy()
    rng = np.random.default_rng(3)
    for _ in range(60):
        x, y = int(rng.integers(10, 590)), int(rng.integers(10, 390))
        tone = 20 if sky[y, 0] > 128 else 235  # dark dust on light sky, light on dark
        cv2.circle(dusty, (x, y), 2, (tone, tone, tone), -1)

    restored, measured = local.restore(dusty)

    assert "dust_and_scratches" in measured.steps
    assert np.abs(restored.astype(int) - clean.astype(int)).max() < 40
    assert np.abs(dusty.astype(int) - clean.astype(int)).max() > 90


def test_a_restore_says_what_it_did(astronaut: np.ndarray) -> None:
    aged = LocalEngine().run(EngineRequest(image=age_photo(astronaut, seed=1), kind="restore"))
    clean = LocalEngine().run(EngineRequest(image=astronaut, kind="restore"))

    said = aged.notes[0]
    assert said.startswith("The local engine reduced the grain, removed dust and specks")
    assert "brought back faded contrast" in said and said.endswith(".")
    assert clean.notes[0] in (local.NOTE_CLEAN, local.NOTE_CLEAN_SPECKS)


def test_a_restore_says_when_the_safeguard_held_back(
    astronaut: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_print = {"noise_sigma": 8.0, "grain_uniformity": 1.0, "cast": 20.0}
    lines_kept = local.Measurements(**old_print, steps=["safeguard_no_lines", "denoise", "contrast"])
    assert local.restore_note(lines_kept) == (
        f"The local engine reduced the grain and brought back faded contrast. {local.NOTE_HELD_BACK_LINES}"
    )
    marks_kept = local.Measurements(**old_print, steps=["safeguard_no_repairs", "denoise"])
    assert (
        local.restore_note(marks_kept) == f"The local engine reduced the grain. {local.NOTE_HELD_BACK_MARKS}"
    )

    # Every repair changed the picture: the photo comes back as it was, and the note says so.
    monkeypatch.setattr(local, "structure_kept", lambda before, after: 0.0)
    aged = age_photo(astronaut, seed=1)
    result = LocalEngine().run(EngineRequest(image=aged, kind="restore"))
    assert np.array_equal(result.image, aged)
    assert result.notes == [local.NOTE_UNCHANGED]


def test_colourize_of_a_black_and_white_photo_is_a_labelled_tint(camera: np.ndarray) -> None:
    result = LocalEngine().run(EngineRequest(image=camera, kind=Kind.COLOURIZE))

    red, blue = result.image[:, :, 0].astype(float), result.image[:, :, 2].astype(float)
    assert (red - blue).mean() > 10  # warm, no longer gray
    assert NOTE_TINT in result.notes
    assert "tint" in NOTE_TINT


def test_restore_colourize_of_a_colour_photo_keeps_its_colours(astronaut: np.ndarray) -> None:
    result = LocalEngine().run(EngineRequest(image=astronaut, kind="restore_colourize"))

    assert NOTE_ALREADY_COLOUR in result.notes
    assert ssim(astronaut, result.image) >= 0.97


def test_hints_are_reported_as_unused(camera: np.ndarray) -> None:
    result = LocalEngine().run(EngineRequest(image=camera, kind="colourize", hints="blue dress"))

    assert NOTE_NO_HINTS in result.notes


@pytest.mark.parametrize(
    ("size", "cap", "expected"),
    [
        ((2000, 1000), (1280, 720), (1280, 640)),
        ((1000, 2000), (1280, 720), (640, 1280)),
        ((1000, 2000), (854, 480), (427, 854)),
        ((300, 200), (1280, 720), (300, 200)),
    ],
)
def test_result_fits_the_size_cap_and_is_never_upscaled(
    size: tuple[int, int], cap: tuple[int, int], expected: tuple[int, int]
) -> None:
    width, height = size
    image = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)

    result = run(image, max_size=cap)

    assert (result.shape[1], result.shape[0]) == expected
    assert fit_size(width, height, cap) == expected


def test_usage_names_the_engine_and_bills_no_gpu(astronaut: np.ndarray) -> None:
    result = get_engine("local").run(EngineRequest(image=astronaut, kind="restore"))

    assert result.engine == "local"
    assert result.usage["gpu_seconds"] == 0.0
    assert result.usage["seconds"] > 0.0
    assert result.usage["cpu_seconds"] >= 0.0


def test_grayscale_2d_and_pil_inputs_are_accepted(camera: np.ndarray) -> None:
    from PIL import Image

    assert run(camera[:, :, 0]).shape == camera.shape
    assert run(Image.fromarray(camera)).shape == camera.shape


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"kind": "sharpen"}, "bad_kind"),
        ({"kind": "restore", "image": np.zeros((10, 10, 3), np.uint8)}, "bad_image"),
        ({"kind": "restore", "image": np.zeros((64, 64, 4), np.uint8)}, "bad_image"),
        ({"kind": "restore", "image": np.zeros((64, 64, 3), np.float32)}, "bad_image"),
        ({"kind": "restore", "max_size": (100, 8)}, "bad_size"),
    ],
)
def test_bad_requests_are_permanent_errors(kwargs: dict, code: str) -> None:
    kwargs = {"image": np.zeros((64, 64, 3), np.uint8), **kwargs}

    with pytest.raises(PermanentEngineError) as caught:
        EngineRequest(**kwargs)

    assert caught.value.code == code
    assert caught.value.message


def test_hints_are_cleaned_and_length_limited() -> None:
    request = EngineRequest(
        image=np.zeros((64, 64, 3), np.uint8), kind="colourize", hints="  blue <b>dress</b>\n\x00" + "x" * 500
    )

    assert request.hints is not None
    assert "<" not in request.hints and "\n" not in request.hints and "\x00" not in request.hints
    assert len(request.hints) <= 200


def test_unknown_engine_name_is_refused() -> None:
    with pytest.raises(PermanentEngineError):
        get_engine("magic")
