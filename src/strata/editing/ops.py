"""Edit operations on a :class:`~strata.layers.LayerStack`.

Every operation returns a **new** stack and leaves the input alone; layers it does not touch are the very
same PIL objects in the result (bit-identical by construction). Layers are addressed by index, back to
front (0 is the bottom layer), as they are at the moment the operation runs. Visibility and opacity are
properties kept in the metadata (see :mod:`strata.editing.records`).

>>> from PIL import Image
>>> stack = LayerStack([Image.new("RGBA", (8, 8), (255, 255, 255, 255)), Image.new("RGBA", (8, 8))])
>>> moved = move(stack, 1, dx=3, dy=-2)
>>> moved.layers[0] is stack.layers[0]
True
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import numpy as np
from PIL import Image

from strata.editing import colour, resample
from strata.editing.records import Entry, bake_opacity, build, entries
from strata.errors import InvalidParameter
from strata.imaging.compose import over_uint8
from strata.layers import LayerStack

#: Scale factors outside this range are refused (the canvas does not grow, so they are never useful).
MIN_SCALE, MAX_SCALE = 0.01, 100.0
#: Offsets and centres (pixels) beyond this are refused: far off any canvas, and NaN or infinity would
#: otherwise reach integer conversions in the resampler as a traceback.
MAX_COORDINATE = 1_000_000.0


def _index(stack: LayerStack, layer: int, parameter: str = "layer") -> int:
    if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer < len(stack):
        raise InvalidParameter(
            f"{parameter} must be a layer index from 0 to {len(stack) - 1}, got {layer!r}",
            parameter=parameter,
        )
    return layer


def _coordinates(**values: float | None) -> None:
    for name, value in values.items():
        if value is not None and not (math.isfinite(value) and abs(value) <= MAX_COORDINATE):
            raise InvalidParameter(
                f"{name} must be a number between {-MAX_COORDINATE:g} and {MAX_COORDINATE:g}, got {value}",
                parameter=name,
            )


def _replace(stack: LayerStack, layer: int, change: Callable[[Entry], Entry]) -> LayerStack:
    records = entries(stack)
    index = _index(stack, layer)
    records[index] = change(records[index])
    return build(records, stack)


def _repaint(stack: LayerStack, layer: int, paint: Callable[[Image.Image], Image.Image]) -> LayerStack:
    return _replace(stack, layer, lambda entry: entry.with_image(paint(entry.image)))


def centre_of(image: Image.Image) -> tuple[float, float]:
    """Centre of the layer's visible box (the canvas centre for an empty layer)."""
    box = image.getchannel("A").getbbox() or (0, 0, *image.size)
    return (box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0


# --- geometry ----------------------------------------------------------------------------------------


def move(stack: LayerStack, layer: int, dx: float, dy: float) -> LayerStack:
    """Move a layer by (dx, dy) pixels; whole-pixel moves are exact, fractional ones bicubic."""
    _coordinates(dx=dx, dy=dy)
    if float(dx).is_integer() and float(dy).is_integer():
        return _repaint(stack, layer, lambda im: resample.shift(im, int(dx), int(dy)))
    return _repaint(stack, layer, lambda im: resample.scale_translate(im, 1.0, 1.0, dx, dy))


def scale(
    stack: LayerStack,
    layer: int,
    sx: float,
    sy: float | None = None,
    cx: float | None = None,
    cy: float | None = None,
) -> LayerStack:
    """Scale a layer by (sx, sy) about the point (cx, cy), by default the centre of its visible box."""
    sy = sx if sy is None else sy
    _coordinates(cx=cx, cy=cy)
    for name, value in (("sx", sx), ("sy", sy)):
        if not MIN_SCALE <= value <= MAX_SCALE:
            raise InvalidParameter(
                f"{name} must be between {MIN_SCALE} and {MAX_SCALE}, got {value}", parameter=name
            )

    def paint(image: Image.Image) -> Image.Image:
        px, py = centre_of(image)
        x, y = px if cx is None else cx, py if cy is None else cy
        return resample.scale_translate(image, sx, sy, x - sx * x, y - sy * y)

    return _repaint(stack, layer, paint)


def rotate(
    stack: LayerStack, layer: int, degrees: float, cx: float | None = None, cy: float | None = None
) -> LayerStack:
    """Rotate a layer clockwise by ``degrees`` about (cx, cy), by default the centre of its visible box."""
    if not math.isfinite(degrees):
        raise InvalidParameter(f"degrees must be a finite number, got {degrees}", parameter="degrees")
    _coordinates(cx=cx, cy=cy)

    def paint(image: Image.Image) -> Image.Image:
        px, py = centre_of(image)
        return resample.rotate(image, degrees, px if cx is None else cx, py if cy is None else cy)

    return _repaint(stack, layer, paint)


# --- colour ------------------------------------------------------------------------------------------


def _recolour(image: Image.Image, change: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Image.Image:
    """Apply ``change(rgb, alpha)`` to the visible pixels; alpha and hidden colour stay as they were."""
    box = image.getchannel("A").getbbox()
    if box is None:
        return image.copy()
    pixels = np.array(image)
    # Only the visible box is worked on: small elements on a big canvas stay cheap to recolour.
    crop = pixels[box[1] : box[3], box[0] : box[2]]
    alpha = crop[..., 3]
    rgb = crop[..., :3].astype(np.float64) / 255.0
    new = np.clip(np.rint(change(rgb, alpha / 255.0) * 255.0), 0, 255).astype(np.uint8)
    crop[..., :3] = np.where((alpha > 0)[..., None], new, crop[..., :3])
    return Image.fromarray(pixels, "RGBA")


def hue_shift(stack: LayerStack, layer: int, degrees: float) -> LayerStack:
    """Rotate the hue of a layer's colours by ``degrees``."""
    if not math.isfinite(degrees):
        raise InvalidParameter(f"degrees must be a finite number, got {degrees}", parameter="degrees")
    return _repaint(stack, layer, lambda im: _recolour(im, lambda rgb, _a: colour.hue_shift(rgb, degrees)))


def tint(stack: LayerStack, layer: int, color: tuple[int, int, int], strength: float = 1.0) -> LayerStack:
    """Recolour a layer towards ``color`` (RGB 0-255) keeping its shading; ``strength`` in [0, 1]."""
    if not 0.0 <= strength <= 1.0:
        raise InvalidParameter(f"strength must be between 0 and 1, got {strength}", parameter="strength")
    if len(color) != 3 or not all(isinstance(c, numbers.Integral) and 0 <= c <= 255 for c in color):
        raise InvalidParameter(f"color must be three integers 0-255, got {color!r}", parameter="color")
    return _repaint(
        stack, layer, lambda im: _recolour(im, lambda rgb, a: colour.tint(rgb, a, color, strength))
    )


def brightness_contrast(
    stack: LayerStack, layer: int, brightness: float = 0.0, contrast: float = 1.0
) -> LayerStack:
    """Add ``brightness`` (-1..1) and multiply contrast around mid-grey by ``contrast`` (0..4)."""
    if not -1.0 <= brightness <= 1.0:
        raise InvalidParameter(
            f"brightness must be between -1 and 1, got {brightness}", parameter="brightness"
        )
    if not 0.0 <= contrast <= 4.0:
        raise InvalidParameter(f"contrast must be between 0 and 4, got {contrast}", parameter="contrast")
    return _repaint(
        stack,
        layer,
        lambda im: _recolour(im, lambda rgb, _a: colour.brightness_contrast(rgb, brightness, contrast)),
    )


# --- properties and structure ------------------------------------------------------------------------


def set_opacity(stack: LayerStack, layer: int, opacity: float) -> LayerStack:
    """Set a layer's opacity (0..1); its pixels are unchanged."""
    if not 0.0 <= opacity <= 1.0:
        raise InvalidParameter(f"opacity must be between 0 and 1, got {opacity}", parameter="opacity")
    return _replace(stack, layer, lambda e: Entry(e.image, e.name, e.hidden, float(opacity)))


def set_visible(stack: LayerStack, layer: int, visible: bool) -> LayerStack:
    """Show or hide a layer; its pixels are unchanged."""
    return _replace(stack, layer, lambda e: Entry(e.image, e.name, not visible, e.opacity))


def rename(stack: LayerStack, layer: int, name: str) -> LayerStack:
    """Give a layer a new name."""
    return _replace(stack, layer, lambda e: Entry(e.image, name, e.hidden, e.opacity))


def delete(stack: LayerStack, layer: int) -> LayerStack:
    """Remove a layer (the last one cannot be removed)."""
    records = entries(stack)
    del records[_index(stack, layer)]
    return build(records, stack)


def reorder(stack: LayerStack, layer: int, to: int) -> LayerStack:
    """Move a layer to position ``to`` in the stack (0 = bottom); the others keep their order."""
    records = entries(stack)
    entry = records.pop(_index(stack, layer))
    records.insert(_index(stack, to, "to"), entry)
    return build(records, stack)


def duplicate(stack: LayerStack, layer: int) -> LayerStack:
    """Insert a copy of a layer just above it, named "<name> copy"."""
    records = entries(stack)
    entry = records[_index(stack, layer)]
    records.insert(layer + 1, Entry(entry.image.copy(), f"{entry.name} copy", entry.hidden, entry.opacity))
    return build(records, stack)


def merge_down(stack: LayerStack, layer: int) -> LayerStack:
    """Merge a layer into the one below it, as they look (hidden ones contribute nothing).

    The merged layer keeps the lower layer's name and is visible at full opacity.
    """
    if _index(stack, layer) == 0:
        raise InvalidParameter("the bottom layer has nothing below it to merge into", parameter="layer")
    records = entries(stack)
    lower, upper = records[layer - 1], records[layer]
    parts = [bake_opacity(r.image, r.opacity) for r in (lower, upper) if not r.hidden]
    if not parts:
        parts = [Image.new("RGBA", stack.size, (0, 0, 0, 0))]
    merged = Image.fromarray(over_uint8([np.asarray(p) for p in parts]), "RGBA")
    records[layer - 1 : layer + 1] = [Entry(merged, lower.name)]
    return build(records, stack)
