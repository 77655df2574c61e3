"""Async results and uploads survive a restart; tasks a crash interrupted end as errors, not silence."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx

import strata_server
from strata.storage.sqlite import SQLiteStorage
from strata.tasks.records import TaskRecord
from strata.tasks.states import TaskStatus, transition
from test_api_validation import IMAGE, task

AUTH = {"Authorization": f"Bearer {strata_server.API_KEY}"}


def post(server: strata_server.RunningServer, *tasks: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{server.http}/v1", json=list(tasks), headers=AUTH, timeout=60)
    return dict(response.json())


def poll(server: strata_server.RunningServer, task_uuid: str) -> dict[str, Any]:
    return post(server, {"taskType": "getResponse", "taskUUID": task_uuid})


def test_results_and_uploads_survive_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    body = task(deliveryMethod="async", numberResults=2)
    upload = {"taskType": "imageUpload", "taskUUID": str(uuid.uuid4()), "image": IMAGE}
    port = strata_server.free_port()  # the same address before and after, as in a real deployment
    with strata_server.running(data_dir, port=port) as server:
        assert post(server, body)["data"] == [{"taskType": "imageInference", "taskUUID": body["taskUUID"]}]
        uploaded = post(server, upload)["data"][0]
        before = poll(server, body["taskUUID"])
        while before["data"][0]["status"] == "processing":
            before = poll(server, body["taskUUID"])
    with strata_server.running(data_dir, port=port) as server:
        after = poll(server, body["taskUUID"])
        assert after == before and [item["status"] for item in after["data"]] == ["success", "success"]
        assert httpx.get(after["data"][0]["imageURL"], timeout=10).status_code == 200
        by_upload = post(server, task(**{"inputs.referenceImages": [uploaded["imageUUID"]]}))
        assert by_upload["data"][0]["imageUUID"]


def test_tasks_interrupted_by_a_crash_are_reported_as_errors(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    storage = SQLiteStorage(data_dir)  # what a crash leaves behind: one queued and one running task
    queued, running = (
        TaskRecord(str(uuid.uuid4()), "imageInference"),
        TaskRecord(str(uuid.uuid4()), "imageInference"),
    )
    transition(running, TaskStatus.RUNNING)
    assert storage.create_task(queued) and storage.create_task(running)
    storage.close()
    with strata_server.running(data_dir) as server:
        for record in (queued, running):
            answer = poll(server, record.task_uuid)
            assert answer["data"] == []
            (error,) = answer["errors"]
            assert (error["code"], error["status"], error["taskUUID"]) == (
                "taskFailed",
                "error",
                record.task_uuid,
            )
            assert json.dumps(error).count("submit it again") == 1
