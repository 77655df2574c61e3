"""Progress, taskCancel, session resume and idle sockets, against a real server on loopback."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

import strata_server
from test_api_validation import png_data_uri, task

AUTH = {"Authorization": f"Bearer {strata_server.API_KEY}"}
#: 512 x 512: about 0.3 s of classic engine per result, long enough to poll and cancel in between.
LARGE = png_data_uri((512, 512))
IDLE_TIMEOUT = 1.0
OTHER_KEY = "another-tenant-key-42"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[strata_server.RunningServer]:
    env = {
        "STRATA_IDLE_TIMEOUT": str(IDLE_TIMEOUT),
        "STRATA_WORKERS": "1",
        "STRATA_API_KEYS": f"{strata_server.API_KEY},{OTHER_KEY}",
    }
    with strata_server.running(tmp_path_factory.mktemp("sessions") / "data", env) as running:
        yield running


def rest(server: strata_server.RunningServer, *tasks: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{server.http}/v1", json=list(tasks), headers=AUTH, timeout=60)
    body: dict[str, Any] = response.json()
    return body


def authenticate(
    ws: ClientConnection, session_uuid: str | None = None, key: str = strata_server.API_KEY
) -> str:
    auth: dict[str, Any] = {"taskType": "authentication", "apiKey": key}
    if session_uuid:
        auth["connectionSessionUUID"] = session_uuid
    ws.send(json.dumps([auth]))
    reply = json.loads(ws.recv(10))["data"][0]
    assert reply["taskType"] == "authentication"
    return str(reply["connectionSessionUUID"])


def drop_after_first_result(
    server: strata_server.RunningServer,
) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """Open a session, send a 3-result task, take its first result and drop the socket.

    Returns (the task, the session UUID, the first result item); two results are still to come.
    """
    body = task(numberResults=3, **{"inputs.referenceImages": [LARGE]})
    with connect(server.ws, max_size=None) as first:
        session_uuid = authenticate(first)
        first.send(json.dumps([body]))
        item = json.loads(first.recv(30))["data"][0]
    return body, session_uuid, item


def test_polling_shows_progress_and_task_cancel_stops_the_task(server: strata_server.RunningServer) -> None:
    body = task(deliveryMethod="async", numberResults=20, **{"inputs.referenceImages": [LARGE]})
    poll = {"taskType": "getResponse", "taskUUID": body["taskUUID"]}
    assert rest(server, body)["data"] == [{"taskType": "imageInference", "taskUUID": body["taskUUID"]}]
    progress: list[float] = []
    deadline = time.monotonic() + 30
    while not any(0 < p < 1 for p in progress) and time.monotonic() < deadline:
        items = rest(server, poll)["data"]
        assert {item["status"] for item in items} == {"processing"} and "imageUUID" not in items[0]
        progress.append(items[0]["progress"])
        time.sleep(0.02)
    assert progress == sorted(progress) and 0 < progress[-1] < 1

    cancelled_at = time.monotonic()
    answer = rest(server, {"taskType": "taskCancel", "taskUUID": body["taskUUID"]})
    assert answer == {
        "data": [{"taskType": "taskCancel", "taskUUID": body["taskUUID"], "status": "cancelled"}]
    }
    assert time.monotonic() - cancelled_at < 5  # far less than the 19 results still to go

    final = rest(server, poll)
    assert [(e["code"], e["status"], e["taskUUID"]) for e in final["errors"]] == [
        ("taskCancelled", "error", body["taskUUID"])
    ]
    assert len(final["data"]) < 20 and all(item["status"] == "success" for item in final["data"])
    again = rest(server, {"taskType": "taskCancel", "taskUUID": body["taskUUID"]})  # already over: unchanged
    assert again["data"][0]["status"] == "cancelled"
    unknown = rest(server, {"taskType": "taskCancel", "taskUUID": str(uuid.uuid4())})
    assert unknown["errors"][0]["code"] == "taskFailedOrNotFound"


def test_result_items_carry_the_engine_time(server: strata_server.RunningServer) -> None:
    (item,) = rest(server, task())["data"]
    timings = item["timings"]
    assert 0 < timings["engineMs"] < timings["totalMs"] and timings["queueMs"] >= 0


def test_a_resumed_session_gets_the_results_the_dropped_socket_missed(
    server: strata_server.RunningServer,
) -> None:
    body, session_uuid, first_item = drop_after_first_result(server)
    delivered = first_item["imageUUID"]
    # The socket dropped with two results still to come; they are parked for the session.
    with connect(server.ws, max_size=None) as second:
        assert authenticate(second, session_uuid) == session_uuid
        items = [json.loads(second.recv(30))["data"][0] for _ in range(2)]
    assert all(item["taskUUID"] == body["taskUUID"] for item in items)
    assert len({item["imageUUID"] for item in items} | {delivered}) == 3  # the missed ones, once each


def test_only_the_same_api_key_can_resume_a_session(server: strata_server.RunningServer) -> None:
    body, session_uuid, _ = drop_after_first_result(server)
    # Another tenant who learns the session UUID gets nothing of it...
    with connect(server.ws, max_size=None) as intruder:
        authenticate(intruder, session_uuid, key=OTHER_KEY)
        with pytest.raises((TimeoutError, ConnectionClosed)):  # no frame, then the idle close
            intruder.recv(3)
    # ...and the owner still can resume it.
    with connect(server.ws, max_size=None) as owner:
        authenticate(owner, session_uuid)
        items = [json.loads(owner.recv(30))["data"][0] for _ in range(2)]
    assert all(item["taskUUID"] == body["taskUUID"] for item in items)


def test_idle_sockets_are_closed_but_busy_ones_are_not(server: strata_server.RunningServer) -> None:
    with connect(server.ws) as idle:
        authenticate(idle)
        started = time.monotonic()
        with pytest.raises(ConnectionClosed) as closed:
            idle.recv(10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
    assert IDLE_TIMEOUT <= time.monotonic() - started < IDLE_TIMEOUT + 3
    body = task(numberResults=8, **{"inputs.referenceImages": [LARGE]})  # longer than the idle timeout
    with connect(server.ws, max_size=None) as busy:
        authenticate(busy)
        busy.send(json.dumps([body]))
        replies = [json.loads(busy.recv(30)) for _ in range(8)]
    assert all(reply["data"][0]["imageUUID"] for reply in replies)


def test_a_task_re_sent_after_a_resume_is_delivered_once(server: strata_server.RunningServer) -> None:
    """The SDK reconnects with its session UUID *and* re-sends the task, then counts from zero:
    each result must arrive once, or the SDK returns a duplicate instead of the missing one."""
    body, session_uuid, _ = drop_after_first_result(server)
    with connect(server.ws, max_size=None) as second:
        authenticate(second, session_uuid)
        second.send(json.dumps([body]))
        received: list[str] = []
        with pytest.raises((TimeoutError, ConnectionClosed)):  # silence, then the idle close
            while True:
                received.append(json.loads(second.recv(3))["data"][0]["imageUUID"])
    assert len(received) == 3 and len(set(received)) == 3
