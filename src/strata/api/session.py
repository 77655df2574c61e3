"""One client conversation in Runware's task protocol, shared by the WebSocket and REST routes.

``handle(tasks)`` only parses and dispatches: authentication and pings are answered at once, every
other task runs in its own asyncio task, so a socket keeps answering pings while inference runs. Every
frame goes out through ``send`` as ``{"data": [...]}`` or ``{"errors": [...]}``; the REST route
collects them into one response, the WebSocket route writes them as they come.

Session resume (WebSocket): while a socket relays results, the session counts what it delivered.
When the socket drops, that count is parked under the session's ``connectionSessionUUID`` for
``RESUME_SECONDS``; an ``authentication`` that sends the UUID back gets the rest re-delivered.

``taskCancel`` (a strata extension) stops a queued or running task; see docs/server.md.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from strata.api import uploads
from strata.api.errors import error_object
from strata.api.runware import invalid_task_type, parse_inference
from strata.config import Settings
from strata.errors import StrataError
from strata.tasks.records import TaskRecord
from strata.tasks.service import TaskHandle, TaskService

log = logging.getLogger("strata.api")
#: Sends one frame; returns False when it could not be delivered (the socket is gone).
Send = Callable[[dict[str, Any]], Awaitable[bool]]
#: How long a dropped socket's undelivered results wait for a resume (Runware buffers 120 s).
RESUME_SECONDS = 120.0
TASK_TYPES = ("imageInference", "imageUpload", "getResponse", "taskCancel")


class AuthError(StrataError):
    code = "invalidApiKey"


@dataclass
class Parked:
    """What a dropped socket still owed its client: per task, items already delivered; open polls."""

    relaying: dict[str, list[int]]
    pushing: set[str]
    expires_at: float
    #: Digest of the API key that opened the session: only the same key may resume it.
    owner: str = ""


@dataclass
class ServerContext:
    settings: Settings
    service: TaskService
    parked: dict[str, Parked] = field(default_factory=dict)

    def park(self, session_uuid: str, parked: Parked) -> None:
        now = time.monotonic()
        for key in [k for k, v in self.parked.items() if v.expires_at <= now]:
            del self.parked[key]
        self.parked[session_uuid] = parked

    def unpark(self, session_uuid: str, owner: str) -> Parked | None:
        parked = self.parked.get(session_uuid)
        if parked is None or not hmac.compare_digest(parked.owner, owner):
            return None
        del self.parked[session_uuid]
        return parked if parked.expires_at > time.monotonic() else None


def key_owner(key: object) -> str:
    """A stable, non-reversible id of an API key (sessions are bound to it; the key is never kept)."""
    return hashlib.sha256(key.encode()).hexdigest() if isinstance(key, str) else ""


def key_is_valid(settings: Settings, key: object) -> bool:
    """Constant-time comparison against every configured key (no early exit on a match)."""
    if not settings.api_keys:
        return True
    if not isinstance(key, str):
        return False
    matches = [hmac.compare_digest(key.encode(), valid.encode()) for valid in settings.api_keys]
    return any(matches)


class Session:
    def __init__(
        self, ctx: ServerContext, send: Send, base_url: str, *, authenticated: bool, push: bool
    ) -> None:
        self.ctx = ctx
        self.send = send
        self.base_url = base_url
        self.authenticated = authenticated or not ctx.settings.api_keys
        #: WebSocket only: push results to a socket whose getResponse found the task unfinished.
        self.push = push
        self.pending: set[asyncio.Task[None]] = set()
        self.session_uuid: str | None = None
        self.owner = ""
        #: taskUUID -> [data items, error objects] sent so far, while this session relays the task.
        self._relaying: dict[str, list[int]] = {}
        #: taskUUID -> the asyncio task relaying it; a re-sent task replaces a resumed relay.
        self._relays: dict[str, asyncio.Task[Any]] = {}
        self._pushing: set[str] = set()

    async def handle(self, tasks: list[Any]) -> None:
        """Dispatch each task object of one frame or request body."""
        for task in tasks:
            if not isinstance(task, dict):
                await self.send({"errors": [error_object(invalid_task_type(task), None, None)]})
                continue
            task_type = task.get("taskType")
            if task_type == "authentication":
                await self.authenticate(task)
            elif task_type == "ping":
                await self.send({"data": [{"taskType": "ping", "pong": True}]})
            elif not self.authenticated:
                error = AuthError(
                    "authenticate first: send an authentication task with your apiKey",
                    parameter="apiKey",
                    code="missingApiKey",
                )
                await self.send({"errors": [error_object(error, task_type, task.get("taskUUID"))]})
            elif task_type in TASK_TYPES:
                self.spawn(self._guarded(task_type, task))
            else:
                await self.send(
                    {"errors": [error_object(invalid_task_type(task), task_type, task.get("taskUUID"))]}
                )

    async def authenticate(self, task: dict[str, Any]) -> None:
        if not key_is_valid(self.ctx.settings, task.get("apiKey")):
            error = AuthError("invalid API key", parameter="apiKey")
            await self.send({"errors": [error_object(error, "authentication", None)]})
            return
        self.authenticated = True
        self.owner = key_owner(task.get("apiKey"))
        wanted = task.get("connectionSessionUUID")
        self.session_uuid = wanted if isinstance(wanted, str) and wanted else str(uuid.uuid4())
        await self.send(
            {"data": [{"taskType": "authentication", "connectionSessionUUID": self.session_uuid}]}
        )
        parked = self.ctx.unpark(self.session_uuid, self.owner) if self.push else None
        if parked is not None:  # a resume: finish what the dropped socket could not deliver
            for task_uuid, sent in parked.relaying.items():
                self.spawn(self._relay(task_uuid, sent))
            for task_uuid in parked.pushing:
                self._start_push(task_uuid)

    def spawn(self, coroutine: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def wait(self) -> None:
        """REST: wait until every spawned task has sent its last frame."""
        while self.pending:
            await asyncio.gather(*self.pending, return_exceptions=True)

    def close(self) -> None:
        """The client went away: stop following (the tasks run on and stay pollable); park the rest."""
        for task in self.pending:
            task.cancel()
        if self.push and self.session_uuid and (self._relaying or self._pushing):
            expires = time.monotonic() + RESUME_SECONDS
            parked = Parked(dict(self._relaying), set(self._pushing), expires, self.owner)
            self.ctx.park(self.session_uuid, parked)

    async def _guarded(self, task_type: str, task: dict[str, Any]) -> None:
        """Run one task handler; a bug still answers the client (with the taskUUID) and is logged."""
        try:
            await getattr(self, f"_{task_type}")(task)
        except Exception:
            log.exception("%s %s failed unexpectedly", task_type, task.get("taskUUID"))
            error = StrataError("internal error; see the server log")
            await self.send({"errors": [error_object(error, task_type, task.get("taskUUID"))]})

    async def _imageInference(self, task: dict[str, Any]) -> None:
        received_at = time.perf_counter()
        task_uuid = task.get("taskUUID")
        service = self.ctx.service
        try:
            # Off the loop: hashing and validating a frame with a 50 MB data URI takes a while.
            spec = await asyncio.to_thread(
                parse_inference, task, self.ctx.settings, service.pool, self.base_url
            )
            service.submit(spec, received_at)
        except StrataError as exc:
            await self.send({"errors": [error_object(exc, "imageInference", task_uuid)]})
            return
        if spec.delivery == "async":
            await self.send({"data": [{"taskType": "imageInference", "taskUUID": spec.task_uuid}]})
            return
        await self._relay(spec.task_uuid, [0, 0])

    async def _relay(self, task_uuid: str, sent: list[int]) -> None:
        """Send every item of the task past the first ``sent`` [data, errors], counting as it goes.

        One relay per task and socket: the SDK re-sends a task after it reconnects and then counts
        results from zero, so a relay started by a resume stops when the task arrives again (two
        relays would send each later item twice, and the SDK would return a duplicate).
        """
        current = asyncio.current_task()
        previous = self._relays.get(task_uuid)
        if previous is not None and previous is not current:
            previous.cancel()
        assert current is not None  # always run as an asyncio task (spawn)
        self._relays[task_uuid] = current
        self._relaying[task_uuid] = sent
        seen = [0, 0]
        try:
            async for kind, obj in self.ctx.service.follow(task_uuid):
                slot = 0 if kind == "data" else 1
                seen[slot] += 1
                if seen[slot] > sent[slot] and await self.send(
                    {"data": [obj]} if kind == "data" else {"errors": [obj]}
                ):
                    sent[slot] += 1
        finally:
            if self._relays.get(task_uuid) is current:
                del self._relays[task_uuid]
                self._relaying.pop(task_uuid, None)

    async def _imageUpload(self, task: dict[str, Any]) -> None:
        try:
            item = await uploads.upload(self.ctx, task, self.base_url)
        except StrataError as exc:
            await self.send({"errors": [error_object(exc, "imageUpload", task.get("taskUUID"))]})
            return
        await self.send({"data": [item]})

    async def _getResponse(self, task: dict[str, Any]) -> None:
        task_uuid = task.get("taskUUID")
        found = await self.ctx.service.lookup(task_uuid) if isinstance(task_uuid, str) else None
        if found is None:
            error = StrataError(f"no task {task_uuid!r}", parameter="taskUUID", code="taskFailedOrNotFound")
            await self.send({"errors": [error_object(error, "getResponse", task_uuid)]})
            return
        await self.send(poll_answer(found))
        if isinstance(found, TaskHandle) and self.push:
            self._start_push(found.record.task_uuid)

    async def _taskCancel(self, task: dict[str, Any]) -> None:
        """Cancel a task; the answer comes once it has stopped and says how it ended."""
        task_uuid = task.get("taskUUID")
        found = await self.ctx.service.cancel(task_uuid) if isinstance(task_uuid, str) else None
        if found is None or not isinstance(task_uuid, str):
            error = StrataError(f"no task {task_uuid!r}", parameter="taskUUID", code="taskFailedOrNotFound")
            await self.send({"errors": [error_object(error, "taskCancel", task_uuid)]})
            return
        async for _ in self.ctx.service.follow(task_uuid):
            pass
        record = found.record if isinstance(found, TaskHandle) else found
        item = {"taskType": "taskCancel", "taskUUID": task_uuid, "status": record.status.value}
        await self.send({"data": [item]})

    def _start_push(self, task_uuid: str) -> None:
        if task_uuid not in self._pushing:
            self._pushing.add(task_uuid)
            self.spawn(self._push_when_done(task_uuid))

    async def _push_when_done(self, task_uuid: str) -> None:
        async for _ in self.ctx.service.follow(task_uuid):
            pass
        found = await self.ctx.service.lookup(task_uuid)
        if found is not None:
            await self.send(poll_answer(found))
        self._pushing.discard(task_uuid)


def poll_answer(found: TaskHandle | TaskRecord) -> dict[str, Any]:
    """``getResponse`` items: ``processing`` (with ``progress``, 0..1) until the task ends, then every
    result and error at once."""
    record = found.record if isinstance(found, TaskHandle) else found
    if not record.status.terminal:
        item: dict[str, Any] = {"taskType": record.task_type, "taskUUID": record.task_uuid}
        item["status"] = record.status.wire
        if isinstance(found, TaskHandle):
            item["progress"] = round(found.progress, 4)
        return {"data": [dict(item) for _ in range(record.number_results)]}
    answer: dict[str, Any] = {"data": [item | {"status": "success"} for item in record.results]}
    if record.errors:
        answer["errors"] = [error | {"status": "error"} for error in record.errors]
    return answer
