"""Straight-alpha over: checked against hand-computed values and Pillow's own alpha_composite."""

import numpy as np
from PIL import Image

from strata.imaging.compose import over, over_uint8, reconstruction_error


def test_opaque_top_hides_bottom():
    bottom = np.full((2, 2, 4), (10, 20, 30, 255), np.uint8)
    top = np.full((2, 2, 4), (200, 100, 50, 255), np.uint8)
    assert (over_uint8([bottom, top]) == top).all()


def test_half_alpha_mixes():
    bottom = np.full((1, 1, 4), (0, 0, 0, 255), np.uint8)
    top = np.full((1, 1, 4), (255, 255, 255, 51), np.uint8)
    assert over([bottom, top])[0, 0, 0] == np.float64(0.2)


def test_matches_pillow_alpha_composite():
    rng = np.random.default_rng(0)
    layers = [rng.integers(0, 256, (16, 16, 4), dtype=np.uint8) for _ in range(3)]
    images = [Image.fromarray(layer) for layer in layers]
    expected = Image.alpha_composite(Image.alpha_composite(images[0], images[1]), images[2])
    diff = over_uint8(layers).astype(int) - np.asarray(expected).astype(int)
    assert np.abs(diff).max() <= 1


def test_reconstruction_error_of_exact_stack():
    target = np.random.default_rng(1).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    layer = np.concatenate([target, np.full((8, 8, 1), 255, np.uint8)], -1)
    max_err, psnr = reconstruction_error([layer], target)
    assert max_err == 0 and psnr == float("inf")
    off = target.copy()
    off[0, 0, 0] = 100
    layer[0, 0, 0] = 103
    max_err, _ = reconstruction_error([layer], off)
    assert max_err == 3


def test_shown_and_visible_box_match_the_alpha_channel():
    from strata.imaging.compose import shown, visible_box

    rng = np.random.default_rng(5)
    layer = rng.integers(0, 256, (30, 40, 4), dtype=np.uint8)
    layer[..., 3] = 0
    layer[7:12, 20:33, 3] = rng.integers(0, 256, (5, 13), dtype=np.uint8)
    layer[9, 25, 3] = 1
    np.testing.assert_array_equal(shown(layer), layer[..., 3] > 0)
    np.testing.assert_array_equal(shown(layer[:, 10:]), layer[:, 10:, 3] > 0)  # a crop: not contiguous
    rows, columns = np.nonzero(layer[..., 3])
    assert visible_box(layer) == (slice(rows.min(), rows.max() + 1), slice(columns.min(), columns.max() + 1))
    assert visible_box(np.zeros((4, 4, 4), np.uint8)) is None
    assert visible_box(layer[:, 10:]) == (slice(rows.min(), rows.max() + 1), slice(10, 23))  # a crop


def test_composite_of_a_decomposition_layout_equals_the_full_canvas_formula():
    """Layers mostly transparent, one opaque at the bottom: what ``over`` skips off each layer's box
    changes nothing (checked against the formula applied on the whole canvas)."""
    rng = np.random.default_rng(6)
    layers = [np.dstack([rng.integers(0, 256, (50, 60, 3)), np.full((50, 60), 255)]).astype(np.uint8)]
    for top, left in ((5, 5), (20, 30), (40, 0)):
        layer = np.zeros((50, 60, 4), np.uint8)
        layer[top : top + 10, left : left + 20] = rng.integers(0, 256, (10, 20, 4))
        layers.append(layer)
    premul, alpha = np.zeros((50, 60, 3)), np.zeros((50, 60, 1))
    for layer in layers:
        rgba = layer / 255.0
        premul = rgba[..., :3] * rgba[..., 3:] + premul * (1 - rgba[..., 3:])
        alpha = rgba[..., 3:] + alpha * (1 - rgba[..., 3:])
    np.testing.assert_array_equal(over(layers), np.concatenate([premul / alpha, alpha], axis=-1))
