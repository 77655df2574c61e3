"""A k-means colour-layer baseline, kept out of the product: the floor the classic engine must beat.

N layers = N hard colour clusters of the image's RGB pixels (k-means, deterministic), ordered by area,
largest at the bottom. Each layer holds the original pixels of its cluster (alpha 255, elsewhere 0), so
the stack recomposes the input exactly; the bottom layer is made opaque by filling the rest of the canvas
with its cluster's mean colour, like an engine's completed background.

Usage: python benchmarks/kmeans_baseline.py [DATASET] [--layers N] [--granularity group|leaf]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from strata.layers import LayerStack

#: Pixels used to fit the centres; assigning every pixel afterwards keeps large images fast.
FIT_SAMPLES = 40_000


def kmeans_labels(rgb: np.ndarray, clusters: int) -> np.ndarray:
    """Cluster index (0 = largest cluster) of every pixel of an (H, W, 3) uint8 image."""
    pixels = rgb.reshape(-1, 3).astype(np.float32)
    sample = pixels[:: max(1, len(pixels) // FIT_SAMPLES)]
    distinct = len(np.unique(sample, axis=0))
    k = max(1, min(clusters, distinct))
    cv2.setRNGSeed(0)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 0.5)
    _, _, centres = cv2.kmeans(sample, k, None, criteria, 3, cv2.KMEANS_PP_CENTERS)
    distances = ((pixels[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
    labels = distances.argmin(1)
    by_area = np.argsort(-np.bincount(labels, minlength=k), kind="stable")
    rank = np.empty(k, int)
    rank[by_area] = np.arange(k)
    return rank[labels].reshape(rgb.shape[:2])


def decompose(image: Image.Image, layers: int) -> LayerStack:
    """Split ``image`` into ``layers`` colour-cluster layers (fewer distinct colours: empty top layers)."""
    rgb = np.asarray(image.convert("RGB"))
    labels = kmeans_labels(rgb, layers)
    arrays = []
    for index in range(layers):
        mine = labels == index
        rgba = np.zeros((*rgb.shape[:2], 4), np.uint8)
        rgba[mine, :3] = rgb[mine]
        rgba[mine, 3] = 255
        if index == 0:
            rgba[~mine, :3] = np.rint(rgb[mine].mean(axis=0)) if mine.any() else 255
            rgba[..., 3] = 255
        arrays.append(rgba)
    return LayerStack.from_arrays(arrays, metadata={"engine": "kmeans"})


def main() -> None:
    from strata.evaluation import evaluate, load_dataset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / "designs"
    parser.add_argument("dataset", nargs="?", type=Path, default=default)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--granularity", default="group", choices=["group", "leaf"])
    args = parser.parse_args()
    truths = load_dataset(args.dataset, args.granularity)
    report = evaluate(truths, decompose, args.layers, engine="kmeans", granularity=args.granularity)
    for design in report.designs:
        print(f"{design.name:16s} L1 {design.at(0).l1:.4f} IoU {design.at(0).iou:.4f}")
    print("mean edits 0: L1 {:.4f} IoU {:.4f}".format(*report.mean(0)))


if __name__ == "__main__":
    main()
