"""Overlapping photos told apart (``strata.imaging.collage``), and a collage through the classic engine."""

import numpy as np
from PIL import Image

from shared_data import load_benchmark
from strata.engines.classic import ClassicEngine
from strata.imaging.collage import collage

SIZE = (300, 400)


def photo(seed: int) -> np.ndarray:
    """A smooth random picture filling the canvas (colour noise upscaled)."""
    coarse = np.random.default_rng(seed).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    big = Image.fromarray(coarse, "RGB").resize(SIZE[::-1], Image.Resampling.BICUBIC)
    return np.asarray(big, np.float32) / 255


def paste(boxes: list[tuple[int, int, int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Photos pasted back to front in ``boxes``: (image, region they cover)."""
    image, region = np.zeros((*SIZE, 3), np.float32), np.zeros(SIZE, bool)
    for seed, (top, left, bottom, right) in enumerate(boxes):
        image[top:bottom, left:right] = photo(seed)[top:bottom, left:right]
        region[top:bottom, left:right] = True
    return image, region


def found(boxes: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]] | None:
    image, region = paste(boxes)
    return collage(region, np.zeros_like(region), image)


def test_overlapping_photos_are_found_back_to_front() -> None:
    # The second photo covers the first's bottom-right corner, the third the second's bottom edge.
    boxes = [(10, 10, 120, 200), (100, 150, 230, 380), (210, 60, 290, 300)]
    assert found(boxes) == boxes
    assert found([boxes[1], boxes[0]]) == [boxes[1], boxes[0]]  # stacked the other way round


def test_photos_side_by_side_are_apart_only_where_the_seam_shows() -> None:
    side_by_side = [(20, 20, 280, 200), (60, 200, 240, 380)]
    assert found(side_by_side) == side_by_side
    # One picture cut to the same outline has no seam: it stays one.
    image, region = paste(side_by_side)
    one = np.where(region[..., None], photo(7), image)
    assert collage(region, np.zeros_like(region), one) is None


def test_one_photo_with_a_rectangle_cut_out_is_not_a_collage() -> None:
    image, region = paste([(20, 20, 280, 380)])
    region[150:280, 200:380] = False  # an L-shaped picture: its inner corner is no photo's side
    image[~region] = 0
    assert collage(region, np.zeros_like(region), image) is None
    assert found([(20, 20, 280, 380)]) is None  # a single photo


def test_a_collage_on_a_gradient_page_comes_out_a_photo_per_layer() -> None:
    # Synthetic design 21 of the project's generator: three overlapping photos, a card holding text
    # over the lowest one's corner and a small rectangle. The photos were one region covering half
    # the canvas, taken for a backdrop and left in the background layer.
    group, _ = load_benchmark("synthetic_designs").make_design(21)
    image = group.image.convert("RGB")
    stack = ClassicEngine().decompose(image, 6)
    alphas = [np.asarray(layer)[..., 3] > 0 for layer in stack.layers]
    alphas_truth = [layer.to_array()[..., 3] for layer in group.layers]
    photos = [i for i, name in enumerate(group.names) if "photo" in name]
    assert len(photos) == 3
    owners = []
    for index in photos:
        # Where the photo shows in the design (not under a later layer), one layer holds it.
        shown = alphas_truth[index] > 0.5
        for later in alphas_truth[index + 1 :]:
            shown &= later < 0.5
        share = [float((alpha & shown).sum()) / shown.sum() for alpha in alphas[1:]]
        owners.append(int(np.argmax(share)) + 1)
        assert max(share) >= 0.97
    assert len(set(owners)) == 3
    assert owners == sorted(owners)  # back to front as designed
