"""Every table of the database, after `assistant buyer erase` and `assistant archive`: nothing of an erased buyer's
conversation is left in any of them, nor of an archived day's conversation but what the archive keeps on purpose."""

from __future__ import annotations

import json
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from assistant import store
from assistant.config import Config
from assistant.daylog import buyer
from assistant.daylog.archive import archive
from tests.helpers import BACKENDS
from tests.test_archive import NOW, TODAY, add_events, archiving_on, day_ts

pytestmark = BACKENDS
SHOP = "shop1"
GONE, KEPT = "gone", "kept"  # every value naming the first conversation holds "gone"; the second's, "kept"
INBOXES = {GONE: "inbox-1", KEPT: "inbox-2"}  # the platform's inboxes: the shop's, named by neither

# The tables holding no conversation's data: the shop's catalog, the platform's inboxes and agents, settings,
# watermarks, migrations, the fleet's reloads, the days archived.
SHOP_TABLES = {
    "archived_days", "catalog_imports", "catalog_items", "catalog_notes", "catalog_sizes", "chatwoot_agents",
    "chatwoot_inboxes", "derived_watermark", "timers_watermark", "kpi_window", "kpi_window_changes",
    "_sqlite_migrations", "_assistant_migrations", "fleet_reloads", "fleet_reload_results",
}  # fmt: skip
# The log's own tables, filled by logging events; the others, filled here with a row per conversation.
LOGGED = {"events", "messages", "conversations", "orders", "payments"}
SIDE = {
    "suggestion_uses", "followups", "followup_outcomes", "chatwoot_followups", "qa_alerts", "qa_deliveries",
    "timers", "live_journal", "customer_names", "customer_merges", "conversation_inboxes", "chatwoot_statuses",
}  # fmt: skip
# What archiving keeps of a buyer on purpose: their merged ids, through which `buyer erase` finds their archived
# records under either id (docs/daily-log.md).
ARCHIVE_KEEPS = {"customer_merges"}


def tables(conn: Any) -> set[str]:
    if store.dialect(conn) == "postgresql":
        return {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def value(table: str, column: str, who: str, seq: int, ts_ms: int) -> Any:
    """A side table's value for a column, naming the conversation `who` wherever a column can."""
    named = {
        "shop": SHOP, "conversation": f"cv-{who}", "customer": f"buyer-{who}", "merged_into": f"buyer-{who}-new",
        "followup_id": f"f-{who}", "alert_id": f"qa-{who}", "inbox": INBOXES[who], "account": "acct1",
        "message_id": f"m-{who}", "phrase_id": "p1", "agent": "小美", "text": f"{who} 的话", "name": f"{who} 的名字",
        "payload": json.dumps({"who": who}), "flags": "[]", "kind": "closing", "mode": "send", "state": "sent",
        "sender": "customer", "status": "resolved", "event_id": f"e-{who}", "plugin": "dingtalk", "level": 1,
    }  # fmt: skip
    if column == "id":
        return {"followups": f"f-{who}", "followup_outcomes": f"f-{who}", "qa_alerts": f"qa-{who}"}[table]
    if column in named:
        return named[column]
    if column in ("seq", "armed_seq"):
        return seq
    if column.endswith("_ms"):
        return ts_ms
    return 0


def fill(conn: Any, who: str, seq: int, ts_ms: int) -> None:
    """A row of every side table for the conversation `who`, and its inbox's account."""
    for table in sorted(SIDE & tables(conn)):
        names = [c for c in store.columns(conn, table) if not (table == "live_journal" and c == "id")]
        marks = ", ".join("?" for _ in names)
        conn.execute(
            f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})",
            [value(table, c, who, seq, ts_ms) for c in names],
        )
    conn.execute("INSERT INTO chatwoot_inboxes (inbox, account) VALUES (?, 'acct1')", (INBOXES[who],))


def chat(who: str, ts: str) -> list[dict[str, Any]]:
    base = {"shop": SHOP, "conversation": f"cv-{who}", "customer": f"buyer-{who}", "ts": ts}
    return [
        {**base, "id": f"{who}-q", "type": "message", "sender": "customer", "text": "什么时候发货"},
        {**base, "id": f"{who}-a", "type": "message", "sender": "agent", "agent": "小美", "text": "亲，今天发"},
        {**base, "id": f"{who}-o", "type": "order_created", "order": f"o-{who}", "amount": 9.9, "agent": "小美"},
        {**base, "id": f"{who}-p", "type": "order_paid", "order": f"o-{who}", "amount": 9.9},
    ]  # fmt: skip


def log(db: store.Location, days: dict[str, int]) -> None:
    """Each conversation's chat on the day `days[who]` days ago, and its row in every side table."""
    for who, ago in days.items():
        add_events(db, chat(who, day_ts(TODAY - timedelta(days=ago), 10)))
    with closing(store.connect(db)) as conn, store.transaction(conn):
        for who in days:
            seq, ts_ms = conn.execute(
                "SELECT max(seq), max(ts_ms) FROM events WHERE customer = ?", (f"buyer-{who}",)
            ).fetchone()
            fill(conn, who, seq, ts_ms)


def rows(db: store.Location) -> dict[str, list[str]]:
    """Every row of every table, as text."""
    with closing(store.connect(db)) as conn:
        return {t: [repr(tuple(r)) for r in conn.execute(f"SELECT * FROM {t}")] for t in sorted(tables(conn))}


def naming(found: dict[str, list[str]], who: str) -> dict[str, int]:
    return {t: n for t, rs in found.items() if (n := sum(who in r for r in rs))}


@pytest.fixture
def config(config: Config, tmp_path: Path, db_path: store.Location, monkeypatch: pytest.MonkeyPatch) -> Config:
    return archiving_on(config, tmp_path, db_path, monkeypatch)


def test_every_table_is_known_to_hold_a_conversations_rows_or_none(config: Config, db_path: store.Location) -> None:
    with closing(store.connect(db_path)) as conn:
        found = tables(conn)
    assert found - SHOP_TABLES - LOGGED - SIDE == set()  # a new table: say whether erasure and archiving clear it
    assert LOGGED <= found and (SIDE - {"live_journal"}) <= found


def test_buyer_erase_leaves_no_row_of_their_conversation_in_any_table(config: Config, db_path: store.Location) -> None:
    log(db_path, {GONE: 1, KEPT: 1})
    before = rows(db_path)
    assert naming(before, GONE).keys() == naming(before, KEPT).keys() >= LOGGED | (SIDE & before.keys())

    buyer.erase(config, db_path, buyer.merged(db_path, buyer.Buyer(f"buyer-{GONE}", SHOP)))

    after = rows(db_path)
    assert naming(after, GONE) == {}
    assert naming(after, KEPT) == naming(before, KEPT)


def test_archive_leaves_no_row_of_an_archived_conversation_but_its_buyers_merged_ids(
    config: Config, db_path: store.Location
) -> None:
    log(db_path, {GONE: 200, KEPT: 1})
    before = rows(db_path)

    archive(config, db_path, NOW)

    after = rows(db_path)
    assert naming(after, GONE).keys() == ARCHIVE_KEEPS
    assert naming(after, KEPT) == naming(before, KEPT)
