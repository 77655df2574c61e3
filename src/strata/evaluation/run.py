"""Run a decomposer over a dataset of designs and score it: edits 0..5, reconstruction, speed.

A decomposer is any callable ``(image, layers) -> LayerStack``, so the product engines (through
:func:`engine_decomposer`) and the baselines in ``benchmarks/`` are measured by the same code.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from strata.errors import StrataError
from strata.evaluation.edits import MAX_EDITS, LevelScore, edit_scores
from strata.evaluation.groundtruth import GroundTruth, find_designs, load_ground_truth
from strata.evaluation.layer import Layer
from strata.imaging.compose import reconstruction_error
from strata.layers import LayerStack

Decomposer = Callable[[Image.Image, int], LayerStack]


@dataclass
class DesignResult:
    """The scores of one design; ``skipped`` says why it does not count (fewer than 2 layers)."""

    name: str
    gt_layers: int
    pred_layers: int
    levels: list[LevelScore]
    psnr: float
    max_error: float
    seconds: float
    megapixels: float
    reference_psnr: float | None = None
    skipped: str | None = None

    def at(self, edits: int) -> LevelScore:
        """Scores after ``edits`` edits; a design that stopped earlier keeps its last scores."""
        return self.levels[min(edits, len(self.levels) - 1)]

    @property
    def seconds_per_megapixel(self) -> float:
        return self.seconds / self.megapixels


@dataclass
class Report:
    """All designs of one run (one engine, one N, one granularity) and their means."""

    engine: str
    layers: int
    granularity: str
    max_side: int | None
    designs: list[DesignResult] = field(default_factory=list)

    @property
    def counted(self) -> list[DesignResult]:
        return [d for d in self.designs if d.skipped is None]

    def mean(self, edits: int) -> tuple[float, float]:
        """Mean (RGB L1, alpha soft IoU) over the counted designs after ``edits`` edits."""
        levels = [d.at(edits) for d in self.counted]
        if not levels:
            return math.nan, math.nan
        return float(np.mean([s.l1 for s in levels])), float(np.mean([s.iou for s in levels]))

    def mean_of(self, attribute: str) -> float:
        values = [getattr(d, attribute) for d in self.designs]
        return float(np.mean(values)) if values else math.nan

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: settings, per-design scores and means per edit level.

        JSON has no infinity or NaN, so those are written as None (an exact reconstruction has PSNR inf).
        """
        return _finite(
            {
                "engine": self.engine,
                "layers": self.layers,
                "granularity": self.granularity,
                "max_side": self.max_side,
                "designs": [_design_dict(d) for d in self.designs],
                "mean": {
                    "edits": [
                        dict(zip(("l1", "iou"), self.mean(k), strict=True)) for k in range(MAX_EDITS + 1)
                    ],
                    "psnr": self.mean_of("psnr"),
                    "max_error": max((d.max_error for d in self.designs), default=math.nan),
                    "seconds_per_megapixel": self.mean_of("seconds_per_megapixel"),
                },
            }
        )


def load_dataset(
    dataset: str | Path, granularity: str = "group", max_side: int | None = None
) -> list[GroundTruth]:
    """Ground truth for every design of ``dataset`` (see :mod:`strata.evaluation.groundtruth`)."""
    return [load_ground_truth(path, granularity, max_side) for path in find_designs(dataset)]


def evaluate_design(truth: GroundTruth, decompose: Decomposer, layers: int) -> DesignResult:
    """Decompose the design's input image into ``layers`` layers and score the result."""
    start = time.perf_counter()
    stack = decompose(truth.image.copy(), layers)
    seconds = time.perf_counter() - start
    if stack.size != truth.image.size:
        raise StrataError(
            f"{truth.name}: the decomposer returned a {stack.size} canvas for a {truth.image.size} image"
        )
    arrays = stack.arrays()
    max_error, psnr = reconstruction_error(arrays, np.asarray(truth.image))
    pred = [Layer.from_array(a) for a in arrays]
    result = DesignResult(
        truth.name,
        len(truth.layers),
        len(pred),
        [],
        psnr,
        max_error,
        seconds,
        truth.megapixels,
        truth.reference_psnr,
    )
    if len(pred) < 2 or len(truth.layers) < 2:
        result.skipped = "fewer than 2 layers"
    else:
        result.levels = edit_scores(pred, truth.layers)
    return result


def evaluate(
    truths: Iterable[GroundTruth],
    decompose: Decomposer,
    layers: int,
    *,
    engine: str = "custom",
    granularity: str = "group",
    max_side: int | None = None,
    on_result: Callable[[DesignResult], None] | None = None,
) -> Report:
    """Score ``decompose`` on every design; ``on_result`` is called after each one (for progress)."""
    report = Report(engine, layers, granularity, max_side)
    for truth in truths:
        result = evaluate_design(truth, decompose, layers)
        report.designs.append(result)
        if on_result is not None:
            on_result(result)
    return report


def engine_decomposer(
    name: str, layers: int | None = None, options: Mapping[str, Any] | None = None
) -> Decomposer:
    """A decomposer running the registered engine ``name``, loaded once, here.

    ``layers`` (if given) and ``options`` are checked against the engine's capabilities before loading.
    """
    from strata.engines import get_engine

    engine = get_engine(name)
    if layers is not None:
        engine.check(layers, options)
    engine.load()

    def decompose(image: Image.Image, count: int) -> LayerStack:
        engine.check(count, options)
        return engine.decompose(image, count, options)

    return decompose


def _design_dict(d: DesignResult) -> dict[str, Any]:
    return {
        "name": d.name,
        "gt_layers": d.gt_layers,
        "pred_layers": d.pred_layers,
        "skipped": d.skipped,
        "edits": [
            {
                "edits": s.edits,
                "l1": s.l1,
                "iou": s.iou,
                "pred_layers": s.pred_layers,
                "gt_layers": s.gt_layers,
            }
            for s in d.levels
        ],
        "psnr": d.psnr,
        "max_error": d.max_error,
        "seconds": d.seconds,
        "megapixels": d.megapixels,
        "seconds_per_megapixel": d.seconds_per_megapixel,
        "reference_psnr": d.reference_psnr,
    }


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
