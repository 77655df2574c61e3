"""Recursive decomposition: one layer becomes k sub-layers in place; the picture does not change."""

import numpy as np
import pytest
from PIL import Image

import strata
from shared_data import DESIGNS, POSTERS
from strata.editing import apply_recipe, decompose_layer, ops, parse_recipe
from strata.editing.recursive import fit_to_layer
from strata.engines import get_engine
from strata.errors import InvalidParameter
from strata.imaging.compose import over_uint8
from strata.layers import LayerStack

POSTER = POSTERS / "qwen-demo-1.png"
DESIGN = DESIGNS / "psdrb-example.psd"


@pytest.fixture(scope="module")
def poster_stack() -> LayerStack:
    if not POSTER.exists():
        pytest.skip(f"{POSTER} is not available")
    with Image.open(POSTER) as image:
        small = image.convert("RGB").resize((400, 400), Image.Resampling.LANCZOS)
    return strata.decompose(small, layers=4, engine="classic")


def within_one(a: np.ndarray, b: np.ndarray) -> int:
    """Largest channel difference, colour counted only where ``b`` is visible."""
    diff = np.abs(a.astype(int) - b.astype(int))
    visible = b[..., 3] > 0
    return int(max(diff[..., 3].max(), (diff[..., :3].max(axis=-1) * visible).max()))


def check_replacement(before: LayerStack, after: LayerStack, index: int, k: int) -> None:
    assert len(after) == len(before) + k - 1
    assert all(after.layers[i] is before.layers[i] for i in range(index))
    assert all(after.layers[i + k - 1] is before.layers[i] for i in range(index + 1, len(before)))
    original = before.arrays()[index]
    subs = after.arrays()[index : index + k]
    assert within_one(over_uint8(subs), original) <= 1, "the sub-layers must stack to the layer"
    outside = original[..., 3] == 0
    assert all((sub[..., 3][outside] == 0).all() for sub in subs), "transparent areas stay transparent"
    whole = np.abs(np.asarray(after.composite()).astype(int) - np.asarray(before.composite()).astype(int))
    assert whole.max() <= 1, "the whole picture stays within 1/255"


@pytest.mark.parametrize("index", [0, 1, 2])
def test_classic_layer_decomposed_again(poster_stack, index):
    if poster_stack.layers[index].getchannel("A").getbbox() is None:
        pytest.skip("the engine left this layer empty")
    after = decompose_layer(poster_stack, index, 3, engine="classic")
    check_replacement(poster_stack, after, index, 3)
    assert after.names[index].startswith(poster_stack.names[index] + "/")
    assert sum(sub.getchannel("A").getbbox() is not None for sub in after.layers[index : index + 3]) >= 2


def test_soft_edged_layer_at_reduced_opacity():
    if not DESIGN.exists():
        pytest.skip(f"{DESIGN} is not available")
    design = ops.set_opacity(strata.open_layers(DESIGN), 1, 0.6)
    engine = get_engine("classic")  # an engine instance works as well as a name
    after = decompose_layer(design, 1, 2, engine=engine)
    shown = design.arrays()[1].copy()
    shown[..., 3] = np.rint(shown[..., 3] * 0.6).astype(np.uint8)
    assert within_one(over_uint8(after.arrays()[1:3]), shown) <= 1
    assert "opacity" not in after.metadata, "the opacity went into the sub-layers' pixels"


def test_any_engine_output_is_made_exact():
    """Even layers that have nothing to do with the target (a poor engine) stack to it exactly."""
    rng = np.random.default_rng(5)
    target = rng.integers(0, 256, (40, 50, 4), dtype=np.uint8)
    target[:10, :, 3] = 0  # fully transparent band
    target[10:20, :, 3] = rng.integers(1, 30, (10, 50), dtype=np.uint8)  # faint pixels
    parts = [rng.integers(0, 256, (40, 50, 4), dtype=np.uint8) for _ in range(4)]
    subs = fit_to_layer(parts, target)
    assert within_one(over_uint8(subs), target) <= 1
    assert all((sub[:10, :, 3] == 0).all() for sub in subs)


def test_through_a_recipe(poster_stack):
    recipe = parse_recipe({"version": 1, "operations": [{"op": "decompose", "layer": 2, "layers": 2}]})
    after = apply_recipe(poster_stack, recipe)
    check_replacement(poster_stack, after, 2, 2)


def test_errors(poster_stack):
    empty = LayerStack([Image.new("RGBA", (8, 8), "white"), Image.new("RGBA", (8, 8))])
    with pytest.raises(InvalidParameter, match="empty"):
        decompose_layer(empty, 1, 2)
    with pytest.raises(InvalidParameter, match="layers must be between"):
        decompose_layer(poster_stack, 1, 99)
    with pytest.raises(InvalidParameter, match="layer must be a layer index"):
        decompose_layer(poster_stack, 9, 2)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning:peft.*")
def test_qwen_engine_on_a_tiny_real_checkpoint(poster_stack, tmp_path):
    """The same path with the diffusers engine (a tiny checkpoint built by ``strata qwen make-tiny``)."""
    torch = pytest.importorskip("torch")
    from strata.cli import main as cli_main

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two shared cores: one intra-op thread is much faster here
    try:
        cli_main(["qwen", "make-tiny", str(tmp_path / "tiny")])
        engine = get_engine("qwen", model_path=str(tmp_path / "tiny"))
        index = max(range(1, len(poster_stack)), key=lambda i: poster_stack.arrays()[i][..., 3].sum())
        after = decompose_layer(poster_stack, index, 2, engine=engine, options={"steps": 2, "seed": 7})
    finally:
        torch.set_num_threads(threads)
    check_replacement(poster_stack, after, index, 2)
