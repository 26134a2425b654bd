"""A shop's log moved from its SQLite file to PostgreSQL: every table, row for row, in one transaction.

Both stores are brought to this code's schema by the migrations (schema.py), PostgreSQL's inside the copy's own
transaction. The SQLite file is held with the service's own lock for the whole copy, so a service cannot start on
it meanwhile (nor run while it is read). The rows go through COPY in batches of BATCH_ROWS (a day of 90,000
messages or a log of years, the same memory); the event numbers (`seq`) are kept, and the identity sequences then
start past every number the log holds, so the service started on PostgreSQL numbers its new events after the
copied ones.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import psycopg
from psycopg import sql

from assistant import pg, store, upgrade
from assistant.i18n import _

BATCH_ROWS = 5000
# Each store keeps its own record of the migrations it ran; PostgreSQL's live journal and fleet reloads have no
# SQLite twin.
_NOT_COPIED = frozenset(
    {"_sqlite_migrations", "_assistant_migrations", "live_journal", "fleet_reloads", "fleet_reload_results"}
)
# Columns that hold an event's number: the events' sequence must start past all of them (the timers' watermark
# included: a restart replays only the events numbered after it).
_EVENT_NUMBERS = (
    ("events", "seq"),
    ("messages", "seq"),
    ("suggestion_uses", "seq"),
    ("payments", "seq"),
    ("orders", "created_seq"),
    ("orders", "paid_seq"),
    ("orders", "closed_seq"),
    ("timers", "armed_seq"),
    ("timers_watermark", "seq"),
    ("derived_watermark", "seq"),
    ("followups", "armed_seq"),
    ("qa_alerts", "seq"),
)


class MoveRefused(RuntimeError):
    """The copy cannot be made; the message says why, in the user's language. Nothing was written."""


@dataclass(frozen=True)
class Copied:
    """One table's rows: as many read from SQLite as counted in PostgreSQL after the copy."""

    table: str
    rows: int
    counted: int


Progress = Callable[[str, int, int], None]  # table, rows copied so far, rows in all


def move(source: Path, target: pg.Location, progress: Progress) -> list[Copied]:
    """Copy the SQLite log at `source` into the empty PostgreSQL database `target` (MoveRefused: why not)."""
    try:
        held = store.hold_alone(source)
    except store.InUse:
        raise MoveRefused(_("%(path)s is in use by a running service: stop it first, then copy", path=source)) from None
    try:
        lite = store.connect(source)
        try:
            _refuse_newer(source, lite)
            upgrade.migrate(lite)
            lite.row_factory = None  # rows as plain tuples, as COPY writes them
            postgres = pg.connect_direct(target)
            try:
                return _copy(lite, postgres, target, progress)
            finally:
                postgres.close()
        finally:
            lite.close()
    finally:
        store.let_go(held)


def _refuse_newer(where: object, conn: sqlite3.Connection) -> None:
    """A store a newer release has migrated is refused as the service refuses it, naming which store."""
    try:
        upgrade.refuse_newer(conn)
    except upgrade.SchemaError as exc:
        raise MoveRefused(f"{where}: {exc}") from None


def _copy(lite: sqlite3.Connection, postgres: pg.Connection, target: pg.Location, progress: Progress) -> list[Copied]:
    _refuse_newer(target, cast(sqlite3.Connection, postgres))
    problem = upgrade.collation_problem(postgres)  # the service would refuse to start on it: said before copying
    if problem is not None:
        raise MoveRefused(f"{target}: {problem}")
    lite.execute("BEGIN")  # one snapshot of the file for the whole copy
    try:
        tables = [
            row[0]
            for row in lite.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
            if row[0] not in _NOT_COPIED
        ]
        postgres.execute("BEGIN")  # the tables made and filled in one transaction: a failure leaves none
        try:
            upgrade.migrate_pg_in_transaction(postgres)
            copied = _copy_tables(lite, postgres, target, tables, progress)
            postgres.execute("COMMIT")
        except BaseException:
            if not postgres.lost:
                postgres.execute("ROLLBACK")
            raise
    finally:
        lite.execute("ROLLBACK")
    # The tables' statistics now, not when autovacuum comes by: without them the daily report's copy checks compare
    # every customer message of a day with every other (docs/scaling.md: 15.7 s against 0.03 s over 6,075 events).
    postgres.raw.execute(sql.SQL("ANALYZE {}").format(sql.SQL(", ").join(sql.Identifier(t) for t in tables)))
    return copied


def _copy_tables(
    lite: sqlite3.Connection, postgres: pg.Connection, target: pg.Location, tables: list[str], progress: Progress
) -> list[Copied]:
    theirs = set(_pg_tables(postgres))
    missing = [t for t in tables if t not in theirs]
    if missing:  # a table this code's PostgreSQL schema lacks: the SQLite file holds what the service never reads
        raise MoveRefused(_("%(path)s holds tables the assistant does not know: %(tables)s", path="SQLite", tables=", ".join(missing)))  # fmt: skip
    # Writes by anyone else wait for the end of the copy; the check that the target is empty is then exact.
    locked = sql.SQL(", ").join(sql.Identifier(t) for t in sorted(theirs))
    try:
        postgres.raw.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(locked))
    except psycopg.Error as exc:  # another's transaction held a table past the lock timeout
        raise sqlite3.OperationalError(str(exc)) from exc
    _refuse_unless_empty(postgres, target, sorted(theirs))
    postgres.execute("DELETE FROM timers_watermark")  # the new database's first row, replaced by the copied one
    copied = []
    for table in tables:
        columns = store.columns(lite, table)
        if set(columns) - set(store.columns(cast(sqlite3.Connection, postgres), table)):
            raise MoveRefused(_("%(path)s holds tables the assistant does not know: %(tables)s", path="SQLite", tables=table))  # fmt: skip
        total = lite.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
        rows = _copy_table(lite, postgres, table, columns, total, progress)
        counted = postgres.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
        copied.append(Copied(table, rows, counted))
        if counted != rows:  # the transaction is rolled back: nothing half-copied stays
            raise MoveRefused(_("%(table)s: %(rows)s rows read, %(counted)s in PostgreSQL", table=table, rows=rows, counted=counted))  # fmt: skip
    _advance_sequences(lite, postgres, tables)
    return copied


def _pg_tables(postgres: pg.Connection) -> list[str]:
    found = postgres.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        " AND table_type = 'BASE TABLE'"
    )
    return [row[0] for row in found if row[0] not in _NOT_COPIED]


def _refuse_unless_empty(postgres: pg.Connection, target: pg.Location, tables: list[str]) -> None:
    holding = []
    for table in tables:
        if table == "timers_watermark":  # a new database holds its first row (seq 0)
            check = "SELECT 1 FROM timers_watermark WHERE seq <> 0"
        else:
            check = f'SELECT 1 FROM "{table}" LIMIT 1'
        if postgres.execute(check).fetchone() is not None:
            holding.append(table)
    if holding:
        raise MoveRefused(
            _(
                "%(target)s is not empty (rows in %(tables)s): copy only into a new database, so that nothing there is mixed with the copied log",
                target=target,
                tables=", ".join(holding),
            )  # fmt: skip
        )


def _copy_table(
    lite: sqlite3.Connection, postgres: pg.Connection, table: str, columns: list[str], total: int, progress: Progress
) -> int:
    names = ", ".join(f'"{c}"' for c in columns)
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    done = 0
    progress(table, done, total)
    rows = lite.execute(f'SELECT {names} FROM "{table}"')
    try:
        with postgres.raw.cursor() as cursor, cursor.copy(statement) as copy:
            while batch := rows.fetchmany(BATCH_ROWS):
                for row in batch:
                    copy.write_row(row)
                done += len(batch)
                progress(table, done, total)
    except psycopg.Error as exc:
        raise sqlite3.DatabaseError(f"{table}: {exc}") from exc
    return done


def _advance_sequences(lite: sqlite3.Connection, postgres: pg.Connection, tables: list[str]) -> None:
    """Each identity column's next value past the copied ones; the events' past every event number logged."""
    identities = postgres.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()"
        " AND is_identity = 'YES'"
    ).fetchall()
    for table, column in identities:
        if table not in tables:
            continue
        sources = _EVENT_NUMBERS if (table, column) == ("events", "seq") else ((table, column),)
        highest = max(
            (lite.execute(f'SELECT max("{c}") FROM "{t}"').fetchone()[0] or 0 for t, c in sources if t in tables),
            default=0,
        )
        postgres.execute(
            "SELECT setval(pg_get_serial_sequence(?, ?), ?, ?)", (table, column, max(highest, 1), highest > 0)
        )
