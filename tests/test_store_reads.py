"""Reads of the log that the service makes per conversation: the right rows, found by the conversation."""

from __future__ import annotations

from pathlib import Path

from assistant import store, upgrade
from assistant.events import parse_event
from assistant.followups.context import fire_context
from assistant.followups.store import events_to_replay, unsettled_followups
from tests.helpers import make_event


def test_conversation_messages_are_the_latest_oldest_first_found_by_conversation(tmp_path: Path) -> None:
    conn = store.connect(tmp_path / "log.db")
    upgrade.migrate(conn)
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


def test_a_conversations_orders_are_found_by_conversation(tmp_path: Path) -> None:
    conn = store.connect(tmp_path / "log.db")
    upgrade.migrate(conn)
    t0 = 1_763_600_000_000

    def log(type: str, conversation: str, order: str, minute: int) -> int:
        raw = make_event(type, conversation=conversation, order=order, ts=t0 + minute * 60_000)
        return store.insert_event(conn, parse_event(raw, max_text_chars=5000)).seq or 0

    # The conversation asked about has the shop's oldest orders, another one all the newest.
    log("order_created", "asked", "a1", 0)
    log("order_created", "asked", "a2", 1)
    log("order_paid", "asked", "a1", 3)
    for minute in range(10, 70):
        log("order_created", "other", f"o{minute}", minute)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    opened = store.open_orders(conn, "shop1", "asked")
    unpaid = store.unpaid_orders(conn, "shop1", "asked", t0)
    context = fire_context(conn, "shop1", "asked", 1, t0 + 60_000, t0, 60_000)
    conn.set_trace_callback(None)
    assert [(r["order_id"], r["paid_ms"] is not None) for r in opened] == [("a2", False), ("a1", True)]
    assert [r["order_id"] for r in unpaid] == ["a2"]
    assert context.paid and context.bought and [o.order_id for o in context.unpaid] == ["a2"]
    # Each read seeks the conversation's orders; walked by the shop's time, a new conversation's first
    # message read all the shop's orders (91 ms at 50,000), on the event loop.
    reads = [s for s in statements if "FROM orders" in s]
    # the open orders, the unpaid ones, and the firing's payment, unpaid orders and paid one (its closing)
    assert len(reads) == 5
    for sql in reads:
        plan = " | ".join(str(r[3]) for r in conn.execute("EXPLAIN QUERY PLAN " + sql))
        assert "orders_conversation (shop=? AND conversation=?" in plan, (sql, plan)
    conn.close()


def test_the_timers_replay_seeks_the_ends_of_the_log(tmp_path: Path) -> None:
    conn = store.connect(tmp_path / "log.db")
    upgrade.migrate(conn)
    for minute in range(30):
        store.insert_event(conn, parse_event(make_event(ts=1_763_600_000_000 + minute * 60_000), max_text_chars=5000))
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    replayed = events_to_replay(conn, 0, 0)
    conn.set_trace_callback(None)
    assert [e.seq for e in replayed] == list(range(1, 31))
    # Read at every start: a scan of the whole log (179 ms at 1.4 million events) for its first and last seq.
    bounds = next(s for s in statements if "min(seq)" in s)
    plan = " | ".join(str(r[3]) for r in conn.execute("EXPLAIN QUERY PLAN " + bounds))
    assert "SCAN events" not in plan, plan
    conn.close()


def test_the_kpi_statements_over_the_days_bursts_seek_each_conversation(tmp_path: Path) -> None:
    from assistant.kpi import queries

    conn = store.connect(tmp_path / "log.db")
    upgrade.migrate(conn)
    conn.executescript(queries._TEMP_TABLES)
    params = {"shop": "s", "ds": 0, "de": 1, "he": 2}
    # Each statement walks the unanswered bursts and seeks their conversation's messages. Left to choose, the
    # planner took the day's customer messages as the outer loop and scanned the bursts for each: a report of
    # a day of 88,000 messages took 87 s in this one statement (1.8 s in all once the bursts drive it).
    for sql in (queries._UNANSWERED_KEEP, queries._UNANSWERED_SPLIT, queries._CARRIED):
        plan = [str(r[3]) for r in conn.execute("EXPLAIN QUERY PLAN " + sql.replace("/*share*/", ""), params)]
        seeks = [step for step in plan if " USING " in step and "INDEX" in step and "messages_" in step]
        assert seeks, plan
        for step in seeks:
            assert "messages_kpi_conversation (shop=? AND conversation=?" in step, (sql, plan)
        scans = [step for step in plan if step.startswith("SCAN ")]
        assert all(step.split()[1] in ("b", "kpi_bursts", "temp.kpi_bursts") for step in scans), plan
    conn.close()


def test_the_unsettled_follow_ups_at_start_seek_each_conversation(tmp_path: Path) -> None:
    from tests.test_archive import insert_followup

    conn = store.connect(tmp_path / "log.db")
    upgrade.migrate(conn)
    t0 = 1_763_600_000_000
    # Five conversations, each with a follow-up suggested at t0 + 1 min; after it: nothing, the customer, our
    # own text coming back (an echo), the agent's other words, a closure.
    later = {
        "quiet": None,
        "customer": make_event(sender="customer", text="好的"),
        "echo": make_event(sender="agent", agent="小美", text="亲，还在吗"),
        "agent": make_event(sender="agent", agent="小美", text="亲，今天发货"),
        "closed": make_event("conversation_closed"),
    }
    for conversation, raw in later.items():
        store.insert_event(conn, parse_event(make_event(conversation=conversation, ts=t0), max_text_chars=5000))
        insert_followup(conn, id=f"fu-{conversation}", shop="shop1", conversation=conversation, state="suggested",
                        fired_ms=t0 + 60_000)  # fmt: skip
        if raw is not None:
            event = raw | {"conversation": conversation, "ts": t0 + 120_000}
            store.insert_event(conn, parse_event(event, max_text_chars=5000))
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    unsettled = unsettled_followups(conn, t0)
    conn.set_trace_callback(None)
    assert sorted(f.id for f in unsettled) == ["fu-echo", "fu-quiet"]
    # Read at every start, for a day of follow-ups. Walked by the shop's time, each follow-up read every message
    # of the shop logged after it: 3.2 billion rows after a busy half hour, a start that did not listen for an hour.
    plan = [str(r[3]) for r in conn.execute("EXPLAIN QUERY PLAN " + statements[-1])]
    messages = [step for step in plan if step.startswith("SEARCH m ")]
    assert messages and all("messages_kpi_conversation (shop=? AND conversation=?" in s for s in messages), plan
    conn.close()


def test_the_armed_timers_at_start_are_read_by_their_index_alone(tmp_path: Path) -> None:
    from assistant.followups.store import TimerRow, armed_timers, save_timers

    conn = store.connect(tmp_path / "log.db")
    upgrade.migrate(conn)
    # The table keeps a row for every conversation ever timed, most of them long done.
    done = [TimerRow("shop1", f"c{n:03}", n, n, n + 60, 1, None, state="done") for n in range(100)]
    armed = [TimerRow("shop1", f"a{n}", n, n, 1_000 - n, 0, None) for n in range(5)]
    save_timers(conn, done + armed, 0)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    first = armed_timers(conn, limit=3)
    rest = armed_timers(conn, after=(first[-1].due_ms, first[-1].shop, first[-1].conversation), limit=3)
    conn.set_trace_callback(None)
    assert [t.conversation for t in first + rest] == ["a4", "a3", "a2", "a1", "a0"]
    # Read by the table's key, a start walked all 76,000 rows of a busy half hour's log for its 1,400 armed timers.
    plan = [str(r[3]) for r in conn.execute("EXPLAIN QUERY PLAN " + statements[-1])]
    assert any("USING INDEX timers_armed" in step for step in plan), plan
    conn.close()
