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
    and layer 0 must be opaque there (the engine guarantees both). The layers are worked on as flat
    pixel lists, views that share their memory (a layer that cannot be viewed so raises).
    """
    pixels = [np.reshape(layer, (-1, 4), copy=False) for layer in layers]
    colours = target.reshape(-1, target.shape[-1])
    top = np.zeros(len(colours), np.uint8)
    for index in range(1, len(layers)):
        np.putmask(top, pixels[index][:, 3] > 0, index)
    base = np.flatnonzero(top == 0)
    pixels[0][base, :3] = colours[base, :3]
    pixels[0][base, 3] = colours[base, 3] if target.shape[-1] == 4 else 255
    composite = pixels[0][:, :3].astype(np.float32) / 255.0
    for index in range(1, len(layers)):
        layer = pixels[index]
        mine = np.flatnonzero(top == index)
        partial = layer[mine, 3] < 255
        opaque, mine = mine[~partial], mine[partial]
        layer[opaque, :3] = colours[opaque, :3]  # an opaque pixel shows the input as it is
        if mine.size:
            image = colours[mine, :3].astype(np.float32) / 255.0
            layer[mine] = _solve(image, composite[mine], layer[mine, 3])
        if index < len(layers) - 1:
            _over_in_place(composite, layer, np.flatnonzero((layer[:, 3] > 0) & (top > index)))


def _solve(image: np.ndarray, under: np.ndarray, alpha8: np.ndarray) -> np.ndarray:
    """New (n, 4) uint8 RGBA for n pixels so that ``α F + (1 − α) under`` equals ``image``."""
    needed = np.maximum(alpha8.astype(np.float32) / 255.0, min_alpha(image, under))
    alpha8 = np.clip(np.ceil(needed * 255.0 - 1e-3), 1, 255)
    a = (alpha8 / 255.0)[:, None]
    colour = (image - (1.0 - a) * under) / a
    rgb = np.clip(np.rint(colour * 255.0), 0, 255)
    return np.concatenate([rgb, alpha8[:, None]], axis=1).astype(np.uint8)


def _over_in_place(composite: np.ndarray, layer: np.ndarray, where: np.ndarray) -> None:
    """Composite the (n, 4) uint8 ``layer`` over the (n, 3) float ``composite`` at the indices ``where``."""
    if not where.size:
        return
    rgba = layer[where].astype(np.float32) / 255.0
    a = rgba[:, 3:4]
    composite[where] = rgba[:, :3] * a + composite[where] * (1.0 - a)
