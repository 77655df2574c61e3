"""What the task layer keeps about a task: the validated request and the stored record."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from strata.tasks.states import TaskStatus


@dataclass(frozen=True)
class InferenceSpec:
    """A validated ``imageInference`` request, free of wire details (built by ``api.runware``)."""

    task_uuid: str
    model: str
    engine: str
    reference: str
    layers: int
    number_results: int = 1
    seed: int | None = None
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    output_types: tuple[str, ...] = ("URL",)
    output_format: str = "TIFF"
    output_quality: int = 95
    ttl: int | None = None
    include_cost: bool = False
    delivery: str = "sync"
    webhook_url: str | None = None
    upload_endpoint: str | None = None
    check_content: bool = False
    #: Engine option name -> value, already checked against the engine's capabilities.
    engine_options: dict[str, Any] = field(default_factory=dict)
    #: Hash of the raw request: a re-sent taskUUID with the same body re-attaches, another is a conflict.
    fingerprint: str = ""
    #: Base URL for output links (``http://host:port``).
    base_url: str = ""


@dataclass
class TaskRecord:
    """A task as stored: status plus every result item and error object already produced."""

    task_uuid: str
    task_type: str
    status: TaskStatus = TaskStatus.QUEUED
    fingerprint: str = ""
    number_results: int = 1
    results: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class StoredFile:
    """A file kept under the data dir: an output served by URL, or an image that can be referenced."""

    file_id: str
    name: str
    media_type: str
    size: int
    expires_at: float | None

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at
