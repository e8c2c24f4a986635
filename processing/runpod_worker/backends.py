"""Model backends for the RunPod worker, chosen by ``REKINDLE_MODEL_BACKEND``:

- ``qwen``: Qwen-Image-Edit-2511 through diffusers' QwenImageEditPlusPipeline, bfloat16 on
  CUDA, loaded once per worker from ``REKINDLE_MODEL_PATH`` with the settings of pipeline.py
  (weights baked into the image or on a network volume; ``HF_HUB_OFFLINE=1`` in the image
  makes a missing copy an error instead of a 50 GB download per cold start). torch and
  diffusers are imported only when it loads.
- ``wan``: Wan 2.2 image-to-video for animation (processing/runpod_worker/wan.py).
- ``local``: the classical OpenCV engine, so the same handler runs without a GPU (the local
  RunPod-compatible server and tests use it).

A backend takes the input photo already fitted to the size cap and returns a result of
exactly that size, aligned with it; or, given ``out_size`` (bring together: a new picture of
the people in all the inputs), a result of exactly ``out_size``, aligned with nothing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from processing.engines.base import EngineRequest, Kind
from processing.engines.codec import resize_to
from processing.runpod_worker.align import align_to_reference
from processing.runpod_worker.pipeline import MODEL_PIXELS, PipelineSettings, load_pipeline

# Sides must be multiples of 16 for the model's VAE (8× scale, 2×2 patches).
MODEL_MULTIPLE = 16
# Called after each denoising step with (step, steps), step counting from 1.
Progress = Callable[[int, int], None]


@dataclass
class BackendOutput:
    """A backend's result: the image (same size as the input), billable GPU time, notes; for a
    video kind, ``video`` (MP4 bytes) with ``image`` its first frame (the poster)."""

    image: np.ndarray
    gpu_seconds: float
    model: str
    notes: list[str] = field(default_factory=list)
    video: bytes | None = None


class Backend(Protocol):
    name: str
    model: str
    # The kinds this backend does; the handler refuses the others (a Qwen worker asked for a
    # video, a Wan worker asked to restore: the server sent it to the wrong endpoint).
    kinds: frozenset[Kind]

    def run(
        self,
        image: np.ndarray,
        *,
        kind: Kind,
        instruction: str,
        seed: int,
        hints: str | None = None,
        progress: Progress | None = None,
        extra_images: list[np.ndarray] | None = None,
        out_size: tuple[int, int] | None = None,
        options: dict[str, str] | None = None,
    ) -> BackendOutput: ...


class LocalBackend:
    """The classical engine behind the worker's interface (no GPU, no weights)."""

    name = "local"
    kinds = frozenset(Kind)

    def __init__(self) -> None:
        from processing.engines.local import MODEL, LocalEngine

        self.engine = LocalEngine()
        self.model = MODEL

    def run(
        self,
        image: np.ndarray,
        *,
        kind: Kind,
        instruction: str,
        seed: int,
        hints: str | None = None,
        progress: Progress | None = None,
        extra_images: list[np.ndarray] | None = None,
        out_size: tuple[int, int] | None = None,
        options: dict[str, str] | None = None,
    ) -> BackendOutput:
        """One pass of the classical engine: no steps to report. Extra images are unused except
        for bring together, whose stand-in places all the pictures side by side on ``out_size``."""
        if out_size is not None:
            from processing.engines import together

            pictures = [image, *(extra_images or [])]
            colour = (options or {}).get("colour") != "black_and_white"
            composed = together.composite(pictures, out_size, colour=colour)
            notes = [together.NOTE_STAND_IN]
            return BackendOutput(image=composed, gpu_seconds=0.0, model=self.model, notes=notes)
        height, width = image.shape[:2]
        # The image is already fitted to the cap, so a cap of its own size changes nothing.
        cap = (max(width, height), min(width, height))
        request = EngineRequest(
            image=image, kind=kind, max_size=cap, seed=seed, hints=hints, options=options or {}
        )
        result = self.engine.run(request)
        return BackendOutput(
            image=result.image, gpu_seconds=0.0, model=self.model, notes=result.notes, video=result.video
        )


def model_size(width: int, height: int, pixels: int = MODEL_PIXELS) -> tuple[int, int]:
    """About ``pixels`` (one megapixel by default) with the photo's aspect ratio, sides
    multiples of 16."""
    scale = math.sqrt(pixels / (width * height))
    return (
        max(MODEL_MULTIPLE, round(width * scale / MODEL_MULTIPLE) * MODEL_MULTIPLE),
        max(MODEL_MULTIPLE, round(height * scale / MODEL_MULTIPLE) * MODEL_MULTIPLE),
    )


class QwenBackend:
    """Qwen-Image-Edit (2511 by default) through diffusers, loaded once when the worker starts,
    with the settings of processing/runpod_worker/pipeline.py (``REKINDLE_*``)."""

    name = "qwen"
    kinds = frozenset(kind for kind in Kind if not kind.makes_video)

    def __init__(self, settings: PipelineSettings | None = None) -> None:
        import torch

        self.torch = torch
        self.settings = settings or PipelineSettings.from_env()
        self.model = self.settings.model
        self.steps = self.settings.steps
        self.pipeline: Any = load_pipeline(self.settings)

    def _synchronize(self) -> None:
        if self.settings.device.startswith("cuda"):
            self.torch.cuda.synchronize()

    def generate(
        self,
        images: list[np.ndarray],
        *,
        instruction: str,
        seed: int,
        progress: Progress | None = None,
        shape: tuple[int, int] | None = None,
    ) -> tuple[np.ndarray, float]:
        """The model's raw output for ``images`` (the first is the one being edited; later ones
        are extra references, or all are pictures of people to bring together) at the working
        size for the first one's aspect ratio, or for ``shape`` (width, height) when given, and
        the seconds the model took. ``progress(step, steps)`` is called after each step."""
        from PIL import Image

        torch = self.torch
        height, width = images[0].shape[:2]
        if shape is not None:
            width, height = shape
        out_width, out_height = model_size(width, height, self.settings.pixels)
        inputs = [
            Image.fromarray(
                resize_to(image, model_size(image.shape[1], image.shape[0], self.settings.pixels))
            )
            for image in images
        ]
        generator = torch.Generator(device=self.settings.device).manual_seed(seed)
        steps = self.steps

        def on_step_end(pipeline: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            if progress is not None:
                progress(step + 1, steps)
            return tensors

        self._synchronize()
        started = time.perf_counter()
        with torch.inference_mode():
            output = self.pipeline(
                image=inputs,
                prompt=instruction,
                negative_prompt=" ",
                true_cfg_scale=self.settings.true_cfg_scale,
                guidance_scale=1.0,
                num_inference_steps=steps,
                num_images_per_prompt=1,
                height=out_height,
                width=out_width,
                generator=generator,
                callback_on_step_end=on_step_end,
            ).images[0]
        self._synchronize()
        seconds = time.perf_counter() - started
        return np.ascontiguousarray(np.asarray(output.convert("RGB"))), seconds

    def run(
        self,
        image: np.ndarray,
        *,
        kind: Kind,
        instruction: str,
        seed: int,
        hints: str | None = None,
        progress: Progress | None = None,
        extra_images: list[np.ndarray] | None = None,
        out_size: tuple[int, int] | None = None,
        options: dict[str, str] | None = None,
    ) -> BackendOutput:
        """``hints`` and ``options`` are already part of ``instruction`` for this backend."""
        pictures = [image, *(extra_images or [])]
        if out_size is not None:
            # A new composition: generated in the shape of ``out_size`` (about one megapixel),
            # resized to it, lined up with nothing.
            generated, gpu_seconds = self.generate(
                pictures, instruction=instruction, seed=seed, progress=progress, shape=out_size
            )
            image = resize_to(generated, out_size)
            return BackendOutput(image=image, gpu_seconds=gpu_seconds, model=self.model)
        generated, gpu_seconds = self.generate(
            pictures, instruction=instruction, seed=seed, progress=progress
        )
        # The model drifts (shifts/zooms a little): line the result up with the input so the
        # before/after slider matches. AlignmentFailed propagates to the handler.
        aligned = align_to_reference(generated, image)
        return BackendOutput(image=aligned, gpu_seconds=gpu_seconds, model=self.model)

    def warm_up(self) -> float:
        """One short call at the working size, so the first paid job does not pay for CUDA
        initialisation (or torch.compile); returns its seconds."""
        side = int(math.sqrt(self.settings.pixels))
        grey = np.full((side, side, 3), 128, np.uint8)
        started = time.perf_counter()
        steps, self.steps = self.steps, 1
        try:
            self.generate([grey], instruction="Restore the old photo.", seed=0)
        finally:
            self.steps = steps
        return time.perf_counter() - started


def load_backend(name: str, *, settings: PipelineSettings | None = None) -> Backend:
    """The backend called ``name`` ("qwen", "wan" or "local"), loaded and ready; the qwen one
    with ``settings`` (default: from the environment); the wan one reads its own settings
    (processing/runpod_worker/wan.py)."""
    if name == "qwen":
        return QwenBackend(settings)
    if name == "wan":
        from processing.runpod_worker.wan import WanBackend

        return WanBackend()
    if name == "local":
        return LocalBackend()
    raise ValueError(f"REKINDLE_MODEL_BACKEND must be 'qwen', 'wan' or 'local', not {name!r}")
