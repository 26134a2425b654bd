"""Where a day's rows come from: the live database, or the day's archive files rebuilt into a temporary one."""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from assistant import pg, store, upgrade
from assistant.clock import day_bounds
from assistant.config import Config
from assistant.daylog.archive import archived_days, read_checked, refuse_missing, shop_of_dir
from assistant.daylog.query import Rules, has_table, reply_horizon_ms

# A day is read conversation by conversation: a 16 MiB page cache (fixed, whatever the day's size)
# saves most re-reads of pages shared by conversations that ran at the same time.
READ_CACHE_KIB = 16_384
_BATCH = 2_000


@contextmanager
def open_day(
    config: Config, db_path: store.Location, day: date, shop: str | None = None
) -> Iterator[sqlite3.Connection]:
    """A connection holding `day` and the next day (the lookahead, the replies counted until its end): the live
    database when nothing of it is archived, else a temporary database rebuilt from the archive files plus the
    live rows."""
    refuse_missing(config, db_path, day, day + timedelta(days=1), shop)  # a restore without the archive directory
    own = archived_days(config, day, shop)
    files = own + archived_days(config, day + timedelta(days=1), shop)
    if not files:
        conn = store.connect(db_path)
        try:
            # Within the service (its lock held, or on PostgreSQL) the writer migrated and repaired at start.
            upgrade.migrate_for_command(conn, db_path, repair=not isinstance(db_path, pg.Location))
            conn.execute(f"PRAGMA cache_size = -{READ_CACHE_KIB}")
            yield conn
        finally:
            conn.close()
        return
    start_ms, end_ms = day_bounds(day, config.tz)
    horizon_ms = max(end_ms + Rules.from_config(config).lookahead_ms, reply_horizon_ms(day, config.tz))
    with tempfile.TemporaryDirectory(prefix="assistant-day-") as tmpdir:
        conn = store.connect(Path(tmpdir) / "day.db")
        try:
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute(f"PRAGMA cache_size = -{READ_CACHE_KIB}")
            upgrade.migrate(conn)
            with store.transaction(conn):
                restore = _Restore(conn, start_ms, horizon_ms)
                for path in files:  # a damaged file stops the day here, before anything is shown
                    for record in read_checked(path):
                        restore.add(record)
                restore.flush()
                # The day is read back from the archive: its refunds are not checked against the payments, which
                # were archived with the days before it (daylog/query.py).
                conn.executemany(
                    "INSERT INTO archived_days (shop, day, archived_ms) VALUES (?, ?, 0) ON CONFLICT DO NOTHING",
                    [(shop_of_dir(path.parent), day.isoformat()) for path in own],
                )
            if isinstance(db_path, pg.Location):
                _copy_live_pg(conn, db_path, shop, start_ms, horizon_ms)
            elif db_path.exists():
                _copy_live(conn, db_path, shop, start_ms, horizon_ms)
            yield conn
        finally:
            conn.close()


class _Restore:
    """Archive records written back as rows, in batches.

    Events keep their archived `seq`: the numbers come from one database, so they cannot collide;
    live rows copied afterwards get new numbers above them.
    """

    def __init__(self, conn: sqlite3.Connection, start_ms: int, horizon_ms: int) -> None:
        self.conn = conn
        self.window = (start_ms, horizon_ms)
        self.pending: dict[str, list[dict[str, Any]]] = {"events": [], "messages": [], "followups": []}

    def add(self, record: dict[str, Any]) -> None:
        if "customer_name" in record:  # a buyer's name, kept for `assistant buyer`: no row of the day's log
            return
        if "followup" in record:
            self.pending["followups"].append(record["followup"])
        else:
            event = record["event"]
            if not self.window[0] <= event["ts_ms"] < self.window[1]:
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


def _copy_live(conn: sqlite3.Connection, db_path: Path, shop: str | None, start_ms: int, horizon_ms: int) -> None:
    """Add the live rows of the window that the archive files lack (late arrivals, a half-done run)."""
    conn.execute("ATTACH DATABASE ? AS live", (str(db_path),))
    try:
        where = "le.ts_ms >= ? AND le.ts_ms < ?" + (" AND le.shop = ?" if shop is not None else "")
        params: list[Any] = [start_ms, horizon_ms] + ([shop] if shop is not None else [])
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
            if has_table(conn, "followups") and {"id", "shop", "fired_ms"} <= live_followups:
                shared = [c for c in _columns(conn, "followups") if c in live_followups]
                fwhere = "fired_ms >= ? AND fired_ms < ?" + (" AND shop = ?" if shop is not None else "")
                conn.execute(
                    f"INSERT OR IGNORE INTO main.followups ({', '.join(_quote(c) for c in shared)})"
                    f" SELECT {', '.join(_quote(c) for c in shared)} FROM live.followups WHERE {fwhere}",
                    params,
                )
    finally:
        conn.execute("DETACH DATABASE live")


def _copy_live_pg(
    conn: sqlite3.Connection, location: pg.Location, shop: str | None, start_ms: int, horizon_ms: int
) -> None:
    """`_copy_live` from PostgreSQL: the window's rows read there and added here (no ATTACH across servers)."""
    where = "e.ts_ms >= ? AND e.ts_ms < ?" + (" AND e.shop = ?" if shop is not None else "")
    params: list[Any] = [start_ms, horizon_ms] + ([shop] if shop is not None else [])
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
        fwhere = "fired_ms >= ? AND fired_ms < ?" + (" AND shop = ?" if shop is not None else "")
        followups = live.execute(f"SELECT * FROM followups WHERE {fwhere}", params).fetchall()
    finally:
        live.close()
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
