"""The worker: runs queued inference tasks, with every blocking step in a thread.

The event loop only awaits here: decoding, the engine, safety checking and encoding run in the
service's thread pool, so sockets keep answering pings while a long job runs. One task runs its
``numberResults`` generations one after another, each with its own seed, and emits each result as
soon as it is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from functools import partial
from typing import Any

from PIL import Image

from strata.api.errors import error_object
from strata.errors import StrataError
from strata.imaging.decode import open_image
from strata.tasks.delivery import post_webhook, put_upload
from strata.tasks.outputs import Rendered, render_result
from strata.tasks.references import reference_bytes
from strata.tasks.service import Job, TaskService
from strata.tasks.states import TaskStatus

log = logging.getLogger("strata.worker")
MAX_SEED = 2**63 - 1


async def worker_loop(service: TaskService) -> None:
    while True:
        job = await service.next_job()
        await run_job(service, job)


async def run_job(service: TaskService, job: Job) -> None:
    """Run one task to a terminal state; every failure becomes an error item carrying the taskUUID."""
    spec, handle = job.spec, job.handle
    started = time.perf_counter()
    service.move(handle, TaskStatus.RUNNING)
    try:
        image = await load_input(service, job)
        engine = await in_thread(service, service.pool.load, spec.engine)
        for index in range(spec.number_results):
            await run_generation(service, job, engine, image, index)
        status = TaskStatus.ERROR if handle.record.errors else TaskStatus.SUCCESS
    except StrataError as exc:
        fail(service, job, exc)
        status = TaskStatus.ERROR
    except Exception:
        log.exception("task %s failed unexpectedly", spec.task_uuid)
        fail(service, job, StrataError("internal error while running the task; see the server log"))
        status = TaskStatus.ERROR
    service.move(handle, status)
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
    rendered, nsfw = await in_thread(service, generate, service, job, engine, image, seed)
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
            fail(service, job, exc)
            return
    service.emit(job.handle, "data", item)
    if spec.webhook_url:
        service.spawn(post_webhook(spec.webhook_url, {"data": [item]}, settings=service.settings))


def generate(
    service: TaskService, job: Job, engine: Any, image: Image.Image, seed: int
) -> tuple[Rendered, bool | None]:
    """Blocking: decompose, check content, encode and store one result."""
    spec = job.spec
    options = dict(spec.engine_options)
    if "seed" in engine.capabilities.options:
        options["seed"] = seed
    gpu_lock = (
        service.pool.run_locks[spec.engine] if engine.capabilities.needs_gpu else contextlib.nullcontext()
    )
    with gpu_lock:
        stack = engine.decompose(image, spec.layers, options, should_cancel=lambda: service.stopping)
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
    return rendered, nsfw


def content_checker(service: TaskService) -> Any:
    """The safety checker, built once (it loads a model) from STRATA_SAFETY_MODEL_PATH."""
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


def fail(service: TaskService, job: Job, exc: StrataError) -> None:
    error = error_object(exc, "imageInference", job.spec.task_uuid)
    service.emit(job.handle, "error", error)
    if job.spec.webhook_url:
        service.spawn(post_webhook(job.spec.webhook_url, {"errors": [error]}, settings=service.settings))


async def in_thread(service: TaskService, function: Any, *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(service.executor, partial(function, *args))
