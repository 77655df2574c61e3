"""How much of a photo page the classic engine's element layers carry off with the elements.

On the synthetic designs (``synthetic_designs.py``) whose page is a photo, where every element is known,
each design is decomposed and the pixels of its element layers (every layer but the background) lying
more than 3 pixels from every true element are counted: pieces of the page that came out with an
element, and that move with it when it is moved. The layer-matching scores of ``synthetic_quality.py``
see them only through how they shift the alignment; this counts them directly.

To compare two versions of the engine, run the script once on each (``PYTHONPATH=OTHER/src``).

Usage: python benchmarks/photo_page_strays.py [--designs 120] [--seed 0] [--layers 4 6] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from scipy import ndimage

from strata.engines.classic import ClassicEngine
from synthetic_designs import make_design

#: Pixels this close to a true element are its rim (anti-aliasing, unmixing), not the page.
REACH = 3


def strays(seeds: range, layers: list[int]) -> dict[str, dict[int, int]]:
    """Per photo-page design, per N: element-layer pixels further than ``REACH`` from every element."""
    engine, counts = ClassicEngine(), {}
    for seed in seeds:
        truth, _ = make_design(seed)
        if not truth.names[0].startswith("background (photo"):
            continue
        elements = np.zeros((truth.image.height, truth.image.width), bool)
        for layer in truth.layers[1:]:
            elements |= layer.to_array()[..., 3] > 0
        near = ndimage.binary_dilation(elements, iterations=REACH)
        image = truth.image.convert("RGB")
        counts[f"synthetic-{seed:03d}"] = {
            n: sum(int(((a[..., 3] > 0) & ~near).sum()) for a in engine.decompose(image, n).arrays()[1:])
            for n in layers
        }
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--designs", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--layers", type=int, nargs="+", default=[4, 6])
    parser.add_argument("--json", default=None, help="Write the per-design counts here.")
    args = parser.parse_args()
    start = time.perf_counter()
    counts = strays(range(args.seed, args.seed + args.designs), args.layers)
    print(f"synthetic designs {args.seed}..{args.seed + args.designs - 1}: {len(counts)} on a photo page")
    print("| N | page pixels in element layers | designs with over 500 | largest |")
    print("|---:|---:|---:|---:|")
    for n in args.layers:
        each = [c[n] for c in counts.values()]
        print(f"| {n} | {sum(each)} | {sum(c > 500 for c in each)} | {max(each, default=0)} |")
    print(f"({time.perf_counter() - start:.0f} s)")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(counts, handle, indent=1)


if __name__ == "__main__":
    main()
