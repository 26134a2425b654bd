"""Where the interaction log has data: the shops with messages, and a shop's newest message (for the report's
and the log's default day and their shop lists), each through the (shop, ts) index rather than a scan."""

from __future__ import annotations

import sqlite3


def active_shops(conn: sqlite3.Connection, start_ms: int, end_ms: int) -> list[str]:
    """Shops with a message in [start, end), found by skipping through the (shop, ts) index."""
    sql = _SHOPS_SQL + "  AND EXISTS (SELECT 1 FROM messages m WHERE m.shop = s.shop AND m.ts_ms >= ? AND m.ts_ms < ?)"
    return [row[0] for row in conn.execute(sql, (start_ms, end_ms))]


def latest_message_ms(conn: sqlite3.Connection, shop: str | None = None, before_ms: int | None = None) -> int | None:
    """The newest message's `ts_ms` (of one shop, or of any; before `before_ms` if given), through the (shop,
    ts) index; None when there is none."""
    shops = [shop] if shop is not None else logged_shops(conn)
    sql = "SELECT max(ts_ms) FROM messages WHERE shop = ? AND ts_ms < ?"
    bound = before_ms if before_ms is not None else 2**62  # past every timestamp a log can hold
    found = [conn.execute(sql, (s, bound)).fetchone()[0] for s in shops]
    values = [v for v in found if v is not None]
    return max(values) if values else None


def logged_shops(conn: sqlite3.Connection) -> list[str]:
    """Every shop with a message in the log, in order (one index step per shop, not a scan)."""
    return [row[0] for row in conn.execute(_SHOPS_SQL) if row[0] is not None]


_SHOPS_SQL = """
WITH RECURSIVE s(shop) AS (
  SELECT min(shop) FROM messages
  UNION ALL
  SELECT (SELECT min(m.shop) FROM messages m WHERE m.shop > s.shop) FROM s WHERE s.shop IS NOT NULL
)
SELECT shop FROM s WHERE shop IS NOT NULL
"""
