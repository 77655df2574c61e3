"""Quality of the classic engine against the k-means colour baseline on the real designs.

Runs both through the same harness as ``strata eval`` (LayerD protocol, docs/evaluation.md) for N = 4
and N = 6 at both ground-truth granularities, prints the markdown table quoted in the README, and flags
every design where the classic engine does not beat k-means (pair cost (L1 + 1 - IoU) / 2 after 0 edits,
and after 1 edit). Exit status 1 with ``--strict`` if any design is flagged.

It also scores the designers' own layers at one granularity against the ground truth at the other
(group layers as a prediction of the leaf truth, and the reverse): where the two truths disagree, no
single decomposition can score 1 on both, and this row says how far apart they are.

Usage: python benchmarks/quality.py [--dataset DIR] [--layers 4 6] [--max-side S] [--json OUT] [--strict]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from kmeans_baseline import decompose as kmeans
from strata.evaluation import Report, engine_decomposer, evaluate, load_dataset
from strata.evaluation.edits import edit_scores
from strata.evaluation.groundtruth import GroundTruth

SHARED = Path(os.environ.get("STRATA_SHARED_DIR", Path(__file__).resolve().parents[2] / "shared"))
DEFAULT_DATASET = SHARED / "data" / "designs"
GRANULARITIES = ("group", "leaf")
JUDGED_EDITS = (0, 1)


def compare(
    truths: dict[str, list[GroundTruth]], layer_counts: list[int], max_side: int | None = None
) -> list[tuple[Report, Report]]:
    """(classic, kmeans) reports for every granularity (``truths`` by granularity) and N."""
    classic = engine_decomposer("classic")
    pairs = []
    for granularity, designs in truths.items():
        for layers in layer_counts:
            common = {"granularity": granularity, "max_side": max_side}
            pairs.append(
                (
                    evaluate(designs, classic, layers, engine="classic", **common),
                    evaluate(designs, kmeans, layers, engine="kmeans", **common),
                )
            )
    return pairs


def cross_granularity_table(truths: dict[str, list[GroundTruth]]) -> str:
    """Markdown: each design's group layers scored against its leaf truth, and the reverse (0 edits)."""
    group, leaf = (truths[g] for g in GRANULARITIES)
    lines = [
        "| design | group layers vs leaf truth (L1 / IoU) | leaf layers vs group truth (L1 / IoU) |",
        "|---|---|---|",
    ]
    totals = []
    for g, lf in zip(group, leaf, strict=True):
        scores = [edit_scores(p.layers, t.layers, max_edits=0)[0] for p, t in ((g, lf), (lf, g))]
        totals.append([v for s in scores for v in (s.l1, s.iou)])
        lines.append(f"| {g.name} | " + " | ".join(f"{s.l1:.3f} / {s.iou:.3f}" for s in scores) + " |")
    means = [sum(column) / len(column) for column in zip(*totals, strict=True)]
    lines.append(f"| mean | {means[0]:.3f} / {means[1]:.3f} | {means[2]:.3f} / {means[3]:.3f} |")
    return "\n".join(lines)


def summary_table(pairs: list[tuple[Report, Report]]) -> str:
    """Markdown: one row per engine, N and granularity; mean L1 / IoU after 0, 1 and 5 edits."""
    lines = [
        "| engine | N | ground truth | L1 ↓ 0 edits | IoU ↑ 0 edits | L1 ↓ 1 edit | IoU ↑ 1 edit "
        "| L1 ↓ 5 edits | IoU ↑ 5 edits | PSNR dB | max err | s/MP |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for report in (r for pair in pairs for r in pair):
        scores = [f"{v:.3f}" for k in (0, 1, 5) for v in report.mean(k)]
        worst = max(d.max_error for d in report.designs)
        lines.append(
            f"| {report.engine} | {report.layers} | {report.granularity} | {' | '.join(scores)} "
            f"| {report.mean_of('psnr'):.1f} | {worst:.2f} | {report.mean_of('seconds_per_megapixel'):.2f} |"
        )
    return "\n".join(lines)


def design_table(pairs: list[tuple[Report, Report]]) -> tuple[str, list[str]]:
    """Markdown: per design, pair cost of classic vs k-means after 0 and 1 edits; and the flags raised."""
    lines = [
        "| N | ground truth | design | classic cost 0 | k-means cost 0 | classic cost 1 | k-means cost 1 "
        "| beats k-means |",
        "|---:|---|---|---:|---:|---:|---:|---|",
    ]
    flags = []
    for classic, baseline in pairs:
        for mine, theirs in zip(classic.designs, baseline.designs, strict=True):
            costs = [(mine.at(k).cost, theirs.at(k).cost) for k in JUDGED_EDITS]
            lost = [k for k, (a, b) in zip(JUDGED_EDITS, costs, strict=True) if a >= b]
            verdict = "yes" if not lost else "NO at " + ", ".join(f"{k} edits" for k in lost)
            if lost:
                flags.append(f"N={classic.layers} {classic.granularity} {mine.name}: {verdict}")
            cells = " | ".join(f"{a:.3f} | {b:.3f}" for a, b in costs)
            lines.append(f"| {classic.layers} | {classic.granularity} | {mine.name} | {cells} | {verdict} |")
    return "\n".join(lines), flags


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--layers", type=int, nargs="+", default=[4, 6])
    parser.add_argument("--max-side", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None, help="Write every report here as JSON.")
    parser.add_argument(
        "--strict", action="store_true", help="Exit 1 if classic does not beat k-means somewhere."
    )
    args = parser.parse_args()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)  # before the run, not after it
    start = time.perf_counter()
    truths = {g: load_dataset(args.dataset, g, args.max_side) for g in GRANULARITIES}
    pairs = compare(truths, args.layers, args.max_side)
    designs, flags = design_table(pairs)
    print(summary_table(pairs), end="\n\n")
    print(designs, end="\n\n")
    print("Designers' own layers at the other granularity:", end="\n\n")
    print(cross_granularity_table(truths), end="\n\n")
    print("\n".join(f"FLAG {flag}" for flag in flags) or "classic beats k-means on every design.")
    print(f"\n({time.perf_counter() - start:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps([r.to_dict() for pair in pairs for r in pair], indent=2))
    return 1 if flags and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
