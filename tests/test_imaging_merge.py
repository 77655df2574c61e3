"""Rasterising a planned layer: the straight-alpha "over" of its elements on a transparent canvas."""

from __future__ import annotations

import numpy as np

from strata.imaging.elements import Element
from strata.imaging.merge import rasterise


def _over(elements: list[Element], height: int, width: int, valid: np.ndarray) -> np.ndarray:
    """Premultiplied "over" in float64, element by element on the whole canvas: the reference."""
    premul, alpha = np.zeros((height, width, 3)), np.zeros((height, width))
    for e in elements:
        a = np.zeros((height, width))
        colour = np.zeros((height, width, 3))
        t, lf, b, r = e.box
        a[t:b, lf:r], colour[t:b, lf:r] = e.alpha, e.colour
        a *= valid
        premul = premul * (1 - a[..., None]) + colour * a[..., None]
        alpha = a + alpha * (1 - a)
    straight = premul / np.maximum(alpha, 1e-6)[..., None]
    return np.dstack([straight, alpha])


def test_rasterise_composites_opaque_rim_and_clear_pixels() -> None:
    rng = np.random.default_rng(4)

    def element(top: int, left: int, h: int, w: int) -> Element:
        alpha = np.ones((h, w), np.float32)
        alpha[:, :3] = rng.random((h, 3)).astype(np.float32)  # a soft rim
        alpha[:2] = 0.0  # transparent rows
        return Element(top, left, alpha, rng.random((h, w, 3)).astype(np.float32), 1, "shape", 1)

    layer = [element(5, 5, 20, 30), element(15, 20, 25, 25), element(0, 40, 10, 8)]
    valid = np.ones((50, 60), np.float32)
    valid[30:, :] = 0.0  # pixels that are not fully opaque in an RGBA input carry no element
    out = rasterise(layer, 50, 60, valid.astype(bool))
    expected = np.clip(_over(layer, 50, 60, valid) * 255 + 0.5, 0, 255).astype(np.uint8)
    assert out.dtype == np.uint8 and out.shape == (50, 60, 4)
    shown = expected[..., 3] > 0
    assert np.abs(out.astype(int) - expected.astype(int))[shown].max() <= 1
    np.testing.assert_array_equal(out[..., 3], expected[..., 3])
    assert not out[~shown, 3].any() and not out[30:].any()
