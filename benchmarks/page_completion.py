"""How well the classic engine completes a photo page under the elements it lifts off it.

On the synthetic designs (``synthetic_designs.py``) whose page is a photo, the true page under every
element is known. Each design is decomposed, and the background layer is compared with the true page
on the pixels some element layer covers (where the page had to be completed): mean and 95th
percentile of the max-channel error, in 8-bit steps. The product's completion
(:func:`strata.imaging.background.fill_estimate`, pull-push) runs beside OpenCV's Telea inpainting at
full resolution, swapped in for the background completion of the same run, as the reference.

Usage: python benchmarks/page_completion.py [--designs 48] [--seed 0] [--layers 4]
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

import strata.imaging.background as background
from strata.engines.classic import ClassicEngine
from synthetic_designs import make_design


def telea(image: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """OpenCV's Telea inpainting at full resolution, with the same one-pixel margin."""
    hole = cv2.dilate(covered.astype(np.uint8), np.ones((3, 3), np.uint8))
    rgb = np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return cv2.inpaint(rgb, hole, 3, cv2.INPAINT_TELEA).astype(np.float32) / 255.0


def completion_errors(seeds: range, layers: int) -> tuple[np.ndarray, float]:
    """Max-channel errors (8-bit steps) of the completed page on every covered pixel, and seconds."""
    engine, errors, seconds = ClassicEngine(), [], 0.0
    for seed in seeds:
        truth, _ = make_design(seed)
        start = time.perf_counter()
        stack = engine.decompose(truth.image, layers)
        seconds += time.perf_counter() - start
        if stack.metadata["background"] != "textured":
            continue
        base, *elements = stack.arrays()
        covered = np.zeros(base.shape[:2], bool)
        for layer in elements:
            covered |= layer[..., 3] > 0
        page = truth.layers[0].to_uint8()[..., :3].astype(np.int16)
        errors.append(np.abs(base[..., :3].astype(np.int16) - page).max(-1)[covered])
    return np.concatenate(errors), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--designs", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--layers", type=int, default=4)
    args = parser.parse_args()
    seeds = range(args.seed, args.seed + args.designs)
    product = background.fill_estimate
    print(f"synthetic designs {seeds.start}..{seeds.stop - 1}, N = {args.layers}; photo pages only")
    print("| completion | covered pixels | mean error | 95th percentile | decompose seconds (all designs) |")
    print("|---|---:|---:|---:|---:|")
    for name, method in (("pull-push (strata)", product), ("Telea, full resolution (OpenCV)", telea)):
        background.fill_estimate = method
        try:
            errors, seconds = completion_errors(seeds, args.layers)
        finally:
            background.fill_estimate = product
        p95 = np.percentile(errors, 95)
        print(f"| {name} | {errors.size} | {errors.mean():.1f} | {p95:.0f} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
