"""Where the interaction log has data: the shops with events in a period (the report's shops), the shops with
messages, and a shop's newest message (for the report's and the log's default day and their shop lists), each
through a (shop, ts) index rather than a scan."""

from __future__ import annotations

import sqlite3


def active_shops(conn: sqlite3.Connection, start_ms: int, end_ms: int) -> list[str]:
    """Shops with an event in [start, end): a message, or an order, a payment or a refund alone (a quiet day's late
    refunds are reported). Every row a report reads (messages, orders, payments, suggestion uses) comes from an event
    of its time, so the events hold every shop of the period; found by skipping through their (shop, ts) index."""
    sql = _SHOPS_SQL.format(table="events")
    sql += "  AND EXISTS (SELECT 1 FROM events e WHERE e.shop = s.shop AND e.ts_ms >= ? AND e.ts_ms < ?)"
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
    return [row[0] for row in conn.execute(_SHOPS_SQL.format(table="messages")) if row[0] is not None]


_SHOPS_SQL = """
WITH RECURSIVE s(shop) AS (
  SELECT min(shop) FROM {table}
  UNION ALL
  SELECT (SELECT min(m.shop) FROM {table} m WHERE m.shop > s.shop) FROM s WHERE s.shop IS NOT NULL
)
SELECT shop FROM s WHERE shop IS NOT NULL
"""
