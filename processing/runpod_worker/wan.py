"""The worker's animation backend: Wan 2.2 image-to-video through diffusers'
``WanImageToVideoPipeline`` (``REKINDLE_MODEL_BACKEND=wan``).

Default weights: ``Wan-AI/Wan2.2-I2V-A14B-Diffusers`` — two 14B expert transformers, the first
for the high-noise steps and ``transformer_2`` for the low-noise ones, switched at the
pipeline's ``boundary_ratio`` (read from the model's own ``model_index.json``). The smaller
``Wan-AI/Wan2.2-TI2V-5B-Diffusers`` (one transformer, 16× VAE, fits a 24 GB GPU) is the same
class and is chosen the same way: point ``REKINDLE_MODEL_PATH`` at its folder. Weights are
loaded once per worker, from a local folder only (the image sets ``HF_HUB_OFFLINE=1``), by the
same code that loads the tiny pipeline the tests save (processing/runpod_worker/tiny_wan.py).

Settings (``REKINDLE_*``, shared names with the Qwen backend where they mean the same):
``MODEL_PATH``, ``MODEL_STEPS`` (default 40), ``GUIDANCE_SCALE`` (3.5) and
``GUIDANCE_SCALE_2`` (the low-noise expert's, default the same), ``LORA_PATH`` /
``LORA_WEIGHT_NAME`` / ``LORA_SCALE`` (a few-step distillation LoRA, loaded into both experts
and fused), ``DEVICE``, ``DTYPE``, ``VAE_TILING``, ``CPU_OFFLOAD`` (model CPU offload for a GPU
too small to hold both experts), ``VIDEO_FRAMES`` (81) and ``VIDEO_FPS`` (16) as defaults
when a job does not say.

A job's photo arrives fitted to its tier's cap (480p free, 720p paid). The model works at the
nearest sides that are multiples of its VAE scale × patch size (16 for A14B, 32 for TI2V-5B);
frames are then resized back to the photo's own size with even sides, so the server gets
exactly the size it expects. Frame counts for Wan are 4k+1: the model makes the next such
count and the extra frames are dropped. The MP4 is H.264 yuv420p with faststart and carries
the IPTC trained-algorithmic-media marker (processing.engines.video).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from processing.engines.base import Kind
from processing.engines.video import VIDEO_FPS, VIDEO_FRAMES, encode_mp4, even_size, video_length
from processing.runpod_worker.pipeline import DTYPES, PipelineSettingsError, _env_bool, _env_float, _env_int

DEFAULT_WAN_MODEL = "Wan-AI/Wan2.2-I2V-A14B-Diffusers"
# Wan's negative prompt habit, in plain English: what old-photo animations must avoid.
NEGATIVE_PROMPT = (
    "distorted faces, extra people, extra limbs, morphing, flicker, text, watermark, "
    "oversaturated colours, blurry, jerky motion"
)


@dataclass(frozen=True)
class WanSettings:
    """The worker image's video model settings (see the module docstring)."""

    model: str = DEFAULT_WAN_MODEL
    steps: int = 40
    guidance_scale: float = 3.5
    guidance_scale_2: float | None = None
    lora_path: str = ""
    lora_weight_name: str = ""
    lora_scale: float = 1.0
    device: str = "cuda"
    dtype: str = "bfloat16"
    vae_tiling: bool = False
    cpu_offload: bool = False
    frames: int = VIDEO_FRAMES
    fps: int = VIDEO_FPS

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> WanSettings:
        env = dict(os.environ if env is None else env)
        dtype = env.get("REKINDLE_DTYPE", "").strip() or cls.dtype
        if dtype not in DTYPES:
            raise PipelineSettingsError(f"REKINDLE_DTYPE must be one of {', '.join(DTYPES)}, not {dtype!r}")
        guidance = _env_float(env, "REKINDLE_GUIDANCE_SCALE", cls.guidance_scale, low=1.0, high=20.0)
        guidance_2 = (
            _env_float(env, "REKINDLE_GUIDANCE_SCALE_2", guidance, low=1.0, high=20.0)
            if env.get("REKINDLE_GUIDANCE_SCALE_2", "").strip()
            else None
        )
        return cls(
            model=env.get("REKINDLE_MODEL_PATH", "").strip() or DEFAULT_WAN_MODEL,
            steps=_env_int(env, "REKINDLE_MODEL_STEPS", cls.steps, low=1, high=200),
            guidance_scale=guidance,
            guidance_scale_2=guidance_2,
            lora_path=env.get("REKINDLE_LORA_PATH", "").strip(),
            lora_weight_name=env.get("REKINDLE_LORA_WEIGHT_NAME", "").strip(),
            lora_scale=_env_float(env, "REKINDLE_LORA_SCALE", cls.lora_scale, low=0.0, high=4.0),
            device=env.get("REKINDLE_DEVICE", "").strip() or cls.device,
            dtype=dtype,
            vae_tiling=_env_bool(env, "REKINDLE_VAE_TILING", cls.vae_tiling),
            cpu_offload=_env_bool(env, "REKINDLE_CPU_OFFLOAD", cls.cpu_offload),
            frames=_env_int(env, "REKINDLE_VIDEO_FRAMES", cls.frames, low=1, high=161),
            fps=_env_int(env, "REKINDLE_VIDEO_FPS", cls.fps, low=1, high=30),
        )


def load_wan_pipeline(settings: WanSettings) -> Any:
    """The ready pipeline from ``settings.model`` (a diffusers folder), on its device and dtype,
    with the LoRA fused into every expert when one is set."""
    import torch
    from diffusers import WanImageToVideoPipeline

    if not (Path(settings.model) / "model_index.json").is_file():
        raise PipelineSettingsError(
            f"REKINDLE_MODEL_PATH must be a folder with the diffusers weights; {settings.model!r} has no "
            "model_index.json (download the model into the image or the network volume first)"
        )
    pipeline = WanImageToVideoPipeline.from_pretrained(
        settings.model, torch_dtype=getattr(torch, settings.dtype)
    )
    if settings.lora_path:
        kwargs: dict[str, Any] = (
            {"weight_name": settings.lora_weight_name} if settings.lora_weight_name else {}
        )
        experts = ["transformer"]
        pipeline.load_lora_weights(settings.lora_path, adapter_name="speed", **kwargs)
        if getattr(pipeline, "transformer_2", None) is not None:
            # A14B: the same LoRA goes into the low-noise expert too.
            pipeline.load_lora_weights(
                settings.lora_path, adapter_name="speed_2", load_into_transformer_2=True, **kwargs
            )
            experts.append("transformer_2")
        pipeline.fuse_lora(lora_scale=settings.lora_scale, components=experts)
        pipeline.unload_lora_weights()
    if settings.cpu_offload:
        pipeline.enable_model_cpu_offload()
    else:
        pipeline.to(settings.device)
    if settings.vae_tiling:
        pipeline.vae.enable_tiling()
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def wan_frame_count(frames: int) -> int:
    """The smallest 4k+1 count at least ``frames`` (Wan's VAE packs 4 frames after the first)."""
    return ((max(1, frames) - 1 + 3) // 4) * 4 + 1


def working_size(width: int, height: int, multiple: int) -> tuple[int, int]:
    """The nearest sides to (width, height) that are multiples of ``multiple``."""
    return (
        max(multiple, round(width / multiple) * multiple),
        max(multiple, round(height / multiple) * multiple),
    )


class WanBackend:
    """Wan 2.2 image-to-video, loaded once when the worker starts."""

    name = "wan"
    kinds = frozenset(kind for kind in Kind if kind.makes_video)

    def __init__(self, settings: WanSettings | None = None) -> None:
        import torch

        self.torch = torch
        self.settings = settings or WanSettings.from_env()
        self.model = Path(self.settings.model).name or self.settings.model
        self.steps = self.settings.steps
        self.pipeline: Any = load_wan_pipeline(self.settings)
        patch = self.pipeline.transformer.config.patch_size
        self.multiple = int(self.pipeline.vae_scale_factor_spatial) * int(patch[1])

    def _synchronize(self) -> None:
        if self.settings.device.startswith("cuda"):
            self.torch.cuda.synchronize()

    def generate(
        self,
        image: np.ndarray,
        *,
        instruction: str,
        seed: int,
        frames: int,
        progress: Any = None,
    ) -> tuple[np.ndarray, float]:
        """``frames`` RGB uint8 frames (F x H x W x 3) at the model's working size for ``image``,
        and the seconds the model took. ``progress(step, steps)`` after each denoising step."""
        from PIL import Image

        torch = self.torch
        height, width = image.shape[:2]
        work_w, work_h = working_size(width, height, self.multiple)
        picture = Image.fromarray(cv2.resize(image, (work_w, work_h), interpolation=cv2.INTER_AREA))
        generator = torch.Generator(device="cpu").manual_seed(seed)
        steps = self.steps

        def on_step_end(pipeline: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            if progress is not None:
                progress(step + 1, steps)
            return tensors

        extra = {}
        if self.settings.guidance_scale_2 is not None:
            extra["guidance_scale_2"] = self.settings.guidance_scale_2
        self._synchronize()
        started = time.perf_counter()
        with torch.inference_mode():
            output = self.pipeline(
                image=picture,
                prompt=instruction,
                negative_prompt=NEGATIVE_PROMPT,
                height=work_h,
                width=work_w,
                num_frames=wan_frame_count(frames),
                num_inference_steps=steps,
                guidance_scale=self.settings.guidance_scale,
                generator=generator,
                output_type="np",
                callback_on_step_end=on_step_end,
                **extra,
            ).frames[0]
        self._synchronize()
        seconds = time.perf_counter() - started
        video = (np.clip(np.asarray(output, dtype=np.float32), 0.0, 1.0) * 255.0).round().astype(np.uint8)
        return video[:frames], seconds

    def run(
        self,
        image: np.ndarray,
        *,
        kind: Kind,
        instruction: str,
        seed: int,
        hints: str | None = None,
        progress: Any = None,
        extra_images: list[np.ndarray] | None = None,
        options: dict[str, str] | None = None,
    ) -> Any:
        """The video of ``image`` (already fitted to the cap) as MP4, and its first frame as the
        poster, both at the photo's size with even sides."""
        from processing.runpod_worker.backends import BackendOutput

        if kind not in self.kinds:
            raise ValueError(f"the wan backend makes videos only, not {kind.value}")
        defaults = {"frames": str(self.settings.frames), "fps": str(self.settings.fps)}
        frames, fps = video_length({**defaults, **(options or {})})
        generated, gpu_seconds = self.generate(
            image, instruction=instruction, seed=seed, frames=frames, progress=progress
        )
        width, height = even_size(image.shape[1], image.shape[0])
        sized = [
            frame
            if frame.shape[:2] == (height, width)
            else cv2.resize(frame, (width, height), interpolation=cv2.INTER_LANCZOS4)
            for frame in generated
        ]
        video = encode_mp4(sized, fps=fps, ai_made=True)
        return BackendOutput(image=sized[0], gpu_seconds=gpu_seconds, model=self.model, video=video)

    def warm_up(self) -> float:
        """One short call (one step, five frames, small), so the first paid job does not pay for
        CUDA initialisation; returns its seconds."""
        side = self.multiple * 8
        grey = np.full((side, side, 3), 128, np.uint8)
        started = time.perf_counter()
        steps, self.steps = self.steps, 1
        try:
            self.generate(grey, instruction="A still photo.", seed=0, frames=5)
        finally:
            self.steps = steps
        return time.perf_counter() - started
