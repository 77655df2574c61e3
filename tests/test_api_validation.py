"""Every invalid imageInference parameter answers a Runware error naming it, with the taskUUID.

Table-driven against one real server (subprocess, loopback), over raw WebSocket and over REST: these
are the values the official SDK would never produce itself.
"""

from __future__ import annotations

import base64
import io
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image
from websockets.sync.client import connect

import strata_server
from shared_data import POSTERS

POSTER = sorted(POSTERS.glob("*.png"))[0]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[strata_server.RunningServer]:
    with strata_server.running(tmp_path_factory.mktemp("validation") / "data") as running:
        yield running


def png_data_uri(size: tuple[int, int] = (128, 96)) -> str:
    buffer = io.BytesIO()
    Image.open(POSTER).convert("RGB").resize(size).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


IMAGE = png_data_uri()


def task(**changes: Any) -> dict[str, Any]:
    """A valid classic-engine task with ``changes`` applied (dotted keys reach into objects)."""
    body: dict[str, Any] = {
        "taskType": "imageInference",
        "taskUUID": str(uuid.uuid4()),
        "model": "strata:classic@1",
        "positivePrompt": "a poster",
        "inputs": {"referenceImages": [IMAGE]},
        "settings": {"layers": 3},
        "outputType": "URL",
    }
    for key, value in changes.items():
        *parents, leaf = key.split(".")
        target = body
        for parent in parents:
            target = target.setdefault(parent, {})
        if value is DELETE:
            target.pop(leaf, None)
        else:
            target[leaf] = value
    return body


DELETE = object()


def accelerator(option: str, value: Any) -> tuple[dict[str, Any], str, str]:
    """An out-of-range ``acceleratorOptions.<option>`` case."""
    code = "invalid" + option[0].upper() + option[1:]
    return {f"acceleratorOptions.{option}": value}, code, f"acceleratorOptions.{option}"


ULTRALYTICS = "advancedFeatures.ultralytics"
V1 = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"  # a version-1 UUID

# (changes, expected code, expected parameter)
CASES: list[tuple[dict[str, Any], str, str]] = [
    ({"taskUUID": "not-a-uuid"}, "invalidTaskUUID", "taskUUID"),
    ({"taskUUID": V1}, "invalidTaskUUID", "taskUUID"),
    ({"model": "nope:1@1"}, "unknownModel", "model"),
    ({"model": "alibaba:qwen-image@layered"}, "modelUnavailable", "model"),
    ({"model": DELETE}, "missingModel", "model"),
    ({"positivePrompt": ""}, "invalidPositivePrompt", "positivePrompt"),
    ({"positivePrompt": "x" * 32001}, "invalidPositivePrompt", "positivePrompt"),
    ({"negativePrompt": ""}, "invalidNegativePrompt", "negativePrompt"),
    ({"seed": -1}, "invalidSeed", "seed"),
    ({"seed": 2**63}, "invalidSeed", "seed"),
    ({"seed": "5"}, "invalidSeed", "seed"),
    ({"steps": 0}, "invalidSteps", "steps"),
    ({"steps": 51}, "invalidSteps", "steps"),
    ({"steps": 20}, "unsupportedParameter", "steps"),
    ({"scheduler": ""}, "invalidScheduler", "scheduler"),
    ({"scheduler": "FlowMatchEulerDiscreteScheduler"}, "unsupportedParameter", "scheduler"),
    ({"CFGScale": 0.5}, "invalidCFGScale", "CFGScale"),
    ({"CFGScale": 20.5}, "invalidCFGScale", "CFGScale"),
    ({"CFGScale": 4.005}, "invalidCFGScale", "CFGScale"),
    ({"CFGScale": 4}, "unsupportedParameter", "CFGScale"),
    ({"settings.trueCFGScale": 21}, "invalidTrueCFGScale", "settings.trueCFGScale"),
    ({"settings.trueCFGScale": 4}, "unsupportedParameter", "settings.trueCFGScale"),
    ({"settings.layers": 1}, "invalidLayers", "settings.layers"),
    ({"settings.layers": 21}, "invalidLayers", "settings.layers"),
    ({"settings.layers": "4"}, "invalidLayers", "settings.layers"),
    ({"width": 100}, "invalidWidth", "width"),
    ({"width": 2064}, "invalidWidth", "width"),
    ({"width": 130}, "invalidWidth", "width"),
    ({"height": 2048.5}, "invalidHeight", "height"),
    ({"numberResults": 0}, "invalidNumberResults", "numberResults"),
    ({"numberResults": 21}, "invalidNumberResults", "numberResults"),
    ({"outputType": "PNG"}, "invalidOutputType", "outputType"),
    ({"outputType": ["URL", "file"]}, "invalidOutputType", "outputType"),
    ({"outputType": []}, "invalidOutputType", "outputType"),
    ({"outputFormat": "GIF"}, "invalidOutputFormat", "outputFormat"),
    ({"outputQuality": 19}, "invalidOutputQuality", "outputQuality"),
    ({"outputQuality": 100}, "invalidOutputQuality", "outputQuality"),
    ({"ttl": 59}, "invalidTtl", "ttl"),
    ({"ttl": 10**400}, "invalidTtl", "ttl"),
    ({"includeCost": "yes"}, "invalidIncludeCost", "includeCost"),
    ({"deliveryMethod": "later"}, "invalidDeliveryMethod", "deliveryMethod"),
    ({"webhookURL": "ftp://example.com/hook"}, "invalidWebhookURL", "webhookURL"),
    ({"uploadEndpoint": "not a url"}, "invalidUploadEndpoint", "uploadEndpoint"),
    ({"safety.checkContent": "yes"}, "invalidCheckContent", "safety.checkContent"),
    ({"safety.mode": "strict"}, "invalidMode", "safety.mode"),
    ({"safety.checkContent": True}, "unsupportedParameter", "safety.checkContent"),
    ({"inputs.referenceImages": []}, "invalidReferenceImages", "inputs.referenceImages"),
    ({"inputs.referenceImages": [IMAGE, IMAGE]}, "invalidReferenceImages", "inputs.referenceImages"),
    ({"inputs.referenceImages": [5]}, "invalidReferenceImages", "inputs.referenceImages"),
    ({"inputs": DELETE}, "missingReferenceImages", "inputs.referenceImages"),
    ({"lora": [{"model": "a", "weight": 5}]}, "invalidWeight", "lora[0].weight"),
    ({"lora": [{"model": "a", "transformer": "mid"}]}, "invalidTransformer", "lora[0].transformer"),
    ({"lora": [{"weight": 1}]}, "missingModel", "lora[0].model"),
    ({"lora": [{"model": "civitai:1@2"}]}, "unsupportedParameter", "lora"),
    accelerator("fbCacheThreshold", 2),
    accelerator("teaCacheDistance", -0.1),
    accelerator("dbCacheThreshold", 1.5),
    accelerator("dbCacheSkipInterval", 0),
    accelerator("cacheMaxConsecutiveSteps", 6),
    accelerator("cacheStartStep", -1),
    accelerator("cacheEndStepPercentage", 101),
    accelerator("cacheDistance", 3),
    ({"acceleratorOptions": {"teaCache": True}}, "unsupportedParameter", "acceleratorOptions"),
    ({ULTRALYTICS: {"inpaintSize": 512}}, "unsupportedParameter", ULTRALYTICS),
    ({"controlNet": [{"model": "x", "guideImage": IMAGE}]}, "unsupportedParameter", "controlNet"),
    ({"maskImage": IMAGE}, "unsupportedParameter", "maskImage"),
]  # fmt: skip

IDS = [f"{next(iter(changes))}-{code}" for changes, code, _ in CASES]


def ws_exchange(server: strata_server.RunningServer, frames: list[Any], replies: int) -> list[dict[str, Any]]:
    with connect(server.ws, max_size=None) as ws:
        ws.send(json.dumps([{"taskType": "authentication", "apiKey": strata_server.API_KEY}]))
        assert "connectionSessionUUID" in json.loads(ws.recv(10))["data"][0]
        for frame in frames:
            ws.send(frame if isinstance(frame, str) else json.dumps(frame))
        return [json.loads(ws.recv(30)) for _ in range(replies)]


def check_error(error: dict[str, Any], body: dict[str, Any], code: str, parameter: str) -> None:
    assert error["code"] == code, error
    assert error["parameter"] == parameter, error
    assert error["taskUUID"] == body["taskUUID"]
    assert error["taskType"] == "imageInference"
    assert error["message"] and error["type"]


@pytest.mark.parametrize(("changes", "code", "parameter"), CASES, ids=IDS)
def test_invalid_parameter_over_websocket(
    server: strata_server.RunningServer, changes: dict[str, Any], code: str, parameter: str
) -> None:
    body = task(**changes)
    (reply,) = ws_exchange(server, [[body]], 1)
    assert "data" not in reply
    check_error(reply["errors"][0], body, code, parameter)


@pytest.mark.parametrize(("changes", "code", "parameter"), CASES, ids=IDS)
def test_invalid_parameter_over_rest(
    server: strata_server.RunningServer, changes: dict[str, Any], code: str, parameter: str
) -> None:
    body = task(**changes)
    headers = {"Authorization": f"Bearer {strata_server.API_KEY}"}
    response = httpx.post(f"{server.http}/v1", json=[body], headers=headers, timeout=30)
    assert response.status_code == 400
    check_error(response.json()["errors"][0], body, code, parameter)


def test_enumerated_errors_list_allowed_values(server: strata_server.RunningServer) -> None:
    replies = ws_exchange(
        server, [[task(outputType="PNG")], [task(deliveryMethod="x")], [task(model="m")]], 3
    )
    allowed = {r["errors"][0]["parameter"]: r["errors"][0]["allowedValues"] for r in replies}
    assert allowed == {
        "outputType": ["URL", "dataURI", "base64Data"],
        "deliveryMethod": ["sync", "async"],
        "model": ["alibaba:qwen-image@layered", "strata:classic@1"],
    }


def test_unavailable_qwen_names_the_setting(server: strata_server.RunningServer) -> None:
    (reply,) = ws_exchange(server, [[task(model="alibaba:qwen-image@layered")]], 1)
    assert "STRATA_QWEN_MODEL_PATH" in reply["errors"][0]["message"]


def test_valid_request_with_every_accepted_parameter_succeeds(server: strata_server.RunningServer) -> None:
    body = task(
        numberResults=1, seed=2**63 - 1, width=160, height=128, outputFormat="png", outputQuality=80, ttl=60,
        includeCost=True, negativePrompt="blurry", deliveryMethod="sync", outputType=["URL", "base64Data"],
        acceleratorOptions={"teaCache": False}, safety={"checkContent": False, "mode": "none"},
        useCache=True, providerSettings={"alibaba": {"promptExtend": True}},
    )  # fmt: skip
    (reply,) = ws_exchange(server, [[body]], 1)
    (item,) = reply["data"]
    assert item["taskUUID"] == body["taskUUID"] and item["seed"] == 2**63 - 1
    assert isinstance(item["cost"], float)
    composite = Image.open(io.BytesIO(base64.b64decode(item["imageBase64Data"])))
    assert composite.size == (160, 128)
    assert len(item["layers"]) == 3 and all(layer["imageURL"].endswith(".png") for layer in item["layers"])
