"""The supervisors' long reads on SQLite (a day's log, a day's inspection): their connections interrupted when the
service stops.

On PostgreSQL the stop cancels a long read's statement on the server (pg/supervisors.py). On SQLite the page was
answered 503 at once (web/stopping.py), but its thread read on, its snapshot held: the writer's last checkpoint, which
folds the -wal back into the file at the stop, waited for that reader up to `[store] busy_timeout_s`, and the stop
took 2.5 s instead of 0.3 s. Now the stop interrupts each such connection (`sqlite3.Connection.interrupt`), again
every INTERRUPT_EVERY_S while one is open (an interrupt between two statements is lost), and a long read takes no
connection after the stop began. They only read: an interrupted one leaves nothing half-written (a day rebuilt from
the archive is written into a temporary file of its own).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

INTERRUPT_EVERY_S = 0.05
INTERRUPT_WITHIN_S = 5.0  # the stop's tries, well within the shutdown's 10 s

_thread = threading.local()


class Stopped(sqlite3.OperationalError):
    """The service is stopping: a long read opens no connection any more."""


class Interrupts:
    """One service's long reads on SQLite: the connections they read on now, interrupted by `stop`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: set[sqlite3.Connection] = set()
        self.stopped = False

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Within it, this thread's day connections (`interruptible`) are this service's long reads."""
        _thread.interrupts = self
        try:
            yield
        finally:
            _thread.interrupts = None

    def hold(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            if not self.stopped:
                self._open.add(conn)
                return
        raise Stopped("the service is stopping")

    def release(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            self._open.discard(conn)

    def stop(self) -> int:
        """No long read opens a connection any more, and each one open is interrupted, again every INTERRUPT_EVERY_S
        (in a thread) while any is open, INTERRUPT_WITHIN_S at most; how many were open."""
        with self._lock:
            self.stopped = True
        running = self._interrupt()
        if running:
            threading.Thread(target=self._interrupt_until_closed, name="sqlite-interrupt", daemon=True).start()
        return running

    def _interrupt(self) -> int:
        with self._lock:
            running = list(self._open)
        for conn in running:
            try:
                conn.interrupt()
            except sqlite3.ProgrammingError:  # closed meanwhile: nothing left to interrupt
                pass
        return len(running)

    def _interrupt_until_closed(self) -> None:
        deadline = time.monotonic() + INTERRUPT_WITHIN_S
        while time.monotonic() < deadline:
            time.sleep(INTERRUPT_EVERY_S)
            if not self._interrupt():
                return
        log.warning(
            "%d long read(s) still open %g s after the stop interrupted them", self._interrupt(), INTERRUPT_WITHIN_S
        )


def stop_if_stopping() -> None:
    """Stopped when this thread reads for a service that is stopping (between two statements, which an interrupt
    does not reach)."""
    interrupts: Interrupts | None = getattr(_thread, "interrupts", None)
    if interrupts is not None and interrupts.stopped:
        raise Stopped("the service is stopping")


@contextmanager
def interruptible(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """`conn` (SQLite), interrupted when the service stops if this thread reads for it (`Interrupts.reading`);
    Stopped when the stop has begun."""
    interrupts: Interrupts | None = getattr(_thread, "interrupts", None)
    if interrupts is None or not isinstance(conn, sqlite3.Connection):
        yield conn
        return
    interrupts.hold(conn)
    try:
        yield conn
    finally:
        interrupts.release(conn)
