"""The reads of one shop's day that group its events by conversation (the daily log's listing, the conversations a
day rebuilt from the archive looks back for, the archive's conversations of a shop-day) go through a time index on
SQLite, with statistics or without (daylog/dayrows.py), and list what the rows say."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from assistant import store
from assistant.clock import day_bounds
from assistant.daylog import archive, query, source
from assistant.daylog.query import DayQuery, Rules, conversation_keys
from assistant.daylog.search import Sought, sought_conversations
from tests.helpers import reopened_before
from tests.kpi_log import TZ, D, Log, ms
from tests.test_archive import insert_followup

SHOPS = ("s1", "s2", "s3")
DAYS = tuple(D + timedelta(days=n) for n in range(-2, 3))
RULES = Rules(TZ)
# sqlite_stat1 as ANALYZE writes it for a log of 60 days of three shops (180,000 events, conversations of 20 events).
BIG_LOG_STATS = (
    ("events_ts", "180000 1 1 1"),
    ("events_conversation", "180000 60000 20 1"),
    ("events_shop_ts", "180000 60000 1"),
    ("sqlite_autoindex_events_1", "180000 1"),
)
TIME_INDEXES = ("INDEX events_ts ", "INDEX events_shop_ts ")


def _fill(log: Log) -> None:
    """Three shops over five days: conversations of a day, one begun the evening before, agents taking turns."""
    for n, day in enumerate(DAYS):
        offset = f"D{(day - D).days:+d} "
        for s, shop in enumerate(SHOPS):
            for c in range(2 + (n + s) % 3):
                who = {"shop": shop, "conversation": f"{shop}-{day:%d}-{c}", "customer": f"u{c}"}
                log.customer(f"{offset}{9 + c}:{10 * s:02d}", "这个有现货吗", **who)
                log.agent(f"{offset}{9 + c}:{10 * s + 5:02d}", f"客服{(c + n) % 2}", "有的亲", **who)
                if c == 1:  # a follow-up that never became a message: its conversation is listed by it too
                    insert_followup(log.conn, id=f"fu-{who['conversation']}", state="failed",
                                    fired_ms=ms(f"{offset}{9 + c}:{10 * s + 8:02d}"), **who)  # fmt: skip
            late = {"shop": shop, "conversation": f"{shop}-{day:%d}-late", "customer": "u-late"}
            log.customer(f"{offset}23:{50 + s}", "明天能发吗", **late)
            log.agent(f"D{(day - D).days + 1:+d} 00:0{s + 1}", "客服1", "亲，今天发", **late)


@pytest.fixture(params=["no statistics", "analyzed", "statistics of a big log"])
def day_log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """A log of several shops and days, with no statistics, its own (ANALYZE), or a big log's in sqlite_stat1."""
    path = tmp_path / "log.db"
    log = Log(path)
    _fill(log)
    log.conn.commit()
    if request.param != "no statistics":
        log.conn.execute("ANALYZE")
    if request.param == "statistics of a big log":
        with store.transaction(log.conn):
            log.conn.execute("DELETE FROM sqlite_stat1 WHERE tbl = 'events'")
            log.conn.executemany("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('events', ?, ?)", BIG_LOG_STATS)
    log.close()
    yield path


def _traced(path: Path) -> tuple[sqlite3.Connection, list[str]]:
    conn = store.connect(path)
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    return conn, seen


def _listing(path: Path, day: date, shop: str | None, agent: str | None = None) -> tuple[list[Any], list[str]]:
    conn, seen = _traced(path)
    try:
        keys = list(conversation_keys(conn, DayQuery(day, shop=shop, agent=agent), RULES))
    finally:
        conn.close()
    return keys, seen


def _looked_back(
    path: Path, day: date, shop: str | None, monkeypatch: pytest.MonkeyPatch
) -> tuple[frozenset[tuple[str, str]], list[str]]:
    seen: list[str] = []
    connect = store.connect

    def traced(location: store.Location, **kwargs: Any) -> sqlite3.Connection:
        conn = connect(location, **kwargs)
        conn.set_trace_callback(seen.append)
        return conn

    start_ms, end_ms = day_bounds(day, TZ)
    with monkeypatch.context() as patch:
        patch.setattr(store, "connect", traced)
        found = source._live_conversations(path, shop, source._Window(start_ms, end_ms + 86_400_000))
    return found, seen


def _archived(path: Path, day: date, shop: str) -> tuple[set[str], list[str]]:
    conn, seen = _traced(path)
    try:
        archive._prepare_temp(conn)
        start_ms, end_ms = day_bounds(day, TZ)
        archive._DaySource(conn, shop, start_ms, end_ms).note()
        conn.set_trace_callback(None)
        found = {row[0] for row in conn.execute("SELECT conversation FROM temp.archive_conversations")}
    finally:
        conn.close()
    return found, seen


def _plans(path: Path, statements: list[str]) -> list[str]:
    """The plan lines that read `events`, of each statement reading a range of its ts_ms."""
    conn = store.connect(path)
    try:
        archive._prepare_temp(conn)
        lines: list[str] = []
        for sql in statements:
            if "FROM events" in sql and "ts_ms >=" in sql:
                lines += [
                    str(row[3]) for row in conn.execute("EXPLAIN QUERY PLAN " + sql) if " events " in f" {row[3]} "
                ]
    finally:
        conn.close()
    return lines


def _assert_time_index(lines: list[str]) -> None:
    assert lines, "no statement read the day's events"
    for line in lines:
        assert "events_conversation" not in line and "SCAN events" not in line, lines
        assert any(index in line for index in TIME_INDEXES), lines


def test_the_daily_log_lists_a_shops_day_through_a_time_index(day_log: Path) -> None:
    for agent in (None, "客服1"):
        _keys, seen = _listing(day_log, D, "s2", agent)
        _assert_time_index(_plans(day_log, seen))


def test_a_rebuilt_day_looks_for_a_shops_conversations_through_a_time_index(
    day_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _found, seen = _looked_back(day_log, D, "s2", monkeypatch)
    _assert_time_index(_plans(day_log, seen))


def test_the_archive_notes_a_shops_conversations_through_a_time_index(day_log: Path) -> None:
    _found, seen = _archived(day_log, D, "s2")
    _assert_time_index(_plans(day_log, seen))


def _followup_plans(path: Path, statements: list[str]) -> list[str]:
    """The plan lines on `followups` of each statement reading a shop's range of its fired_ms."""
    conn = store.connect(path)
    try:
        archive._prepare_temp(conn)
        lines: list[str] = []
        for sql in statements:
            if "followups" in sql and "fired_ms >=" in sql and "shop = '" in sql:
                plan = [str(row[3]) for row in conn.execute("EXPLAIN QUERY PLAN " + sql)]
                lines += [line for line in plan if "followups" in line]
    finally:
        conn.close()
    return lines


def test_a_shops_day_of_followups_is_read_through_a_time_index(day_log: Path) -> None:
    _keys, seen = _listing(day_log, D, "s2")
    _found, noted = _archived(day_log, D, "s2")
    conn, searched = _traced(day_log)
    try:
        start_ms, end_ms = day_bounds(D, TZ)
        listing = query._conversations_sql(DayQuery(D, shop="s2"), True, "sqlite")
        params = {**listing.params, "start": start_ms, "end": end_ms}
        sought_conversations(conn, Sought(text="还在吗"), "s2", listing.sql, params, True)
        archive._prepare_temp(conn)
        day = archive._DaySource(conn, "s2", start_ms, end_ms)
        day.note()
        records = list(day.records())
    finally:
        conn.close()
    assert any("followup" in record for record in records)
    lines = _followup_plans(day_log, seen + noted + searched)
    assert len(lines) >= 5, lines
    for line in lines:
        assert "followups_conversation (shop=?)" not in line and "SCAN" not in line, lines
        assert "followups_shop_fired (shop=? AND fired_ms>? AND fired_ms<?)" in line, lines


def _rows(path: Path) -> list[tuple[str, str, int, str | None]]:
    conn = store.connect(path)
    try:
        return [tuple(row) for row in conn.execute("SELECT shop, conversation, ts_ms, agent FROM events")]
    finally:
        conn.close()


def _expected(
    rows: list[tuple[str, str, int, str | None]], start_ms: int, end_ms: int, keep: Callable[[str], bool]
) -> dict[tuple[str, str], int]:
    """Each (shop, conversation) with events in [start_ms, end_ms) of the shops kept: its first event's time."""
    first: dict[tuple[str, str], int] = {}
    for shop, conversation, ts_ms, _agent in rows:
        if start_ms <= ts_ms < end_ms and keep(shop):
            first[(shop, conversation)] = min(ts_ms, first.get((shop, conversation), ts_ms))
    return first


def test_a_shops_day_lists_the_conversations_its_rows_hold(day_log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = _rows(day_log)
    checked = 0
    for day in DAYS:
        start_ms, end_ms = day_bounds(day, TZ)
        for shop in (None, *SHOPS):
            keep = (lambda s: True) if shop is None else shop.__eq__
            first = _expected(rows, start_ms, end_ms, keep)
            listed, _ = _listing(day_log, day, shop)
            assert listed == sorted(first, key=lambda key: (first[key], *key))
            agents = {(s, c) for s, c, t, a in rows if start_ms <= t < end_ms and keep(s) and a == "客服1"}
            with_agent, _ = _listing(day_log, day, shop, "客服1")
            assert with_agent == [key for key in listed if key in agents] and agents
            looked_back, _ = _looked_back(day_log, day, shop, monkeypatch)
            assert looked_back == set(_expected(rows, start_ms, end_ms + 86_400_000, keep))
            if shop is not None:
                archived, _ = _archived(day_log, day, shop)
                assert archived == {conversation for _shop, conversation in first}
            checked += 1
    assert checked == len(DAYS) * (1 + len(SHOPS))


async def test_an_older_log_gains_followups_shop_fired(tmp_path: Path) -> None:
    indexes = await reopened_before(
        tmp_path / "log.db", "DROP INDEX followups_shop_fired", "sqlite_280_followups_shop_fired"
    )
    assert "followups_shop_fired" in indexes and "(shop, fired_ms)" in indexes["followups_shop_fired"]
