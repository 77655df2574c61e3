"""``create_app(settings)``: the ASGI application behind ``strata serve``.

Start-up opens the storage, fails tasks a crash left unfinished, starts the workers, loads the
configured engines in the background (``/readyz`` turns 200 when done) and sweeps expired files
periodically. The editing routes and the web page are mounted when their modules are present.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from strata.api import routes
from strata.api.models import MODELS, configured, engine_configs
from strata.api.session import ServerContext
from strata.config import Settings
from strata.errors import StrataError
from strata.storage.sqlite import SQLiteStorage
from strata.tasks.engines import EnginePool
from strata.tasks.service import TaskService

log = logging.getLogger("strata.api")
WEB_DIR = Path(__file__).resolve().parent.parent / "web"


def create_app(settings: Settings) -> Starlette:
    """Build the server for ``settings``; nothing heavy happens until start-up."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        storage = SQLiteStorage(settings.data_dir)
        service = TaskService(settings, storage, EnginePool(engine_configs(settings)))
        app.state.ctx = ServerContext(settings, service)
        await service.start()
        loader = asyncio.create_task(load_engines(app, service))
        sweeper = asyncio.create_task(sweep_forever(storage, settings.sweep_interval))
        try:
            yield
        finally:
            loader.cancel()
            sweeper.cancel()
            await service.stop()
            storage.close()

    app = Starlette(routes=[*routes.routes(), *extra_routes()], lifespan=lifespan)
    app.state.engine_states = {}
    return app


def extra_routes() -> list[BaseRoute]:
    """The editing API (issue 5) if its module is there, then the web page at ``/``."""
    extra: list[BaseRoute] = []
    try:
        editing = importlib.import_module("strata.api.editing")
    except ModuleNotFoundError as exc:
        if exc.name != "strata.api.editing":
            raise  # the module is there but broken: say so at start-up
        editing = None
    if editing is not None:
        extra.extend(editing.routes())
    if (WEB_DIR / "index.html").is_file():
        extra.append(Mount("/", app=StaticFiles(directory=WEB_DIR, html=True), name="web"))
    return extra


async def load_engines(app: Starlette, service: TaskService) -> None:
    """Load each configured model's engine in a worker thread, recording its state for /readyz."""
    states: dict[str, str] = app.state.engine_states
    for model in MODELS.values():
        if not configured(model, service.settings):
            states[model.engine] = "not configured"
            continue
        states[model.engine] = "loading"
    loop = asyncio.get_running_loop()
    for name, state in list(states.items()):
        if state != "loading":
            continue
        try:
            await loop.run_in_executor(service.executor, service.pool.load, name)
            states[name] = "loaded"
        except (StrataError, ImportError) as exc:
            states[name] = f"unavailable: {getattr(exc, 'message', exc)}"
            log.warning("engine %s unavailable: %s", name, states[name])


async def sweep_forever(storage: SQLiteStorage, interval: float) -> None:
    while True:
        removed = await asyncio.to_thread(storage.sweep)
        if removed:
            log.info("deleted %d expired file(s)", removed)
        await asyncio.sleep(interval)
