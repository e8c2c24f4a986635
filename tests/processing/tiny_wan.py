"""Fixtures for the tiny Wan 2.2 image-to-video pipeline (processing/runpod_worker/tiny_wan.py):
built once per session into a temporary folder and loaded by the worker's own loading code."""

from __future__ import annotations

from pathlib import Path

import pytest

from processing.runpod_worker.tiny_wan import save_lora, save_pipeline

# tests/conftest.py imports the fixtures, so every test module can use them.

TEST_STEPS = 2
TEST_FRAMES = 5


def wan_env(model: Path, **more: str) -> dict[str, str]:
    """The worker's settings for the tiny video model on CPU."""
    return {
        "REKINDLE_MODEL_PATH": str(model),
        "REKINDLE_DEVICE": "cpu",
        "REKINDLE_DTYPE": "float32",
        "REKINDLE_MODEL_STEPS": str(TEST_STEPS),
        "REKINDLE_VIDEO_FRAMES": str(TEST_FRAMES),
        **more,
    }


@pytest.fixture(scope="session")
def tiny_wan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the tiny Wan 2.2 A14B-layout pipeline, built once."""
    return save_pipeline(tmp_path_factory.mktemp("tiny-wan") / "model")


@pytest.fixture(scope="session")
def wan_backend(tiny_wan: Path):
    """The worker's wan backend, loaded by its own code from the tiny model's folder."""
    from processing.runpod_worker.wan import WanBackend, WanSettings

    return WanBackend(WanSettings.from_env(wan_env(tiny_wan)))


@pytest.fixture(scope="session")
def tiny_wan_lora(tiny_wan: Path) -> Path:
    """A LoRA for the tiny Wan transformer, made with peft."""
    return save_lora(tiny_wan.parent / "lora", tiny_wan)
