"""Long jobs never block the socket, and a full queue answers with an overload error.

The server runs in-process here (uvicorn in a thread) so that the classic engine can be slowed down
with monkeypatch: a sleep injected in front of the real decomposition stands in for a long GPU job.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from websockets.sync.client import connect

import strata_server
from strata.api.app import create_app
from strata.config import Settings
from strata.engines.classic import ClassicEngine
from test_api_validation import task

JOB_SECONDS = 2.0


@pytest.fixture
def slow_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    real = ClassicEngine.decompose

    def slow(self: ClassicEngine, *args: Any, **kwargs: Any) -> Any:
        time.sleep(JOB_SECONDS)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(ClassicEngine, "decompose", slow)
    settings = Settings(api_keys=[strata_server.API_KEY], data_dir=tmp_path / "data", workers=1, queue_size=1)
    port = strata_server.free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"127.0.0.1:{port}"
    server.should_exit = True
    thread.join(20)


def authenticate(ws: Any) -> None:
    ws.send(json.dumps([{"taskType": "authentication", "apiKey": strata_server.API_KEY}]))
    assert "connectionSessionUUID" in json.loads(ws.recv(10))["data"][0]


def test_pings_are_answered_at_once_while_a_job_runs(slow_server: str) -> None:
    with connect(f"ws://{slow_server}/v1") as ws:
        authenticate(ws)
        body = task()
        ws.send(json.dumps([body]))
        pongs, slowest, result = 0, 0.0, None
        while result is None:
            sent = time.monotonic()
            ws.send(json.dumps([{"taskType": "ping", "ping": True}]))
            frame = json.loads(ws.recv(JOB_SECONDS * 5))
            while frame["data"][0]["taskType"] != "ping":  # the result may come first, then the pong
                result = frame
                frame = json.loads(ws.recv(JOB_SECONDS * 5))
            pongs, slowest = pongs + 1, max(slowest, time.monotonic() - sent)
            time.sleep(0.2)
    assert result["data"][0]["taskUUID"] == body["taskUUID"]
    assert pongs >= 5 and slowest < 0.5


def test_a_full_queue_answers_service_unavailable(slow_server: str) -> None:
    with connect(f"ws://{slow_server}/v1") as ws:
        authenticate(ws)
        bodies = [task(deliveryMethod="async") for _ in range(3)]
        ws.send(json.dumps([bodies[0]]))
        assert json.loads(ws.recv(10))["data"][0]["taskUUID"] == bodies[0]["taskUUID"]
        time.sleep(0.5)  # the only worker has taken the first task; the queue has room for one more
        ws.send(json.dumps([bodies[1]]))
        assert json.loads(ws.recv(10))["data"][0]["taskUUID"] == bodies[1]["taskUUID"]
        ws.send(json.dumps([bodies[2]]))
        error = json.loads(ws.recv(10))["errors"][0]
    assert (error["code"], error["taskUUID"]) == ("serviceUnavailable", bodies[2]["taskUUID"])
    response = httpx.post(
        f"http://{slow_server}/v1", json=[task(taskUUID=str(uuid.uuid4()))],
        headers={"Authorization": f"Bearer {strata_server.API_KEY}"}, timeout=30,
    )  # fmt: skip
    assert response.status_code == 503


def test_a_bug_in_a_handler_still_answers_with_the_task_uuid(
    slow_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr("strata.api.session.parse_inference", broken)
    with connect(f"ws://{slow_server}/v1") as ws:
        authenticate(ws)
        body = task()
        ws.send(json.dumps([body]))
        error = json.loads(ws.recv(10))["errors"][0]
        assert (error["code"], error["taskUUID"]) == ("internalServerError", body["taskUUID"])
        assert "secret" not in error["message"]
        ws.send(json.dumps([{"taskType": "ping", "ping": True}]))
        assert json.loads(ws.recv(10))["data"][0]["pong"] is True
