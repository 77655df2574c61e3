"""Scores after 0..k greedy merge edits (the LayerD "edit" protocol, written from docs/evaluation.md).

An edit merges two z-adjacent layers, the upper composited over the lower, on either side (prediction
or ground truth). Each candidate is scored by its gain in similarity (1 - cost) against its DTW-matched
partners: the mean similarity of the merged layer to the partners of the two layers it replaces, minus
the mean similarity of the path pairs those two layers had. The best candidate with a positive gain is
applied, the alignment recomputed and the scores recorded; the loop stops after ``max_edits`` edits or
when no merge has a positive gain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from strata.evaluation.layer import Layer, over
from strata.evaluation.metrics import Alignment, PairCache, align, group_top_layers, score_matrix

MAX_EDITS = 5


@dataclass(frozen=True)
class Merge:
    """A candidate edit: merge ``index`` and ``index + 1`` on one side into ``layer``."""

    side: str  # "pred" or "gt"
    index: int
    layer: Layer
    gain: float


class _Sides:
    """The two layer sequences, the pair-score memo and the current alignment."""

    def __init__(self, pred: Sequence[Layer], gt: Sequence[Layer]) -> None:
        self.layers = {"pred": list(pred), "gt": list(gt)}
        self.score = PairCache()
        self._merged: dict[tuple[int, int], tuple[Layer, Layer, Layer]] = {}
        self.alignment = self.realign()

    def realign(self) -> Alignment:
        self.alignment = align(score_matrix(self.layers["pred"], self.layers["gt"], self.score))
        return self.alignment

    def similarity(self, side: str, mine: Layer, theirs: Layer) -> float:
        pair = self.score(mine, theirs) if side == "pred" else self.score(theirs, mine)
        return 1.0 - pair.cost

    def merged(self, lower: Layer, upper: Layer) -> Layer:
        key = (id(lower), id(upper))
        if key not in self._merged:
            self._merged[key] = (lower, upper, over([lower, upper]))
        return self._merged[key][2]

    def candidate(self, side: str, index: int) -> Merge:
        """Score merging layers ``index`` and ``index + 1`` of ``side``."""
        mine, other = self.layers[side], self.layers["gt" if side == "pred" else "pred"]
        at = 0 if side == "pred" else 1
        pairs = [pair for pair in self.alignment.path if pair[at] in (index, index + 1)]
        before = np.mean([self.similarity(side, mine[p[at]], other[p[1 - at]]) for p in pairs])
        layer = self.merged(mine[index], mine[index + 1])
        partners = sorted({p[1 - at] for p in pairs})
        after = np.mean([self.similarity(side, layer, other[j]) for j in partners])
        return Merge(side, index, layer, float(after - before))

    def best_merge(self, gt_editable: bool) -> Merge | None:
        sides = ("pred", "gt") if gt_editable else ("pred",)
        candidates = [
            self.candidate(side, index) for side in sides for index in range(len(self.layers[side]) - 1)
        ]
        return max(candidates, key=lambda merge: merge.gain, default=None)

    def apply(self, merge: Merge) -> None:
        self.layers[merge.side][merge.index : merge.index + 2] = [merge.layer]
        self.realign()


@dataclass(frozen=True)
class LevelScore:
    """Mean RGB L1, alpha soft IoU and pair cost over the DTW path after ``edits`` edits."""

    edits: int
    l1: float
    iou: float
    pred_layers: int
    gt_layers: int

    @property
    def cost(self) -> float:
        return (self.l1 + 1.0 - self.iou) / 2.0


def edit_scores(
    pred: Sequence[Layer],
    gt: Sequence[Layer],
    max_edits: int = MAX_EDITS,
    gt_editable: bool = True,
    group: bool = True,
) -> list[LevelScore]:
    """Scores after 0, 1, ... greedy edits (at most ``max_edits``; fewer if no merge helps).

    Both sequences are first merged into top groups (``group=False`` skips that, for tests).
    """
    if group:
        pred, gt = group_top_layers(pred), group_top_layers(gt)
    sides = _Sides(pred, gt)
    levels = [_level(0, sides)]
    for edits in range(1, max_edits + 1):
        merge = sides.best_merge(gt_editable)
        if merge is None or merge.gain <= 0:
            break
        sides.apply(merge)
        levels.append(_level(edits, sides))
    return levels


def _level(edits: int, sides: _Sides) -> LevelScore:
    a = sides.alignment
    return LevelScore(edits, a.l1, a.iou, len(sides.layers["pred"]), len(sides.layers["gt"]))
