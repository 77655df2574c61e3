"""From elements to exactly N − 1 element layers, and their rasterisation.

The unit is the **component**: a top-level element with everything on it (a card with its photo, text
and button; a text run on the page; a photo). Components do not overlap. The plan:

0. **Siblings off their container**: a solid shape lying mostly (``OVERHANG``) off the container it was
   peeled from (a circle over a card's corner) is a unit of its own above it, at any N; the card stays
   complete underneath (:func:`carriers`), as in the designer's file.
1. **Nesting (N ≥ 7)**: with room for it, each large **container** (a component's bottom element
   covering at least 5 % of the canvas: a card, a panel, a header bar) becomes a unit of its own and
   everything on it another unit above it, so text and photos move apart from their card, which is
   complete underneath. Up to 6 layers components stay whole, as a designer's top-level groups do;
   splitting them there trades the match to those groups for the match to the leaf layers.
2. **More units than layers**: the two closest layers are merged, repeatedly. Closeness is the
   gap between their boxes (relative to the canvas diagonal) plus a penalty when their kinds differ,
   weighted by the smaller layer's area, so details join their neighbours first, text joins text and
   neighbours join neighbours, as designers group layers.
3. **Fewer units than layers**: the layer with most elements is split into its parts (its bottom
   elements, each with what lies on it: a button with its label): by kind (shapes, photos, text),
   then its largest part apart. When no layer has two parts, spare layers go, in this order, to
   (a) any other element lying mostly off its container, holes included (a frame around part of it,
   a scatter of marks; not the ringing in a letter's counter); (b) a hero
   photo covering at least
   ``HERO_PHOTO`` of its container. Both stay complete underneath (:func:`carriers`). These two cost
   the match to designers' top-level groups nothing on the evaluation designs; the other splits of a
   component (a small photo or thumbnail off its card, a card apart from its contents, any element
   apart) cost about 0.04 of group IoU at N = 4 and 6, so they wait for nesting (step 1).
4. **Nothing left to split**: the remaining layers are empty (fully transparent) and sit at the top.

Layers are ordered back to front by the painter's order of their elements, specks aside (containers
before their contents, larger before smaller; :func:`~strata.imaging.elements.stack_overlaps` has
raised a card lying on another above it). Where two layers overlap, the upper one owns the pixel,
except on a container's completed body under contents split off above it, under a card or a photo
lying on it, or on a photo's completed body under a photo or a card lying on it (:func:`carriers`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import cv2
import numpy as np

from strata.imaging.compose import shown
from strata.imaging.elements import (
    KINDS,
    OVERHANG,
    THICK,
    Element,
    bottom_depths,
    crops,
    fill_holes,
    outside,
    pixel_box_area,
    thick,
)
from strata.imaging.ellipses import MIN_AREA
from strata.imaging.fill import gather, paste

#: A shape is a body (completed under a photo lying on it) when it fills this share of its convex hull.
CONVEX = 0.9
#: Components kept apart before the pairwise merge; more are pre-merged in reading order.
_MAX_UNITS = 48
_KIND_PENALTY = 0.25
#: Unlike layers cost more to merge: per unit of mean-colour distance (max channel), and per unit of
#: log area ratio, so a pattern's dots join each other before they join a character of their colour.
_COLOUR_PENALTY = 0.5
_SIZE_PENALTY = 0.1
#: A layer's place in the stack ignores its elements smaller than this share of its largest.
SPECK_SHARE = 0.1
#: Element layers (N − 1) from which large containers are split from their contents.
NEST_FROM_SLOTS = 6
#: A container is split from its contents only when it covers at least this fraction of the canvas.
CONTAINER_AREA = 0.05
#: An element with OVERHANG of its area off its container only overlaps it (a sibling), and is given
#: a spare layer when it holds at least this fraction of its layer's area (not a speck).
OVERHANG_AREA = 0.02
#: A photo covering at least this fraction of its container is a hero image, next to be given a layer.
HERO_PHOTO = 0.25
#: A photo opaque over this fraction of its box is a whole rectangle (completed under what lies on it):
#: a card lying on it may be moved off it. Other photo-like elements (a painted figure, a cut-out
#: completed to its hull) keep no pixels under a card of another component.
WHOLE = 0.97
#: An overhang is detached before merging only when it fills this fraction of its box (a solid shape).
SOLID = 0.45
#: An element above its container covers at least this fraction of the smaller of the two, or a
#: part of it :data:`~strata.imaging.elements.THICK` pixels thick, else it only touches it.
SITS_ON = 0.05


def plan_layers(elements: list[Element], slots: int, diagonal: float, pixels: int) -> list[list[Element]]:
    """Partition ``elements`` into ``slots`` lists, back to front (empty lists at the top)."""
    ordered = sorted(elements, key=_paint_key)
    layers = _detach_overhangs(_components(ordered))
    if slots >= NEST_FROM_SLOTS:
        containers, contents = _nest(layers, CONTAINER_AREA * pixels)
        if contents and len(containers) + len(contents) <= slots:
            layers = containers + contents
    layers = _premerge(layers, _MAX_UNITS)
    paint = {id(e): _paint(e) for layer in layers for e in layer} if len(layers) > slots else {}
    while len(layers) > slots:
        i, j = _closest_pair(layers, diagonal, paint)
        layers[i] = sorted(layers[i] + layers.pop(j), key=_paint_key)
    while len(layers) < slots:
        candidates = [i for i, layer in enumerate(layers) if len(_parts(layer)) > 1]
        if candidates:
            index = max(candidates, key=lambda i: (len(layers[i]), -i))
            layers[index : index + 1] = _split(layers[index])
        elif not _detach_next(layers):
            break
    layers.sort(key=_layer_key)
    return layers + [[] for _ in range(slots - len(layers))]


def _layer_key(layer: list[Element]) -> tuple[int, float]:
    """Where a layer goes in the stack: its lowest element of some size (:data:`SPECK_SHARE` of its
    largest), so that a speck of the page merged into a card's layer does not take the card under
    a photo it lies on."""
    largest = max(e.area for e in layer)
    return min(_paint_key(e) for e in layer if e.area >= SPECK_SHARE * largest)


def _nest(
    components: list[list[Element]], min_area: float
) -> tuple[list[list[Element]], list[list[Element]]]:
    """(units below, units above): large containers apart from their contents, the rest whole."""
    below: list[list[Element]] = []
    above: list[list[Element]] = []
    for component in components:
        depth = min(e.depth for e in component)
        base = [e for e in component if e.depth == depth]
        rest = [e for e in component if e.depth != depth]
        if rest and sum(e.area for e in base) >= min_area:
            below.append(base)
            above.append(rest)
        else:
            below.append(component)
    return below, above


def _paint_key(element: Element) -> tuple[int, float]:
    return element.depth, -element.area


def _components(elements: list[Element]) -> list[list[Element]]:
    by_root: dict[int, list[Element]] = {}
    for element in elements:
        by_root.setdefault(element.root, []).append(element)
    return list(by_root.values())


def _premerge(layers: list[list[Element]], limit: int) -> list[list[Element]]:
    """Chunk components of each kind in reading order until at most ``limit`` remain."""
    if len(layers) <= limit:
        return layers
    keyed = sorted(layers, key=lambda layer: (KINDS.index(_kind(layer)), _box(layer)[0], _box(layer)[1]))
    size = -(-len(keyed) // limit)
    return [[e for layer in keyed[i : i + size] for e in layer] for i in range(0, len(keyed), size)]


def _closest_pair(
    layers: list[list[Element]], diagonal: float, paint: dict[int, np.ndarray]
) -> tuple[int, int]:
    """The pair to merge next: close, alike, and small (details join their neighbours first).

    ``paint`` holds each element's :func:`_paint` (by ``id``), for the layers' areas and mean colours.
    """
    boxes = np.array([_box(layer) for layer in layers], np.float64)
    kinds = np.array([KINDS.index(_kind(layer)) for layer in layers])
    sums = np.array([sum(paint[id(e)] for e in layer) for layer in layers])
    area, colours = sums[:, 3], sums[:, :3] / np.maximum(sums[:, 3:], 1e-6)
    top, left, bottom, right = (boxes[:, k] for k in range(4))
    dy = np.maximum(0, np.maximum(top[:, None] - bottom[None, :], top[None, :] - bottom[:, None]))
    dx = np.maximum(0, np.maximum(left[:, None] - right[None, :], left[None, :] - right[:, None]))
    apart = np.hypot(dy, dx) / max(diagonal, 1.0) + _KIND_PENALTY * (kinds[:, None] != kinds[None, :])
    apart += _COLOUR_PENALTY * np.abs(colours[:, None] - colours[None, :]).max(-1)
    size = np.log(np.maximum(area, 1.0))
    apart += _SIZE_PENALTY * np.abs(size[:, None] - size[None, :])
    smaller = np.sqrt(np.minimum(area[:, None], area[None, :]) / max(float(area.sum()), 1.0))
    cost = (apart + 0.05) * smaller
    np.fill_diagonal(cost, np.inf)
    i, j = np.unravel_index(int(np.argmin(cost)), cost.shape)
    return int(min(i, j)), int(max(i, j))


def _paint(element: Element) -> np.ndarray:
    """The element's alpha-weighted colour sum (3 values) and its area."""
    weighted = np.einsum("hwc,hw->c", element.colour, element.alpha)
    return np.append(weighted, element.area)


def _split(layer: list[Element]) -> list[list[Element]]:
    """Two parts of a layer: by kind of its parts, else its largest part apart from the rest."""
    parts = _parts(layer)
    kinds = [k for k in KINDS if any(part[0].kind == k for part in parts)]
    if len(kinds) > 1:
        first = [part for part in parts if part[0].kind == kinds[0]]
        rest = [part for part in parts if part[0].kind != kinds[0]]
    else:
        largest = max(range(len(parts)), key=lambda i: (sum(e.area for e in parts[i]), -i))
        first, rest = [parts[largest]], parts[:largest] + parts[largest + 1 :]
    return [sorted((e for part in side for e in part), key=_paint_key) for side in (first, rest)]


def _detach_next(layers: list[list[Element]]) -> bool:
    """Spend a spare layer on an overhanging element, else a hero photo; False when neither is left.

    A circle over a card's corner is a sibling on the page, not content of the card, and a photo
    filling much of its card is what a user edits on its own; both stay complete underneath. Other
    splits of a component cost the match to designers' groups (module docstring, step 3).
    """
    for pick in (_overhang, _hero_photo):
        found = [(unit, i) for i, layer in enumerate(layers) if (unit := pick(layer))]
        if found:
            unit, index = max(found, key=lambda f: (sum(e.area for e in f[0]), -f[1]))
            rest = [e for e in layers[index] if not any(e is u for u in unit)]
            layers[index : index + 1] = [rest, sorted(unit, key=_paint_key)]
            return True
    return False


def _detach_overhangs(components: list[list[Element]]) -> list[list[Element]]:
    """Elements lying mostly off the container they overlap become units of their own, above it.

    A circle over a card's corner is a sibling on the page that a designer draws on its own; the
    card stays complete under it (:func:`carriers`), so the two keep their stacking order. Only
    solid shapes are taken so early; other overhangs wait for spare layers (:func:`_detach_next`).
    """
    units: list[list[Element]] = []
    for component in components:
        while (unit := _overhang(component)) is not None and _solid(unit[0]):
            component = [e for e in component if not any(e is u for u in unit)]
            units.append(sorted(unit, key=_paint_key))
        units.append(component)
    return units


def _solid(element: Element) -> bool:
    """A filled shape (a circle, a card, a photo), not an outline or a scatter of marks."""
    height, width = element.alpha.shape
    return element.area >= SOLID * height * width


def _hero_photo(layer: list[Element]) -> list[Element] | None:
    """The largest photo on the layer's bottom elements covering a large part of them, with its contents."""
    base = min(e.depth for e in layer)
    under = sum(e.area for e in layer if e.depth == base)
    photos = [e for e in layer if e.depth > base and e.kind == "photo" and e.area >= HERO_PHOTO * under]
    return _with_contents(max(photos, key=lambda e: e.area), layer) if photos else None


def _overhang(layer: list[Element]) -> list[Element] | None:
    """The largest element lying mostly off the layer's bottom elements, with what lies on it."""
    base = min(e.depth for e in layer)
    heads = [e for e in layer if e.depth == base]
    total = sum(e.area for e in layer)
    bodies = [_filled(head) for head in heads]
    off = [
        e
        for e in layer
        if e.depth > base and e.area >= OVERHANG_AREA * total and outside(e, bodies) >= OVERHANG
    ]
    return _with_contents(max(off, key=lambda e: e.area), layer) if off else None


def _filled(element: Element) -> Element:
    """``element`` with its holes filled: what lies in a letter's counter or inside a ring lies on it."""
    return replace(element, alpha=np.maximum(element.alpha, fill_holes(element.alpha > 0)))


def _with_contents(element: Element, layer: list[Element]) -> list[Element]:
    """``element`` and the deeper elements of the layer lying mostly on it."""
    return [element, *(e for e in layer if e.depth > element.depth and outside(e, [element]) < 0.5)]


def _parts(layer: list[Element]) -> list[list[Element]]:
    """The layer's bottom elements (its heads), each with the deeper elements lying on it.

    A deeper element belongs to the head of its component whose box holds its centre (else the
    nearest such head), so a button keeps its label and a photo its badge.
    """
    base = min(e.depth for e in layer)
    heads = [e for e in layer if e.depth == base]
    parts: list[list[Element]] = [[head] for head in heads]
    for element in layer:
        if element.depth == base:
            continue
        family = [i for i, head in enumerate(heads) if head.root == element.root] or list(range(len(heads)))
        index = min(family, key=lambda i: _gap(heads[i], element))
        parts[index].append(element)
    return parts


def _gap(head: Element, element: Element) -> float:
    """Distance from the element's centre to the head's box (0 inside), smaller heads first on ties."""
    top, left, bottom, right = element.box
    cy, cx = (top + bottom) / 2, (left + right) / 2
    t, lf, b, r = head.box
    return max(t - cy, 0, cy - b) + max(lf - cx, 0, cx - r) + 1e-9 * (b - t) * (r - lf)


def _kind(layer: list[Element]) -> str:
    """The kind covering most of the layer."""
    area: dict[str, float] = {}
    for element in layer:
        area[element.kind] = area.get(element.kind, 0.0) + element.area
    return max(area, key=lambda kind: area[kind])


def _box(layer: list[Element]) -> tuple[int, int, int, int]:
    boxes = np.array([e.box for e in layer])
    return int(boxes[:, 0].min()), int(boxes[:, 1].min()), int(boxes[:, 2].max()), int(boxes[:, 3].max())


def layer_name(layer: list[Element], counters: Counter[str]) -> str:
    """ "text 2", "shape 1", "photo 1", "group 3" (mixed kinds) or "empty 1".

    Kinds holding under 2 % of the layer's area (specks on a shape) do not make it a group.
    """
    area: dict[str, float] = {}
    for element in layer:
        area[element.kind] = area.get(element.kind, 0.0) + element.area
    kinds = {k for k, a in area.items() if a >= 0.02 * sum(area.values())} or set(area)
    kind = "empty" if not layer else kinds.pop() if len(kinds) == 1 else "group"
    counters[kind] += 1
    return f"{kind} {counters[kind]}"


def rasterise(layer: list[Element], height: int, width: int, valid: np.ndarray | None) -> np.ndarray:
    """ "Over"-composite the elements of one layer onto a transparent canvas: uint8 (H, W, 4)."""
    out = np.zeros((height, width, 4), np.uint8)
    if not layer:
        return out
    top, left, bottom, right = _box(layer)
    premul = np.zeros((bottom - top, right - left, 3), np.float32)
    alpha = np.zeros((bottom - top, right - left), np.float32)
    for element in layer:
        t, lf, b, r = element.box
        where = (slice(t - top, b - top), slice(lf - left, r - left))
        a = element.alpha if valid is None else element.alpha * valid[t:b, lf:r]
        # Opaque pixels take the element's colour as it is and transparent ones change nothing:
        # only the rim (partly transparent) is blended, which is what the formula gives on each.
        opaque, rim = a == 1.0, (a > 0.0) & (a < 1.0)
        paste(premul[where], element.colour, opaque)
        alpha[where][opaque] = 1.0
        if rim.any():
            below, above, share = gather(premul[where], rim), gather(element.colour, rim), a[rim]
            premul[where][rim] = below * (1.0 - share)[:, None] + above * share[:, None]
            alpha[where][rim] = share + alpha[where][rim] * (1.0 - share)
    premul /= np.maximum(alpha, 1e-6)[..., None]  # now the straight colour
    out[top:bottom, left:right, :3] = quantise(premul)
    out[top:bottom, left:right, 3] = quantise(alpha)
    return out


def quantise(values: np.ndarray) -> np.ndarray:
    """Float values in [0, 1] scaled, rounded and clipped to [0, 255] *in place*, for assignment to
    uint8 (no temporaries: on full canvases each would cost more than the arithmetic)."""
    values *= 255.0
    values += 0.5
    return np.clip(values, 0, 255, out=values)


def carriers(plan: list[list[Element]], height: int, width: int) -> list[np.ndarray | None]:
    """Per layer, the opaque pixels of its containers under the elements of higher layers that sit on them.

    A container (a card, a button, a photo) is completed under what sits on it; when its contents are
    in a layer above, those completed pixels must survive :func:`make_disjoint`, so that moving or
    hiding the contents reveals the card, not a hole. Only the pixels under them: elsewhere the
    container's layer may hold other things of its own (its own contents, at N ≤ 6) that a layer
    above repeats.
    """
    out: list[np.ndarray | None] = []
    elements = [e for layer in plan for e in layer]
    base = bottom_depths(elements)
    titles = _titles(elements, base)
    # Shapes with nothing on them but specks (a circle), not cards with contents.
    bare = set(base) - {e.root for e in elements if e.depth > base[e.root] and e.area >= MIN_AREA}
    for index, layer in enumerate(plan):
        above = [e for upper in plan[index + 1 :] for e in upper]
        mask: np.ndarray | None = None
        for element in layer:
            sitting = [other for other in above if _sits_on(other, element, base, titles, bare)]
            if not sitting:
                continue
            if mask is None:
                mask = np.zeros((height, width), bool)
            top, left, bottom, right = element.box
            under = np.zeros(element.alpha.shape, bool)
            for other in sitting:
                if (meet := crops(element.box, other.box)) is not None:
                    mine, theirs = meet
                    under[mine] |= other.alpha[theirs] > 0
            mask[top:bottom, left:right] |= (element.alpha >= 1.0) & under
        out.append(mask)
    return out


def _titles(elements: list[Element], base: dict[int, int]) -> set[int]:
    """The components whose largest bottom element is text: a title on the page, or one laid across a
    card's edge (:func:`~strata.imaging.elements.join_words`), not a card or a photo with text on it."""
    largest: dict[int, Element] = {}
    for element in elements:
        root = element.root
        if element.depth == base[root] and (root not in largest or element.area > largest[root].area):
            largest[root] = element
    return {root for root, element in largest.items() if element.kind == "text"}


def _sits_on(upper: Element, lower: Element, base: dict[int, int], titles: set[int], bare: set[int]) -> bool:
    """``upper`` lies further up than ``lower`` and covers part of its opaque body.

    Opaque pixels under another element are ones completed under it: contents of a card or photo
    (same component), or a card stacked on another card, a photo on another photo, a card on a
    whole photo, a title across a card (:func:`_stackable`; another component, whose bottom element
    ``upper`` is: ``base`` maps each component to its bottom depth, ``titles`` are :func:`_titles`,
    ``bare`` the components with nothing but specks above their bottom element).
    An element that only touches the container's edge (a title whose rim meets a photo) does not sit
    on it: the layers stay disjoint there instead of stacking for a few rim pixels.
    """
    if upper.depth <= lower.depth:
        return False
    if upper.root != lower.root and not (
        upper.depth == base[upper.root] and _stackable(upper, lower, upper.root in titles, lower.root in bare)
    ):
        return False
    meet = crops(upper.box, lower.box)
    if meet is None:
        return False
    mine, theirs = meet
    covered = upper.alpha[mine] * (lower.alpha[theirs] >= 1.0)
    total = float(covered.sum())
    if total >= SITS_ON * min(upper.area, lower.area):
        return True
    # A corner hidden under a card is thick where a rim is a line (a card over a large photo's corner).
    return total >= THICK * THICK and thick(covered >= 1.0)


def _stackable(upper: Element, lower: Element, title: bool, bare: bool) -> bool:
    """Whether ``lower``, of another component, may be completed under ``upper``: a card under a
    card, a photo under a photo, a card or a photo under a ``title`` (of a component of text, laid
    across its edge: :func:`~strata.imaging.elements.join_words`), a ``bare`` shape (nothing
    but specks lies on it) under a photo (a circle cut straight by its side; a body, not a speck or
    scattered pieces, nor a card with contents, which another card may hide), or a photo that is a
    whole rectangle under a card."""
    if upper.kind == lower.kind != "text" or (title and upper.kind == "text" != lower.kind):
        return True
    if upper.kind == "photo" and lower.kind == "shape":
        return bare and lower.area >= MIN_AREA and _convex(lower)
    if upper.kind != "shape" or lower.kind != "photo":
        return False
    return int(np.count_nonzero(lower.alpha >= 1.0)) >= WHOLE * pixel_box_area(lower)


def _convex(element: Element) -> bool:
    """Whether the element's opaque pixels nearly fill their convex hull (a card, a circle)."""
    body = (element.alpha >= 1.0).astype(np.uint8)
    contours, _ = cv2.findContours(body, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return False
    return int(body.sum()) >= CONVEX * cv2.contourArea(cv2.convexHull(np.vstack(contours)))


def make_disjoint(layers: list[np.ndarray], keep: list[np.ndarray | None] | None = None) -> None:
    """Where layers overlap, the upper one keeps the pixel (the exactness pass re-solves its colour).

    Pixels in ``keep[i]`` (a container's completed body under its contents, see :func:`carriers`)
    stay in layer i as well: overlap there is nesting, not a shared rim.
    """
    if not layers:
        return
    taken = shown(layers[-1])
    for index in range(len(layers) - 2, -1, -1):
        layer = layers[index]
        mine = shown(layer)
        kept = None if keep is None else keep[index]
        lost = taken if kept is None else taken & ~kept
        np.putmask(layer[..., 3], lost, 0)
        taken |= mine
