"""The editing endpoints the web page needs beside the Runware protocol.

- ``POST /v1/edit/apply``: layers + recipe → the edited layers (PNG data URIs). A layer the recipe did
  not touch comes back as ``{"from": i}`` (the index of the input layer it is), not as pixels.
- ``POST /v1/edit/export``: layers + recipe + format → one file: ``psd``, ``zip``, ``tiff``, ``ora``,
  ``pptx``, or ``png`` (the composite), as the editor shows it (hidden layers left out).

Layers are given as PNG/WEBP data URIs or as the ``imageUUID`` of a generated layer, uploaded image or
result. Both endpoints apply the recipe with :mod:`strata.editing`, so every pixel a user downloads comes
from the same code as ``strata edit``. Bodies are size-limited (``STRATA_MAX_BODY_BYTES``), images
pixel-limited, and the work runs in threads (not the inference workers' pool, so an edit does not wait
behind a long GPU job), never on the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from strata.api.errors import error_object, from_validation
from strata.api.session import key_is_valid
from strata.editing import apply_recipe, for_export
from strata.editing.recipe import Decompose, Recipe
from strata.editing.records import Entry, build, entries
from strata.errors import InvalidInput, LimitExceeded, StrataError
from strata.exporters import FORMATS, render
from strata.imaging.decode import open_image
from strata.layers import LayerStack
from strata.net.datauri import decode_data_uri_or_base64
from strata.storage.base import FileKind

#: Layers one request may carry.
MAX_LAYERS = 64
#: Decoded pixels one request may hold over all its layers, in units of STRATA_MAX_PIXELS: without
#: it, 64 small but highly compressed PNGs at the per-image limit would decode to ~17 GB.
TOTAL_PIXELS_FACTOR = 4
EXPORT_FORMATS = ("psd", "zip", "tiff", "ora", "pptx", "png")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class LayerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: A data URI (PNG/WEBP) or the imageUUID of a stored image.
    image: str = Field(min_length=1)
    name: str = Field("layer", max_length=200)
    hidden: bool = False
    opacity: float = Field(1.0, ge=0, le=1)


class EditRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    layers: list[LayerIn] = Field(min_length=1, max_length=MAX_LAYERS)
    recipe: Recipe = Field(default_factory=Recipe)


class ExportRequest(EditRequest):
    format: Literal["psd", "zip", "tiff", "ora", "pptx", "png"] = "psd"


def routes() -> list[BaseRoute]:
    return [
        Route("/v1/edit/apply", apply, methods=["POST"]),
        Route("/v1/edit/export", export, methods=["POST"]),
    ]


async def apply(request: Request) -> Response:
    """Apply a recipe and return the edited stack (unchanged layers by reference)."""
    try:
        body = await _parse(request, EditRequest)
        stack = await asyncio.to_thread(_load_stack, request, body)
        edited = await _run_recipe(request, stack, body.recipe)
        return JSONResponse(await asyncio.to_thread(_describe, stack, edited))
    except StrataError as exc:
        return _error(exc)


async def export(request: Request) -> Response:
    """Apply a recipe and return the result as one file in the requested format."""
    try:
        body = await _parse(request, ExportRequest)
        stack = await asyncio.to_thread(_load_stack, request, body)
        edited = await _run_recipe(request, stack, body.recipe)
        name, data, media_type = await asyncio.to_thread(_encode, edited, body.format)
    except StrataError as exc:
        return _error(exc)
    disposition = f'attachment; filename="{name}"'
    return Response(data, media_type=media_type, headers={"Content-Disposition": disposition})


async def _parse(request: Request, model: type[EditRequest]) -> Any:
    _authorise(request)
    limit = _settings_value(request, "max_body_bytes", 64 * 1024 * 1024)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise LimitExceeded(f"request body above {limit} bytes", code="payloadTooLarge")
    try:
        return model.model_validate(json.loads(body))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: absurd nesting
        if isinstance(exc, ValidationError):
            raise from_validation(exc) from None
        raise InvalidInput("the request body is not valid JSON", code="invalidJSON") from None


def _authorise(request: Request) -> None:
    """With API keys configured, the editing endpoints need ``Authorization: Bearer <key>`` like ``/v1``."""
    ctx = getattr(request.app.state, "ctx", None)
    if ctx is None or not ctx.settings.api_keys:
        return
    bearer = request.headers.get("authorization", "")
    token = bearer[7:].strip() if bearer.lower().startswith("bearer ") else None
    if token is None or not key_is_valid(ctx.settings, token):
        raise StrataError(
            "a valid API key is needed: send Authorization: Bearer <key>",
            code="invalidApiKey",
            parameter="apiKey",
        )


def _load_stack(request: Request, body: EditRequest) -> LayerStack:
    """Decode every layer (blocking; runs in a worker thread)."""
    max_bytes = _settings_value(request, "max_body_bytes", 64 * 1024 * 1024)
    max_pixels = _settings_value(request, "max_pixels", 64 * 1024 * 1024)
    records = []
    budget, total = max_pixels * TOTAL_PIXELS_FACTOR, 0
    for index, layer in enumerate(body.layers):
        try:
            data = _layer_bytes(request, layer.image, max_bytes)
            image = open_image(data, limit=max_pixels).convert("RGBA")
        except StrataError as exc:
            raise type(exc)(f"layers[{index}]: {exc.message}", parameter=f"layers[{index}].image") from None
        total += image.width * image.height
        if total > budget:
            raise LimitExceeded(
                f"the layers hold more than {budget} pixels in all "
                f"({TOTAL_PIXELS_FACTOR} x STRATA_MAX_PIXELS)",
                parameter="layers",
            )
        records.append(Entry(image, layer.name, layer.hidden, layer.opacity))
    sizes = {r.image.size for r in records}
    if len(sizes) > 1:
        raise InvalidInput(f"the layers do not share one canvas: sizes {sorted(sizes)}", parameter="layers")
    return build(records, LayerStack([records[0].image]))


def _layer_bytes(request: Request, reference: str, max_bytes: int) -> bytes:
    ctx = getattr(request.app.state, "ctx", None)
    if _UUID.match(reference) and ctx is not None:
        storage = ctx.service.storage
        for kind in (FileKind.OUTPUT, FileKind.IMAGE):
            data = storage.read_file(kind, reference)
            if data is not None:
                return bytes(data)
        raise InvalidInput(f"no stored image {reference} (unknown or expired)")
    return decode_data_uri_or_base64(reference, max_bytes=max_bytes)


async def _run_recipe(request: Request, stack: LayerStack, recipe: Recipe) -> LayerStack:
    pool = _pool(request)
    engine_names = {op.engine for op in recipe.operations if isinstance(op, Decompose)}

    def run() -> LayerStack:
        with _gpu_locks(pool, engine_names):
            return apply_recipe(stack, recipe, engines=pool.load if pool is not None else None)

    return await asyncio.to_thread(run)


@contextlib.contextmanager
def _gpu_locks(pool: Any, names: set[str]) -> Iterator[None]:
    """Engines that need the GPU run one decomposition at a time, shared with inference tasks."""
    with contextlib.ExitStack() as stack:
        for name in sorted(names):
            if pool is not None and name in pool.run_locks and pool.get(name).capabilities.needs_gpu:
                stack.enter_context(pool.run_locks[name])
        yield


def _describe(before: LayerStack, after: LayerStack) -> dict[str, Any]:
    """JSON for the page: per layer its name, properties, and pixels or the input index it still is."""
    index_of = {id(image): i for i, image in enumerate(before.layers)}
    layers = []
    for record in entries(after):
        item: dict[str, Any] = {"name": record.name, "hidden": record.hidden, "opacity": record.opacity}
        if id(record.image) in index_of:
            item["from"] = index_of[id(record.image)]
        else:
            png = FORMATS["png"].module.layer_to_bytes(record.image, compress_level=1)
            item["image"] = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        layers.append(item)
    width, height = after.size
    return {"width": width, "height": height, "layers": layers}


def _encode(stack: LayerStack, fmt: str) -> tuple[str, bytes, str]:
    shown = for_export(stack)
    if fmt == "png":
        return "edited.png", FORMATS["png"].module.layer_to_bytes(shown.composite()), "image/png"
    spec = FORMATS[fmt]
    (data,) = render(shown, spec).values()
    return f"edited{spec.extension}", data, spec.media_type


def _pool(request: Request) -> Any:
    ctx = getattr(request.app.state, "ctx", None)
    return ctx.service.pool if ctx is not None else None


def _settings_value(request: Request, name: str, default: int) -> int:
    ctx = getattr(request.app.state, "ctx", None)
    return int(getattr(ctx.settings, name, default)) if ctx is not None else default


def _error(exc: StrataError) -> JSONResponse:
    status = 413 if exc.code in ("payloadTooLarge", "imageTooLarge") else 400
    if exc.code == "invalidApiKey":
        status = 401
    if exc.code in ("modelUnavailable", "serviceUnavailable"):
        status = 503
    return JSONResponse({"errors": [error_object(exc, "imageEdit", None)]}, status)
