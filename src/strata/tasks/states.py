"""Task states and the only function allowed to change one.

A task is ``queued`` when accepted, ``running`` while a worker holds it, then ``success`` or ``error``,
or ``cancelled`` when a client cancelled it (``taskCancel``) while it was queued or running. A task
found ``queued`` or ``running`` when the server starts was interrupted by a crash or a stop and moves
straight to ``error``, so a client polling it gets an answer instead of silence.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from strata.errors import StrataError


class TaskStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    ERROR = "error"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (TaskStatus.SUCCESS, TaskStatus.ERROR, TaskStatus.CANCELLED)

    @property
    def wire(self) -> str:
        """The status word of Runware's ``getResponse``: processing, success or error.

        Runware has no "cancelled" status; a cancelled task answers ``error`` items with the code
        ``taskCancelled``, which is how Runware's newer SDK reports it.
        """
        if not self.terminal:
            return "processing"
        return "success" if self is TaskStatus.SUCCESS else "error"


ALLOWED: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.QUEUED: frozenset({TaskStatus.RUNNING, TaskStatus.ERROR, TaskStatus.CANCELLED}),
    TaskStatus.RUNNING: frozenset({TaskStatus.SUCCESS, TaskStatus.ERROR, TaskStatus.CANCELLED}),
    TaskStatus.SUCCESS: frozenset(),
    TaskStatus.ERROR: frozenset(),
    TaskStatus.CANCELLED: frozenset(),
}


class InvalidTransition(StrataError):
    code = "internalServerError"


class HasStatus(Protocol):
    task_uuid: str
    status: TaskStatus


def transition(record: HasStatus, new: TaskStatus) -> None:
    """Move ``record`` to ``new`` or raise :class:`InvalidTransition`; nothing else assigns a status."""
    if new not in ALLOWED[record.status]:
        raise InvalidTransition(f"task {record.task_uuid}: {record.status} -> {new} is not allowed")
    record.status = new
