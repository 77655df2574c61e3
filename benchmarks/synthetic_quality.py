"""Held-out quality check: the classic engine and the k-means baseline on synthetic designs.

The designs come from benchmarks/synthetic_designs.py (seeded, with exactly known group and leaf
layers); the engine is not tuned on them. Same protocol and table as benchmarks/quality.py, plus the
number of designs where classic's pair cost after 0 edits beats k-means.

``--jpeg Q`` gives the engines each input re-encoded as a JPEG of quality Q (the truth stays exact):
how the engine copes with compression noise, as designs shared on the web come. ``--shadows`` gives
about half the elements of the same designs a soft drop shadow in their own layer (a layer effect).
``--captions`` takes only the designs with a photo on the page (the first ``--designs`` from
``--seed`` on) and lays a title on each photo: headlines on pictures.

Usage: python benchmarks/synthetic_quality.py [--designs 24] [--seed 0] [--layers 4 6] [--json OUT]
       [--save DIR] [--jpeg Q] [--shadows] [--captions]
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import time
from pathlib import Path

from PIL import Image

from quality import GRANULARITIES, compare, summary_table
from strata.evaluation import Report
from strata.evaluation.groundtruth import GroundTruth
from synthetic_designs import make_design


def save(truths: list[tuple[GroundTruth, GroundTruth]], folder: Path) -> None:
    """Write each design's input image and its ground-truth layers (both granularities) as PNG."""
    for group, leaf in truths:
        design = folder / group.name
        design.mkdir(parents=True, exist_ok=True)
        group.image.save(design / "input.png")
        for truth in (group, leaf):
            for index, (layer, name) in enumerate(zip(truth.layers, truth.names, strict=True)):
                safe = "".join(c if c.isalnum() else "-" for c in name).strip("-")
                path = design / f"{truth.granularity}-{index:02d}-{safe}.png"
                Image.fromarray(layer.to_uint8(), "RGBA").save(path)


def designs(first: int, count: int, shadows: bool, captions: bool) -> list[tuple[GroundTruth, GroundTruth]]:
    """``count`` designs from seed ``first`` on; with ``captions``, only those with a photo on the page."""
    truths: list[tuple[GroundTruth, GroundTruth]] = []
    seed = first
    while len(truths) < count:
        pair = make_design(seed, shadows, captions)
        if not captions or any(name.startswith("caption") for name in pair[0].names):
            truths.append(pair)
        seed += 1
    return truths


def jpeg(truth: GroundTruth, quality: int) -> GroundTruth:
    """The design with its input image re-encoded as a JPEG of ``quality`` (the layers unchanged)."""
    buffer = io.BytesIO()
    truth.image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return dataclasses.replace(truth, image=Image.open(io.BytesIO(buffer.getvalue())))


def wins(pairs: list[tuple[Report, Report]]) -> list[str]:
    """One line per (N, granularity): designs where classic's pair cost after 0 edits beats k-means."""
    lines = []
    for classic, baseline in pairs:
        won = sum(
            mine.at(0).cost < theirs.at(0).cost
            for mine, theirs in zip(classic.counted, baseline.counted, strict=True)
        )
        lines.append(
            f"N={classic.layers} {classic.granularity}: classic beats k-means on {won} of "
            f"{len(classic.counted)} designs (pair cost after 0 edits)"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--designs", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0, help="Seed of the first design.")
    parser.add_argument("--layers", type=int, nargs="+", default=[4, 6])
    parser.add_argument("--json", type=Path, default=None, help="Write every report here as JSON.")
    parser.add_argument("--save", type=Path, default=None, help="Write inputs and layers here as PNG.")
    parser.add_argument(
        "--jpeg", type=int, default=None, help="Re-encode each input as a JPEG of this quality."
    )
    parser.add_argument("--shadows", action="store_true", help="Give some elements a soft drop shadow.")
    parser.add_argument("--captions", action="store_true", help="Designs with photos, a title on each.")
    args = parser.parse_args()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)  # before the run, not after it
    start = time.perf_counter()
    truths = designs(args.seed, args.designs, args.shadows, args.captions)
    if args.jpeg:
        truths = [(jpeg(group, args.jpeg), jpeg(leaf, args.jpeg)) for group, leaf in truths]
    if args.save:
        save(truths, args.save)
    pairs = compare({g: [pair[i] for pair in truths] for i, g in enumerate(GRANULARITIES)}, args.layers)
    print(summary_table(pairs), end="\n\n")
    print("\n".join(wins(pairs)))
    engine_seconds = sum(d.seconds for pair in pairs for d in pair[0].designs)
    megapixels = sum(truth.megapixels for truth, _ in truths)
    print(
        f"\n({time.perf_counter() - start:.0f} s in all; classic engine {engine_seconds:.1f} s over "
        f"{len(pairs)} runs of {megapixels:.1f} MP)"
    )
    if args.json:
        args.json.write_text(json.dumps([r.to_dict() for pair in pairs for r in pair], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
