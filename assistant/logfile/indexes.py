"""The SQLite log's own migrations of its indexes. Most change what an event writes: each page a logged event changes
is written to the -wal at its group's COMMIT and again at the checkpoint, so an index no read needs costs every event
its pages. One adds an index a read of a shop's day needs whatever the statistics (followups_shop_fired).

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

# followups_shop_fired (shop, fired_ms): the reads of one shop's day of follow-ups (the daily log's conversations and
# its search, the archive's notes and records of a shop-day, a rebuilt day's live rows) were planned on
# followups_conversation (shop=?) on a log without statistics (the service never runs ANALYZE): every follow-up the
# shop ever fired, read to keep one day's. With (shop, fired_ms) the planner seeks the day. One entry a follow-up,
# written once: its updates (state, attempts, updated_ms) set none of its columns. PostgreSQL keeps its own schema: its
# planner reads the statistics autovacuum keeps.
FOLLOWUPS_SHOP_FIRED = "CREATE INDEX IF NOT EXISTS followups_shop_fired ON followups (shop, fired_ms);"

SQLITE_LATER: list[tuple[str, str]] = [
    ("sqlite_260_no_conversations_agent", NO_CONVERSATIONS_AGENT),
    ("sqlite_270_no_messages_shop_agent_ts", NO_MESSAGES_SHOP_AGENT_TS),
    ("sqlite_280_followups_shop_fired", FOLLOWUPS_SHOP_FIRED),
]
