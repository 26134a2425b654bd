"""The supervisors' long reads on PostgreSQL (the KPI report, the daily log, the day's inspection): which thread reads
on the reports' connections, and their statements cancelled on the server when the service stops.

A report's or a day's read runs in a thread for up to `[store] report_timeout_s` (600 s). At the stop the page is
answered 503 at once (web/stopping.py) and the process ends without waiting for the thread (cli/serve.py), but the
read's statement ran on in the server: its session waiting for a lock or reading a year, a connection slot taken and
its locks held (an administrator's ALTER TABLE waited behind it) until its statement ended, up to report_timeout_s
after the process had gone. Now the stop cancels each read's statement on the server (`stop`), and the thread gives
its connection back.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg_pool import ConnectionPool

if TYPE_CHECKING:
    from assistant.pg import Connection, Location

log = logging.getLogger(__name__)

CANCEL_EVERY_S = 0.1  # a read between two statements at the first cancel starts the next: it is cancelled again
CANCEL_WITHIN_S = 5.0  # the stop's tries, well within the shutdown's 10 s

_thread = threading.local()
_held: weakref.WeakSet[Connection] = weakref.WeakSet()  # the reports' connections taken now
_stopping: weakref.WeakSet[ConnectionPool[Any]] = weakref.WeakSet()  # the reports' pools of a service that stops
_lock = threading.Lock()


class Stopped(sqlite3.OperationalError):
    """The service is stopping: a long read takes no connection any more."""

    reason = "shutting down"


def timeout_s() -> float | None:
    """The time limit of this thread's reads when it is a supervisor's long read (`supervisors_reads`), else None."""
    return getattr(_thread, "timeout_s", None)


@contextmanager
def supervisors_reads(timeout_s: float) -> Iterator[None]:
    """Within it, this thread's pooled connections come from the reports' pool, statements cancelled past `timeout_s`:
    the daily log's pages, eight of which held up took the connections an event's reads and the panels wait for."""
    _thread.timeout_s = timeout_s
    try:
        yield
    finally:
        _thread.timeout_s = None


def held(conn: Connection, pool: ConnectionPool[Any]) -> Connection:
    """`conn`, just taken from the reports' `pool`, kept to be cancelled at the stop (Stopped once it has begun)."""
    with _lock:
        if pool not in _stopping:
            _held.add(conn)
            return conn
    conn.close()
    raise Stopped("the service is stopping")


def stop(location: Location) -> int:
    """At the stop of a service on `location`: no long read takes a connection of its reports' pools any more, and the
    statements of those running are cancelled on the server, again every CANCEL_EVERY_S (in a thread) while any is
    open, CANCEL_WITHIN_S at most; how many were running. Its pools closed, a new service on `location` opens others."""
    from assistant import pg

    with pg._pools_lock:
        pools = [pool for key, pool in pg._pools.items() if key[0] == location and key[3] is not None]
    with _lock:
        _stopping.update(pools)
    running = _cancel()
    if running:
        threading.Thread(target=_cancel_until_closed, name="pg-cancel", daemon=True).start()
    return running


def _cancel() -> int:
    """Cancel the statement each open long read of a stopping pool runs now; how many are open."""
    with _lock:
        running = [conn for conn in _held if not conn.closed and conn._pool in _stopping]
    for conn in running:
        try:
            conn.raw.cancel_safe(timeout=1.0)
        except psycopg.Error as exc:  # one that cannot be cancelled ends with the process
            log.info("a long read's statement was not cancelled: %r", exc)
    return len(running)


def _cancel_until_closed() -> None:
    deadline = time.monotonic() + CANCEL_WITHIN_S
    while time.monotonic() < deadline:
        time.sleep(CANCEL_EVERY_S)
        if not _cancel():
            return
    log.warning("%d long read(s) still run %g s after the stop cancelled them", _cancel(), CANCEL_WITHIN_S)
