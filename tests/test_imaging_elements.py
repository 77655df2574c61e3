"""Outlines that frame elements on a photo page (``strata.imaging.elements.framed``)."""

import cv2
import numpy as np

from strata.imaging.elements import framed, sharp_edges


def outline_of(mask: np.ndarray) -> np.ndarray:
    """The one-pixel step edges of a filled mask drawn on a flat grey image."""
    image = np.full((*mask.shape, 3), 0.5, np.float32)
    image[mask] = (0.9, 0.2, 0.1)
    return sharp_edges(image, 0.08)


def disc(shape: tuple[int, int], centre: tuple[int, int], radius: int) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.circle(mask, centre[::-1], radius, 1, -1)
    return mask.astype(bool)


def test_a_closed_outline_frames_its_inside_and_a_counter_stays_open() -> None:
    card = np.zeros((200, 300), bool)
    card[40:160, 60:240] = True
    ring = disc((200, 300), (100, 30), 14) & ~disc((200, 300), (100, 30), 7)  # an "o": thick stroke
    found = framed(outline_of(card | ring), kernel=5, min_area=200)
    assert found[50:150, 70:230].all()
    assert not found[100, 30] and not found[5, 5]


def test_the_canvas_edge_closes_a_cut_circle_but_not_the_page_along_it() -> None:
    circle = disc((200, 300), (100, 290), 40)  # cut by the right edge
    bar = np.zeros((200, 300), bool)
    bar[170:185, :] = True  # a band across the canvas: the page below it is cut off from the rest
    found = framed(outline_of(circle | bar), kernel=5, min_area=200)
    assert found[100, 275:299].all()
    assert not found[190:, :].any() and not found[20, 20]
