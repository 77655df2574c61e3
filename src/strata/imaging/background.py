"""The background model: the page colour behind every element, and its completion.

Designs mostly sit on a flat or gradient page. The model is a quadratic :class:`~strata.imaging.fill.Fill`
fitted on a copy of at most 0.25 MP, seeded with the most frequent colour of the border strip and, apart,
of the whole image (the fit that reaches the border and explains more pixels wins). Each fit grows from
its seed's band of the page for a few rounds; a gradient spanning the page needs more, so each is also
grown until it stops growing, and that fit is kept where it is tight. If the model explains too
little of the image or of its border strip, or explains it badly, the background is "textured" (a
photo or an illustration): the model is then a large median filter (made again by the engine with the
elements framed by their outlines filled in: :func:`without_elements`), and the parts hidden by
elements are completed by inpainting instead of by the fill.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from strata.imaging.fill import Fit, dominant_seeds, fit_fill, paste

#: Pixels within this max-channel distance of the model count as background.
TOL = 0.045
_MODEL_PIXELS = 250_000
_MIN_EXPLAINED = 0.15
_MAX_RESIDUAL = 0.035
#: A page fit grown for up to this many rounds per degree is kept when its residual spread is below
#: _TIGHT (a designer's gradient, banding included; not a photo it only approximates).
_GROWN = 8
_TIGHT = 0.0175
#: Below this weight a pyramid pixel has no known pixel in its footprint (see :func:`inpaint`).
_KNOWN = 1e-6
#: A flat page shows along the canvas edges: a flat colour explaining less of the border strip than
#: this is a large element (a card) on a photo, not the page.
_MIN_BORDER = 0.3


@dataclass
class Background:
    """Full-resolution model colour (H, W, 3 float32) and how it was obtained."""

    colour: np.ndarray
    textured: bool
    explained: float
    #: 95th percentile of the model's residual on the pixels it explains (noise, gradient banding).
    spread: float = 0.0


def estimate_background(image: np.ndarray, valid: np.ndarray | None = None) -> Background:
    """Fit the background model of a float32 (H, W, 3) image; ``valid`` marks opaque input pixels."""
    height, width = image.shape[:2]
    small = _downscale(image, _MODEL_PIXELS)
    small_valid = np.ones(small.shape[:2], bool) if valid is None else _downscale_mask(valid, small.shape)
    border = _border(small_valid.shape) & small_valid
    # Fits start from the dominant colours of the border strip and of the whole image. Both are fitted:
    # on a gradient page the border's colour explains only a band of it, and the image's most frequent
    # colour may be a large card's, so only the fitted models can be compared.
    seeds = dominant_seeds(small, (border, small_valid), TOL)
    fits = [_fit(small, small_valid, seed, border) for seed in seeds]
    fit = max(fits, key=lambda f: (f.at_border >= _MIN_BORDER, f.explained), default=None)
    if (
        fit is not None
        and fit.explained >= _MIN_EXPLAINED
        and fit.spread <= _MAX_RESIDUAL
        and fit.at_border >= _MIN_BORDER
    ):
        return Background(_upscale(fit.model, height, width), False, fit.explained, fit.spread)
    explained, spread = (fit.explained, fit.spread) if fit is not None else (0.0, 1.0)
    return Background(_median_model(small, height, width), True, explained, spread)


@dataclass
class _Fit:
    model: np.ndarray
    explained: float  # fraction of the valid pixels within TOL of the model
    spread: float  # 95th percentile of the residual on those pixels
    at_border: float  # fraction of the border strip they cover


def _fit(small: np.ndarray, valid: np.ndarray, seed: np.ndarray, border: np.ndarray) -> _Fit:
    # A gradient spanning the page takes many rounds to cover it (each reaches a little further from
    # the seed's band), linearly first: grown until it stops growing, it is the page where it fits
    # tightly. A textured page grown that far is explained loosely; it gets the few rounds that a
    # smooth model of part of it is allowed.
    grown = _measure(valid, border, fit_fill(small, valid, seed, TOL, 2, rounds=_GROWN, linear_rounds=_GROWN))
    if grown.spread <= _TIGHT:
        return grown
    return _measure(valid, border, fit_fill(small, valid, seed, TOL, degree=2))


def _measure(valid: np.ndarray, border: np.ndarray, fit: Fit) -> _Fit:
    inliers = fit.solid
    residual = fit.distance[inliers]
    return _Fit(
        fit.colour,
        float(inliers.sum()) / max(1, int(valid.sum())),
        float(np.percentile(residual, 95)) if residual.size else 1.0,
        float((inliers & border).sum()) / max(1, int(border.sum())),
    )


def complete_background(image: np.ndarray, background: Background, covered: np.ndarray) -> np.ndarray:
    """The background layer's colour (a new array): the model under ``covered`` pixels, the image elsewhere.

    A flat or gradient model is its own completion; a textured background is inpainted.
    """
    needs_inpainting = background.textured and covered.any()
    colour = fill_estimate(image, covered) if needs_inpainting else background.colour
    return paste(image.astype(np.float32), colour, covered)


def _border(shape: tuple[int, ...]) -> np.ndarray:
    """The strip along the canvas edges (3 % of the short side)."""
    h, w = shape[:2]
    strip = max(2, round(0.03 * min(h, w)))
    border = np.zeros((h, w), bool)
    border[:strip], border[-strip:], border[:, :strip], border[:, -strip:] = True, True, True, True
    return border


def without_elements(image: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """The textured page's model (a full-resolution float32 colour, as :class:`Background` holds it)
    with the ``hidden`` pixels first filled in from around them.

    A median window that holds much of a large element takes the element's colour, so the first
    model follows each element past its edge; the photo beside it then stands out of the model as
    foreground and joins the element and its neighbours into one group. Filled in from around (on
    the model's smaller copy), the elements found by their outlines no longer pull the model.
    """
    height, width = image.shape[:2]
    small = _downscale(image, _MODEL_PIXELS)
    if small.shape != image.shape:
        size = (small.shape[1], small.shape[0])
        hidden = cv2.resize(hidden.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0
    return _median_model(inpaint(small, hidden), height, width)


def _median_model(small: np.ndarray, height: int, width: int) -> np.ndarray:
    size = max(3, (min(small.shape[:2]) // 8) | 1)
    blurred = cv2.medianBlur(_to_uint8(small), min(size, 255))
    big = cv2.resize(blurred, (width, height), interpolation=cv2.INTER_LINEAR)
    return big.astype(np.float32) / 255.0


def inpaint(image: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """The ``covered`` pixels of a float32 (H, W, 3) image filled in from around them (pull-push).

    The hole, with one pixel of margin for anti-aliased rims, is filled from an image pyramid: each
    level averages the known pixels of the one below (Gaussian pull, weighted by how much of each
    footprint is known), and on the way back up a pixel keeps that local average where enough of its
    footprint is known and takes the coarser level's estimate where not. The fill is smooth and
    continues the colours around the hole; unlike marching methods (Telea) it leaves no streaks or
    facets in large holes, and it costs a few pyramid passes at any hole size.
    """
    hole = _hole(covered)
    return paste(image.astype(np.float32), _pull_push(image, hole), hole)


def fill_estimate(image: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """What :func:`inpaint` puts in the hole, as a float32 (H, W, 3) array over the whole canvas (off
    the hole it is no copy of the image: take only the pixels of ``covered`` or its hole)."""
    return _pull_push(image, _hole(covered))


def _pull_push(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    if hole.all() or not hole.any():
        return image.astype(np.float32)
    weight = (~hole).astype(np.float32)
    total = image.astype(np.float32, copy=False) * weight[..., None]
    levels: list[tuple[np.ndarray, np.ndarray]] = [(total, weight)]
    while min(weight.shape) > 2 and (weight <= _KNOWN).any():
        total, weight = np.asarray(cv2.pyrDown(total)), np.asarray(cv2.pyrDown(weight))
        levels.append((total, weight))
    filled = total / np.maximum(weight, _KNOWN)[..., None]
    if len(levels) == 1:
        return filled
    for total, weight in reversed(levels[1:-1]):
        coarse = cv2.pyrUp(filled, dstsize=(weight.shape[1], weight.shape[0]))
        trust = np.clip(2.0 * weight, 0.0, 1.0)[..., None]
        filled = trust * (total / np.maximum(weight, _KNOWN)[..., None]) + (1.0 - trust) * coarse
    # At full resolution no hole pixel is known: the hole takes the coarser estimate as it is.
    return np.asarray(cv2.pyrUp(filled, dstsize=(hole.shape[1], hole.shape[0])))


def _hole(covered: np.ndarray) -> np.ndarray:
    """``covered`` with one pixel of margin for anti-aliased rims."""
    return cv2.dilate(covered.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)


def _downscale(image: np.ndarray, pixels: int) -> np.ndarray:
    height, width = image.shape[:2]
    factor = (pixels / (height * width)) ** 0.5
    if factor >= 1.0:
        return image
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _upscale(model: np.ndarray, height: int, width: int) -> np.ndarray:
    if model.shape[:2] == (height, width):
        return model
    return cv2.resize(model, (width, height), interpolation=cv2.INTER_LINEAR)


def _downscale_mask(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if mask.shape == shape[:2]:
        return mask
    small = cv2.resize(mask.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    return small > 0.999


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
