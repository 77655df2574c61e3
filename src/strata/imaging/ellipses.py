"""Circles and ellipses cut off by a larger element lying on them, completed under it.

A circle peeled on its own, beside the card that hides part of it, ends in a straight cut along the
card's edge: moved, it would show that cut. Where the rest of its outline is an ellipse, the part the
card hides is the rest of that ellipse.
"""

from __future__ import annotations

import cv2
import numpy as np

from strata.imaging.elements import Element, bottom_depths, merged, near_boxes
from strata.imaging.fill import flat_image

#: The fitted ellipse holds this share of the shape, this share of what it adds lies under the element
#: hiding it, and what it adds elsewhere is at most 1 − FIT of the shape (a rectangle is no ellipse);
#: it adds at least MIN_ADDED of the shape's area.
FIT = 0.97
MIN_ADDED = 0.02
#: Outline points within this many pixels of the hiding element are the cut, not the ellipse.
CUT = 4
#: Smaller shapes (dots, specks) are left as they are.
MIN_AREA = 400


def complete_ellipses(elements: list[Element]) -> None:
    """Complete each flat shape that is an ellipse cut off by a larger shape or photo of another
    component (in place: the shape's element is replaced by one whose fill continues under it)."""
    base = bottom_depths(elements)
    heads = [i for i, e in enumerate(elements) if e.kind in ("shape", "photo") and e.depth == base[e.root]]
    boxes = np.array([elements[i].box for i in heads]).reshape(-1, 4)
    for i in heads:
        shape = elements[i]
        if shape.kind != "shape" or shape.area < MIN_AREA:
            continue
        for k in near_boxes(boxes, shape.box, CUT):
            cover = elements[heads[k]]
            if cover.root != shape.root and cover.area > shape.area:
                added = _added(shape, cover)
                if added is not None:
                    elements[i] = merged([shape, added], shape.kind)
                    break


def _added(shape: Element, cover: Element) -> Element | None:
    """The part of the ellipse ``shape`` is that ``cover`` hides, in the shape's fill, or None."""
    top, left = min(shape.top, cover.top), min(shape.left, cover.left)
    bottom, right = max(shape.box[2], cover.box[2]), max(shape.box[3], cover.box[3])
    hidden = hidden_part(_place(shape, top, left, bottom, right), _place(cover, top, left, bottom, right))
    if hidden is None:
        return None
    ys, xs = np.nonzero(hidden)
    hidden = hidden[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    fill = np.median(shape.colour[shape.alpha >= 1.0], axis=0) if (shape.alpha >= 1.0).any() else 0.0
    colour = flat_image(fill, *hidden.shape)
    piece_top, piece_left = top + int(ys.min()), left + int(xs.min())
    return Element(
        piece_top, piece_left, hidden.astype(np.float32), colour, shape.depth, shape.kind, shape.root
    )


def hidden_part(mine: np.ndarray, theirs: np.ndarray) -> np.ndarray | None:
    """Where ``theirs`` (or its rim) hides the rest of the ellipse that shape ``mine`` is, or None
    when ``mine`` is no ellipse cut off by ``theirs`` (two masks of one window)."""
    contours, _ = cv2.findContours(mine.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return None
    points = max(contours, key=cv2.contourArea).reshape(-1, 2)
    near = cv2.dilate(theirs.astype(np.uint8), np.ones((2 * CUT + 1, 2 * CUT + 1), np.uint8)).astype(bool)
    free = points[~near[points[:, 1], points[:, 0]]]
    if len(free) < 20 or len(free) == len(points) or len(free) < 0.5 * len(points):
        return None
    fitted = np.zeros(mine.shape, np.uint8)
    cv2.ellipse(fitted, cv2.fitEllipse(free.astype(np.float32)), 1, -1)
    ellipse = fitted.astype(bool)
    area, added = int(mine.sum()), ellipse & ~mine
    if (mine & ~ellipse).sum() > (1 - FIT) * area or added.sum() < MIN_ADDED * area:
        return None
    # What it adds lies under the element or its rim (the cut runs along the rim, which mixes the two),
    # but for a pixel's fitting error along the free outline.
    grown = cv2.dilate(mine.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    if (added & ~near & ~grown).sum() > (1 - FIT) * added.sum() or (added & ~theirs).sum() > (1 - FIT) * area:
        return None
    return added & near


def _place(element: Element, top: int, left: int, bottom: int, right: int) -> np.ndarray:
    """The element's opaque pixels on the window (top, left)–(bottom, right)."""
    out = np.zeros((bottom - top, right - left), bool)
    e_top, e_left, e_bottom, e_right = element.box
    out[e_top - top : e_bottom - top, e_left - left : e_right - left] = element.alpha >= 0.5
    return out
