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
from typing import Annotated

import typer
from rich.console import Console, Group
from rich.table import Table

from strata.engines import DEFAULT_ENGINE
from strata.errors import InvalidParameter, OutputError
from strata.evaluation.edits import MAX_EDITS
from strata.evaluation.groundtruth import GRANULARITIES, find_designs, load_ground_truth
from strata.evaluation.run import DesignResult, Report, engine_decomposer, evaluate

#: Below this a design's text and icons are a few pixels wide and the scores stop meaning anything.
MIN_SIDE = 64


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
        typer.Option(help="Scale each design down so its longer side is at most this (default: full size)."),
    ] = None,
) -> None:
    """Score an engine on layered designs: RGB L1 / alpha IoU after 0..5 edits, PSNR, speed."""
    _check_options(granularity, max_side)
    paths = find_designs(dataset)
    if json_out is not None and str(json_out) != "-":
        _check_writable(json_out)
    decompose = engine_decomposer(engine, layers)
    done: list[str] = []
    with Console(stderr=True).status("evaluating") as status:

        def progress(result: DesignResult) -> None:
            done.append(result.name)
            status.update(f"evaluated {result.name} ({len(done)}/{len(paths)})")

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
        print(json.dumps(report.to_dict(), indent=2))
        return
    Console().print(results_table(report))
    if json_out is not None:
        _write_json(json_out, report)


def results_table(report: Report) -> Group:
    """Per design and mean: RGB L1 and alpha soft IoU after 0..5 edits, then reconstruction and speed."""
    title = f"{report.engine}, N={report.layers}, {report.granularity} ground truth"
    if report.max_side:
        title += f", max side {report.max_side}"
    means = [report.mean(k) for k in range(MAX_EDITS + 1)]
    l1 = _edits_table(f"{title}: RGB L1 after k edits (lower is better)", report, "l1", [m[0] for m in means])
    iou = _edits_table(
        f"{title}: alpha soft IoU after k edits (higher is better)", report, "iou", [m[1] for m in means]
    )
    speed = Table(
        title=f"{title}: GT layers, top groups (prediction/GT), reconstruction PSNR (dB) and max error "
        "(1/255 units), seconds per megapixel, PSNR of the GT composite against the PSD's own (dB)"
    )
    for name in ("design", "GT", "groups", "PSNR", "max err", "s/MP", "GT/PSD"):
        speed.add_column(name, justify="left" if name == "design" else "right")
    for d in report.designs:
        reference = "-" if d.reference_psnr is None else f"{d.reference_psnr:.1f}"
        grouped = "-" if d.skipped else f"{d.at(0).pred_layers}/{d.at(0).gt_layers}"
        speed.add_row(
            d.name,
            str(d.gt_layers),
            grouped,
            f"{d.psnr:.1f}",
            f"{d.max_error:.2f}",
            f"{d.seconds_per_megapixel:.2f}",
            reference,
        )
    worst = max((d.max_error for d in report.designs), default=math.nan)
    speed.add_section()
    speed.add_row(
        "mean",
        "",
        "",
        f"{report.mean_of('psnr'):.1f}",
        f"{worst:.2f} (max)",
        f"{report.mean_of('seconds_per_megapixel'):.2f}",
        "",
    )
    return Group(l1, iou, speed)


def _edits_table(title: str, report: Report, metric: str, means: list[float]) -> Table:
    table = Table(title=title)
    table.add_column("design")
    for k in range(MAX_EDITS + 1):
        table.add_column(str(k), justify="right")
    for d in report.designs:
        table.add_row(
            d.name, *[_number(None if d.skipped else getattr(d.at(k), metric)) for k in range(MAX_EDITS + 1)]
        )
    table.add_section()
    table.add_row("mean", *[_number(m) for m in means])
    return table


def _number(value: float | None) -> str:
    return "skipped" if value is None else f"{value:.3f}"


def _check_options(granularity: str, max_side: int | None) -> None:
    if granularity not in GRANULARITIES:
        raise InvalidParameter(
            f"granularity must be one of {', '.join(GRANULARITIES)}, got {granularity!r}",
            parameter="granularity",
            allowed_values=list(GRANULARITIES),
        )
    if max_side is not None and max_side < MIN_SIDE:
        raise InvalidParameter(
            f"--max-side must be at least {MIN_SIDE}, got {max_side}", parameter="max_side"
        )


def _check_writable(path: Path) -> None:
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise OutputError(f"cannot write {path}: {parent} is not a writable folder")


def _write_json(path: Path, report: Report) -> None:
    from strata.exporters import atomic_write

    atomic_write(path, (json.dumps(report.to_dict(), indent=2) + "\n").encode())
