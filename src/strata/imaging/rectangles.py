"""Rectangles on a photo page, found from their four sides.

A card or a photo pasted on a photo meets it in straight steps, but where the photo matches the
element's colour for a stretch (or something lies over a corner) its outline is open, and nothing
tells its inside from the page. A rectangle whose four sides are mostly steps, with steps at each
corner, is such an element: its outline is drawn whole. Its sides must be its own: one outline, or
on each side outlines that run along it, not the sides of other elements lining up around the page
between them (a photo above, a square in the corner, a card beside) or a line of text whose
letters' tops line up with a card's sides. Two elements side by side are not taken for one
rectangle around both: a step line across a rectangle, from side to side, splits it.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

#: (top, left, bottom, right): the rows and columns on which its sides' steps are marked.
Box = tuple[int, int, int, int]

#: Each side of a rectangle is at least this share steps, and its whole outline at least
#: :data:`OUTLINE`.
SIDE = 0.4
OUTLINE = 0.75
#: A step line inside a rectangle that is this share steps from side to side splits it.
ACROSS = 0.9
#: A corner holds steps (at least CORNER_STEPS) in the square of 1 / CORNER of the shortest side at it.
CORNER, CORNER_STEPS = 3, 3
#: A rectangle's sides are one outline when it holds this share of their steps, or else ...
ONE_OUTLINE = 0.8
#: ... most steps on each side belong to outlines that lie, within a corner square's side of the
#: rectangle, at least this much along its sides.
ALONG = 0.7
#: Candidate positions per axis: rows (columns) holding the longest runs of steps; rectangles
#: checked, those with most of their outline steps first (a checkerboard has steps everywhere).
MAX_LINES, MAX_RECTANGLES = 40, 64


def rectangles(horizontal: np.ndarray, vertical: np.ndarray, min_side: int) -> list[Box]:
    """The rectangles (top, left, bottom, right) outlined by the step maps ``horizontal`` (a step
    between a row and the one above it, marked on the lower one) and ``vertical`` (the same between
    columns): sides at least ``min_side`` long along rows and columns holding runs of steps that
    long. A step may lie a pixel off its side."""
    rows = cv2.dilate(horizontal.astype(np.uint8), np.ones((3, 1), np.uint8))
    columns = cv2.dilate(vertical.astype(np.uint8), np.ones((1, 3), np.uint8)).T
    ys, xs = _lines(horizontal, min_side), _lines(vertical.T, min_side)
    top, bottom = _pairs(ys, min_side)
    left, right = _pairs(xs, min_side)
    if not len(top) or not len(left):
        return []
    along_rows, along_columns = _prefix(rows), _prefix(columns)
    t, b, lf, r = top[:, None], bottom[:, None], left[None, :], right[None, :]
    width, height = r - lf, b - t
    shares = (
        (along_rows[t, r] - along_rows[t, lf]) / width,
        (along_rows[b, r] - along_rows[b, lf]) / width,
        (along_columns[lf, b] - along_columns[lf, t]) / height,
        (along_columns[r, b] - along_columns[r, t]) / height,
    )
    outline = (width * (shares[0] + shares[1]) + height * (shares[2] + shares[3])) / (2 * (width + height))
    # A side may fade out at a corner, or something may lie over it, but a corner with no step near
    # it is no corner: the rectangle runs past its element there.
    k = min_side // CORNER
    both = ((rows > 0) | (columns.T > 0)).astype(np.uint8)
    steps = summed_area(both)
    corners = [
        in_boxes(steps, y, x, y + k, x + k) >= CORNER_STEPS for y in (t, b - k + 1) for x in (lf, r - k + 1)
    ]
    found = (np.minimum.reduce(shares) >= SIDE) & (outline >= OUTLINE) & np.logical_and.reduce(corners)
    if not found.any():
        return []
    # Step pixels labelled by outline: joined across a pixel (a dotted side), and for whole outlines
    # across a third of a corner square (a side cut short of its corner).
    outlines, whole = _outlines(both, 3), _outlines(both, k // 3 | 1)
    boxes = []
    candidates = np.argwhere(found)
    best = np.argsort(-outline[found], kind="stable")[:MAX_RECTANGLES]
    for i, j in candidates[best]:
        box = (int(top[i]), int(left[j]), int(bottom[i]), int(right[j]))
        own = _one_outline(box, whole) or _own_sides(box, outlines, k)
        if own and not _split(box, ys, xs, along_rows, along_columns):
            boxes.append(box)
    return boxes


def draw(outline: np.ndarray, boxes: list[Box]) -> None:
    """Mark the sides of ``boxes`` on ``outline`` (each side on the row or column its steps mark)."""
    for top, left, bottom, right in boxes:
        outline[top, left : right + 1] = outline[bottom, left : right + 1] = True
        outline[top : bottom + 1, left] = outline[top : bottom + 1, right] = True


def long_runs(steps: np.ndarray, gap: int, min_length: int) -> tuple[np.ndarray, np.ndarray]:
    """The runs along the rows of the uint8 step map ``steps``, their gaps of up to ``gap`` pixels
    bridged: each run's pixels numbered (0 off any run), and each number's length where the run is
    at least ``min_length`` long and at least half steps (0 where it is not)."""
    bridged = cv2.morphologyEx(steps, cv2.MORPH_CLOSE, np.ones((1, gap + 1), np.uint8)).astype(bool)
    # A run starts where a row's pixel is set and its left one is not.
    padded = np.zeros((bridged.shape[0], bridged.shape[1] + 1), bool)
    padded[:, 1:] = bridged
    runs = np.cumsum(padded[:, 1:] & ~padded[:, :-1], dtype=np.int32).reshape(bridged.shape) * bridged
    length = np.bincount(runs.ravel(), minlength=int(runs.max()) + 1)
    count = np.bincount(runs[steps.astype(bool)], minlength=len(length))
    keep = (length >= min_length) & (2 * count >= length)
    keep[0] = False
    return runs, length * keep


def _lines(steps: np.ndarray, min_side: int) -> np.ndarray:
    """Rows of ``steps`` holding a run of steps at least ``min_side`` long (its gaps under a tenth of
    it, half of it steps), the :data:`MAX_LINES` with the longest runs, a row or two apart."""
    runs, length = long_runs(steps.astype(np.uint8), max(1, min_side // 10), min_side)
    best = length[runs].max(axis=1)  # each row's longest run
    chosen: list[int] = []
    for row in np.argsort(-best, kind="stable"):
        if best[row] == 0 or len(chosen) >= MAX_LINES:
            break
        if all(abs(int(row) - c) > 2 for c in chosen):
            chosen.append(int(row))
    return np.array(sorted(chosen), np.int64)


def _pairs(positions: np.ndarray, min_side: int) -> tuple[np.ndarray, np.ndarray]:
    """All (lower, higher) pairs of ``positions`` at least ``min_side`` apart."""
    a, b = np.triu_indices(len(positions), 1)
    keep = positions[b] - positions[a] >= min_side
    return positions[a][keep], positions[b][keep]


def summed_area(mask: np.ndarray) -> np.ndarray:
    """Summed-area table of a mask, a row and a column of zeros first (int32: canvases stay far
    below 2³¹ pixels)."""
    return cv2.integral(mask.astype(np.uint8))


def in_boxes(table: np.ndarray, top: Any, left: Any, bottom: Any, right: Any) -> Any:
    """Pixels a summed-area ``table`` counts in each box (sides: numbers, or arrays broadcast together)."""
    return table[bottom, right] - table[top, right] - table[bottom, left] + table[top, left]


def _prefix(steps: np.ndarray) -> np.ndarray:
    """Steps counted along each row: ``out[y, x]`` is the number in ``steps[y, :x]``."""
    out = np.zeros((steps.shape[0], steps.shape[1] + 1), np.int32)
    np.cumsum(steps, axis=1, out=out[:, 1:])
    return out


def _outlines(steps: np.ndarray, reach: int) -> np.ndarray:
    """The step pixels labelled by outline: connected once steps ``reach`` pixels apart are joined."""
    _, labels = cv2.connectedComponents(cv2.dilate(steps, np.ones((reach, reach), np.uint8)), connectivity=8)
    return labels * steps


def _sides(labels: np.ndarray, box: Box) -> tuple[np.ndarray, ...]:
    """The values of ``labels`` along the top, bottom, left and right sides of ``box``."""
    top, left, bottom, right = box
    return (
        labels[top, left:right],
        labels[bottom, left:right],
        labels[top:bottom, left],
        labels[top:bottom, right],
    )


def _one_outline(box: Box, outlines: np.ndarray) -> bool:
    """Whether the steps on the sides of ``box`` belong to one outline (``outlines``: step pixels
    labelled by connected outline): most of them, and most on each side (a line of text lined up
    with the top of the card it lies on is no side of it)."""
    sides = _sides(outlines, box)
    size = max(int(side.max(initial=0)) for side in sides) + 1
    counts = [np.bincount(side[side > 0], minlength=size) for side in sides]
    total = np.sum(counts, axis=0)
    main = int(np.argmax(total))
    return total[main] >= ONE_OUTLINE * total.sum() and all(
        2 * count[main] >= count.sum() for count in counts
    )


def _own_sides(box: Box, outlines: np.ndarray, margin: int) -> bool:
    """Whether the steps on each side of ``box`` are mostly the box's own: outlines (``outlines``:
    step pixels labelled by connected outline) that run along its sides within ``margin`` of it, not
    the outline of an element whose side lines up with it (a square in its corner, a photo above
    it) or a line of text whose letters' tops line up."""
    top, left, bottom, right = box
    y0, x0 = max(0, top - margin), max(0, left - margin)
    near = outlines[y0 : bottom + margin + 1, x0 : right + margin + 1]
    band = np.zeros(near.shape, bool)  # a pixel either side of the sides
    t, lf, b, r = top - y0, left - x0, bottom - y0, right - x0
    band[max(0, t - 1) : t + 2, max(0, lf - 1) : r + 2] = band[b - 1 : b + 2, max(0, lf - 1) : r + 2] = True
    band[max(0, t - 1) : b + 2, max(0, lf - 1) : lf + 2] = band[max(0, t - 1) : b + 2, r - 1 : r + 2] = True
    size = int(near.max()) + 1
    held = np.bincount(near.ravel(), minlength=size)
    along = np.bincount(near[band], minlength=size) >= ALONG * held
    along[0] = False
    for side in _sides(near, (t, lf, b, r)):
        labels = side[side > 0]
        if 2 * np.count_nonzero(along[labels]) < len(labels):
            return False
    return True


def _split(
    box: Box, ys: np.ndarray, xs: np.ndarray, along_rows: np.ndarray, along_columns: np.ndarray
) -> bool:
    """Whether a step line runs across ``box`` from side to side, away from its own sides."""
    top, left, bottom, right = box
    rows = ys[(ys > top + 2) & (ys < bottom - 2)]
    columns = xs[(xs > left + 2) & (xs < right - 2)]
    across_rows = along_rows[rows, right] - along_rows[rows, left] >= ACROSS * (right - left)
    across_columns = along_columns[columns, bottom] - along_columns[columns, top] >= ACROSS * (bottom - top)
    return bool(across_rows.any() or across_columns.any())
