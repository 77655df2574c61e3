"""Resize RGBA layers to the output canvas without dark fringes.

Resampling straight-alpha pixels mixes the colour of transparent pixels (often black) into the edges
of opaque ones. Resampling premultiplied colour and dividing by the resampled alpha avoids that.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def resize_rgba(layer: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``layer`` resized to ``size`` (width, height) with Lanczos on premultiplied colour."""
    if layer.size == size:
        return layer
    rgba = np.asarray(layer.convert("RGBA"), dtype=np.float32) / 255.0
    alpha = rgba[..., 3:4]
    channels = [rgba[..., i] * alpha[..., 0] for i in range(3)] + [alpha[..., 0]]
    resized = np.stack([_resize_plane(plane, size) for plane in channels], axis=-1)
    resized = np.clip(resized, 0.0, 1.0)
    out_alpha = resized[..., 3:4]
    colour = np.where(out_alpha > 1e-6, resized[..., :3] / np.maximum(out_alpha, 1e-6), 0.0)
    result = np.concatenate([np.clip(colour, 0.0, 1.0), out_alpha], axis=-1)
    return Image.fromarray(np.round(result * 255.0).astype(np.uint8), "RGBA")


def _resize_plane(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    image = Image.fromarray(plane, mode="F")
    return np.asarray(image.resize(size, Image.Resampling.LANCZOS), dtype=np.float32)


def flatten_input(image: Image.Image) -> Image.Image:
    """The RGBA condition image: transparent input is composited over white first.

    The official demo drops input alpha (``convert("RGB")``), which exposes whatever colour hides under
    transparent pixels; white is the neutral background the model sees most in designs.
    """
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba)
    return image.convert("RGB").convert("RGBA")
