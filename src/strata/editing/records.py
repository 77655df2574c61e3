"""Per-layer records: a layer with the properties an editor keeps beside its pixels.

Visibility and opacity are *properties*, not pixels: hiding a layer or setting its opacity never touches
its image, so showing it again or setting the opacity back is lossless. They live in the stack's
metadata as two lists aligned with the layers, ``metadata["hidden"]`` (bool per layer) and
``metadata["opacity"]`` (float in [0, 1] per layer); a stack without them is all visible at full
opacity. Exports show what the editor shows: :func:`for_export` drops hidden layers and multiplies each
opacity into its layer's alpha.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from PIL import Image

from strata.errors import InvalidParameter
from strata.layers import LayerStack

HIDDEN = "hidden"
OPACITY = "opacity"


@dataclass(frozen=True)
class Entry:
    """One layer of an editable stack: its pixels plus name, visibility and opacity."""

    image: Image.Image
    name: str
    hidden: bool = False
    opacity: float = 1.0

    def with_image(self, image: Image.Image) -> Entry:
        return replace(self, image=image)


def entries(stack: LayerStack) -> list[Entry]:
    """The stack's layers as :class:`Entry` records (properties read from its metadata)."""
    count = len(stack)
    hidden = list(stack.metadata.get(HIDDEN) or [False] * count)
    opacity = list(stack.metadata.get(OPACITY) or [1.0] * count)
    if len(hidden) != count or len(opacity) != count:
        raise InvalidParameter(
            f"the stack's {HIDDEN!r}/{OPACITY!r} metadata does not match its {count} layers"
        )
    return [
        Entry(image, name, bool(h), float(o))
        for image, name, h, o in zip(stack.layers, stack.names, hidden, opacity, strict=True)
    ]


def build(records: list[Entry], like: LayerStack) -> LayerStack:
    """A new stack from ``records``, keeping the other metadata of ``like``."""
    if not records:
        raise InvalidParameter("a layer stack needs at least one layer; cannot remove the last one")
    metadata: dict[str, Any] = {k: v for k, v in like.metadata.items() if k not in (HIDDEN, OPACITY)}
    if any(r.hidden for r in records) or any(r.opacity != 1.0 for r in records):
        metadata[HIDDEN] = [r.hidden for r in records]
        metadata[OPACITY] = [r.opacity for r in records]
    return LayerStack([r.image for r in records], names=[r.name for r in records], metadata=metadata)


def bake_opacity(image: Image.Image, opacity: float) -> Image.Image:
    """``image`` with its alpha multiplied by ``opacity`` (the same object when opacity is 1)."""
    if opacity >= 1.0:
        return image
    pixels = np.array(image)
    pixels[..., 3] = np.rint(pixels[..., 3] * float(opacity)).astype(np.uint8)
    return Image.fromarray(pixels, "RGBA")


def for_export(stack: LayerStack) -> LayerStack:
    """What the editor shows: hidden layers dropped, opacities multiplied into alpha.

    A stack whose layers are all hidden exports one fully transparent layer, so the file keeps the canvas.
    """
    records = entries(stack)
    visible = [r for r in records if not r.hidden]
    metadata = {k: v for k, v in stack.metadata.items() if k not in (HIDDEN, OPACITY)}
    if not visible:
        blank = Image.new("RGBA", stack.size, (0, 0, 0, 0))
        return LayerStack([blank], names=["empty"], metadata=metadata)
    return LayerStack(
        [bake_opacity(r.image, r.opacity) for r in visible],
        names=[r.name for r in visible],
        metadata=metadata,
    )


def visible_composite(stack: LayerStack) -> Image.Image:
    """The composite the editor shows (hidden layers left out, opacities applied)."""
    return for_export(stack).composite()
