"""Recolouring of straight-alpha layers: hue shift, tint keeping shading, brightness/contrast.

Each function maps a float RGB array in [0, 1] (H, W, 3) to a new one; alpha is never touched, so a
recoloured layer keeps its exact shape and edges.
"""

from __future__ import annotations

import numpy as np

#: Rec. 709 luma weights, used to measure shading.
_LUMA = np.array([0.2126, 0.7152, 0.0722])


def hue_shift(rgb: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate the HSV hue by ``degrees`` (120: red becomes green); saturation and value are kept."""
    maxc, minc = rgb.max(axis=-1), rgb.min(axis=-1)
    delta = maxc - minc
    safe = np.where(delta > 0, delta, 1.0)
    r, g, b = (rgb[..., i] for i in range(3))
    hue = np.where(maxc == r, (g - b) / safe, np.where(maxc == g, 2.0 + (b - r) / safe, 4.0 + (r - g) / safe))
    hue = (hue / 6.0 + degrees / 360.0) % 1.0
    return _from_hsv(hue, np.where(maxc > 0, delta / np.where(maxc > 0, maxc, 1.0), 0.0), maxc)


def _from_hsv(hue: np.ndarray, sat: np.ndarray, value: np.ndarray) -> np.ndarray:
    sector = hue * 6.0
    index = np.floor(sector).astype(int) % 6
    frac = sector - np.floor(sector)
    p, q, t = value * (1 - sat), value * (1 - sat * frac), value * (1 - sat * (1 - frac))
    table = [(value, t, p), (q, value, p), (p, value, t), (p, q, value), (t, p, value), (value, p, q)]
    out = np.zeros((*hue.shape, 3))
    for i, channels in enumerate(table):
        mask = index == i
        for c in range(3):
            out[..., c][mask] = channels[c][mask]
    return out


def tint(
    rgb: np.ndarray, alpha: np.ndarray, colour: tuple[int, int, int], strength: float = 1.0
) -> np.ndarray:
    """Recolour towards ``colour`` while keeping the layer's shading.

    The layer's alpha-weighted mean luma maps to exactly ``colour``; darker pixels go towards black and
    lighter ones towards white by the same luma difference, so a flat shape becomes exactly ``colour``
    and a shaded one keeps its light and shadow. ``strength`` in [0, 1] mixes with the original.
    """
    target = np.asarray(colour, np.float64) / 255.0
    luma = rgb @ _LUMA
    weights = alpha.astype(np.float64)
    mean = float((luma * weights).sum() / weights.sum()) if weights.sum() > 0 else float(luma.mean())
    target_luma = float(target @ _LUMA)
    shaded = np.clip(luma - mean + target_luma, 0.0, 1.0)[..., None]
    darker = target * shaded / max(target_luma, 1e-6)
    lighter = target + (1.0 - target) * (shaded - target_luma) / max(1.0 - target_luma, 1e-6)
    toned = np.where(shaded <= target_luma, darker, lighter)
    return np.clip(rgb + (toned - rgb) * strength, 0.0, 1.0)


def brightness_contrast(rgb: np.ndarray, brightness: float = 0.0, contrast: float = 1.0) -> np.ndarray:
    """``(rgb - 0.5) * contrast + 0.5 + brightness``, clipped: brightness in [-1, 1], contrast >= 0."""
    return np.clip((rgb - 0.5) * contrast + 0.5 + brightness, 0.0, 1.0)
