"""The page model (``strata.imaging.background``) and the completion of a photo page under lifted elements."""

import numpy as np
from scipy import ndimage

from shared_data import load_benchmark
from strata.imaging.background import estimate_background, inpaint, without_elements


def gradient(height: int, width: int) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return np.stack([xs / width, ys / height, np.full_like(xs, 0.5)], -1)


def test_a_large_hole_is_filled_smoothly_from_around_it() -> None:
    page = gradient(300, 400)
    hole = np.zeros((300, 400), bool)
    hole[75:225, 100:300] = True  # a quarter of the page
    filled = inpaint(page, hole)
    error = np.abs(filled - page).max(-1)[hole]
    assert error.mean() < 0.08 and error.max() < 0.2
    # No streaks or facets: neighbouring pixels inside the hole differ by much less than a 1/255 step x 3.
    assert np.abs(np.diff(filled[80:220, 105:295], axis=1)).max() < 3 / 255


def test_pixels_away_from_the_hole_are_kept_exactly() -> None:
    page = np.random.default_rng(2).random((120, 160, 3)).astype(np.float32)
    hole = np.zeros((120, 160), bool)
    hole[40:80, 50:110] = True
    filled = inpaint(page, hole)
    margin = np.zeros_like(hole)
    margin[39:81, 49:111] = True  # one pixel of margin is filled too (anti-aliased rims)
    assert np.array_equal(filled[~margin], page[~margin])
    assert np.isfinite(filled).all() and filled.min() >= 0 and filled.max() <= 1


def test_nothing_to_fill_or_nothing_known_returns_the_image() -> None:
    page = gradient(20, 30)
    assert np.array_equal(inpaint(page, np.zeros((20, 30), bool)), page)
    assert np.array_equal(inpaint(page, np.ones((20, 30), bool)), page)


def test_a_gradient_page_behind_cards_and_titles_is_fitted_from_edge_to_edge() -> None:
    # Synthetic design 2: a page fading from light to dark (0.4 per channel, about 9 x the foreground
    # tolerance) behind two cards, a circle and two titles. Started from the page's darkest band (the
    # most common colour along the canvas edges), the fit must grow across the whole page: stopped
    # after a few rounds, the light top third was taken for one large "photo" element.
    truth, _ = load_benchmark("synthetic_designs").make_design(2)
    image = np.asarray(truth.image.convert("RGB"), np.float32) / 255.0
    page = truth.layers[0].to_array()[..., :3]
    model = estimate_background(image)
    assert not model.textured
    assert np.abs(model.colour - page).max() < 2 / 255


def test_elements_do_not_pull_the_photo_pages_model_beside_them() -> None:
    # Synthetic design 118: a photo page holding a photo, a magenta rounded rectangle, a square and two
    # titles. The median model takes the colours of the large elements past their edges, so much of
    # the page beside them stands out of it (foreground, by the engine's tolerance for photo pages);
    # made without them (filled in from around), the model leaves the page beside them as page.
    truth, _ = load_benchmark("synthetic_designs").make_design(118)
    image = np.asarray(truth.image.convert("RGB")).astype(np.float32) / 255.0
    elements = np.zeros(image.shape[:2], bool)
    for layer in truth.layers[1:]:
        elements |= layer.to_array()[..., 3] > 0
    background = estimate_background(image)
    assert background.textured
    page = ~ndimage.binary_dilation(elements, iterations=3)
    near = ndimage.binary_dilation(elements, iterations=30) & page  # the page within 30 pixels of them

    def standing_out(model: np.ndarray) -> int:
        return int(((np.abs(image - model).max(-1) > 0.12) & near).sum())

    before = standing_out(background.colour)
    after = standing_out(without_elements(image, ndimage.binary_dilation(elements, iterations=5)))
    assert before > 3000 and after < before / 3, (before, after)
