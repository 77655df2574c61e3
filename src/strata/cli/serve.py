"""``strata serve``: the Runware-compatible server (WebSocket and REST at ``/v1``) on uvicorn."""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path
from typing import Annotated

import typer

from strata.errors import InvalidParameter

_LOG_FORMAT = "time=%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)r"


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to bind (STRATA_HOST; default 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (STRATA_PORT; default 8080).")] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Tasks, uploads and outputs (STRATA_DATA_DIR; default ~/.local/share/strata)."),
    ] = None,
) -> None:
    """Serve Runware's imageInference API for strata:classic@1 and alibaba:qwen-image@layered.

    Clients: the official Runware SDKs with url="ws://HOST:PORT/v1", or POST JSON to http://HOST:PORT/v1.
    API keys come from STRATA_API_KEYS (comma-separated); without one, only loopback addresses are allowed.
    """
    import uvicorn

    from strata.api.app import create_app
    from strata.config import load_settings  # pydantic-settings: here, not in every command's start-up

    settings = load_settings(host=host, port=port, data_dir=data_dir)
    if not settings.api_keys and not is_loopback(settings.host):
        raise InvalidParameter(
            f"refusing to listen on {settings.host} without an API key: set STRATA_API_KEYS, "
            "or bind 127.0.0.1",
            parameter="host",
        )
    logging.basicConfig(level=logging.INFO, format=_LOG_FORMAT)
    shown = f"[{settings.host}]" if ":" in settings.host else settings.host
    auth = "API key required" if settings.api_keys else "no API key (loopback only)"
    # A browser cannot open 0.0.0.0 / :: everywhere; the editor's address names loopback instead.
    browse = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]"}.get(shown, shown)
    print(
        f"strata: serving ws://{shown}:{settings.port}/v1 and http://{shown}:{settings.port}/v1 ({auth})\n"
        f"strata: open http://{browse}:{settings.port}/ in a browser for the layer editor",
        flush=True,
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        ws_max_size=settings.max_frame_bytes,
        ws_per_message_deflate=settings.ws_compression,
        log_level="warning",
        timeout_graceful_shutdown=5,
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
