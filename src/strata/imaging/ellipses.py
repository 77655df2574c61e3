"""Circles and ellipses cut off by a larger element lying on them, completed under it.

A circle peeled on its own, beside the card that hides part of it, ends in a straight cut along the
card's edge: moved, it would show that cut. Where the rest of its outline is an ellipse, the part the
card hides is the rest of that ellipse.
"""

from __future__ import annotations

import cv2
import numpy as np

from strata.imaging.elements import Element, bottom_depths

#: The fitted ellipse holds this share of the shape, this share of what it adds lies under the element
#: hiding it, and what it adds elsewhere is at most 1 − FIT of the shape (a rectangle is no ellipse);
#: it adds at least MIN_ADDED of the shape's area.
FIT = 0.97
MIN_ADDED = 0.02
#: Outline points within this many pixels of the hiding element are the cut, not the ellipse.
CUT = 4
#: Smaller shapes (dots, specks) are left as they are.
_MIN_AREA = 400


def complete_ellipses(elements: list[Element]) -> None:
    """Complete each flat shape that is an ellipse cut off by a larger shape of another component
    (in place: its box grows, its fill continues under the larger shape)."""
    base = bottom_depths(elements)
    heads = [e for e in elements if e.kind == "shape" and e.depth == base[e.root]]
    for shape in heads:
        if shape.area < _MIN_AREA:
            continue
        for cover in heads:
            if (
                cover.root != shape.root
                and cover.area > shape.area
                and _near(shape, cover)
                and _complete(shape, cover)
            ):
                break


def _near(a: Element, b: Element) -> bool:
    ta, la, ba, ra = a.box
    tb, lb, bb, rb = b.box
    return ta <= bb + CUT and tb <= ba + CUT and la <= rb + CUT and lb <= ra + CUT


def _complete(shape: Element, cover: Element) -> bool:
    top, left = min(shape.top, cover.top), min(shape.left, cover.left)
    bottom, right = max(shape.box[2], cover.box[2]), max(shape.box[3], cover.box[3])
    mine, theirs = _place(shape, top, left, bottom, right), _place(cover, top, left, bottom, right)
    contours, _ = cv2.findContours(mine.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return False
    points = max(contours, key=cv2.contourArea).reshape(-1, 2)
    near = cv2.dilate(theirs.astype(np.uint8), np.ones((2 * CUT + 1, 2 * CUT + 1), np.uint8)).astype(bool)
    free = points[~near[points[:, 1], points[:, 0]]]
    if len(free) < 20 or len(free) == len(points) or len(free) < 0.5 * len(points):
        return False
    fitted = np.zeros(mine.shape, np.uint8)
    cv2.ellipse(fitted, cv2.fitEllipse(free.astype(np.float32)), 1, -1)
    ellipse = fitted.astype(bool)
    area, added = int(mine.sum()), ellipse & ~mine
    if (mine & ~ellipse).sum() > (1 - FIT) * area or added.sum() < MIN_ADDED * area:
        return False
    if (added & theirs).sum() < FIT * added.sum() or (added & ~theirs).sum() > (1 - FIT) * area:
        return False
    _grow(shape, added & theirs, top, left)
    return True


def _place(element: Element, top: int, left: int, bottom: int, right: int) -> np.ndarray:
    """The element's opaque pixels on the window (top, left)–(bottom, right)."""
    out = np.zeros((bottom - top, right - left), bool)
    e_top, e_left, e_bottom, e_right = element.box
    out[e_top - top : e_bottom - top, e_left - left : e_right - left] = element.alpha >= 0.5
    return out


def _grow(shape: Element, added: np.ndarray, top: int, left: int) -> None:
    """Give ``shape`` the ``added`` pixels (of the window at ``top, left``), opaque, in its fill."""
    ys, xs = np.nonzero(added)
    new_top, new_left = min(shape.top, top + int(ys.min())), min(shape.left, left + int(xs.min()))
    new_bottom = max(shape.box[2], top + int(ys.max()) + 1)
    new_right = max(shape.box[3], left + int(xs.max()) + 1)
    alpha = np.zeros((new_bottom - new_top, new_right - new_left), np.float32)
    colour = np.zeros((*alpha.shape, 3), np.float32)
    old = (
        slice(shape.top - new_top, shape.box[2] - new_top),
        slice(shape.left - new_left, shape.box[3] - new_left),
    )
    alpha[old], colour[old] = shape.alpha, shape.colour
    fill = np.median(shape.colour[shape.alpha >= 1.0], axis=0) if (shape.alpha >= 1.0).any() else 0.0
    rows, cols = ys + top - new_top, xs + left - new_left
    alpha[rows, cols] = 1.0
    colour[rows, cols] = fill
    shape.top, shape.left, shape.alpha, shape.colour = new_top, new_left, alpha, colour
