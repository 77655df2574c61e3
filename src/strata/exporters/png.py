"""PNG, one file per layer: lossless, straight alpha, colour kept under transparent pixels."""

from __future__ import annotations

import io

from PIL import Image

from strata.imaging.decode import open_image
from strata.layers import LayerStack


def layer_to_bytes(layer: Image.Image, *, compress_level: int = 6) -> bytes:
    """Encode one RGBA layer as PNG; ``compress_level`` 0 (fast) to 9 (small) changes size, not pixels."""
    buffer = io.BytesIO()
    layer.convert("RGBA").save(buffer, "PNG", compress_level=compress_level)
    return buffer.getvalue()


def decode_layer(data: bytes) -> Image.Image:
    """Decode untrusted image bytes (PNG, WEBP, ...) into an RGBA layer, with the decoder's pixel limit."""
    return open_image(data).convert("RGBA")


def read(data: bytes) -> LayerStack:
    """A single PNG is a stack of one layer."""
    return LayerStack([decode_layer(data)])
