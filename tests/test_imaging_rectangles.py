"""Rectangles found from their sides on step maps (strata.imaging.rectangles)."""

from __future__ import annotations

import numpy as np

from strata.imaging.rectangles import draw, rectangles

SHAPE = (300, 400)


def steps(*boxes: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Step maps (between rows, between columns) of rectangles drawn whole."""
    horizontal, vertical = np.zeros(SHAPE, bool), np.zeros(SHAPE, bool)
    for top, left, bottom, right in boxes:
        horizontal[top, left:right] = horizontal[bottom, left:right] = True
        vertical[top:bottom, left] = vertical[top:bottom, right] = True
    return horizontal, vertical


def test_a_rectangle_whose_sides_fade_out_at_a_corner_is_found() -> None:
    horizontal, vertical = steps((40, 60, 240, 340))
    vertical[225:240, 60] = False  # the left side stops 15 pixels short of the bottom-left corner,
    horizontal[240, 60:140] = False  # the bottom side 80 pixels past it
    horizontal[40, 200:260] = False  # and the top side has a gap
    assert rectangles(horizontal, vertical, 60) == [(40, 60, 240, 340)]


def test_a_corner_with_no_step_near_it_is_no_corner() -> None:
    horizontal, vertical = steps((40, 60, 240, 340))
    vertical[150:240, 60] = False
    horizontal[240, 60:170] = False  # both sides gone for a hundred pixels around the corner
    assert rectangles(horizontal, vertical, 60) == []


def test_sides_of_several_elements_that_line_up_are_no_rectangle() -> None:
    # A square under a photo's bottom and beside a card's left side: between them lies the page,
    # though their sides line up with a rectangle around it.
    photo, card, square = (20, 30, 120, 200), (100, 200, 280, 380), (190, 40, 280, 130)
    horizontal, vertical = steps(photo, card, square)
    found = rectangles(horizontal, vertical, 60)
    assert sorted(found) == sorted([photo, card, square])


def test_text_rows_on_a_card_make_no_rectangles_inside_it() -> None:
    # Two lines of letters (boxes 10 pixels wide, 4 apart): their tops line up along most of the card.
    card = (40, 60, 240, 340)
    letters = [(row, x, row + 16, x + 10) for row in (90, 130) for x in range(80, 300, 14)]
    horizontal, vertical = steps(card, *letters)
    assert rectangles(horizontal, vertical, 60) == [card]


def test_two_cards_side_by_side_are_two_rectangles() -> None:
    left, right = (40, 40, 240, 190), (40, 190, 240, 360)  # they share a side
    horizontal, vertical = steps(left, right)
    assert sorted(rectangles(horizontal, vertical, 60)) == [left, right]


def test_draw_closes_the_outline() -> None:
    outline = np.zeros(SHAPE, bool)
    draw(outline, [(40, 60, 240, 340)])
    assert outline[40, 60:341].all() and outline[240, 60:341].all()
    assert outline[40:241, 60].all() and outline[40:241, 340].all()
    assert outline.sum() == 2 * 281 + 2 * 199
