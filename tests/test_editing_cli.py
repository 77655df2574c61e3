"""``strata edit`` in a real subprocess: layers in, recipe replayed, files out and read back independently."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from psd_tools import PSDImage

from shared_data import DESIGNS
from strata.exporters import FORMATS, render, write_files
from strata.layers import LayerStack
from strata.library import open_layers

DESIGN = DESIGNS / "psdrb-example.psd"


def strata_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "strata", *args], capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def layers_dir(tmp_path_factory) -> Path:
    if not DESIGN.exists():
        pytest.skip(f"{DESIGN} is not available")
    folder = tmp_path_factory.mktemp("layers")
    write_files(render(open_layers(DESIGN), FORMATS["png"]), folder)
    return folder


def write_recipe(folder: Path, operations: list[dict]) -> Path:
    path = folder / "edits.json"
    path.write_text(json.dumps({"version": 1, "operations": operations}))
    return path


def test_edit_writes_psd_and_png_with_the_edit_applied(tmp_path, layers_dir):
    """A layered PSD in, the edited PSD and PNGs out: the moved and tinted layers changed, nothing else."""
    recipe = write_recipe(
        tmp_path,
        [{"op": "move", "layer": 1, "dx": -100, "dy": 20}, {"op": "tint", "layer": 2, "color": "#ff0000"}],
    )
    out = tmp_path / "edited"
    result = strata_cli(
        "edit", str(DESIGN), "--recipe", str(recipe), "--out", str(out), "--format", "psd,png"
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "composite.png",
        "layer_00.png",
        "layer_01.png",
        "layer_02.png",
        "layers.psd",
    ]
    original = [np.asarray(Image.open(layers_dir / f"layer_{i:02d}.png")) for i in range(3)]
    psd = PSDImage.open(out / "layers.psd")
    assert [layer.name for layer in psd] == ["Matte", "Logo_Glyph", "Make a change and save."]
    matte = psd[0]
    assert matte.bbox == (0, 0, 900, 600)
    assert np.array_equal(np.asarray(matte.topil().convert("RGBA")), original[0]), "untouched layer unchanged"
    logo = psd[1]
    assert logo.bbox == (380 - 100, 212 + 20, 520 - 100, 388 + 20)
    assert np.array_equal(np.asarray(logo.topil().convert("RGBA")), original[1][212:388, 380:520])
    text = np.asarray(Image.open(out / "layer_02.png"))
    assert (text[text[..., 3] > 0][:, :3] == (255, 0, 0)).all()


def test_hidden_layers_are_not_written(tmp_path, layers_dir):
    recipe = write_recipe(tmp_path, [{"op": "visibility", "layer": 2, "visible": False}])
    out = tmp_path / "edited"
    result = strata_cli("edit", str(layers_dir), "-r", str(recipe), "-o", str(out), "-f", "tiff", "-q")
    assert result.returncode == 0 and result.stdout == ""
    stack: LayerStack = open_layers(out / "layers.tiff")
    assert len(stack) == 2


@pytest.mark.parametrize(
    ("operations", "message"),
    [
        ([{"op": "move", "layer": 5, "dx": 1, "dy": 1}], "operation 0 (move): layer must be a layer index"),
        ([{"op": "explode", "layer": 1}], "bad edit recipe at operations.0"),
    ],
)
def test_bad_recipe_is_one_line_and_writes_nothing(tmp_path, layers_dir, operations, message):
    recipe = write_recipe(tmp_path, operations)
    out = tmp_path / "edited"
    result = strata_cli("edit", str(layers_dir), "--recipe", str(recipe), "--out", str(out))
    assert result.returncode == 1
    assert result.stderr.startswith("strata: error: ") and message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert not out.exists()
