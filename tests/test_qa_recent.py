"""The quality page's recent flagged messages (`qa.store.recent_flags`): the same items as every flagged message
read, while the read walks only the messages flagged for more than a short reply."""

from __future__ import annotations

import json
from contextlib import closing
from typing import Any

import pytest

from assistant import pg, store
from assistant.config import Config
from assistant.qa.store import flag_item, recent_flags
from tests.helpers import BACKENDS, live_event, make_app

pytestmark = BACKENDS
# (sender, text): short replies alone (flagged short), a short reply with a rule's flag, rules' flags, clean.
MESSAGES = [
    ("agent", "好的"), ("agent", "嗯"), ("agent", "加微信"), ("customer", "再不处理我就投诉了"), ("agent", "亲，在的"),
    ("agent", "OK"), ("agent", "加我V信 abc123"), ("agent", "好"), ("customer", "什么时候发货"), ("agent", "}, {"),
    ("agent", "},{"),  # a short reply alone the index takes (its text reads as two flags): dropped after reading
]  # fmt: skip


def every_flag(conn: Any, since_ms: int, limit: int) -> list[dict[str, Any]]:
    """The items as read before: every flagged message newest first, short replies' flags dropped after reading."""
    found = []
    rows = conn.execute(
        "SELECT e.id, m.seq, m.shop, m.conversation, m.customer, m.sender, m.agent, m.text, m.ts_ms, m.qa,"
        " e.received_ms FROM messages m JOIN events e ON e.seq = m.seq WHERE m.qa IS NOT NULL ORDER BY m.seq DESC"
    )
    for row in rows:
        flags = [f for f in json.loads(row[9]) if f.get("category") != "short"]
        if row[10] >= since_ms and flags:
            found.append(
                (
                    row[10],
                    row[8],
                    row[1],
                    flag_item(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8], flags),
                )
            )
    found.sort(key=lambda f: f[:3], reverse=True)
    return [item for *_, item in found[:limit]]


@pytest.fixture
async def logged(aiohttp_client: Any, config: Config) -> None:
    """Three rounds of MESSAGES logged live through the webhook (the service's inspector flags them)."""
    client = await aiohttp_client(make_app(config))
    for n in range(3):
        events = [
            live_event(id=f"r{n}-{i}", conversation=f"c{i % 4}", sender=sender, text=text,
                       **({"agent": "小美"} if sender == "agent" else {}))
            for i, (sender, text) in enumerate(MESSAGES)
        ]  # fmt: skip
        assert (await client.post("/v1/events", json=events)).status == 200
    await client.close()


@pytest.mark.usefixtures("logged")
def test_recent_flags_are_those_of_every_flagged_message_but_short_replies(db_path: store.Location) -> None:
    with closing(store.connect(db_path, readonly=True)) as conn:
        stamps = sorted({r[0] for r in conn.execute("SELECT received_ms FROM events")})
        categories = [json.loads(r[0]) for r in conn.execute("SELECT qa FROM messages WHERE qa IS NOT NULL")]
        assert sum(all(f["category"] == "short" for f in flags) for flags in categories) == 3 * 6  # short replies alone
        for since in (0, stamps[len(stamps) // 2], stamps[-1], stamps[-1] + 1):
            for limit in (1, 4, 200):
                expected = every_flag(conn, since, limit)
                assert recent_flags(conn, since, limit) == expected, (since, limit)
        shown = {i["text"] for i in recent_flags(conn, 0, 200)}
        assert shown == {"加微信", "再不处理我就投诉了", "加我V信 abc123"}  # a short reply with a rule's flag too


class Recording:
    """A connection that keeps each statement run on it, with its parameters."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.statements: list[tuple[str, Any]] = []

    def execute(self, sql: str, params: Any = ()) -> Any:
        self.statements.append((sql, params))
        return self.conn.execute(sql, params)


@pytest.mark.usefixtures("logged")
def test_recent_flags_walk_the_index_of_messages_flagged_for_more_than_a_short_reply(db_path: store.Location) -> None:
    with closing(store.connect(db_path, readonly=True)) as conn:
        recording = Recording(conn)
        assert recent_flags(recording, 0, 200)  # type: ignore[arg-type]
        if isinstance(db_path, pg.Location):  # so few rows are read whole unless the planner is told not to
            conn.execute("SET enable_seqscan = off")
            conn.execute("SET enable_bitmapscan = off")
        for sql, params in recording.statements:
            explain = "EXPLAIN " if isinstance(db_path, pg.Location) else "EXPLAIN QUERY PLAN "
            plan = " ".join(
                str(r[0] if isinstance(db_path, pg.Location) else r[-1]) for r in conn.execute(explain + sql, params)
            )
            assert "messages_qa_notable" in plan, plan
