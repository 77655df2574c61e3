"""Straight-alpha "over" compositing and the exactness check.

Layers are uint8 RGBA arrays (H, W, 4) with straight (not premultiplied) alpha, back to front.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def over(layers: Sequence[np.ndarray]) -> np.ndarray:
    """Composite straight-alpha layers back to front; returns float64 RGBA in [0, 1].

    Porter-Duff "over" on straight colours: the result alpha is ``a + A (1 - a)`` and the colour is the
    alpha-weighted mix divided by it, so a stack whose bottom layer is opaque gives an opaque image.
    """
    if not layers:
        raise ValueError("over() needs at least one layer")
    height, width = layers[0].shape[:2]
    premul = np.zeros((height, width, 3))
    alpha = np.zeros((height, width, 1))
    for layer in layers:
        rgba = layer.astype(np.float64) / 255.0
        a = rgba[..., 3:4]
        premul = rgba[..., :3] * a + premul * (1.0 - a)
        alpha = a + alpha * (1.0 - a)
    rgb = np.divide(premul, alpha, out=np.zeros_like(premul), where=alpha > 0)
    return np.concatenate([rgb, alpha], axis=-1)


def over_uint8(layers: Sequence[np.ndarray]) -> np.ndarray:
    """:func:`over` rounded to uint8 RGBA."""
    return np.clip(np.rint(over(layers) * 255.0), 0, 255).astype(np.uint8)


def reconstruction_error(layers: Sequence[np.ndarray], target: np.ndarray) -> tuple[float, float]:
    """Return (max abs error in 1/255 units, PSNR in dB) of the composite against an RGB(A) target.

    Colour is compared where the target is visible (alpha > 0); alpha is compared everywhere when the
    target has an alpha channel.
    """
    comp = over(layers) * 255.0
    ref = target.astype(np.float64)
    if ref.shape[-1] == 3:
        diff = comp[..., :3] - ref
    else:
        visible = ref[..., 3:4] > 0
        diff = np.concatenate([(comp[..., :3] - ref[..., :3]) * visible, comp[..., 3:] - ref[..., 3:]], -1)
    max_err = float(np.abs(diff).max())
    mse = float(np.mean(diff**2))
    psnr = float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)
    return max_err, psnr
