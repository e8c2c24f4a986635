"""A tiny, randomly initialised Wan 2.2 image-to-video pipeline built in code (no downloads),
saved in the layout of ``Wan-AI/Wan2.2-I2V-A14B-Diffusers``: for the tests and the bench, never
for photos.

Same classes as the real model (WanImageToVideoPipeline with a UMT5 text encoder, two
WanTransformer3DModel experts switched at ``boundary_ratio``, AutoencoderKLWan,
UniPCMultistepScheduler with flow sigmas), a few thousand parameters each, so the worker's real
loading and calling code (processing/runpod_worker/wan.py) runs on CPU in seconds. Facts it
relies on: the VAE needs three ``temperal_downsample`` entries (8x spatial, 4x temporal); the
transformer's ``in_channels`` is twice the VAE's z_dim plus 4 (the noise, the image latents
and the first-frame mask); A14B has no image encoder.
"""

from __future__ import annotations

from pathlib import Path

from processing.runpod_worker.tiny import save_random_lora

CORPUS = [
    "A short, natural video made from this old photo. Keep the people, faces, clothes, background, "
    "colours and style exactly as they are; no new people or objects, no text.",
    "The people come gently to life: they breathe, blink and move very slightly. The camera stays still.",
    "distorted faces, extra people, extra limbs, morphing, flicker, text, watermark, blurry, jerky motion",
    "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 .,;:!?'\"()[]{}-_/\\",
]
TEXT_DIM = 32
Z_DIM = 16
BOUNDARY_RATIO = 0.875


def build_tokenizer():
    """A UMT5-style Unigram tokenizer from an in-code vocabulary: specials, '▁', every character
    of the corpus (so nothing is unknown) and its words."""
    from transformers import T5Tokenizer

    chars = sorted(set("".join(CORPUS)) - {" ", "\n"})
    words = sorted({w.strip(".,:;()'\"") for line in CORPUS for w in line.split()} - {""})
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    vocab += [(c, -8.0) for c in chars] + [("\u2581" + w, -3.0) for w in words]
    return T5Tokenizer(vocab=vocab, extra_ids=0)


def build_pipeline():
    import torch
    from diffusers import (
        AutoencoderKLWan,
        UniPCMultistepScheduler,
        WanImageToVideoPipeline,
        WanTransformer3DModel,
    )
    from transformers import UMT5Config, UMT5EncoderModel

    tokenizer = build_tokenizer()
    torch.manual_seed(0)
    text_encoder = UMT5EncoderModel(
        UMT5Config(
            vocab_size=len(tokenizer),
            d_model=TEXT_DIM,
            d_kv=8,
            d_ff=32,
            num_layers=2,
            num_heads=4,
            relative_attention_num_buckets=8,
            pad_token_id=0,
            eos_token_id=1,
            decoder_start_token_id=0,
        )
    ).eval()
    vae = AutoencoderKLWan(
        base_dim=3,
        z_dim=Z_DIM,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
    )

    def expert():
        return WanTransformer3DModel(
            patch_size=(1, 2, 2),
            num_attention_heads=2,
            attention_head_dim=12,
            in_channels=2 * Z_DIM + 4,
            out_channels=Z_DIM,
            text_dim=TEXT_DIM,
            freq_dim=256,
            ffn_dim=32,
            num_layers=2,
            cross_attn_norm=True,
            qk_norm="rms_norm_across_heads",
            rope_max_seq_len=1024,
        )

    scheduler = UniPCMultistepScheduler(
        prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0
    )
    return WanImageToVideoPipeline(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        vae=vae,
        scheduler=scheduler,
        transformer=expert(),
        transformer_2=expert(),
        image_encoder=None,
        image_processor=None,
        boundary_ratio=BOUNDARY_RATIO,
    )


def save_pipeline(folder: Path) -> Path:
    """Save the tiny pipeline as the real A14B model is laid out (model_index.json and one
    folder per component)."""
    build_pipeline().save_pretrained(folder)
    return folder


def save_lora(folder: Path, model_dir: Path, *, rank: int = 4) -> Path:
    """A LoRA on the tiny transformer's attention projections, made with peft and saved the way
    Wan LoRAs are published (``pytorch_lora_weights.safetensors``); its B matrices are random
    (peft starts them at zero), so loading it changes the output."""
    from diffusers import WanImageToVideoPipeline, WanTransformer3DModel

    transformer = WanTransformer3DModel.from_pretrained(model_dir, subfolder="transformer")
    return save_random_lora(transformer, WanImageToVideoPipeline, folder, rank=rank)
