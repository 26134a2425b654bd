"""Follow-ups in the daily log: outcome from the follow-ups table when there is one, else from the messages."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import date, datetime
from typing import Any

import pytest

from assistant import store, upgrade
from assistant.config import Config
from assistant.daylog.formats import write_text
from assistant.daylog.query import DayQuery, Item, Rules, iter_items
from assistant.events import parse_event
from tests.helpers import BACKENDS
from tests.test_archive import insert_followup

pytestmark = BACKENDS

DAY = date(2026, 11, 20)


def ms(clock: str) -> int:
    return int(datetime.fromisoformat(f"2026-11-20T{clock}+08:00").timestamp() * 1000)


def msg(eid: str, clock: str, sender: str, text: str, conv: str = "c1", **extra: Any) -> dict[str, Any]:
    raw = {"id": eid, "type": "message", "ts": f"2026-11-20T{clock}+08:00", "shop": "s", "conversation": conv,
           "customer": "buyer", "sender": sender, "text": text, **extra}  # fmt: skip
    if sender == "agent":
        raw["agent"] = "小美"
    return raw


@pytest.fixture
def conn(db_path: store.Location) -> Iterator[sqlite3.Connection]:
    with closing(store.connect(db_path)) as connection:
        upgrade.migrate(connection)
        yield connection


def add(conn: sqlite3.Connection, *raws: dict[str, Any]) -> None:
    with store.transaction(conn):
        for raw in raws:
            store.insert_event(conn, parse_event(raw, max_text_chars=5000))


def items(conn: sqlite3.Connection, config: Config, **query: Any) -> list[Item]:
    return list(iter_items(conn, DayQuery(DAY, **query), Rules.from_config(config)))


def need_followups_table(conn: sqlite3.Connection) -> None:
    if not store.has_table(conn, "followups"):
        pytest.skip("the follow-ups table is not part of this build")


def test_daylog_followup_without_table_row_counts_as_sent(conn: sqlite3.Connection, config: Config) -> None:
    add(conn, msg("1", "10:00:00", "agent", "亲，在的"), msg("2", "10:05:00", "auto", "亲，还在吗", followup_id="f1"),
        msg("3", "10:50:00", "customer", "在"))  # fmt: skip
    followup = {i["id"]: i for i in items(conn, config)}["2"]["followup"]
    assert followup["state"] == "sent" and followup["outcome"] == "sent"  # 45 min later: past the 30-min window


def test_daylog_followup_state_and_unsent_followups_come_from_the_table(
    conn: sqlite3.Connection, config: Config
) -> None:
    need_followups_table(conn)
    add(conn, msg("1", "10:00:00", "agent", "亲，在的"), msg("2", "10:05:00", "auto", "亲，还在吗", followup_id="f-sent"),
        msg("3", "10:06:00", "customer", "还在"), msg("4", "11:00:00", "agent", "好的"),
        msg("5", "12:00:00", "agent", "亲，收到了吗", conv="c2"))  # fmt: skip
    insert_followup(conn, id="f-sent", shop="s", conversation="c1", state="sent", fired_ms=ms("10:05:00"))
    insert_followup(conn, id="f-failed", shop="s", conversation="c1", state="failed", fired_ms=ms("11:05:00"))
    insert_followup(conn, id="f-pending", shop="s", conversation="c1", state="pending", fired_ms=ms("11:06:00"))
    insert_followup(conn, id="f-missed", shop="s", conversation="c2", state="missed", fired_ms=ms("12:05:00"))
    insert_followup(conn, id="f-alone", shop="s", conversation="c3", state="failed", fired_ms=ms("13:00:00"))
    got = items(conn, config)
    assert [(i["conversation"], i["id"]) for i in got] == [
        ("c1", "1"), ("c1", "2"), ("c1", "3"), ("c1", "4"), ("c1", "f-failed"),
        ("c2", "5"), ("c2", "f-missed"), ("c3", "f-alone"),
    ]  # fmt: skip
    by_id = {i["id"]: i for i in got}
    assert by_id["2"]["followup"]["outcome"] == "came_back" and by_id["2"]["followup"]["came_back_s"] == 60.0
    assert by_id["f-failed"]["kind"] == "followup" and by_id["f-failed"]["followup"]["outcome"] == "failed"
    assert by_id["f-failed"]["sender"] == "auto" and by_id["f-failed"]["text"] == "亲，还在吗"
    assert by_id["f-missed"]["followup"]["outcome"] == "missed"


def test_daylog_followup_filters_apply_to_table_rows(conn: sqlite3.Connection, config: Config) -> None:
    need_followups_table(conn)
    insert_followup(conn, id="f1", shop="s", conversation="c9", state="failed", fired_ms=ms("09:00:00"), agent="小王")
    assert [i["id"] for i in items(conn, config, agent="小王")] == ["f1"]
    assert items(conn, config, agent="小美") == []
    assert items(conn, config, shop="other") == []


def test_daylog_followup_stale_shows_as_a_bad_outcome(conn: sqlite3.Connection, config: Config) -> None:
    need_followups_table(conn)
    add(conn, msg("1", "10:00:00", "agent", "亲，在的", conv="late"))
    insert_followup(
        conn, id="f-stale", shop="s", conversation="late", state="stale", attempts=0, fired_ms=ms("16:00:00")
    )
    got = {i["id"]: i for i in items(conn, config)}
    assert got["f-stale"]["followup"]["outcome"] == "stale" and got["f-stale"]["sender"] == "auto"
    out = io.StringIO()
    write_text([got["f-stale"]], out, color=True)
    assert "\x1b[31m跟进 消息迟到，未跟进" in out.getvalue()  # painted as bad, like failed and missed (zh_CN)
    plain = io.StringIO()
    write_text([got["f-stale"]], plain, color=False)
    # never sent: it read as a message the assistant wrote to the buyer at that time
    [line] = [x for x in plain.getvalue().splitlines() if x.startswith("16:00:00")]
    assert line.split(None, 2)[2].startswith("（未发出）"), line
