"""benchmarks/reference_layers.py: the check that a change moves no layer, or which ones it moves."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from shared_data import load_benchmark
from strata.engines.classic import ClassicEngine

reference = load_benchmark("reference_layers")


def test_the_reference_set_has_the_designs_and_seeds_it_names() -> None:
    names = [name for name, _ in reference.cases()]
    synthetic = [name for name in names if name.startswith("synthetic-")]
    assert len(synthetic) == 24 + 2 * 12
    assert "synthetic-000" in synthetic and "synthetic-138" in synthetic
    assert "synthetic-001-shadows" in synthetic and "synthetic-133-jpeg75" in synthetic


def test_a_moved_pixel_is_found_and_counted(tmp_path: Path) -> None:
    name, make = next((n, m) for n, m in reference.cases() if n == "synthetic-006")
    layers = ClassicEngine().decompose(make(), 4).arrays()
    moved = [layer.copy() for layer in layers]
    moved[1][10:12, 20:23] = 255 - moved[1][10:12, 20:23]  # six pixels of one layer
    runs = {}
    for run, stack in (("before", layers), ("after", moved)):
        (tmp_path / run).mkdir()
        np.savez_compressed(tmp_path / run / f"{name}@4.npz", *stack)
        runs[run] = {f"{name}@4": [hashlib.sha1(layer.tobytes()).hexdigest() for layer in stack]}
    assert reference.compare(runs["before"], runs["before"]) == []
    assert reference.compare(runs["before"], runs["after"]) == [f"{name}@4"]
    assert reference.differing_pixels(f"{name}@4", tmp_path / "before", tmp_path / "after") == 6
