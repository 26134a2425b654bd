"""Work on the event loop: background tasks that are kept, have their exceptions logged and are cancelled on stop;
long work done in turns, so that other requests and events get theirs; and a log of repeated failures.

An outage of the database fails every event, timer and retry the same way: a log holding the same line and
traceback hundreds of times (about 500 over a 20 s PostgreSQL stop) hides the lines that say what happened.
`FaultLog` says it once, then a line a minute with a count, and once more when it is over.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class TaskSet:
    """Owns the tasks it starts: a failure is logged, never lost; `close` cancels and awaits them all."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self._faults: FaultLog | None = None  # a task stopped by a database fault: one line, not a traceback

    def spawn(self, coro: Coroutine[Any, Any, T], *, name: str | None = None) -> asyncio.Task[T]:
        """Start `coro` as a task of this set."""
        if self._closed:
            coro.close()
            raise RuntimeError(f"task set {self.name!r} is closed")
        task = asyncio.get_running_loop().create_task(coro, name=name or self.name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        if self._faults is None:
            self._faults = FaultLog(log)
        # A database fault's traceback is the group's (the same error object reaches every job of a group):
        # it showed another request's frames. Its words say what failed; a defect keeps its traceback.
        self._faults.failed(f"task:{task.get_name()}", exc, "task %s failed, its work is not done", task.get_name())

    async def join(self) -> None:
        """Wait for every task to finish on its own (their failures are logged, not raised)."""
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Cancel every task and wait for them to finish."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def __len__(self) -> int:
        return len(self._tasks)


# A piece of work yields after this much of it: 500 messages posted at once, or the 500 cards of a panel's
# snapshot, do not hold every other request for half a second. An event's request needs several turns of the
# loop, and waits a slice at each: while an agent's panel of 500 conversations opened on the simulated
# million-message day, events sent meanwhile waited 30-36 ms (p50) with 5 ms slices, 14-18 ms with 2 ms,
# 9-12 ms with 1 ms (p99 60-75, 29-47, 22-39 ms); the panel opened as fast with each (0.5-0.9 s once cached).
SLICE_S = 0.001


class Turns:
    """`await turns.take()` between the steps of one piece of work: it yields to the event loop once the work
    has run SLICE_S since it last did. Its steps stay in order."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.started = clock()

    async def take(self) -> None:
        """The others' turn, if this work has had its slice."""
        if self.clock() - self.started >= SLICE_S:
            await asyncio.sleep(0)
            self.started = self.clock()


REPEAT_EVERY_S = 60.0


def is_storage_fault(exc: BaseException) -> bool:
    """A database error that says nothing about the request: full, locked, read-only, I/O, corrupt, gone."""
    return isinstance(exc, sqlite3.DatabaseError) and not isinstance(
        exc, (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError, sqlite3.NotSupportedError)
    )


# What a caller (an unauthenticated /readyz, a chat platform's webhook) is told of a PostgreSQL fault: its kind, by
# SQLSTATE (prefixes, first match). psycopg's text names the server's address, port, role and database: for the log.
_BY_SQLSTATE = (
    ("40", "busy"), ("55P03", "busy"), ("57014", "timed out"), ("08", "cannot connect"), ("57P", "cannot connect"),
    ("28", "authentication refused"), ("53300", "no free connection"), ("53", "the server is out of resources"),
    ("25006", "read-only"),
)  # fmt: skip
# A failed or lost connection has none: libpq's words tell its kind (any other: it cannot connect).
_BY_WORDS = (
    ("password authentication failed", "authentication refused"), ("no password supplied", "authentication refused"),
    ("too many", "no free connection"), ("remaining connection slots are reserved", "no free connection"),
    ("does not exist", "no such database or role"),
    ("did not answer", "not answering"),
)  # fmt: skip


def fault_reason(exc: BaseException) -> str:
    """What a caller may be told of a database fault: a PostgreSQL fault's kind (assistant/pg gives its SQLSTATE,
    or the kind itself as `reason`); SQLite's own words, which name nothing but the fault."""
    reason = getattr(exc, "reason", None)
    if reason is not None or not hasattr(exc, "sqlstate"):
        return str(exc if reason is None else reason)
    code: str | None = exc.sqlstate
    if code is None:
        return next((kind for words, kind in _BY_WORDS if words in str(exc)), "cannot connect")
    return next((kind for prefix, kind in _BY_SQLSTATE if code.startswith(prefix)), "database error")


def on_event_loop() -> bool:
    """Whether the caller runs on an event loop (else in a thread of its own: the writer, a page's worker)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class FaultLog:
    """Logs a failure of one kind in full, then at most once every `every_s` with a count of those held back;
    `cleared` ends the run of failures (its next one is logged at once)."""

    def __init__(
        self,
        logger: logging.Logger,
        *,
        level: int = logging.ERROR,
        every_s: float = REPEAT_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self._level = level
        self._every_s = every_s
        self._clock = clock
        self._logged_at: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def log(self, kind: str, msg: str, *args: Any) -> None:
        now = self._clock()
        last = self._logged_at.get(kind)
        if last is not None and now - last < self._every_s:
            self._held[kind] = self._held.get(kind, 0) + 1
            return
        self._logged_at[kind] = now
        held = self._held.pop(kind, 0)
        if held:
            msg += " (and %d more like it since the last such line)"
            args = (*args, held)
        self._log.log(self._level, msg, *args)

    def failed(self, kind: str, exc: BaseException, msg: str, *args: Any) -> None:
        """A background task's failure: a database fault as `log` does, with its message and no traceback;
        anything else (a defect) in full, every time."""
        if is_storage_fault(exc):
            self.log(kind, msg + ": %s", *args, exc)
        else:
            self._log.error(msg, *args, exc_info=exc)

    def cleared(self, kind: str, msg: str, *args: Any) -> None:
        """The failures of `kind`, and of its sorts (`kind:…`), are over: `msg` says so, with how many were not logged."""
        if not self._logged_at:
            return  # nothing was failing (the case of every committed group's call)
        kinds = [k for k in self._logged_at if k == kind or k.startswith(f"{kind}:")]
        if not kinds:
            return
        held = 0
        for each in kinds:
            del self._logged_at[each]
            held += self._held.pop(each, 0)
        if held:
            msg += " (%d more failures were not logged one by one)"
            args = (*args, held)
        self._log.warning(msg, *args)


class Faults(logging.Filter):
    """A library logger's warnings (a line per retry through an outage: psycopg_pool's) logged through a FaultLog, as
    the service logs its own faults: a kind per message format, under `kind` (`FaultLog.cleared(kind, …)` ends a run)."""

    def __init__(self, faults: FaultLog, kind: str) -> None:
        super().__init__()
        self.faults = faults
        self.kind = kind

    @classmethod
    def install(cls, logger: str, faults: FaultLog, kind: str) -> None:
        """On the logger named `logger`, once."""
        found = logging.getLogger(logger)
        if not any(isinstance(f, cls) for f in found.filters):
            found.addFilter(cls(faults, kind))

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.WARNING:
            return True
        self.faults.log(f"{self.kind}:{record.msg}", "%s", record.getMessage())
        return False


WARN_EVERY_MS = 60_000


class Throttled:
    """A warning logged once a minute at most, with how many occurrences it stands for: a back-fill of a past
    month, or a platform whose clock runs ahead, would otherwise write a line per event and bury the rest."""

    def __init__(self, logger: logging.Logger, message: str) -> None:
        self.logger = logger
        self.message = message  # its last %d is the count since the previous line
        self.last_ms = -WARN_EVERY_MS
        self.seen = 0

    def warn(self, now_ms: int, *args: object) -> None:
        self.seen += 1
        if now_ms - self.last_ms < WARN_EVERY_MS:
            return
        self.logger.warning(self.message, *args, self.seen)
        self.last_ms, self.seen = now_ms, 0
