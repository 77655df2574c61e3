"""Recursive element extraction: peel a design from the page upwards.

Each group of foreground pixels (see :func:`~strata.imaging.elements.component_groups`) becomes either

* a **flat element** (card, button, shape, text run) when one smooth fill explains it: its dominant
  colour seeds a fill fitted to the pixels that carry it; the filled shape (occluded holes and bites
  completed) is opaque, its anti-aliased rim gets the projection alpha against the colour underneath,
  and whatever sits inside it is extracted again, one level up, on top of the fill; or
* a **complex element** (photo, illustration) when no fill explains it: its largest connected part,
  holes filled, is one opaque element with the image's own colours. A compact flat shape touching it
  is peeled on its own: completed under the photo when the photo bites into it (a circle partly under
  a photo), else lying on the photo, which is completed under it (a badge). A part drawn with strokes
  and no taller than a glyph is **lettering** instead (a stroked title in a JPEG, whose two colours
  and ringing pass no flat test): a text element whose counters stay open and whose rim and ringing
  are unmixed against what lies under it, with the scattered ringing around it.

Pixels a group leaves unexplained are extracted again as its siblings. The recursion is bounded in
depth and in the number of elements, so noise cannot make it explode.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import cv2
import numpy as np

from strata.errors import Cancelled
from strata.imaging import ringing
from strata.imaging.alpha import min_alpha, projection_alpha, unblend
from strata.imaging.background import fill_estimate
from strata.imaging.collage import collage
from strata.imaging.elements import (
    FRAGMENT,
    GLYPH,
    HALO_REACH,
    THICK,
    Box,
    Element,
    bottom_depths,
    classify,
    component_groups,
    crops,
    fill_holes,
    is_mark,
    thick,
)
from strata.imaging.ellipses import hidden_part
from strata.imaging.fill import (
    Fit,
    colour_bins,
    dominant_colour,
    dominant_seeds,
    fit_fill,
    flat_image,
    gather,
    max_diff,
    paste,
)
from strata.imaging.text import line_of, one_per_line, rim_size, text_lines

#: Max-channel distance within which a pixel carries an element's fill.
SHAPE_TOL = 0.035
_PAD = 3
_MAX_LEVEL = 10
#: Within a letter's counter, pixels this far from the page (or its mix with the fill) are content
#: hidden by the letter; looser than SHAPE_TOL, so the chroma noise of a generated or compressed
#: image does not fill counters.
HOLE_TOL = 0.1
#: A group almost all of whose pixels are within this of the fill or its mix with the page is a
#: flat element with a noisy rim (the ringing and chroma blur of a JPEG around text, up to quality 50).
NOISY_TOL = 0.1
#: A shape whose inscribed radius is below this fraction of its box's short side is drawn with
#: strokes (a letter), not a body (a card): its small holes are counters, not text in the page colour.
THIN = 0.25
#: A flat part of a photo-like group filling this much of its box is a card with a corner hidden.
BOX_FILL = 0.7
#: A flat part of a photo-like group meets the rest in a step beyond this (max channel).
OUTLINE_STEP = 0.1
#: A photo that is a rectangle drops wisps beyond its rows and columns up to this share of its pixels.
WISPS = 0.05
#: Flat parts (cards, circles) taken out of one photo-like group, largest first.
_MAX_FLAT_PARTS = 4
#: How far a flat part's ringing reaches (see :mod:`~strata.imaging.ringing`).
_RING = np.ones((2 * ringing.REACH + 1, 2 * ringing.REACH + 1), np.uint8)
_THICK_KERNEL = np.ones((THICK, THICK), np.uint8)
#: A flat group's other colour is the card under its most frequent one when its filled shape holds
#: at least this share of that colour's pixels.
SURROUND = 0.9
#: A component touching a shape with less than this share of its pixels on it is a neighbour (joined
#: to it by a thread of the page, or under its rim), not content lying on it.
THREAD = 0.01
#: Text on a photo is searched for this far (a fraction of the canvas's width) past the photo's sides,
#: on photos whose short side is at least TEXT_PHOTO of the canvas's.
TEXT_REACH, TEXT_PHOTO = 0.1, 0.05
#: Groups smaller than this many pixels are taken as they are, without fitting.
_SPECK = 48


@dataclass
class PeelContext:
    """The image being peeled, the limits, and the elements found so far."""

    image: np.ndarray  # float32 (H, W, 3)
    tol: float
    min_area: int
    max_groups: int
    max_kernel: int
    max_elements: int
    #: Polled before each group: True stops the peel (raises ``Cancelled``); a hostile input (a
    #: checkerboard) can spend minutes here, so the engine's checks between its stages are not enough.
    should_cancel: Callable[[], bool] | None = None
    elements: list[Element] = field(default_factory=list)
    roots: int = 0

    @cached_property
    def bins(self) -> np.ndarray:
        """The canvas's :func:`~strata.imaging.fill.colour_bins`, cropped by each group's fill search."""
        return colour_bins(self.image)


def peel(ctx: PeelContext, mask: np.ndarray, under: np.ndarray, depth: int = 1) -> None:
    """Extract the elements of the full-canvas ``mask`` lying on ``under``, breadth first.

    Breadth first, so that when the element budget runs out it is the finest details (the contents
    of contents) that stay unseparated, not whole elements at the far end of the canvas.
    """
    queue: deque[_Task] = deque([_Task(mask, under, 0, 0, depth, 0, None)])
    while queue and len(ctx.elements) < ctx.max_elements:
        task = queue.popleft()
        if task.level <= _MAX_LEVEL:
            _peel_groups(ctx, task, queue)


def peel_text_on_photos(ctx: PeelContext, page: np.ndarray, limit: float, lines: np.ndarray | None) -> None:
    """Lines of text lying on the photos on the page become text elements above them (titles).

    A headline on a picture has no fill of its own against the page, so it was taken in with the
    photo (:func:`_complex_element`). Its letters are found by their shape (:func:`text_lines`) and
    taken out of the photo, which is completed under them where it continues (inside the convex
    hull of its outline, inpainted) and gives up the rest. They are then peeled on the photo, one
    text element per line, each a component of its own, joined by the words of its line that run off
    the photo onto the page. ``page`` is what lies under the elements on the page (full canvas);
    ``lines``, the canvas's text lines where they are known already, else they are searched for
    around the photos. Photos lying on a card (text there is the card's content), covering more than
    ``limit`` of the canvas (backdrops, whose text is the page's), too small to carry a line
    (:data:`TEXT_PHOTO`) or filling less than half their box (the scattered rest of a photo-like
    group) are left as they are.
    """
    height, width = ctx.image.shape[:2]
    base = bottom_depths(ctx.elements)
    smallest = TEXT_PHOTO * min(height, width)
    photos = [
        e
        for e in ctx.elements
        if e.kind == "photo"
        and e.depth == base[e.root]
        and min(e.alpha.shape) >= smallest
        and 0.5 * e.alpha.size <= e.area <= limit * height * width
    ]
    if not photos:
        return
    if lines is None:
        lines = _lines_around([_box_of(_group(ctx.elements, photo)) for photo in photos], ctx.image)
    for photo in photos:
        if len(ctx.elements) >= ctx.max_elements or not lines.any():
            return
        _lift_text(ctx, photo, page, lines)


def _lines_around(boxes: list[Box], image: np.ndarray) -> np.ndarray:
    """:func:`text_lines` of the canvas ``image`` searched only around ``boxes`` (and past their sides,
    so that a title running off a photo is a line of enough letters), labelled apart."""
    height, width = image.shape[:2]
    reach = round(TEXT_REACH * width)
    searched: list[Box] = []
    for top, left, bottom, right in boxes:
        box = (top, max(0, left - reach), bottom, min(width, right + reach))
        # Overlapping search boxes are searched once, as their bounding box.
        while overlapping := [b for b in searched if crops(box, b) is not None]:
            searched = [b for b in searched if crops(box, b) is None]
            for b in overlapping:
                box = (min(box[0], b[0]), min(box[1], b[1]), max(box[2], b[2]), max(box[3], b[3]))
        searched.append(box)
    lines = np.zeros((height, width), np.int32)
    for top, left, bottom, right in searched:
        found = text_lines(image[top:bottom, left:right], (height, width))
        lines[top:bottom, left:right] = np.where(found > 0, found + lines.max(), 0)
    return lines


def _lift_text(ctx: PeelContext, photo: Element, page: np.ndarray, lines: np.ndarray) -> None:
    """Peel the text lying on ``photo``, one of ``ctx.elements`` (see :func:`peel_text_on_photos`)."""
    height, width = ctx.image.shape[:2]
    top, left, bottom, right = photo.box
    on_photo = np.unique(lines[top:bottom, left:right][_shown(photo, ctx.image)])
    if not on_photo[-1]:
        return
    kept = np.zeros(int(lines.max()) + 1, np.int32)
    kept[on_photo] = on_photo
    lines = kept[lines]
    # The letters with their anti-aliased rims (a pixel past the regions found), taken out of the photo
    # and of the scattered rest of its group (a title running off the photo may lie in it).
    size = max(3, rim_size(height, width))
    letters = cv2.dilate((lines > 0).astype(np.uint8), np.ones((size, size), np.uint8)).astype(bool)
    # The letters' dots and accents, too small to be found as letters, lie around the lines: the photo
    # gives up the pixels there in the line's ink (with their rims), the rest all its pixels there.
    around, inked = _around_lines(lines, ctx.image)
    inked = letters | cv2.dilate(inked.astype(np.uint8), np.ones((size, size), np.uint8)).astype(bool)
    mask = np.zeros((height, width), bool)
    under = page.copy()
    for element in _group(ctx.elements, photo):
        top, left, bottom, right = element.box
        region = element.alpha > 0
        taken = (inked if element is photo else letters | around)[top:bottom, left:right]
        taken &= _shown(element, ctx.image)
        if not taken.any():
            continue
        mask[top:bottom, left:right] |= taken
        body = region & ~taken
        if element is photo:  # the photo continues under the letters inside its outline's hull
            body |= taken & _hull(body)
        colour, hidden = element.colour.copy(), taken & body
        paste(colour, fill_estimate(colour, hidden), hidden)
        index = next(i for i, e in enumerate(ctx.elements) if e is element)
        ctx.elements[index] = replace(element, alpha=np.where(body, element.alpha, 0.0), colour=colour)
        paste(under[top:bottom, left:right], colour, body)
    first = len(ctx.elements)
    peel(ctx, mask, under, photo.depth + 1)
    peeled, depth = ctx.elements[first:], photo.depth + 1
    # The line's words off the photo were peeled as text on the page: they join it, above the photo.
    words = [e for e in ctx.elements[:first] if _word_on(e, photo, lines)]
    for word in words:
        word.depth = depth
    gone = {id(word) for word in words}
    # A scattered rest that held only letters is gone too.
    ctx.elements[:] = [e for e in ctx.elements[:first] if e.area and id(e) not in gone]
    runs = one_per_line([e for e in peeled + words if line_of(e, lines)], lines, ctx.roots, depth)
    ctx.roots += int(lines.max())
    # Dots and accents (peeled off the rest, or on the page) lie on the run's component, so that they
    # join it (:func:`~strata.imaging.elements.join_words`); other bits off the letters are dropped.
    heads = [run for run in runs if run.depth == depth]
    off = [e for e in peeled if not line_of(e, lines)]
    beside = [e for e in ctx.elements if e.kind != "photo" and e.root != photo.root and e.depth == depth - 1]
    lifted = set()
    for mark in off + beside:
        if run := next((run for run in heads if mark.area < run.area and is_mark(mark, run)), None):
            mark.depth, mark.root = depth, run.root
            lifted.add(id(mark))
    ctx.elements += runs + [mark for mark in off if id(mark) in lifted]


def _around_lines(lines: np.ndarray, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The boxes of the text lines labelled in ``lines``, each grown by half the line's height, and the
    pixels in them of their line's ink (the median colour of its letters, within :data:`SHAPE_TOL`)."""
    around, inked = np.zeros(lines.shape, bool), np.zeros(lines.shape, bool)
    for number in np.unique(lines)[1:]:
        letters = lines == number
        x, y, w, h = cv2.boundingRect(letters.astype(np.uint8))
        grow = h // 2
        box = (slice(max(0, y - grow), y + h + grow), slice(max(0, x - grow), x + w + grow))
        around[box] = True
        inked[box] |= max_diff(image[box], np.median(image[letters], axis=0)) < SHAPE_TOL
    return around, inked


def _word_on(element: Element, photo: Element, lines: np.ndarray) -> bool:
    """Whether ``element`` is a word on the page beside ``photo`` lying on the letters of ``lines``."""
    beside = element.kind == "text" and element.depth == photo.depth and element.root != photo.root
    return beside and line_of(element, lines) > 0


def _group(elements: list[Element], photo: Element) -> list[Element]:
    """``photo`` and the scattered rest of its group: the photo elements of its component at its depth."""
    return [e for e in elements if e.root == photo.root and e.kind == "photo" and e.depth == photo.depth]


def _box_of(elements: list[Element]) -> Box:
    boxes = np.array([e.box for e in elements])
    return boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max()


def _shown(element: Element, image: np.ndarray) -> np.ndarray:
    """Where a photo element shows the image (not where it was completed under something)."""
    top, left, bottom, right = element.box
    return (element.alpha > 0) & (max_diff(image[top:bottom, left:right], element.colour) == 0)


@dataclass
class _Task:
    """Pixels (``mask``, a crop at ``top, left``) to extract, lying on ``under`` (same crop)."""

    mask: np.ndarray
    under: np.ndarray
    top: int
    left: int
    depth: int
    level: int
    root: int | None  # None: each group starts a component of its own
    #: Pixels (same crop) where a shape may be completed beyond ``mask``: an element hiding part of it.
    reach: np.ndarray | None = None


@dataclass
class _At:
    """Where a collage's photos go: the crop's origin on the canvas, the bottom photo's level, its
    root, and whether they lie on the page (each then starts a component)."""

    top: int
    left: int
    level: int
    root: int
    page: bool


def _peel_groups(ctx: PeelContext, task: _Task, queue: deque[_Task]) -> None:
    mask = task.mask
    for group in component_groups(mask, ctx.min_area, ctx.max_groups, ctx.max_kernel):
        if len(ctx.elements) >= ctx.max_elements:
            return
        if ctx.should_cancel is not None and ctx.should_cancel():
            raise Cancelled("the decomposition was cancelled")
        h, w = group.mask.shape
        y0, x0 = max(0, group.top - _PAD), max(0, group.left - _PAD)
        y1, x1 = min(mask.shape[0], group.top + h + _PAD), min(mask.shape[1], group.left + w + _PAD)
        local = np.zeros((y1 - y0, x1 - x0), bool)
        local[group.top - y0 : group.top - y0 + h, group.left - x0 : group.left - x0 + w] = group.mask
        root = task.root
        if root is None:
            ctx.roots += 1
            root = ctx.roots
        reach = None if task.reach is None else task.reach[y0:y1, x0:x1]
        crop = _Task(
            local,
            task.under[y0:y1, x0:x1],
            task.top + y0,
            task.left + x0,
            task.depth,
            task.level,
            root,
            reach,
        )
        _extract(ctx, crop, queue)


def _extract(ctx: PeelContext, task: _Task, queue: deque[_Task]) -> None:
    group, under, top, left, depth, root = task.mask, task.under, task.top, task.left, task.depth, task.root
    assert root is not None
    h, w = group.shape
    image = ctx.image[top : top + h, left : left + w]
    if group.sum() < _SPECK:
        # A speck (a dot, a thin rule, a few pixels of an icon): one colour, no rim, no children.
        colour = flat_image(dominant_colour(gather(image, group)), h, w)
        ctx.elements.append(Element(top, left, group.astype(np.float32), colour, depth, "shape", root))
        return
    fill = _flat_fill(image, group, under, ctx.bins[top : top + h, left : left + w])
    if fill is None:
        sibling_root = None if depth == 1 else root
        parts = _complex_element(ctx, image, under, group, (top, left), depth, root, task.reach)
        for part, level, hidden in parts:
            if task.reach is not None:
                hidden |= task.reach
            reach = hidden if hidden.any() else None
            queue.append(_Task(part, under, top, left, level, task.level + 1, sibling_root, reach))
        return
    colour, solid, distance = fill
    reach = group if task.reach is None else group | task.reach
    # The page may show the shape's own colour along a band (a card on a gradient page): those pixels
    # are no foreground, but the shape's box may take them.
    matching = distance < SHAPE_TOL
    content = distance > ctx.tol  # what the fill does not explain: content, or what hides the shape
    shape = _complete_shape(
        image, under, colour, solid, reach | matching, reach & content, ctx.image.shape[0]
    )
    alpha = _shape_alpha(image, under, colour, shape, group)
    kind = classify(shape, ctx.image.shape[0])
    ctx.elements.append(Element(top, left, alpha, colour, depth, kind, root))
    inside = shape & (distance > ctx.tol)
    # What hides the shape (an element above it, task.reach) is not content lying on the shape.
    inside &= group | ~reach
    outside = group & (alpha == 0)
    children, siblings = _split_by_contact(inside | outside, inside, shape)
    mixed = paste(under.copy(), colour, shape)
    queue.append(_Task(children, mixed, top, left, depth + 1, task.level + 1, root))
    # A sibling may lie under the shape (a smaller card under a larger one's corner): it may be
    # completed there (see :func:`~strata.imaging.elements.stack_overlaps` for their order).
    hidden = shape if task.reach is None else shape | task.reach
    sibling_root = None if depth == 1 else root
    queue.append(_Task(siblings, under, top, left, depth, task.level + 1, sibling_root, hidden))


def _flat_fill(image: np.ndarray, group: np.ndarray, under: np.ndarray, bins: np.ndarray) -> Fit | None:
    """The fill that explains the group, or None when none does.

    Two seeds are tried: the group's dominant colour (a card) and the dominant colour of its
    high-contrast pixels (thin text, whose anti-aliased rim outnumbers its solid core). The fill that
    carries more pixels is taken if it explains the group; the other only where the first is the
    page's own colour (the ringing around a compressed title outnumbers its letters' cores). A fill
    of the group's other colour that carries more and surrounds the first is the card under it
    (:func:`_larger_fill`).
    """
    contrast = max_diff(image, under)
    values = contrast[group]
    strong = group & (contrast >= 0.5 * np.percentile(values[:: max(1, len(values) // 10_000)], 95))
    degree = 2 if min(group.shape) >= 48 else 0
    fits = [
        fit_fill(image, group, seed, SHAPE_TOL, degree)
        for seed in dominant_seeds(image, (group, strong), SHAPE_TOL, bins)
    ]
    for fit in sorted(fits, key=lambda fit: -int(fit.solid.sum())):
        if _explains(image, under, group, fit.colour, fit.solid):
            return _larger_fill(image, under, group, fit, degree)
        if (max_diff(gather(fit.colour, group), gather(under, group)) < NOISY_TOL).mean() <= 0.5:
            break
    return None


def _larger_fill(
    image: np.ndarray,
    under: np.ndarray,
    group: np.ndarray,
    fit: Fit,
    degree: int,
) -> Fit:
    """``fit``, or the fill of the group's other colour where that carries more of a flat group and
    surrounds ``fit``'s pixels: the card under a photo or a shape.

    Compression noise spreads a light card's pixels over more colour bins than a saturated shape's
    lying on it, so the most frequent colour can be the upper element's.
    """
    if 2 * fit.solid.sum() >= group.sum():
        return fit  # no other colour can carry more
    other = group & (fit.distance >= NOISY_TOL)
    if not other.any():
        return fit
    alternative = fit_fill(image, group, dominant_colour(gather(image, other)), SHAPE_TOL, degree)
    if alternative.solid.sum() <= fit.solid.sum() or not _explains(
        image, under, group, alternative.colour, alternative.solid
    ):
        return fit
    outside = np.count_nonzero(fit.solid & ~fill_holes(alternative.solid))
    return alternative if outside <= (1 - SURROUND) * fit.solid.sum() else fit


def _explains(
    image: np.ndarray, under: np.ndarray, group: np.ndarray, colour: np.ndarray, solid: np.ndarray
) -> bool:
    """Whether a fill carried by ``solid`` explains ``group``: it carries much of it, or nearly every
    pixel is the fill or its mix with the page."""
    count, total = int(solid.sum()), int(group.sum())
    if count < 3 or count < 0.08 * total:
        return False
    if count >= 0.3 * total:
        return True
    # A pixel that is the page itself shows nothing of the fill (a smooth photo framed by an outline
    # is mostly near the page model under it).
    pixels, page = gather(image, group), gather(under, group)
    shown = max_diff(pixels, page) >= SHAPE_TOL
    error = _mix_error(pixels, page, gather(colour, group))
    return bool(
        ((error < SHAPE_TOL) & shown).sum() >= 0.7 * total
        or ((error < NOISY_TOL) & shown).sum() >= 0.9 * total
    )


def _mix_error(image: np.ndarray, under: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """How far each pixel is from ``α colour + (1 − α) under`` for the best α (0: anti-aliasing, not content).

    Any matching (..., 3) arrays: whole crops or a list of pixels.
    """
    return _mix(image, under, colour)[1]


def _mix(image: np.ndarray, under: np.ndarray, colour: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The best α of :func:`_mix_error` and that error."""
    a = projection_alpha(image, under, colour)
    return a, max_diff(a[..., None] * colour + (1 - a[..., None]) * under, image)


def _complete_shape(
    image: np.ndarray,
    under: np.ndarray,
    colour: np.ndarray,
    solid: np.ndarray,
    group: np.ndarray,
    hiding: np.ndarray,
    canvas_height: int,
) -> np.ndarray:
    """Fill holes that hide content (not glyph counters), then bites cut by overlapping elements
    (``hiding``: the pixels that may be such an element, see :func:`_convex_completion`).

    A hole is filled when most of it is content (neither the colour underneath nor its anti-aliased
    mix with the fill), or when it is tiny next to a solid shape (text in the page colour on a card).
    A letter's counter is neither: a letter is thin (strokes, not a body) and no taller than a glyph,
    so its small counters stay open, and only clear content (:data:`HOLE_TOL`, not the chroma noise of a
    generated or compressed image) fills them.
    """
    filled = fill_holes(solid)
    holes = filled & ~solid
    if not holes.any():
        return _convex_completion(filled, group, hiding=hiding)
    count, labels = cv2.connectedComponents(holes.astype(np.uint8), connectivity=4)
    shapes_count, shapes, stats, _ = cv2.connectedComponentsWithStats(filled.astype(np.uint8), connectivity=8)
    owner = np.zeros(count, np.int64)
    owner[labels[holes]] = shapes[holes]
    size = np.bincount(labels.ravel(), minlength=count)
    error = _mix_error(gather(image, holes), gather(under, holes), gather(colour, holes))
    hole_labels = labels[holes]
    strict = np.bincount(hole_labels[error >= SHAPE_TOL], minlength=count)
    loose = np.bincount(hole_labels[error >= HOLE_TOL], minlength=count)
    tiny = size < 0.03 * stats[owner, cv2.CC_STAT_AREA]
    as_counter, as_hole = loose > 0.5 * size, (strict > 0.5 * size) | tiny
    # A hole kept as a counter is kept as any hole (HOLE_TOL > SHAPE_TOL): whether its shape is a
    # letter (its depth, a distance transform) matters only where a hole is kept as a hole alone.
    keep = as_hole
    if (as_hole & ~as_counter)[1:].any():
        depth = cv2.distanceTransform(solid.astype(np.uint8), cv2.DIST_L2, 3)
        radius = np.zeros(shapes_count, np.float32)  # each shape's largest depth (0 off solid pixels)
        np.maximum.at(radius, shapes[solid], depth[solid])
        letter = _stroked(radius, stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT], canvas_height)
        keep = np.where(letter[owner], as_counter, as_hole)
    keep[0] = False
    # No contour of the shape encloses more pixels than its largest filled component holds.
    bound = int(stats[1:, cv2.CC_STAT_AREA].max(initial=0))
    return _convex_completion(solid | keep[labels], group, bound, hiding)


def _convex_completion(
    shape: np.ndarray, group: np.ndarray, bound: int | None = None, hiding: np.ndarray | None = None
) -> np.ndarray:
    """A single, almost convex shape (a card with a bite) gets the :func:`_bites` of ``hiding`` (by
    default the group) inside its hull. The peel passes what the shape's fill does not explain, so a
    neighbour of nearly its colour (an illustration's back wing behind its body) is no bite.

    A shape whose hull fills most of its bounding box (a card, a rounded rectangle), or that fills
    half of it and whose group (with what may hide it) fills the rest, gets the group pixels inside
    the box instead, which restores a corner hidden under another element (a card under a card).
    ``bound``, when known, is at least the area of the shape's largest contour: below 95 % of the shape,
    the contours need not be traced.
    """
    area = int(shape.sum())
    if area < 400 or (bound is not None and bound < 0.95 * area):
        return shape
    contours, _ = cv2.findContours(shape.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    largest = max(contours, key=cv2.contourArea)
    # The pixels a contour encloses: its polygon runs through the outline pixels' centres, half a pixel
    # inside their edges (a card with a notch, all rim, would look like two pieces).
    if cv2.contourArea(largest) + cv2.arcLength(largest, True) / 2 < 0.95 * area:
        return shape
    hull = cv2.convexHull(largest)
    hull_area = max(1.0, cv2.contourArea(hull))
    x, y, w, h = cv2.boundingRect(hull)
    box = np.zeros_like(shape)
    box[y : y + h, x : x + w] = True
    hidden_corner = area >= 0.5 * w * h and (box & group).sum() >= 0.97 * w * h
    if area >= 0.8 * w * h or hull_area >= 0.9 * w * h or hidden_corner:
        return shape | (box & group)
    solidity = area / hull_area
    if solidity >= 0.97 or solidity < 0.3:
        return shape
    hull_mask = np.zeros(shape.shape, np.uint8)
    cv2.fillPoly(hull_mask, [hull], 1)
    return shape | _bites(shape, group if hiding is None else hiding, hull_mask.astype(bool))


def _bites(shape: np.ndarray, hiding: np.ndarray, hull: np.ndarray) -> np.ndarray:
    """The pixels of ``hiding`` in the shape's ``hull`` that hide a part of it: only what is thick (a
    thin run along its outline is its own rim, or a fringe the unmixing cannot explain)."""
    bite = (hull & hiding & ~shape).astype(np.uint8)
    return cv2.morphologyEx(bite, cv2.MORPH_OPEN, _THICK_KERNEL).astype(bool)


def _shape_alpha(
    image: np.ndarray, under: np.ndarray, colour: np.ndarray, shape: np.ndarray, group: np.ndarray
) -> np.ndarray:
    """1 inside the shape; on its rim the projection alpha.

    Pixels up to 2 pixels out take it where the projection explains them (anti-aliasing, not a
    neighbour's edge); group pixels up to 4 pixels out where it roughly does (soft or noisy edges
    stay with their shape instead of becoming ring-shaped elements of their own).
    """
    shape8 = shape.astype(np.uint8)
    near = cv2.dilate(shape8, np.ones((5, 5), np.uint8)).astype(bool) & ~shape
    soft = cv2.dilate(shape8, np.ones((9, 9), np.uint8)).astype(bool) & ~shape & group
    rim = near | soft
    a, residual = _mix(gather(image, rim), gather(under, rim), gather(colour, rim))
    alpha = np.zeros(shape.shape, np.float32)
    explained = (near[rim] & (residual < SHAPE_TOL)) | (soft[rim] & (residual < 6 * SHAPE_TOL))
    alpha[rim] = np.where(explained, a, 0)
    alpha[shape] = 1.0
    return alpha


def _complex_element(
    ctx: PeelContext,
    image: np.ndarray,
    under: np.ndarray,
    group: np.ndarray,
    box: tuple[int, int],
    depth: int,
    root: int,
    reach: np.ndarray | None,
) -> list[tuple[np.ndarray, int, np.ndarray]]:
    """Make the group's large connected parts photo elements (or lettering, :func:`_letters`), and the
    scattered rest one more.

    Large compact flat shapes in the group (a badge, a circle, cards overlapping each other) are
    returned to be peeled one by one, each as (pixels, depth, where something lying on it hides it),
    stacked by :func:`_stacking`: a shape lies under whatever bites into its hull (a circle partly
    under a photo, the lower of two overlapping cards), and the largest photo under the shapes it
    touches that do not lie under it, completed under them (convex hull, inpainted colour) and
    under ``reach``, the element peeled before it that hides it (a card over its corner).
    Scattered small parts (glyphs of a text block on a photo-like region) stay in a single element.
    """
    parts: list[np.ndarray] = []
    flat = np.zeros_like(group)
    while len(parts) < _MAX_FLAT_PARTS and (part := _compact_flat_part(image, group & ~flat, flat)).any():
        # The flat part's anti-aliased rim goes with it, not with the photo.
        part = cv2.dilate(part.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool) & group & ~flat
        parts.append(part)
        flat |= part
    body = group & ~flat
    if not body.any():
        body, parts = group, []
    # Within a flat part's ringing, thin runs of the rest and scattered pixels (below) stay in the page.
    ringing_reach = cv2.dilate(flat.astype(np.uint8), _RING).astype(bool)
    if flat.any() and (kept := body & ~(ringing_reach & _thin(body))).any():
        body = kept
    _, labels, stats, _ = cv2.connectedComponentsWithStats(body.astype(np.uint8), connectivity=8)
    order = np.argsort(-stats[1:, cv2.CC_STAT_AREA], kind="stable") + 1
    largest = stats[order[0], cv2.CC_STAT_AREA]
    big = [label for label in order[:8] if stats[label, cv2.CC_STAT_AREA] >= 0.25 * largest]
    levels, on = _stacking([*parts, labels == order[0]])
    lifted = 0  # levels a collage adds under the flat parts lying on it
    rest = body & ~np.isin(labels, big)
    for rank, label in enumerate(big):
        x, y, w, h = (int(v) for v in stats[label, :4])
        lettering = _letters(labels[y : y + h, x : x + w] == label, ctx.image.shape[0])
        piece = labels == label
        if lettering:
            # The scattered pixels in its box, or as far out as ringing reaches, are its ringing.
            near = (
                slice(max(0, y - HALO_REACH), y + h + HALO_REACH),
                slice(max(0, x - HALO_REACH), x + w + HALO_REACH),
            )
            piece[near] |= rest[near]
            rest[near] = False
            x, y, w, h = cv2.boundingRect(piece.astype(np.uint8))
        crop = (slice(y, y + h), slice(x, x + w))
        piece = piece[crop]
        colour = image[crop].copy()
        on_photo = on[-1][crop] if rank == 0 else np.zeros_like(piece)
        if rank == 0 and reach is not None:
            on_photo = on_photo | (reach[crop] & ~piece)
        if lettering:
            region = _open_counters(image[crop], under[crop], piece)
        else:
            region = _rectangle(fill_holes(piece), on_photo)
        level = depth + (levels[-1] if rank == 0 else 0)
        photos = None if lettering else collage(region, on_photo, image[crop])
        if photos is not None:
            at = _At(box[0] + y, box[1] + x, level, root, depth == 1)
            _add_collage(ctx, image[crop], region, on_photo, photos, at)
            lifted = len(photos) - 1 if rank == 0 else 0
            continue
        if rank == 0:
            # Under the shapes lying on it (in its holes or over its edge) it is inpainted, not a
            # copy of them.
            hidden = (_convex_completion(region, region | on_photo) & ~region) | (region & on_photo)
            if hidden.any():
                paste(colour, fill_estimate(image[crop], hidden), hidden)
            region |= hidden
        alpha = region.astype(np.float32)
        if lettering:
            _soften_rim(image[crop], under[crop], region, alpha, colour)
        kind = "text" if lettering else "photo"
        ctx.elements.append(Element(box[0] + y, box[1] + x, alpha, colour, level, kind, root))
    rest &= ~ringing_reach
    # A few scattered pixels are noise at the photo's rim, not a text block: they stay in the page.
    if rest.sum() >= max(ctx.min_area, FRAGMENT * ctx.image.shape[0] * ctx.image.shape[1]):
        ctx.elements.append(
            Element(box[0], box[1], rest.astype(np.float32), image.copy(), depth, "photo", root)
        )
    return [
        (part, depth + levels[i] + (lifted if levels[i] > levels[-1] else 0), on[i])
        for i, part in enumerate(parts)
    ]


def _thin(body: np.ndarray) -> np.ndarray:
    """The runs of ``body`` less than :data:`~strata.imaging.elements.THICK` pixels wide (its holes
    filled: a photo's pixels that match the card under it are holes). Along a flat part they are no
    photo: a JPEG card's ringing on a photo page, or a strip of the page between a card and a photo
    ending a few pixels short of it."""
    solid = fill_holes(body).astype(np.uint8)
    return body & ~cv2.morphologyEx(solid, cv2.MORPH_OPEN, _THICK_KERNEL).astype(bool)


def _add_collage(
    ctx: PeelContext, image: np.ndarray, region: np.ndarray, on: np.ndarray, photos: list[Box], at: _At
) -> None:
    """The photos of a collage (:func:`~strata.imaging.collage.collage`) as elements, back to front,
    each completed (inpainted) under the photos above it and under the shapes lying on it (``on``).
    On the page each is a component of its own."""
    root = at.root
    for index, (top, left, bottom, right) in enumerate(photos):
        box = (slice(top, bottom), slice(left, right))
        covered = on.copy()
        for upper in photos[index + 1 :]:
            covered[upper[0] : upper[2], upper[1] : upper[3]] = True
        alpha = (region | on)[box]
        hidden = alpha & covered[box]
        colour = image[box].copy()
        if hidden.any():
            paste(colour, fill_estimate(image[box], hidden), hidden)
        if index and at.page:
            ctx.roots += 1
            root = ctx.roots
        ctx.elements.append(
            Element(
                at.top + top,
                at.left + left,
                alpha.astype(np.float32),
                colour,
                at.level + index,
                "photo",
                root,
            )
        )


def _letters(part: np.ndarray, canvas_height: int) -> bool:
    """Whether a photo-like part is :func:`_stroked`: lettering (a title with a stroke outline in a
    compressed image, whose two colours and ringing pass no flat test)."""
    depth = cv2.distanceTransform(np.pad(part, 1).astype(np.uint8), cv2.DIST_L2, 3)
    h, w = part.shape
    return bool(_stroked(depth.max(), w, h, canvas_height))


def _stroked(radius: Any, width: Any, height: Any, canvas_height: int) -> Any:
    """A letter (per shape, arrays or numbers): drawn with strokes, its inscribed radius below
    :data:`THIN` of its box's short side (not a body), and no taller than a glyph (a lattice panel is)."""
    return (radius < THIN * np.minimum(width, height)) & (height <= GLYPH * canvas_height)


def _open_counters(image: np.ndarray, under: np.ndarray, part: np.ndarray) -> np.ndarray:
    """``part`` with its holes filled, except counters: holes most of whose pixels show what lies
    under it (within :data:`HOLE_TOL`, the ringing of a compressed image)."""
    holes = fill_holes(part) & ~part
    count, labels = cv2.connectedComponents(holes.astype(np.uint8), connectivity=4)
    content = holes & (max_diff(image, under) >= HOLE_TOL)
    keep = np.bincount(labels[content], minlength=count) > 0.5 * np.bincount(labels[holes], minlength=count)
    keep[0] = False
    return part | keep[labels]


def _soften_rim(
    image: np.ndarray, under: np.ndarray, region: np.ndarray, alpha: np.ndarray, colour: np.ndarray
) -> None:
    """Pixels of lettering within :data:`HOLE_TOL` of what lies under it are its anti-aliased rim
    or ringing, not its colours: they get the smallest alpha that explains them and the colour it
    unmixes, or, where that alpha is above a half (ringing lighter than a light page: only an
    almost opaque white explains it), stay in what lies under it. In place."""
    rim = region & (max_diff(image, under) < HOLE_TOL)
    a = min_alpha(gather(image, rim), gather(under, rim))
    a[a > 0.5] = 0.0
    alpha[rim] = a
    colour[rim] = unblend(gather(image, rim), gather(under, rim), a)


def _rectangle(region: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """A photo that is a rectangle (it fills 80 % of its box and, with what hides it, runs along half of
    each side) with the parts of its box it misses: where it fades into the colour it lies on, those
    pixels were taken for that card. Rounded corners (a missing part in a corner, at most a quarter of
    the short side) stay out. Wisps beyond the rows and columns it half fills with what hides it (a bit
    of a photo page caught at its edge, at most :data:`WISPS` of it) are dropped.
    """
    covered = region | hidden
    top, left, bottom, right = _core(covered)
    h, w = bottom - top, right - left
    own = region[top:bottom, left:right].sum()
    if min(h, w) < 8 or own < 0.8 * h * w or own < (1 - WISPS) * region.sum():
        return region
    core = covered[top:bottom, left:right]
    sides = (core[0].mean(), core[-1].mean(), core[:, 0].mean(), core[:, -1].mean())
    if min(sides) < 0.5:
        return region
    count, labels, stats, _ = cv2.connectedComponentsWithStats((~core).astype(np.uint8), connectivity=4)
    corner = 0.25 * min(h, w)
    out = np.zeros_like(region)
    out[top:bottom, left:right] = region[top:bottom, left:right]
    for k in range(1, count):
        x, y, cw, ch = (int(v) for v in stats[k, :4])
        at_corner = x in (0, w - cw) and y in (0, h - ch)
        if not (at_corner and cw <= corner and ch <= corner):
            out[top:bottom, left:right] |= labels == k
    return out


def _core(region: np.ndarray) -> Box:
    """(top, left, bottom, right) of the rows and columns that ``region`` fills at least half of,
    narrowed until they agree."""
    top, left, bottom, right = 0, 0, *region.shape
    for _ in range(3):
        box = region[top:bottom, left:right]
        rows = np.flatnonzero(box.mean(axis=1) >= 0.5)
        cols = np.flatnonzero(box.mean(axis=0) >= 0.5)
        if not len(rows) or not len(cols):
            return top, left, top, left
        narrowed = (top + rows[0], left + cols[0], top + rows[-1] + 1, left + cols[-1] + 1)
        if narrowed == (top, left, bottom, right):
            break
        top, left, bottom, right = (int(v) for v in narrowed)
    return top, left, bottom, right


def _stacking(shapes: list[np.ndarray]) -> tuple[list[int], list[np.ndarray]]:
    """Levels above the group's depth, and what lies on each, of flat parts and (last) the photo.

    A flat part lies under a shape that bites into its hull (2 % of the part's area) or hides a thick
    part of the ellipse it is (a circle cut straight by a photo's side); the photo lies under each flat
    part it touches that does not lie under it. Each shape is one level above the highest shape it lies
    on.
    """
    photo = len(shapes) - 1
    pairs = []  # (lower, upper)
    for i in range(photo):
        hull, bite = _hull(shapes[i]), 0.02 * shapes[i].sum()
        for j, other in enumerate(shapes):
            if j != i and ((hull & other).sum() >= bite or _hides(other, shapes[i])):
                pairs.append((i, j))
        if (i, photo) not in pairs and _touches(shapes[i], shapes[photo]):
            pairs.append((photo, i))
    levels = [0] * len(shapes)
    for _ in shapes:  # longest chain first; a cycle stops growing after this many rounds
        for lower, upper in pairs:
            levels[upper] = max(levels[upper], levels[lower] + 1)
    on = [np.zeros_like(shape) for shape in shapes]
    for lower, upper in pairs:
        on[lower] |= shapes[upper]
    return levels, on


def _hides(upper: np.ndarray, shape: np.ndarray) -> bool:
    """Whether ``upper`` hides a part of the ellipse ``shape`` is, thick (not a rim between them)."""
    hidden = hidden_part(shape, upper)
    return hidden is not None and thick(hidden)


def _touches(a: np.ndarray, b: np.ndarray) -> bool:
    return bool((cv2.dilate(a.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & b).any())


def _hull(shape: np.ndarray) -> np.ndarray:
    """The convex hull of the shape's largest outline, as a mask (empty for an empty shape)."""
    hull = np.zeros(shape.shape, np.uint8)
    contours, _ = cv2.findContours(shape.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if contours:
        cv2.fillPoly(hull, [cv2.convexHull(max(contours, key=cv2.contourArea))], 1)
    return hull.astype(bool)


def _compact_flat_part(image: np.ndarray, group: np.ndarray, taken: np.ndarray) -> np.ndarray:
    """The largest flat-colour, nearly convex component of a complex group (or nothing).

    Its holes are what lies on it, also where a part ``taken`` before (a card over its corner) closes them.
    """
    none = np.zeros_like(group)
    if group.sum() < 2000:
        return none
    fill = dominant_colour(gather(image, group))
    solid = fit_fill(image, group, fill, SHAPE_TOL, degree=0).solid
    solid = cv2.morphologyEx(solid.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(solid, connectivity=8)
    if count <= 1:
        return none
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    part = fill_holes((labels == largest) | taken) & ~taken
    if part.sum() < max(400, 0.02 * group.sum()):
        return none
    contours, _ = cv2.findContours(part.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    largest_contour = max(contours, key=cv2.contourArea)
    hull_area = cv2.contourArea(cv2.convexHull(largest_contour))
    _, _, w, h = cv2.boundingRect(largest_contour)
    compact = part.sum() >= 0.9 * hull_area or part.sum() >= BOX_FILL * w * h
    return part if compact and _sharp_outline(image, part, group, fill) else none


def _sharp_outline(image: np.ndarray, part: np.ndarray, group: np.ndarray, fill: np.ndarray) -> bool:
    """Whether the rest of the group steps sharply away from the part's fill where they meet.

    A card on a photo meets it in a step; a dark, smooth area of the photo itself fades into the
    rest. Judged a few pixels out (past an anti-aliased rim): most of the group there must be further
    than :data:`OUTLINE_STEP` from the fill. A part the rest does not touch has nothing to judge.
    """
    grown = cv2.dilate(part.astype(np.uint8), np.ones((7, 7), np.uint8))
    ring = (grown - cv2.dilate(part.astype(np.uint8), np.ones((5, 5), np.uint8))).astype(bool) & group
    if ring.sum() < 20:
        return True
    return bool((max_diff(gather(image, ring), fill) > OUTLINE_STEP).mean() >= 0.5)


def _split_by_contact(
    candidates: np.ndarray, inside: np.ndarray, shape: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Components that touch ``inside`` sit on the element (children), unless under :data:`THREAD` of
    them lies on ``shape`` (a neighbour joined to it by a thread of the page, or touching only its rim:
    a circle whose foot a card covers); the others lie beside it."""
    if not candidates.any():
        return candidates, candidates
    count, labels = cv2.connectedComponents(candidates.astype(np.uint8), connectivity=8)
    size = np.bincount(labels.ravel(), minlength=count)
    on = np.bincount(labels[shape], minlength=count)
    thread = on < THREAD * size
    touching = (np.bincount(labels[inside], minlength=count) > 0) & ~thread
    touching[0] = False
    children = touching[labels]
    return children, candidates & ~children
