"""The library API a user imports: ``strata.decompose``, ``LayerStack.save`` and ``strata.open_layers``."""

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from psd_tools import PSDImage

import strata
from strata.errors import InvalidInput, InvalidParameter, StrataError

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "poster.png"


@pytest.fixture(scope="module")
def stack() -> strata.LayerStack:
    return strata.decompose(EXAMPLE, layers=4)


def test_decompose_returns_n_rgba_layers_that_rebuild_the_input(stack):
    with Image.open(EXAMPLE) as original:
        target = np.asarray(original.convert("RGB")).astype(int)
        size = original.size
    assert len(stack.layers) == 4
    assert all(layer.mode == "RGBA" and layer.size == size for layer in stack.layers)
    assert np.asarray(stack.layers[0])[..., 3].min() == 255  # the background is opaque
    composite = stack.composite()
    assert composite.mode == "RGBA"
    assert np.abs(np.asarray(composite.convert("RGB")).astype(int) - target).max() <= 1


def test_decompose_accepts_a_path_string_bytes_and_a_pil_image():
    with Image.open(EXAMPLE) as original:
        small = original.convert("RGB").crop((0, 0, 200, 150))
    buffer = io.BytesIO()
    small.save(buffer, "PNG")
    from_bytes = strata.decompose(buffer.getvalue(), layers=2)
    from_image = strata.decompose(small, layers=2)
    assert len(from_bytes) == len(from_image) == 2
    for a, b in zip(from_bytes.layers, from_image.layers, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # the classic engine is deterministic


def test_save_psd_reads_back_in_psd_tools(stack, tmp_path):
    (path,) = stack.save(str(tmp_path / "out.psd"))
    document = PSDImage.open(path)
    assert document.size == stack.size
    layers = list(document)
    assert [layer.name for layer in layers] == stack.names
    for psd_layer, layer in zip(layers, stack.layers, strict=True):
        canvas = Image.new("RGBA", stack.size, (0, 0, 0, 0))
        if psd_layer.bbox != (0, 0, 0, 0):
            canvas.paste(psd_layer.topil(), psd_layer.bbox[:2])
        want, got = np.asarray(layer), np.asarray(canvas)
        np.testing.assert_array_equal(got[..., 3], want[..., 3])
        visible = want[..., 3] > 0
        np.testing.assert_array_equal(got[visible, :3], want[visible, :3])


@pytest.mark.parametrize(
    "name", ["layers.tiff", "layers.tif", "layers.zip", "layers.ora", "layers.pptx", "folder"]
)
def test_save_then_open_layers_gives_the_same_composite(stack, tmp_path, name):
    stack.save(tmp_path / name)
    back = strata.open_layers(tmp_path / name)
    assert len(back) == len(stack) and back.size == stack.size
    np.testing.assert_array_equal(np.asarray(back.composite()), np.asarray(stack.composite()))


def test_save_to_an_unknown_extension_is_a_clear_error(stack, tmp_path):
    with pytest.raises(StrataError, match="unknown format"):
        stack.save(tmp_path / "out.gif")
    assert list(tmp_path.iterdir()) == []


def test_bad_requests_raise_strata_errors():
    with pytest.raises(InvalidParameter, match="layers"):
        strata.decompose(EXAMPLE, layers=1)
    with pytest.raises(InvalidInput, match="empty"):
        strata.decompose(b"", layers=3)
    with pytest.raises(InvalidInput, match="no such file"):
        strata.open_layers("does/not/exist.psd")


def test_decomposing_and_exporting_import_nothing_heavy(tmp_path):
    """A script that decomposes and writes every format starts fast: no GPU stack, no scipy, no server."""
    script = (
        "import sys, strata\n"
        f"strata.decompose({str(EXAMPLE)!r}, layers=4).save({str(tmp_path / 'out.psd')!r})\n"
        "from strata.exporters import FORMATS, render_all\n"
        f"render_all(strata.decompose({str(EXAMPLE)!r}, layers=3), list(FORMATS.values()))\n"
        "print(' '.join(sorted({name.split('.')[0] for name in sys.modules})))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    loaded = set(run.stdout.split())
    assert "strata" in loaded and "psd_tools" in loaded
    gpu = {"torch", "diffusers", "transformers", "accelerate", "peft"}
    assert loaded & (gpu | {"scipy", "uvicorn", "fastapi", "httpx"}) == set()


def test_the_qwen_engine_loads_its_weights_once_per_process(tmp_path, monkeypatch):
    """Each call used to construct and load a fresh engine: for the real checkpoint, minutes each."""
    from strata import library
    from strata.cli import main as cli_main
    from strata.engines.qwen_parts import loading

    cli_main(["qwen", "make-tiny", str(tmp_path / "tiny")])
    monkeypatch.setenv("STRATA_QWEN_MODEL_PATH", str(tmp_path / "tiny"))
    loads = []
    real_load = loading.load_pipeline
    monkeypatch.setattr(
        loading, "load_pipeline", lambda settings: loads.append(settings) or real_load(settings)
    )
    library._engine.cache_clear()
    try:
        small = Image.open(EXAMPLE).convert("RGB").resize((64, 48))
        first, second = (
            strata.decompose(small, 2, engine="qwen", steps=2, seed=seed, prompt="a poster")
            for seed in (1, 2)
        )
    finally:
        library._engine.cache_clear()
    assert len(loads) == 1
    assert len(first) == len(second) == 2 and first.metadata["seed"] == 1 and second.metadata["seed"] == 2
