"""The single writer of an instance: group-commits every write in flight in one transaction (SQLite or PostgreSQL)."""

from __future__ import annotations

import asyncio
import copy
import logging
import queue
import random
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

from assistant import logfile, pg, store, upgrade
from assistant.logfile import groups
from assistant.tasks import FaultLog

log = logging.getLogger(__name__)
T = TypeVar("T")
Job = Callable[[sqlite3.Connection], Any]
Queued = tuple[Job, "asyncio.Future[Any]", bool, float]  # a job, its future, `together`, when it was submitted


class Batched(Protocol):
    """A job whose neighbours of the same class in a group run as one call (one INSERT for many events)."""

    def __call__(self, conn: sqlite3.Connection) -> Any: ...

    @classmethod
    def run_batch(cls, conn: sqlite3.Connection, jobs: Sequence[Any]) -> list[Any]:
        """Each job's value, in order, as if each had been called alone."""
        ...


class WriterClosed(RuntimeError):
    """The writer no longer accepts work (the service is stopping)."""


class StorageError(RuntimeError):
    """The database cannot be opened or written at start; the message names the file and the reason."""


class FileChanged(sqlite3.OperationalError):
    """The SQLite file, its -wal or its -shm was deleted or replaced while the service ran: nothing is written."""

    def __init__(self, message: str, mode: str) -> None:
        super().__init__(message)
        self.mode = mode  # the checkpoint that copies the writer's -wal into the file it opened (logfile.fold_back)


_BUSY = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED: another connection holds the lock; it passes


def is_busy(exc: BaseException) -> bool:
    """A database error that only says another process holds the lock right now."""
    return getattr(exc, "sqlite_errorcode", None) in _BUSY


def lost_race(exc: BaseException) -> bool:
    """A PostgreSQL deadlock or serialization failure: the transaction lost to another and may run again."""
    return bool(getattr(exc, "lost_race", False))


# On SQLite a job waits for another process's lock at most busy_timeout_s from its submission, queueing included:
# a group's BEGIN waits only what its oldest job has left. (A job queued behind a group that was already waiting
# waited that group's timeout, then its own: twice busy_timeout_s before its 503.) Lowered only past this slack.
LOCK_WAIT_SLACK_S = 0.1
# How often the start, and the writes that may run again (stale follow-up records), try again while a PostgreSQL
# server dropped the writer's connection (a restart, a failover): until it is back, or the service stops.
RECONNECT_PAUSE_S = 0.5
GROUP_RETRIES = 3  # a group that lost a race to another instance's transaction runs again this many times
RETRY_PAUSE_S = 0.02  # at most this long before the first rerun (random, so that two losers do not meet again)

# The -wal grows while a reader holds an old snapshot (a report over a big day), about 50 kB an event; SQLite starts
# it over once the reader is gone and all is folded back (logfile/apart.py), but shrinks it only to this size.
# Above the 16 MB between two checkpoints (logfile/apart.py's AUTOCHECKPOINT), so the steady state never truncates.
WAL_LIMIT_BYTES = 64 * 1024 * 1024

WRITER_MARGIN_S = 3.0  # on PostgreSQL, past a lock's wait (busy_timeout_s)


def writer_answer_s(busy_timeout_s: float) -> float:
    """How long the writer waits for the server's answer to a statement: a lock's wait and then some. Past
    it the group answers 503 and the next one opens a new connection."""
    return busy_timeout_s + WRITER_MARGIN_S


_PROBED = object()
FAULT_MEMORY_S = 30.0  # a write that failed for lack of space keeps /readyz red this long, unless ...
RECHECK_S = 1.0  # ... a probe, at most one a second, commits with room on the disk again (ROOM_BYTES)
SQLITE_FILES = ("", "-wal", "-shm")  # the database file and the two beside it, by their suffixes
ROOM_BYTES = 4 * 1024 * 1024  # what a group's pages need in the -wal file: a probe's one page is not enough
_SQLITE_FULL = 13


def _probe(conn: sqlite3.Connection) -> None:
    # A write that changes nothing (the header's user version, unused by the migrations): it fails
    # like an event would on a full disk, a read-only file or a lock held too long.
    if isinstance(conn, pg.Connection):
        return pg.probe_writes(conn)  # a read-only server, a table another session locked
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    conn.execute(f"PRAGMA user_version = {int(version)}")


class Writer:
    """Runs write jobs on one connection in one thread; concurrent jobs share one commit.

    Each job runs inside its own SAVEPOINT, so a failing job is rolled back alone and the
    others of the group still commit. A job's future resolves only after the COMMIT.

    A job submitted `together=True` only touches the connection, so it may run twice: the consecutive
    such jobs of a group share one savepoint, and if one of them fails, that savepoint is rolled back and
    each of them runs again in its own (the failing one is still rolled back alone). The events of a
    busy webhook are logged this way: a savepoint per event costs more than the event's own rows. Within
    such a run, consecutive jobs of one `Batched` class are handed to it together (`run_batch`).

    On PostgreSQL, instances' transactions can deadlock (or fail to serialize): the database then aborts
    one of them, which holds locks from its earlier jobs too, so rerunning the failed job inside it could
    only meet the same cycle. A group whose jobs all may run twice is rolled back whole and run again
    (up to GROUP_RETRIES times, after a short random pause), as PostgreSQL advises; in a group that holds
    a job that may not, the rest commits and the jobs that may run twice and lost run again in a group of
    their own; a job that may not run twice and lost fails as any other.
    """

    def __init__(
        self,
        path: store.Location | str,
        *,
        max_group: int = 5000,
        busy_timeout_s: float = store.BUSY_TIMEOUT_S,
        wal_limit_bytes: int = WAL_LIMIT_BYTES,
        repair: bool = True,
        wal_warn_bytes: int = logfile.WAL_WARN_BYTES,
    ) -> None:
        """Open and migrate the database; `repair`: derive what older releases left underived too (the service
        does it as a step of its own, `prepare`, which a stop may end)."""
        self.path: store.Location = path if isinstance(path, pg.Location) else Path(path)
        self.max_group = max_group
        self.busy_timeout_s = busy_timeout_s
        if isinstance(self.path, pg.Location):  # a connection of its own, outside the readers' pool
            self._conn = cast(sqlite3.Connection, pg.connect_direct(self.path, busy_timeout_s=busy_timeout_s))
        else:
            self.wal_limit_bytes = wal_limit_bytes
            self._conn = self._open_sqlite()
        try:
            upgrade.migrate(self._conn, repair=repair)
            if isinstance(self._conn, pg.Connection):
                upgrade.warn_if_short_of_connections(self._conn)
                # Bounded once migrated (a migration may rightly take long): events answer 503, not never.
                self._conn.answer_within_s = writer_answer_s(busy_timeout_s)
        except BaseException:
            self._conn.close()
            raise
        # The files the connection writes to, once migrated (the -wal and -shm exist then): one deleted or replaced
        # under the service (an operator's rm or mv) took every later event into a file no one read, each a 200.
        self._files = () if isinstance(self.path, pg.Location) else tuple(f"{self.path}{s}" for s in SQLITE_FILES)
        self._identity = logfile.identities(self._files) if self._files else None
        self._watch = None if isinstance(self.path, pg.Location) else logfile.Watch(self.path)  # overwritten in place
        self.wal = logfile.WalGrowth(Path(str(self.path)), wal_warn_bytes)  # the -wal's size, said past wal_warn_bytes
        self._folded = False  # the commits of a -wal deleted under the service were copied into the database file
        self._stuck = False  # a failed group's ROLLBACK failed too: the next group opens a new SQLite connection
        self._renewed = False  # that connection's -wal and -shm are new files (the old closed last deleted them)
        # The group loop runs in its own thread: it starts the next group as soon as a COMMIT returns, not
        # when the event loop next gets round to it (under load the loop is busy with other requests, and
        # every request queued behind the writer waited for that turn too).
        self._queue: queue.SimpleQueue[Queued | None] = queue.SimpleQueue()
        self._began = False  # the current group's BEGIN went through (its jobs ran)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Future[None] | None = None
        self._closed = False
        self.commits = 0
        self.jobs = 0
        self.groups = groups.GroupStats()  # their sizes and their jobs' waits for BEGIN (GET /v1/admin/writer)
        self.group_since: float | None = None  # when the group being committed now was taken (/readyz: how long)
        # The last write that failed on the database itself (full, read-only, I/O), and when.
        self.fault: tuple[float, sqlite3.Error] | None = None
        self._rechecked = -RECHECK_S  # when /readyz last probed past a remembered fault
        # The writer's failures, and the requests answered 503 for a database fault (web/errors.py): an outage
        # is a line a minute with a count, and a line when writes go through again.
        self.faults = FaultLog(log)

    def prepare(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """`job(conn)` on the writer's connection before its thread starts, in the caller's thread, outside any
        group (a start's repair of the log, its own transactions)."""
        if self._thread is not None:
            raise RuntimeError("the writer has started")
        return job(self._conn)

    @property
    def lost(self) -> bool:
        """The server dropped the PostgreSQL connection (a restart, a failover): `reconnect` before the start."""
        return isinstance(self._conn, pg.Connection) and self._conn.lost

    @property
    def session(self) -> int | None:
        """The PostgreSQL server's process serving the writer's connection (None on SQLite): what it waits for."""
        return self._conn.session if isinstance(self._conn, pg.Connection) else None

    @property
    def started(self) -> bool:
        """Its thread runs the jobs (`submit`); before, `prepare` runs them in the caller's thread."""
        return self._thread is not None

    def reconnect(self) -> None:
        """Before the writer's thread starts: a connection the server dropped replaced (raises while it is down)."""
        if self._thread is not None:
            raise RuntimeError("the writer has started")
        self._reconnect()

    def start(self) -> None:
        """Start the writer thread; its results are delivered on the running loop."""
        if self._thread is None:
            self._loop = asyncio.get_running_loop()
            self._stopped = self._loop.create_future()
            self._thread = threading.Thread(target=self._run, name="sqlite-writer", daemon=True)
            self._thread.start()

    async def submit(self, job: Callable[[sqlite3.Connection], T], *, together: bool = False) -> T:
        """Run `job(conn)` in the next group transaction and return its result once committed.

        `together`: the job changes nothing but the database (it may run again), so it can share a
        savepoint with its neighbours in the group (see the class).
        """
        if self._closed:
            raise WriterClosed("the writer is closed")
        self.start()
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put((job, future, together, time.monotonic()))
        return await future

    async def probe(self) -> sqlite3.Error | None:
        """None if the database takes writes now, else the error.

        A write that changes nothing is committed; and a recent write that failed on the database
        itself counts too (a full disk refuses an event's new pages before it refuses the probe).
        """
        fault = self.fault
        if fault is not None and time.monotonic() - fault[0] < FAULT_MEMORY_S:
            # Remembered, but checked again (once a second): an orchestrator that routes by readiness sends no
            # event to clear it, and the service stayed out of rotation 30 s after the disk had room again.
            if time.monotonic() - self._rechecked < RECHECK_S or not self._room_again(fault[1]):
                return fault[1]
            self._rechecked = time.monotonic()
        try:
            await self.submit(_probe)
        except sqlite3.Error as exc:
            return exc
        if fault is not None and self.fault is fault:
            self.fault = None
        return None

    def _room_again(self, exc: sqlite3.Error) -> bool:
        """Whether a probe may tell: after a full disk, only once the log's disk has room for a group again."""
        if getattr(exc, "sqlite_errorcode", None) != _SQLITE_FULL or isinstance(self.path, pg.Location):
            return True
        try:
            return shutil.disk_usage(self.path.parent).free >= ROOM_BYTES
        except OSError:
            return False

    def _note(self, exc: BaseException) -> None:
        if isinstance(exc, sqlite3.OperationalError) and not is_busy(exc):
            self.fault = (time.monotonic(), exc)

    async def close(self) -> None:
        """Finish every queued job, commit, and close the connection."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None and self._stopped is not None:
            self._queue.put(None)
            await self._stopped  # every group before it is committed and settled
            self._thread.join()
        if self._watch is not None:
            self._watch.close()  # a folder of the -wal running ends first (logfile/apart.py)
        if self._watch is not None and self._watch.overwritten(self._identity == logfile.identities(self._files)):
            log.error("%s", self._watch.set_aside(self._conn))  # the connection kept open: its close would checkpoint
            return
        if not isinstance(self.path, pg.Location):
            # Everything into the database file itself, the -wal emptied: a copy of the file after a clean stop
            # is whole (one taken then held 57 of 100 events, the rest in the -wal).
            try:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                log.warning("the log's -wal file was not folded back at stop: %s", exc)
        self._conn.close()

    def _run(self) -> None:
        """The writer thread: take what is queued, commit it as one group, hand the outcomes to the loop."""
        loop = self._loop
        assert loop is not None
        stopping = False
        carried: list[Queued] = []  # jobs whose group met a lock at BEGIN with time left to wait: tried again
        while not stopping:
            if carried:
                group, carried = carried, []
            else:
                first = self._queue.get()
                if first is None:
                    break
                group = [first]
            stopping = groups.fill(group, self._queue, self.max_group)
            lock_wait_s = self._lock_wait(group)
            self._began = False
            self.group_since = time.monotonic()
            self.groups.add(self.group_since, [q[3] for q in group])
            try:
                outcome: list[tuple[bool, Any]] | BaseException = self._commit_group(
                    [(job, together) for job, _, together, _ in group], lock_wait_s=lock_wait_s
                )
            except Exception as exc:  # the COMMIT itself failed: nothing of the group is durable
                outcome = exc
                if lock_wait_s is not None and not self._began and is_busy(exc) and not stopping:
                    group, carried = self._out_of_time(group)
            except BaseException as exc:  # e.g. a job that called sys.exit: its group fails, the thread goes on
                outcome = RuntimeError(f"a write job stopped with {exc!r}; its group was rolled back")
            self.group_since = None
            if not _deliver(loop, self._settle, group, outcome):
                return  # the loop is gone: nobody waits for these
        _deliver(loop, _finish, self._stopped)

    def _lock_wait(self, group: list[Queued]) -> float | None:
        """How long this group's BEGIN may wait for another process's lock (SQLite; None: the full wait)."""
        if isinstance(self.path, pg.Location):
            return None
        return max(0.0, self.busy_timeout_s - (time.monotonic() - min(q[3] for q in group)))

    def _out_of_time(self, group: list[Queued]) -> tuple[list[Queued], list[Queued]]:
        """A group whose BEGIN met a lock: the jobs that have waited their busy_timeout_s fail (503), the others
        are tried again in the next group with what they have left (the oldest fails in any case)."""
        now = time.monotonic()
        late = [q for q in group if now - q[3] >= self.busy_timeout_s - LOCK_WAIT_SLACK_S]
        if not late:
            late = [min(group, key=lambda q: q[3])]
        failing = {id(q) for q in late}
        return late, [q for q in group if id(q) not in failing]

    def _settle(self, group: list[Queued], outcome: list[tuple[bool, Any]] | BaseException) -> None:
        """On the loop: resolve a committed group's futures (or fail them all when the COMMIT failed)."""
        if isinstance(outcome, BaseException):
            self.faults.log("commit", "group commit failed: %s", outcome)
            self._note(outcome)
            for _, future, _, _ in group:
                if not future.done():
                    future.set_exception(_own_copy(outcome))
            return
        wrote = False
        for (_, future, _, _), (ok, value) in zip(group, outcome):
            if not ok:
                self._note(value)
            elif value is not _PROBED:
                self.fault = None  # a real write went through
                wrote = True
            if future.done():
                continue
            if ok:
                future.set_result(None if value is _PROBED else value)
            else:
                future.set_exception(value)
        if self.wal.bytes > self.wal.warn_bytes or self.wal.said:  # a read holding the -wal: said, as it grows
            self.wal.say(time.monotonic())
        if wrote:  # once per group, not per event
            self.faults.cleared("commit", "the database takes writes again")
            self.faults.cleared("request", "requests reach the database again")

    def _open_sqlite(self) -> sqlite3.Connection:
        assert not isinstance(self.path, pg.Location)
        conn = store.connect(self.path, busy_timeout_s=self.busy_timeout_s)
        # A savepoint's journal (the pages its jobs change, to roll them back) in memory: never needed after a crash
        # (the WAL is), on disk it doubled the cost of a logged event; it holds one group's pages at most.
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute(f"PRAGMA journal_size_limit={int(self.wal_limit_bytes)}")
        conn.execute(f"PRAGMA wal_autocheckpoint={logfile.apart.AUTOCHECKPOINT}")  # its checkpoint's pages: apart.py
        return conn

    def _roll_back(self, conn: sqlite3.Connection) -> None:
        """A failed group's transaction ended. A SQLite ROLLBACK that failed too (an I/O error) left the connection
        in the transaction, every later BEGIN failed until a restart: it is closed (rolled back), the next group
        opens another."""
        if not conn.in_transaction:
            return
        if isinstance(self.path, pg.Location):
            conn.execute("ROLLBACK")
            return
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            log.error("a failed group's ROLLBACK failed too (%s); the writer opens its connection again", exc)
            self._stuck = True
            self._renewed = self._identity is not None and logfile.identities(self._files) == self._identity
            conn.close()

    def _begin(self, lock_wait_s: float | None = None) -> sqlite3.Connection:
        """BEGIN on the writer's connection. On PostgreSQL, a connection the server dropped (a restart, a
        failover) is replaced, even when it shows only now, at this BEGIN: nothing of the group ran yet, so
        it starts on the new one; a server still down fails the group (503) and the next group tries again."""
        if isinstance(self.path, pg.Location) and cast(pg.Connection, self._conn).lost:
            self._reconnect()
        if self._stuck:  # raises while it cannot be opened: that group fails (503), the next tries again
            self._conn = cast(logfile.Watch, self._watch).opened(self._open_sqlite())  # a folder's run goes on
            self._stuck = False
            log.warning("the writer's SQLite connection is open again")
        if lock_wait_s is not None and lock_wait_s < self.busy_timeout_s - LOCK_WAIT_SLACK_S:
            self._conn.execute(f"PRAGMA busy_timeout={int(lock_wait_s * 1000)}")
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            finally:
                self._conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_s * 1000)}")
            return self._conn
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error:
            if not (isinstance(self.path, pg.Location) and cast(pg.Connection, self._conn).lost):
                raise
            self._reconnect()
            self._conn.execute("BEGIN IMMEDIATE")
        return self._conn

    def _check_file(self) -> None:
        """Raise, before a COMMIT, when the SQLite file, its -wal or its -shm is no longer the one the writer opened
        (three stats a group), or the file was overwritten in place (`logfile.Watch`)."""
        if self._identity is None or self._watch is None:
            return
        # The -wal set aside is not to fold back.
        now, info, self.wal.bytes = ((), None, self.wal.bytes) if self._watch.aside else logfile.look(self._files)
        if self._renewed and now and now[0] == self._identity[0]:
            self._identity, self._renewed, self._watch = now, False, self._watch.renewed(now == self._identity)
        if not now or now == self._identity:
            if now and not self._watch.overwritten(info=info):
                return
            raise FileChanged(self._watch.set_aside(self._conn), "")  # "": nothing folded into the file put there
        if now[0] != self._identity[0]:
            # The -wal at the path (unless replaced too) holds the old file's commits: emptied, or a start after a
            # kill applied them to the file now there (a restored backup got the events it did not hold).
            raise FileChanged(
                f"the database file {self.path} was deleted or replaced while the service ran; the commits of its"
                " -wal are copied into the file the service opened, and nothing is written until the service restarts"
                " on the right file (events are answered 503 meanwhile)",
                "TRUNCATE" if now[1] == self._identity[1] else "FULL",
            )
        suffix = "-wal" if now[1] != self._identity[1] else "-shm"
        raise FileChanged(
            f"the database's {self.path}{suffix} file was deleted or replaced while the service ran; the commits"
            f" it held are copied into {self.path}, and nothing is written until the service restarts (events are"
            " answered 503 meanwhile)",
            "FULL",  # not emptied: another process may have written to a -wal it shares with a new -shm
        )

    def _reconnect(self) -> None:
        assert isinstance(self.path, pg.Location)
        fresh = pg.connect_direct(  # raises while the server is down
            self.path, busy_timeout_s=self.busy_timeout_s, answer_within_s=writer_answer_s(self.busy_timeout_s)
        )
        old, self._conn = self._conn, cast(sqlite3.Connection, fresh)
        old.close()  # psycopg closes a broken connection without a word
        log.warning("the writer's PostgreSQL connection was lost (a server restart or failover); reconnected")

    def _commit_group(
        self, jobs: list[tuple[Job, bool]], *, lock_wait_s: float | None = None
    ) -> list[tuple[bool, Any]]:
        """Commit the group. Its jobs that may run twice and lost a race to another transaction (PostgreSQL)
        while the group held others that may not (a timer's claim, a probe) run again afterwards in a
        transaction of their own: the group's other jobs are committed, and those events still get their 200
        (they were answered 503 under a mixed load of three instances)."""
        outcomes = self._commit_once(jobs, lock_wait_s)
        if not isinstance(self.path, pg.Location):
            return outcomes  # only PostgreSQL makes a transaction lose a race (SQLite's writer is alone)
        for attempt in range(GROUP_RETRIES):
            lost = [i for i, (ok, value) in enumerate(outcomes) if not ok and jobs[i][1] and lost_race(value)]
            if not lost:
                break
            log.info("%d write job(s) lost a race to another transaction; running them again", len(lost))
            time.sleep(random.uniform(0.0, RETRY_PAUSE_S) * (attempt + 1))
            for i, outcome in zip(lost, self._commit_once([jobs[i] for i in lost])):
                outcomes[i] = outcome
        return outcomes

    def _commit_once(self, jobs: list[tuple[Job, bool]], lock_wait_s: float | None = None) -> list[tuple[bool, Any]]:
        rerunnable = all(together for _, together in jobs)
        for attempt in range(GROUP_RETRIES + 1):
            conn = self._begin(lock_wait_s)
            self._began = True
            try:
                outcomes = _run_jobs(conn, jobs)
                if rerunnable and attempt < GROUP_RETRIES and any(not ok and lost_race(v) for ok, v in outcomes):
                    conn.execute("ROLLBACK")  # every lock of the group goes: the other transaction can finish
                    log.info("a write group lost a race to another transaction; running it again")
                    time.sleep(random.uniform(0.0, RETRY_PAUSE_S) * (attempt + 1))
                    continue
                self._check_file()
                conn.execute("COMMIT")
                if self._watch is not None:
                    self._watch.note(conn)  # its checkpoint may have written the file; past a long read, apart.py
            except BaseException as exc:
                self._roll_back(conn)
                if isinstance(exc, FileChanged) and exc.mode and not self._folded:
                    self._folded = logfile.fold_back(conn, exc.mode)
                raise
            break
        self.commits += 1
        self.jobs += len(jobs)
        return outcomes


def _run_jobs(conn: sqlite3.Connection, jobs: list[tuple[Job, bool]]) -> list[tuple[bool, Any]]:
    """Each job's outcome, the consecutive jobs that may run twice together, the others alone."""
    outcomes: list[tuple[bool, Any]] = []
    start = 0
    while start < len(jobs):
        end = start + 1
        while jobs[start][1] and end < len(jobs) and jobs[end][1]:
            end += 1
        run = [job for job, _ in jobs[start:end]]
        outcomes.extend(_together(conn, run) if len(run) > 1 else [_alone(conn, run[0])])
        start = end
    return outcomes


def _deliver(loop: asyncio.AbstractEventLoop, callback: Callable[..., None], *args: Any) -> bool:
    """Run `callback(*args)` on `loop` soon; False if the loop is closed."""
    try:
        loop.call_soon_threadsafe(callback, *args)
    except RuntimeError:
        log.warning("the event loop closed before the writer finished; its last outcomes are not delivered")
        return False
    return True


def _own_copy(exc: BaseException) -> BaseException:
    """A group's failure as each job's own exception: one object raised in every request of the group gathered
    their frames in its traceback, and a background task's failure was logged with another request's."""
    try:
        return copy.copy(exc).with_traceback(None)
    except Exception:  # an exception that cannot be copied: shared, as before
        return exc


def _finish(future: asyncio.Future[None] | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)


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
        values = _batched(conn, jobs)
    except Exception as exc:
        if not conn.in_transaction:
            raise
        conn.execute("ROLLBACK TO together")
        conn.execute("RELEASE together")
        with pg.lock_waited(conn, exc):  # on PostgreSQL, a lock waited for in vain is not waited for once per job
            return [_alone(conn, job) for job in jobs]
    conn.execute("RELEASE together")
    return [(True, value) for value in values]


def _batched(conn: sqlite3.Connection, jobs: list[Job]) -> list[Any]:
    """Each job's value: consecutive jobs of one `Batched` class in one `run_batch` call, the others alone."""
    values: list[Any] = []
    start = 0
    while start < len(jobs):
        kind = type(jobs[start])
        end = start + 1
        if hasattr(kind, "run_batch"):
            while end < len(jobs) and type(jobs[end]) is kind:
                end += 1
        if end - start > 1:
            values.extend(cast(type[Batched], kind).run_batch(conn, jobs[start:end]))
        else:
            values.append(jobs[start](conn))
        start = end
    return values
