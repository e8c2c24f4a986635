"""Loading the Qwen-Image-Edit pipeline the worker runs, from settings in the environment.

Everything the GPU image can tune is a ``REKINDLE_*`` variable read by ``PipelineSettings``:
which weights (a local folder, never a download per cold start: the image sets
``HF_HUB_OFFLINE=1``), steps, true CFG scale, an optional LoRA (e.g. a few-step "Lightning"
LoRA), device and dtype (``cuda``/``bfloat16`` in production, ``cpu``/``float32`` in tests),
attention backend, VAE tiling, ``torch.compile`` and the working area. The tests load a tiny,
randomly initialised copy of the pipeline through ``load_pipeline`` exactly as production
loads the real one.

torch, diffusers and transformers are imported inside functions only: importing this module
costs nothing where they are not installed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_QWEN_MODEL = "Qwen/Qwen-Image-Edit-2511"
# Qwen-Image-Edit was trained around one megapixel: the output and the VAE's copy of each
# input are about this many pixels (the pipeline's own default).
MODEL_PIXELS = 1024 * 1024
# The vision-language encoder sees each input at about 384×384 (the pipeline's default).
CONDITION_PIXELS = 384 * 384
DTYPES = ("bfloat16", "float16", "float32")


class PipelineSettingsError(ValueError):
    """A REKINDLE_* variable has a value the worker cannot use."""


def _env_int(env: dict[str, str], name: str, default: int, *, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise PipelineSettingsError(f"{name} must be a whole number, not {raw!r}") from None
    if not low <= value <= high:
        raise PipelineSettingsError(f"{name} must be between {low} and {high}, not {value}")
    return value


def _env_float(env: dict[str, str], name: str, default: float, *, low: float, high: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise PipelineSettingsError(f"{name} must be a number, not {raw!r}") from None
    if not low <= value <= high:
        raise PipelineSettingsError(f"{name} must be between {low} and {high}, not {value}")
    return value


def _env_bool(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise PipelineSettingsError(f"{name} must be 1 or 0, not {raw!r}")


@dataclass(frozen=True)
class PipelineSettings:
    """The worker image's model settings (see processing/runpod_worker/README.md)."""

    model: str = DEFAULT_QWEN_MODEL
    steps: int = 40
    true_cfg_scale: float = 4.0
    lora_path: str = ""
    lora_weight_name: str = ""
    lora_scale: float = 1.0
    device: str = "cuda"
    dtype: str = "bfloat16"
    attention_backend: str = ""
    vae_tiling: bool = False
    compile: bool = False
    pixels: int = MODEL_PIXELS

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> PipelineSettings:
        env = dict(os.environ if env is None else env)
        dtype = env.get("REKINDLE_DTYPE", "").strip() or cls.dtype
        if dtype not in DTYPES:
            raise PipelineSettingsError(f"REKINDLE_DTYPE must be one of {', '.join(DTYPES)}, not {dtype!r}")
        return cls(
            model=env.get("REKINDLE_MODEL_PATH", "").strip() or DEFAULT_QWEN_MODEL,
            steps=_env_int(env, "REKINDLE_MODEL_STEPS", cls.steps, low=1, high=200),
            true_cfg_scale=_env_float(env, "REKINDLE_TRUE_CFG_SCALE", cls.true_cfg_scale, low=1.0, high=20.0),
            lora_path=env.get("REKINDLE_LORA_PATH", "").strip(),
            lora_weight_name=env.get("REKINDLE_LORA_WEIGHT_NAME", "").strip(),
            lora_scale=_env_float(env, "REKINDLE_LORA_SCALE", cls.lora_scale, low=0.0, high=4.0),
            device=env.get("REKINDLE_DEVICE", "").strip() or cls.device,
            dtype=dtype,
            attention_backend=env.get("REKINDLE_ATTENTION_BACKEND", "").strip(),
            vae_tiling=_env_bool(env, "REKINDLE_VAE_TILING", cls.vae_tiling),
            compile=_env_bool(env, "REKINDLE_TORCH_COMPILE", cls.compile),
            pixels=_env_int(env, "REKINDLE_MODEL_PIXELS", cls.pixels, low=32 * 32, high=4096 * 4096),
        )


def image_only_processor_class() -> type:
    """Qwen2VLProcessor without its video processor.

    The worker edits pictures only. The stock processor also loads a video processor, which
    needs torchvision (absent from the CPU test environment, and dead weight here), so the
    worker loads the processor's two real parts, the image processor and the tokenizer.
    """
    from transformers import Qwen2VLProcessor

    class ImageOnlyQwenProcessor(Qwen2VLProcessor):
        def __init__(
            self, image_processor: Any = None, tokenizer: Any = None, chat_template: Any = None, **kw: Any
        ):
            super().__init__(
                image_processor=image_processor, tokenizer=tokenizer, video_processor=None,
                chat_template=chat_template, **kw,
            )  # fmt: skip

    return ImageOnlyQwenProcessor


def set_working_area(pixels: int) -> None:
    """Make the pipeline work at about ``pixels`` instead of one megapixel.

    QwenImageEditPlusPipeline sizes the VAE's copy of every input from a module constant
    (1 MP) whatever output size it is asked for; below 1 MP both it and the condition size
    follow the working area, so a smaller output also costs less (tests use ~6,000 px).
    """
    import diffusers.pipelines.qwenimage.pipeline_qwenimage_edit_plus as edit_plus

    edit_plus.VAE_IMAGE_SIZE = pixels
    edit_plus.CONDITION_IMAGE_SIZE = min(CONDITION_PIXELS, pixels)


def load_pipeline(settings: PipelineSettings) -> Any:
    """The ready pipeline: weights from ``settings.model``, on its device and dtype, with the
    LoRA fused in when one is set and the speed settings applied."""
    import torch
    from diffusers import QwenImageEditPlusPipeline

    dtype = getattr(torch, settings.dtype)
    model = settings.model
    processor_dir = Path(model) / "processor"
    if not processor_dir.is_dir():
        raise PipelineSettingsError(
            f"REKINDLE_MODEL_PATH must be a folder with the diffusers weights; {model!r} has no processor/ "
            "(download the model into the image or the network volume first)"
        )
    processor = image_only_processor_class().from_pretrained(str(processor_dir))
    pipeline = QwenImageEditPlusPipeline.from_pretrained(model, dtype=dtype, processor=processor)
    if settings.lora_path:
        kwargs = {"weight_name": settings.lora_weight_name} if settings.lora_weight_name else {}
        pipeline.load_lora_weights(settings.lora_path, adapter_name="speed", **kwargs)
        # Fused: the LoRA costs nothing per step once merged into the weights.
        pipeline.fuse_lora(lora_scale=settings.lora_scale, components=["transformer"])
        pipeline.unload_lora_weights()
    pipeline.to(settings.device)
    if settings.attention_backend:
        pipeline.transformer.set_attention_backend(settings.attention_backend)
    if settings.vae_tiling:
        pipeline.vae.enable_tiling()
    if settings.compile:
        pipeline.transformer.compile(fullgraph=False, dynamic=True)
    if settings.pixels != MODEL_PIXELS:
        set_working_area(settings.pixels)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline
