"""Layer-decomposition metrics, written from the definitions in docs/evaluation.md (LayerD protocol).

All layers are straight-alpha RGBA in [0, 1], back to front, on one canvas:

* RGB L1 of a prediction P against a ground-truth layer G: mean over the pixels where G's alpha is
  positive of the channel-mean absolute RGB difference (straight colour, independent of P's alpha).
* Alpha soft IoU: sum of min(alpha_P, alpha_G) over sum of max(alpha_P, alpha_G); 0 when both are empty.
* Pair cost: (L1 + 1 - IoU) / 2, in [0, 1].
* Grouping: layers that overlap nothing above them are merged into one "top group", repeatedly.
* DTW alignment of the two layer sequences on the pair cost; scores are means over the path pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from strata.evaluation.layer import Layer, intersect, over

#: Keeps the L1 denominator finite for an empty ground-truth layer (as in the reference protocol).
EPSILON = 1e-8


@dataclass(frozen=True)
class PairScore:
    """RGB L1, alpha soft IoU and the combined cost of one (prediction, ground truth) pair."""

    l1: float
    iou: float

    @property
    def cost(self) -> float:
        return (self.l1 + 1.0 - self.iou) / 2.0


def rgb_l1(pred: Layer, gt: Layer) -> float:
    """Mean absolute RGB difference over the pixels where ``gt`` is visible."""
    if gt.empty:
        return 0.0
    visible = gt.rgba[..., 3] > 0
    diff = np.abs(pred.window(gt.box)[..., :3] - gt.rgba[..., :3]).mean(axis=-1)
    return float(diff[visible].sum(dtype=np.float64) / (visible.sum() + EPSILON))


def alpha_iou(pred: Layer, gt: Layer) -> float:
    """Soft IoU of the two alpha channels."""
    inner = intersect(pred.box, gt.box)
    common = 0.0
    if inner is not None:
        common = float(np.minimum(pred.window(inner)[..., 3], gt.window(inner)[..., 3]).sum(dtype=np.float64))
    union = pred.alpha_sum + gt.alpha_sum - common
    return common / union if union > 0 else 0.0


def pair_score(pred: Layer, gt: Layer) -> PairScore:
    """L1 and IoU of one pair."""
    return PairScore(rgb_l1(pred, gt), alpha_iou(pred, gt))


class PairCache:
    """Memo of pair scores keyed by layer identity; keeps the layers alive so ids are never reused."""

    def __init__(self) -> None:
        self._scores: dict[tuple[int, int], tuple[Layer, Layer, PairScore]] = {}

    def __call__(self, pred: Layer, gt: Layer) -> PairScore:
        key = (id(pred), id(gt))
        if key not in self._scores:
            self._scores[key] = (pred, gt, pair_score(pred, gt))
        return self._scores[key][2]


def score_matrix(preds: Sequence[Layer], gts: Sequence[Layer], score=pair_score) -> list[list[PairScore]]:
    """``[i][j]`` = score of prediction i against ground truth j."""
    return [[score(p, g) for g in gts] for p in preds]


def overlaps(layers: Sequence[Layer]) -> np.ndarray:
    """Boolean (n, n) matrix: True where the hard masks (alpha > 0) of two layers share a pixel."""
    n = len(layers)
    result = np.zeros((n, n), bool)
    for i in range(n):
        for j in range(i + 1, n):
            inner = intersect(layers[i].box, layers[j].box)
            if inner is not None:
                shared = (layers[i].window(inner)[..., 3] > 0) & (layers[j].window(inner)[..., 3] > 0)
                result[i, j] = result[j, i] = bool(shared.any())
    return result


def group_top_layers(layers: Sequence[Layer]) -> list[Layer]:
    """Merge the layers into "top groups", back to front.

    Repeatedly, every remaining layer whose mask overlaps no remaining layer above it joins the current
    group, and the group is removed; the groups (found top-down) are then reversed and each is
    composited into one layer. Members of a group never overlap one another, so order inside it is moot.
    """
    touching = overlaps(layers)
    remaining = list(range(len(layers)))
    groups = []
    while remaining:
        group = [i for k, i in enumerate(remaining) if not touching[i, remaining[k + 1 :]].any()]
        groups.append(group)
        remaining = [i for i in remaining if i not in group]
    return [over([layers[i] for i in group]) for group in reversed(groups)]


def dtw_path(cost: np.ndarray) -> list[tuple[int, int]]:
    """Dynamic-time-warping path from (0, 0) to (n-1, m-1) minimising the summed ``cost``.

    D[i, j] = C[i, j] + min(D[i-1, j], D[i, j-1], D[i-1, j-1]); the backtrack prefers the diagonal
    on ties, then the step that moves back in the prediction, then in the ground truth.
    """
    n, m = cost.shape
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            acc[i, j] = cost[i - 1, j - 1] + min(acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1])
    i, j = n, m
    path = [(n - 1, m - 1)]
    while (i, j) != (1, 1):
        steps = [(i - 1, j - 1), (i - 1, j), (i, j - 1)]
        i, j = min(steps, key=lambda step: acc[step])  # min() keeps the first (diagonal) on ties
        path.append((i - 1, j - 1))
    return path[::-1]


@dataclass(frozen=True)
class Alignment:
    """The DTW path and its mean scores."""

    path: list[tuple[int, int]]
    l1: float
    iou: float

    @property
    def cost(self) -> float:
        return (self.l1 + 1.0 - self.iou) / 2.0


def align(scores: list[list[PairScore]]) -> Alignment:
    """DTW-align on the pair cost and average L1 and IoU over the path pairs."""
    cost = np.array([[s.cost for s in row] for row in scores])
    path = dtw_path(cost)
    pairs = [scores[i][j] for i, j in path]
    return Alignment(path, float(np.mean([p.l1 for p in pairs])), float(np.mean([p.iou for p in pairs])))
