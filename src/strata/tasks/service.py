"""The task service: submit, follow, look up. The only way the API touches tasks.

A submitted task is stored first (so a crash cannot lose it silently), then queued for a worker. The
taskUUID is the idempotency key: a re-sent task with the same body re-attaches to the existing task
(running or finished) and is never run twice; a different body under a used taskUUID is a conflict.
Followers see each result item as soon as it is stored, replayed from the start.

Storage writes of a running task (each result, each status change) go through one dedicated thread,
so the event loop never waits on SQLite and the writes of a task keep their order. A task can be
cancelled while queued (it ends at once) or running (the engine is asked to stop at its next check).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from strata.config import Settings
from strata.errors import Cancelled, StrataError
from strata.storage.base import Storage
from strata.tasks.delivery import post_webhook
from strata.tasks.engines import EnginePool
from strata.tasks.items import error_object
from strata.tasks.records import InferenceSpec, TaskRecord
from strata.tasks.states import TaskStatus, transition

log = logging.getLogger("strata.tasks")

#: Seconds an engine that was asked to cancel at shutdown gets to return before storage closes.
SHUTDOWN_GRACE = 10.0

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
    #: The request; None for handles built without one (tests).
    spec: InferenceSpec | None = None
    events: list[Event] = field(default_factory=list)
    done: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    #: Fraction of the whole task done, 0..1, written by the worker thread (a float store is atomic).
    progress: float = 0.0
    #: Set by :meth:`TaskService.cancel`; the engine polls it through ``should_cancel``.
    cancel_requested: bool = False
    #: ``time.perf_counter()`` when the request arrived, was queued, and was taken by a worker.
    received_at: float = field(default_factory=time.perf_counter)
    queued_at: float = field(default_factory=time.perf_counter)
    started_at: float | None = None
    #: ``time.perf_counter()`` past which the running task is stopped (``task_timeout``); None: never.
    deadline: float | None = None

    def timed_out(self) -> bool:
        return self.deadline is not None and time.perf_counter() > self.deadline

    def notify(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    def advance(self, fraction: float) -> None:
        """Record progress; never moves backwards (a late callback of a finished stage is ignored)."""
        self.progress = max(self.progress, min(1.0, fraction))


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
        # One thread: storage writes leave the event loop and stay in order.
        self.store_executor = ThreadPoolExecutor(1, thread_name_prefix="strata-store")
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
        """Stop the workers; running engines are asked to cancel and get a grace period to return.

        Engine threads write their outputs to storage, so they must be done before the caller closes
        it. A task stopped here stays "running" in storage and is failed by :meth:`recover` on restart.
        """
        self.stopping = True
        for handle in self._active.values():
            handle.cancel_requested = True
        for task in [*self._workers, *self.background]:
            task.cancel()
        await asyncio.gather(*self._workers, *self.background, return_exceptions=True)
        self.executor.shutdown(wait=False, cancel_futures=True)
        drained = asyncio.to_thread(self.executor.shutdown, wait=True)
        try:
            await asyncio.wait_for(drained, SHUTDOWN_GRACE)
        except TimeoutError:
            log.warning("an engine did not stop within %.0f s of shutdown", SHUTDOWN_GRACE)
        self.store_executor.shutdown(wait=True)

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

    def submit(self, spec: InferenceSpec, received_at: float | None = None) -> TaskHandle | TaskRecord:
        """Store and queue ``spec``, or return the existing task with that taskUUID.

        ``received_at`` (``time.perf_counter()``) is when the request arrived, for the item timings.
        """
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
        handle = self._active[spec.task_uuid] = TaskHandle(record, spec)
        if received_at is not None:
            handle.received_at = received_at
        self._queue.put_nowait(Job(spec, handle))
        return handle

    async def cancel(self, task_uuid: str) -> TaskHandle | TaskRecord | None:
        """Ask ``task_uuid`` to stop; a queued task ends now, a running one at the engine's next check.

        Returns what :meth:`find` returns; a finished task is left as it is.
        """
        found = self.find(task_uuid)
        if not isinstance(found, TaskHandle) or found.done:
            return found
        found.cancel_requested = True
        if found.record.status is TaskStatus.QUEUED:  # the worker skips it when it comes up
            await self.fail(found, cancelled_error())
            await self.move(found, TaskStatus.CANCELLED)
        return found

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

    async def lookup(self, task_uuid: str) -> TaskHandle | TaskRecord | None:
        """:meth:`find` for the event loop: a stored record (results can be megabytes of base64 to
        parse) is read on a thread."""
        handle = self._active.get(task_uuid)
        return handle if handle is not None else await asyncio.to_thread(self.storage.get_task, task_uuid)

    async def follow(self, task_uuid: str) -> AsyncIterator[Event]:
        """Every event of the task, from the first, until it finishes."""
        handle = self._active.get(task_uuid)
        if handle is None:
            for kind, items in await asyncio.to_thread(self._stored_events, task_uuid):
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

    async def emit(self, handle: TaskHandle, kind: str, obj: dict[str, Any]) -> None:
        """Record one result item or error object, queue its storage and wake the followers.

        The followers do not wait for SQLite: the write runs beside the send, and the terminal
        :meth:`move` waits for every write of the task before the task counts as done.
        """
        (handle.record.results if kind == "data" else handle.record.errors).append(obj)
        self.store(handle.record)
        handle.events.append((kind, obj))
        handle.notify()

    async def fail(self, handle: TaskHandle, exc: StrataError) -> None:
        """Emit ``exc`` as the task's error object, and post it to the task's webhook if it has one."""
        error = error_object(exc, handle.record.task_type, handle.record.task_uuid)
        await self.emit(handle, "error", error)
        if handle.spec is not None and handle.spec.webhook_url:
            self.spawn(post_webhook(handle.spec.webhook_url, {"errors": [error]}, settings=self.settings))

    async def move(self, handle: TaskHandle, status: TaskStatus) -> None:
        """Change the status through the state machine, store it; a terminal one releases followers."""
        transition(handle.record, status)
        if status is TaskStatus.RUNNING:
            handle.started_at = time.perf_counter()
        written = self.store(handle.record)
        if status.terminal:
            with contextlib.suppress(Exception):  # a failed write is logged; followers still get the end
                await written  # one writer thread: every earlier write of the task is done too
            handle.done = True
            handle.advance(1.0)
            self._active.pop(handle.record.task_uuid, None)
            handle.notify()

    def store(self, record: TaskRecord) -> asyncio.Future[None]:
        """Queue a write of ``record`` as it is now on the writer thread; writes keep their order."""
        snapshot = dataclasses.replace(record, results=list(record.results), errors=list(record.errors))
        loop = asyncio.get_running_loop()
        written = loop.run_in_executor(self.store_executor, self.storage.save_task, snapshot)
        written.add_done_callback(_log_failed_write)
        return written

    def spawn(self, coroutine: Any) -> None:
        """Run a background coroutine (webhook delivery) that stop() cancels."""
        task = asyncio.create_task(coroutine)
        self.background.add(task)
        task.add_done_callback(self.background.discard)


def _log_failed_write(written: asyncio.Future[None]) -> None:
    if not written.cancelled() and written.exception() is not None:
        log.error("storing a task failed", exc_info=written.exception())


def cancelled_error() -> Cancelled:
    return Cancelled("the task was cancelled by a taskCancel request")


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
