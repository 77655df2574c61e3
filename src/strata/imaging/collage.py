"""Photo collages: a photo region that is several overlapping rectangular photos, told apart.

Photos laid over each other (a collage, a stack of snapshots) touch, so the peel finds one photo-like
region for all of them. When that region is, up to a few rim pixels, the union of a few axis-aligned
rectangles whose sides run along its outline, and the side of one rectangle that crosses another
shows as a step in the image (one photo's edge lying on the other's content), the region is those
photos, stacked so that each lies under the ones whose sides cross it.
"""

from __future__ import annotations

import numpy as np

from strata.imaging.elements import Box, box_inside, sharp_edges
from strata.imaging.rectangles import in_boxes, summed_area

#: A photo's side is at least this many pixels long.
MIN_SIDE = 16
#: A rectangle is a photo of the region when this share of it is the region (or hidden by what
#: lies on it), and the rectangles together leave at most 1 − COVER of the region out.
INSIDE = 0.97
COVER = 0.97
#: At most this many photos; and sides taken from this many positions per axis (the longest).
MAX_PHOTOS = 4
_MAX_COORDS = 12
#: A photo's side is a step of more than this (max channel) in the image.
STEP = 0.1
#: A photo lies on another when at least this share of its sides crossing the other are steps.
SIDE_STEPS = 0.5
#: Each photo shows at least this share of itself (a box all but covered by another is the same
#: photo found twice, a pixel or two of rim apart).
SHOWN = 0.2


def collage(region: np.ndarray, hidden: np.ndarray, image: np.ndarray) -> list[Box] | None:
    """The photos making up ``region`` (a photo-like region in its box), back to front, or None.

    ``hidden`` marks pixels of the box that elements lying on the region hide (they may belong to a
    photo); ``image`` is the box's float (h, w, 3) colour. None when the region is one rectangle, not
    a union of a few, or when no photo's side shows on another (an L-shaped picture is one picture).
    """
    h, w = region.shape
    if min(h, w) < 2 * MIN_SIDE or region.sum() >= COVER * h * w:
        return None
    edges = sharp_edges(image, STEP)
    rows, columns = _sides(region, 0), _sides(region, 1)
    lines = _outline(region)  # where a photo's side may run: the outline, steps, under what hides it
    lines[:-1, :-1] |= edges | hidden
    boxes = _cover(region, region | hidden, lines, rows, columns)
    if boxes is None:
        return None
    grown = _grown(boxes, region, region | hidden, rows, columns)
    stacked = _stacked(grown, edges) if len(grown) >= 2 else None
    if stacked is None or min(_shown(stacked, region)) < SHOWN:
        return None
    return stacked


def _sides(region: np.ndarray, axis: int) -> np.ndarray:
    """Positions along ``axis`` (0: rows) where the region has a straight side at least
    :data:`MIN_SIDE` long (the box's own edges included), a pixel of jitter merged."""
    inside = np.moveaxis(region, axis, 0)
    change = np.count_nonzero(inside[1:] != inside[:-1], axis=1)
    found = np.flatnonzero(change >= MIN_SIDE) + 1
    strongest = found[np.argsort(-change[found - 1], kind="stable")]
    chosen: list[int] = [0, len(inside)]
    for position in strongest.tolist():
        if len(chosen) >= _MAX_COORDS:
            break
        if min(abs(position - c) for c in chosen) > 2:
            chosen.append(position)
    return np.array(sorted(chosen))


def _outline(region: np.ndarray) -> np.ndarray:
    """Pixels (with one more row and column) where the region starts or ends, marked on the pixel
    after the change as step maps are: a box's top-left side at its first pixel, its bottom-right side
    one past its last."""
    padded = np.pad(region, 1)
    out = np.zeros((region.shape[0] + 1, region.shape[1] + 1), bool)
    out |= padded[1:, 1:] != padded[:-1, 1:]
    out |= padded[1:, 1:] != padded[1:, :-1]
    return out


def _cover(
    region: np.ndarray, allowed: np.ndarray, lines: np.ndarray, rows: np.ndarray, columns: np.ndarray
) -> list[Box] | None:
    """At least two rectangles on the side positions, each :data:`INSIDE` the ``allowed`` pixels,
    that cover :data:`COVER` of the region, or None.

    Taken greedily by the pixels each adds, weighted by the square of the share of its outline that
    runs along ``lines`` (the region's outline, steps of the image, or hidden pixels): a photo's
    sides show, a rectangle spanning two photos has stretches of side across one's content.
    """
    top, bottom = (a.ravel() for a in np.meshgrid(rows, rows, indexing="ij"))
    left, right = (a.ravel() for a in np.meshgrid(columns, columns, indexing="ij"))
    tall, wide = (bottom - top >= MIN_SIDE), (right - left >= MIN_SIDE)
    t, b = top[tall][:, None], bottom[tall][:, None]
    lf, r = left[wide][None, :], right[wide][None, :]
    fits = in_boxes(summed_area(allowed), t, lf, b, r) >= INSIDE * (b - t) * (r - lf)
    if not fits.any():
        return None
    weight = _support(lines, t, lf, b, r) ** 2
    boxes: list[Box] = []
    left_out = region.copy()
    total = int(region.sum())
    while len(boxes) < MAX_PHOTOS and left_out.sum() > (1 - COVER) * total:
        new = np.where(fits, in_boxes(summed_area(left_out), t, lf, b, r), 0)
        i, j = np.unravel_index(int(np.argmax(new * weight)), new.shape)
        if new[i, j] < MIN_SIDE * MIN_SIDE:
            return None
        box = (int(t[i, 0]), int(lf[0, j]), int(b[i, 0]), int(r[0, j]))
        boxes.append(box)
        left_out[box[0] : box[2], box[1] : box[3]] = False
    if len(boxes) < 2 or left_out.sum() > (1 - COVER) * total:
        return None
    return boxes


def _support(
    lines: np.ndarray, top: np.ndarray, left: np.ndarray, bottom: np.ndarray, right: np.ndarray
) -> np.ndarray:
    """Share of each box's outline (arrays of sides, broadcast together) within a pixel of ``lines``
    (H + 1, W + 1)."""
    padded = np.pad(lines, 1)
    near = padded[1:-1, 1:-1] | padded[:-2, 1:-1] | padded[2:, 1:-1]  # a row off
    across = np.zeros((near.shape[0], near.shape[1] + 1), np.int64)
    across[:, 1:] = near.cumsum(1)
    near = padded[1:-1, 1:-1] | padded[1:-1, :-2] | padded[1:-1, 2:]  # a column off
    down = np.zeros((near.shape[0] + 1, near.shape[1]), np.int64)
    down[1:] = near.cumsum(0)
    found = across[top, right] - across[top, left] + across[bottom, right] - across[bottom, left]
    found = found + down[bottom, left] - down[top, left] + down[bottom, right] - down[top, right]
    return found / (2 * (bottom - top) + 2 * (right - left))


def _grown(
    boxes: list[Box], region: np.ndarray, allowed: np.ndarray, rows: np.ndarray, columns: np.ndarray
) -> list[Box]:
    """Each box with its sides pushed out as far as side positions go while it stays :data:`INSIDE`
    the ``allowed`` pixels and each push takes in region pixels that no box covers (a tenth of what
    it adds at least): the cover may end a lower photo where an upper one begins, leaving a strip of
    it beside the upper one out. Boxes inside others are dropped."""
    left_out = region.copy()
    for top, left, bottom, right in boxes:
        left_out[top:bottom, left:right] = False
    spare, fits = summed_area(left_out), summed_area(allowed)
    out: list[Box] = []
    for box in boxes:
        for side, positions in ((0, rows[::-1]), (1, columns[::-1]), (2, rows), (3, columns)):
            for position in positions.tolist():
                sides = list(box)
                sides[side] = position
                bigger: Box = (sides[0], sides[1], sides[2], sides[3])
                added = _area(bigger) - _area(box)
                if bigger[0] >= bigger[2] or bigger[1] >= bigger[3] or added <= 0:
                    continue
                taken = _count(spare, bigger) - _count(spare, box)
                if _count(fits, bigger) >= INSIDE * _area(bigger) and taken >= max(MIN_SIDE**2, 0.1 * added):
                    box = bigger
        out.append(box)
    return [
        box
        for i, box in enumerate(out)
        if box not in out[:i] and not any(box_inside(box, other) for other in out if other != box)
    ]


def _count(table: np.ndarray, box: Box) -> int:
    return int(in_boxes(table, *box))


def _area(box: Box) -> int:
    return (box[2] - box[0]) * (box[3] - box[1])


def _shown(boxes: list[Box], region: np.ndarray) -> list[float]:
    """Share of each box (back to front) that is region not covered by a box above it."""
    shares = []
    for index, (top, left, bottom, right) in enumerate(boxes):
        visible = region[top:bottom, left:right].copy()
        for upper in boxes[index + 1 :]:
            visible[
                max(0, upper[0] - top) : max(0, upper[2] - top),
                max(0, upper[1] - left) : max(0, upper[3] - left),
            ] = False
        shares.append(float(visible.mean()))
    return shares


def _stacked(boxes: list[Box], edges: np.ndarray) -> list[Box] | None:
    """``boxes`` back to front: a photo lies on another when its sides crossing the other are mostly
    steps and the other's sides crossing it are not. None when two overlapping photos show no such
    side (one picture that is not a rectangle)."""
    above: list[tuple[int, int]] = []  # (lower, upper)
    for i, a in enumerate(boxes):
        for j in range(i + 1, len(boxes)):
            b = boxes[j]
            rows, columns = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
            if rows < 0 or columns < 0 or (rows == 0 and columns == 0):
                continue  # apart, or meeting at a corner
            if rows == 0 or columns == 0:  # side by side: the seam between them must show
                if _seam(a, b, edges) < SIDE_STEPS:
                    return None
                continue
            a_on_b, b_on_a = _steps_inside(a, b, edges), _steps_inside(b, a, edges)
            if max(a_on_b, b_on_a) < SIDE_STEPS:
                return None
            above.append((j, i) if a_on_b > b_on_a else (i, j))
    levels = [0] * len(boxes)
    for _ in boxes:
        for lower, upper in above:
            levels[upper] = max(levels[upper], levels[lower] + 1)
    return [boxes[k] for k in sorted(range(len(boxes)), key=lambda k: levels[k])]


def _seam(a: Box, b: Box, edges: np.ndarray) -> float:
    """Share of the side that boxes ``a`` and ``b``, side by side, share that is steps."""
    if min(a[3], b[3]) == max(a[1], b[1]):  # left and right of each other
        column, top, bottom = max(a[1], b[1]), max(a[0], b[0]) + 2, min(a[2], b[2]) - 2
        band = edges[top:bottom, max(0, column - 1) : column + 2].any(axis=1)
    else:
        row, left, right = max(a[0], b[0]), max(a[1], b[1]) + 2, min(a[3], b[3]) - 2
        band = edges[max(0, row - 1) : row + 2, left:right].any(axis=0)
    return float(band.mean()) if band.size else 0.0


def _steps_inside(upper: Box, lower: Box, edges: np.ndarray) -> float:
    """Share of ``upper``'s sides, where they cross the inside of ``lower``, that are steps (within a
    pixel of the side: a step is marked on the pixel after it)."""
    top, left = max(upper[0], lower[0]) + 2, max(upper[1], lower[1]) + 2
    bottom, right = min(upper[2], lower[2]) - 2, min(upper[3], lower[3]) - 2
    h, w = edges.shape
    hits, length = 0, 0
    for row in (upper[0], upper[2]):
        if lower[0] + 2 < row < lower[2] - 2 and left < right:
            band = edges[max(0, row - 1) : min(h, row + 2), left:right]
            hits, length = hits + int(band.any(axis=0).sum()), length + right - left
    for column in (upper[1], upper[3]):
        if lower[1] + 2 < column < lower[3] - 2 and top < bottom:
            band = edges[top:bottom, max(0, column - 1) : min(w, column + 2)]
            hits, length = hits + int(band.any(axis=1).sum()), length + bottom - top
    return hits / length if length else 0.0
