"""The task protocol over raw WebSocket and REST: auth, pings, polling, idempotency, outputs, bad input."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import sqlite3
import time
import uuid
import zipfile
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
import tifffile
from PIL import Image
from psd_tools import PSDImage
from websockets.sync.client import ClientConnection, connect

import strata_server
from http_loopback import Received, Reply, loopback_server
from test_api_validation import IMAGE, task

AUTH = {"Authorization": f"Bearer {strata_server.API_KEY}"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[strata_server.RunningServer]:
    env = {
        "STRATA_MAX_PIXELS": "1000000",
        "STRATA_MAX_BODY_BYTES": str(4 * 1024 * 1024),
        "STRATA_ALLOW_HOSTS": "127.0.0.1",
        "STRATA_DELIVERY_BACKOFF": "0.05",
    }
    with strata_server.running(tmp_path_factory.mktemp("protocol") / "data", env) as running:
        yield running


@contextlib.contextmanager
def session(server: strata_server.RunningServer) -> Iterator[ClientConnection]:
    """An authenticated socket."""
    with connect(server.ws, max_size=None) as ws:
        ws.send(json.dumps([{"taskType": "authentication", "apiKey": strata_server.API_KEY}]))
        assert json.loads(ws.recv(10))["data"][0]["taskType"] == "authentication"
        yield ws


def call(
    ws: ClientConnection, body: dict[str, Any] | list[Any] | str, replies: int = 1
) -> list[dict[str, Any]]:
    ws.send(body if isinstance(body, str) else json.dumps(body if isinstance(body, list) else [body]))
    return [json.loads(ws.recv(60)) for _ in range(replies)]


def encoded(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


# --- authentication and keep-alive --------------------------------------------------------------------


def test_wrong_key_is_an_authentication_error_and_tasks_are_refused(
    server: strata_server.RunningServer,
) -> None:
    with connect(server.ws) as ws:
        (reply,) = call(ws, {"taskType": "authentication", "apiKey": "wrong"})
        error = reply["errors"][0]
        assert (error["code"], error["taskType"], error["taskUUID"]) == (
            "invalidApiKey",
            "authentication",
            None,
        )
        body = task()
        (reply,) = call(ws, body)
        assert reply["errors"][0]["code"] == "missingApiKey"
        assert reply["errors"][0]["taskUUID"] == body["taskUUID"]


def test_ping_is_answered_with_pong_first(server: strata_server.RunningServer) -> None:
    with connect(server.ws) as ws:  # pings work before authentication too, as the SDK sends them early
        assert call(ws, {"taskType": "ping", "ping": True}) == [
            {"data": [{"taskType": "ping", "pong": True}]}
        ]


def test_garbage_frames_get_errors_and_the_socket_survives(server: strata_server.RunningServer) -> None:
    with session(server) as ws:
        for frame in [
            "{not json",
            "42",
            "[" * 100_000 + "]" * 100_000,  # nesting deep enough to exhaust the parser's recursion
            json.dumps(["not a task"]),
            json.dumps([{"taskType": "videoInference"}]),
        ]:
            (reply,) = call(ws, frame)
            assert reply["errors"][0]["code"] in ("invalidJSON", "invalidTaskType")
        assert call(ws, {"taskType": "ping", "ping": True})[0]["data"][0]["pong"] is True


def test_rest_accepts_bearer_or_an_authentication_task(server: strata_server.RunningServer) -> None:
    url = f"{server.http}/v1"
    assert httpx.post(url, json=[task()], timeout=30).status_code == 401
    assert (
        httpx.post(url, json=[task()], headers={"Authorization": "Bearer nope"}, timeout=30).status_code
        == 401
    )
    assert httpx.post(url, json=[task()], headers=AUTH, timeout=30).status_code == 200
    auth = {"taskType": "authentication", "apiKey": strata_server.API_KEY}
    response = httpx.post(url, json=[auth, task(numberResults=2)], timeout=30)
    assert response.status_code == 200
    data = response.json()["data"]
    assert [item["taskType"] for item in data] == ["authentication", "imageInference", "imageInference"]
    assert httpx.post(url, content=b"{oops", headers=AUTH, timeout=30).status_code == 400
    deep = httpx.post(url, content=b"[" * 100_000 + b"]" * 100_000, headers=AUTH, timeout=30)
    assert deep.status_code == 400 and deep.json()["errors"][0]["code"] == "invalidJSON"
    too_big = httpx.post(url, content=b"[" + b" " * (5 * 1024 * 1024) + b"]", headers=AUTH, timeout=30)
    assert too_big.status_code == 413 and too_big.json()["errors"][0]["code"] == "payloadTooLarge"


# --- results, polling, idempotency --------------------------------------------------------------------


def test_async_acknowledges_then_get_response_returns_success_items(
    server: strata_server.RunningServer,
) -> None:
    body = task(deliveryMethod="async", numberResults=2)
    with session(server) as ws:
        (ack,) = call(ws, body)
        assert ack == {"data": [{"taskType": "imageInference", "taskUUID": body["taskUUID"]}]}
        poll = {"taskType": "getResponse", "taskUUID": body["taskUUID"]}
        (answer,) = call(ws, poll)
        if answer["data"][0]["status"] == "processing":
            answer = json.loads(ws.recv(60))  # pushed to the socket that polled
    items = answer["data"]
    assert [item["status"] for item in items] == ["success", "success"]
    assert all(item["taskType"] == "imageInference" and item["imageUUID"] for item in items)
    rest = httpx.post(f"{server.http}/v1", json=[poll], headers=AUTH, timeout=30).json()
    assert [item["imageUUID"] for item in rest["data"]] == [item["imageUUID"] for item in items]


def test_get_response_for_an_unknown_task_is_an_error(server: strata_server.RunningServer) -> None:
    unknown = str(uuid.uuid4())
    with session(server) as ws:
        (reply,) = call(ws, {"taskType": "getResponse", "taskUUID": unknown})
    assert reply["errors"][0]["code"] == "taskFailedOrNotFound"
    assert reply["errors"][0]["taskUUID"] == unknown


def test_resubmitting_a_task_reattaches_instead_of_running_twice(server: strata_server.RunningServer) -> None:
    body = task(numberResults=2)
    with session(server) as ws:
        first = call(ws, body, 2)
    with session(server) as ws:  # as the SDK does after a reconnect: same taskUUID, same body
        again = call(ws, body, 2)
        (conflict,) = call(ws, {**body, "positivePrompt": "something else"})
    assert [r["data"][0]["imageUUID"] for r in again] == [r["data"][0]["imageUUID"] for r in first]
    assert conflict["errors"][0]["code"] == "conflictTaskUUID"
    assert conflict["errors"][0]["taskUUID"] == body["taskUUID"]


def test_url_outputs_expire_with_410_and_unknown_files_are_404(server: strata_server.RunningServer) -> None:
    with session(server) as ws:
        (reply,) = call(ws, task(ttl=60))
    url = reply["data"][0]["imageURL"]
    first = httpx.get(url, timeout=10)
    assert first.status_code == 200 and first.headers["content-type"] == "image/tiff"
    assert httpx.get(url + "%0A", timeout=10).status_code == 404  # only the exact name
    assert len(tifffile.TiffFile(io.BytesIO(first.content)).pages) == 3
    # Let the ttl pass: move the expiry into the past, as the clock would.
    with sqlite3.connect(server.data_dir / "strata.sqlite3") as db:
        db.execute(
            "UPDATE files SET expires_at = ? WHERE file_id = ?",
            (time.time() - 1, reply["data"][0]["imageUUID"]),
        )
    assert httpx.get(url, timeout=10).status_code == 410
    assert httpx.get(f"{server.http}/v1/outputs/{uuid.uuid4()}.tiff", timeout=10).status_code == 404
    assert httpx.get(f"{server.http}/v1/outputs/..%2Fstrata.sqlite3", timeout=10).status_code == 404


def test_image_upload_then_reference_by_uuid_and_by_generated_uuid(
    server: strata_server.RunningServer,
) -> None:
    upload = {"taskType": "imageUpload", "taskUUID": str(uuid.uuid4()), "image": IMAGE}
    with session(server) as ws:
        (uploaded,) = call(ws, upload)
        item = uploaded["data"][0]
        assert (
            item["taskUUID"] == upload["taskUUID"]
            and httpx.get(item["imageURL"], timeout=10).status_code == 200
        )
        (by_upload,) = call(
            ws, task(**{"inputs.referenceImages": [item["imageUUID"]], "outputFormat": "PNG"})
        )
        (as_tiff,) = call(ws, task(**{"inputs.referenceImages": [item["imageUUID"]]}))
        generated = as_tiff["data"][0]["imageUUID"]  # a layered TIFF: referenced, it means its composite
        (by_generated,) = call(
            ws, task(**{"inputs.referenceImages": [{"image": generated}], "outputFormat": "PNG"})
        )
    original = np.asarray(
        Image.open(io.BytesIO(base64.b64decode(IMAGE.split(",")[1]))).convert("RGBA"), np.int16
    )
    for reply in (by_upload, by_generated):
        composite = Image.open(io.BytesIO(httpx.get(reply["data"][0]["imageURL"], timeout=10).content))
        assert np.abs(np.asarray(composite.convert("RGBA"), np.int16) - original).max() <= 1


def test_webhook_gets_one_post_per_item_and_upload_endpoint_gets_the_file(
    server: strata_server.RunningServer,
) -> None:
    with loopback_server(lambda request: Reply(200)) as hook:
        body = task(numberResults=2, webhookURL=f"{hook.url}/hook?token=t", uploadEndpoint=f"{hook.url}/put")
        with session(server) as ws:
            replies = call(ws, body, 2)
        deadline = time.monotonic() + 10
        while len(hook.received) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
    posts = [r for r in hook.received if r.method == "POST"]
    puts = [r for r in hook.received if r.method == "PUT"]
    sent = {r["data"][0]["imageUUID"] for r in replies}
    assert {json.loads(p.body)["data"][0]["imageUUID"] for p in posts} == sent and len(posts) == 2
    assert all(p.path == "/hook?token=t" for p in posts)
    assert len(puts) == 2 and all(p.headers["Content-Type"] == "image/tiff" for p in puts)
    assert len(tifffile.TiffFile(io.BytesIO(puts[0].body)).pages) == 3


def test_failed_upload_endpoint_is_an_upload_failed_error(server: strata_server.RunningServer) -> None:
    def refuse(request: Received) -> Reply:
        return Reply(403)

    with loopback_server(refuse) as target, session(server) as ws:
        body = task(uploadEndpoint=f"{target.url}/put")
        (reply,) = call(ws, body)
    assert reply["errors"][0]["code"] == "uploadFailed" and reply["errors"][0]["taskUUID"] == body["taskUUID"]


# --- hostile input ----------------------------------------------------------------------------------


def hostile_references() -> list[tuple[str, str]]:
    png = encoded(Image.new("RGB", (64, 64), (9, 9, 9)))
    big = encoded(Image.new("RGB", (1200, 1000)))
    b64 = base64.b64encode
    return [
        ("data:image/png;base64," + b64(png[: len(png) // 2]).decode(), "invalidImage"),  # truncated
        ("data:image/png;base64," + b64(b"%PDF-1.4 not an image").decode(), "invalidImage"),
        ("data:image/png;base64," + b64(big).decode(), "imageTooLarge"),  # above STRATA_MAX_PIXELS
        ("data:image/png;base64,@@@@", "invalidImage"),
        ("./missing.png", "invalidImage"),  # what the SDK sends for a path that does not exist
        (str(uuid.uuid4()), "referenceImageNotFound"),
        ("http://169.254.169.254/latest/meta-data", "unsafeUrl"),
        ("http://10.0.0.1/a.png", "unsafeUrl"),
    ]


@pytest.mark.parametrize(("reference", "code"), hostile_references(), ids=lambda v: str(v)[:30])
def test_hostile_references_are_refused_and_the_server_keeps_serving(
    server: strata_server.RunningServer, reference: str, code: str
) -> None:
    body = task(**{"inputs.referenceImages": [reference]})
    with session(server) as ws:
        (reply,) = call(ws, body)
    error = reply["errors"][0]
    assert (error["code"], error["taskUUID"]) == (code, body["taskUUID"])
    assert error["parameter"] == "inputs.referenceImages"
    assert server.alive()


@pytest.mark.parametrize("parameter", ["webhookURL", "uploadEndpoint"])
@pytest.mark.parametrize("url", ["http://10.0.0.1/hook", "http://[::ffff:169.254.169.254]/x"])
def test_literal_private_delivery_urls_are_refused_up_front(
    server: strata_server.RunningServer, parameter: str, url: str
) -> None:
    # A literal address needs no DNS: refused before the task runs, not silently at delivery.
    body = task(**{parameter: url})
    with session(server) as ws:
        (reply,) = call(ws, body)
    error = reply["errors"][0]
    assert (error["code"], error["parameter"]) == ("unsafeUrl", parameter)
    assert error["taskUUID"] == body["taskUUID"]
    assert "data" not in reply and server.alive()


def test_large_frames_are_accepted(server: strata_server.RunningServer) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (900, 1000, 3), dtype=np.uint8)
    data_uri = "data:image/png;base64," + base64.b64encode(encoded(Image.fromarray(noise))).decode()
    assert len(data_uri) > 2 * 1024 * 1024  # above the 1 MiB default of websockets servers
    with session(server) as ws:
        (reply,) = call(ws, task(**{"inputs.referenceImages": [data_uri]}, settings={"layers": 2}))
    assert reply["data"][0]["imageUUID"]


@pytest.mark.parametrize(
    ("fmt", "media_type", "suffix"),
    [
        ("PSD", "image/vnd.adobe.photoshop", ".psd"),
        ("ZIP", "application/zip", ".zip"),
        ("ORA", "image/openraster", ".ora"),
        ("WEBP", "image/webp", ".webp"),
        ("JPG", "image/jpeg", ".jpg"),
    ],
)
def test_each_output_format_is_served_with_its_type(
    server: strata_server.RunningServer, fmt: str, media_type: str, suffix: str
) -> None:
    response = httpx.post(f"{server.http}/v1", json=[task(outputFormat=fmt)], headers=AUTH, timeout=60)
    assert response.status_code == 200 and response.json()["data"], response.text
    item = response.json()["data"][0]
    assert item["imageURL"].endswith(suffix)
    file = httpx.get(item["imageURL"], timeout=10)
    assert file.headers["content-type"] == media_type
    if fmt == "PSD":
        assert len(list(PSDImage.open(io.BytesIO(file.content)))) == 3
    elif fmt in ("ZIP", "ORA"):
        assert zipfile.ZipFile(io.BytesIO(file.content)).testzip() is None
    else:
        image = Image.open(io.BytesIO(file.content))
        assert image.size == (128, 96) and image.mode == "RGB"  # opaque composite (JPG: on white)
        layer_types = {
            httpx.get(layer["imageURL"], timeout=10).headers["content-type"] for layer in item["layers"]
        }
        assert layer_types == {"image/png" if fmt == "JPG" else media_type}  # JPG layers keep alpha as PNG


def test_failures_are_posted_to_the_webhook(server: strata_server.RunningServer) -> None:
    with loopback_server(lambda request: Reply(204)) as hook:
        body = task(webhookURL=f"{hook.url}/hook", **{"inputs.referenceImages": ["./missing.png"]})
        with session(server) as ws:
            (reply,) = call(ws, body)
        deadline = time.monotonic() + 10
        while not hook.received and time.monotonic() < deadline:
            time.sleep(0.05)
    assert reply["errors"][0]["code"] == "invalidImage"
    (post,) = hook.received
    assert json.loads(post.body) == {"errors": [reply["errors"][0]]}
