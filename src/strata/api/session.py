"""One client conversation in Runware's task protocol, shared by the WebSocket and REST routes.

``handle(tasks)`` only parses and dispatches: authentication and pings are answered at once, every
other task runs in its own asyncio task, so a socket keeps answering pings while inference runs. Every
frame goes out through ``send`` as ``{"data": [...]}`` or ``{"errors": [...]}``; the REST route
collects them into one response, the WebSocket route writes them as they come.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from strata.api import uploads
from strata.api.errors import error_object
from strata.api.runware import invalid_task_type, parse_inference
from strata.config import Settings
from strata.errors import StrataError
from strata.tasks.service import TaskHandle, TaskService
from strata.tasks.states import TaskStatus

log = logging.getLogger("strata.api")
Send = Callable[[dict[str, Any]], Awaitable[None]]


class AuthError(StrataError):
    code = "invalidApiKey"


@dataclass
class ServerContext:
    settings: Settings
    service: TaskService


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
            elif task_type in ("imageInference", "imageUpload", "getResponse"):
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
        session_uuid = task.get("connectionSessionUUID") or str(uuid.uuid4())
        await self.send({"data": [{"taskType": "authentication", "connectionSessionUUID": session_uuid}]})

    def spawn(self, coroutine: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def wait(self) -> None:
        """REST: wait until every spawned task has sent its last frame."""
        while self.pending:
            await asyncio.gather(*self.pending, return_exceptions=True)

    def close(self) -> None:
        """The client went away: stop following; the tasks themselves run on and stay pollable."""
        for task in self.pending:
            task.cancel()

    async def _guarded(self, task_type: str, task: dict[str, Any]) -> None:
        """Run one task handler; a bug still answers the client (with the taskUUID) and is logged."""
        try:
            await getattr(self, f"_{task_type}")(task)
        except Exception:
            log.exception("%s %s failed unexpectedly", task_type, task.get("taskUUID"))
            error = StrataError("internal error; see the server log")
            await self.send({"errors": [error_object(error, task_type, task.get("taskUUID"))]})

    async def _imageInference(self, task: dict[str, Any]) -> None:
        task_uuid = task.get("taskUUID")
        service = self.ctx.service
        try:
            # Off the loop: hashing and validating a frame with a 50 MB data URI takes a while.
            spec = await asyncio.to_thread(
                parse_inference, task, self.ctx.settings, service.pool, self.base_url
            )
            service.submit(spec)
        except StrataError as exc:
            await self.send({"errors": [error_object(exc, "imageInference", task_uuid)]})
            return
        if spec.delivery == "async":
            await self.send({"data": [{"taskType": "imageInference", "taskUUID": spec.task_uuid}]})
            return
        async for kind, obj in service.follow(spec.task_uuid):
            await self.send({"data": [obj]} if kind == "data" else {"errors": [obj]})

    async def _imageUpload(self, task: dict[str, Any]) -> None:
        try:
            item = await uploads.upload(self.ctx, task, self.base_url)
        except StrataError as exc:
            await self.send({"errors": [error_object(exc, "imageUpload", task.get("taskUUID"))]})
            return
        await self.send({"data": [item]})

    async def _getResponse(self, task: dict[str, Any]) -> None:
        task_uuid = task.get("taskUUID")
        found = self.ctx.service.find(task_uuid) if isinstance(task_uuid, str) else None
        if found is None:
            error = StrataError(f"no task {task_uuid!r}", parameter="taskUUID", code="taskFailedOrNotFound")
            await self.send({"errors": [error_object(error, "getResponse", task_uuid)]})
            return
        await self.send(poll_answer(found))
        task_uuid = found.record.task_uuid if isinstance(found, TaskHandle) else found.task_uuid
        if isinstance(found, TaskHandle) and self.push and task_uuid not in self._pushing:
            self._pushing.add(task_uuid)
            self.spawn(self._push_when_done(found))

    async def _push_when_done(self, handle: TaskHandle) -> None:
        try:
            async for _ in self.ctx.service.follow(handle.record.task_uuid):
                pass
            await self.send(poll_answer(handle))
        finally:
            self._pushing.discard(handle.record.task_uuid)


def poll_answer(found: TaskHandle | Any) -> dict[str, Any]:
    """``getResponse`` items: ``processing`` until the task ends, then every result and error at once."""
    record = found.record if isinstance(found, TaskHandle) else found
    if not record.status.terminal:
        item = {"taskType": record.task_type, "taskUUID": record.task_uuid, "status": TaskStatus.QUEUED.wire}
        return {"data": [dict(item) for _ in range(record.number_results)]}
    answer: dict[str, Any] = {"data": [item | {"status": "success"} for item in record.results]}
    if record.errors:
        answer["errors"] = [error | {"status": "error"} for error in record.errors]
    return answer
