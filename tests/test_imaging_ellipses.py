"""Circles cut off by a larger element completed under it (``strata.imaging.ellipses``)."""

import cv2
import numpy as np

from strata.imaging.elements import Element
from strata.imaging.ellipses import complete_ellipses


def shape(mask: np.ndarray, root: int, value: float) -> Element:
    ys, xs = np.nonzero(mask)
    top, left, bottom, right = ys.min(), xs.min(), ys.max() + 1, xs.max() + 1
    alpha = mask[top:bottom, left:right].astype(np.float32)
    colour = np.full((*alpha.shape, 3), value, np.float32)
    return Element(int(top), int(left), alpha, colour, 1, "shape", root)


def test_a_disc_cut_by_a_card_is_completed_under_the_card_and_a_square_is_not() -> None:
    canvas = (300, 400)
    card = np.zeros(canvas, bool)
    card[20:290, 150:380] = True
    disc = np.zeros(canvas, np.uint8)
    cv2.circle(disc, (140, 100), 55, 1, -1)
    square = np.zeros(canvas, bool)
    square[190:260, 70:170] = True  # clear of the disc, cut by the card's left side too
    elements = [shape(card, 1, 0.9), shape(disc.astype(bool) & ~card, 2, 0.3), shape(square & ~card, 3, 0.5)]
    complete_ellipses(elements)
    cut_disc, cut_square = elements[1], elements[2]
    completed = np.zeros(canvas, bool)
    top, left, bottom, right = cut_disc.box
    completed[top:bottom, left:right] = cut_disc.alpha >= 1.0
    circle = disc.astype(bool)
    # The disc again, under the card too (the fit runs through its outline pixels' centres, half a
    # pixel inside the drawn edge, so its rim ring may be missing).
    assert (completed & circle).sum() >= 0.96 * circle.sum()
    assert (completed & card & circle).sum() >= 0.9 * (card & circle).sum()
    assert (completed & ~circle).sum() <= 0.02 * circle.sum()
    assert np.allclose(cut_disc.colour[cut_disc.alpha >= 1.0], 0.3)
    assert cut_square.box == (190, 70, 260, 150) and cut_square.alpha.min() == 1.0  # left as it was


def test_a_disc_whose_cap_a_card_hides_is_completed_up_to_the_cards_rim() -> None:
    # Only a thin cap is hidden (a card over a circle's foot): a pixel of fitting error around the free
    # outline outweighs it, and the cut runs one pixel off the card, along the rim the two share.
    canvas = (300, 400)
    card = np.zeros(canvas, bool)
    card[160:290, 40:380] = True
    disc = np.zeros(canvas, np.uint8)
    cv2.circle(disc, (200, 90), 80, 1, -1)  # its foot, rows 160-170, lies under the card
    circle = disc.astype(bool)
    cut = circle.copy()
    cut[159:] = False  # a row of rim between the cut and the card belongs to neither
    elements = [shape(card, 1, 0.9), shape(cut, 2, 0.3)]
    complete_ellipses(elements)
    completed = np.zeros(canvas, bool)
    top, left, bottom, right = elements[1].box
    completed[top:bottom, left:right] = elements[1].alpha >= 1.0
    assert (completed & card & circle).sum() >= 0.9 * (card & circle).sum()
    assert (completed & ~circle).sum() <= 0.02 * circle.sum()
