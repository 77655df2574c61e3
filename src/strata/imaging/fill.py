"""Smooth colour fills: flat, linear or quadratic colour as a function of position.

Design backgrounds, cards, buttons and glyphs are painted with a flat colour or a gentle gradient. A fill
is a per-channel polynomial in normalised (x, y) fitted robustly to the pixels that carry it; it can be
evaluated anywhere, which is how occluded parts (the card under a circle, the background under a
headline) are completed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import cv2
import numpy as np

#: Most pixels a fit looks at; more do not change a smooth model, they only cost time.
_MAX_SAMPLES = 40_000
#: Values from which OpenCV's fused absolute difference beats numpy's (a call costs some 10 µs).
_FUSED = 100_000


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
        if self.degree == 0:
            return flat_image(np.clip(self.coef[0], 0.0, 1.0), h, w)
        v = ((np.arange(h, dtype=np.float32) + 0.5) / h - 0.5)[:, None]
        u = ((np.arange(w, dtype=np.float32) + 0.5) / w - 0.5)[None, :]
        c = np.zeros((6, 3), np.float32)
        c[: len(self.coef)] = self.coef
        # Separable: per-row constant and slope (h, 3), then each channel as a contiguous plane (numpy
        # is several times slower broadcasting over a last axis of 3), interleaved by OpenCV.
        rows = c[0] + c[2] * v + c[5] * v * v
        slope = c[1] + c[4] * v
        planes = []
        for k in range(3):
            plane = slope[:, k, None] * u
            plane += rows[:, k, None]
            if self.degree >= 2:
                plane += c[3, k] * (u * u)
            planes.append(np.clip(plane, 0.0, 1.0, out=plane))
        return cv2.merge(planes)


def flat_image(colour: np.ndarray | float, height: int, width: int) -> np.ndarray:
    """A float32 (height, width, 3) image of one colour (one row broadcast down: many times faster
    than broadcasting the colour over every pixel)."""
    row = np.broadcast_to(np.asarray(colour, np.float32), (width, 3)).copy()
    return np.broadcast_to(row, (height, width, 3)).copy()


def max_diff(image: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Largest per-channel absolute difference, the distance every threshold in the engine uses."""
    if colour.shape == image.shape and image.dtype == colour.dtype == np.float32 and image.size >= _FUSED:
        # One fused pass for the absolute difference (OpenCV: a 2-D array is one channel, a 3-D one
        # has the last axis as channels), then the largest channel.
        return channel_max(cv2.absdiff(image, colour))
    if colour.shape == image.shape:
        diff = image - colour
        return channel_max(np.abs(diff, out=diff))
    # Against one colour (or a row of them): channel by channel, since numpy is slow broadcasting over
    # a last axis of length 3.
    colour = np.broadcast_to(colour, image.shape)
    out = np.abs(image[..., 0] - colour[..., 0])
    for c in (1, 2):
        np.maximum(out, np.abs(image[..., c] - colour[..., c]), out=out)
    return out


def gather(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``values[mask]`` for (..., c) ``values`` and a boolean ``mask`` over their pixels: the same
    (n, c) array, several times faster than numpy's boolean indexing of short rows."""
    rows = values.reshape(-1, values.shape[-1])  # a view, or one copy of a non-contiguous crop
    return np.take(rows, np.flatnonzero(mask), axis=0)


def paste(target: np.ndarray, source: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Copy the pixels of ``mask`` from ``source`` into ``target`` (same (h, w, c) shape), in place;
    returns ``target``.

    Each pixel is moved as one item (a view with one c-value item per pixel): many times faster than
    ``np.copyto(..., where=mask[..., None])``, which tests the mask once per channel.
    """
    if target.dtype == source.dtype and _pixel_items(target) and _pixel_items(source):
        item = np.dtype((np.void, target.shape[-1] * target.itemsize))
        np.copyto(target.view(item)[..., 0], source.view(item)[..., 0], where=mask)
    else:
        np.copyto(target, source, where=mask[..., None])
    return target


def _pixel_items(values: np.ndarray) -> bool:
    """Whether each pixel's values lie side by side in memory (so it can be viewed as one item)."""
    return values.ndim >= 2 and values.strides[-1] == values.itemsize


def channel_max(values: np.ndarray) -> np.ndarray:
    """The largest of the three channels of (..., 3) ``values`` (several times faster than a
    reduction over the last axis)."""
    out = np.maximum(values[..., 0], values[..., 1])
    return np.maximum(out, values[..., 2], out=out)


def dominant_colour(pixels: np.ndarray) -> np.ndarray:
    """Centre of the most frequent 5-bit-per-channel colour bin of (n, 3) float pixels."""
    return _dominant(pixels, colour_bins(pixels))


def dominant_seeds(
    image: np.ndarray, regions: tuple[np.ndarray, ...], tol: float, bins: np.ndarray | None = None
) -> list[np.ndarray]:
    """The dominant colour of each non-empty region of ``image``; a later one only when it differs from
    the first by at least ``tol`` (a fill is fitted from each, and the fits compared).

    ``bins``: the image's :func:`colour_bins`, when known (a crop of the canvas's).
    """
    if bins is None:
        bins = colour_bins(image)  # once for the box: cheaper than gathering each region's pixels first
    seeds: list[np.ndarray] = []
    for region in regions:
        if region.any():
            seed = _dominant(image, bins, region)
            if not seeds or np.abs(seeds[0] - seed).max() >= tol:
                seeds.append(seed)
    return seeds


def colour_bins(pixels: np.ndarray) -> np.ndarray:
    """Each pixel's 5-bit-per-channel colour bin, as one integer."""
    q = np.clip((pixels * 31.0 + 0.5).astype(np.int32), 0, 31)
    return (q[..., 0] << 10) | (q[..., 1] << 5) | q[..., 2]


def _dominant(pixels: np.ndarray, bins: np.ndarray, region: np.ndarray | None = None) -> np.ndarray:
    """:func:`dominant_colour` of ``pixels`` (of those in ``region``) given their ``bins``."""
    best = int(np.bincount(bins if region is None else bins[region], minlength=1 << 15).argmax())
    # Refine to the mean of the pixels in that bin, so a flat colour is recovered exactly.
    members = gather(pixels, bins == best if region is None else region & (bins == best))
    if len(members):
        return members.mean(axis=0).astype(np.float32)
    return np.array([best >> 10, (best >> 5) & 31, best & 31], np.float32) / 31.0


class Fit(NamedTuple):
    """A fill fitted over a box (see :func:`fit_fill`)."""

    colour: np.ndarray  # float32 (h, w, 3)
    solid: np.ndarray  # the mask's pixels within the tolerance of it
    distance: np.ndarray  # every pixel's max-channel distance to it


def fit_fill(
    image: np.ndarray,
    mask: np.ndarray,
    seed: np.ndarray,
    tol: float,
    degree: int,
    rounds: int = 3,
    linear_rounds: int = 1,
) -> Fit:
    """Fit a fill to the pixels of ``mask`` near ``seed``, re-selecting inliers against the model.

    Returns the fill rendered over the box, its inlier mask (pixels of ``mask`` within ``tol`` of it)
    and every pixel's distance to it. The rounds run on a regular subsample of the box: a smooth
    model needs no more. A quadratic starts from ``linear_rounds`` rounds of a linear fit: fitted to
    the seed's few pixels it would extrapolate wildly and capture neighbouring elements. A degree's
    rounds end early once its inliers stop changing.
    """
    h, w = mask.shape
    step = max(1, int(np.ceil(np.sqrt(h * w / _MAX_SAMPLES))))
    # The rounds look only at the sampled pixels of the mask (rows of terms and of colours).
    sampled = mask[::step, ::step]
    terms = gather(_sample_terms(h, w, step, degree), sampled)
    values = gather(image[::step, ::step], sampled)
    coef = np.vstack([seed[None, :], np.zeros((_n_terms(degree) - 1, 3))])
    inliers = max_diff(values, seed) < tol
    for d, count in [(degree, rounds)] if degree < 2 else [(1, linear_rounds), (degree, rounds)]:
        n = _n_terms(d)
        for _ in range(count):
            if inliers.sum() < 4 * n:
                break
            found = _least_squares(gather(terms, inliers)[:, :n], gather(values, inliers).astype(np.float64))
            coef = np.vstack([found, np.zeros((_n_terms(degree) - n, 3))])
            before, inliers = inliers, max_diff(values, (terms @ coef).astype(np.float32)) < tol
            if np.array_equal(before, inliers):
                break
    colour = Fill(coef, degree, h, w).render()
    distance = max_diff(image, colour)
    return Fit(colour, mask & (distance < tol), distance)


@lru_cache(maxsize=4)
def _sample_terms(h: int, w: int, step: int, degree: int) -> np.ndarray:
    """The polynomial's terms (1, u, v, u², uv, v²: as many as ``degree`` needs) at every ``step``-th
    pixel of an (h, w) box: (h / step, w / step, terms).

    Cached (read-only): the fits of one box (its seeds, a larger fill, the page's rounds) share them.
    """
    u = (np.arange(0, w, step, dtype=np.float64) + 0.5) / w - 0.5
    v = (np.arange(0, h, step, dtype=np.float64) + 0.5) / h - 0.5
    terms = np.empty((len(v), len(u), _n_terms(degree)))
    terms[..., 0] = 1.0
    if degree >= 1:
        terms[..., 1], terms[..., 2] = u, v[:, None]
    if degree >= 2:
        terms[..., 3], terms[..., 4], terms[..., 5] = u * u, v[:, None] * u, (v * v)[:, None]
    terms.flags.writeable = False
    return terms


def _least_squares(design: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Normal equations with a tiny ridge: 6 unknowns, so this is exact enough and much cheaper."""
    gram = design.T @ design + 1e-9 * np.eye(design.shape[1])
    return np.linalg.solve(gram, design.T @ values)


def _n_terms(degree: int) -> int:
    return {0: 1, 1: 3}.get(degree, 6)
