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
from contextlib import AbstractContextManager, contextmanager
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
    """Statements sent together on `conn` (see the module's docstring): SQLite's plain path, each statement run at
    once on the connection; `Piped` is PostgreSQL's.

    On SQLite a function writing through `writes` writes on the connection itself (no wrapper, the same statements):
    the writer carries the timers' changes in every request's transaction, where a wrapper cost each one a dozen
    Python calls for nothing (the statements run one by one either way)."""

    __slots__ = ("conn", "open", "writes")

    def __init__(self, conn: sqlite3.Connection | Connection) -> None:
        self.conn = conn
        self.open = True
        self.writes: Any = conn  # the connection a store function writes through (its `execute` and `executemany`)

    def __enter__(self) -> Batch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.open = False

    def execute(self, sql: str, params: Params = ()) -> Sent:
        done = self.conn.execute(sql, params)
        return Sent(self, None, done.fetchall(), done.rowcount)

    def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        self.conn.executemany(sql, rows)


class Piped(Batch):
    """PostgreSQL's batch: each statement sent in the connection's pipeline, its answer read after the Sync."""

    __slots__ = ("pg",)

    def __init__(self, conn: Connection) -> None:
        super().__init__(conn)
        self.pg = conn
        self.writes = self

    def execute(self, sql: str, params: Params = ()) -> Sent:
        try:
            cur = self.pg.raw.cursor()
            if params:
                cur.execute(translate(sql), params)
            else:
                cur.execute(translate_bare(sql))
        except psycopg.Error as exc:
            raise _as_sqlite(exc) from exc
        return Sent(self, cur, [], -1)

    def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        try:
            self.pg.raw.cursor().executemany(translate(sql), list(rows))
        except psycopg.Error as exc:
            raise _as_sqlite(exc) from exc


def together(conn: sqlite3.Connection | Connection) -> AbstractContextManager[Batch]:
    """A batch of statements on `conn`, sent in one round trip on PostgreSQL; its answers are read after the block.
    On SQLite the batch is its own context (no generator to step through at each end)."""
    if isinstance(conn, Connection):
        return _piped(conn)
    return Batch(conn)


@contextmanager
def _piped(conn: Connection) -> Iterator[Batch]:
    batch = Piped(conn)
    with conn._bounded():  # the writer's bound on a wait for the server, as for one statement
        try:
            with conn.raw.pipeline():  # its end sends the Sync and reads every answer
                yield batch
        except psycopg.Error as exc:
            raise _as_sqlite(exc) from exc
        finally:
            batch.open = False
