"""Edit recipes: strict validation at the edge, save/load round trip, deterministic replay."""

import json

import numpy as np
import pytest
from PIL import Image

from shared_data import DESIGNS
from strata.editing import apply_recipe, for_export, load_recipe, parse_recipe, save_recipe
from strata.editing.recipe import Recipe, source_of
from strata.errors import InvalidInput, InvalidParameter
from strata.layers import LayerStack
from strata.library import open_layers

DESIGN = DESIGNS / "uv-mobile.psd"

EDITS = {
    "version": 1,
    "operations": [
        {"op": "move", "layer": 7, "dx": 12, "dy": -30},
        {"op": "scale", "layer": 3, "sx": 1.5},
        {"op": "rotate", "layer": 4, "degrees": 15},
        {"op": "tint", "layer": 5, "color": "#1e90ff", "strength": 0.8},
        {"op": "hueShift", "layer": 2, "degrees": 90},
        {"op": "brightnessContrast", "layer": 1, "brightness": 0.1, "contrast": 1.2},
        {"op": "opacity", "layer": 6, "opacity": 0.5},
        {"op": "visibility", "layer": 1, "visible": False},
        {"op": "duplicate", "layer": 7},
        {"op": "move", "layer": 8, "dx": 0, "dy": 40},
        {"op": "reorder", "layer": 8, "to": 2},
        {"op": "mergeDown", "layer": 4},
        {"op": "rename", "layer": 2, "name": "title again"},
        {"op": "delete", "layer": 3},
    ],
}


@pytest.fixture(scope="module")
def design() -> LayerStack:
    if not DESIGN.exists():
        pytest.skip(f"{DESIGN} is not available")
    return open_layers(DESIGN)


def test_replay_is_deterministic_and_leaves_the_input_alone(design):
    before = [a.copy() for a in design.arrays()]
    recipe = parse_recipe(json.dumps(EDITS))
    first, second = apply_recipe(design, recipe), apply_recipe(design, recipe)
    assert first.names == second.names and len(first) == len(design) - 1
    assert all(np.array_equal(a, b) for a, b in zip(first.arrays(), second.arrays(), strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(before, design.arrays(), strict=True))
    assert first.names[2] == "title again"
    assert first.layers[0] is design.layers[0], "the background was never touched"
    assert len(for_export(first)) == len(first) - 1, "the hidden layer is not exported"


def test_save_and_load_round_trip(tmp_path, design):
    recipe = parse_recipe({**EDITS, "source": source_of(design).model_dump()})
    path = save_recipe(recipe, tmp_path / "edits.json")
    loaded = load_recipe(path)
    assert loaded == recipe
    assert json.loads(path.read_text())["operations"][0] == {
        "op": "move",
        "layer": 7,
        "dx": 12.0,
        "dy": -30.0,
    }
    replayed = apply_recipe(design, loaded)
    assert all(
        np.array_equal(a, b)
        for a, b in zip(replayed.arrays(), apply_recipe(design, recipe).arrays(), strict=True)
    )


@pytest.mark.parametrize(
    ("document", "where"),
    [
        ({"version": 2, "operations": []}, "version"),
        ({"version": 1, "operations": [{"op": "move", "layer": 0, "dx": 1, "dy": 1, "speed": 3}]}, "speed"),
        ({"version": 1, "operations": [{"op": "wobble", "layer": 0}]}, "operations.0"),
        ({"version": 1, "operations": [{"op": "tint", "layer": 0, "color": "blue"}]}, "color"),
        ({"version": 1, "operations": [{"op": "opacity", "layer": 0, "opacity": 2}]}, "opacity"),
        ({"version": 1, "operations": [{"op": "move", "layer": -1, "dx": 1, "dy": 1}]}, "layer"),
        ({"version": 1, "steps": []}, "steps"),
    ],
)
def test_invalid_recipes_are_one_line_errors(document, where):
    with pytest.raises(InvalidParameter) as info:
        parse_recipe(json.dumps(document))
    assert where in info.value.message and "\n" not in info.value.message


def test_not_json_and_missing_file(tmp_path):
    with pytest.raises(InvalidParameter, match="recipe"):
        parse_recipe("{not json")
    with pytest.raises(InvalidInput, match="cannot read the recipe"):
        load_recipe(tmp_path / "missing.json")


def test_failing_operation_names_its_position(design):
    recipe = parse_recipe(
        {
            "version": 1,
            "operations": [{"op": "delete", "layer": 0}, {"op": "move", "layer": 7, "dx": 1, "dy": 0}],
        }
    )
    with pytest.raises(
        InvalidParameter, match=r"operation 1 \(move\): layer must be a layer index from 0 to 6"
    ):
        apply_recipe(design, recipe)


def test_source_mismatch_is_refused(design):
    other = LayerStack([Image.new("RGBA", (10, 10))])
    recipe = Recipe(source=source_of(design))
    with pytest.raises(InvalidParameter, match="recorded on 8 layers of 401x639"):
        apply_recipe(other, recipe)


def test_nan_centre_in_recipe_json_is_a_clear_error(design):
    # Python's json (and so the server) accepts NaN and Infinity literals; they must not crash replay.
    recipe = parse_recipe(b'{"operations": [{"op": "scale", "layer": 2, "sx": 2, "cx": NaN}]}')
    with pytest.raises(InvalidParameter, match=r"operation 0 \(scale\): cx must be a number"):
        apply_recipe(design, recipe)
