"""The SQLite log's migrations that change what an event writes: each page a logged event changes is written to the
-wal at its group's COMMIT and again at the checkpoint, so an index no read needs costs every event its pages.

Only the SQLite log's: PostgreSQL updates a row in place (HOT) when none of its indexed values changes, which SQLite
does not (it rewrites the entry of every index whose column an UPDATE sets, even to the value it had)."""

from __future__ import annotations

# conversations_agent (shop, agent, status): every event's upsert of its conversation sets `agent` and `status`
# (mostly to what they were), and SQLite then rewrote the conversation's entry in it: a page of its own per event.
# No read seeks it on SQLite: the open conversations (store.open_conversations) are read without a shop, the
# shops and a buyer's conversations by their shop, which the primary key leads with as well. Measured with
# bench_pages on a log of 120,000 events: 0.18 of an agent message's 5.2 pages, 0.29 of a customer message's.
NO_CONVERSATIONS_AGENT = "DROP INDEX IF EXISTS conversations_agent;"

# messages_shop_agent_ts (shop, agent, ts_ms): every logged message wrote it, a customer's too (agent NULL, at the
# right edge of the shop's NULLs: a page a group). The only reads that sought it on SQLite were the reports' checks
# for an agent message's copy (kpi/rules._AGENT_COPY: shop, agent, ts_ms equal, an earlier seq), which seek
# messages_kpi_conversation without it (shop, conversation, sender, ts_ms equal, an earlier seq: one seek either
# way). Measured with bench_pages on a log of 120,000 events: 0.14 of an agent message's 4.8 pages, 0.75 of a
# customer message's 10.4 (docs/scaling.md).
NO_MESSAGES_SHOP_AGENT_TS = "DROP INDEX IF EXISTS messages_shop_agent_ts;"

SQLITE_LATER: list[tuple[str, str]] = [
    ("sqlite_260_no_conversations_agent", NO_CONVERSATIONS_AGENT),
    ("sqlite_270_no_messages_shop_agent_ts", NO_MESSAGES_SHOP_AGENT_TS),
]
