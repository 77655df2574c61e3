"""``strata eval``: score an engine against the ground-truth layers of real designs.

Reads the ``*.psd``/``*.psb`` files of DATASET, builds ground truth at the chosen granularity, runs the
engine on each design's composite and prints, per design and on average, RGB L1 / alpha soft IoU after
0..5 edits (LayerD protocol, see docs/evaluation.md), reconstruction PSNR and max error, and seconds
per megapixel.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from strata.engines import DEFAULT_ENGINE
from strata.errors import OutputError
from strata.evaluation.edits import MAX_EDITS
from strata.evaluation.groundtruth import GRANULARITIES, find_designs, load_ground_truth
from strata.evaluation.run import DesignResult, Report, engine_decomposer, evaluate


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)


def eval_command(
    dataset: Annotated[Path, typer.Argument(help="A folder of .psd/.psb designs, or one design file.")],
    layers: Annotated[int, typer.Option("--layers", "-n", help="Layers to ask the engine for.")] = 4,
    granularity: Annotated[
        str, typer.Option(help="Ground truth: 'group' (top-level layers/groups) or 'leaf' (every layer).")
    ] = "group",
    engine: Annotated[str, typer.Option(help="Engine name (see `strata info`).")] = DEFAULT_ENGINE,
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="Also write the full results as JSON here ('-': stdout only)."),
    ] = None,
    max_side: Annotated[
        int | None,
        typer.Option(
            min=16, help="Scale each design down so its longer side is at most this (default: full size)."
        ),
    ] = None,
) -> None:
    """Score an engine on layered designs: RGB L1 / alpha IoU after 0..5 edits, PSNR, speed."""
    if granularity not in GRANULARITIES:
        raise typer.BadParameter(f"must be one of {', '.join(GRANULARITIES)}", param_hint="--granularity")
    paths = find_designs(dataset)
    if json_out is not None and str(json_out) != "-":
        _check_writable(json_out)
    decompose = engine_decomposer(engine, layers)
    err = Console(stderr=True)
    with err.status("evaluating") as status:

        def progress(result: DesignResult) -> None:
            status.update(f"evaluated {result.name}")

        truths = (load_ground_truth(path, granularity, max_side) for path in paths)
        report = evaluate(
            truths,
            decompose,
            layers,
            engine=engine,
            granularity=granularity,
            max_side=max_side,
            on_result=progress,
        )
    if json_out is not None and str(json_out) == "-":
        print(json.dumps(_finite(report.to_dict()), indent=2))
        return
    Console().print(results_table(report))
    if json_out is not None:
        _write_json(json_out, report)


def results_table(report: Report) -> Table:
    """Per design and mean: L1/IoU after 0..5 edits, reconstruction and speed."""
    title = f"{report.engine}, N={report.layers}, {report.granularity} ground truth"
    if report.max_side:
        title += f", max side {report.max_side}"
    table = Table(title=title + "  (cells: RGB L1 / alpha IoU)")
    table.add_column("design")
    table.add_column("GT", justify="right")
    for k in range(MAX_EDITS + 1):
        table.add_column(f"{k} edits", justify="right")
    for name in ("PSNR dB", "max err", "s/MP"):
        table.add_column(name, justify="right")
    for d in report.designs:
        cells = (
            ["skipped"] * (MAX_EDITS + 1)
            if d.skipped
            else [_pair(d.at(k).l1, d.at(k).iou) for k in range(MAX_EDITS + 1)]
        )
        table.add_row(
            d.name,
            str(d.gt_layers),
            *cells,
            f"{d.psnr:.1f}",
            f"{d.max_error:.0f}",
            f"{d.seconds_per_megapixel:.2f}",
        )
    means = [_pair(*report.mean(k)) for k in range(MAX_EDITS + 1)]
    worst = max((d.max_error for d in report.designs), default=math.nan)
    table.add_section()
    table.add_row(
        "mean",
        "",
        *means,
        f"{report.mean_of('psnr'):.1f}",
        f"{worst:.0f}",
        f"{report.mean_of('seconds_per_megapixel'):.2f}",
    )
    return table


def _pair(l1: float, iou: float) -> str:
    return f"{l1:.3f} / {iou:.3f}"


def _check_writable(path: Path) -> None:
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise OutputError(f"cannot write {path}: {parent} is not a writable folder")


def _write_json(path: Path, report: Report) -> None:
    from strata.exporters import atomic_write

    atomic_write(path, (json.dumps(_finite(report.to_dict()), indent=2) + "\n").encode())


def _finite(value: Any) -> Any:
    """JSON has no infinity or NaN: write them as null (an exact reconstruction has PSNR = inf)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
