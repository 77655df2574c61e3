"""A tiny random-weight Qwen-Image-Layered checkpoint, written in the diffusers layout.

Every component is the real class at a toy size, so the checkpoint loads through exactly the path a
user's ``Qwen/Qwen-Image-Layered`` folder takes. Nothing is downloaded: the tokenizer is a byte-level
BPE built from the 256-symbol byte alphabet plus Qwen's special tokens.

Three deliberate deviations from the real checkpoint keep it fast on a CPU:

- the VAE has five down-sampling levels instead of three, so one latent pixel covers 32 image pixels
  and the 640 px bucket becomes 10x10 tokens per frame (the pipeline derives its scale factor from the
  VAE config, so nothing else changes);
- the caption processor caps images at 112x112 pixels;
- its generation config caps captions at 24 new tokens (the real model stops at its end token).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: Qwen's special tokens the pipeline and the processor rely on; the order fixes their ids.
SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
TEXT_HIDDEN = 32


def build_tokenizer() -> Any:
    """A byte-level BPE ``Qwen2Tokenizer`` with no merges: one token per UTF-8 byte."""
    from tokenizers import AddedToken, pre_tokenizers
    from transformers import Qwen2Tokenizer

    vocab = {symbol: index for index, symbol in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[])
    tokenizer.add_special_tokens(
        {"additional_special_tokens": [AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS]}
    )
    return tokenizer


def build_image_processor() -> Any:
    """The caption stage's ``Qwen2VLImageProcessor``, with a small pixel budget."""
    # The PIL backend: the default one needs torchvision, which strata does not depend on.
    from transformers import Qwen2VLImageProcessorPil

    return Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=112 * 112)


def build_text_encoder(
    tokenizer: Any, hidden_size: int = TEXT_HIDDEN, heads: int = 2, kv_heads: int = 1, layers: int = 2
) -> Any:
    """A small Qwen2.5-VL with a one-block vision tower, token ids matched to ``tokenizer``.

    ``hidden_size`` is the width of the prompt embeddings; the GPU benchmark uses the real 3584 with a
    single layer so that the full-size transformer gets embeddings of the right shape.
    """
    import torch
    from transformers import GenerationConfig, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}
    half_head = hidden_size // heads // 2
    config = Qwen2_5_VLConfig(
        text_config={
            "hidden_size": hidden_size,
            "intermediate_size": 2 * hidden_size,
            "num_hidden_layers": layers,
            "num_attention_heads": heads,
            "num_key_value_heads": kv_heads,
            "vocab_size": len(tokenizer),
            "max_position_embeddings": 4096,
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 1e6,
                # Qwen2.5-VL splits each head's rotary half into (time, height, width) = 1/4, 3/8, 3/8.
                "mrope_section": [half_head // 4, 3 * half_head // 8, 3 * half_head // 8],
            },
        },
        vision_config={
            "depth": 1,
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_heads": 2,
            "out_hidden_size": hidden_size,
            "fullatt_block_indexes": [0],
            "window_size": 112,
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(0)
    model = Qwen2_5_VLForConditionalGeneration(config).eval()
    # Short captions keep the caption stage fast; the pipeline asks for up to 512 new tokens.
    model.generation_config = GenerationConfig(
        eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"], do_sample=False, max_new_tokens=24
    )
    return model


def build_transformer() -> Any:
    """A two-block ``QwenImageTransformer2DModel`` with the layered model's switches turned on."""
    import torch
    from diffusers import QwenImageTransformer2DModel

    torch.manual_seed(1)
    return QwenImageTransformer2DModel(
        patch_size=2,
        in_channels=32,
        out_channels=8,
        num_layers=2,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=TEXT_HIDDEN,
        axes_dims_rope=(4, 6, 6),
        use_additional_t_cond=True,
        use_layer3d_rope=True,
    )


def build_vae() -> Any:
    """A 4-channel (RGBA) ``AutoencoderKLQwenImage`` with a 32x spatial factor and 8 latent channels.

    Not 4 latent channels: the pipeline treats a 4-channel input as already-encoded latents when the
    latent width equals the image's channel count.
    """
    import torch
    from diffusers import AutoencoderKLQwenImage

    torch.manual_seed(2)
    return AutoencoderKLQwenImage(
        base_dim=4,
        z_dim=8,
        dim_mult=[1, 1, 1, 1, 1, 1],
        num_res_blocks=0,
        temperal_downsample=[False] * 5,
        input_channels=4,
        latents_mean=[0.0] * 8,
        latents_std=[1.0] * 8,
    )


def build_scheduler() -> Any:
    """The scheduler config of the released checkpoint (dynamic linear shift)."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(
        num_train_timesteps=1000,
        shift=1.0,
        use_dynamic_shifting=True,
        base_shift=0.5,
        max_shift=0.9,
        base_image_seq_len=256,
        max_image_seq_len=8192,
        time_shift_type="linear",
    )


def build_pipeline() -> Any:
    """The tiny ``QwenImageLayeredPipeline`` in memory (no caption processor), progress bar off."""
    from diffusers import QwenImageLayeredPipeline

    tokenizer = build_tokenizer()
    pipe = QwenImageLayeredPipeline(
        scheduler=build_scheduler(),
        vae=build_vae(),
        text_encoder=build_text_encoder(tokenizer),
        tokenizer=tokenizer,
        processor=None,
        transformer=build_transformer(),
    )
    pipe.set_progress_bar_config(disable=True)  # type: ignore[attr-defined]
    return pipe


def write_tiny_checkpoint(directory: str | Path) -> Path:
    """Build the tiny pipeline and save it to ``directory`` in the diffusers layout; return the path.

    The ``processor/`` folder holds what a ``Qwen2VLProcessor`` saves (image processor plus
    tokenizer) and ``model_index.json`` names that class, as in the released checkpoint. It is
    written by hand because constructing a ``Qwen2VLProcessor`` needs torchvision for its video half,
    which strata does not use (see ``captions.py``).
    """
    from diffusers.utils import logging as diffusers_logging

    directory = Path(directory)
    pipe = build_pipeline()
    verbosity = diffusers_logging.get_verbosity()
    diffusers_logging.set_verbosity_error()  # it warns that the absent processor "cannot be saved"
    try:
        pipe.save_pretrained(directory, safe_serialization=True)  # type: ignore[attr-defined]
    finally:
        diffusers_logging.set_verbosity(verbosity)
    build_image_processor().save_pretrained(directory / "processor")
    pipe.tokenizer.save_pretrained(directory / "processor")
    index_path = directory / "model_index.json"
    index = json.loads(index_path.read_text())
    index["processor"] = ["transformers", "Qwen2VLProcessor"]
    index_path.write_text(json.dumps(index, indent=2) + "\n")
    return directory
