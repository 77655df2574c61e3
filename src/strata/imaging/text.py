"""Text lines on photo pages, told apart by the shape of their letters.

On a flat page every letter differs from the page fill. On a photo or an illustration the page model
is a smoothed copy of the image, and a title whose colours also occur around it stays in the page,
or joins whatever it touches. Letters are told apart by their shape instead: each is a region with
a sharp, stable outline (a maximally stable extremal region, found by OpenCV's MSER) and a flat colour,
and the letters of one line share their height, their middle and their colour. A region counts as
text only in a line of at least ``LETTERS_PER_LINE`` such letters side by side, so the windows of a
building or the spots of a pattern rarely do: they sit in rows, but are solid boxes or dots, not glyphs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from strata.imaging.elements import Element, merged
from strata.imaging.fill import max_diff

#: Letter height, as a fraction of the canvas's short side.
MIN_HEIGHT, MAX_HEIGHT = 0.01, 0.3
#: Colour spread (Lab, max channel standard deviation) of a glyph; a letter within ``LOOSE`` (a
#: gradient fill) joins a line that glyphs make.
FLAT, LOOSE = 10.0, 20.0
#: How many glyphs side by side make a line.
LETTERS_PER_LINE = 3
#: A glyph's widest stroke, as a fraction of its height (a dot or a filled oval is wider).
MAX_STROKE = 0.4
#: Letters are searched on a copy of at most this many pixels.
SEARCH_PIXELS = 600_000
#: A line whose surroundings are at least this much foreground lies on an element (text on a card).
ON_ELEMENT = 0.8
#: A copy narrower than this in either direction holds no line of letters (and MSER needs 3 × 3).
MIN_SEARCH_SIDE = 3
#: Candidate regions considered per image: past it the image is noise, not a poster.
MAX_CANDIDATES = 3000


@dataclass(frozen=True)
class _Letters:
    """Candidate letters: boxes (x, y, w, h), mean Lab colours, glyph-likeness, and their pixels.

    A glyph has a flat colour and thin strokes, and is not a solid bar; other candidates (a gradient
    letter, an "i") only join lines that glyphs make.
    """

    boxes: np.ndarray  # float32 (n, 4)
    colours: np.ndarray  # float32 (n, 3)
    glyph: np.ndarray  # bool (n,)
    pixels: list[np.ndarray]  # (k, 2) int32 x, y per letter


def text_lines(image: np.ndarray, canvas: tuple[int, int] | None = None) -> np.ndarray:
    """The letters of every text line in a float32 (H, W, 3) image, labelled by line (int32, 0: none).

    Letters are searched on a copy of at most ``SEARCH_PIXELS`` (a title's letters stay many pixels
    tall there) and their mask is scaled back to the full canvas. ``image`` may be a crop of a
    ``canvas`` of (height, width): it is then searched at the canvas's scale, for letters of the
    canvas's sizes.
    """
    height, width = image.shape[:2]
    canvas = canvas or (height, width)
    factor = search_factor(*canvas)
    size = (round(width * factor), round(height * factor))
    if min(size) < MIN_SEARCH_SIDE:
        return np.zeros((height, width), np.int32)
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    rgb = np.clip(small * 255.0 + 0.5, 0, 255).astype(np.uint8)
    labels = np.zeros(rgb.shape[:2], np.int32)
    letters = _candidates(rgb, (round(canvas[0] * factor), round(canvas[1] * factor)))
    for number, line in enumerate(_lines(letters), start=1):
        for i in line:
            xs, ys = letters.pixels[i].T
            labels[ys, xs] = number
    if factor == 1.0:
        return labels
    mask = cv2.resize((labels > 0).astype(np.uint8) * 255, (width, height), interpolation=cv2.INTER_LINEAR)
    # Each pixel of the smooth mask takes the line of the nearest small-copy pixel, or of its neighbour
    # on the rim.
    nearest = cv2.resize(labels.astype(np.float32), (width, height), interpolation=cv2.INTER_NEAREST)
    nearest = cv2.dilate(nearest, np.ones((3, 3), np.uint8))
    return np.where(mask >= 128, nearest, 0).astype(np.int32)


def on_page(lines: np.ndarray, foreground: np.ndarray) -> np.ndarray:
    """``lines`` (labels) less the lines that lie on an element rather than on the page.

    Text on a card is peeled with its card, as its content. A line lies on an element when the
    ``foreground`` covers most of a ring around its letters, a quarter of the line's height out:
    past the letters' own outline or shadow, inside a card's padding.
    """
    keep = np.ones(int(lines.max()) + 1, bool)
    keep[0] = False
    for number, box in _label_boxes(lines).items():
        gap = max(2, (box[0].stop - box[0].start) // 4)
        reach = gap + 3
        window = tuple(slice(max(0, side.start - reach), side.stop + reach) for side in box)
        letters = (lines[window] == number).astype(np.uint8)
        inner = cv2.dilate(letters, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * gap + 1,) * 2))
        outer = cv2.dilate(letters, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1,) * 2))
        ring = (outer > 0) & (inner == 0)
        keep[number] = foreground[window][ring].mean() < ON_ELEMENT
    return np.where(keep[lines], lines, 0)


def _label_boxes(labels: np.ndarray) -> dict[int, tuple[slice, slice]]:
    """The bounding box (row and column slices) of each label present in a label image (0: none)."""
    ys, xs = np.nonzero(labels)
    ids = labels[ys, xs]
    count = int(ids.max(initial=0)) + 1
    start = np.full((count, 2), max(labels.shape))
    stop = np.zeros((count, 2), int)
    np.minimum.at(start, ids, np.stack([ys, xs], 1))
    np.maximum.at(stop, ids, np.stack([ys, xs], 1) + 1)
    return {
        int(label): (slice(start[label, 0], stop[label, 0]), slice(start[label, 1], stop[label, 1]))
        for label in np.flatnonzero(stop[:, 0])
    }


def without_halo(foreground: np.ndarray, letters: np.ndarray, kernel: int) -> np.ndarray:
    """``foreground`` less the ``letters`` and the parts lying wholly within ``kernel`` of them.

    Those are what is left of the letters' outlines, shadows and glow: they stay in the page rather
    than becoming fragments of their own. An element that merely comes close to the text (a card
    beside a title) reaches out of that halo and keeps all its pixels.
    """
    if not letters.any():
        return foreground
    letters8 = letters.astype(np.uint8)
    rest = foreground & ~cv2.dilate(letters8, np.ones((3, 3), np.uint8)).astype(bool)
    shape = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * kernel + 1, 2 * kernel + 1))
    halo = cv2.dilate(letters8, shape).astype(bool)
    count, labels = cv2.connectedComponents(rest.astype(np.uint8), connectivity=8)
    reaching_out = np.bincount(labels[rest & ~halo], minlength=count) > 0
    return rest & reaching_out[labels]


def one_per_line(elements: list[Element], lines: np.ndarray, roots: int, depth: int = 1) -> list[Element]:
    """The elements peeled off the text, one per line (root ``roots`` + line number).

    A line is one text run even where the peel took its words apart: its elements at ``depth`` (the
    text's own, peeled on what lies under it) are merged into one. An element lying mostly off the
    letters is a sliver of rim that no letter explains (a dark edge, a glow): it is dropped and stays
    in what lies under it.
    """
    by_line: dict[int, list[Element]] = {}
    for element in elements:
        if line := line_of(element, lines):
            element.root = roots + line
            by_line.setdefault(element.root, []).append(element)
    kept = []
    for members in by_line.values():
        top_level = [e for e in members if e.depth == depth]
        if top_level:  # what lies on a dropped sliver goes with it
            kept.append(merged(top_level, "text") if len(top_level) > 1 else top_level[0])
            kept += [e for e in members if e.depth > depth]
    return kept


def line_of(element: Element, lines: np.ndarray) -> int:
    """The line (of the full-canvas labels ``lines``) that most of ``element`` lies on, or 0 where
    less than half of it lies on letters."""
    top, left, bottom, right = element.box
    under = np.where(element.alpha > 0, lines[top:bottom, left:right], 0)
    on_letters = np.bincount(under.ravel(), weights=element.alpha.ravel())
    on_letters[0] = 0.0
    return int(np.argmax(on_letters)) if on_letters.sum() >= 0.5 * element.area else 0


def rim_size(height: int, width: int) -> int:
    """The (odd) side of the square that, dilating the letters found on a ``height`` × ``width``
    canvas, covers the part of a pixel of the smaller searched copy they may miss along their rims."""
    return 2 * math.ceil(1 / search_factor(height, width)) - 1


def search_factor(height: int, width: int) -> float:
    """The scale at which :func:`text_lines` searches a ``height`` × ``width`` canvas (at most 1)."""
    return min(1.0, (SEARCH_PIXELS / (height * width)) ** 0.5)


def _candidates(rgb: np.ndarray, canvas: tuple[int, ...]) -> _Letters:
    """MSER regions shaped like glyphs (height, aspect, fill ratio) with a flat-enough colour.

    Regions are searched in the lightness and in both colour axes (Lab): an orange title on a blue
    sky may have the sky's lightness. Nested regions of one letter (same box) count once. Letter
    sizes are fractions of the ``canvas`` (height, width) that ``rgb`` shows all or part of.
    """
    height, width = canvas
    short = min(height, width)
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
    mser = cv2.MSER_create(  # type: ignore[attr-defined]
        delta=5, min_area=max(30, round(height * width * 1e-5)), max_area=round(height * width * 0.01)
    )
    seen: set[tuple[int, ...]] = set()
    kept_boxes, colours, glyph, pixels = [], [], [], []
    for channel in range(3):
        regions, boxes = mser.detectRegions(np.ascontiguousarray(lab[..., channel]))
        for region, (x, y, w, h) in zip(regions, boxes, strict=True):
            key = (x // 2, y // 2, w // 2, h // 2)
            fill = len(region) / float(w * h)
            if key in seen or not (
                MIN_HEIGHT * short <= h <= MAX_HEIGHT * short and 0.1 <= w / h <= 2.5 and fill >= 0.15
            ):
                continue
            mean, std = cv2.meanStdDev(lab[region[:, 1], region[:, 0]][:, None])  # faster than numpy
            spread = float(std.max())
            if spread > LOOSE:
                continue
            seen.add(key)
            kept_boxes.append((x, y, w, h))
            colours.append(mean[:, 0])
            # A solid bar (an "i" or "l" stem, a fence post) joins a line but does not make one.
            glyph.append(spread <= FLAT and fill <= 0.95 and _stroke(region, x, y, w, h) <= MAX_STROKE * h)
            pixels.append(region)
        if len(pixels) >= MAX_CANDIDATES:
            break
    return _Letters(
        np.array(kept_boxes, np.float32).reshape(-1, 4),
        np.array(colours, np.float32).reshape(-1, 3),
        np.array(glyph, bool),
        pixels,
    )


def _stroke(region: np.ndarray, x: int, y: int, w: int, h: int) -> float:
    """The widest stroke of a region (twice its largest inscribed radius), in pixels."""
    crop = np.zeros((h + 2, w + 2), np.uint8)
    crop[region[:, 1] - y + 1, region[:, 0] - x + 1] = 1
    return 2.0 * float(cv2.distanceTransform(crop, cv2.DIST_L2, 3).max())


def _lines(letters: _Letters) -> list[np.ndarray]:
    """Indices of the letters of each line: neighbours of like height, middle and colour, joined."""
    count = len(letters.pixels)
    if count < LETTERS_PER_LINE:
        return []
    x0, y0, w, h = letters.boxes.T
    x1, middle = x0 + w, y0 + h / 2
    low = np.minimum(h[:, None], h[None])
    gap = np.maximum(x0[:, None], x0[None]) - np.minimum(x1[:, None], x1[None])
    colours = letters.colours  # every pair of letters: (count, count) colour steps
    colour_step = max_diff(np.broadcast_to(colours[:, None], (count, count, 3)), colours[None])
    near = (
        (np.maximum(h[:, None], h[None]) <= 1.6 * low)
        & (np.abs(middle[:, None] - middle[None]) <= 0.35 * low)
        & (gap <= 0.9 * low)
        & (gap >= -0.5 * low)  # nested regions of one letter overlap more
        & (colour_step <= 30.0)
    )
    np.fill_diagonal(near, False)
    labels = _components(near)
    lines = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        glyphs = members[letters.glyph[members]]
        span = x1[members].max() - x0[members].min()
        if _side_by_side(x0[glyphs], x1[glyphs]) >= LETTERS_PER_LINE and span >= 2 * np.median(h[members]):
            lines.append(members)
    return lines


def _components(near: np.ndarray) -> np.ndarray:
    """The connected component of each node of a symmetric boolean adjacency matrix, numbered in
    the order of each component's first node (breadth first, one vectorised step per level)."""
    labels = np.full(len(near), -1)
    count = 0
    for start in range(len(near)):
        if labels[start] >= 0:
            continue
        labels[start] = count
        frontier = np.array([start])
        while len(frontier):
            frontier = np.flatnonzero(near[frontier].any(axis=0) & (labels < 0))
            labels[frontier] = count
        count += 1
    return labels


def _side_by_side(starts: np.ndarray, ends: np.ndarray) -> int:
    """How many of the intervals ``[start, end)`` follow one another without overlapping (nested
    regions of one letter count once)."""
    count, end = 0, -np.inf
    for start, stop in sorted(zip(starts.tolist(), ends.tolist(), strict=True)):
        if start >= end - 1:
            count, end = count + 1, stop
        else:
            end = max(end, stop)
    return count
