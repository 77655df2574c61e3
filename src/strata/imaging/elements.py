"""Design elements and how foreground pixels are grouped into them.

An :class:`Element` is one thing a designer would have drawn on its own: a card, a button, a text run,
a photo, an icon. It lives in a box of the canvas with its own alpha and colour, where the colour is
completed under whatever sits on top of it (the fill of a card continues under its text).

Foreground pixels are grouped into candidate elements by connected components after a dilation whose
size follows the median component height: letters join into words and lines, close shapes join into
one group, which the recursive extraction (:mod:`strata.imaging.peel`) then takes apart.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import cache, cached_property

import cv2
import numpy as np

from strata.imaging.fill import gather, max_diff, paste
from strata.imaging.rectangles import draw, long_runs, rectangles

#: Kinds of element, used for layer names and for splitting layers by kind.
KINDS = ("shape", "photo", "text")
#: A glyph is at most this fraction of the canvas height (taller is a shape, however thin).
GLYPH = 0.2
#: An element alone in its component, of at most this fraction of the canvas, that touches a larger
#: element of another component is a fragment of that element's rim (a fringe the unmixing did not
#: explain: a compression halo, a colour fringe), not something a designer drew on its own.
FRAGMENT = 2e-4
#: A flat piece of a shape cut off by another shape's rim lies at most this many pixels from the
#: rest of its shape, and has its fill within this max-channel distance.
PIECE_GAP = 3
PIECE_TOL = 0.035
#: A component with at least ``HALO_SHARE`` of its pixels off an element within ``HALO_REACH`` pixels
#: of it, lying mostly off a larger element or around a smaller one, is that element's halo or
#: outline (the ringing a JPEG leaves around a title reaches up to about 6 pixels past the title's own
#: rim; a stroke or a border is usually thinner).
HALO_REACH, HALO_SHARE = 6, 0.9
#: Two text elements are words of one line when their letters overlap vertically over at least
#: ``LINE_OVERLAP`` of the shorter one's height, the taller one is at most twice as tall, the gap
#: between them is at most ``WORD_GAP`` of the taller one's height (a word space is about a third of
#: a letter's height; columns and menu items stand further apart), and their ink is within
#: ``INK_TOL`` (max channel).
LINE_OVERLAP, WORD_GAP, INK_TOL = 0.6, 0.6, 0.1
#: Text peeled as a card's content with at least this share of its ink off the card runs across the
#: card's edge (a title laid over a card's corner), not on the card: it joins its line's words on the page.
RUNS_OFF = 0.05
#: A mark of a text run (the dot of an "i", an accent, a full stop) is at most this fraction of the
#: run's height long, and lies within that much of it above or below.
MARK = 0.5
#: Two overlapping flat shapes are stacked by the image where they overlap when it is closer to one's
#: fill than to the other's by this much (mean max-channel distance), over at least SHOWN_MIN pixels
#: and SHOWN_SHARE of the larger one or a part THICK pixels thick (a card's corner or a strip of its
#: side, not a few pixels of rim: an anti-aliased or soft rim is at most 4 pixels wide).
SHOWN_TOL, SHOWN_MIN, SHOWN_SHARE, THICK = 0.05, 20, 0.01, 5
#: Overlapping shapes are peers (two cards) when the lower one is at most this many times larger.
PEER = 4
#: An element with at least this fraction of its area off the shape under it only overlaps that shape
#: (a circle over a card's corner), it does not sit on it as a widget sits on a panel.
OVERHANG = 0.3
#: Only bodies (cards, circles) are stacked so: shapes filling at least this fraction of their box,
#: not frames or rules, whose box holds whatever they surround.
SOLID_BODY = 0.5
#: A region cut by the canvas edge is framed only if it meets the edge over at most this many times the
#: square root of its area (a circle cut at its middle: about 1.1).
EDGE_CONTACT = 1.5
#: A straight outline runs along one flat colour: its pixels 3 pixels off it are within this of their mean.
FLAT_SIDE = 0.06


#: (top, left, bottom, right) of a box on the canvas.
Box = tuple[int, int, int, int]


@dataclass
class Element:
    """One element in the box ``[top:top+h, left:left+w]`` of the canvas."""

    top: int
    left: int
    alpha: np.ndarray  # float32 (h, w) in [0, 1]
    colour: np.ndarray  # float32 (h, w, 3) in [0, 1], straight
    depth: int  # 1 for elements on the background, parent depth + 1 for elements on an element
    kind: str
    root: int  # index of the top-level group the element came from

    @cached_property
    def area(self) -> float:
        """Total opacity (asked for often; an element's alpha is not changed once it is made)."""
        return float(self.alpha.sum())

    @property
    def box(self) -> Box:
        """(top, left, bottom, right) of the element's box."""
        h, w = self.alpha.shape
        return self.top, self.left, self.top + h, self.left + w


def crops(a: Box, b: Box) -> tuple[tuple[slice, slice], tuple[slice, slice]] | None:
    """Where boxes ``a`` and ``b`` (top, left, bottom, right) meet, as slices of each, or None."""
    top, left, bottom, right = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    if top >= bottom or left >= right:
        return None
    return (
        (slice(top - a[0], bottom - a[0]), slice(left - a[1], right - a[1])),
        (slice(top - b[0], bottom - b[0]), slice(left - b[1], right - b[1])),
    )


def box_inside(box: Box, outer: Box) -> bool:
    """Whether ``box`` lies inside ``outer`` (edges may touch)."""
    return outer[0] <= box[0] and outer[1] <= box[1] and box[2] <= outer[2] and box[3] <= outer[3]


def outside(element: Element, others: list[Element]) -> float:
    """Fraction of ``element``'s alpha that lies off the union of ``others``."""
    under = np.zeros(element.alpha.shape, np.float32)
    for other in others:
        if (meet := crops(element.box, other.box)) is not None:
            mine, theirs = meet
            np.maximum(under[mine], other.alpha[theirs], out=under[mine])
    covered = float((element.alpha * under).sum())
    return 1.0 - covered / max(element.area, 1e-6)


def bottom_depths(elements: list[Element]) -> dict[int, int]:
    """Each component's (root's) bottom depth."""
    base: dict[int, int] = {}
    for element in elements:
        base[element.root] = min(base.get(element.root, element.depth), element.depth)
    return base


def merged(elements: list[Element], kind: str) -> Element:
    """One element holding ``elements`` (disjoint or nearly: the more opaque one owns a pixel).

    Depth and root are the first element's.
    """
    top, left = min(e.top for e in elements), min(e.left for e in elements)
    bottom, right = max(e.box[2] for e in elements), max(e.box[3] for e in elements)
    alpha = np.zeros((bottom - top, right - left), np.float32)
    colour = np.zeros((*alpha.shape, 3), np.float32)
    for element in elements:
        e_top, e_left, e_bottom, e_right = element.box
        where = (slice(e_top - top, e_bottom - top), slice(e_left - left, e_right - left))
        mine = element.alpha > alpha[where]
        np.copyto(alpha[where], element.alpha, where=mine)
        paste(colour[where], element.colour, mine)
    return Element(top, left, alpha, colour, elements[0].depth, kind, elements[0].root)


def absorb_fragments(elements: list[Element], pixels: int) -> list[Element]:
    """Elements with the rim fragments (:data:`FRAGMENT`) that touch them merged in.

    Left apart, each fragment would be a component of its own: a scatter of specks that the layer
    plan spreads over unrelated layers. A fragment joins the larger element it touches along most
    pixels (smallest fragments first, so a fringe follows its dot wherever the dot goes). One that
    touches nothing but lies inside a larger element's box, or just outside it (a compression speck
    in a letter's counter or beside the letter), joins the smallest such element.
    """
    roots = Counter(e.root for e in elements)
    small = [i for i, e in enumerate(elements) if roots[e.root] == 1 and e.area <= FRAGMENT * pixels]
    owners = _owners(elements, small, lambda i, j: elements[j].area > elements[i].area, reach=1)
    for i in small:
        if owners[i] == i:
            around = [j for j, e in enumerate(elements) if owners[j] == j and _encloses(e, elements[i])]
            owners[i] = min(around, key=lambda j: elements[j].area, default=i)
    return _merge_owned(elements, owners)


def absorb_halos(elements: list[Element]) -> list[Element]:
    """Elements with the halos and outlines around them merged in, so that they move together.

    A component (all elements of a root) joins an element of another component that it wraps
    (:func:`_wrapped`; smallest components first): the ringing around a JPEG title, the slivers of a
    card's rim, a title's stroke outline peeled apart from its ink. So does an element that wraps an
    element it was peeled from (a card's border, peeled as content of the card's fill). A halo in an
    element's holes (ringing or noise in a letter's counter) is the page's and is left to the
    background layer.
    """
    members: dict[int, list[int]] = {}
    for i, element in enumerate(elements):
        members.setdefault(element.root, []).append(i)
    area = {root: sum(elements[i].area for i in group) for root, group in members.items()}
    boxes = np.array([e.box for e in elements]).reshape(-1, 4)
    owner, dropped = list(range(len(elements))), set()
    holes: dict[int, np.ndarray] = {}
    for root in sorted(members, key=area.__getitem__):
        parts = [elements[i] for i in members[root]]
        halo = merged(parts, "shape") if len(parts) > 1 else parts[0]
        near = [int(j) for j in near_boxes(boxes, halo.box, HALO_REACH)]
        others = [j for j in near if elements[j].root != root and owner[j] == j]
        if (j := _wrapped(halo, others, elements, area[root])) is None:
            continue
        if j not in holes:
            holes[j] = fill_holes(elements[j].alpha > 0) & (elements[j].alpha == 0)
        if 2 * contact(holes[j], elements[j].top, elements[j].left, halo) >= np.count_nonzero(halo.alpha):
            dropped.update(members[root])
        else:
            for i in members[root]:
                owner[i] = j
    # An outline peeled as content of what it outlines: a card's border, on the card's fill.
    for i, element in enumerate(elements):
        if owner[i] != i or i in dropped:
            continue
        near = [int(j) for j in near_boxes(boxes, element.box, HALO_REACH)]
        below = [j for j in near if elements[j].root == element.root and elements[j].depth < element.depth]
        if (j := _wrapped(element, below, elements, element.area)) is not None:
            owner[i] = j
    gone = {id(elements[i]) for i in dropped}  # each owns itself alone, so it comes back as it is
    return [element for element in _merge_owned(elements, owner) if id(element) not in gone]


def _wrapped(halo: Element, candidates: list[int], elements: list[Element], area: float) -> int | None:
    """The first of ``candidates`` that ``halo`` (of total ``area``) wraps, or None.

    A halo wraps an element when nearly all (:data:`HALO_SHARE`) of its pixels off the element lie
    within :data:`HALO_REACH` pixels of it, and either the element is the larger and the halo lies
    mostly off it (ringing around a title), or the element lies inside the halo's outline, all of it,
    not only its part near the halo (a stroke completed under the ink it outlines, a border around a
    card; not a large photo lying on a card).
    """
    reach = HALO_REACH
    top, left, bottom, right = halo.box
    frame = (top - reach, left - reach, bottom + reach, right + reach)
    mine = np.pad(halo.alpha > 0, reach)
    kernel = np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)
    for j in candidates:
        other = elements[j]
        meet = crops(frame, other.box)
        if meet is None:
            continue
        theirs = np.zeros(mine.shape, bool)
        theirs[meet[0]] = other.alpha[meet[1]] > 0
        ring = mine & ~theirs
        # Only pixels within reach of the other element's box can be close to it.
        rows, cols = meet[0]
        near = (
            slice(max(0, rows.start - reach), rows.stop + reach),
            slice(max(0, cols.start - reach), cols.stop + reach),
        )
        needed = HALO_SHARE * np.count_nonzero(ring)
        if not needed or np.count_nonzero(ring[near]) < needed:
            continue  # too little of the ring is near the element even before dilating it
        close = cv2.dilate(theirs[near].astype(np.uint8), kernel).astype(bool)
        if np.count_nonzero(ring[near] & close) < needed:
            continue
        if other.area > area and 2 * np.count_nonzero(mine & theirs) < np.count_nonzero(mine):
            return j
        inside = np.count_nonzero(theirs & fill_holes(mine))
        if inside >= HALO_SHARE * np.count_nonzero(other.alpha > 0):
            return j
    return None


def _encloses(outer: Element, inner: Element) -> bool:
    """Whether ``inner``'s box lies inside ``outer``'s grown by :data:`HALO_REACH` (ringing reaches that
    far past a letter) and ``outer`` is the larger."""
    top, left, bottom, right = inner.box
    t, lf, b, r = outer.box
    reach = HALO_REACH
    inside = t - reach <= top and lf - reach <= left and bottom <= b + reach and right <= r + reach
    return inside and outer.area > inner.area


def rejoin_pieces(elements: list[Element]) -> list[Element]:
    """Flat pieces cut off a shape by the rim of the shape under it rejoin their shape.

    A card over another card's corner: the lower card is completed under it, so the corner of the
    upper card is peeled as content of the lower one, kept apart from the rest of its card by the
    lower card's anti-aliased rim (at most :data:`PIECE_GAP` pixels wide). A piece is a shape lying
    on another, of the fill (within :data:`PIECE_TOL`) of a larger shape of another component that
    it nearly touches: it joins that shape, and the gap between them is closed with the fill.
    """
    fills = [_fill(e) if e.kind == "shape" else None for e in elements]

    def joins(i: int, j: int) -> bool:
        piece, shape, piece_fill, shape_fill = elements[i], elements[j], fills[i], fills[j]
        return (
            shape.root != piece.root
            and shape.area > piece.area
            and piece_fill is not None
            and shape_fill is not None
            and float(np.abs(piece_fill - shape_fill).max()) <= PIECE_TOL
        )

    pieces = [i for i, e in enumerate(elements) if e.depth > 1 and fills[i] is not None]
    owners = _owners(elements, pieces, joins, reach=PIECE_GAP + 1)
    return [
        _closed(merged(group, group[0].kind), PIECE_GAP) if len(group) > 1 else group[0]
        for group in _gather(elements, owners)
    ]


def join_words(elements: list[Element]) -> list[Element]:
    """Text elements that are words of one line (:data:`WORD_GAP`) merged into one text run, with
    their marks (:data:`MARK`).

    Letters are grouped into words by a dilation capped at 2 % of the canvas's long side and
    following the median component height, so the words of a large title, or the dot of its "i",
    can come out apart; a designer sets a line of text as one run. Only things on the same thing
    join: both on the page, or both on the same card, and in one ink; or a word on the page and one
    peeled as a card's content that runs off the card (:data:`RUNS_OFF`: the card's edge crosses the
    title), whose run is then a component of its own above the card. What lay on a word (a speck of
    ringing in a letter) then belongs to the run's component.
    """
    boxes = [_ink_box(e) for e in elements]
    lines = {
        i: box for i, (e, box) in enumerate(zip(elements, boxes, strict=True)) if e.kind == "text" and box
    }
    inks: dict[int, np.ndarray] = {}
    owner = list(range(len(elements)))

    def ink(i: int) -> np.ndarray:
        if i not in inks:
            inks[i] = np.median(elements[i].colour[elements[i].alpha >= 0.5], axis=0)
        return inks[i]

    @cache
    def runs_off(i: int) -> bool:
        element = elements[i]
        if element.kind != "text":
            return False
        under = [e for e in elements if e.root == element.root and e.depth < element.depth]
        cards = [e for e in under if e.kind != "text"]
        return bool(cards) and outside(element, cards) >= RUNS_OFF

    def beside(i: int, j: int) -> bool:
        """Same parent (the page, or one card), or a page word and one running off its card; one ink."""
        first, second = elements[i], elements[j]
        same = first.depth == second.depth and (first.depth == 1 or first.root == second.root)
        across = first.root != second.root and (
            (first.depth == 1 and runs_off(j)) or (second.depth == 1 and runs_off(i))
        )
        return (same or across) and float(np.abs(ink(i) - ink(j)).max()) <= INK_TOL

    def find(i: int) -> int:
        while owner[i] != i:
            i = owner[i]
        return i

    for i, line in lines.items():
        for j, other in lines.items():
            if i < j and _same_line(line, other) and beside(i, j):
                owner[max(find(i), find(j))] = min(find(i), find(j))
    # A letter cut off its word (by JPEG ringing) is a "shape": one on a line, in its ink and within
    # a word space of it joins it, and so ties together the words on either side of it.
    for j, glyph in enumerate(boxes):
        if elements[j].kind == "shape" and glyph is not None:
            for i, line in lines.items():
                if _glyph_of(glyph, line) and beside(i, j):
                    owner[max(find(i), find(j))] = min(find(i), find(j))
    # A mark joins the one run it lies closest to, so it never ties two lines together.
    for j, mark in enumerate(boxes):
        if j in lines or mark is None:
            continue
        near = [i for i, line in lines.items() if _mark_of(mark, line) and beside(i, j)]
        if near:
            i = min(near, key=lambda i: abs(lines[i][0] + lines[i][2] - mark[0] - mark[2]))
            owner[find(j)] = find(i)
    # A run is the component of its word on the page, if one is (across a card's edge: above the card).
    runs = [(min(run, key=lambda e: e.depth), run) for run in _gather(elements, owner)]
    # What lay on a word (a speck in a letter) now lies on the run: it joins the run's component.
    root = {e.root: head.root for head, run in runs for e in run if e.depth == 1 and e is not head}
    return [
        replace(merged(run, "text"), depth=max(e.depth for e in run), root=head.root)
        if len(run) > 1
        else _rerooted(run[0], root)
        for head, run in runs
    ]


def _rerooted(element: Element, root: dict[int, int]) -> Element:
    """``element`` moved to the component ``root`` maps its own to, if any."""
    return replace(element, root=root[element.root]) if element.root in root else element


def stack_overlaps(elements: list[Element], image: np.ndarray) -> None:
    """Raise components so that where the bodies (flat shapes, photos) of two components overlap,
    the one the image shows there lies above (in place).

    A card peeled beside a larger card it lies under is completed under that card's corner
    (:mod:`~strata.imaging.peel`), so the two opaque bodies overlap; painted larger-below, the
    smaller card would cover the other's corner (so would a photo beside the card over its corner).
    Where the image there is clearly the colour of one of them (:data:`SHOWN_TOL`), that one is on
    top, and its component is raised above the other's when painting would put it below, or when
    the two are peers (:data:`PEER`: two cards, not a widget on a panel) or the upper one lies
    mostly off the lower one (:data:`OVERHANG`: a circle over a card's corner), so that the lower
    one keeps the corner it was completed under
    (:func:`~strata.imaging.merge.carriers`).
    """
    base = bottom_depths(elements)
    heads = [e for e in elements if e.kind in ("shape", "photo") and e.depth == base[e.root] and _is_body(e)]
    if len(heads) < 2:
        return
    boxes = np.array([e.box for e in heads])
    apart = (boxes[:, None, 0] >= boxes[None, :, 2]) | (boxes[:, None, 2] <= boxes[None, :, 0])
    apart |= (boxes[:, None, 1] >= boxes[None, :, 3]) | (boxes[:, None, 3] <= boxes[None, :, 1])
    pairs = [(int(i), int(j)) for i, j in zip(*np.nonzero(~apart), strict=True) if i < j]
    shown = [order for i, j in pairs if (order := _shown(heads[i], heads[j], image)) is not None]
    for upper, lower in shown:
        _uncover(upper, lower, image)
    for _ in range(len(shown)):
        raised = False
        for upper, lower in shown:
            below = (upper.depth, -upper.area) < (lower.depth, -lower.area)
            peers = upper.depth <= lower.depth and (
                lower.area <= PEER * upper.area or outside(upper, [lower]) >= OVERHANG
            )
            if (below or peers) and upper.root != lower.root:
                lift = lower.depth - upper.depth + 1
                for element in elements:
                    if element.root == upper.root:
                        element.depth += lift
                raised = True
        if not raised:
            return


def _is_body(element: Element) -> bool:
    """Whether the element fills :data:`SOLID_BODY` of the box around its pixels."""
    box = pixel_box_area(element)
    return box > 0 and element.area >= SOLID_BODY * box


def pixel_box_area(element: Element) -> int:
    """The area of the box around the element's visible pixels (its own box may be looser)."""
    rows, cols = np.flatnonzero(element.alpha.any(axis=1)), np.flatnonzero(element.alpha.any(axis=0))
    return int((rows[-1] - rows[0] + 1) * (cols[-1] - cols[0] + 1)) if len(rows) else 0


def _shown(a: Element, b: Element, image: np.ndarray) -> tuple[Element, Element] | None:
    """(upper, lower) where the opaque bodies of ``a`` and ``b`` overlap and the image there is
    clearly one's colour, else None."""
    overlap = _overlap(a, b, image)
    if overlap is None:
        return None
    seen, colour_a, colour_b, _, _ = overlap
    error_a = float(max_diff(seen, colour_a).mean())
    error_b = float(max_diff(seen, colour_b).mean())
    if abs(error_a - error_b) < SHOWN_TOL:
        return None
    return (a, b) if error_a < error_b else (b, a)


def _uncover(upper: Element, lower: Element, image: np.ndarray) -> None:
    """Clear ``upper``'s completion where the image shows ``lower`` (a rounded corner of a card
    lying on another: its box completion took the pixels beside the corner)."""
    overlap = _overlap(upper, lower, image)
    if overlap is None:
        return
    seen, colour_upper, colour_lower, both, crop = overlap
    mine = upper.alpha[crop]
    showing = (max_diff(seen, colour_lower) < SHOWN_TOL) & (max_diff(seen, colour_upper) >= SHOWN_TOL)
    cleared = np.zeros_like(both)
    cleared[both] = showing
    mine[cleared] = 0.0


def _overlap(
    a: Element, b: Element, image: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[slice, slice]] | None:
    """Where the opaque bodies of ``a`` and ``b`` overlap (see :data:`SHOWN_MIN`): the
    image's, ``a``'s and ``b``'s colours there, the overlap mask and its crop of ``a``'s box."""
    meet = crops(a.box, b.box)
    if meet is None:
        return None
    crop_a, crop_b = meet
    both = (a.alpha[crop_a] >= 1.0) & (b.alpha[crop_b] >= 1.0)
    count = int(np.count_nonzero(both))
    if count < SHOWN_MIN or (count < SHOWN_SHARE * max(a.area, b.area) and not thick(both)):
        return None
    seen = gather(image[a.top : a.box[2], a.left : a.box[3]][crop_a], both)
    return seen, gather(a.colour[crop_a], both), gather(b.colour[crop_b], both), both, crop_a


def thick(mask: np.ndarray) -> bool:
    """Whether ``mask`` holds a part :data:`THICK` pixels thick in both directions (not only a rim)."""
    return bool(cv2.erode(mask.astype(np.uint8), np.ones((THICK, THICK), np.uint8)).any())


def is_mark(mark: Element, run: Element) -> bool:
    """Whether ``mark`` lies where a dot, an accent or a punctuation mark of the text ``run`` would."""
    mine, theirs = _ink_box(mark), _ink_box(run)
    return mine is not None and theirs is not None and _mark_of(mine, theirs)


def _mark_of(mark: tuple[int, int, int, int], line: tuple[int, int, int, int]) -> bool:
    """Whether ink box ``mark`` is a dot, an accent or a punctuation mark of the text in ink box ``line``."""
    height = line[2] - line[0]
    reach = MARK * height
    return (
        max(mark[2] - mark[0], mark[3] - mark[1]) <= reach
        and line[0] - reach <= mark[0]
        and mark[2] <= line[2] + reach
        and line[1] - WORD_GAP * height <= mark[1]
        and mark[3] <= line[3] + WORD_GAP * height
    )


def _ink_box(element: Element) -> tuple[int, int, int, int] | None:
    """The box (top, left, bottom, right, canvas coordinates) of an element's solid pixels, if any."""
    solid = element.alpha >= 0.5
    rows, cols = np.flatnonzero(solid.any(axis=1)), np.flatnonzero(solid.any(axis=0))
    if rows.size == 0:
        return None
    top, left = element.top, element.left
    return top + int(rows[0]), left + int(cols[0]), top + int(rows[-1]) + 1, left + int(cols[-1]) + 1


def _glyph_of(glyph: tuple[int, int, int, int], line: tuple[int, int, int, int]) -> bool:
    """Whether ink box ``glyph`` is a letter of the line of text in ink box ``line``, beside its words."""
    height = line[2] - line[0]
    return (
        line[0] - MARK * height <= glyph[0]
        and glyph[2] <= line[2] + MARK * height
        and glyph[2] - glyph[0] >= MARK * height
        and glyph[3] - glyph[1] <= 1.5 * height
        and max(line[1], glyph[1]) - min(line[3], glyph[3]) <= WORD_GAP * height
    )


def _same_line(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    """Whether ink boxes ``a`` and ``b`` (top, left, bottom, right) are neighbouring words of a line."""
    heights = sorted((a[2] - a[0], b[2] - b[0]))
    overlap = min(a[2], b[2]) - max(a[0], b[0])
    gap = max(a[1], b[1]) - min(a[3], b[3])
    return (
        2 * heights[0] >= heights[1] and overlap >= LINE_OVERLAP * heights[0] and gap <= WORD_GAP * heights[1]
    )


def _owners(
    elements: list[Element], candidates: list[int], joins: Callable[[int, int], bool], reach: int
) -> list[int]:
    """For each element, the index of the element it joins (its own if none).

    A candidate ``i`` joins the element ``j`` with ``joins(i, j)`` that has most pixels within
    ``reach`` pixels of it (1: touching); smallest candidates first.
    """
    boxes = np.array([e.box for e in elements])
    owner = list(range(len(elements)))
    size = 2 * reach + 1
    for i in sorted(candidates, key=lambda i: elements[i].area):
        top, left = elements[i].box[:2]
        near = near_boxes(boxes, elements[i].box, reach)
        alpha = np.pad(elements[i].alpha > 0, reach).astype(np.uint8)
        ring = cv2.dilate(alpha, np.ones((size, size), np.uint8)).astype(bool)
        touching = {
            j: contact(ring, top - reach, left - reach, elements[j])
            for j in map(int, near)
            if owner[j] == j and joins(i, j)
        }
        best = max(touching, key=lambda j: touching[j], default=None)
        if best is not None and touching[best] > 0:
            owner[i] = best
    return owner


def near_boxes(boxes: np.ndarray, box: Box, reach: int) -> np.ndarray:
    """Indices of the (n, 4) ``boxes`` that come within ``reach`` pixels of ``box``."""
    top, left, bottom, right = box
    return np.flatnonzero(
        (boxes[:, 0] <= bottom + reach)
        & (boxes[:, 2] >= top - reach)
        & (boxes[:, 1] <= right + reach)
        & (boxes[:, 3] >= left - reach)
    )


def _merge_owned(elements: list[Element], owner: list[int]) -> list[Element]:
    """Each owner with the elements that join it merged in, of the owner's kind."""
    return [
        merged(group, group[0].kind) if len(group) > 1 else group[0] for group in _gather(elements, owner)
    ]


def _gather(elements: list[Element], owner: list[int]) -> list[list[Element]]:
    """Elements grouped under their final owner (first in each group), in the owners' order."""
    members = {j: [e] for j, e in enumerate(elements) if owner[j] == j}
    for i, element in enumerate(elements):
        j = i
        while owner[j] != j:
            j = owner[j]
        if j != i:
            members[j].append(element)
    return list(members.values())


def contact(ring: np.ndarray, top: int, left: int, other: Element) -> int:
    """Pixels of ``other`` inside ``ring`` (a mask whose box starts at ``top``, ``left``)."""
    meet = crops((top, left, top + ring.shape[0], left + ring.shape[1]), other.box)
    if meet is None:
        return 0
    near, theirs = meet
    return int((ring[near] & (other.alpha[theirs] > 0)).sum())


def _fill(element: Element) -> np.ndarray | None:
    """The mean colour of the element's opaque pixels, or None where it has none or is not flat."""
    opaque = element.alpha >= 1.0
    if opaque.sum() < 9:
        return None
    colours = gather(element.colour, opaque)
    mean = colours.mean(axis=0)
    return mean if float(np.abs(colours - mean).max()) <= PIECE_TOL else None


def _closed(element: Element, gap: int) -> Element:
    """The element with gaps narrower than 2 × ``gap`` + 1 between its opaque parts filled with its fill."""
    size = 2 * gap + 1
    opaque = (element.alpha >= 1.0).astype(np.uint8)
    closed = cv2.morphologyEx(np.pad(opaque, size), cv2.MORPH_CLOSE, np.ones((size, size), np.uint8))
    gaps = closed[size:-size, size:-size].astype(bool) & (element.alpha < 1.0)
    alpha, colour = element.alpha.copy(), element.colour.copy()
    colour[gaps] = gather(colour, alpha >= 1.0).mean(axis=0)
    alpha[gaps] = 1.0
    return replace(element, alpha=alpha, colour=colour)


@dataclass(frozen=True)
class Group:
    """Foreground pixels that belong together, cropped to their box (with a margin)."""

    top: int
    left: int
    mask: np.ndarray  # bool (h, w)


def component_groups(mask: np.ndarray, min_area: int, max_groups: int, max_kernel: int) -> Iterator[Group]:
    """Group the pixels of ``mask`` into words, lines and objects; largest groups first.

    Components smaller than ``min_area`` are dropped (they stay with whatever is under them), and at
    most ``max_groups`` groups are returned, so noise cannot explode the element count.
    """
    m8 = mask.astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(m8, connectivity=8)
    if count <= 1:
        return
    heights = stats[1:, cv2.CC_STAT_HEIGHT][stats[1:, cv2.CC_STAT_AREA] >= min_area]
    h_med = float(np.median(heights)) if heights.size else 1.0
    kx = int(min(max_kernel, round(0.8 * h_med))) | 1
    ky = int(min(max_kernel, round(0.5 * h_med))) | 1
    if kx > 1 or ky > 1:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kx, ky))
        joined = cv2.dilate(m8, kernel)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    order = np.argsort(-stats[1:, cv2.CC_STAT_AREA], kind="stable")[:max_groups] + 1
    for label in order:
        x, y, w, h = (int(v) for v in stats[label, :4])
        crop = (labels[y : y + h, x : x + w] == label) & mask[y : y + h, x : x + w]
        if crop.sum() >= min_area:
            yield Group(y, x, crop)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``mask`` plus every region it encloses (flood fill of the outside from a 1-pixel frame)."""
    h, w = mask.shape
    frame = np.zeros((h + 2, w + 2), np.uint8)
    frame[1:-1, 1:-1] = mask
    flood = np.zeros((h + 4, w + 4), np.uint8)
    cv2.floodFill(frame, flood, (0, 0), 1)
    # After the flood the outside is 1 as well; what is still 0 is enclosed.
    return mask | (frame[1:-1, 1:-1] == 0)


def sharp_edges(image: np.ndarray, step: float) -> np.ndarray:
    """Pixels where a float (H, W, 3) image jumps by more than ``step`` (max channel) to a neighbour.

    A pasted element (a card, a photo, a text run) meets the page in a sharp step; the smooth
    variation of a photo page rarely does. A step that compression spread over two pixels (a JPEG's
    chroma blur: each half below ``step``, the whole above it) is marked at its middle pixel, so the
    outline stays one pixel wide and closed.
    """
    return _steps(image, step, 0) | _steps(image, step, 1)


def _steps(image: np.ndarray, step: float, axis: int) -> np.ndarray:
    """The steps of :func:`sharp_edges` between neighbours along ``axis`` (0: between rows)."""

    def cut(start: int | None, stop: int | None) -> tuple[slice, ...]:
        return (slice(None),) * axis + (slice(start, stop),)

    sharp = max_diff(image[cut(1, None)], image[cut(None, -1)]) > step
    wide = max_diff(image[cut(2, None)], image[cut(None, -2)]) > step
    edges = np.zeros(image.shape[:2], bool)
    edges[cut(1, None)] |= sharp
    edges[cut(1, -1)] |= wide & ~sharp[cut(None, -1)] & ~sharp[cut(1, None)]
    return edges


def outlines(image: np.ndarray, step: float, gap: int) -> np.ndarray:
    """:func:`sharp_edges`, with the gaps of up to ``gap`` pixels in a flat element's straight sides
    bridged, and the outlines of rectangles whose sides are mostly steps drawn whole.

    Where a pasted card's colour matches the photo beside it, its side shows no step there; the rest
    of the side still runs straight on either side of the gap, along the card's flat fill. A horizontal
    or vertical run of steps at least 3 × ``gap`` long, mostly steps before the bridging, with one
    colour all along one side of it, is taken to continue through its gaps. A longer gap, a gap at a
    corner, or one in a photo's side is closed by :func:`~strata.imaging.rectangles.rectangles`
    (sides at least 3 × ``gap`` long).
    """
    rows, columns = _steps(image, step, 0), _steps(image, step, 1)  # horizontal, vertical edges
    width = image.shape[1]
    rows |= _straight(rows, image, (width, 1), gap)
    columns |= _straight(columns.T, image, (1, width), gap).T
    out = rows | columns
    draw(out, rectangles(rows, columns, 3 * gap))
    return out


def _straight(edges: np.ndarray, image: np.ndarray, strides: tuple[int, int], gap: int) -> np.ndarray:
    """The runs along the rows of ``edges`` (a step map) with their gaps of up to ``gap`` bridged,
    where a run is long (3 × ``gap``), at least half steps, and has one colour (within
    :data:`FLAT_SIDE`) along 90 % of one side, 3 pixels off. A step may lie a row off its run (a step
    spread over two pixels is marked at its middle one), so runs are found on a band of three rows.

    Row ``y``, column ``x`` of ``edges`` is pixel ``y * strides[0] + x * strides[1]`` of ``image``
    (H × W × 3, its pixels counted row by row), so the runs along its columns are found on the
    transposed map without transposing the image."""
    edges = cv2.dilate(edges.astype(np.uint8), np.ones((3, 1), np.uint8))
    runs, length = long_runs(edges, gap, 3 * gap)
    keep = length > 0
    ys, xs = np.nonzero(keep[runs])
    labels = runs[ys, xs]
    flat = np.zeros_like(keep)
    pixels = image.reshape(-1, 3)
    for side in (ys - 3, ys + 3):
        inside = (side >= 0) & (side < runs.shape[0])
        colours, which = pixels[side[inside] * strides[0] + xs[inside] * strides[1]], labels[inside]
        sums = np.stack([np.bincount(which, colours[:, c], len(keep)) for c in range(3)], -1)
        mean = sums / np.maximum(1, np.bincount(which, minlength=len(keep)))[:, None]
        near = max_diff(colours, mean[which].astype(np.float32)) <= FLAT_SIDE
        flat |= np.bincount(which[near], minlength=len(keep)) >= 0.9 * length
    # A run's band is three rows deep; its middle row carries the outline on, one pixel wide.
    band = (keep & flat)[runs].astype(np.uint8)
    return cv2.erode(band, np.ones((3, 1), np.uint8)).astype(bool)


def framed(outline: np.ndarray, kernel: int, min_area: int, ratio: float = 3.0) -> np.ndarray:
    """The large regions ``outline`` encloses, with their outline.

    On a photo page the model is a median filter, which keeps the inside of a large element (a card, a
    photo on the photo) as "page": only its outline tells it apart. A region that an outline closed by
    a ``kernel``-sized closing encloses is framed when it holds at least ``min_area`` pixels and
    ``ratio`` times the outline around it (within ``kernel`` pixels outside it; the outlines of what
    lies inside it do not count): a glyph's counter (the inside of an "o") holds about as much as its
    stroke, and stays open, while a card holding text and a photo is framed by its rim alone. The
    canvas edge closes an outline too (a circle cut off by the edge), for a region whose stretch of
    edge is short next to its size: the page between elements and the canvas edge runs along it.
    """
    shape = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kernel, kernel))
    reach = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * kernel + 1, 2 * kernel + 1))
    closed = cv2.morphologyEx(outline.astype(np.uint8), cv2.MORPH_CLOSE, shape).astype(bool)
    count, labels, stats, _ = cv2.connectedComponentsWithStats((~closed).astype(np.uint8), connectivity=4)
    edge = np.zeros_like(closed)
    edge[0], edge[-1], edge[:, 0], edge[:, -1] = True, True, True, True
    contact = np.bincount(labels[edge & ~closed], minlength=count)
    page = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA])) if count > 1 else 0
    out = np.zeros_like(outline)
    for label in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[label])
        if label == page or area < min_area or contact[label] > EDGE_CONTACT * np.sqrt(area):
            continue
        around = (slice(max(0, y - kernel), y + h + kernel), slice(max(0, x - kernel), x + w + kernel))
        held = fill_holes(labels[around] == label)
        rim = cv2.dilate(held.astype(np.uint8), reach).astype(bool) & ~held & closed[around]
        if area >= ratio * int(rim.sum()):
            out[around] |= _with_own_pockets(
                labels[around] == label, held, outline[around], closed[around], kernel
            )
    return out


def _with_own_pockets(
    region: np.ndarray, held: np.ndarray, outline: np.ndarray, closed: np.ndarray, kernel: int
) -> np.ndarray:
    """A framed region with its outline, what the closing filled among the contents it holds
    (``held``: the region with its holes) and the few pixels of each square corner's inside that
    it rounded off (at most ``kernel`` of them, opening onto the region).

    Not the rest of what the closing filled: beyond a rounded card's corner, up to the straight
    sides drawn through it, and between an element and its neighbours, lies the page; nor other
    regions inside it (a counter)."""
    pockets = closed & ~outline
    _, numbers, stats, _ = cv2.connectedComponentsWithStats(pockets.astype(np.uint8), connectivity=4)
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))  # a diagonal outline separates
    beside = np.unique(numbers[cv2.dilate(region.astype(np.uint8), cross).astype(bool) & pockets])
    corners = beside[(beside > 0) & (stats[beside, cv2.CC_STAT_AREA] <= kernel)]
    return region | outline | (held & closed) | np.isin(numbers, corners)


def classify(shape_mask: np.ndarray, canvas_height: int) -> str:
    """ "text" for several small glyph-like components (a line or a block of lines) filling less than
    60 % of their box, else "shape". Specks (under 5 % of the largest component: compression noise)
    are not glyphs."""
    h, w = shape_mask.shape
    if h > 2 * w:
        return "shape"
    _, _, stats, _ = cv2.connectedComponentsWithStats(shape_mask.astype(np.uint8), connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    glyphs = stats[1:][areas >= max(3, 0.05 * areas.max(initial=0))]
    if len(glyphs) < 3 or np.median(glyphs[:, cv2.CC_STAT_HEIGHT]) > GLYPH * canvas_height:
        return "shape"
    rows, cols = np.flatnonzero(shape_mask.any(axis=1)), np.flatnonzero(shape_mask.any(axis=0))
    fill_ratio = shape_mask.sum() / ((rows[-1] - rows[0] + 1) * (cols[-1] - cols[0] + 1))
    return "text" if fill_ratio < 0.6 else "shape"
