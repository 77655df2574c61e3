"""The embedded default storage: metadata in one SQLite file, file bytes under the data dir.

Layout of ``data_dir``::

    strata.sqlite3          tasks and files tables (WAL mode)
    files/output/<id>.<ext> generated files served by URL
    files/image/<id>.<ext>  uploads and generated composites, referenceable by UUID

SQLite is opened once with ``check_same_thread=False`` and guarded by a lock, because the event loop and
the worker threads both use it; every statement is short.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from strata.errors import OutputError
from strata.exporters import atomic_write
from strata.storage.base import FileKind
from strata.tasks.records import StoredFile, TaskRecord
from strata.tasks.states import TaskStatus

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    task_uuid TEXT PRIMARY KEY,
    task_type TEXT NOT NULL,
    status TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    number_results INTEGER NOT NULL,
    results TEXT NOT NULL,
    errors TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_status ON tasks (status);
CREATE TABLE IF NOT EXISTS files (
    kind TEXT NOT NULL,
    file_id TEXT NOT NULL,
    name TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    expires_at REAL,
    deleted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, file_id)
);
CREATE INDEX IF NOT EXISTS files_expiry ON files (deleted, expires_at);
"""


class SQLiteStorage:
    """:class:`~strata.storage.base.Storage` on SQLite plus plain files; ``clock`` is injectable for tests."""

    def __init__(self, data_dir: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.data_dir = Path(data_dir)
        self.clock = clock
        try:
            for kind in FileKind:
                (self.data_dir / "files" / kind.value).mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.data_dir / "strata.sqlite3", check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise OutputError(f"cannot use the data dir {self.data_dir}: {exc}") from None
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)

    # --- tasks --------------------------------------------------------------------------------------

    def create_task(self, record: TaskRecord) -> bool:
        with self._lock, self._db:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO tasks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", _task_row(record)
            )
            return cursor.rowcount == 1

    def get_task(self, task_uuid: str) -> TaskRecord | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM tasks WHERE task_uuid = ?", (task_uuid,)).fetchone()
        return None if row is None else _task_from_row(row)

    def save_task(self, record: TaskRecord) -> None:
        record.updated_at = self.clock()
        # Serialised before taking the lock: inline outputs make this JSON large, and other threads
        # (and short reads from the event loop) should not wait for it.
        row = (
            record.status.value,
            json.dumps(record.results),
            json.dumps(record.errors),
            record.updated_at,
            record.task_uuid,
        )
        with self._lock, self._db:
            self._db.execute(
                "UPDATE tasks SET status = ?, results = ?, errors = ?, updated_at = ? WHERE task_uuid = ?",
                row,
            )

    def unfinished_tasks(self) -> list[TaskRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM tasks WHERE status IN (?, ?) ORDER BY created_at",
                (TaskStatus.QUEUED.value, TaskStatus.RUNNING.value),
            ).fetchall()
        return [_task_from_row(row) for row in rows]

    # --- files --------------------------------------------------------------------------------------

    def put_file(
        self, kind: FileKind, file_id: str, name: str, data: bytes, media_type: str, expires_at: float | None
    ) -> StoredFile:
        atomic_write(self._path(kind, file_id, name), data)
        stored = StoredFile(file_id, name, media_type, len(data), expires_at)
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, 0)",
                (kind.value, file_id, name, media_type, len(data), expires_at),
            )
        return stored

    def get_file(self, kind: FileKind, file_id: str) -> StoredFile | None:
        with self._lock:
            row = self._db.execute(
                "SELECT file_id, name, media_type, size, expires_at FROM files"
                " WHERE kind = ? AND file_id = ?",
                (kind.value, file_id),
            ).fetchone()
        return None if row is None else StoredFile(*row)

    def read_file(self, kind: FileKind, file_id: str) -> bytes | None:
        stored = self.get_file(kind, file_id)
        if stored is None or stored.expired(self.clock()):
            return None
        try:
            return self._path(kind, file_id, stored.name).read_bytes()
        except FileNotFoundError:
            return None

    def sweep(self) -> int:
        now = self.clock()
        with self._lock:
            rows = self._db.execute(
                "SELECT kind, file_id, name FROM files WHERE deleted = 0 AND expires_at <= ?", (now,)
            ).fetchall()
        for kind, file_id, name in rows:
            self._path(FileKind(kind), file_id, name).unlink(missing_ok=True)
        with self._lock, self._db:
            self._db.executemany(
                "UPDATE files SET deleted = 1 WHERE kind = ? AND file_id = ?",
                [(kind, file_id) for kind, file_id, _ in rows],
            )
        return len(rows)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _path(self, kind: FileKind, file_id: str, name: str) -> Path:
        # The id is a server-made UUID and the suffix comes from our own format table: no user text here.
        return self.data_dir / "files" / kind.value / f"{file_id}{Path(name).suffix}"


def _task_row(record: TaskRecord) -> tuple[object, ...]:
    return (
        record.task_uuid,
        record.task_type,
        record.status.value,
        record.fingerprint,
        record.number_results,
        json.dumps(record.results),
        json.dumps(record.errors),
        record.created_at,
        record.updated_at,
    )


def _task_from_row(row: tuple[object, ...]) -> TaskRecord:
    uuid, task_type, status, fingerprint, number, results, errors, created, updated = row
    return TaskRecord(
        task_uuid=str(uuid),
        task_type=str(task_type),
        status=TaskStatus(str(status)),
        fingerprint=str(fingerprint),
        number_results=int(number),  # type: ignore[call-overload]
        results=json.loads(str(results)),
        errors=json.loads(str(errors)),
        created_at=float(created),  # type: ignore[arg-type]
        updated_at=float(updated),  # type: ignore[arg-type]
    )
