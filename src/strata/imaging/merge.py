"""From elements to exactly N − 1 element layers, and their rasterisation.

The unit is the **component**: a top-level element with everything on it (a card with its photo, text
and button; a text run on the page; a photo). Components do not overlap, so every layer owns its
pixels and layers can be moved independently. The plan:

1. **More components than layers**: the two closest layers are merged, repeatedly. Closeness is the
   gap between their boxes (relative to the canvas diagonal) plus a penalty when their kinds differ,
   weighted by the smaller layer's area, so details join their neighbours first, text joins text and
   neighbours join neighbours, as designers group layers.
2. **Fewer components than layers**: the layer with most elements is split, container first (a
   component's single bottom element apart from what sits on it), then by kind (shapes, photos,
   text), then by level, then one element at a time (largest first).
3. **Nothing left to split**: the remaining layers are empty (fully transparent) and sit at the top.

Layers are ordered back to front by the painter's order of their elements (containers before their
contents, larger before smaller); where two layers would still overlap, the upper one owns the pixel.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from strata.imaging.elements import KINDS, Element

#: Components kept apart before the pairwise merge; more are pre-merged in reading order.
_MAX_UNITS = 48
_KIND_PENALTY = 0.25


def plan_layers(elements: list[Element], slots: int, diagonal: float, pixels: int = 0) -> list[list[Element]]:
    """Partition ``elements`` into ``slots`` lists, back to front (empty lists at the top)."""
    import os
    ordered = sorted(elements, key=_paint_key)
    layers = _components(ordered)
    if os.environ.get("NEST", "1") == "1":
        lower, upper = _tiers(layers, pixels)
        if upper and slots >= 2 * len(layers):
            layers = lower + upper
    layers = _fit(layers, slots, diagonal)
    return layers + [[] for _ in range(slots - len(layers))]


def _tiers(components: list[list[Element]], pixels: int) -> tuple[list[list[Element]], list[list[Element]]]:
    import os
    min_base = float(os.environ.get("TIER_BASE", "0.02"))
    min_content = float(os.environ.get("TIER_CONTENT", "0.0"))
    lower, upper = [], []
    for comp in components:
        base_depth = min(e.depth for e in comp)
        base = [e for e in comp if e.depth == base_depth]
        rest = [e for e in comp if e.depth != base_depth]
        base_area = sum(e.area for e in base)
        if rest and base_area >= min_base * pixels and sum(e.area for e in rest) >= min_content * base_area:
            lower.append(base)
            upper.append(rest)
        else:
            lower.append(comp)
    return lower, upper


def _fit(layers: list[list[Element]], slots: int, diagonal: float) -> list[list[Element]]:
    layers = _premerge(layers, _MAX_UNITS)
    while len(layers) > slots:
        i, j = _closest_pair(layers, diagonal)
        layers[i] = sorted(layers[i] + layers.pop(j), key=_paint_key)
    while len(layers) < slots:
        candidates = [i for i, layer in enumerate(layers) if len(layer) > 1]
        if not candidates:
            break
        index = max(candidates, key=lambda i: (len(layers[i]), -i))
        parts = _split(layers[index])
        if len(parts) == 1:
            break
        layers[index : index + 1] = parts
    layers.sort(key=lambda layer: min(_paint_key(e) for e in layer))
    return layers


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


def _closest_pair(layers: list[list[Element]], diagonal: float) -> tuple[int, int]:
    """The pair to merge next: close, of one kind, and small (details join their neighbours first)."""
    boxes = np.array([_box(layer) for layer in layers], np.float64)
    kinds = np.array([KINDS.index(_kind(layer)) for layer in layers])
    area = np.array([sum(e.area for e in layer) for layer in layers])
    top, left, bottom, right = (boxes[:, k] for k in range(4))
    dy = np.maximum(0, np.maximum(top[:, None] - bottom[None, :], top[None, :] - bottom[:, None]))
    dx = np.maximum(0, np.maximum(left[:, None] - right[None, :], left[None, :] - right[:, None]))
    apart = np.hypot(dy, dx) / max(diagonal, 1.0) + _KIND_PENALTY * (kinds[:, None] != kinds[None, :])
    smaller = np.sqrt(np.minimum(area[:, None], area[None, :]) / max(float(area.sum()), 1.0))
    cost = (apart + 0.05) * smaller
    np.fill_diagonal(cost, np.inf)
    i, j = np.unravel_index(int(np.argmin(cost)), cost.shape)
    return int(min(i, j)), int(max(i, j))


def _split(layer: list[Element]) -> list[list[Element]]:
    import os
    mode = os.environ.get("SPLIT", "0")
    base = min(e.depth for e in layer)
    bottom = [e for e in layer if e.depth == base]
    if mode == "0" and len(bottom) == 1 and len(layer) > 1:
        return [bottom, [e for e in layer if e.depth != base]]
    kinds = [k for k in KINDS if any(e.kind == k for e in layer if e.depth == base)]
    if len(kinds) > 1:
        top = [e for e in layer if e.depth == base and e.kind == kinds[0]]
        roots = {e.root for e in top}
        first = [e for e in layer if e.root in roots]
        if len(first) < len(layer):
            return [first, [e for e in layer if e.root not in roots]]
    roots_by_area: dict[int, float] = {}
    for e in layer:
        roots_by_area[e.root] = roots_by_area.get(e.root, 0.0) + e.area
    if len(roots_by_area) > 1:
        big = max(roots_by_area, key=lambda r: (roots_by_area[r], -r))
        return [[e for e in layer if e.root == big], [e for e in layer if e.root != big]]
    if mode == "2":
        return [layer]
    if len(bottom) < len(layer):
        return [bottom, [e for e in layer if e.depth != base]]
    largest = max(range(len(layer)), key=lambda i: layer[i].area)
    return [[layer[largest]], layer[:largest] + layer[largest + 1 :]]


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
    """ "text 2", "shape 1", "photo 1", "group 3" (mixed kinds) or "empty 1"."""
    kinds = {e.kind for e in layer}
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
        premul[where] = element.colour * a[..., None] + premul[where] * (1.0 - a[..., None])
        alpha[where] = a + alpha[where] * (1.0 - a)
    colour = premul / np.maximum(alpha, 1e-6)[..., None]
    out[top:bottom, left:right, :3] = np.clip(colour * 255.0 + 0.5, 0, 255)
    out[top:bottom, left:right, 3] = np.clip(alpha * 255.0 + 0.5, 0, 255)
    return out


def carriers(plan: list[list[Element]], height: int, width: int) -> list[np.ndarray | None]:
    """Per layer, the opaque pixels of its containers: elements that carry elements of a higher layer.

    A container (a card, a button, a photo) is completed under what sits on it; when its contents are
    in a layer above, those completed pixels must survive :func:`make_disjoint`, so that moving or
    hiding the contents reveals the card, not a hole.
    """
    out: list[np.ndarray | None] = []
    for index, layer in enumerate(plan):
        above = [e for upper in plan[index + 1 :] for e in upper]
        mask: np.ndarray | None = None
        for element in layer:
            if not any(_sits_on(other, element) for other in above):
                continue
            if mask is None:
                mask = np.zeros((height, width), bool)
            top, left, bottom, right = element.box
            mask[top:bottom, left:right] |= element.alpha >= 1.0
        out.append(mask)
    return out


def _sits_on(upper: Element, lower: Element) -> bool:
    """``upper`` was peeled from inside ``lower``'s component, further up, and their boxes meet."""
    if upper.root != lower.root or upper.depth <= lower.depth:
        return False
    t, lf, b, r = upper.box
    top, left, bottom, right = lower.box
    return t < bottom and top < b and lf < right and left < r


def make_disjoint(layers: list[np.ndarray], keep: list[np.ndarray | None] | None = None) -> None:
    """Where layers overlap, the upper one keeps the pixel (the exactness pass re-solves its colour).

    Pixels in ``keep[i]`` (a container's completed body under its contents, see :func:`carriers`)
    stay in layer i as well: overlap there is nesting, not a shared rim.
    """
    if not layers:
        return
    taken = layers[-1][..., 3] > 0
    for index in range(len(layers) - 2, -1, -1):
        layer = layers[index]
        mine = layer[..., 3] > 0
        lost = taken if keep is None or keep[index] is None else taken & ~keep[index]
        np.putmask(layer[..., 3], lost, 0)
        taken |= mine
