"""From elements to exactly N − 1 element layers, and their rasterisation.

Designers stack a design in levels: the page, the containers on it (cards, bars, panels), the contents
of the containers (text, photos, icons, buttons), the contents of those (a button's label). The plan
starts from those levels (the element's depth in the peel), which keeps the stack order-safe:

1. **Too many levels**: the top-most level is merged into the one below it (a button's label joins the
   button's level), until N − 1 remain.
2. **Too few levels**: a layer is split, the one with most elements first: by kind (shapes, then
   photos, then text on top), else by container (the elements of the largest top-level group apart
   from the rest), else by element (the largest element apart from the rest).
3. **Nothing left to split**: the remaining layers are empty (fully transparent) and sit at the top.

Siblings on one level rarely overlap, so splits do not change what the stack looks like.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from strata.imaging.elements import KINDS, Element


def plan_layers(elements: list[Element], slots: int) -> list[list[Element]]:
    """Partition ``elements`` into ``slots`` lists, back to front (empty lists at the top)."""
    depths = sorted({e.depth for e in elements})
    layers = [sorted((e for e in elements if e.depth == d), key=lambda e: -e.area) for d in depths]
    while len(layers) > slots:
        upper = layers.pop()
        layers[-1] = layers[-1] + upper
    while len(layers) < slots:
        candidates = [i for i, layer in enumerate(layers) if len(layer) > 1]
        if not candidates:
            break
        index = max(candidates, key=lambda i: (len(layers[i]), -i))
        layers[index : index + 1] = _split(layers[index])
    return layers + [[] for _ in range(slots - len(layers))]


def _split(layer: list[Element]) -> list[list[Element]]:
    kinds = [k for k in KINDS if any(e.kind == k for e in layer)]
    if len(kinds) > 1:
        return [[e for e in layer if e.kind == kinds[0]], [e for e in layer if e.kind != kinds[0]]]
    roots = Counter[int]()
    for element in layer:
        roots[element.root] += int(element.area)
    if len(roots) > 1:
        biggest = roots.most_common(1)[0][0]
        return [[e for e in layer if e.root == biggest], [e for e in layer if e.root != biggest]]
    largest = max(range(len(layer)), key=lambda i: layer[i].area)
    return [[layer[largest]], layer[:largest] + layer[largest + 1 :]]


def layer_name(layer: list[Element], counters: Counter[str]) -> str:
    """"text 2", "shape 1", "photo 1", "group 3" (mixed kinds) or "empty 1"."""
    kinds = {e.kind for e in layer}
    kind = "empty" if not layer else kinds.pop() if len(kinds) == 1 else "group"
    counters[kind] += 1
    return f"{kind} {counters[kind]}"


def rasterise(layer: list[Element], height: int, width: int, valid: np.ndarray | None) -> np.ndarray:
    """"Over"-composite the elements of one layer onto a transparent canvas: uint8 (H, W, 4)."""
    premul = np.zeros((height, width, 3), np.float32)
    alpha = np.zeros((height, width), np.float32)
    for element in layer:
        top, left, bottom, right = element.box
        a = element.alpha
        if valid is not None:
            a = a * valid[top:bottom, left:right]
        premul[top:bottom, left:right] = (
            element.colour * a[..., None] + premul[top:bottom, left:right] * (1.0 - a[..., None])
        )
        alpha[top:bottom, left:right] = a + alpha[top:bottom, left:right] * (1.0 - a)
    colour = premul / np.maximum(alpha, 1e-6)[..., None]
    out = np.empty((height, width, 4), np.uint8)
    out[..., :3] = np.clip(colour * 255.0 + 0.5, 0, 255)
    out[..., 3] = np.clip(alpha * 255.0 + 0.5, 0, 255)
    return out
