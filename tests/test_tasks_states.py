"""The task state machine: only the listed moves are possible."""

from __future__ import annotations

import pytest

from strata.tasks.records import TaskRecord
from strata.tasks.states import ALLOWED, InvalidTransition, TaskStatus, transition


@pytest.mark.parametrize("start", list(TaskStatus))
@pytest.mark.parametrize("target", list(TaskStatus))
def test_transition_follows_the_table(start: TaskStatus, target: TaskStatus) -> None:
    record = TaskRecord("t", "imageInference", status=start)
    if target in ALLOWED[start]:
        transition(record, target)
        assert record.status is target
    else:
        with pytest.raises(InvalidTransition):
            transition(record, target)
        assert record.status is start


def test_wire_words_are_runwares() -> None:
    assert [s.wire for s in TaskStatus] == ["processing", "processing", "success", "error", "error"]
    assert [s.terminal for s in TaskStatus] == [False, False, True, True, True]
