"""The task service with the real worker, storage and classic engine (no server)."""

from __future__ import annotations

import asyncio
import base64
import io
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

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


def gated_engine(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event, list[int]]:
    """Make each decomposition wait for ``go`` after signalling ``started``; returns (started, go, calls)."""
    real = ClassicEngine.decompose
    started, go, calls = threading.Event(), threading.Event(), []

    def gated(self: ClassicEngine, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        started.set()
        go.wait(10)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(ClassicEngine, "decompose", gated)
    return started, go, calls


def test_cancel_stops_a_running_task_through_the_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, go, calls = gated_engine(monkeypatch)
    service = make_service(tmp_path)
    doomed, after = spec(number_results=3), spec()

    async def scenario() -> list[Any]:
        await service.start()
        try:
            handle = service.submit(doomed)
            await asyncio.to_thread(started.wait, 10)
            assert await service.cancel(doomed.task_uuid) is handle
            go.set()  # the engine now runs and sees should_cancel() at its first stage
            events = [e async for e in service.follow(doomed.task_uuid)]
            service.submit(after)
            return [events, [e async for e in service.follow(after.task_uuid)]]
        finally:
            await service.stop()

    events, next_events = asyncio.run(scenario())
    assert [(kind, obj["code"], obj["taskUUID"]) for kind, obj in events] == [
        ("error", "taskCancelled", doomed.task_uuid)
    ]
    record = service.storage.get_task(doomed.task_uuid)
    assert record is not None and record.status is TaskStatus.CANCELLED and record.results == []
    assert len(calls) == 2 and [kind for kind, _ in next_events] == ["data"]  # no second generation


def test_stop_cancels_a_running_engine_and_waits_for_it_before_storage_closes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, go, _ = gated_engine(monkeypatch)
    service = make_service(tmp_path)
    running = spec()

    async def scenario() -> None:
        await service.start()
        service.submit(running)
        await asyncio.to_thread(started.wait, 10)
        threading.Timer(0.3, go.set).start()  # the engine is still busy when stop() begins
        await service.stop()

    asyncio.run(scenario())
    assert go.is_set() and not [t for t in threading.enumerate() if t.name.startswith("strata-worker")]
    service.storage.close()  # nothing writes any more: the engine saw the cancel and returned
    reopened = make_service(tmp_path)
    assert reopened.recover() == 1  # the interrupted task is failed on the next start
    record = reopened.storage.get_task(running.task_uuid)
    assert record is not None and record.status is TaskStatus.ERROR and record.results == []


def test_cancel_ends_a_queued_task_at_once_and_it_never_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, go, calls = gated_engine(monkeypatch)
    service = make_service(tmp_path)  # one worker: the second task waits in the queue
    running, queued = spec(), spec()

    async def scenario() -> list[Any]:
        await service.start()
        try:
            service.submit(running)
            service.submit(queued)
            await asyncio.to_thread(started.wait, 10)
            await service.cancel(queued.task_uuid)
            cancelled = [e async for e in service.follow(queued.task_uuid)]  # ends while the first waits
            go.set()
            return [cancelled, [e async for e in service.follow(running.task_uuid)]]
        finally:
            await service.stop()

    cancelled, first = asyncio.run(scenario())
    assert [(kind, obj["code"]) for kind, obj in cancelled] == [("error", "taskCancelled")]
    assert [kind for kind, _ in first] == ["data"] and len(calls) == 1
    stored = service.storage.get_task(queued.task_uuid)
    assert stored is not None and stored.status is TaskStatus.CANCELLED


def test_engine_progress_reaches_the_handle_and_items_carry_timings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = ClassicEngine.decompose
    service = make_service(tmp_path)
    job = spec(number_results=2)
    seen: list[float] = []

    def spying(self: ClassicEngine, image: Any, layers: int, options: Any, **kwargs: Any) -> Any:
        progress = kwargs["progress"]

        def report(fraction: float, stage: str) -> None:
            progress(fraction, stage)
            seen.append(service._active[job.task_uuid].progress)

        return real(self, image, layers, options, progress=report, should_cancel=kwargs["should_cancel"])

    monkeypatch.setattr(ClassicEngine, "decompose", spying)
    (events,) = asyncio.run(run_to_end(service, job))
    assert seen == sorted(seen) and seen[0] < 0.5 < seen[-1] < 1  # two generations, monotonic
    assert any(0 < value < 0.5 for value in seen)
    for _, item in events:
        timings = item["timings"]
        assert 0 < timings["engineMs"] < timings["totalMs"]
        assert timings["queueMs"] >= 0 and timings["queueMs"] + timings["engineMs"] <= timings["totalMs"]


def test_workers_share_one_content_checker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Built once even when several workers ask at the same moment (each one would load a model)."""
    from strata.safety import ContentChecker
    from strata.tasks.worker import content_checker

    real = ContentChecker.from_settings.__func__  # type: ignore[attr-defined]

    def slow(cls: type[ContentChecker], settings: Any) -> ContentChecker:
        threading.Event().wait(0.05)  # a slow construction widens the window two threads race in
        return real(cls, settings)  # type: ignore[no-any-return]

    monkeypatch.setattr(ContentChecker, "from_settings", classmethod(slow))
    service = make_service(tmp_path)
    start = threading.Barrier(4)
    got: list[Any] = []

    def ask() -> None:
        start.wait()
        got.append(content_checker(service))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 4 and len({id(checker) for checker in got}) == 1
    service.storage.close()


def checkerboard_data_uri() -> str:
    """A 1-pixel checkerboard, 1400 x 1000: the slowest input known, about 4 s of classic engine here,
    nearly all of it inside one stage (the peel)."""
    ys, xs = np.mgrid[:1000, :1400]
    buffer = io.BytesIO()
    Image.fromarray((((xs + ys) % 2) * 255).astype(np.uint8)).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_a_task_past_the_time_limit_ends_with_timeout_provider_and_the_next_one_runs(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", workers=1, task_timeout=0.5)
    service = TaskService(settings, SQLiteStorage(settings.data_dir), EnginePool({"classic": {}}))
    slow, after = spec(reference=checkerboard_data_uri(), layers=4), spec()

    async def scenario() -> tuple[list[list[tuple[str, dict[str, Any]]]], float]:
        start = time.perf_counter()
        events = await run_to_end(service, slow, after)
        return events, time.perf_counter() - start

    (slow_events, after_events), seconds = asyncio.run(scenario())
    assert [(kind, obj["code"], obj["taskUUID"]) for kind, obj in slow_events] == [
        ("error", "timeoutProvider", slow.task_uuid)
    ]
    assert "time limit of 0.5 s" in slow_events[0][1]["message"]
    assert seconds < 3.0, "the engine ran on past the limit instead of stopping inside its long stage"
    record = service.storage.get_task(slow.task_uuid)
    assert record is not None and record.status is TaskStatus.ERROR and record.results == []
    assert [kind for kind, _ in after_events] == ["data"]
