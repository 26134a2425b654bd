"""The fault log: a database outage fails everything alike; the log says so once, then counts."""

from __future__ import annotations

import asyncio
import logging
import sqlite3

import pytest

from assistant.tasks import FaultLog, TaskSet, is_storage_fault
from tests.helpers import Ticks


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "t"]


def test_faults_a_run_of_failures_is_one_line_a_minute_with_a_count(caplog: pytest.LogCaptureFixture) -> None:
    ticks = Ticks()
    faults = FaultLog(logging.getLogger("t"), every_s=60, clock=ticks)
    for n in range(5):
        ticks.now = n
        faults.log("commit", "group commit failed: %s", "refused")
    assert lines(caplog) == ["group commit failed: refused"]
    ticks.now = 61
    faults.log("commit", "group commit failed: %s", "refused")
    faults.log("other", "persisting failed")  # each kind on its own
    assert lines(caplog)[1:] == [
        "group commit failed: refused (and 4 more like it since the last such line)",
        "persisting failed",
    ]
    faults.log("commit", "group commit failed: %s", "refused")
    faults.cleared("commit", "the database takes writes again")
    faults.cleared("commit", "the database takes writes again")  # nothing failing: nothing to say
    assert lines(caplog)[3:] == ["the database takes writes again (1 more failures were not logged one by one)"]
    faults.log("commit", "group commit failed: %s", "full")  # a new run is logged at once
    assert lines(caplog)[-1] == "group commit failed: full"


def test_faults_a_defect_is_logged_in_full_every_time(caplog: pytest.LogCaptureFixture) -> None:
    faults = FaultLog(logging.getLogger("t"), clock=Ticks())
    for _ in range(2):
        faults.failed("fire", ValueError("a bug"), "firing %d timers failed", 3)
    assert [(r.getMessage(), r.exc_info is not None) for r in caplog.records] == [
        ("firing 3 timers failed", True),
        ("firing 3 timers failed", True),
    ]
    caplog.clear()
    for _ in range(2):
        faults.failed("fire", sqlite3.OperationalError("disk I/O error"), "firing %d timers failed", 3)
    assert [(r.getMessage(), r.exc_info) for r in caplog.records] == [("firing 3 timers failed: disk I/O error", None)]


def test_faults_what_counts_as_the_databases_fault() -> None:
    assert is_storage_fault(sqlite3.OperationalError("database is locked"))
    assert is_storage_fault(sqlite3.DatabaseError("file is not a database"))
    assert not is_storage_fault(sqlite3.IntegrityError("UNIQUE constraint failed"))
    assert not is_storage_fault(ValueError("x"))


async def test_faults_a_task_stopped_by_the_database_is_one_line_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A paid check that met a locked database was logged with a full traceback: another request's, as one error
    # object reached every job of the writer's group.
    tasks = TaskSet("t")

    async def locked() -> None:
        raise sqlite3.OperationalError("database is locked")

    async def defect() -> None:
        raise ValueError("a bug")

    for work in (locked, locked, defect):
        await asyncio.gather(tasks.spawn(work(), name="followups-paid-check"), return_exceptions=True)
    records = [
        (r.levelno, r.getMessage(), r.exc_info is not None) for r in caplog.records if r.name == "assistant.tasks"
    ]
    assert records == [
        (logging.ERROR, "task followups-paid-check failed, its work is not done: database is locked", False),
        (logging.ERROR, "task followups-paid-check failed, its work is not done", True),  # a defect: in full
    ]
