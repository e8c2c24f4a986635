"""Fixtures for the tiny Qwen-Image-Edit pipeline (processing/runpod_worker/tiny.py): built
once per session into a temporary folder and loaded by the worker's own loading code."""

from __future__ import annotations

from pathlib import Path

import pytest

from processing.runpod_worker.tiny import save_lora, save_pipeline

# tests/conftest.py imports the fixtures, so every test module can use them.

# Small outputs keep a tiny-model call around a second on two shared cores: 96×64 for a 3:2
# photo, and the pipeline's VAE and condition copies shrink with it.
TEST_PIXELS = 96 * 64
TEST_STEPS = 4


def worker_env(model: Path, **more: str) -> dict[str, str]:
    """The worker's settings for the tiny model on CPU."""
    return {
        "REKINDLE_MODEL_PATH": str(model),
        "REKINDLE_DEVICE": "cpu",
        "REKINDLE_DTYPE": "float32",
        "REKINDLE_MODEL_PIXELS": str(TEST_PIXELS),
        "REKINDLE_MODEL_STEPS": str(TEST_STEPS),
        **more,
    }


@pytest.fixture(scope="session")
def tiny_qwen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with ``model/`` (the tiny pipeline) and ``lora/`` (a LoRA for it), built once."""
    root = tmp_path_factory.mktemp("tiny-qwen")
    save_pipeline(root / "model")
    save_lora(root / "lora")
    return root


@pytest.fixture(scope="session")
def qwen_backend(tiny_qwen: Path):
    """The worker's qwen backend, loaded by its own code from the tiny model's folder."""
    from processing.runpod_worker.backends import load_backend
    from processing.runpod_worker.pipeline import PipelineSettings

    return load_backend("qwen", settings=PipelineSettings.from_env(worker_env(tiny_qwen / "model")))
