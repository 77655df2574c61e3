"""A layer as the metrics see it: straight-alpha RGBA in [0, 1], stored as the crop around its pixels.

Design files have dozens of small layers on a large canvas; keeping only the box around each layer's
visible pixels makes ground truth cheap to hold and every pair cost proportional to the boxes involved,
not to the canvas. Colour where alpha is 0 is stored as 0: compositing (grouping, merges) defines it that
way, and the RGB L1 term is only taken where the ground-truth alpha is positive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: (top, left, bottom, right) in canvas pixels, bottom/right exclusive.
Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Layer:
    """One straight-alpha RGBA layer on a ``canvas`` of (height, width), as a float32 crop at ``box``."""

    canvas: tuple[int, int]
    box: Box
    rgba: np.ndarray

    @classmethod
    def from_array(
        cls, array: np.ndarray, offset: tuple[int, int] = (0, 0), canvas: tuple[int, int] | None = None
    ) -> Layer:
        """Wrap a uint8 or [0, 1] float (h, w, 4) array placed at ``offset`` (top, left) on ``canvas``.

        Without ``canvas`` the array is the whole canvas. The stored crop is trimmed to alpha > 0.
        """
        rgba = array.astype(np.float32) / 255.0 if array.dtype == np.uint8 else array.astype(np.float32)
        height, width = canvas or array.shape[:2]
        visible = rgba[..., 3] > 0
        rows, cols = np.flatnonzero(visible.any(axis=1)), np.flatnonzero(visible.any(axis=0))
        if rows.size == 0:
            return cls((height, width), (0, 0, 0, 0), np.zeros((0, 0, 4), np.float32))
        top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        crop = rgba[top:bottom, left:right].copy()
        crop[..., :3] *= crop[..., 3:] > 0
        box = (int(offset[0] + top), int(offset[1] + left), int(offset[0] + bottom), int(offset[1] + right))
        return cls((height, width), box, crop)

    @property
    def empty(self) -> bool:
        return self.rgba.size == 0

    @property
    def alpha_sum(self) -> float:
        return float(self.rgba[..., 3].sum(dtype=np.float64))

    def window(self, box: Box) -> np.ndarray:
        """This layer's pixels inside ``box`` (zeros where the layer has none), shape (h, w, 4)."""
        top, left, bottom, right = box
        out = np.zeros((bottom - top, right - left, 4), np.float32)
        inner = intersect(self.box, box)
        if inner is not None:
            t, lf, b, r = inner
            out[t - top : b - top, lf - left : r - left] = self.rgba[
                t - self.box[0] : b - self.box[0], lf - self.box[1] : r - self.box[1]
            ]
        return out

    def to_array(self) -> np.ndarray:
        """The full-canvas float32 (H, W, 4) array."""
        return self.window((0, 0, *self.canvas))

    def to_uint8(self) -> np.ndarray:
        """The full-canvas uint8 (H, W, 4) array."""
        return np.clip(np.rint(self.to_array() * 255.0), 0, 255).astype(np.uint8)


def intersect(a: Box, b: Box) -> Box | None:
    """The common part of two boxes, or None."""
    top, left = max(a[0], b[0]), max(a[1], b[1])
    bottom, right = min(a[2], b[2]), min(a[3], b[3])
    return (top, left, bottom, right) if top < bottom and left < right else None


def union(boxes: Sequence[Box]) -> Box:
    """The smallest box holding every non-empty box."""
    real = [b for b in boxes if b[0] < b[2] and b[1] < b[3]]
    if not real:
        return (0, 0, 0, 0)
    return (
        min(b[0] for b in real),
        min(b[1] for b in real),
        max(b[2] for b in real),
        max(b[3] for b in real),
    )


def over(layers: Sequence[Layer]) -> Layer:
    """Straight-alpha "over" of ``layers`` (back to front) into one layer on the same canvas."""
    visible = [layer for layer in layers if not layer.empty]
    if len(visible) <= 1:  # colour under alpha 0 is already 0, so one layer is its own composite
        return visible[0] if visible else layers[0]
    box = union([layer.box for layer in visible])
    premul = np.zeros((box[2] - box[0], box[3] - box[1], 3), np.float32)
    alpha = np.zeros((*premul.shape[:2], 1), np.float32)
    for layer in visible:
        top, left, bottom, right = layer.box
        where = (slice(top - box[0], bottom - box[0]), slice(left - box[1], right - box[1]))
        a = layer.rgba[..., 3:]
        premul[where] = layer.rgba[..., :3] * a + premul[where] * (1.0 - a)
        alpha[where] = a + alpha[where] * (1.0 - a)
    rgb = np.divide(premul, alpha, out=np.zeros_like(premul), where=alpha > 0)
    return Layer.from_array(np.concatenate([rgb, alpha], -1), offset=box[:2], canvas=layers[0].canvas)
