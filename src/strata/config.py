"""Server settings, read once from ``STRATA_*`` environment variables (or passed explicitly).

Every field is typed and validated when :class:`Settings` is built, so a bad value stops the server at
start-up with one clear line instead of failing on the first request.

>>> Settings(api_keys="a,b", port=9000).api_keys
['a', 'b']
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from strata.errors import InvalidParameter

MiB = 1024 * 1024


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/strata`` (``~/.local/share/strata``): tasks, uploads and outputs live there."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "strata"


class Settings(BaseSettings):
    """Everything ``strata serve`` can be configured with; env prefix ``STRATA_``."""

    model_config = SettingsConfigDict(env_prefix="STRATA_", extra="forbid", validate_default=True)

    # --- access -----------------------------------------------------------------------------------
    #: Accepted API keys (``STRATA_API_KEYS=key1,key2``). Empty: no authentication, loopback only.
    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    #: Base URL put in front of output paths (``https://strata.example.com``); default: the request's host.
    public_url: str | None = None

    # --- storage ----------------------------------------------------------------------------------
    data_dir: Path = Field(default_factory=default_data_dir)
    #: Seconds a URL output stays downloadable when the request gives no ``ttl`` (Runware minimum: 60).
    default_ttl: int = Field(24 * 3600, ge=60)
    #: Seconds an ``imageUpload`` stays referenceable (Runware keeps uploads 30 days).
    upload_ttl: int = Field(30 * 24 * 3600, ge=60)
    #: How often expired files are deleted from disk.
    sweep_interval: float = Field(60.0, gt=0)

    # --- limits -----------------------------------------------------------------------------------
    max_body_bytes: int = Field(64 * MiB, ge=1024)
    max_frame_bytes: int = Field(64 * MiB, ge=1024)
    #: Seconds without a message after which an idle WebSocket is closed (Runware: 120); 0: never.
    idle_timeout: float = Field(120.0, ge=0)
    #: permessage-deflate on WebSockets. Off by default: results are mostly base64 of compressed
    #: images, where deflate saves little and costs ~30 ms of CPU per MB each way.
    ws_compression: bool = False
    #: Decoded pixel-count limit for every input image (decompression bombs).
    max_pixels: int = Field(64 * MiB, ge=1)
    #: Tasks waiting for a worker; one more gets ``serviceUnavailable``.
    queue_size: int = Field(64, ge=1)
    #: Tasks run at the same time (threads). GPU engines additionally run one at a time.
    workers: int = Field(2, ge=1, le=64)
    #: Seconds a task may run, all its results together, before it ends with ``timeoutProvider``
    #: (a hostile input cannot hold a worker for long); 0: no limit. The default is the Runware SDK's
    #: own wait for a synchronous result.
    task_timeout: float = Field(300.0, ge=0)

    # --- outbound HTTP (read by strata.net.fetch and strata.tasks.delivery) ----------------------
    #: Host names or CIDR blocks that may be fetched even though they resolve to private, loopback,
    #: link-local or multicast addresses (tests, private deployments). Comma-separated.
    allow_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: Allow every private address (only for closed networks).
    allow_private_networks: bool = False
    fetch_timeout: float = Field(20.0, gt=0)
    fetch_max_bytes: int = Field(32 * MiB, ge=1024)
    fetch_max_redirects: int = Field(5, ge=0, le=20)
    #: Attempts for a webhook POST or an ``uploadEndpoint`` PUT before giving up.
    delivery_attempts: int = Field(3, ge=1, le=10)
    delivery_timeout: float = Field(10.0, gt=0)
    #: Seconds before the first delivery retry; doubled for each further one.
    delivery_backoff: float = Field(0.5, ge=0, le=60)

    # --- models -----------------------------------------------------------------------------------
    #: Local diffusers folder of Qwen-Image-Layered; without it ``alibaba:qwen-image@layered`` is unavailable.
    qwen_model_path: Path | None = None
    #: Local transformers image-classification model for ``safety.checkContent``.
    safety_model_path: Path | None = None
    #: NSFW probability (sum over the model's NSFW labels) at or above which ``NSFWContent`` is true.
    safety_threshold: float = Field(0.5, gt=0, le=1)
    #: JSON file overriding the price model of :mod:`strata.pricing` (see docs/server.md).
    pricing_file: Path | None = None

    @field_validator("api_keys", "allow_hosts", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment plus ``overrides``; a bad value is one clear StrataError."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(part) for part in first["loc"])
        raise InvalidParameter(f"bad setting STRATA_{name.upper()}: {first['msg']}", parameter=name) from None
