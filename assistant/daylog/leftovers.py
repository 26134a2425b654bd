"""What an archived shop-day's rows leave in the tables beside the log's own: deleted with the day.

The archive moves a day's events, messages, orders, conversations and follow-ups out of the database
(daylog/archive.py). These tables name them and are not written to the archive file: an alert repeats its
message (the archive's message record keeps its flags), the others only say where a conversation or a
follow-up was (its timer, the live journal's entries (PostgreSQL), the platform's inbox and status, the platform's id of a follow-up). Left behind,
they kept a buyer's words and conversations in the database past `[store] retention_days`.
"""

from __future__ import annotations

import sqlite3

from assistant import store

# A conversation of the day with no event left (as its `conversations` row goes): `{table}` is the table's alias.
_GONE = (
    "{table}.conversation IN (SELECT conversation FROM temp.archive_conversations)"
    " AND NOT EXISTS (SELECT 1 FROM events e WHERE e.shop = {table}.shop AND e.conversation = {table}.conversation)"
)
# Each table in the order they are deleted (rows others are found through last), with the rows to delete (of the
# shop given, but for a follow-up's Chatwoot id: the day's follow-ups noted are the shop's alone).
STATEMENTS: tuple[tuple[str, str], ...] = (
    ("qa_deliveries", "DELETE FROM qa_deliveries WHERE alert_id IN (SELECT id FROM qa_alerts WHERE shop = ?"
                      " AND seq IN (SELECT seq FROM temp.archive_seqs))"),
    ("qa_alerts", "DELETE FROM qa_alerts WHERE shop = ? AND seq IN (SELECT seq FROM temp.archive_seqs)"),
    ("chatwoot_followups", "DELETE FROM chatwoot_followups WHERE followup_id IN (SELECT id FROM temp.archive_followups)"),
    ("timers", f"DELETE FROM timers WHERE shop = ? AND {_GONE.format(table='timers')}"),
    ("live_journal", f"DELETE FROM live_journal WHERE shop = ? AND {_GONE.format(table='live_journal')}"),
    ("chatwoot_statuses", "DELETE FROM chatwoot_statuses WHERE (account, conversation) IN (SELECT i.account,"
                          " c.conversation FROM conversation_inboxes c JOIN chatwoot_inboxes i ON i.inbox = c.inbox"
                          f" WHERE c.shop = ? AND {_GONE.format(table='c')})"),
    ("conversation_inboxes", "DELETE FROM conversation_inboxes WHERE shop = ?"
                             f" AND {_GONE.format(table='conversation_inboxes')}"),
)  # fmt: skip


def delete(conn: sqlite3.Connection, shop: str) -> None:
    """Delete what the shop-day noted in the archive's temp tables leaves (inside the archive's transaction, after
    the day's events, conversations and follow-ups are deleted)."""
    for table, sql in STATEMENTS:
        if store.has_table(conn, table):
            conn.execute(sql, (shop,) if "?" in sql else ())
