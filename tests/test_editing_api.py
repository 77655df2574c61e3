"""``/v1/edit/apply`` and ``/v1/edit/export`` on a real ``strata serve`` subprocess (loopback only)."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
import tifffile
from PIL import Image
from psd_tools import PSDImage

import strata_server
from shared_data import DESIGNS, POSTERS
from strata.exporters import FORMATS
from strata.library import open_layers

DESIGN = DESIGNS / "psdrb-example.psd"
AUTH = {"Authorization": f"Bearer {strata_server.API_KEY}"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[strata_server.RunningServer]:
    with strata_server.running(
        tmp_path_factory.mktemp("edit") / "data", {"STRATA_MAX_BODY_BYTES": str(8 << 20)}
    ) as s:
        yield s


@pytest.fixture(scope="module")
def layers() -> list[dict]:
    if not DESIGN.exists():
        pytest.skip(f"{DESIGN} is not available")
    stack = open_layers(DESIGN)
    encode = FORMATS["png"].module.layer_to_bytes
    return [
        {"image": "data:image/png;base64," + base64.b64encode(encode(layer)).decode(), "name": name}
        for layer, name in zip(stack.layers, stack.names, strict=True)
    ]


def pixels(data_uri: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_uri.split(",", 1)[1]))).convert("RGBA"))


def post(server, path: str, body: object, headers: dict | None = None) -> httpx.Response:
    return httpx.post(
        f"{server.http}{path}", json=body, headers=AUTH if headers is None else headers, timeout=60
    )


def test_apply_returns_only_changed_pixels(server, layers):
    recipe = {
        "version": 1,
        "operations": [
            {"op": "move", "layer": 1, "dx": 7, "dy": -3},
            {"op": "visibility", "layer": 2, "visible": False},
        ],
    }
    answer = post(server, "/v1/edit/apply", {"layers": layers, "recipe": recipe})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["width"], body["height"]) == (900, 600)
    first, second, third = body["layers"]
    assert first == {"name": "Matte", "hidden": False, "opacity": 1.0, "from": 0}
    assert third == {"name": "Make a change and save.", "hidden": True, "opacity": 1.0, "from": 2}
    moved, original = pixels(second["image"]), pixels(layers[1]["image"])
    assert np.array_equal(moved[212 - 3 : 388 - 3, 380 + 7 : 520 + 7], original[212:388, 380:520])


def test_export_every_format(server, layers):
    recipe = {"version": 1, "operations": [{"op": "visibility", "layer": 1, "visible": False}]}
    files = {}
    for fmt in ("psd", "zip", "tiff", "ora", "pptx", "png"):
        answer = post(server, "/v1/edit/export", {"layers": layers, "recipe": recipe, "format": fmt})
        assert answer.status_code == 200, answer.text
        assert (
            answer.headers["content-disposition"]
            == f'attachment; filename="edited.{FORMATS[fmt].extension[1:]}"'
        )
        files[fmt] = answer.content
    assert [layer.name for layer in PSDImage.open(io.BytesIO(files["psd"]))] == [
        "Matte",
        "Make a change and save.",
    ]
    assert len(tifffile.TiffFile(io.BytesIO(files["tiff"])).pages) == 2
    assert zipfile.ZipFile(io.BytesIO(files["zip"])).testzip() is None
    assert zipfile.ZipFile(io.BytesIO(files["ora"])).read("mimetype") == b"image/openraster"
    assert zipfile.ZipFile(io.BytesIO(files["pptx"])).testzip() is None
    composite = np.asarray(Image.open(io.BytesIO(files["png"])).convert("RGBA"))
    logo, matte = pixels(layers[1]["image"]), pixels(layers[0]["image"])
    under_logo = logo[..., 3] > 0
    assert under_logo.sum() > 1000 and np.array_equal(composite[under_logo], matte[under_logo]), "logo hidden"
    text = pixels(layers[2]["image"])
    shown = text[..., 3] == 255
    assert np.array_equal(composite[shown], text[shown]), "the visible text is on top of the composite"


def test_generated_layers_by_image_uuid(server):
    with Image.open(POSTERS / "qwen-demo-2.png") as image:
        small = image.convert("RGB").resize((128, 128))
    buffer = io.BytesIO()
    small.save(buffer, "PNG")
    uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    task = {
        "taskType": "imageInference",
        "taskUUID": "5d6f3c1e-8a34-4d2b-9f0e-3b8a1c2d4e5f",
        "model": "strata:classic@1",
        "inputs": {"referenceImages": [uri]},
        "settings": {"layers": 3},
        "outputFormat": "PNG",
        "outputType": "URL",
    }
    (item,) = post(server, "/v1", [task]).json()["data"]
    refs = [{"image": layer["imageUUID"], "name": layer["name"]} for layer in item["layers"]]
    answer = post(server, "/v1/edit/export", {"layers": refs, "format": "png"})
    assert answer.status_code == 200, answer.text
    composite = np.asarray(Image.open(io.BytesIO(answer.content)).convert("RGB")).astype(int)
    assert np.abs(composite - np.asarray(small).astype(int)).max() <= 1


@pytest.mark.parametrize(
    ("body", "status", "code", "needle"),
    [
        ({"layers": "L", "format": "psd"}, 400, "invalidLayers", "layers"),
        ({"layers": [{"image": "data:image/png;base64,AAAA"}]}, 400, "invalidImage", "layers[0]"),
        (
            {"layers": [{"image": "0b8f1e2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b"}]},
            400,
            "invalidImage",
            "no stored image",
        ),
        ({"layers": [{"image": "x"}], "format": "bmp"}, 400, "invalidFormat", "format"),
        (
            {"layers": [{"image": "x"}], "recipe": {"version": 1, "operations": [{"op": "fly", "layer": 0}]}},
            400,
            "invalidOperations",
            "operations",
        ),
    ],
)
def test_errors_are_runware_shaped(server, body, status, code, needle):
    answer = post(server, "/v1/edit/export", body)
    assert answer.status_code == status
    (error,) = answer.json()["errors"]
    assert error["code"] == code and needle in error["message"] + (error["parameter"] or "")


def test_recipe_errors_name_the_operation(server, layers):
    body = {"layers": layers, "recipe": {"version": 1, "operations": [{"op": "mergeDown", "layer": 0}]}}
    (error,) = post(server, "/v1/edit/apply", body).json()["errors"]
    assert error["message"] == "operation 0 (mergeDown): the bottom layer has nothing below it to merge into"


def test_key_and_size_limits(server, layers):
    answer = post(server, "/v1/edit/apply", {"layers": layers}, headers={})
    assert answer.status_code == 401 and answer.json()["errors"][0]["code"] == "invalidApiKey"
    huge = json.dumps({"layers": [{"image": "A" * (9 << 20)}]})
    answer = httpx.post(f"{server.http}/v1/edit/apply", content=huge, headers=AUTH, timeout=60)
    assert answer.status_code == 413
    assert server.alive()


def test_the_pixels_of_all_layers_together_are_limited(tmp_path):
    """Each layer passes the per-image limit, but a request may not hold more than 4x it in all."""
    png = io.BytesIO()
    Image.new("RGBA", (100, 100), (200, 30, 30, 255)).save(png, "PNG")
    layer = {"image": "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()}
    with strata_server.running(tmp_path / "data", {"STRATA_MAX_PIXELS": "10000"}) as small:
        assert post(small, "/v1/edit/apply", {"layers": [layer] * 4}).status_code == 200
        answer = post(small, "/v1/edit/apply", {"layers": [layer] * 5})
    assert answer.status_code == 413
    (error,) = answer.json()["errors"]
    assert (error["code"], error["parameter"]) == ("imageTooLarge", "layers")


def test_absurdly_nested_json_is_invalid_json(server):
    # Deep enough to exhaust the JSON parser's recursion: an error object, not a 500.
    answer = httpx.post(
        f"{server.http}/v1/edit/apply", content=b"[" * 100_000 + b"]" * 100_000, headers=AUTH, timeout=30
    )
    assert answer.status_code == 400 and answer.json()["errors"][0]["code"] == "invalidJSON"
    assert server.alive()
