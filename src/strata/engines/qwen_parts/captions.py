"""The auto-caption stage: Qwen2.5-VL describes the image when the request has no prompt.

It runs outside the pipeline so that its result can be cached (by image content and language) and
reused by later requests and by every result of a multi-result request. The inputs are built from the
checkpoint's image processor and tokenizer, which is what ``Qwen2VLProcessor`` does for one image,
without its video half (and so without torchvision). The instruction text is the pipeline's own.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from pathlib import Path
from typing import Any

from PIL import Image

IMAGE_TOKEN = "<|image_pad|>"
MAX_NEW_TOKENS = 512


class CaptionCache:
    """A bounded LRU map from (image digest, language) to caption; counts hits for reporting."""

    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[tuple[str, str], str] = OrderedDict()

    def get(self, key: tuple[str, str]) -> str | None:
        caption = self._entries.get(key)
        if caption is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(key)
        return caption

    def put(self, key: tuple[str, str], caption: str) -> None:
        self._entries[key] = caption
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)


def image_key(image: Image.Image, language: str) -> tuple[str, str]:
    """Cache key: a digest of the pixels, size and mode, plus the caption language."""
    digest = hashlib.sha256(f"{image.mode}{image.size}".encode())
    digest.update(image.tobytes())
    return digest.hexdigest(), language


def load_image_processor(checkpoint: Path) -> Any:
    """The caption image processor from ``processor/``; the PIL backend needs no torchvision."""
    from transformers import Qwen2VLImageProcessorPil

    return Qwen2VLImageProcessorPil.from_pretrained(checkpoint / "processor", local_files_only=True)


def caption_image(pipe: Any, image_processor: Any, image: Image.Image, language: str) -> str:
    """Generate the caption of ``image`` (already resized to the bucket) in ``language`` ("en"/"zh")."""
    import torch

    template = pipe.image_caption_prompt_en if language == "en" else pipe.image_caption_prompt_cn
    vision = image_processor(images=[image.convert("RGB")], return_tensors="pt")
    merge = getattr(image_processor, "merge_size", 2)
    image_tokens = int(vision["image_grid_thw"][0].prod()) // (merge * merge)
    text = template.replace(IMAGE_TOKEN, IMAGE_TOKEN * image_tokens, 1)
    tokens = pipe.tokenizer([text], return_tensors="pt")
    # 1 marks image tokens: the model needs it to give them their 2-D (M-RoPE) positions.
    token_types = (tokens.input_ids == pipe.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)).int()
    encoder = pipe.text_encoder
    device = pipe._execution_device
    with torch.no_grad():
        generated = encoder.generate(
            input_ids=tokens.input_ids.to(device),
            attention_mask=tokens.attention_mask.to(device),
            mm_token_type_ids=token_types.to(device),
            pixel_values=vision["pixel_values"].to(device, encoder.dtype),
            image_grid_thw=vision["image_grid_thw"].to(device),
            # The checkpoint's generation config may cap the length (the tiny test checkpoint does).
            max_new_tokens=getattr(encoder.generation_config, "max_new_tokens", None) or MAX_NEW_TOKENS,
        )
    new_tokens = generated[0, tokens.input_ids.shape[1] :]
    return pipe.tokenizer.decode(new_tokens, skip_special_tokens=True).strip()
