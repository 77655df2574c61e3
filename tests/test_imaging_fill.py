"""Smooth fills: rendering a fitted polynomial, and the dominant colours fills are seeded from."""

from __future__ import annotations

import numpy as np
import pytest

from strata.imaging.fill import (
    Fill,
    colour_bins,
    dominant_colour,
    dominant_seeds,
    fit_fill,
    flat_image,
    gather,
    max_diff,
    paste,
)


def _reference(fill: Fill, height: int, width: int) -> np.ndarray:
    """The polynomial term by term in float64, clipped: what ``render`` must agree with."""
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    u, v = (u + 0.5) / width - 0.5, (v + 0.5) / height - 0.5
    terms = [np.ones_like(u), u, v, u * u, u * v, v * v][: len(fill.coef)]
    out = sum(t[..., None] * c for t, c in zip(terms, fill.coef, strict=True))
    return np.clip(out, 0.0, 1.0)


@pytest.mark.parametrize("degree", [0, 1, 2])
@pytest.mark.parametrize("size", [(1, 1), (1, 7), (9, 1), (37, 53)])
def test_render_evaluates_the_polynomial_on_every_pixel(degree: int, size: tuple[int, int]) -> None:
    rng = np.random.default_rng(degree * 100 + size[0])
    fill = Fill(rng.normal(0.5, 0.6, ({0: 1, 1: 3, 2: 6}[degree], 3)), degree, *size)
    rendered = fill.render()
    assert rendered.dtype == np.float32 and rendered.shape == (*size, 3) and rendered.flags.c_contiguous
    np.testing.assert_allclose(rendered, _reference(fill, *size), atol=2e-6)
    assert rendered.min() >= 0.0 and rendered.max() <= 1.0
    # Resampled to another box, the same fill stretched over it.
    np.testing.assert_allclose(fill.render(20, 30), _reference(fill, 20, 30), atol=2e-6)


def test_flat_image_is_one_writable_colour() -> None:
    image = flat_image(np.array([0.1, 0.5, 0.9]), 4, 6)
    assert image.shape == (4, 6, 3) and image.dtype == np.float32
    assert (image == np.float32([0.1, 0.5, 0.9])).all()
    image[0, 0] = 0.0  # a copy, not a broadcast view
    assert image[1, 1, 0] == np.float32(0.1)


def test_dominant_colour_is_the_mean_of_the_most_frequent_bin() -> None:
    red, blue = np.array([0.8, 0.1, 0.1], np.float32), np.array([0.1, 0.2, 0.9], np.float32)
    pixels = np.concatenate([np.tile(red, (30, 1)), np.tile(blue, (20, 1))])
    pixels[:10] += 0.004  # still red's bin: the mean moves with it
    np.testing.assert_allclose(dominant_colour(pixels), red + 0.004 * 10 / 30, atol=1e-6)
    assert dominant_colour(np.zeros((0, 3), np.float32)).shape == (3,)


def test_dominant_seeds_per_region_and_only_distinct_ones() -> None:
    rng = np.random.default_rng(1)
    image = rng.random((40, 50, 3)).astype(np.float32)
    image[:, :30] = [0.2, 0.6, 0.3]
    image[:, 30:] = [0.9, 0.9, 0.1]
    left, right = np.zeros((40, 50), bool), np.zeros((40, 50), bool)
    left[:, :35], right[:, 28:] = True, True
    seeds = dominant_seeds(image, (left, right), tol=0.1)
    assert len(seeds) == 2
    np.testing.assert_array_equal(seeds[0], dominant_colour(image[left]))
    np.testing.assert_array_equal(seeds[1], dominant_colour(image[right]))
    # A second region whose colour is the first's adds no seed; an empty one is skipped.
    assert len(dominant_seeds(image, (left, left & ~left, left[:, ::-1] & left), tol=0.1)) == 1
    # The bins of a crop may be given as the crop of the whole image's (the peel bins the canvas once).
    crop = (slice(5, 35), slice(20, 45))
    regions = (left[crop], right[crop])
    given = dominant_seeds(image[crop], regions, 0.1, colour_bins(image)[crop])
    assert len(given) == 2
    for seed, expected in zip(given, dominant_seeds(image[crop], regions, 0.1), strict=True):
        np.testing.assert_array_equal(seed, expected)


def test_fit_fill_recovers_a_gradient_and_its_pixels() -> None:
    fill = Fill(np.array([[0.5, 0.4, 0.3], [0.2, 0.0, -0.1], [0.0, 0.1, 0.05]]), 1, 60, 80)
    image = fill.render()
    image[20:30, 30:50] = [1.0, 0.0, 1.0]  # an element on it
    mask = np.ones((60, 80), bool)
    colour, inliers, distance = fit_fill(image, mask, image[0, 0], tol=0.05, degree=1)
    np.testing.assert_allclose(colour, fill.render(), atol=1e-4)
    assert not inliers[20:30, 30:50].any() and inliers.sum() == 60 * 80 - 200
    np.testing.assert_array_equal(distance, max_diff(image, colour))


def test_fit_fill_looks_only_at_the_mask_and_extends_the_fill_over_the_box() -> None:
    fill = Fill(np.array([[0.5, 0.4, 0.3], [0.2, 0.0, -0.1], [0.0, 0.1, 0.05]]), 1, 60, 80)
    image = fill.render()
    image[:, 50:] = [0.0, 1.0, 0.0]  # another element, outside the mask
    mask = np.zeros((60, 80), bool)
    mask[5:55, 3:45] = True
    colour, inliers, _ = fit_fill(image, mask, image[30, 20], tol=0.05, degree=1)
    np.testing.assert_allclose(colour, fill.render(), atol=1e-4)  # beyond the mask too
    np.testing.assert_array_equal(inliers, mask)


def test_gather_is_boolean_indexing() -> None:
    rng = np.random.default_rng(2)
    image = rng.random((30, 40, 3)).astype(np.float32)
    mask = rng.random((30, 40)) < 0.3
    np.testing.assert_array_equal(gather(image, mask), image[mask])
    crop, inside = image[5:25, 7:33], mask[5:25, 7:33]  # not contiguous
    np.testing.assert_array_equal(gather(crop, inside), crop[inside])
    pixels = image.reshape(-1, 3)
    np.testing.assert_array_equal(gather(pixels, mask.ravel()), pixels[mask.ravel()])
    assert gather(image, np.zeros((30, 40), bool)).shape == (0, 3)


def test_paste_copies_the_masked_pixels_in_place() -> None:
    rng = np.random.default_rng(3)
    target, source = rng.random((30, 40, 3)).astype(np.float32), rng.random((30, 40, 3)).astype(np.float32)
    mask = rng.random((30, 40)) < 0.4
    expected = np.where(mask[..., None], source, target)
    assert paste(target, source, mask) is target
    np.testing.assert_array_equal(target, expected)
    # Into a crop of a larger canvas (not contiguous), from another dtype, from a broadcast colour.
    canvas = np.zeros((50, 60, 3), np.float32)
    paste(canvas[10:40, 5:45], source.astype(np.float64), mask)
    np.testing.assert_array_equal(canvas[10:40, 5:45], np.where(mask[..., None], source, 0))
    assert not canvas[:10].any() and not canvas[40:].any() and not canvas[:, :5].any()
    flat = np.broadcast_to(np.float32([1, 2, 3]), (30, 40, 3))
    np.testing.assert_array_equal(paste(target.copy(), flat, mask)[mask], np.tile([1, 2, 3], (mask.sum(), 1)))


def test_max_diff_is_the_largest_channel_difference_for_every_layout() -> None:
    rng = np.random.default_rng(4)
    # Large enough for OpenCV's fused difference (whole, cropped, as rows); the others are numpy's.
    image, other = rng.random((240, 200, 3)).astype(np.float32), rng.random((240, 200, 3)).astype(np.float32)
    cases = [
        (image, other),  # whole images
        (image[3:200, 5:180], other[3:200, 5:180]),  # crops (not contiguous)
        (image[3:20, 5:33], other[3:20, 5:33]),  # small crops
        (image[::2, ::3], other[::2, ::3]),  # strided samples
        (image.reshape(-1, 3), other.reshape(-1, 3)),  # rows of pixels
        (image[:0], other[:0]),  # nothing
        (image.astype(np.float64), other.astype(np.float64)),
        (image, other[0, 0]),  # against one colour
    ]
    for a, b in cases:
        np.testing.assert_array_equal(max_diff(a, b), np.abs(a - b).max(axis=-1))
