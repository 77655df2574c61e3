"""The exactness pass: make the 8-bit layers composite back to the input.

For every pixel let t be the top-most layer with alpha > 0 and C the composite of the (already 8-bit)
layers below it. Only layer t changes at that pixel: its alpha is raised to at least the smallest alpha
that any in-gamut colour can explain (rounded *up* to the next 1/255 step, which keeps the colour in
gamut), and its colour is unblended, ``F = (I − (1 − α) C) / α``. Hidden content below stays as the
engine completed it. What remains is the rounding of F to 8 bits, at most 0.5/255 after compositing.
Where no element covers a pixel the background layer takes the input's colour and alpha.
"""

from __future__ import annotations

import numpy as np

from strata.imaging.alpha import min_alpha


def make_exact(layers: list[np.ndarray], target: np.ndarray) -> None:
    """Adjust uint8 (H, W, 4) ``layers`` in place so that their "over" composite equals ``target``.

    ``target`` is the uint8 RGB or RGBA input. Elements must only cover pixels where the input is opaque
    and layer 0 must be opaque there (the engine guarantees both).
    """
    image = target[..., :3].astype(np.float32) / 255.0
    top = np.zeros(target.shape[:2], np.uint8)
    for index in range(1, len(layers)):
        top[layers[index][..., 3] > 0] = index
    base = top == 0
    layers[0][base, :3] = target[base, :3]
    layers[0][base, 3] = target[base, 3] if target.shape[-1] == 4 else 255
    composite = layers[0][..., :3].astype(np.float32) / 255.0
    for index in range(1, len(layers)):
        layer = layers[index]
        mine = top == index
        if mine.any():
            layer[mine] = _solve(image[mine], composite[mine], layer[mine, 3])
        if index < len(layers) - 1:
            _over_in_place(composite, layer, (layer[..., 3] > 0) & (top > index))


def _solve(image: np.ndarray, under: np.ndarray, alpha8: np.ndarray) -> np.ndarray:
    """New (n, 4) uint8 RGBA for n pixels so that ``α F + (1 − α) under`` equals ``image``."""
    needed = np.maximum(alpha8.astype(np.float32) / 255.0, min_alpha(image, under))
    alpha8 = np.clip(np.ceil(needed * 255.0 - 1e-3), 1, 255)
    a = (alpha8 / 255.0)[:, None]
    colour = (image - (1.0 - a) * under) / a
    rgb = np.clip(np.rint(colour * 255.0), 0, 255)
    return np.concatenate([rgb, alpha8[:, None]], axis=1).astype(np.uint8)


def _over_in_place(composite: np.ndarray, layer: np.ndarray, where: np.ndarray) -> None:
    if not where.any():
        return
    rgba = layer[where].astype(np.float32) / 255.0
    a = rgba[:, 3:4]
    composite[where] = rgba[:, :3] * a + composite[where] * (1.0 - a)
