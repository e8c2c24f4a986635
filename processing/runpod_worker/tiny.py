"""A tiny, randomly initialised Qwen-Image-Edit pipeline built in code (no downloads), saved in
the layout of the real model, and a tiny LoRA for it made with peft: for the tests and the
bench (``python -m processing.runpod_worker.bench``), never for photos.

Same classes as Qwen/Qwen-Image-Edit-2511 (QwenImageEditPlusPipeline with a
Qwen2.5-VL text encoder, QwenImageTransformer2DModel, AutoencoderKLQwenImage,
FlowMatchEulerDiscreteScheduler), a few thousand parameters each, so the worker's real loading
and calling code runs on CPU in seconds. Facts it relies on: the VL config's special-token ids
must be the tokenizer's; ``mrope_section`` sums to half the head dimension; the VAE needs three
``temperal_downsample`` entries for its 8× scale.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CORPUS = [
    "Describe the key features of the input image (color, shape, size, texture, objects, background), then "
    "explain how the user's text instruction should alter or modify the image. Generate a new image "
    "that meets the user's requirements while keeping consistent with the original input where appropriate.",
    "system user assistant Picture 1: 2: Restore and colorize the photo. Restore the old photo.",
    "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 .,;:!?'\"()[]{}-_/\\ \n",
]
SPECIAL_TOKENS = [
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
TEXT_HIDDEN = 16


def build_tokenizer():
    """A byte-level BPE trained on a few sentences, wrapped as Qwen2Tokenizer with Qwen's specials."""
    from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(CORPUS, trainer)
    state = json.loads(bpe.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in state["merges"]]
    tokenizer = Qwen2Tokenizer(vocab=state["vocab"], merges=merges)  # eos = pad = unk = <|endoftext|>
    tokenizer.add_special_tokens(
        {"additional_special_tokens": [AddedToken(t, special=True) for t in SPECIAL_TOKENS]}
    )
    return tokenizer


def build_pipeline():
    import torch
    from diffusers import (
        AutoencoderKLQwenImage,
        FlowMatchEulerDiscreteScheduler,
        QwenImageEditPlusPipeline,
        QwenImageTransformer2DModel,
    )
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2VLImageProcessor

    from processing.runpod_worker.pipeline import image_only_processor_class

    tokenizer = build_tokenizer()
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in [*SPECIAL_TOKENS, "<|endoftext|>"]}
    torch.manual_seed(0)
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": TEXT_HIDDEN,
            "intermediate_size": 16,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "max_position_embeddings": 4096,
            "bos_token_id": None,
            "eos_token_id": ids["<|endoftext|>"],
            "pad_token_id": ids["<|endoftext|>"],
            "rope_theta": 1000000.0,
            # head dim 8: the three mrope sections sum to half of it
            "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
        },
        vision_config={
            "depth": 2,
            "hidden_size": 16,
            "intermediate_size": 16,
            "num_heads": 2,
            "out_hidden_size": TEXT_HIDDEN,
            "fullatt_block_indexes": [1],
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    text_encoder = Qwen2_5_VLForConditionalGeneration(config).eval()
    processor = image_only_processor_class()(image_processor=Qwen2VLImageProcessor(), tokenizer=tokenizer)
    transformer = QwenImageTransformer2DModel(
        patch_size=2,
        in_channels=16,
        out_channels=4,
        num_layers=2,
        attention_head_dim=16,
        num_attention_heads=3,
        joint_attention_dim=TEXT_HIDDEN,
        guidance_embeds=False,
        axes_dims_rope=(8, 4, 4),
    )
    vae = AutoencoderKLQwenImage(
        base_dim=8,
        z_dim=4,
        dim_mult=[1, 2, 4, 4],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
        latents_mean=[0.0] * 4,
        latents_std=[1.0] * 4,
    )
    return QwenImageEditPlusPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        processor=processor,
        transformer=transformer,
    )


def save_pipeline(folder: Path) -> Path:
    """Save the tiny pipeline as the real model is laid out (``processor/`` included)."""
    pipeline = build_pipeline()
    processor = pipeline.processor
    # diffusers would record our subclass as the processor's class; the real model names the
    # stock Qwen2VLProcessor, which is what model_index.json says here too.
    pipeline.register_modules(processor=None)
    pipeline.save_pretrained(folder)
    processor.save_pretrained(folder / "processor")
    index_path = folder / "model_index.json"
    index = json.loads(index_path.read_text())
    index["processor"] = ["transformers", "Qwen2VLProcessor"]
    index_path.write_text(json.dumps(index, indent=2))
    return folder


def save_lora(folder: Path, *, rank: int = 4) -> Path:
    """A LoRA on the tiny transformer's attention projections, made with peft and saved the way
    LoRAs for the real model are published (``pytorch_lora_weights.safetensors``). Its B
    matrices are random (peft starts them at zero), so loading it changes the output."""
    from diffusers import QwenImageEditPlusPipeline, QwenImageTransformer2DModel

    transformer = QwenImageTransformer2DModel.from_pretrained(
        folder.parent / "model", subfolder="transformer"
    )
    return save_random_lora(transformer, QwenImageEditPlusPipeline, folder, rank=rank)


def save_random_lora(transformer: Any, pipeline_class: Any, folder: Path, *, rank: int = 4) -> Path:
    """Put a peft LoRA with random B matrices on ``transformer``'s attention projections and
    save it in ``folder`` through ``pipeline_class.save_lora_weights`` (the published layout)."""
    import torch
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    transformer.add_adapter(
        LoraConfig(r=rank, lora_alpha=rank, target_modules=["to_q", "to_k", "to_v", "to_out.0"])
    )
    torch.manual_seed(1)
    with torch.no_grad():
        for name, parameter in transformer.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0.0, 0.5)
    pipeline_class.save_lora_weights(
        folder, transformer_lora_layers=get_peft_model_state_dict(transformer), safe_serialization=True
    )
    return folder
