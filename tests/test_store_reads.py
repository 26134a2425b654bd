"""Reads of the log that the service makes per conversation: the right rows, found by the conversation."""

from __future__ import annotations

from pathlib import Path

from assistant import schema, store
from assistant.events import parse_event
from tests.helpers import make_event


def test_conversation_messages_are_the_latest_oldest_first_found_by_conversation(tmp_path: Path) -> None:
    conn = store.connect(tmp_path / "log.db")
    schema.migrate(conn)
    # Two conversations, interleaved: the one asked about has the older messages, the other the newest.
    for minute in range(40):
        conversation = "asked" if minute % 4 == 0 else "other"
        raw = make_event(conversation=conversation, ts=1_763_600_000_000 + minute * 60_000, text=f"m{minute}")
        store.insert_event(conn, parse_event(raw, max_text_chars=5000))
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    rows = store.conversation_messages(conn, "shop1", "asked", limit=3)
    conn.set_trace_callback(None)
    assert [r["text"] for r in rows] == ["m28", "m32", "m36"]
    # Ordered by time alone, the newest messages of the shop would be walked until the conversation's
    # were found: the query must look the conversation up instead (there is no index by its time).
    plan = " | ".join(str(r[3]) for r in conn.execute("EXPLAIN QUERY PLAN " + statements[0]))
    assert "messages_kpi_conversation (shop=? AND conversation=?)" in plan, plan
    conn.close()
