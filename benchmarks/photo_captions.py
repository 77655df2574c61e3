"""How many titles laid on photos the classic engine lifts into a layer of their own.

The designs are those of ``synthetic_quality.py --captions``: the synthetic designs with a photo on the
page, with a title (a caption) laid on each photo. A caption counts as lifted when one layer is on top
over at least 90 % of its letters and carries at most 2 % of what the image shows of the photo around
them (the letters and 3 pixels about them aside): the title can be moved or recoloured without the
photo. Captions that
other elements hide in part count too; those are the usual misses.

To compare two versions of the engine, run the script once on each (``PYTHONPATH=OTHER/src``).

Usage: python benchmarks/photo_captions.py [--designs 24] [--seed 0] [--layers 4 6]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import ndimage

from strata.engines.classic import ClassicEngine
from strata.evaluation.groundtruth import GroundTruth
from synthetic_quality import designs


def lifted(truth: GroundTruth, arrays: list[np.ndarray], caption: str) -> bool:
    """Whether the decomposition ``arrays`` holds ``caption`` in a layer of its own, off its photo."""

    def opaque(name: str) -> np.ndarray:
        return truth.layers[truth.names.index(name)].to_array()[..., 3] > 0.99

    letters, photo = opaque(caption), opaque("photo " + caption.split()[1])
    for name in truth.names[truth.names.index(caption) + 1 :]:
        photo &= ~opaque(name)  # what the image shows of the photo
    tops = np.max([np.where(a[..., 3][letters] > 0, i, 0) for i, a in enumerate(arrays)], axis=0)
    text = int(np.bincount(tops).argmax())
    around = photo & ~ndimage.binary_dilation(letters, iterations=3)
    return bool((tops == text).mean() >= 0.9 and (arrays[text][..., 3][around] > 0).mean() <= 0.02)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--designs", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0, help="Seed of the first design looked at.")
    parser.add_argument("--layers", type=int, nargs="+", default=[4, 6])
    args = parser.parse_args()
    start = time.perf_counter()
    truths = [group for group, _ in designs(args.seed, args.designs, shadows=False, captions=True)]
    engine = ClassicEngine()
    print("| N | captions lifted | missed |")
    print("|---:|---:|---|")
    for layers in args.layers:
        count, missed = 0, []
        for truth in truths:
            arrays = engine.decompose(truth.image.convert("RGB"), layers).arrays()
            for caption in (name for name in truth.names if name.startswith("caption")):
                if lifted(truth, arrays, caption):
                    count += 1
                else:
                    missed.append(f"{truth.name} {caption.split(maxsplit=2)[2]}")
        total = count + len(missed)
        print(f"| {layers} | {count} of {total} | {', '.join(missed)} |")
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
