"""PostgreSQL as the log's second backend: a connection that speaks the sqlite3 interface the code uses.

The queries are written once, in SQLite's dialect; `translate` (assistant/pg/sql.py) turns the few spellings that
differ into PostgreSQL's. Rows read like `sqlite3.Row` (by name and by position), numbers and truth values come back
as SQLite returns them (int, float, 0/1), and errors are raised as sqlite3's classes, so callers keep
one code path. Statements that cannot be translated live beside their SQLite twins, chosen by `dialect`.
Connections come from one psycopg_pool per database and mode; `close()` gives them back.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import errors
from psycopg.adapt import Loader
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool, PoolTimeout

from assistant.i18n import _
from assistant.pg import supervisors
from assistant.pg.sql import translate, translate_bare
from assistant.pg.supervisors import supervisors_reads as supervisors_reads
from assistant.tasks import FaultLog, Faults, on_event_loop

SCHEMES = ("postgresql://", "postgres://")


@dataclass(frozen=True)
class Location:
    """A PostgreSQL database: its URL (no password in it) and the password from the environment."""

    url: str
    password: str | None = field(default=None, repr=False, compare=True)
    password_env: str | None = field(default=None, compare=False)  # the variable it comes from, to name it

    def __str__(self) -> str:  # what logs and error messages show: never the password
        return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", self.url)


def is_url(value: str) -> bool:
    return value.startswith(SCHEMES)


def has_password(url: str) -> bool:
    """Whether a URL, or a libpq keyword string (`host=… password=…`), carries a password (secrets belong in
    environment variables, never in config)."""
    return re.match(r"^[a-z]+://[^/@:]*:[^/@]*@", url) is not None or re.search(r"password\s*=", url, re.I) is not None


# ---- rows and values as SQLite gives them --------------------------------------------------------


class Row(tuple):  # type: ignore[type-arg]
    """A result row read by position or by column name, like sqlite3.Row."""

    _index: Mapping[str, int]

    def __new__(cls, values: Iterable[Any], index: Mapping[str, int]) -> Row:
        row = super().__new__(cls, values)
        row._index = index
        return row

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return super().__getitem__(self._index[key])
        return super().__getitem__(key)

    def keys(self) -> list[str]:
        return list(self._index)


def _row_factory(cursor: Any) -> Any:
    description = cursor.description or []
    index = {column.name: i for i, column in enumerate(description)}

    def make(values: Sequence[Any]) -> Row:
        return Row(values, index)

    return make


class _NumericLoader(Loader):
    """numeric (sum() of integers, avg()) as SQLite answers: int when whole in the text, else float."""

    def load(self, data: Any) -> int | float:
        text = bytes(data).decode()
        if "." in text or "e" in text.lower() or text in ("NaN", "Infinity", "-Infinity"):
            return float(Decimal(text))
        return int(text)


class _BoolLoader(Loader):
    """A truth value as SQLite's 0 or 1."""

    def load(self, data: Any) -> int:
        return 1 if bytes(data) == b"t" else 0


# ---- errors as sqlite3's -------------------------------------------------------------------------

BUSY_CODE = 5  # sqlite3's SQLITE_BUSY: the writer treats it as "another holds the lock, it passes"


def _fault(message: str, reason: str) -> sqlite3.OperationalError:
    """A fault of this module's own as sqlite3's error; `reason` is what a caller may be told (tasks.fault_reason)."""
    fault = sqlite3.OperationalError(message)
    fault.reason = reason  # type: ignore[attr-defined]
    return fault


def _as_sqlite(exc: psycopg.Error) -> sqlite3.Error:
    message = f"{type(exc).__name__}: {' '.join(str(exc).split())}"  # one line (libpq adds a tab-indented hint)
    mapped: sqlite3.Error
    if isinstance(exc, errors.IntegrityError):
        mapped = sqlite3.IntegrityError(message)
    elif isinstance(exc, errors.DataError):
        mapped = sqlite3.DataError(message)
    else:
        mapped = sqlite3.OperationalError(message)
    if isinstance(exc, errors.LockNotAvailable | errors.DeadlockDetected | errors.SerializationFailure):
        mapped.sqlite_errorcode = BUSY_CODE  # type: ignore[attr-defined]
    if isinstance(exc, errors.DeadlockDetected | errors.SerializationFailure):
        mapped.lost_race = True  # type: ignore[union-attr]  # the whole transaction may run again (writer.py)
    mapped.sqlstate = exc.sqlstate  # type: ignore[union-attr]  # its kind is what a caller is told (tasks.fault_reason)
    return mapped


def _connect_error(exc: psycopg.Error, where: Location | str) -> sqlite3.Error:
    """A failed connection as sqlite3's error, naming the unset password variable the server asked for."""
    if isinstance(where, Location) and where.password is None and where.password_env and "no password" in str(exc):
        message = _("the server asks for a password and %(env)s ([store] password_env) is not set", env=where.password_env)  # fmt: skip
        return _fault(f"{where}: {message}", "authentication refused")
    return _as_sqlite(exc)


# ---- the connection ------------------------------------------------------------------------------

# Statements that tune SQLite alone; on PostgreSQL they have nothing to do.
_SQLITE_ONLY = re.compile(r"^\s*PRAGMA\s+(cache_size|temp_store|synchronous|journal_mode|busy_timeout)\b", re.I)


class Silent(psycopg.OperationalError):
    """The server did not answer a statement in time; the connection was closed (its state is unknown)."""


class _Bounded(psycopg.Connection[Any]):
    """A psycopg connection whose waits for the server end after `bound_s` (None: no bound). A stopped server
    whose kernel still keeps the socket open enforces no `statement_timeout` and answers keepalives."""

    bound_s: float | None = None

    @classmethod
    def connect(cls, conninfo: str = "", **kwargs: Any) -> Any:  # type: ignore[override]
        """psycopg's connect; a failure is kept (by URL) as the reason a pool that gives no connection has none."""
        try:
            conn = super().connect(conninfo, **kwargs)
        except psycopg.Error as exc:
            _refused[conninfo] = exc
            raise
        _refused.pop(conninfo, None)
        _pool_faults.cleared("pool", "connections to PostgreSQL are made again")
        with _opened_lock:
            _opened.add(conn)
        return conn

    def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        bound = self.bound_s
        if bound is None or timeout is not None:
            return super().wait(gen, interval, timeout)
        try:
            return super().wait(gen, interval, bound)
        except errors._WaitTimeout:
            self.pgconn.finish()  # nothing more can be read or sent on it: the pool discards it
            raise Silent(f"PostgreSQL did not answer within {bound:g} s") from None


class Cursor:
    """The result of one statement: rows by position or name, rowcount; lastrowid is not kept."""

    lastrowid = None

    def __init__(self, cursor: psycopg.Cursor[Any] | None) -> None:
        self._cursor = cursor
        self.rowcount = cursor.rowcount if cursor is not None else -1

    @property
    def description(self) -> Any:
        return self._cursor.description if self._cursor is not None else None

    def fetchone(self) -> Any:
        return self._fetch(lambda c: c.fetchone(), None)

    def fetchall(self) -> list[Any]:
        return list(self._fetch(lambda c: c.fetchall(), []))

    def fetchmany(self, size: int = 100) -> list[Any]:
        return list(self._fetch(lambda c: c.fetchmany(size), []))

    def __iter__(self) -> Iterator[Any]:
        while True:
            rows = self.fetchmany(500)
            if not rows:
                return
            yield from rows

    def close(self) -> None:
        if self._cursor is not None:
            self._cursor.close()

    def _fetch(self, fetch: Callable[[psycopg.Cursor[Any]], Any], empty: Any) -> Any:
        if self._cursor is None or self._cursor.description is None:
            return empty
        try:
            return fetch(self._cursor)
        except psycopg.Error as exc:
            raise _as_sqlite(exc) from exc


class Connection:
    """One PostgreSQL connection behind sqlite3's interface (autocommit: BEGIN … COMMIT are explicit)."""

    row_factory: Any = None  # rows always read by name and position

    def __init__(
        self,
        conn: _Bounded,
        pool: ConnectionPool[_Bounded] | None = None,
        *,
        wait_s: float = 5.0,
        readonly: bool = False,
        answer_within_s: float | None = None,
    ) -> None:
        self.raw = conn
        # How long a statement off the event loop waits for the server's answer (None: as long as it takes,
        # for a page's long read); on the event loop it is LOOP_ANSWER_S.
        self.answer_within_s = answer_within_s
        self._pool = pool
        self._wait_s = wait_s
        self._readonly = readonly
        self._used = False  # a statement has run (a write's outcome may be unknown after a lost connection)
        self._returned = False  # `raw` was lost and given back to the pool, and no other could be had yet
        self.closed = False

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status in (TransactionStatus.INTRANS, TransactionStatus.INERROR)

    @property
    def session(self) -> int | None:
        """The server's process serving this connection (`pg_stat_activity.pid`), None once it is closed."""
        try:
            return self.raw.info.backend_pid
        except psycopg.Error:
            return None

    @property
    def lost(self) -> bool:
        """The server dropped the connection (a restart, a failover, an administrator): it cannot be used again."""
        return bool(self.raw.closed or self.raw.broken)

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Cursor:
        if _SQLITE_ONLY.match(sql):
            return Cursor(None)
        in_transaction = self.in_transaction
        try:
            for _ in range(POOL_SIZE):
                try:
                    return self._execute(sql, params)
                except sqlite3.OperationalError:
                    if self._pool is None or not self.lost or in_transaction or (self._used and not self._readonly):
                        raise
                    if self._pool in _silent:
                        raise  # the server is not answering: another connection would wait as long
                    # The server dropped the connection (a restart, a failover) while it stood outside a
                    # transaction: on its first statement, or on a reader's (a long-held one, as the
                    # conversations' cache keeps), nothing of the statement had any effect, so it runs again on
                    # another connection of the pool (the pool's other idle ones may have been dropped too).
                    if not self._returned:
                        self._pool.putconn(self.raw)  # a broken connection is discarded there
                        self._returned = True
                    self.raw = _take(self._pool, self._wait_s, "PostgreSQL")
                    self._returned = False
            return self._execute(sql, params)
        finally:
            self._used = True

    def _execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any]) -> Cursor:
        if not params:  # psycopg sends it as it is: no placeholders, `%` as written
            return self._run(lambda cur: cur.execute(translate_bare(sql)))
        return self._run(lambda cur: cur.execute(translate(sql), params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any] | Mapping[str, Any]]) -> Cursor:
        return self._run(lambda cur: cur.executemany(translate(sql), list(rows)))

    def _run(self, statement: Callable[[psycopg.Cursor[Any]], object]) -> Cursor:
        with self._bounded():
            try:
                cur = self.raw.cursor()
            except psycopg.Error as exc:  # "the connection is closed": a database fault like any other (503)
                raise _as_sqlite(exc) from exc
            try:
                statement(cur)
            except psycopg.Error as exc:
                cur.close()
                raise _as_sqlite(exc) from exc
            return Cursor(cur)

    def executescript(self, script: str) -> None:
        """Statements separated by semicolons, without parameters (as sqlite3's executescript)."""
        with self._bounded():
            try:
                self.raw.execute(translate_bare(script).encode())
            except psycopg.Error as exc:
                raise _as_sqlite(exc) from exc

    @contextmanager
    def _bounded(self) -> Iterator[None]:
        """Bound the wait for the server's answer: LOOP_ANSWER_S on the event loop (every request of the
        instance waits with it), `answer_within_s` elsewhere. On the event loop a pool whose server was
        silent is not asked at all until a probe in a thread gets an answer from it again."""
        on_loop = on_event_loop()
        if on_loop and self._pool is not None and self._pool in _silent:
            raise _fault("PostgreSQL is not answering (Silent)", "not answering")
        self.raw.bound_s = LOOP_ANSWER_S if on_loop else self.answer_within_s
        try:
            yield
        except sqlite3.OperationalError as exc:
            if isinstance(exc.__cause__, Silent) and on_loop and self._pool is not None:
                _fall_silent(self._pool)
            raise
        finally:
            self.raw.bound_s = None

    def cursor(self) -> _Statements:
        """What `sqlite3.Connection.cursor()` gives the code: something to execute on (results are fetched whole)."""
        return _Statements(self)

    def commit(self) -> None:
        if self.in_transaction:
            self.execute("COMMIT")

    def rollback(self) -> None:
        if self.in_transaction:
            self.execute("ROLLBACK")

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._pool is not None:
            if not self._returned:
                self._pool.putconn(self.raw)  # rolled back there if a transaction was left open
        else:
            self.raw.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.commit()
        else:
            self.rollback()


class _Statements:
    """A cursor as the code uses one: `execute` returns the rows; `row_factory` is ignored."""

    row_factory: Any = None

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Cursor:
        return self._conn.execute(sql, params)


def _configure(conn: psycopg.Connection[Any]) -> None:
    conn.autocommit = True
    conn.row_factory = _row_factory
    conn.adapters.register_loader("numeric", _NumericLoader)
    conn.adapters.register_loader("bool", _BoolLoader)
    if conn.info.server_version >= 140000:  # a role's idle_session_timeout ended those it keeps (docs/scaling.md)
        conn.execute("SET idle_session_timeout = 0")


def _kwargs(
    location: Location, readonly: bool, busy_timeout_s: float, *, pooled: bool = True, timeout_s: float | None = None
) -> dict[str, Any]:
    # `readonly` only picks the pool: PostgreSQL refuses even temporary tables (the KPI queries' scratch
    # space) in a read-only transaction, so readers are kept from writing by the code, not the session.
    # lock_timeout: a row lock another instance holds is waited for `busy_timeout_s`, as SQLite's busy timeout.
    # statement_timeout: STATEMENT_TIMEOUT_S on a pooled connection (a request's, a command's statement); none on the
    # writer's, which runs the migrations (an index on a large log), said as 0 over a role's own (docs/scaling.md).
    options = f"-c lock_timeout={int(busy_timeout_s * 1000)}"
    options += f" -c statement_timeout={int((timeout_s or STATEMENT_TIMEOUT_S) * 1000) if pooled else 0}"
    kwargs: dict[str, Any] = {"options": options, "application_name": "cs-assistant", **SOCKET_BOUNDS}
    if location.password is not None:
        kwargs["password"] = location.password
    return kwargs


# The tables every event writes: a lock another session holds on one (`LOCK TABLE events`, a migration's ALTER TABLE)
# stops every event for busy_timeout_s; the readiness probe waits for theirs PROBE_LOCK_WAIT_MS at most.
WRITTEN_TABLES = ("events", "messages", "conversations", "timers", "live_journal")
PROBE_LOCK_WAIT_MS = 500


def probe_writes(conn: Connection) -> None:
    """Raise unless a write would commit now: a transaction id (a read-only server refuses it) and the locks an
    event takes on the tables it writes (in the caller's transaction; a table another session locked refuses)."""
    conn.execute("SELECT pg_current_xact_id()")
    conn.execute(f"SET LOCAL lock_timeout = {PROBE_LOCK_WAIT_MS}")
    try:
        conn.execute(f"LOCK TABLE {', '.join(WRITTEN_TABLES)} IN ROW EXCLUSIVE MODE")
    except sqlite3.OperationalError as exc:
        if getattr(exc, "sqlstate", None) != "55P03":
            raise
        raise _fault(str(exc), "a table is locked by another session") from exc
    conn.execute("SET LOCAL lock_timeout TO DEFAULT")  # the connection's busy_timeout_s, for the group's events


RERUN_LOCK_WAIT_MS = 100


@contextmanager
def lock_waited(conn: object, exc: BaseException) -> Iterator[None]:
    """Around the one-by-one rerun of a group's events whose batch waited busy_timeout_s for a lock in vain: each
    waits RERUN_LOCK_WAIT_MS at most, not busy_timeout_s again (with a table locked by another session, ten events
    sent at once each answered 503 after 23 s, 11 waits of 2 s, past a platform's 5). SQLite's: nothing to do."""
    if not isinstance(conn, Connection) or getattr(exc, "sqlstate", None) != "55P03":
        yield
        return
    conn.execute(f"SET LOCAL lock_timeout = {RERUN_LOCK_WAIT_MS}")
    try:
        yield
    finally:
        if conn.in_transaction and not conn.lost:
            conn.execute("SET LOCAL lock_timeout TO DEFAULT")


def connect_direct(
    location: Location, *, readonly: bool = False, busy_timeout_s: float = 5.0, answer_within_s: float | None = None
) -> Connection:
    """A connection of its own (the writer's, a listener's): not from the pool."""
    try:
        raw = _Bounded.connect(location.url, **_kwargs(location, readonly, busy_timeout_s, pooled=False))
    except psycopg.Error as exc:
        raise _connect_error(exc, location) from exc
    _configure(raw)
    return Connection(raw, answer_within_s=answer_within_s)


# A silent server (a failover dropping packets, a storage stall, a stopped VM) would hold a connection attempt
# or a statement as long as the socket lives: connect_timeout bounds the first, keepalives and tcp_user_timeout
# notice a peer gone, and `_Bounded` one whose kernel still answers while the server does not.
SOCKET_BOUNDS = {
    "connect_timeout": 3,  # seconds (libpq's least is 2)
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 3,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,  # ms: data sent and unacknowledged this long drops the connection
}
STATEMENT_TIMEOUT_S = 600.0
LOOP_ANSWER_S = 0.5  # a statement on the event loop: every request of the instance waits with it

_pools: dict[tuple[Location, bool, float, float | None], ConnectionPool[_Bounded]] = {}
_pools_lock = threading.Lock()
_refused: dict[str, psycopg.Error] = {}  # a database's URL → why the last connection to it failed
_opened: weakref.WeakSet[_Bounded] = weakref.WeakSet()  # the process's connections, pooled or not (web/sizes.py)
_opened_lock = threading.Lock()
POOL_SIZE = 8
# Reports and the daily log's pages read from a pool of their own: a year's report reads on up to 4 connections at once, and several
# supervisors' reports took every connection the events' reads and the panels wait for (a panel page 503 after 5 s).
REPORT_POOL_SIZE = 4

log = logging.getLogger(__name__)
_pool_faults = FaultLog(log, level=logging.WARNING)  # psycopg_pool's warnings, as the service logs its own faults


def connect(
    location: Location, *, readonly: bool = False, busy_timeout_s: float = 5.0, report_timeout_s: float | None = None
) -> Connection:
    """A pooled connection (readers open one per request); `close()` returns it to the pool. `report_timeout_s`: a
    report's, from the reports' own pool (REPORT_POOL_SIZE), its statements cancelled past that many seconds."""
    if report_timeout_s is None:  # a supervisor's page in this thread (`supervisors_reads`)
        report_timeout_s = supervisors.timeout_s()
    key = (location, readonly or report_timeout_s is not None, busy_timeout_s, report_timeout_s)  # one reports' pool
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            pool = ConnectionPool(
                location.url, connection_class=_Bounded, min_size=1, configure=_configure, open=True,
                max_size=POOL_SIZE if report_timeout_s is None else REPORT_POOL_SIZE, name="cs-assistant",
                kwargs=_kwargs(location, readonly, busy_timeout_s, timeout_s=report_timeout_s),
            )  # fmt: skip
            _pools[key] = pool
            Faults.install("psycopg.pool", _pool_faults, "pool")  # else a warning per retry through an outage
    # A report's thread waits for one of the reports' connections as long as a statement of theirs may run.
    wait_s = max(busy_timeout_s if report_timeout_s is None else report_timeout_s, 5.0)
    conn = Connection(_take(pool, wait_s, location), pool, wait_s=wait_s, readonly=readonly)
    return conn if report_timeout_s is None else supervisors.held(conn, pool)  # cancelled at the stop


# The event loop waits for a pooled connection this long at most: every request of the instance waits with it
# (the conversations' cache and the catalog read on the loop). A pool that gave none the last time it was asked
# (the server down or refusing, every connection busy) is not waited for on the loop at all until it gives one
# again: requests then answer 503 at once and /healthz stays quick, where each read once held the whole
# instance up for the pool's full wait. Threads (the pages, the writer's neighbours) wait the full time.
LOOP_WAIT_S = 0.5
REFUSED_WAIT_S = 5.0  # a thread's wait for a connection the server refuses (max_connections reached, a restart)
_NO_WAIT_S = 0.001  # psycopg_pool refuses at once for 0 without even looking for an idle connection
_dry: set[ConnectionPool[_Bounded]] = set()  # pools whose last request for a connection timed out
# Pools whose server left a statement on the event loop unanswered for LOOP_ANSWER_S: the event loop does not
# ask them again (requests answer 503 at once, /healthz stays quick) until a probe in a thread is answered.
_silent: set[ConnectionPool[_Bounded]] = set()
_silent_lock = threading.Lock()
PROBE_EVERY_S = 0.5


def _fall_silent(pool: ConnectionPool[_Bounded]) -> None:
    with _silent_lock:
        if pool in _silent:
            return
        _silent.add(pool)
    log.warning("PostgreSQL did not answer within %g s: requests answer 503 until it does", LOOP_ANSWER_S)
    threading.Thread(target=_probe_until_answered, args=(pool,), name="pg-probe", daemon=True).start()


def _probe_until_answered(pool: ConnectionPool[_Bounded]) -> None:
    """Ask the silent pool's server `SELECT 1` every PROBE_EVERY_S until it answers (or the pool closes)."""
    while not pool.closed and not threading.Event().wait(PROBE_EVERY_S):
        try:
            raw = pool.getconn(timeout=5.0)
        except (PoolTimeout, psycopg.Error):
            continue
        try:
            raw.bound_s = 2.0
            raw.execute("SELECT 1")
        except psycopg.Error:
            continue
        finally:
            raw.bound_s = None
            pool.putconn(raw)
        break
    with _silent_lock:
        _silent.discard(pool)
    if not pool.closed:
        log.warning("PostgreSQL answers again")


def _take(pool: ConnectionPool[_Bounded], wait_s: float, where: Location | str) -> _Bounded:
    """A connection of `pool`, waiting at most `wait_s` (less on the event loop, see LOOP_WAIT_S)."""
    if on_event_loop():
        if pool in _silent:
            raise _fault(f"{where}: PostgreSQL is not answering", "not answering")
        wait_s = _NO_WAIT_S if pool in _dry else min(wait_s, LOOP_WAIT_S)
    try:  # a long wait (report_timeout_s) ends after REFUSED_WAIT_S once the server refuses connections (it hung 600 s)
        try:
            raw = pool.getconn(timeout=min(wait_s, REFUSED_WAIT_S))
        except PoolTimeout:
            if wait_s <= REFUSED_WAIT_S or str(pool.conninfo) in _refused:
                raise
            raw = pool.getconn(timeout=wait_s - REFUSED_WAIT_S)
    except PoolTimeout as exc:  # the server is down or every connection is busy (a psycopg.Error too)
        _dry.add(pool)
        if (refused := _refused.get(str(pool.conninfo))) is not None:  # its last attempt to connect failed
            raise _connect_error(refused, where) from exc
        raise _fault(f"{where}: no connection available ({exc})", "no free connection") from exc
    except psycopg.Error as exc:
        raise _as_sqlite(exc) from exc
    _dry.discard(pool)
    return raw


def close_pools(location: Location | None = None) -> None:
    """Close the pools (of one database, or all); the next `connect` opens a new one."""
    with _pools_lock:
        keys = [k for k in _pools if location is None or k[0] == location]
        pools = [_pools.pop(k) for k in keys]
    for pool in pools:
        _dry.discard(pool)
        _silent.discard(pool)
        pool.close()
