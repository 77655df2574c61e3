"""Alpha against a known underlying colour (difference matting) and its inverse, unblending.

With straight-alpha "over", a pixel I showing colour F at opacity α over an underlying colour U is
``I = α F + (1 − α) U``. Knowing U (the background model, or the fill of the parent element) these
helpers recover α for an assumed F, the smallest α that any in-gamut F can explain, and F for a given α.
"""

from __future__ import annotations

import numpy as np

from strata.imaging.fill import channel_max

_EPS = 1e-6


def projection_alpha(image: np.ndarray, under: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """α = ((I − U)·(F − U)) / |F − U|², clipped to [0, 1]; 0 where F and U are (almost) equal."""
    direction, offset = fill - under, image - under
    # Channel by channel: a reduction over a last axis of length 3 is several times slower in numpy.
    norm = direction[..., 0] * direction[..., 0]
    dot = offset[..., 0] * direction[..., 0]
    for c in (1, 2):
        norm += direction[..., c] * direction[..., c]
        dot += offset[..., c] * direction[..., c]
    alpha = dot / np.maximum(norm, _EPS)
    alpha[norm < 1e-4] = 0.0
    return np.clip(alpha, 0.0, 1.0)


def min_alpha(image: np.ndarray, under: np.ndarray) -> np.ndarray:
    """The smallest α for which some colour F in [0, 1]³ gives ``α F + (1 − α) U = I``.

    Per channel: darker than U needs α ≥ (U − I) / U, lighter needs α ≥ (I − U) / (1 − U).
    """
    one = image.dtype.type(1)  # stay in the image's precision (float32 halves the time of float64)
    darker = np.where(under > _EPS, (under - image) / np.maximum(under, _EPS), (image < under) * one)
    lighter = np.where(
        under < 1 - _EPS, (image - under) / np.maximum(one - under, _EPS), (image > under) * one
    )
    worst = np.maximum(darker, lighter)
    return np.clip(channel_max(worst), 0.0, 1.0)


def unblend(image: np.ndarray, under: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """F = (I − (1 − α) U) / α, clipped to [0, 1]; where α is 0, F is I."""
    a = alpha[..., None]
    colour = np.where(a > _EPS, (image - (1.0 - a) * under) / np.maximum(a, _EPS), image)
    return np.clip(colour, 0.0, 1.0)
