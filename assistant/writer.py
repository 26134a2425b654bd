"""The single writer of an instance: group-commits every write in flight in one transaction (SQLite or PostgreSQL)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar, cast

from assistant import pg, schema, store
from assistant.tasks import TaskSet

log = logging.getLogger(__name__)
T = TypeVar("T")
Job = Callable[[sqlite3.Connection], Any]


class WriterClosed(RuntimeError):
    """The writer no longer accepts work (the service is stopping)."""


class StorageError(RuntimeError):
    """The database cannot be opened or written at start; the message names the file and the reason."""


_BUSY = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED: another connection holds the lock; it passes


def is_busy(exc: BaseException) -> bool:
    """A database error that only says another process holds the lock right now."""
    return getattr(exc, "sqlite_errorcode", None) in _BUSY


_PROBED = object()
FAULT_MEMORY_S = 30.0  # a write that failed for lack of space keeps /readyz red this long


def _probe(conn: sqlite3.Connection) -> None:
    # A write that changes nothing (the header's user version, unused by the migrations): it fails
    # like an event would on a full disk, a read-only file or a lock held too long.
    if store.dialect(conn) == "postgresql":
        conn.execute("SELECT pg_current_xact_id()")  # takes a transaction id: refused by a read-only server
        return
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    conn.execute(f"PRAGMA user_version = {int(version)}")


class Writer:
    """Runs write jobs on one connection in one thread; concurrent jobs share one commit.

    Each job runs inside its own SAVEPOINT, so a failing job is rolled back alone and the
    others of the group still commit. A job's future resolves only after the COMMIT.

    A job submitted `together=True` only touches the connection, so it may run twice: the consecutive
    such jobs of a group share one savepoint, and if one of them fails, that savepoint is rolled back and
    each of them runs again in its own (the failing one is still rolled back alone). The events of a
    busy webhook are logged this way: a savepoint per event costs more than the event's own rows.
    """

    def __init__(
        self, path: store.Location | str, *, max_group: int = 5000, busy_timeout_s: float = store.BUSY_TIMEOUT_S
    ) -> None:
        self.path: store.Location = path if isinstance(path, pg.Location) else Path(path)
        self.max_group = max_group
        if isinstance(self.path, pg.Location):  # a connection of its own, outside the readers' pool
            self._conn = cast(sqlite3.Connection, pg.connect_direct(self.path, busy_timeout_s=busy_timeout_s))
        else:
            self._conn = store.connect(self.path, busy_timeout_s=busy_timeout_s)
            # A savepoint's journal (the pages its jobs change, to roll them back) kept in memory, not in a
            # temporary file: it is never needed after a crash (the WAL is), and on disk it doubled the cost
            # of a logged event. It holds one group's pages at most.
            self._conn.execute("PRAGMA temp_store=MEMORY")
        try:
            schema.migrate(self._conn)
        except BaseException:
            self._conn.close()
            raise
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._queue: asyncio.Queue[tuple[Job, asyncio.Future[Any], bool] | None] = asyncio.Queue()
        self._tasks = TaskSet("sqlite-writer")
        self._started = False
        self._closed = False
        self.commits = 0
        self.jobs = 0
        # The last write that failed on the database itself (full, read-only, I/O), and when.
        self.fault: tuple[float, sqlite3.Error] | None = None

    def start(self) -> None:
        """Start the writer task on the running loop."""
        if not self._started:
            self._started = True
            self._tasks.spawn(self._run(), name="sqlite-writer")

    async def submit(self, job: Callable[[sqlite3.Connection], T], *, together: bool = False) -> T:
        """Run `job(conn)` in the next group transaction and return its result once committed.

        `together`: the job changes nothing but the database (it may run again), so it can share a
        savepoint with its neighbours in the group (see the class).
        """
        if self._closed:
            raise WriterClosed("the writer is closed")
        self.start()
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((job, future, together))
        return await future

    async def probe(self) -> sqlite3.Error | None:
        """None if the database takes writes now, else the error.

        A write that changes nothing is committed; and a recent write that failed on the database
        itself counts too (a full disk refuses an event's new pages before it refuses the probe).
        """
        if self.fault is not None and time.monotonic() - self.fault[0] < FAULT_MEMORY_S:
            return self.fault[1]
        try:
            await self.submit(_probe)
        except sqlite3.Error as exc:
            return exc
        return None

    def _note(self, exc: BaseException) -> None:
        if isinstance(exc, sqlite3.OperationalError) and not is_busy(exc):
            self.fault = (time.monotonic(), exc)

    async def close(self) -> None:
        """Finish every queued job, commit, and close the connection."""
        if self._closed:
            return
        self._closed = True
        if self._started:
            self._queue.put_nowait(None)
            await self._tasks.join()
        self._executor.submit(self._conn.close).result()
        self._executor.shutdown(wait=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                break
            group = [first]
            while len(group) < self.max_group and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    stopping = True
                    break
                group.append(item)
            try:
                jobs = [(job, together) for job, _, together in group]
                outcomes = await loop.run_in_executor(self._executor, self._commit_group, jobs)
            except Exception as exc:  # the COMMIT itself failed: nothing of the group is durable
                log.error("group commit failed: %s", exc)
                self._note(exc)
                for _, future, _ in group:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future, _), (ok, value) in zip(group, outcomes):
                if not ok:
                    self._note(value)
                elif value is not _PROBED:
                    self.fault = None  # a real write went through
                if future.done():
                    continue
                if ok:
                    future.set_result(None if value is _PROBED else value)
                else:
                    future.set_exception(value)

    def _commit_group(self, jobs: list[tuple[Job, bool]]) -> list[tuple[bool, Any]]:
        conn = self._conn
        outcomes: list[tuple[bool, Any]] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            start = 0
            while start < len(jobs):
                end = start + 1
                while jobs[start][1] and end < len(jobs) and jobs[end][1]:
                    end += 1
                run = [job for job, _ in jobs[start:end]]
                outcomes.extend(_together(conn, run) if len(run) > 1 else [_alone(conn, run[0])])
                start = end
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self.commits += 1
        self.jobs += len(jobs)
        return outcomes


def _alone(conn: sqlite3.Connection, job: Job) -> tuple[bool, Any]:
    """Run one job in its own savepoint: (True, its value), or (False, its exception) with its work undone."""
    conn.execute("SAVEPOINT job")
    try:
        value = job(conn)
        if job is _probe:
            value = _PROBED
    except Exception as exc:
        if not conn.in_transaction:  # SQLite rolled the whole transaction back (full disk, I/O)
            raise exc from None
        conn.execute("ROLLBACK TO job")
        conn.execute("RELEASE job")
        return False, exc
    conn.execute("RELEASE job")
    return True, value


def _together(conn: sqlite3.Connection, jobs: list[Job]) -> list[tuple[bool, Any]]:
    """Run jobs that may run twice in one savepoint; if one fails, undo them all and run each alone."""
    conn.execute("SAVEPOINT together")
    try:
        values = [job(conn) for job in jobs]
    except Exception:
        if not conn.in_transaction:
            raise
        conn.execute("ROLLBACK TO together")
        conn.execute("RELEASE together")
        return [_alone(conn, job) for job in jobs]
    conn.execute("RELEASE together")
    return [(True, value) for value in values]
