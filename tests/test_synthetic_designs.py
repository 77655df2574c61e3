"""The synthetic design generator of benchmarks/synthetic_designs.py: exact, deterministic ground truth."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from shared_data import load_benchmark
from strata.evaluation import evaluate_design
from strata.evaluation.layer import Layer, over

SEEDS = range(8)


@pytest.fixture(scope="module")
def designs():
    make_design = load_benchmark("synthetic_designs").make_design
    return {seed: make_design(seed) for seed in SEEDS}


def flatten(layers: list[Layer]) -> np.ndarray:
    return np.rint(over(layers).to_array()[..., :3] * 255.0).astype(np.int16)


def test_same_seed_same_design_and_other_seed_another(designs):
    again_group, again_leaf = load_benchmark("synthetic_designs").make_design(3)
    group, leaf = designs[3]
    assert np.array_equal(np.asarray(again_group.image), np.asarray(group.image))
    assert again_leaf.names == leaf.names
    for mine, theirs in zip(again_leaf.layers, leaf.layers, strict=True):
        assert mine.box == theirs.box
        assert np.array_equal(mine.rgba, theirs.rgba)
    assert not np.array_equal(np.asarray(designs[4][0].image), np.asarray(group.image))


@pytest.mark.parametrize("seed", SEEDS)
def test_both_granularities_composite_exactly_to_the_image(designs, seed):
    group, leaf = designs[seed]
    image = np.asarray(group.image).astype(np.int16)
    assert group.image.mode == "RGB" and np.array_equal(np.asarray(leaf.image), image)
    assert np.abs(flatten(group.layers) - image).max() == 0
    assert np.abs(flatten(leaf.layers) - image).max() == 0


@pytest.mark.parametrize("seed", SEEDS)
def test_structure_of_the_ground_truth(designs, seed):
    group, leaf = designs[seed]
    height, width = group.layers[0].canvas
    assert (width, height) == group.image.size
    assert 0.28 <= group.megapixels <= 0.62
    assert len(leaf.layers) >= len(group.layers) >= 3  # background and at least 2 elements
    assert len(group.names) == len(group.layers) and len(leaf.names) == len(leaf.layers)
    for truth in (group, leaf):
        background = truth.layers[0]
        assert truth.names[0].startswith("background")
        assert background.box == (0, 0, height, width)
        assert background.rgba[..., 3].min() == 1.0
        assert all(not layer.empty for layer in truth.layers)


def test_text_is_rendered_anti_aliased(designs):
    text_layers = [
        layer
        for _, leaf in designs.values()
        for layer, name in zip(leaf.layers, leaf.names, strict=True)
        if "text" in name or "title" in name or "label" in name
    ]
    assert len(text_layers) >= 5
    for layer in text_layers:
        alpha = np.rint(layer.rgba[..., 3] * 255)
        assert ((alpha > 0) & (alpha < 255)).mean() > 0.05  # edges are partial, not a hard mask
        assert (alpha == 255).any()


def test_saved_pngs_read_back_to_the_same_design(designs, tmp_path):
    load_benchmark("synthetic_quality").save([designs[1]], tmp_path)
    folder = tmp_path / designs[1][0].name
    image = np.asarray(Image.open(folder / "input.png").convert("RGB"))
    assert np.array_equal(image, np.asarray(designs[1][0].image))
    leaves = sorted(folder.glob("leaf-*.png"))
    assert len(leaves) == len(designs[1][1].layers)
    layers = [Layer.from_array(np.asarray(Image.open(path).convert("RGBA"))) for path in leaves]
    assert np.abs(flatten(layers) - image).max() == 0


def test_the_evaluation_harness_scores_a_synthetic_design(designs):
    kmeans = load_benchmark("kmeans_baseline").decompose
    result = evaluate_design(designs[0][0], kmeans, 3)
    assert result.skipped is None and result.max_error == 0
    assert 0.0 <= result.at(0).cost <= 1.0


def test_classic_beats_k_means_on_held_out_designs(designs):
    """A quality regression guard: the margins measured in the README must not silently vanish."""
    from strata.evaluation import engine_decomposer

    classic, kmeans = engine_decomposer("classic"), load_benchmark("kmeans_baseline").decompose
    group = [designs[seed][0] for seed in SEEDS]
    mine = [evaluate_design(truth, classic, 4).at(0) for truth in group]
    theirs = [evaluate_design(truth, kmeans, 4).at(0) for truth in group]
    assert all(m.cost < t.cost for m, t in zip(mine, theirs, strict=True))
    assert np.mean([m.iou for m in mine]) >= 0.75 and np.mean([m.l1 for m in mine]) <= 0.05


@pytest.mark.parametrize("seed", [0, 13])
def test_shadows_are_drawn_into_their_elements_layers(designs, seed):
    group, leaf = designs[seed] if seed in designs else load_benchmark("synthetic_designs").make_design(seed)
    shaded, shaded_leaf = load_benchmark("synthetic_designs").make_design(seed, shadows=True)
    assert shaded.names == group.names and shaded_leaf.names == leaf.names
    image = np.asarray(shaded.image).astype(np.int16)
    assert np.abs(flatten(shaded.layers) - image).max() == 0
    assert np.abs(flatten(shaded_leaf.layers) - image).max() == 0
    grown = [
        (mine, theirs)
        for mine, theirs in zip(shaded.layers[1:], group.layers[1:], strict=True)
        if mine.box != theirs.box
    ]
    assert grown, "no element casts a shadow"
    for mine, theirs in grown:
        soft = (mine.to_array()[..., 3] > 0) & (theirs.to_array()[..., 3] == 0)
        assert soft.any() and (mine.to_array()[..., 3][soft] < 1).all(), "a shadow is opaque"


@pytest.mark.parametrize("seed", [1, 5])
def test_captions_lie_on_their_photos_and_change_nothing_else(designs, seed):
    group, _ = designs[seed]
    captioned, captioned_leaf = load_benchmark("synthetic_designs").make_design(seed, captions=True)
    captions = [name for name in captioned.names if name.startswith("caption")]
    assert captions and [n for n in captioned.names if n not in captions] == group.names
    for name in captions:
        index = captioned.names.index(name)
        photo = captioned.names[index - 1]
        assert photo == "photo " + name.split()[1]  # just above its photo, a top-level element of its own
        letters = captioned.layers[index].to_array()[..., 3] > 0
        assert (captioned.layers[index - 1].to_array()[..., 3][letters] == 1.0).all()  # wholly on it
        assert name in captioned_leaf.names
    for name, layer in zip(group.names, group.layers, strict=True):  # the rest of the design as it was
        mine = captioned.layers[captioned.names.index(name)]
        assert mine.box == layer.box and np.array_equal(mine.rgba, layer.rgba)
    image = np.asarray(captioned.image).astype(np.int16)
    assert np.abs(flatten(captioned.layers) - image).max() == 0
    assert np.abs(flatten(captioned_leaf.layers) - image).max() == 0
