"""Smooth colour fills: flat, linear or quadratic colour as a function of position.

Design backgrounds, cards, buttons and glyphs are painted with a flat colour or a gentle gradient. A fill
is a per-channel polynomial in normalised (x, y) fitted robustly to the pixels that carry it; it can be
evaluated anywhere, which is how occluded parts (the card under a circle, the background under a
headline) are completed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Most pixels a fit looks at; more do not change a smooth model, they only cost time.
_MAX_SAMPLES = 20_000


@dataclass(frozen=True)
class Fill:
    """``colour(x, y) = Σ coef_k · term_k(u, v)`` with u, v the position normalised by the box size."""

    coef: np.ndarray  # (terms, 3)
    degree: int
    height: int
    width: int

    def render(self, height: int | None = None, width: int | None = None) -> np.ndarray:
        """Evaluate on the whole box (optionally resampled to another size): float32 (h, w, 3) in [0, 1]."""
        h, w = height or self.height, width or self.width
        v = ((np.arange(h, dtype=np.float32) + 0.5) / h - 0.5)[:, None]
        u = ((np.arange(w, dtype=np.float32) + 0.5) / w - 0.5)[None, :]
        terms = _terms(u, v, self.degree)
        out = np.zeros((h, w, 3), np.float32)
        for k, term in enumerate(terms):
            out += np.broadcast_to(term, (h, w))[..., None] * self.coef[k].astype(np.float32)
        return np.clip(out, 0.0, 1.0, out=out)


def _terms(u: np.ndarray, v: np.ndarray, degree: int) -> list[np.ndarray]:
    one = np.ones_like(u * v)
    if degree == 0:
        return [one]
    if degree == 1:
        return [one, u + 0 * v, v + 0 * u]
    return [one, u + 0 * v, v + 0 * u, u * u + 0 * v, u * v, v * v + 0 * u]


def max_diff(image: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Largest per-channel absolute difference, the distance every threshold in the engine uses."""
    return np.abs(image - colour).max(axis=-1)


def dominant_colour(pixels: np.ndarray) -> np.ndarray:
    """Centre of the most frequent 5-bit-per-channel colour bin of (n, 3) float pixels."""
    q = np.clip((pixels * 31.0 + 0.5).astype(np.int32), 0, 31)
    keys = (q[:, 0] << 10) | (q[:, 1] << 5) | q[:, 2]
    best = int(np.bincount(keys, minlength=1 << 15).argmax())
    binned = np.array([best >> 10, (best >> 5) & 31, best & 31], np.float32) / 31.0
    # Refine to the mean of the pixels in that bin, so a flat colour is recovered exactly.
    members = pixels[keys == best]
    return members.mean(axis=0).astype(np.float32) if len(members) else binned


def fit_fill(
    image: np.ndarray, mask: np.ndarray, seed: np.ndarray, tol: float, degree: int, rounds: int = 3
) -> tuple[Fill, np.ndarray]:
    """Fit a fill to the pixels of ``mask`` near ``seed``, re-selecting inliers against the model.

    Returns the fill and its inlier mask (pixels of ``mask`` within ``tol`` of the fill).
    """
    h, w = mask.shape
    inliers = mask & (max_diff(image, seed) < tol)
    fill = Fill(np.vstack([seed[None, :], np.zeros((_n_terms(degree) - 1, 3))]), degree, h, w)
    for _ in range(rounds):
        ys, xs = np.nonzero(inliers)
        if len(ys) < 4 * _n_terms(degree):
            break
        if len(ys) > _MAX_SAMPLES:
            pick = np.linspace(0, len(ys) - 1, _MAX_SAMPLES).astype(np.int64)
            ys, xs = ys[pick], xs[pick]
        u = (xs.astype(np.float64) + 0.5) / w - 0.5
        v = (ys.astype(np.float64) + 0.5) / h - 0.5
        design = np.stack(_terms(u, v, degree), axis=1)
        coef, *_ = np.linalg.lstsq(design, image[ys, xs].astype(np.float64), rcond=None)
        fill = Fill(coef, degree, h, w)
        inliers = mask & (max_diff(image, fill.render()) < tol)
    return fill, inliers


def _n_terms(degree: int) -> int:
    return {0: 1, 1: 3}.get(degree, 6)
