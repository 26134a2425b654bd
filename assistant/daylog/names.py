"""A buyer's name (`customer_names`, a Chatwoot contact's) leaves the database with their last message: archiving
the day that holds it carries the name into that day's file, where `assistant buyer` finds, exports and erases it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

from assistant.daylog.query import has_table

# The names of the shop-day's buyers who have no message on another day (the temp table is the archive's): three
# seeks in messages_customer_ts per name of the shop, 0.2 s for 91,000 names beside a day of 1,000,000 messages (whose
# archive takes a minute), where reading the day's buyers from its messages took 0.9–1.7 s.
_NOTE = """
INSERT INTO temp.archive_names (customer, name) SELECT n.customer, n.name FROM customer_names n
WHERE n.shop = ?
  AND EXISTS (SELECT 1 FROM messages m WHERE m.shop = n.shop AND m.customer = n.customer AND m.ts_ms >= ? AND m.ts_ms < ?)
  AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.shop = n.shop AND m.customer = n.customer AND m.ts_ms < ?)
  AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.shop = n.shop AND m.customer = n.customer AND m.ts_ms >= ?)
"""
# Unless renamed meanwhile, or a message of theirs came in late (it stays, and so does their name).
_FORGET = """
DELETE FROM customer_names WHERE shop = ? AND (customer, name) IN (SELECT customer, name FROM temp.archive_names)
  AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.shop = customer_names.shop AND m.customer = customer_names.customer)
"""
_SKIP = " AND NOT EXISTS (SELECT 1 FROM temp.archive_keys k WHERE k.key = 'n:' || n.customer)"


def note(conn: sqlite3.Connection, shop: str, start_ms: int, end_ms: int) -> None:
    """Note the names whose last message is in the shop-day [start_ms, end_ms), inside the archive's snapshot."""
    if has_table(conn, "customer_names"):
        conn.execute(_NOTE, (shop, start_ms, end_ms, start_ms, end_ms))


def records(conn: sqlite3.Connection, shop: str, *, skip_archived: bool) -> Iterator[dict[str, Any]]:
    """The noted names as archive records (`skip_archived`: those the file lacks)."""
    rows = conn.execute(f"SELECT customer, name FROM temp.archive_names n WHERE true{_SKIP if skip_archived else ''}")
    for customer, name in rows.fetchall():
        yield {"customer_name": {"shop": shop, "customer": customer, "name": name}}


def keys(conn: sqlite3.Connection) -> list[str]:
    """The noted names' record keys."""
    return ["n:" + customer for (customer,) in conn.execute("SELECT customer FROM temp.archive_names")]


def forget(conn: sqlite3.Connection, shop: str) -> None:
    """Delete the noted names of buyers left with no message (after the day's messages are deleted)."""
    if has_table(conn, "customer_names"):
        conn.execute(_FORGET, (shop,))
