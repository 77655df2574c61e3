"""Scoring layer decompositions against ground-truth layers of real designs (LayerD protocol).

``groundtruth`` reads PSD/PSB designs, ``metrics`` and ``edits`` implement the scores, ``run`` drives a
decomposer over a dataset. See docs/evaluation.md for the definitions.
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
