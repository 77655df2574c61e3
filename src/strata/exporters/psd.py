"""Photoshop PSD via psd-tools: one named pixel layer per stack layer, back to front.

Each layer is cropped to its visible pixels and placed at its offset, as Photoshop itself stores
layers, so the pixels read back exactly. The merged image that viewers without layer support (and
thumbnails) show is the stack's own composite, with its alpha.
"""

from __future__ import annotations

import io
import logging

import numpy as np
from PIL import Image

from strata.errors import InvalidInput, InvalidParameter, LimitExceeded
from strata.exporters import clean_name
from strata.imaging.decode import max_pixels
from strata.layers import LayerStack

#: Photoshop's limit on a layer name (a Pascal string).
MAX_NAME = 255
#: The PSD specification's limit per side (psd-tools writes no larger PSB either).
MAX_SIDE = 30000


def to_bytes(stack: LayerStack) -> bytes:
    """Encode ``stack`` as an 8-bit RGB PSD with transparency, one pixel layer per layer."""
    from psd_tools import PSDImage
    from psd_tools.api import numpy_io
    from psd_tools.api.layers import PixelLayer

    if max(stack.size) > MAX_SIDE:
        width, height = stack.size
        raise InvalidParameter(
            f"PSD holds at most {MAX_SIDE} pixels per side, the canvas is {width}x{height}; "
            "choose tiff, ora or zip",
            parameter="format",
        )
    document = PSDImage.new("RGBA", stack.size, color=(0, 0, 0, 0))
    # The merged image's alpha channel holds its transparency (the layer count is written negative,
    # as the PSD specification says); psd-tools otherwise writes an opaque merged image.
    document._merged_alpha = True
    for layer, name, box in zip(stack.layers, stack.names, stack.bounding_boxes(), strict=True):
        # An empty layer is stored with an empty bounding box, like Photoshop's own empty layers.
        pixels = layer.crop(box) if box else Image.new("RGBA", (0, 0))
        left, top = box[:2] if box else (0, 0)
        placed = PixelLayer.frompil(pixels, document, top=top, left=left)
        # The name setter writes the Unicode name block and a MacRoman-safe Pascal name; a Pascal
        # string holds at most 255 bytes, so longer names are cut.
        placed.name = clean_name(name)[:MAX_NAME]
    # The merged image: psd-tools would render it from the layers on save (most of the export's
    # time, in floating point); the stack's exact 8-bit composite is set instead. psd-tools has no
    # public setter for it: these are the calls its own save makes (psd-tools is pinned).
    merged = np.asarray(stack.composite(), np.float32) / 255.0
    record = document._record
    record.image_data.set_data(
        numpy_io.encode_image_data(document, merged[..., :3], merged[..., 3:]), record.header
    )
    document._updated = False  # nothing left for save to re-render
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def read(data: bytes) -> LayerStack:
    """Read the visible leaf layers of a PSD/PSB, back to front, each on the full canvas.

    Pixel layers at full opacity are read exactly; other layers (type, shapes, smart objects, or
    reduced opacity) are rendered by psd-tools.
    """
    from psd_tools import PSDImage

    try:
        document = PSDImage.open(io.BytesIO(data))
        _check_size(document.size)
        leaves = [layer for layer in document.descendants() if not layer.is_group() and layer.is_visible()]
        rendered = [(layer.name, _full_canvas(layer, document.size)) for layer in leaves]
    except (ValueError, OSError, EOFError, AssertionError, KeyError) as exc:
        raise InvalidInput(f"not a readable PSD ({' '.join(str(exc).split())[:120]})") from None
    placed = [(name, image) for name, image in rendered if image is not None]
    if not placed:
        raise InvalidInput("the PSD has no visible layers")
    return LayerStack([image for _, image in placed], names=[name for name, _ in placed])


def _check_size(size: tuple[int, int]) -> None:
    width, height = size
    if width * height > max_pixels():
        raise LimitExceeded(f"the PSD is {width}x{height}, above the limit of {max_pixels()} pixels")


def _full_canvas(layer, size: tuple[int, int]) -> Image.Image | None:  # type: ignore[no-untyped-def]
    canvas = Image.new("RGBA", size, (0, 0, 0, 0))
    if layer.bbox == (0, 0, 0, 0):
        return canvas
    if layer.kind == "pixel" and layer.opacity == 255 and not layer.has_effects():
        pixels = layer.topil()
    else:
        # Rendering of non-pixel layers logs about unsupported features; that is not our error to show.
        logging.getLogger("psd_tools").setLevel(logging.ERROR)
        pixels = layer.composite()
    if pixels is None:
        return None
    canvas.paste(pixels.convert("RGBA"), layer.bbox[:2])
    return canvas
