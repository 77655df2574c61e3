"""The storage contract, run against the SQLite backend (add other backends to BACKENDS)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from strata.storage.base import FileKind, Storage
from strata.storage.sqlite import SQLiteStorage
from strata.tasks.records import TaskRecord
from strata.tasks.states import TaskStatus, transition


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


BACKENDS: dict[str, Callable[[Path, Clock], Storage]] = {
    "sqlite": lambda path, clock: SQLiteStorage(path, clock=clock),
}


@pytest.fixture(params=list(BACKENDS))
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Storage]:
    clock = Clock()
    return lambda: BACKENDS[request.param](tmp_path / "data", clock)


def test_tasks_round_trip_and_creation_is_once_only(make: Callable[[], Storage]) -> None:
    storage = make()
    record = TaskRecord("u1", "imageInference", fingerprint="f", number_results=2)
    assert storage.create_task(record)
    assert not storage.create_task(TaskRecord("u1", "imageUpload"))
    transition(record, TaskStatus.RUNNING)
    record.results.append({"imageUUID": "a", "seed": 3})
    storage.save_task(record)
    loaded = storage.get_task("u1")
    assert loaded is not None
    assert (loaded.status, loaded.results, loaded.fingerprint, loaded.task_type) == (
        TaskStatus.RUNNING, [{"imageUUID": "a", "seed": 3}], "f", "imageInference"
    )  # fmt: skip
    assert storage.get_task("missing") is None


def test_state_survives_reopening(make: Callable[[], Storage]) -> None:
    storage = make()
    storage.create_task(TaskRecord("queued", "imageInference"))
    done = TaskRecord("done", "imageInference")
    storage.create_task(done)
    transition(done, TaskStatus.RUNNING)
    transition(done, TaskStatus.SUCCESS)
    storage.save_task(done)
    storage.put_file(FileKind.IMAGE, "img", "img.png", b"png-bytes", "image/png", None)
    storage.close()
    reopened = make()
    assert [r.task_uuid for r in reopened.unfinished_tasks()] == ["queued"]
    assert reopened.read_file(FileKind.IMAGE, "img") == b"png-bytes"


def test_files_expire_then_sweep_removes_them_from_disk(make: Callable[[], Storage], tmp_path: Path) -> None:
    storage = make()
    clock = storage.clock  # type: ignore[attr-defined]
    storage.put_file(FileKind.OUTPUT, "o1", "o1.tiff", b"tiff", "image/tiff", clock.now + 60)
    storage.put_file(FileKind.OUTPUT, "o2", "o2.tiff", b"keep", "image/tiff", clock.now + 600)
    assert storage.read_file(FileKind.OUTPUT, "o1") == b"tiff"
    assert storage.read_file(FileKind.IMAGE, "o1") is None  # kinds are separate namespaces
    clock.now += 61
    assert storage.read_file(FileKind.OUTPUT, "o1") is None
    stored = storage.get_file(FileKind.OUTPUT, "o1")
    assert stored is not None and stored.expired(clock.now)  # known but gone: 410, not 404
    assert storage.sweep() == 1
    assert not (tmp_path / "data" / "files" / "output" / "o1.tiff").exists()
    assert (tmp_path / "data" / "files" / "output" / "o2.tiff").read_bytes() == b"keep"
    assert storage.sweep() == 0


def test_writes_are_atomic_files_under_the_data_dir(make: Callable[[], Storage], tmp_path: Path) -> None:
    storage = make()
    stored = storage.put_file(FileKind.OUTPUT, "x", "x.png", b"12345", "image/png", time.time() + 99)
    assert (stored.size, stored.media_type) == (5, "image/png")
    leftovers = [p.name for p in (tmp_path / "data" / "files" / "output").iterdir()]
    assert leftovers == ["x.png"]
