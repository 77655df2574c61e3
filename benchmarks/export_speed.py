"""Time of writing a layer stack in each format, and in all seven at once (as ``strata decompose`` does).

Each input (the sample poster and the Qwen demo posters of ``../shared/data/posters``) is decomposed
once by the classic engine; then each format is encoded on its own (``render``), and all seven
together (``render_all``: formats side by side on a few threads, one PNG encoding shared by PNG, ZIP
and PPTX). Best of ``--repeat`` runs. Point ``PYTHONPATH`` at another checkout's ``src`` to compare
code in the same sitting.

Usage: python benchmarks/export_speed.py [--layers 6] [--repeat 3] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import strata
from classic_speed import best_of, hardware
from strata.exporters import FORMATS, render, render_all
from strata.layers import LayerStack

ROOT = Path(__file__).resolve().parents[1]
POSTERS = ROOT.parent / "shared" / "data" / "posters"
ORDER = ["png", "webp", "tiff", "psd", "zip", "ora", "pptx"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--images", nargs="*", type=Path)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    images = args.images or [ROOT / "examples" / "poster.png", *sorted(POSTERS.glob("*.png"))]
    print(f"{hardware()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {strata.__file__}")
    print(f"| input | MP | {' | '.join(ORDER)} | all 7 | sum of the 7 |")
    print(f"|---|---:|{'---:|' * (len(ORDER) + 2)}")
    rows = []
    for path in images:
        rows.append(measure(strata.decompose(path, layers=args.layers), path.name, args.repeat))
        seconds = rows[-1]["seconds"]
        cells = " | ".join(f"{seconds[name]:.2f}" for name in ORDER)
        print(
            f"| {path.name} | {rows[-1]['megapixels']:.2f} | {cells} | {rows[-1]['all']:.2f} "
            f"| {sum(seconds.values()):.2f} |"
        )
    if args.json:
        results = {"hardware": hardware(), "layers": args.layers, "rows": rows}
        args.json.write_text(json.dumps(results, indent=2))


def measure(stack: LayerStack, name: str, repeat: int) -> dict[str, Any]:
    width, height = stack.size
    seconds = {fmt: best_of(repeat, lambda fmt=fmt: render(stack, FORMATS[fmt])) for fmt in ORDER}
    together = best_of(repeat, lambda: render_all(stack, [FORMATS[fmt] for fmt in ORDER]))
    return {"input": name, "megapixels": width * height / 1e6, "seconds": seconds, "all": together}


if __name__ == "__main__":
    main()
