"""OpenRaster (.ora): the open layered format of GIMP, Krita and MyPaint.

The archive starts with an uncompressed ``mimetype`` member, then ``stack.xml`` (layers listed top-most
first, as the specification orders them), one PNG per layer in ``data/`` cropped to its visible pixels
and placed with ``x``/``y``, ``Thumbnails/thumbnail.png`` (at most 256 px) and ``mergedimage.png``.
"""

from __future__ import annotations

import io
import zipfile
from xml.etree import ElementTree

from PIL import Image

from strata.errors import InvalidInput, LimitExceeded
from strata.exporters import clean_name
from strata.exporters.png import decode_layer, layer_to_bytes
from strata.exporters.zip import read_member
from strata.imaging.decode import max_pixels
from strata.layers import LayerStack

MIMETYPE = b"image/openraster"
THUMBNAIL_SIZE = 256


def to_bytes(stack: LayerStack, *, pngs: list[bytes] | None = None) -> bytes:
    """Encode ``stack`` as an OpenRaster archive.

    ``pngs``: the layers already encoded as PNG (see :func:`~strata.exporters.render_all`); used for
    the layers that cover the whole canvas, whose crop is the layer itself (a background).
    """
    whole = (0, 0, *stack.size)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("mimetype", MIMETYPE, zipfile.ZIP_STORED)
        archive.writestr("stack.xml", _stack_xml(stack), zipfile.ZIP_DEFLATED)
        for index, (layer, box) in enumerate(zip(stack.layers, stack.bounding_boxes(), strict=True)):
            # An empty layer is kept (so the count is exact) as a single transparent pixel.
            if pngs is not None and box == whole:
                data = pngs[index]
            else:
                data = layer_to_bytes(layer.crop(box or (0, 0, 1, 1)))
            archive.writestr(f"data/layer_{index:02d}.png", data)
        composite = stack.composite()
        archive.writestr("mergedimage.png", layer_to_bytes(composite))
        thumbnail = composite.copy()
        thumbnail.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        archive.writestr("Thumbnails/thumbnail.png", layer_to_bytes(thumbnail))
    return buffer.getvalue()


def _stack_xml(stack: LayerStack) -> bytes:
    width, height = stack.size
    image = ElementTree.Element("image", version="0.0.5", w=str(width), h=str(height), xres="72", yres="72")
    root = ElementTree.SubElement(image, "stack")
    boxes = stack.bounding_boxes()
    for index in reversed(range(len(stack))):
        left, top = (boxes[index] or (0, 0))[:2]
        attributes = {
            "name": clean_name(stack.names[index]),
            "src": f"data/layer_{index:02d}.png",
            "x": str(left),
            "y": str(top),
            "opacity": "1.0",
            "visibility": "visible",
            "composite-op": "svg:src-over",
        }
        ElementTree.SubElement(root, "layer", attributes)
    return ElementTree.tostring(image, encoding="utf-8", xml_declaration=True)


def read(data: bytes) -> LayerStack:
    """Read the layers of an OpenRaster file back to front, each placed on the full canvas.

    Nested stacks are flattened in order; hidden layers are skipped; layer opacity is applied to alpha.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            image = ElementTree.fromstring(read_member(archive, "stack.xml"))
            size = _canvas_size(image)
            elements = [e for e in image.iter("layer") if e.get("visibility", "visible") != "hidden"]
            layers = [_place(archive, element, size) for element in reversed(elements)]
            names = [element.get("name") or f"layer {i:02d}" for i, element in enumerate(reversed(elements))]
    except (zipfile.BadZipFile, KeyError, ValueError, ElementTree.ParseError) as exc:
        raise InvalidInput(f"not a readable OpenRaster file ({exc})") from None
    if not layers:
        raise InvalidInput("the OpenRaster file has no visible layers")
    return LayerStack(layers, names=names)


def _canvas_size(image: ElementTree.Element) -> tuple[int, int]:
    width, height = int(image.get("w", "0")), int(image.get("h", "0"))
    if width <= 0 or height <= 0:
        raise InvalidInput(f"the OpenRaster canvas is {width}x{height}")
    if width * height > max_pixels():
        raise LimitExceeded(
            f"the OpenRaster canvas is {width}x{height}, above the limit of {max_pixels()} pixels"
        )
    return width, height


def _place(archive: zipfile.ZipFile, element: ElementTree.Element, size: tuple[int, int]) -> Image.Image:
    pixels = decode_layer(read_member(archive, element.get("src", "")))
    canvas = Image.new("RGBA", size, (0, 0, 0, 0))
    canvas.paste(pixels, (int(element.get("x", "0")), int(element.get("y", "0"))))
    opacity = float(element.get("opacity", "1"))
    if opacity < 1.0:
        alpha = canvas.getchannel("A").point(lambda v: round(v * opacity))
        canvas.putalpha(alpha)
    return canvas
