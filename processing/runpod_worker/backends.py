"""Model backends for the RunPod worker, chosen by ``REKINDLE_MODEL_BACKEND``:

- ``qwen``: Qwen-Image-Edit-2509 through diffusers' QwenImageEditPlusPipeline, bfloat16 on
  CUDA, loaded once per worker from ``REKINDLE_MODEL_PATH`` (weights baked into the image or
  on a network volume; ``HF_HUB_OFFLINE=1`` in the image makes a missing copy an error instead
  of a 50 GB download per cold start). torch and diffusers are imported only here.
- ``local``: the classical OpenCV engine, so the same handler runs without a GPU (the local
  RunPod-compatible server and tests use it).

A backend takes the input photo already fitted to the size cap and returns a result of
exactly that size, aligned with it.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from processing.engines.base import EngineRequest, Kind
from processing.engines.codec import resize_to
from processing.runpod_worker.align import align_to_reference

DEFAULT_QWEN_MODEL = "Qwen/Qwen-Image-Edit-2509"
# The model was trained around one megapixel; sides must be multiples of 16 for its VAE.
MODEL_PIXELS = 1024 * 1024
MODEL_MULTIPLE = 16


@dataclass
class BackendOutput:
    """A backend's result: the image (same size as the input), billable GPU time, notes."""

    image: np.ndarray
    gpu_seconds: float
    model: str
    notes: list[str] = field(default_factory=list)


class Backend(Protocol):
    name: str
    model: str

    def run(
        self, image: np.ndarray, *, kind: Kind, instruction: str, seed: int, hints: str | None = None
    ) -> BackendOutput: ...


class LocalBackend:
    """The classical engine behind the worker's interface (no GPU, no weights)."""

    name = "local"

    def __init__(self) -> None:
        from processing.engines.local import MODEL, LocalEngine

        self.engine = LocalEngine()
        self.model = MODEL

    def run(
        self, image: np.ndarray, *, kind: Kind, instruction: str, seed: int, hints: str | None = None
    ) -> BackendOutput:
        height, width = image.shape[:2]
        # The image is already fitted to the cap, so a cap of its own size changes nothing.
        cap = (max(width, height), min(width, height))
        request = EngineRequest(image=image, kind=kind, max_size=cap, seed=seed, hints=hints)
        result = self.engine.run(request)
        return BackendOutput(image=result.image, gpu_seconds=0.0, model=self.model, notes=result.notes)


def model_size(width: int, height: int) -> tuple[int, int]:
    """About one megapixel with the photo's aspect ratio, sides multiples of 16."""
    scale = math.sqrt(MODEL_PIXELS / (width * height))
    return (
        max(MODEL_MULTIPLE, round(width * scale / MODEL_MULTIPLE) * MODEL_MULTIPLE),
        max(MODEL_MULTIPLE, round(height * scale / MODEL_MULTIPLE) * MODEL_MULTIPLE),
    )


class QwenBackend:
    """Qwen-Image-Edit-2509 on one CUDA GPU, loaded once when the worker starts."""

    name = "qwen"

    def __init__(self, model_path: str | None = None, steps: int | None = None) -> None:
        import torch
        from diffusers import QwenImageEditPlusPipeline

        self.torch = torch
        self.model = os.environ.get("REKINDLE_MODEL_PATH", "") or model_path or DEFAULT_QWEN_MODEL
        self.steps = steps or int(os.environ.get("REKINDLE_MODEL_STEPS", "40"))
        self.pipeline: Any = QwenImageEditPlusPipeline.from_pretrained(self.model, torch_dtype=torch.bfloat16)
        self.pipeline.to("cuda")
        self.pipeline.set_progress_bar_config(disable=True)

    def run(
        self, image: np.ndarray, *, kind: Kind, instruction: str, seed: int, hints: str | None = None
    ) -> BackendOutput:
        """``hints`` are already part of ``instruction`` for this backend."""
        from PIL import Image

        torch = self.torch
        height, width = image.shape[:2]
        model_input = Image.fromarray(resize_to(image, model_size(width, height)))
        generator = torch.Generator(device="cuda").manual_seed(seed)
        torch.cuda.synchronize()
        started = time.perf_counter()
        with torch.inference_mode():
            output = self.pipeline(
                image=[model_input],
                prompt=instruction,
                negative_prompt=" ",
                true_cfg_scale=4.0,
                guidance_scale=1.0,
                num_inference_steps=self.steps,
                num_images_per_prompt=1,
                generator=generator,
            ).images[0]
        torch.cuda.synchronize()
        gpu_seconds = time.perf_counter() - started
        generated = np.ascontiguousarray(np.asarray(output.convert("RGB")))
        # The model drifts (shifts/zooms a little): line the result up with the input so the
        # before/after slider matches. AlignmentFailed propagates to the handler.
        aligned = align_to_reference(generated, image)
        return BackendOutput(image=aligned, gpu_seconds=gpu_seconds, model=self.model)


def load_backend(name: str) -> Backend:
    """The backend called ``name`` ("qwen" or "local"), loaded and ready."""
    if name == "qwen":
        return QwenBackend()
    if name == "local":
        return LocalBackend()
    raise ValueError(f"REKINDLE_MODEL_BACKEND must be 'qwen' or 'local', not {name!r}")
