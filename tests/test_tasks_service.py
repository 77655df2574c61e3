"""The task service with the real worker, storage and classic engine (no server)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from strata.config import Settings
from strata.engines.classic import ClassicEngine
from strata.storage.sqlite import SQLiteStorage
from strata.tasks.engines import EnginePool
from strata.tasks.records import InferenceSpec, TaskRecord
from strata.tasks.service import ConflictTaskUUID, TaskService
from strata.tasks.states import TaskStatus
from test_api_validation import IMAGE


def make_service(tmp_path: Path) -> TaskService:
    settings = Settings(data_dir=tmp_path / "data", workers=1)
    return TaskService(settings, SQLiteStorage(settings.data_dir), EnginePool({"classic": {}}))


def spec(**changes: Any) -> InferenceSpec:
    fields: dict[str, Any] = {
        "task_uuid": str(uuid.uuid4()), "model": "strata:classic@1", "engine": "classic", "reference": IMAGE,
        "layers": 3, "fingerprint": "f1", "base_url": "http://127.0.0.1:1",
    }  # fmt: skip
    return InferenceSpec(**{**fields, **changes})


async def run_to_end(service: TaskService, *specs: InferenceSpec) -> list[list[tuple[str, dict[str, Any]]]]:
    await service.start()
    try:
        for s in specs:
            service.submit(s)
        return [[event async for event in service.follow(s.task_uuid)] for s in specs]
    finally:
        await service.stop()


def test_a_task_runs_once_even_when_submitted_twice(tmp_path: Path) -> None:
    service = make_service(tmp_path)
    first = spec(number_results=2, seed=5)

    async def scenario() -> list[list[tuple[str, dict[str, Any]]]]:
        await service.start()
        try:
            handle = service.submit(first)
            assert service.submit(first) is handle
            with pytest.raises(ConflictTaskUUID):
                service.submit(spec(task_uuid=first.task_uuid, fingerprint="other"))
            return [[e async for e in service.follow(first.task_uuid)] for _ in range(2)]
        finally:
            await service.stop()

    live, replay = asyncio.run(scenario())
    assert live == replay and [kind for kind, _ in live] == ["data", "data"]
    assert [item["seed"] for _, item in live] == [5, 6]
    record = service.storage.get_task(first.task_uuid)
    assert record is not None and record.status is TaskStatus.SUCCESS and len(record.results) == 2


def test_an_engine_crash_is_an_error_item_and_the_next_task_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = ClassicEngine.decompose
    calls = []

    def crash_once(self: ClassicEngine, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(ClassicEngine, "decompose", crash_once)
    service = make_service(tmp_path)
    broken, fine = spec(), spec()
    first, second = asyncio.run(run_to_end(service, broken, fine))
    ((kind, error),) = first
    assert (
        kind == "error" and error["code"] == "internalServerError" and error["taskUUID"] == broken.task_uuid
    )
    assert "boom" not in error["message"]  # internals stay in the log
    assert [kind for kind, _ in second] == ["data"]


def test_recover_fails_interrupted_tasks(tmp_path: Path) -> None:
    service = make_service(tmp_path)
    service.storage.create_task(TaskRecord("left-over", "imageInference"))
    assert service.recover() == 1
    record = service.storage.get_task("left-over")
    assert record is not None and record.status is TaskStatus.ERROR
    assert record.errors[0]["code"] == "taskFailed"
    assert service.recover() == 0
