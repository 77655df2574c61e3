"""Which decompositions a change to the classic engine moves: layer fingerprints of a reference set.

The reference set is the 8 evaluation designs (flattened as ``strata eval`` sees them), the synthetic
designs of every 6th seed from 0 to 143, and of every 12th seed from 1 with soft shadows and as a JPEG
of quality 75 (``synthetic_designs.py``), each decomposed at N = 4 and 7: 112 decompositions. ``--out``
writes each one's layers as SHA-1 digests (and, with ``--arrays``, the layers themselves, to count
the pixels that differ); ``--compare`` lists the decompositions whose layers differ between two runs.
A refactor that claims to change no layer is checked by comparing a run before it with one after it.

Usage: python benchmarks/reference_layers.py --out before.json [--arrays before/]
       python benchmarks/reference_layers.py --compare before.json after.json [--arrays before/ after/]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from strata.engines.classic import ClassicEngine
from synthetic_designs import make_design

SHARED = Path(os.environ.get("STRATA_SHARED_DIR", Path(__file__).resolve().parents[2] / "shared"))
DESIGNS = SHARED / "data" / "designs"
LAYERS = (4, 7)


def cases() -> Iterator[tuple[str, Callable[[], Image.Image]]]:
    """(name, a function making its input) for every design of the reference set."""
    from strata.evaluation.groundtruth import find_designs, load_ground_truth

    for path in find_designs(DESIGNS):
        yield path.stem, lambda path=path: load_ground_truth(path, "group").image
    for seed in range(0, 144, 6):
        yield f"synthetic-{seed:03d}", lambda seed=seed: make_design(seed)[0].image
    for seed in range(1, 144, 12):
        yield f"synthetic-{seed:03d}-shadows", lambda seed=seed: make_design(seed, shadows=True)[0].image
        yield f"synthetic-{seed:03d}-jpeg75", lambda seed=seed: jpeg(make_design(seed)[0].image, 75)


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue()))


def fingerprints(arrays: Path | None) -> dict[str, list[str]]:
    """Each decomposition's layer digests, by "name@N"; the layers saved under ``arrays`` if given."""
    engine, found = ClassicEngine(), {}
    for name, make in cases():
        image = make()
        for layers in LAYERS:
            stack = engine.decompose(image, layers).arrays()
            key = f"{name}@{layers}"
            found[key] = [hashlib.sha1(layer.tobytes()).hexdigest() for layer in stack]
            if arrays is not None:
                np.savez_compressed(arrays / f"{key}.npz", *stack)
    return found


def differing_pixels(key: str, before: Path, after: Path) -> int | None:
    """Pixels whose RGBA differs in some layer, or None when the layer counts differ."""
    with np.load(before / f"{key}.npz") as old, np.load(after / f"{key}.npz") as new:
        if len(old.files) != len(new.files):
            return None
        return sum(int((old[f] != new[f]).any(axis=-1).sum()) for f in old.files)


def compare(before: dict[str, list[str]], after: dict[str, list[str]]) -> list[str]:
    """The decompositions of ``before`` whose layers differ in ``after`` (or that it lacks)."""
    return [key for key, digests in before.items() if after.get(key) != digests]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the fingerprints of this code here")
    parser.add_argument("--compare", type=Path, nargs=2, metavar=("BEFORE", "AFTER"))
    parser.add_argument("--arrays", type=Path, nargs="+", help="folder(s) of the layers themselves")
    args = parser.parse_args()
    if args.out:
        folder = args.arrays[0] if args.arrays else None
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(fingerprints(folder), indent=1))
        print(f"{len(LAYERS) * len(list(cases()))} decompositions written to {args.out}")
    if args.compare:
        before, after = (json.loads(path.read_text()) for path in args.compare)
        moved = compare(before, after)
        print(f"{len(moved)} of {len(before)} decompositions differ")
        for key in moved:
            count = differing_pixels(key, *args.arrays) if args.arrays and len(args.arrays) == 2 else None
            print(f"  {key}" + ("" if count is None else f": {count} pixels"))


if __name__ == "__main__":
    main()
