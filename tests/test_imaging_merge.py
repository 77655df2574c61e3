"""Rasterising a planned layer: the straight-alpha "over" of its elements on a transparent canvas."""

from __future__ import annotations

import numpy as np

from strata.imaging.elements import Element
from strata.imaging.merge import carriers, rasterise


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


def test_a_circle_under_a_photo_keeps_its_completed_cap_and_a_scatter_does_not() -> None:
    # Layers back to front: a circle completed under the photo lying over its side, a shape made of
    # scattered pieces (a card's stray specks) partly under the photo, and the photo.
    yy, xx = np.mgrid[0:80, 0:80]
    circle = Element(
        10,
        10,
        ((yy - 40) ** 2 + (xx - 40) ** 2 <= 38**2).astype(np.float32),
        np.zeros((80, 80, 3), np.float32),
        1,
        "shape",
        1,
    )
    pieces = np.zeros((60, 60), np.float32)
    pieces[::12, ::12] = 1.0
    pieces[0:25, 0:25] = 1.0
    scatter = Element(100, 60, pieces, np.zeros((60, 60, 3), np.float32), 1, "shape", 2)
    photo = Element(30, 70, np.ones((90, 60), np.float32), np.ones((90, 60, 3), np.float32), 2, "photo", 3)
    kept = carriers([[circle], [scatter], [photo]], 200, 200)
    cap = np.zeros((200, 200), bool)
    cap[10:90, 10:90] = circle.alpha > 0
    cap[:30], cap[:, :70] = False, False  # outside the photo
    assert kept[0] is not None and (kept[0] == cap).all(), "the circle's cap under the photo is lost"
    assert kept[1] is None or not kept[1].any()
