"""The task service: submit, follow, look up. The only way the API touches tasks.

A submitted task is stored first (so a crash cannot lose it silently), then queued for a worker. The
taskUUID is the idempotency key: a re-sent task with the same body re-attaches to the existing task
(running or finished) and is never run twice; a different body under a used taskUUID is a conflict.
Followers see each result item as soon as it is stored, replayed from the start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from strata.config import Settings
from strata.errors import StrataError
from strata.storage.base import Storage
from strata.tasks.engines import EnginePool
from strata.tasks.records import InferenceSpec, TaskRecord
from strata.tasks.states import TaskStatus, transition

log = logging.getLogger("strata.tasks")

#: ("data", result item) or ("error", error object)
Event = tuple[str, dict[str, Any]]


class Overloaded(StrataError):
    code = "serviceUnavailable"


class ConflictTaskUUID(StrataError):
    code = "conflictTaskUUID"


@dataclass
class TaskHandle:
    """An active task in memory: its record plus a wake-up for followers."""

    record: TaskRecord
    events: list[Event] = field(default_factory=list)
    done: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def notify(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()


@dataclass
class Job:
    spec: InferenceSpec
    handle: TaskHandle


class TaskService:
    """Owns the queue, the worker pool and the in-memory view of active tasks."""

    def __init__(self, settings: Settings, storage: Storage, pool: EnginePool) -> None:
        self.settings = settings
        self.storage = storage
        self.pool = pool
        self.executor = ThreadPoolExecutor(settings.workers, thread_name_prefix="strata-worker")
        self._active: dict[str, TaskHandle] = {}
        self._queue: asyncio.Queue[Job] = asyncio.Queue(settings.queue_size)
        self._workers: list[asyncio.Task[None]] = []
        self.background: set[asyncio.Task[Any]] = set()
        self.stopping = False

    async def start(self) -> None:
        """Fail interrupted tasks, then start the workers."""
        from strata.tasks.worker import worker_loop

        self.recover()
        self._workers = [asyncio.create_task(worker_loop(self)) for _ in range(self.settings.workers)]

    async def stop(self) -> None:
        self.stopping = True
        for task in [*self._workers, *self.background]:
            task.cancel()
        await asyncio.gather(*self._workers, *self.background, return_exceptions=True)
        self.executor.shutdown(wait=False, cancel_futures=True)

    def recover(self) -> int:
        """Tasks left queued or running by a crash end as errors: a poll gets an answer, not silence."""
        interrupted = self.storage.unfinished_tasks()
        for record in interrupted:
            was = record.status
            transition(record, TaskStatus.ERROR)
            record.errors.append(interrupted_error(record, was))
            self.storage.save_task(record)
        if interrupted:
            log.warning("marked %d interrupted task(s) as failed", len(interrupted))
        return len(interrupted)

    def submit(self, spec: InferenceSpec) -> TaskHandle | TaskRecord:
        """Store and queue ``spec``, or return the existing task with that taskUUID."""
        existing = self.find(spec.task_uuid, spec.fingerprint)
        if existing is not None:
            return existing
        if self._queue.full():
            waiting = self._queue.qsize()
            raise Overloaded(
                f"the server is busy: {waiting} tasks are waiting (STRATA_QUEUE_SIZE); retry later"
            )
        record = TaskRecord(
            spec.task_uuid, "imageInference", fingerprint=spec.fingerprint, number_results=spec.number_results
        )
        if not self.storage.create_task(record):  # lost a race with an identical re-send
            return self.find(spec.task_uuid, spec.fingerprint) or record
        handle = self._active[spec.task_uuid] = TaskHandle(record)
        self._queue.put_nowait(Job(spec, handle))
        return handle

    def find(self, task_uuid: str, fingerprint: str | None = None) -> TaskHandle | TaskRecord | None:
        """The active handle or stored record of ``task_uuid``; a conflict if ``fingerprint`` differs."""
        found: TaskHandle | TaskRecord | None = self._active.get(task_uuid) or self.storage.get_task(
            task_uuid
        )
        record = found.record if isinstance(found, TaskHandle) else found
        if record is not None and fingerprint is not None and record.fingerprint != fingerprint:
            raise ConflictTaskUUID(
                f"taskUUID {task_uuid} was already used for a different request", parameter="taskUUID"
            )
        return found

    async def follow(self, task_uuid: str) -> AsyncIterator[Event]:
        """Every event of the task, from the first, until it finishes."""
        handle = self._active.get(task_uuid)
        if handle is None:
            for kind, items in self._stored_events(task_uuid):
                for item in items:
                    yield kind, item
            return
        seen = 0
        while True:
            while seen < len(handle.events):
                seen += 1
                yield handle.events[seen - 1]
            if handle.done:
                return
            await handle.changed.wait()

    def _stored_events(self, task_uuid: str) -> list[tuple[str, list[dict[str, Any]]]]:
        record = self.storage.get_task(task_uuid)
        return [] if record is None else [("data", record.results), ("error", record.errors)]

    # --- used by the worker -----------------------------------------------------------------------

    async def next_job(self) -> Job:
        return await self._queue.get()

    def emit(self, handle: TaskHandle, kind: str, obj: dict[str, Any]) -> None:
        """Store one result item or error object and wake the followers."""
        (handle.record.results if kind == "data" else handle.record.errors).append(obj)
        self.storage.save_task(handle.record)
        handle.events.append((kind, obj))
        handle.notify()

    def move(self, handle: TaskHandle, status: TaskStatus) -> None:
        transition(handle.record, status)
        self.storage.save_task(handle.record)
        if status.terminal:
            handle.done = True
            self._active.pop(handle.record.task_uuid, None)
            handle.notify()

    def spawn(self, coroutine: Any) -> None:
        """Run a background coroutine (webhook delivery) that stop() cancels."""
        task = asyncio.create_task(coroutine)
        self.background.add(task)
        task.add_done_callback(self.background.discard)


def interrupted_error(record: TaskRecord, was: TaskStatus) -> dict[str, Any]:
    return {
        "code": "taskFailed",
        "message": f"the server stopped while this task was {was.value}; submit it again with a new taskUUID",
        "parameter": None,
        "type": None,
        "taskType": record.task_type,
        "taskUUID": record.task_uuid,
        "status": "error",
    }
