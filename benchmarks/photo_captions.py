"""How many titles laid on photos the classic engine lifts into a layer of their own.

The designs are those of ``synthetic_quality.py --captions``: the synthetic designs with a photo on the
page, with a title (a caption) laid on each photo. A caption counts as lifted when one layer is on top
over at least 90 % of its letters and carries at most 2 % of what the image shows of the photo around
them (the letters and 3 pixels about them aside): the title can be moved or recoloured without the
photo. For those, the ink left behind is counted: pixels within a few of the letters that still look
like the ink once the caption's layer is hidden, where the design without the caption does not (a
letter's dot or a rim left in the photo). Captions that
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
from strata.evaluation.layer import over as layer_over
from strata.imaging.compose import over
from synthetic_quality import designs

#: Ink left behind is looked for this many pixels about the caption's letters, within this max-channel
#: distance of the ink.
INK_REACH, INK_TOL = 6, 0.1


def lifted(truth: GroundTruth, arrays: list[np.ndarray], caption: str) -> tuple[bool, int]:
    """Whether the decomposition ``arrays`` holds ``caption`` in a layer of its own, off its photo, and
    how many pixels about the caption still show its ink once that layer is hidden (and should not)."""

    def opaque(name: str) -> np.ndarray:
        return truth.layers[truth.names.index(name)].to_array()[..., 3] > 0.99

    letters, photo = opaque(caption), opaque("photo " + caption.split()[1])
    for name in truth.names[truth.names.index(caption) + 1 :]:
        photo &= ~opaque(name)  # what the image shows of the photo
    tops = np.max([np.where(a[..., 3][letters] > 0, i, 0) for i, a in enumerate(arrays)], axis=0)
    text = int(np.bincount(tops).argmax())
    around = photo & ~ndimage.binary_dilation(letters, iterations=3)
    own = bool((tops == text).mean() >= 0.9 and (arrays[text][..., 3][around] > 0).mean() <= 0.02)
    # Ink left behind: pixels near the caption that look like its ink with its layer hidden, where the
    # true design without the caption does not (a dot of an "i" left in the photo, a rim).
    near = ndimage.binary_dilation(letters, iterations=INK_REACH)
    ink = np.median(np.asarray(truth.image)[letters], axis=0) / 255.0
    moved = over([a for i, a in enumerate(arrays) if i != text])[..., :3]
    truly = layer_over([lay for name, lay in zip(truth.names, truth.layers, strict=True) if name != caption])
    looks = np.abs(moved - ink).max(axis=-1) < INK_TOL
    should = np.abs(truly.to_array()[..., :3] - ink).max(axis=-1) < INK_TOL
    return own, int((near & looks & ~should).sum()) if own else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--designs", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0, help="Seed of the first design looked at.")
    parser.add_argument("--layers", type=int, nargs="+", default=[4, 6])
    args = parser.parse_args()
    start = time.perf_counter()
    truths = [group for group, _ in designs(args.seed, args.designs, shadows=False, captions=True)]
    engine = ClassicEngine()
    print("| N | captions lifted | ink left behind (pixels) | missed |")
    print("|---:|---:|---:|---|")
    for layers in args.layers:
        count, left, missed = 0, 0, []
        for truth in truths:
            arrays = engine.decompose(truth.image.convert("RGB"), layers).arrays()
            for caption in (name for name in truth.names if name.startswith("caption")):
                own, behind = lifted(truth, arrays, caption)
                count, left = count + own, left + behind
                if not own:
                    missed.append(f"{truth.name} {caption.split(maxsplit=2)[2]}")
        total = count + len(missed)
        print(f"| {layers} | {count} of {total} | {left} | {', '.join(missed)} |")
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
