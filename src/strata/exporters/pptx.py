"""PowerPoint PPTX via python-pptx: one slide, one full-canvas PNG picture per layer.

Pictures are added back to front, so PowerPoint's z-order is the stack order, and the slide has the
canvas's aspect ratio (the longer side 10 inches; PowerPoint allows 1 to 56 inches per side, so aspect
ratios beyond 56:1 are clamped).
"""

from __future__ import annotations

import io

from PIL import Image

from strata.errors import InvalidInput, LimitExceeded
from strata.exporters import clean_name
from strata.exporters.png import decode_layer, layer_to_bytes
from strata.imaging.decode import max_pixels
from strata.layers import LayerStack

EMU_PER_INCH = 914400
LONG_SIDE = 10 * EMU_PER_INCH
MIN_SIDE, MAX_SIDE = EMU_PER_INCH, 56 * EMU_PER_INCH


def slide_size(width: int, height: int) -> tuple[int, int]:
    """Slide (width, height) in EMU with the canvas's aspect ratio, within PowerPoint's limits."""
    long_side, short_side = max(width, height), min(width, height)
    long_emu = LONG_SIDE
    short_emu = round(long_emu * short_side / long_side)
    if short_emu < MIN_SIDE:
        short_emu = MIN_SIDE
        long_emu = min(MAX_SIDE, round(MIN_SIDE * long_side / short_side))
    return (long_emu, short_emu) if width >= height else (short_emu, long_emu)


def to_bytes(stack: LayerStack, *, pngs: list[bytes] | None = None) -> bytes:
    """Encode ``stack`` as a one-slide presentation.

    ``pngs``: the layers already encoded as PNG (see :func:`~strata.exporters.render_all`).
    """
    from pptx import Presentation
    from pptx.util import Emu

    deck = Presentation()
    width, height = slide_size(*stack.size)
    deck.slide_width, deck.slide_height = Emu(width), Emu(height)
    blank = deck.slide_layouts[6]
    slide = deck.slides.add_slide(blank)
    pngs = pngs or [layer_to_bytes(layer) for layer in stack.layers]
    for data, name in zip(pngs, stack.names, strict=True):
        picture = slide.shapes.add_picture(io.BytesIO(data), 0, 0, width=Emu(width), height=Emu(height))
        picture.name = clean_name(name)  # lxml refuses control characters
    buffer = io.BytesIO()
    deck.save(buffer)
    return buffer.getvalue()


def read(data: bytes) -> LayerStack:
    """Read the pictures of the first slide, back to front (z-order), placed on the slide's canvas.

    The canvas takes the pixel size of the first picture that covers the whole slide (or of the first
    picture); other pictures are scaled into their boxes.
    """
    from pptx import Presentation
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    try:
        deck = Presentation(io.BytesIO(data))
        slide = deck.slides[0]
        pictures = [s for s in slide.shapes if s.shape_type == MSO_SHAPE_TYPE.PICTURE]
        images = [decode_layer(picture.image.blob) for picture in pictures]
    except (KeyError, IndexError, ValueError, OSError) as exc:
        raise InvalidInput(f"not a readable PPTX ({' '.join(str(exc).split())[:120]})") from None
    if not pictures:
        raise InvalidInput("the PPTX's first slide has no pictures")
    slide_emu = (int(deck.slide_width or 0), int(deck.slide_height or 0))
    size = _canvas_size(pictures, images, slide_emu)
    if min(size) <= 0 or size[0] * size[1] > max_pixels():
        raise LimitExceeded(f"the pictures imply a {size[0]}x{size[1]} canvas, outside the pixel limit")
    layers = [
        _place(picture, image, size, slide_emu) for picture, image in zip(pictures, images, strict=True)
    ]
    return LayerStack(layers, names=[picture.name for picture in pictures])


def _canvas_size(pictures: list, images: list[Image.Image], slide_emu: tuple[int, int]) -> tuple[int, int]:
    for picture, image in zip(pictures, images, strict=True):
        if (picture.left, picture.top, picture.width, picture.height) == (0, 0, *slide_emu):
            return image.size
    picture, image = pictures[0], images[0]
    return (
        round(image.width * slide_emu[0] / max(1, picture.width)),
        round(image.height * slide_emu[1] / max(1, picture.height)),
    )


def _place(picture, image: Image.Image, size: tuple[int, int], slide_emu: tuple[int, int]) -> Image.Image:  # type: ignore[no-untyped-def]
    scale_x, scale_y = size[0] / slide_emu[0], size[1] / slide_emu[1]
    box = (
        round(picture.left * scale_x),
        round(picture.top * scale_y),
        round((picture.left + picture.width) * scale_x),
        round((picture.top + picture.height) * scale_y),
    )
    if box == (0, 0, *size):
        return image if image.size == size else image.resize(size, Image.Resampling.LANCZOS)
    canvas = Image.new("RGBA", size, (0, 0, 0, 0))
    width, height = max(1, box[2] - box[0]), max(1, box[3] - box[1])
    canvas.paste(image.resize((width, height), Image.Resampling.LANCZOS), box[:2])
    return canvas
