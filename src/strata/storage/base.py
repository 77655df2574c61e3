"""The storage interface: a dozen verbs the task layer needs, nothing about SQL or Redis.

Two kinds of files are kept. ``OUTPUT`` files are served over HTTP at their URL until they expire.
``IMAGE`` files are pictures that later requests may reference by UUID: every ``imageUpload``, and the
composite of every generated result. Expiry is data (``expires_at``), checked on every read and
enforced on disk by :meth:`Storage.sweep`. An expired file reads as "gone", not as "unknown", so the
HTTP layer can answer 410 instead of 404.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from strata.tasks.records import StoredFile, TaskRecord


class FileKind(StrEnum):
    OUTPUT = "output"
    IMAGE = "image"


class Storage(Protocol):
    """Durable state of the server. Implementations must be safe to call from several threads."""

    def create_task(self, record: TaskRecord) -> bool:
        """Insert ``record``; False (and no change) if its taskUUID exists already."""
        ...

    def get_task(self, task_uuid: str) -> TaskRecord | None:
        """The stored record, or None."""
        ...

    def save_task(self, record: TaskRecord) -> None:
        """Overwrite the status, results and errors of an existing record."""
        ...

    def unfinished_tasks(self) -> list[TaskRecord]:
        """Records still ``queued`` or ``running`` (after a restart: interrupted ones)."""
        ...

    def put_file(
        self, kind: FileKind, file_id: str, name: str, data: bytes, media_type: str, expires_at: float | None
    ) -> StoredFile:
        """Write ``data`` atomically and record it; ``name`` carries the extension."""
        ...

    def get_file(self, kind: FileKind, file_id: str) -> StoredFile | None:
        """Metadata of a file, expired or not; None if it never existed."""
        ...

    def read_file(self, kind: FileKind, file_id: str) -> bytes | None:
        """The bytes of a live file; None if unknown or expired."""
        ...

    def sweep(self) -> int:
        """Delete expired files from disk (their metadata stays, for 410); returns how many."""
        ...

    def close(self) -> None:
        """Release connections and handles."""
        ...
