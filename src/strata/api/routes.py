"""HTTP and WebSocket endpoints: ``/v1`` (REST and WebSocket), ``/v1/outputs/<file>``, health checks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from strata.api.errors import error_object
from strata.api.session import ServerContext, Session, key_is_valid
from strata.errors import StrataError
from strata.storage.base import FileKind

log = logging.getLogger("strata.api")
_FILE_NAME = re.compile(r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.[a-z]{2,5}$")
_STATUS_BY_CODE = {
    "invalidApiKey": 401,
    "missingApiKey": 401,
    "serviceUnavailable": 503,
    "internalServerError": 500,
}


def routes() -> list[BaseRoute]:
    return [
        Route("/v1", rest, methods=["POST"]),
        WebSocketRoute("/v1", websocket),
        Route("/v1/outputs/{name}", output_file, methods=["GET", "HEAD"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
    ]


def context(conn: Request | WebSocket) -> ServerContext:
    ctx: ServerContext = conn.app.state.ctx
    return ctx


def base_url(conn: Request | WebSocket, ctx: ServerContext) -> str:
    """Where output links point: STRATA_PUBLIC_URL, else the host the client used."""
    if ctx.settings.public_url:
        return ctx.settings.public_url.rstrip("/")
    url = conn.base_url
    scheme = {"ws": "http", "wss": "https"}.get(url.scheme, url.scheme)
    return f"{scheme}://{url.netloc}"


def protocol_error(code: str, message: str) -> dict[str, Any]:
    return {"errors": [error_object(StrataError(message, code=code), None, None)]}


async def rest(request: Request) -> Response:
    """``POST /v1``: a JSON array of tasks in, every result of the batch out in one response."""
    ctx = context(request)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > ctx.settings.max_body_bytes:
            limit = ctx.settings.max_body_bytes
            return JSONResponse(protocol_error("payloadTooLarge", f"request body above {limit} bytes"), 413)
    tasks = parse_tasks(bytes(body))
    if isinstance(tasks, dict):
        return JSONResponse(tasks, 400)
    bearer = request.headers.get("authorization", "")
    token = bearer[7:].strip() if bearer.lower().startswith("bearer ") else None
    if token is not None and not key_is_valid(ctx.settings, token):
        error = error_object(
            StrataError("invalid API key", code="invalidApiKey", parameter="apiKey"), "authentication", None
        )
        return JSONResponse({"errors": [error]}, 401)
    frames: list[dict[str, Any]] = []

    async def collect(frame: dict[str, Any]) -> bool:
        frames.append(frame)
        return True

    session = Session(ctx, collect, base_url(request, ctx), authenticated=token is not None, push=False)
    await session.handle(tasks)
    await session.wait()
    data = [item for frame in frames for item in frame.get("data", [])]
    errors = [error for frame in frames for error in frame.get("errors", [])]
    if tasks and not data and not errors:  # every task answers something; silence would be a bug here
        log.error("a REST batch of %d task(s) produced no answer", len(tasks))
        errors = protocol_error("internalServerError", "the server produced no answer; see its log")["errors"]
    status = 200 if data or not errors else max(_STATUS_BY_CODE.get(e["code"], 400) for e in errors)
    return JSONResponse({"data": data, "errors": errors} if errors else {"data": data}, status)


def parse_tasks(text: bytes | str) -> list[Any] | dict[str, Any]:
    """The task list of a body or frame, or the error frame to send back."""
    try:
        value = json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: absurdly deep nesting
        return protocol_error("invalidJSON", "the message is not valid JSON")
    if isinstance(value, dict):
        return [value]  # lenient: a single task object without the array
    if not isinstance(value, list):
        return protocol_error("invalidJSON", "the message must be a JSON array of task objects")
    return value


async def websocket(ws: WebSocket) -> None:
    """``/v1``: the SDKs' transport. The reader only parses; tasks run beside it.

    A socket silent for ``STRATA_IDLE_TIMEOUT`` seconds with nothing in flight is closed, as Runware
    does; one with a task in flight never is (the SDK would not notice a clean close).
    """
    ctx = context(ws)
    await ws.accept()
    lock = asyncio.Lock()

    async def send(frame: dict[str, Any]) -> bool:
        async with lock:
            # A client that left misses this frame; its tasks stay pollable with getResponse, and
            # a resumed session gets it again.
            try:
                await ws.send_text(json.dumps(frame))
            except (WebSocketDisconnect, RuntimeError, OSError):
                return False
            return True

    session = Session(ctx, send, base_url(ws, ctx), authenticated=False, push=True)
    try:
        while True:
            message = await receive(ws, session, ctx.settings.idle_timeout)
            if message is None or message["type"] == "websocket.disconnect":
                break
            text = message.get("text")
            text = text if text is not None else message.get("bytes") or b""
            if len(text) > ctx.settings.max_frame_bytes:
                await send(protocol_error("payloadTooLarge", "frame above STRATA_MAX_FRAME_BYTES"))
                continue
            tasks = parse_tasks(text)
            if isinstance(tasks, dict):
                await send(tasks)
            else:
                await session.handle(tasks)
    except WebSocketDisconnect:
        pass
    finally:
        session.close()


async def receive(ws: WebSocket, session: Session, idle_timeout: float) -> dict[str, Any] | None:
    """The next message, or None after closing a socket that stayed idle with nothing in flight."""
    while True:
        try:
            async with asyncio.timeout(idle_timeout or None):
                return dict(await ws.receive())
        except TimeoutError:
            if session.pending:
                continue  # a task is running for this socket: keep it open
            with contextlib.suppress(RuntimeError, OSError):
                await ws.close(1000, f"idle for {idle_timeout:g} s")
            return None


async def output_file(request: Request) -> Response:
    """A generated file or an upload: 404 if it never existed, 410 once its ttl has passed."""
    ctx = context(request)
    match = _FILE_NAME.fullmatch(request.path_params["name"])  # not .match: "$" passes a final "\n"
    if match is None:
        return JSONResponse(protocol_error("notFound", "no such file"), 404)
    storage = ctx.service.storage
    for kind in (FileKind.OUTPUT, FileKind.IMAGE):
        stored = storage.get_file(kind, match.group(1))
        if stored is None or stored.name != match.group(0):
            continue
        data = (
            None
            if stored.expired(time.time())
            else await asyncio.to_thread(storage.read_file, kind, stored.file_id)
        )
        if data is None:
            return JSONResponse(protocol_error("gone", "this output has expired (ttl)"), 410)
        return Response(data, media_type=stored.media_type, headers={"Cache-Control": "private, max-age=60"})
    return JSONResponse(protocol_error("notFound", "no such file"), 404)


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """200 once every configured engine is loaded; the body says which are ready."""
    states: dict[str, str] = request.app.state.engine_states
    ready = bool(states) and all(state in ("loaded", "not configured") for state in states.values())
    return JSONResponse({"ready": ready, "engines": states}, 200 if ready else 503)
