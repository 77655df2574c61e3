"""Scoring layer decompositions against ground-truth layers of real designs (LayerD protocol).

``groundtruth`` reads PSD/PSB designs, ``metrics`` and ``edits`` implement the scores, ``run`` drives a
decomposer over a dataset. See docs/evaluation.md for the definitions. Example::

    from strata.evaluation import engine_decomposer, evaluate, load_dataset

    truths = load_dataset("../shared/data/designs", granularity="group")
    report = evaluate(truths, engine_decomposer("classic"), 4, engine="classic")
    l1, iou = report.mean(0)  # means after 0 edits; any callable (image, layers) -> LayerStack works
"""

from strata.evaluation.run import (
    Decomposer,
    DesignResult,
    Report,
    engine_decomposer,
    evaluate,
    evaluate_design,
    load_dataset,
)

__all__ = [
    "Decomposer",
    "DesignResult",
    "Report",
    "engine_decomposer",
    "evaluate",
    "evaluate_design",
    "load_dataset",
]
