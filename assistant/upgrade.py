"""A database brought to this code's schema (schema.py's history), and what an upgrade refuses and repairs.

- A database a newer release has migrated is refused: this code would write rows that release derives and
  never derive them, and that release would not notice (docs/scaling.md, Upgrading).
- A command that would migrate a SQLite file a running service holds (its `store.hold_alone` lock) refuses:
  an older service would go on writing rows the migrations derive for the log written before them.
- Rows an older release wrote after the migrations (a rollback, or an older service still running when a
  command migrated) are derived when this code opens the database to write: the payments of `order_paid`
  events, names cleaned as intake cleans them, stale follow-ups dated at their deadline. Only the events
  logged after the derived watermark are read, so a start with nothing to repair costs a few index seeks.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

import psycopg
from sqlite_utils import Database

from assistant import pg, schema, store
from assistant.i18n import _

log = logging.getLogger(__name__)


class SchemaError(RuntimeError):
    """The database cannot hold the log as the service needs it (the message says what to change)."""


def migrate(conn: sqlite3.Connection, *, repair: bool = True) -> None:
    """Bring the schema to the newest version and (`repair`) derive what older releases left underived; refuse
    a database a newer release has migrated (SchemaError)."""
    refuse_newer(conn)
    if isinstance(conn, pg.Connection):
        _migrate_pg(conn)
    else:
        _migrate_sqlite(conn)
    if repair:
        repair_derived(conn)


SQLITE_FULL = 13
ROOM_MB = 4  # what a commit's pages need in the -wal file at least (writer.ROOM_BYTES)


def _migrate_sqlite(conn: sqlite3.Connection) -> None:
    """Every pending migration in one transaction: one that fails (the disk filling up) leaves the log as it was,
    which the release before still runs on. Each in a transaction of its own, a full disk left those before it
    applied, and the release before refused the log as a newer release's (a log of 150,000 payments on a disk with
    11 MB free: 090 applied, 100 not, '无法打开数据库（数据库或磁盘已满）')."""
    pending = pending_migrations(conn)
    if not pending:
        return
    try:
        with store.transaction(conn):
            schema.migrations.apply(Database(conn))
    except sqlite3.OperationalError as exc:
        if not _full(exc):
            raise
        raise SchemaError(
            _(
                "the disk is full: the migrations %(names)s were undone and the log is as it was before them (the release before still runs on it); make room on the disk (about the log's own size, %(size)s MB) and start again",
                names=", ".join(pending),
                size=f"{_size_mb(conn):.0f}",
            )  # fmt: skip
        ) from None


def _size_mb(conn: sqlite3.Connection) -> float:
    pages, size = (conn.execute(f"PRAGMA {name}").fetchone()[0] for name in ("page_count", "page_size"))
    return float(pages * size / 1_048_576)


def refuse_newer(conn: sqlite3.Connection) -> None:
    newer = newer_migrations(conn)
    if newer:
        raise SchemaError(
            _(
                "the database was migrated by a newer release of the assistant (migration %(names)s): run that release or a newer one; this one would write rows that release derives, and its reports would miss them",
                names=", ".join(newer),
            )  # fmt: skip
        )


def newer_migrations(conn: sqlite3.Connection) -> list[str]:
    """The migrations the database has run that this code does not know (a newer release wrote it)."""
    if isinstance(conn, pg.Connection):
        if not store.has_table(cast(sqlite3.Connection, conn), "_assistant_migrations"):
            return []
        known = {name for name, _script in schema.PG_MIGRATIONS}
        done = [row[0] for row in conn.execute("SELECT name FROM _assistant_migrations ORDER BY name")]
    else:
        known = {m.name for m in schema.migrations._migrations}
        done = [m.name for m in schema.migrations.applied(Database(conn))]
    return [name for name in done if name not in known]


def pending_migrations(conn: sqlite3.Connection) -> list[str]:
    """The migrations of this code the database has not run yet."""
    if isinstance(conn, pg.Connection):
        done: set[str] = set()
        if store.has_table(cast(sqlite3.Connection, conn), "_assistant_migrations"):
            done = {row[0] for row in conn.execute("SELECT name FROM _assistant_migrations")}
        return [name for name, _script in schema.PG_MIGRATIONS if name not in done]
    return [m.name for m in schema.migrations.pending(Database(conn))]


def migrate_for_command(conn: sqlite3.Connection, path: store.Location, *, repair: bool = True) -> None:
    """`migrate` for a command (report, log, archive, catalog import), holding the service's lock meanwhile so
    that no service starts under it. When a service holds the SQLite file, nothing is migrated: with nothing
    pending the command reads on; with migrations pending it is refused (SchemaError), as the running service,
    an older release, would go on logging rows that it does not derive."""
    if isinstance(path, pg.Location):  # instances migrate in turn under the advisory lock
        migrate(conn, repair=repair)
        return
    try:
        held = store.hold_alone(Path(path))
    except store.InUse:
        pending = pending_migrations(conn)
        if pending:
            raise SchemaError(
                _(
                    "%(path)s: a service is running on this file and this release would migrate it (%(names)s) under it: stop the service, or start this release's service, which migrates the file",
                    path=path,
                    names=", ".join(pending),
                )  # fmt: skip
            ) from None
        refuse_newer(conn)
        return
    except OSError:  # a file this user cannot write: the migration fails as it would have, and the caller says so
        migrate(conn, repair=repair)
        return
    try:
        migrate(conn, repair=repair)
    finally:
        store.let_go(held)


# ---- the repair of rows older releases wrote after the migrations ---------------------------------

_PAYMENTS = (
    "INSERT INTO payments SELECT shop, {order}, ts_ms, {cents}, seq FROM events"
    " WHERE type = 'order_paid' AND seq > ? AND seq <= ? ORDER BY seq ON CONFLICT DO NOTHING"
)


def _narrowed(after: int, upto: int, touched: str) -> dict[str, str]:
    """Each name table's rows that the events `after` < seq <= `upto` may have written; those of the tables a
    conversation's events write, `touched` (SQL) (`_touched`)."""
    seq = f"seq > {int(after)} AND seq <= {int(upto)}"
    by_seq = {t: seq for t in ("events", "messages", "suggestion_uses", "qa_alerts")}
    armed = f"armed_seq > {int(after)} AND armed_seq <= {int(upto)}"
    return by_seq | {"followups": armed} | {t: touched for t in ("orders", "conversations", "timers")}


def _touched(since: int, last: int) -> str:
    """The rows of the tables a conversation's events write (orders, conversations, timers) that the events
    `since` < seq <= `last` may have written: all of them in a log never derived (`since` 0: rows of events
    archived since are cleaned too). Cleaned with the first part of those events, as read per part each part
    read those tables again (150,000 events over 20,000 conversations took twice as long)."""
    return "true" if since == 0 else f"(shop, conversation) IN (SELECT shop, conversation FROM events WHERE seq > {int(since)} AND seq <= {int(last)})"  # fmt: skip


# On PostgreSQL an event's number is taken from a sequence at its INSERT and becomes visible at its COMMIT, so
# transactions commit out of number order: when `max(seq)` is read, an older release's transaction that took a
# smaller number may not have committed yet. Marking `max(seq)` derived without waiting for it skipped its event
# for good. Every transaction that has taken a number holds ROW EXCLUSIVE on `events` from before it took it to its
# end (the lock is taken when the INSERT starts), so waiting, after the read, for the holders seen then to end
# leaves no event numbered up to `max(seq)` uncommitted. Writers that start later take larger numbers, and are
# not waited for: no instance's writes stop meanwhile (LOCK TABLE would stop them all).
REPAIR_WAIT_S = 10.0  # a writer longer than this (an archive run): the watermark stays, the next start reads again
_EVENT_WRITERS = (
    "SELECT pid, virtualtransaction FROM pg_locks WHERE locktype = 'relation' AND relation = 'events'::regclass"
    " AND mode = 'RowExclusiveLock' AND granted AND pid <> pg_backend_pid()"
)


def _writers_ended(conn: sqlite3.Connection, wait_s: float, stopping: Callable[[], bool] = lambda: False) -> bool:
    """Whether every transaction writing `events` now (another session's) has ended within `wait_s`; False too as
    soon as `stopping`."""
    pending = {(row[0], row[1]) for row in conn.execute(_EVENT_WRITERS)}
    deadline = time.monotonic() + wait_s
    while pending and not stopping():
        if time.monotonic() >= deadline:
            log.warning(
                "%d transactions writing events did not end within %g s: the derived watermark stays, and the"
                " next start reads those events again",
                len(pending), wait_s,
            )  # fmt: skip
            return False
        time.sleep(0.01)  # a writer's group commits in milliseconds
        pending &= {(row[0], row[1]) for row in conn.execute(_EVENT_WRITERS)}
    return not pending


class Stopped(Exception):
    """The repair was asked to stop (the service's SIGTERM during its start): the events derived so far are marked,
    the next start derives the rest."""

    def __init__(self, derived: int, last: int) -> None:
        super().__init__(f"events derived up to {derived} of {last}")
        self.derived = derived
        self.last = last


# The events one transaction of the repair derives: a stop keeps the parts committed before it (the one it
# interrupts is rolled back), and the next start derives from there.
REPAIR_CHUNK = 20_000
PROGRESS_STEPS = 20_000  # SQLite virtual machine steps between two looks at `stopping`: a millisecond or two
CANCEL_EVERY_S = 0.02  # how often a PostgreSQL statement is cancelled once the repair is to stop


def underived(conn: sqlite3.Connection) -> tuple[int, int]:
    """The derived watermark and the last event logged: the events after the one up to the other lack their rows."""
    row = conn.execute("SELECT seq FROM derived_watermark WHERE id = 1").fetchone()
    since = int(row[0]) if row else 0
    return since, int(conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0])


def repair_derived(
    conn: sqlite3.Connection,
    *,
    wait_s: float = REPAIR_WAIT_S,
    stopping: Callable[[], bool] = lambda: False,
    chunk: int = REPAIR_CHUNK,
) -> int:
    """Derive the rows of the events logged after the derived watermark that lack them; the rows changed.
    On PostgreSQL the watermark moves only once the transactions writing events when it was read have ended
    (waited at most `wait_s`; else it stays where it was).

    The events are derived `chunk` at a time, each run in its own transaction with the watermark moved to its
    last event: a start stopped meanwhile (`stopping`, Stopped) keeps what it committed, and the next one derives
    the rest (a SIGTERM waited for the whole repair, 2.8 s at 150,000 events)."""
    since, last = underived(conn)
    if last <= since:
        return 0
    started = time.perf_counter()
    dialect = store.dialect(conn)
    moves = dialect != "postgresql" or _writers_ended(conn, wait_s, stopping)  # else: the next start reads `since` on
    changed = 0
    done = since
    try:
        with _interrupted(conn, stopping):
            while done < last:
                if stopping():
                    raise Stopped(done, last)
                upto = min(done + chunk, last)
                touched = _touched(since, last) if done == since else "false"
                changed += _derive(conn, dialect, done, upto, touched=touched, mark=upto if moves else since)
                done = upto
    except (Stopped, sqlite3.OperationalError) as exc:
        if not stopping() and _full(exc):
            raise SchemaError(_derive_full(conn, since, done, last)) from None
        if not stopping():
            raise
        if done > since:
            log.warning(
                "stopping: %d rows derived for events %d..%d; the next start derives those of %d..%d",
                changed, since + 1, done, done + 1, last,
            )  # fmt: skip
        else:
            log.warning("stopping: the next start derives the rows of events %d..%d", since + 1, last)
        raise (exc if isinstance(exc, Stopped) else Stopped(done, last)) from None
    if changed:
        log.warning(
            "%d rows derived for events %d..%d that an older release logged without them (%.2f s)",
            changed, since + 1, last, time.perf_counter() - started,
        )  # fmt: skip
    return changed


def _full(exc: BaseException) -> bool:
    return getattr(exc, "sqlite_errorcode", 0) & 0xFF == SQLITE_FULL


def _derive_full(conn: sqlite3.Connection, since: int, done: int, last: int) -> str:
    """What a repair the disk filled says: the step, what was kept, and the room to make. Before, the start said only
    '无法打开数据库（数据库或磁盘已满）', as if the migrations had failed. The room: the share of the log the events
    left to derive hold, as their rows are rewritten (names) and their payments added, and the -wal a part needs."""
    events = int(conn.execute("SELECT count(*) FROM events").fetchone()[0]) or 1
    room = max(_size_mb(conn) * min(1.0, (last - done) / events), ROOM_MB)
    return _(
        "the disk is full: deriving the rows of the events %(first)d..%(last)d that an older release logged without them (payments, cleaned names) stopped at event %(done)d; what it derived before is kept and the log is whole (the release before still runs on it); make room on the disk (about %(size)s MB) and start again: the start derives the rest",
        first=since + 1,
        last=last,
        done=done + 1,
        size=f"{room:.0f}",
    )  # fmt: skip


@contextmanager
def _interrupted(conn: sqlite3.Connection, stopping: Callable[[], bool]) -> Iterator[None]:
    """The statements run meanwhile end (an OperationalError) once `stopping`: SQLite's at its progress handler's next
    look; PostgreSQL's cancelled by a thread of its own (again every CANCEL_EVERY_S, as a cancel that comes between
    two statements cancels none). A transaction left open is rolled back on the way out."""
    done = threading.Event()
    watcher: threading.Thread | None = None
    if isinstance(conn, pg.Connection):
        raw = conn.raw

        def watch() -> None:
            while not done.wait(CANCEL_EVERY_S):
                if stopping():
                    try:
                        raw.cancel_safe(timeout=CANCEL_EVERY_S)
                    except psycopg.Error as exc:  # the server gone: the statement fails on its own
                        log.warning("the repair's statement could not be cancelled (%s)", exc)

        watcher = threading.Thread(target=watch, name="repair-cancel", daemon=True)
        watcher.start()
    else:
        conn.set_progress_handler(stopping, PROGRESS_STEPS)
    try:
        yield
    finally:
        done.set()
        if watcher is not None:
            watcher.join()
        else:
            conn.set_progress_handler(None, 0)
        if conn.in_transaction:  # stopped inside a part (its ROLLBACK cancelled too, on PostgreSQL)
            conn.execute("ROLLBACK")


def _derive(conn: sqlite3.Connection, dialect: str, after: int, upto: int, *, touched: str, mark: int) -> int:
    """In one transaction: the derived rows of the events `after` < seq <= `upto` (and of the conversations'
    tables, `touched`), and the watermark set to `mark`; the rows changed."""
    order, cents = schema.PAYMENT_SOURCE[dialect]
    changed = 0
    with store.transaction(conn):
        if dialect == "postgresql":  # instances that start together repair one after another
            conn.execute("SELECT pg_advisory_xact_lock(?)", (_PG_LOCK,))
        changed += conn.execute(_PAYMENTS.format(order=order, cents=cents), (after, upto)).rowcount
        names = schema.cleaned_names(_narrowed(after, upto, touched))
        stale = f"{schema.STALE_DATED[:-1]} AND armed_seq > {int(after)} AND armed_seq <= {int(upto)};"
        for statement in [*names.splitlines(), stale]:
            changed += max(conn.execute(statement).rowcount, 0)
        conn.execute(
            "INSERT INTO derived_watermark (id, seq) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq",
            (mark,),
        )
    return changed


def mark_derived(conn: sqlite3.Connection) -> None:
    """Every event logged so far has its derived rows (a SQLite service stopping: it alone wrote since its start,
    holding the file's lock), so the next start reads none of them."""
    conn.execute(
        "INSERT INTO derived_watermark (id, seq) SELECT 1, coalesce(max(seq), 0) FROM events WHERE true"
        " ON CONFLICT (id) DO UPDATE SET seq = excluded.seq"
    )


# ---- PostgreSQL -------------------------------------------------------------------------------------

_PG_LOCK = 0x61737369  # one advisory lock: instances that start together migrate one after another


def _migrate_pg(conn: pg.Connection) -> None:
    problem = collation_problem(conn)
    if problem is not None:
        raise SchemaError(problem)
    conn.execute("BEGIN")
    try:
        migrate_pg_in_transaction(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def migrate_pg_in_transaction(conn: pg.Connection) -> None:
    """PostgreSQL's pending migrations inside the caller's transaction (its COMMIT or ROLLBACK decides)."""
    conn.execute("SELECT pg_advisory_xact_lock(?)", (_PG_LOCK,))
    conn.execute("CREATE TABLE IF NOT EXISTS _assistant_migrations (name TEXT PRIMARY KEY, applied_ms BIGINT NOT NULL)")
    done = {row[0] for row in conn.execute("SELECT name FROM _assistant_migrations")}
    for name, script in schema.PG_MIGRATIONS:
        if name not in done:
            conn.executescript(script)
            conn.execute(
                "INSERT INTO _assistant_migrations (name, applied_ms) VALUES (?, ?)", (name, int(time.time() * 1000))
            )


# ---- a PostgreSQL database fit for the log (checked at start) -------------------------------------


def collation_problem(conn: pg.Connection) -> str | None:
    """Why the database does not sort text by code point, or None. Text sorts so in SQLite, and reports and logs
    list shops, agents and customers in that order."""
    # As JSON: the columns differ by version (PostgreSQL 15 added the locale provider, 17 renamed daticulocale).
    found = conn.execute("SELECT to_jsonb(d) FROM pg_database d WHERE datname = current_database()").fetchone()[0]
    if found.get("datlocprovider") == "i":  # ICU sorts as its locale's language does, whatever datcollate says
        return (
            f"the database sorts text by the ICU locale {found.get('daticulocale') or found.get('datlocale')!r};"
            " create it with LOCALE_PROVIDER libc LC_COLLATE 'C' (CREATE DATABASE … TEMPLATE template0"
            " LOCALE_PROVIDER libc ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C')"
        )
    if found.get("datlocprovider") == "b" or found["datcollate"] in ("C", "POSIX", "C.UTF-8", "C.utf8"):
        return None  # the builtin provider (PostgreSQL 17) sorts by code point
    return (
        f"the database sorts text by {found['datcollate']!r}; create it with LC_COLLATE 'C'"
        " (CREATE DATABASE … TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C')"
    )


# What one instance holds at most: its writer, the journal's writer, the journal's listener, the journal's reader
# for resuming panels (opened by the first), the fleet reloads' listener (cluster/reloads.py), the readers' pool and
# the reports' pool.
CONNECTIONS_PER_INSTANCE = 5 + pg.POOL_SIZE + pg.REPORT_POOL_SIZE


def warn_if_short_of_connections(conn: pg.Connection) -> int:
    """Warn when the server, or the role's CONNECTION LIMIT, leaves fewer free connections than an instance may
    open (the writer's counted): with too few, requests wait for one and answer late. The number free."""
    row = conn.execute(
        "SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int"
        " - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'),"
        " (SELECT CASE WHEN rolconnlimit < 0 OR rolsuper THEN NULL ELSE rolconnlimit END"
        "  - (SELECT count(*) FROM pg_stat_activity WHERE usename = current_user AND backend_type = 'client backend')"
        "  FROM pg_roles WHERE rolname = current_user)"
    ).fetchone()
    more = CONNECTIONS_PER_INSTANCE - 1
    free = int(row[0]) if row is not None else more + 1
    role_free = int(row[1]) if row is not None and row[1] is not None else None  # None: no limit (-1), a superuser
    if role_free is not None and role_free < min(free, more):
        log.warning(
            "the role %s may open %d more connections (its CONNECTION LIMIT) and this instance may open %d more:"
            " raise it (ALTER ROLE … CONNECTION LIMIT; docs/scaling.md budgets %d per instance), or requests"
            " will wait for a connection",
            conn.raw.info.user, role_free, more, CONNECTIONS_PER_INSTANCE,
        )  # fmt: skip
        return role_free
    if free < more:
        log.warning(
            "PostgreSQL has %d connections free and this instance may open %d more: raise max_connections"
            " (docs/scaling.md budgets %d per instance), or requests will wait for a connection",
            free, more, CONNECTIONS_PER_INSTANCE,
        )  # fmt: skip
    return free
