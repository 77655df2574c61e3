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
