"""Recursive decomposition: split one layer of a stack into k sub-layers that replace it in place.

Any engine can do it (``strata.engines.get_engine``): it sees the layer's visible box flattened over a
contrasting colour and returns k layers whose composite approximates that picture. Those layers are then
re-shaped so that, stacked, they reproduce the *original layer*, transparency included:

- every sub-layer is masked by the layer's alpha ``A``: with ``w_j`` the share of sub-layer j in the
  engine's composite, the new alphas ``b_j = A w_j / (1 - A * sum(w_m for m above j))`` (all <= 1) stack
  to exactly ``A``, and transparent areas stay transparent;
- the colours are corrected by the engine's residual so the stack's colour is the layer's colour;
- after rounding to 8 bits, the few pixels whose composite is off by more than 1/255 are given to the
  bottom sub-layer alone (its pixel becomes the original's), so the composite of the whole stack stays
  within 1/255 of what it was, whatever the engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from PIL import Image

from strata.editing.records import Entry, bake_opacity, build, entries
from strata.engines import Engine, get_engine
from strata.engines.base import Progress, ShouldCancel
from strata.errors import InvalidParameter
from strata.imaging.compose import over_uint8
from strata.layers import LayerStack

#: Pixels of context kept around the layer's visible box when it is handed to the engine.
MARGIN = 8


def decompose_layer(
    stack: LayerStack,
    layer: int,
    layers: int,
    *,
    engine: str | Engine = "classic",
    options: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    should_cancel: ShouldCancel | None = None,
) -> LayerStack:
    """Replace ``stack.layers[layer]`` by ``layers`` sub-layers from ``engine``, back to front.

    >>> import strata
    >>> stack = strata.decompose("examples/poster.png", layers=3)  # doctest: +SKIP
    >>> finer = decompose_layer(stack, 2, 3)  # doctest: +SKIP
    >>> len(finer)  # doctest: +SKIP
    5
    """
    records = entries(stack)
    if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer < len(records):
        raise InvalidParameter(f"layer must be a layer index from 0 to {len(records) - 1}", parameter="layer")
    parent = records[layer]
    # 1. The layer as it looks (opacity baked, so the sub-layers reproduce it at full opacity), cropped.
    target = np.asarray(bake_opacity(parent.image, parent.opacity))
    box = _crop_box(target)
    crop = target[box[1] : box[3], box[0] : box[2]]
    # 2. Run the engine on the crop flattened over a contrasting colour.
    runner = get_engine(engine) if isinstance(engine, str) else engine
    runner.check(layers, options)
    runner.load()
    parts = runner.decompose(_flatten(crop), layers, dict(options or {}), progress, should_cancel)
    # 3. Re-shape the engine's layers so that they stack to the original layer, within 1/255.
    subs = fit_to_layer([_sized(p, crop.shape) for p in parts.arrays()], crop)
    # 4. Put them back on the full canvas, in place of the layer.
    new = [
        Entry(_on_canvas(sub, box, stack.size), f"{parent.name}/{name}", parent.hidden)
        for sub, name in zip(subs, parts.names, strict=True)
    ]
    records[layer : layer + 1] = new
    return build(records, stack)


def fit_to_layer(parts: list[np.ndarray], target: np.ndarray) -> list[np.ndarray]:
    """uint8 sub-layers, back to front, whose composite is ``target`` (uint8 RGBA) within 1/255.

    ``parts`` are any RGBA layers of the target's size (an engine's output); their shares of the
    composite and their colours are kept as far as the target allows.
    """
    alpha = target[..., 3].astype(np.float64) / 255.0
    colour = target[..., :3].astype(np.float64) / 255.0
    part_alpha = np.stack([p[..., 3] for p in parts]).astype(np.float64) / 255.0
    part_alpha[0] = 1.0  # whatever the engine left uncovered belongs to the bottom layer
    colours = np.stack([p[..., :3] for p in parts]).astype(np.float64) / 255.0
    # Shares w_j of each part in the engine's composite (they sum to 1).
    shares = part_alpha * _coverage_above(part_alpha)
    colours = _correct_colours(colours, shares, colour)
    alphas = _stacked_alphas(shares, alpha)
    subs = [
        np.concatenate([np.rint(c * 255.0), np.rint(a[..., None] * 255.0)], axis=-1)
        .clip(0, 255)
        .astype(np.uint8)
        for c, a in zip(colours, alphas, strict=True)
    ]
    return _repair(subs, target)


def _coverage_above(part_alpha: np.ndarray) -> np.ndarray:
    """For each part j, the product of (1 - alpha) of the parts above it."""
    transmit = 1.0 - part_alpha
    result = np.ones_like(part_alpha)
    for j in range(len(part_alpha) - 2, -1, -1):
        result[j] = result[j + 1] * transmit[j + 1]
    return result


def _correct_colours(colours: np.ndarray, shares: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Shift the parts' colours so their share-weighted mix equals ``target`` exactly (in float)."""
    weights = shares[..., None]
    colours = np.clip(colours + (target - (weights * colours).sum(axis=0)), 0.0, 1.0)
    remainder = target - (weights * colours).sum(axis=0)
    for j in range(len(colours) - 1, -1, -1):  # what clipping left over, absorbed layer by layer
        w = weights[j]
        fixed = np.clip(
            colours[j] + np.divide(remainder, w, out=np.zeros_like(remainder), where=w > 1e-9), 0, 1
        )
        remainder = remainder - w * (fixed - colours[j])
        colours[j] = fixed
    return colours


def _stacked_alphas(shares: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Alphas b_j, top down, so that sub-layer j shows ``alpha * shares[j]`` of the composite."""
    result = np.zeros_like(shares)
    covered = np.zeros_like(alpha)
    for j in range(len(shares) - 1, -1, -1):
        wanted = alpha * shares[j]
        free = 1.0 - covered
        result[j] = np.clip(np.divide(wanted, free, out=np.zeros_like(free), where=free > 1e-12), 0.0, 1.0)
        covered = covered + wanted
    return result


def _repair(subs: list[np.ndarray], target: np.ndarray) -> list[np.ndarray]:
    """Where 8-bit rounding left the composite more than 1/255 off, the bottom layer takes the pixel."""
    composite = over_uint8(subs).astype(np.int16)
    diff = np.abs(composite - target.astype(np.int16))
    visible = target[..., 3] > 0
    bad = (diff[..., 3] > 1) | (visible & (diff[..., :3].max(axis=-1) > 1))
    if bad.any():
        subs[0][bad] = target[bad]
        for sub in subs[1:]:
            sub[bad] = 0
    return subs


def _crop_box(pixels: np.ndarray) -> tuple[int, int, int, int]:
    visible = np.argwhere(pixels[..., 3] > 0)
    if visible.size == 0:
        raise InvalidParameter("the layer is empty: there is nothing to decompose", parameter="layer")
    height, width = pixels.shape[:2]
    (top, left), (bottom, right) = visible.min(axis=0), visible.max(axis=0) + 1
    return (
        max(int(left) - MARGIN, 0),
        max(int(top) - MARGIN, 0),
        min(int(right) + MARGIN, width),
        min(int(bottom) + MARGIN, height),
    )


def _flatten(crop: np.ndarray) -> Image.Image:
    """RGB of the crop over the corner of the RGB cube farthest from its mean colour (stands out)."""
    alpha = crop[..., 3:4].astype(np.float64) / 255.0
    rgb = crop[..., :3].astype(np.float64)
    mean = (rgb * alpha).sum(axis=(0, 1)) / max(float(alpha.sum()), 1e-9)
    fill = np.where(mean < 128, 255.0, 0.0)
    flat = rgb * alpha + fill * (1.0 - alpha)
    return Image.fromarray(np.rint(flat).astype(np.uint8), "RGB")


def _sized(part: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """An engine layer at the crop's size (engines that work at their own resolution are resized)."""
    height, width = shape[:2]
    if part.shape[:2] == (height, width):
        return part
    return np.asarray(Image.fromarray(part, "RGBA").resize((width, height), Image.Resampling.LANCZOS))


def _on_canvas(sub: np.ndarray, box: tuple[int, int, int, int], size: tuple[int, int]) -> Image.Image:
    canvas = np.zeros((size[1], size[0], 4), np.uint8)
    canvas[box[1] : box[3], box[0] : box[2]] = sub
    return Image.fromarray(canvas, "RGBA")
