"""The worker: runs queued inference tasks, with every blocking step in a thread.

The event loop only awaits here: decoding, the engine, safety checking and encoding run in the
service's thread pool, so sockets keep answering pings while a long job runs. One task runs its
``numberResults`` generations one after another, each with its own seed, and emits each result as
soon as it is stored.

The engine reports progress (the handle's ``progress``, shown by ``getResponse``) and polls for
cancellation between its stages. Every result item carries ``timings`` (queue wait, engine time and
total, in ms) so that a client can tell the server's own overhead from the engine's work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
from functools import partial
from typing import Any

from PIL import Image

from strata.errors import Cancelled, StrataError, TimedOut
from strata.imaging.decode import open_image
from strata.tasks.delivery import post_webhook, put_upload
from strata.tasks.outputs import Rendered, render_result
from strata.tasks.references import reference_bytes
from strata.tasks.service import Job, TaskHandle, TaskService, cancelled_error
from strata.tasks.states import TaskStatus

log = logging.getLogger("strata.worker")
MAX_SEED = 2**63 - 1
_CHECKER_LOCK = threading.Lock()


async def worker_loop(service: TaskService) -> None:
    while True:
        job = await service.next_job()
        await run_job(service, job)


async def run_job(service: TaskService, job: Job) -> None:
    """Run one task to a terminal state; every failure becomes an error item carrying the taskUUID."""
    spec, handle = job.spec, job.handle
    if handle.cancel_requested or handle.record.status.terminal:
        return  # cancelled while it waited in the queue: TaskService.cancel ended it
    started = time.perf_counter()
    limit = service.settings.task_timeout
    await service.move(handle, TaskStatus.RUNNING)
    try:
        image = await load_input(service, job)
        pool = service.pool  # loading can take minutes: a thread, unless already done (the hot path)
        engine = (
            pool.get(spec.engine)
            if pool.loaded(spec.engine)
            else await in_thread(service, pool.load, spec.engine)
        )
        # The time limit counts from here: loading a model's weights the first time may take minutes.
        handle.deadline = time.perf_counter() + limit if limit else None
        for index in range(spec.number_results):
            if handle.cancel_requested or handle.timed_out():
                raise cancelled_error()
            await run_generation(service, job, engine, image, index)
        status = TaskStatus.ERROR if handle.record.errors else TaskStatus.SUCCESS
    except Cancelled as exc:
        # The engine's own message says where it stopped; the client only needs to know why.
        reason: StrataError = exc
        if handle.cancel_requested:
            reason = cancelled_error()
        elif handle.timed_out():
            reason = TimedOut(f"the task ran past this server's time limit of {limit:g} s")
        await service.fail(handle, reason)
        status = TaskStatus.CANCELLED if handle.cancel_requested else TaskStatus.ERROR
    except StrataError as exc:
        await service.fail(handle, exc)
        status = TaskStatus.ERROR
    except Exception:
        log.exception("task %s failed unexpectedly", spec.task_uuid)
        await service.fail(handle, StrataError("internal error while running the task; see the server log"))
        status = TaskStatus.ERROR
    await service.move(handle, status)
    log.info("task %s %s in %.3f s", spec.task_uuid, status.value, time.perf_counter() - started)


async def load_input(service: TaskService, job: Job) -> Image.Image:
    spec = job.spec
    data = await reference_bytes(
        spec.reference, storage=service.storage, settings=service.settings, parameter="inputs.referenceImages"
    )
    return await in_thread(service, decode_input, data, spec.width, spec.height, service.settings.max_pixels)


def decode_input(data: bytes, width: int | None, height: int | None, limit: int) -> Image.Image:
    """Decode with the pixel limit, then resize to the requested canvas (missing side: keep the aspect)."""
    try:
        image = open_image(data, limit=limit)
    except StrataError as exc:
        exc.parameter = exc.parameter or "inputs.referenceImages"
        raise
    if width is None and height is None:
        return image
    w, h = image.size
    width = width or max(16, round(w * height / h / 16) * 16)  # type: ignore[operator]
    height = height or max(16, round(h * width / w / 16) * 16)
    return image.resize((width, height), Image.Resampling.LANCZOS)


async def run_generation(service: TaskService, job: Job, engine: Any, image: Image.Image, index: int) -> None:
    spec = job.spec
    seed = (spec.seed + index) % (MAX_SEED + 1) if spec.seed is not None else random.randrange(2**32)
    rendered, nsfw, engine_s = await in_thread(service, generate, service, job, engine, image, seed, index)
    item: dict[str, Any] = {"taskType": "imageInference", "taskUUID": spec.task_uuid, **rendered.fields}
    item["seed"] = seed
    if spec.include_cost:
        item["cost"] = cost_of(service, spec, image)
    if nsfw is not None:
        item["NSFWContent"] = nsfw
    if spec.upload_endpoint:
        try:
            await put_upload(
                spec.upload_endpoint,
                rendered.primary.data,
                rendered.primary.media_type,
                settings=service.settings,
            )
        except StrataError as exc:
            exc.parameter = exc.parameter or "uploadEndpoint"
            await service.fail(job.handle, exc)
            return
    item["timings"] = timings(job.handle, engine_s)
    await service.emit(job.handle, "data", item)
    job.handle.advance((index + 1) / spec.number_results)
    if spec.webhook_url:
        service.spawn(post_webhook(spec.webhook_url, {"data": [item]}, settings=service.settings))


def timings(handle: TaskHandle, engine_s: float) -> dict[str, float]:
    """Queue wait, engine time of this result, and arrival of the request to now, in milliseconds."""
    now = time.perf_counter()
    started = handle.started_at if handle.started_at is not None else handle.queued_at
    return {
        "queueMs": round((started - handle.queued_at) * 1000, 3),
        "engineMs": round(engine_s * 1000, 3),
        "totalMs": round((now - handle.received_at) * 1000, 3),
    }


def generate(
    service: TaskService, job: Job, engine: Any, image: Image.Image, seed: int, index: int
) -> tuple[Rendered, bool | None, float]:
    """Blocking: decompose, check content, encode and store one result; also the engine's seconds."""
    spec, handle = job.spec, job.handle
    options = dict(spec.engine_options)
    if "seed" in engine.capabilities.options:
        options["seed"] = seed
    gpu_lock = (
        service.pool.run_locks[spec.engine] if engine.capabilities.needs_gpu else contextlib.nullcontext()
    )

    def progress(fraction: float, stage: str) -> None:
        # The engine's share of one generation; encoding and storing make up the last 5 %.
        handle.advance((index + 0.95 * fraction) / spec.number_results)

    with gpu_lock:
        started = time.perf_counter()
        stack = engine.decompose(
            image,
            spec.layers,
            options,
            progress=progress,
            should_cancel=lambda: service.stopping or handle.cancel_requested or handle.timed_out(),
        )
        engine_s = time.perf_counter() - started
    nsfw = content_checker(service).check(stack.composite()) if spec.check_content else None
    ttl = spec.ttl if spec.ttl is not None and "URL" in spec.output_types else service.settings.default_ttl
    rendered = render_result(
        stack,
        fmt=spec.output_format,
        quality=spec.output_quality,
        output_types=spec.output_types,
        storage=service.storage,
        base_url=spec.base_url,
        expires_at=time.time() + ttl,
    )
    return rendered, nsfw, engine_s


def content_checker(service: TaskService) -> Any:
    """The safety checker, built once (it loads a model) from STRATA_SAFETY_MODEL_PATH.

    Locked: two workers asking at once would otherwise each build (and load) their own model.
    """
    with _CHECKER_LOCK:
        checker = getattr(service, "_content_checker", None)
        if checker is None:
            from strata.safety import ContentChecker

            checker = ContentChecker.from_settings(service.settings)
            service._content_checker = checker  # type: ignore[attr-defined]
    return checker


def cost_of(service: TaskService, spec: Any, image: Image.Image) -> float:
    from strata.pricing import PriceModel, task_cost

    prices = PriceModel.configured(service.settings.pricing_file)
    return task_cost(spec.model, image.width, image.height, spec.steps, spec.layers, prices=prices)


async def in_thread(service: TaskService, function: Any, *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(service.executor, partial(function, *args))
