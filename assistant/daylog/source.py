"""Where a day's rows come from: the live database, or the day's archive files rebuilt into a temporary one."""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from assistant import pg, store, upgrade
from assistant.clock import day_bounds
from assistant.config import Config
from assistant.daylog.archive import archived_days, read_checked, refuse_missing, shop_of_dir
from assistant.daylog.dayrows import rows_cte
from assistant.daylog.interrupts import interruptible
from assistant.daylog.query import Rules, has_table, reply_horizon_ms

# A day is read conversation by conversation: a 16 MiB page cache (fixed, whatever the day's size)
# saves most re-reads of pages shared by conversations that ran at the same time.
READ_CACHE_KIB = 16_384
_BATCH = 2_000


@contextmanager
def open_day(
    config: Config, db_path: store.Location, day: date, shop: str | None = None
) -> Iterator[sqlite3.Connection]:
    """A connection holding `day`, the next day (the lookahead, the replies counted until its end) and the messages
    the day's conversations had the day before (a buyer's copy just after midnight of a message before it, a
    conversation begun the evening before, which owes no greeting today): the live database when nothing of them is
    archived, else a temporary database rebuilt from the archive files plus the live rows."""
    before = day - timedelta(days=1)
    refuse_missing(config, db_path, before, day + timedelta(days=1), shop)  # a restore without the archive directory
    own = archived_days(config, day, shop)
    files = own + archived_days(config, day + timedelta(days=1), shop)
    earlier = archived_days(config, before, shop)
    if not files and not earlier:
        conn = store.connect(db_path)
        try:
            with interruptible(conn):  # at the service's stop (daylog/interrupts.py)
                # Within the service (its lock held, or on PostgreSQL) the writer migrated and repaired at start.
                upgrade.migrate_for_command(conn, db_path, repair=not isinstance(db_path, pg.Location))
                conn.execute(f"PRAGMA cache_size = -{READ_CACHE_KIB}")
                yield conn
        finally:
            conn.close()
        return
    start_ms, end_ms = day_bounds(day, config.tz)
    horizon_ms = max(end_ms + Rules.from_config(config).lookahead_ms, reply_horizon_ms(day, config.tz))
    day_rows = _Window(start_ms, horizon_ms)
    with tempfile.TemporaryDirectory(prefix="assistant-day-") as tmpdir:
        conn = store.connect(Path(tmpdir) / "day.db")
        try:
            with interruptible(conn):  # a temporary file: nothing of the log is half-written
                conn.execute("PRAGMA synchronous=OFF")
                conn.execute(f"PRAGMA cache_size = -{READ_CACHE_KIB}")
                upgrade.migrate(conn)
                with store.transaction(conn):
                    _restore(conn, files, day_rows)  # a damaged file stops the day here, before anything is shown
                    # The day is read back from the archive: its refunds are not checked against the payments, which
                    # were archived with the days before it (daylog/query.py).
                    conn.executemany(
                        "INSERT INTO archived_days (shop, day, archived_ms) VALUES (?, ?, 0) ON CONFLICT DO NOTHING",
                        [(shop_of_dir(path.parent), day.isoformat()) for path in own],
                    )
                    # The day before, as the day's reading looks back at it: the messages of the conversations of the
                    # window, nothing else of it. Archived rows keep their numbers, so they all go in before the live ones.
                    conversations = _conversations(conn) | _live_conversations(db_path, shop, day_rows)
                    looked_back = _Window(day_bounds(before, config.tz)[0], start_ms, conversations)
                    _restore(conn, earlier, looked_back)
                _copy_live(conn, db_path, shop, day_rows)
                _copy_live(conn, db_path, shop, looked_back)
                yield conn
        finally:
            conn.close()


@dataclass(frozen=True)
class _Window:
    """The rows a rebuilt day takes: events stamped in [start_ms, end_ms); with `conversations`, only the messages of
    those (shop, conversation) pairs, and no follow-up."""

    start_ms: int
    end_ms: int
    conversations: frozenset[tuple[str, str]] | None = None

    def takes(self, event: dict[str, Any], message: bool) -> bool:
        if not self.start_ms <= event["ts_ms"] < self.end_ms:
            return False
        return self.conversations is None or (message and (event["shop"], event["conversation"]) in self.conversations)


def _conversations(conn: sqlite3.Connection) -> frozenset[tuple[str, str]]:
    """The (shop, conversation) pairs with rows in the rebuilt database."""
    return frozenset((row[0], row[1]) for row in conn.execute("SELECT DISTINCT shop, conversation FROM events"))


def _live_conversations(db_path: store.Location, shop: str | None, window: _Window) -> frozenset[tuple[str, str]]:
    """The (shop, conversation) pairs with live rows in the window."""
    if not store.exists(db_path):
        return frozenset()
    where = "ts_ms >= ? AND ts_ms < ?" + (" AND shop = ?" if shop is not None else "")
    params = [window.start_ms, window.end_ms] + ([shop] if shop is not None else [])
    live = store.connect(db_path, readonly=True)
    try:
        window_rows = rows_cte(
            store.dialect(live), "window_rows", f"SELECT shop, conversation FROM events WHERE {where}"
        )
        rows = live.execute(
            f"WITH {window_rows} SELECT DISTINCT shop, conversation FROM window_rows", params
        ).fetchall()
    finally:
        live.close()
    return frozenset((row[0], row[1]) for row in rows)


def _restore(conn: sqlite3.Connection, files: list[Path], window: _Window) -> None:
    restore = _Restore(conn, window)
    for path in files:
        for record in read_checked(path):
            restore.add(record)
    restore.flush()


class _Restore:
    """Archive records written back as rows, in batches.

    Events keep their archived `seq`: the numbers come from one database, so they cannot collide;
    live rows copied afterwards get new numbers above them.
    """

    def __init__(self, conn: sqlite3.Connection, window: _Window) -> None:
        self.conn = conn
        self.window = window
        self.pending: dict[str, list[dict[str, Any]]] = {"events": [], "messages": [], "followups": []}

    def add(self, record: dict[str, Any]) -> None:
        if "customer_name" in record:  # a buyer's name, kept for `assistant buyer`: no row of the day's log
            return
        if "followup" in record:
            if self.window.conversations is None:
                self.pending["followups"].append(record["followup"])
        else:
            event = record["event"]
            if not self.window.takes(event, "message" in record):
                return
            self.pending["events"].append(
                {**event, "raw": json.dumps(event["raw"], ensure_ascii=False, separators=(",", ":"))}
            )
            if "message" in record:
                self.pending["messages"].append(record["message"])
        if len(self.pending["events"]) >= _BATCH or len(self.pending["followups"]) >= _BATCH:
            self.flush()

    def flush(self) -> None:
        for table in ("events", "messages", "followups"):
            rows = self.pending[table]
            if not rows:
                continue
            if table == "followups" and not has_table(self.conn, "followups"):
                self.conn.execute(f"CREATE TABLE followups ({', '.join(_quote(c) for c in rows[0])})")
            columns = [c for c in _columns(self.conn, table) if c in rows[0]]
            self.conn.executemany(
                f"INSERT OR IGNORE INTO {table} ({', '.join(_quote(c) for c in columns)})"
                f" VALUES ({', '.join('?' for _ in columns)})",
                ([row.get(c) for c in columns] for row in rows),
            )
            rows.clear()


def _columns(conn: sqlite3.Connection, table: str, schema: str = "main") -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA {schema}.table_info({_quote(table)})")]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _copy_live(conn: sqlite3.Connection, db_path: store.Location, shop: str | None, window: _Window) -> None:
    """Add the live rows of the window that the archive files lack (late arrivals, a half-done run)."""
    if isinstance(db_path, pg.Location):
        _copy_live_pg(conn, db_path, shop, window)
    elif db_path.exists():
        _copy_live_sqlite(conn, db_path, shop, window)


def _copy_live_sqlite(conn: sqlite3.Connection, db_path: Path, shop: str | None, window: _Window) -> None:
    conn.execute("ATTACH DATABASE ? AS live", (str(db_path),))
    try:
        where = "le.ts_ms >= :start AND le.ts_ms < :end" + (" AND le.shop = :shop" if shop is not None else "")
        params: dict[str, Any] = {"start": window.start_ms, "end": window.end_ms, "shop": shop}
        if window.conversations is not None:  # the messages of the conversations the rebuilt day has
            where += (
                " AND le.type = 'message' AND EXISTS (SELECT 1 FROM main.events d WHERE d.shop = le.shop"
                " AND d.conversation = le.conversation AND d.ts_ms >= :end)"
            )  # the window's conversations: those with rows from its end on (the day's, live or archived)
        live_events = set(_columns(conn, "events", "live"))
        live_messages = set(_columns(conn, "messages", "live"))
        event_columns = [c for c in _columns(conn, "events") if c != "seq" and c in live_events]
        message_columns = [c for c in _columns(conn, "messages") if c != "seq" and c in live_messages]
        with store.transaction(conn):
            conn.execute(
                f"INSERT OR IGNORE INTO main.events ({', '.join(_quote(c) for c in event_columns)})"
                f" SELECT {', '.join('le.' + _quote(c) for c in event_columns)}"
                f" FROM live.events le WHERE {where} ORDER BY le.ts_ms, le.seq",
                params,
            )
            conn.execute(
                f"INSERT INTO main.messages (seq, {', '.join(_quote(c) for c in message_columns)})"
                f" SELECT e.seq, {', '.join('lm.' + _quote(c) for c in message_columns)}"
                " FROM live.events le JOIN live.messages lm ON lm.seq = le.seq JOIN main.events e ON e.id = le.id"
                f" WHERE {where} AND NOT EXISTS (SELECT 1 FROM main.messages m WHERE m.seq = e.seq)",
                params,
            )
            live_followups = set(_columns(conn, "followups", "live"))
            if (
                window.conversations is None
                and has_table(conn, "followups")
                and {"id", "shop", "fired_ms"} <= live_followups
            ):
                shared = [c for c in _columns(conn, "followups") if c in live_followups]
                fwhere = "fired_ms >= :start AND fired_ms < :end" + (" AND shop = :shop" if shop is not None else "")
                conn.execute(
                    f"INSERT OR IGNORE INTO main.followups ({', '.join(_quote(c) for c in shared)})"
                    f" SELECT {', '.join(_quote(c) for c in shared)} FROM live.followups WHERE {fwhere}",
                    params,
                )
    finally:
        conn.execute("DETACH DATABASE live")


def _copy_live_pg(conn: sqlite3.Connection, location: pg.Location, shop: str | None, window: _Window) -> None:
    """`_copy_live` from PostgreSQL: the window's rows read there and added here (no ATTACH across servers)."""
    where = "e.ts_ms >= ? AND e.ts_ms < ?" + (" AND e.shop = ?" if shop is not None else "")
    params: list[Any] = [window.start_ms, window.end_ms] + ([shop] if shop is not None else [])
    if window.conversations is not None:
        where += " AND e.type = 'message'"
    event_columns = [c for c in _columns(conn, "events") if c != "seq"]
    message_columns = [c for c in _columns(conn, "messages") if c != "seq"]
    live = store.connect(location, readonly=True)
    try:
        events = live.execute(
            f"SELECT {', '.join('e.' + _quote(c) for c in event_columns)} FROM events e WHERE {where}"
            " ORDER BY e.ts_ms, e.seq",
            params,
        ).fetchall()
        messages = live.execute(
            f"SELECT e.id, {', '.join('m.' + _quote(c) for c in message_columns)}"
            f" FROM events e JOIN messages m ON m.seq = e.seq WHERE {where}",
            params,
        ).fetchall()
        followups: list[Any] = []
        if window.conversations is None:
            fwhere = "fired_ms >= ? AND fired_ms < ?" + (" AND shop = ?" if shop is not None else "")
            followups = live.execute(f"SELECT * FROM followups WHERE {fwhere}", params).fetchall()
    finally:
        live.close()
    if window.conversations is not None:  # the messages of the conversations the rebuilt day has
        kept = {row[0] for row in events if window.takes(dict(zip(event_columns, row)), True)}
        events = [row for row in events if row[0] in kept]
        messages = [row for row in messages if row[0] in kept]
    with store.transaction(conn):
        conn.executemany(
            f"INSERT OR IGNORE INTO events ({', '.join(_quote(c) for c in event_columns)})"
            f" VALUES ({', '.join('?' for _ in event_columns)})",
            [tuple(row) for row in events],
        )
        conn.executemany(
            f"INSERT OR IGNORE INTO messages (seq, {', '.join(_quote(c) for c in message_columns)})"
            f" SELECT seq, {', '.join('?' for _ in message_columns)} FROM events WHERE id = ?",
            [(*row[1:], row[0]) for row in messages],
        )
        if followups and has_table(conn, "followups"):
            shared = [c for c in _columns(conn, "followups") if c in followups[0].keys()]
            conn.executemany(
                f"INSERT OR IGNORE INTO followups ({', '.join(_quote(c) for c in shared)})"
                f" VALUES ({', '.join('?' for _ in shared)})",
                [tuple(row[c] for c in shared) for row in followups],
            )
