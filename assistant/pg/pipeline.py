"""Statements sent together: on PostgreSQL in one round trip (psycopg's pipeline mode), on SQLite one by one.

Each statement on PostgreSQL waits for the server's answer before the next is sent: a round trip, on the writer's
thread, whose time (not the server's work) was most of what firing a follow-up cost. Where several statements go in
a row and none needs another's answer, `together` sends them all and reads every answer after one Sync:

    with together(conn) as batch:
        first = batch.execute("SELECT …", params)
        save_timers(batch.writes, rows, now)    # a function that writes through a connection: its statements too
    first.fetchone()                             # read once the block is over

Inside the block nothing can be read (an answer is not there yet): `Sent.fetch*` raise there, and a read through the
connection itself would find no rows, so the block holds only the batch's statements. An error of any statement
is raised as sqlite3's when the block ends (or at a later statement of it); the statements after it did nothing, and
the transaction needs its ROLLBACK (TO a savepoint), as after any failed statement. On SQLite each statement runs at
once and its rows are kept, so the same code runs on both stores.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg

from assistant.pg import Connection, Cursor, _as_sqlite
from assistant.pg.sql import translate, translate_bare

Params = Sequence[Any] | Mapping[str, Any]


class Sent:
    """One statement of a batch: its rows and rowcount once the batch is over."""

    __slots__ = ("_cursor", "_rows", "_rowcount", "_batch")

    def __init__(self, batch: Batch, cursor: psycopg.Cursor[Any] | None, rows: list[Any], rowcount: int) -> None:
        self._batch = batch
        self._cursor = cursor  # PostgreSQL's, read once the batch is over
        self._rows = rows
        self._rowcount = rowcount

    def _done(self) -> None:
        if self._batch.open:
            raise RuntimeError("a statement sent together is read only once its batch is over")
        cursor, self._cursor = self._cursor, None
        if cursor is not None:
            result = Cursor(cursor)
            self._rowcount = result.rowcount
            self._rows = result.fetchall()

    @property
    def rowcount(self) -> int:
        self._done()
        return self._rowcount

    def fetchall(self) -> list[Any]:
        self._done()
        return self._rows

    def fetchone(self) -> Any:
        self._done()
        return self._rows[0] if self._rows else None


class Batch:
    """Statements sent together on `conn` (see the module's docstring)."""

    def __init__(self, conn: sqlite3.Connection | Connection) -> None:
        self.conn = conn
        self.open = True

    @property
    def writes(self) -> Any:
        """The batch as the connection a store function writes through (its `execute` and `executemany`)."""
        return self

    def execute(self, sql: str, params: Params = ()) -> Sent:
        conn = self.conn
        if not isinstance(conn, Connection):
            done = conn.execute(sql, params)
            return Sent(self, None, done.fetchall(), done.rowcount)
        try:
            cur = conn.raw.cursor()
            if params:
                cur.execute(translate(sql), params)
            else:
                cur.execute(translate_bare(sql))
        except psycopg.Error as exc:
            raise _as_sqlite(exc) from exc
        return Sent(self, cur, [], -1)

    def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        conn = self.conn
        if not isinstance(conn, Connection):
            conn.executemany(sql, rows)
            return
        try:
            conn.raw.cursor().executemany(translate(sql), list(rows))
        except psycopg.Error as exc:
            raise _as_sqlite(exc) from exc


@contextmanager
def together(conn: sqlite3.Connection | Connection) -> Iterator[Batch]:
    """A batch of statements on `conn`, sent in one round trip on PostgreSQL; its answers are read after the block."""
    batch = Batch(conn)
    if not isinstance(conn, Connection):
        try:
            yield batch
        finally:
            batch.open = False
        return
    with conn._bounded():  # the writer's bound on a wait for the server, as for one statement
        try:
            with conn.raw.pipeline():  # its end sends the Sync and reads every answer
                yield batch
        except psycopg.Error as exc:
            raise _as_sqlite(exc) from exc
        finally:
            batch.open = False
