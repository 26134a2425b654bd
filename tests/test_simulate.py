"""The synthetic day: written like the webhook would, deterministic, and shaped like a real shop's day."""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from assistant import store
from assistant.config import load_config
from assistant.kpi import metrics, simulate
from assistant.suggest.matcher import Matcher
from tests.helpers import LOG_TABLES, log_rows

DAY = date(2026, 11, 20)


def _rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    conn = store.connect(path, readonly=True)
    try:
        return log_rows(conn)
    finally:
        conn.close()


def test_simulate_bulk_rows_match_store_insert_event(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(simulate, "_BATCH", 700)  # several transactions, orders paid in a later batch
    simulate.simulate(tmp_path / "bulk.db", DAY, 4, 300, seed=3, progress=False)
    simulate.simulate(tmp_path / "store.db", DAY, 4, 300, seed=3, progress=False, via_store=True)
    bulk, reference = _rows(tmp_path / "bulk.db"), _rows(tmp_path / "store.db")
    for table in LOG_TABLES:
        assert bulk[table] == reference[table], table
    assert len(bulk["events"]) > 3000


def test_simulate_is_deterministic_and_seeded(tmp_path: Path) -> None:
    one = simulate.simulate(tmp_path / "a.db", DAY, 3, 120, seed=1, progress=False)
    two = simulate.simulate(tmp_path / "b.db", DAY, 3, 120, seed=1, progress=False)
    other = simulate.simulate(tmp_path / "c.db", DAY, 3, 120, seed=2, progress=False)
    assert _rows(tmp_path / "a.db") == _rows(tmp_path / "b.db")
    assert (one.messages, one.orders) == (two.messages, two.orders)
    assert _rows(tmp_path / "a.db")["messages"] != _rows(tmp_path / "c.db")["messages"]
    assert other.customers == 120


def test_simulate_refuses_to_log_the_same_day_twice(tmp_path: Path) -> None:
    simulate.simulate(tmp_path / "x.db", DAY, 2, 10, seed=5, progress=False)
    with pytest.raises(ValueError, match="已在 .* 中"):
        simulate.simulate(tmp_path / "x.db", DAY, 2, 10, seed=5, progress=False)
    simulate.simulate(tmp_path / "x.db", DAY, 2, 10, seed=6, progress=False)  # another seed adds another crowd


def test_simulate_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        simulate.simulate(":memory:", DAY, 0, 10)


def test_simulate_logs_in_time_order(tmp_path: Path) -> None:
    simulate.simulate(tmp_path / "t.db", DAY, 3, 200, seed=4, progress=False)
    conn = sqlite3.connect(tmp_path / "t.db")
    start = metrics.credit_window(DAY, load_config(None, env={}).tz)[0]
    stamps = [ts for (ts,) in conn.execute("SELECT ts_ms FROM events WHERE ts_ms >= ? ORDER BY seq", (start,))]
    conn.close()
    assert stamps == sorted(stamps)  # what a webhook delivers; past orders of returning customers come first


def test_simulate_day_looks_like_a_shop_day(tmp_path: Path) -> None:
    path = tmp_path / "day.db"
    result = simulate.simulate(path, DAY, 6, 1500, seed=11, progress=False)
    assert 7 <= result.messages / result.customers <= 16
    assert 0.3 <= result.orders / result.customers <= 0.7
    conn = store.connect(path, readonly=True)
    start, end, horizon = metrics.credit_window(DAY, load_config(None, env={}).tz)

    def one(sql: str, *params: object) -> int:
        return int(conn.execute(sql, params).fetchone()[0])

    assert one("SELECT count(DISTINCT agent) FROM messages WHERE sender = 'agent'") == 6
    assert (
        one(
            "SELECT count(*) FROM (SELECT conversation FROM messages WHERE sender = 'agent'"
            " GROUP BY conversation HAVING count(DISTINCT agent) > 1)"
        )
        > 0
    )  # transfers
    assert one("SELECT count(*) FROM messages WHERE sender = 'auto' AND followup_id IS NOT NULL") > 0
    assert one("SELECT count(*) FROM orders WHERE created_ms >= ?", end) > 0  # ordered after midnight
    assert one("SELECT count(*) FROM orders WHERE created_ms < ?", start) > 0  # returning (after-sale) customers
    assert one("SELECT count(*) FROM orders WHERE agent IS NULL") > 0  # credited by the last human writer
    assert one("SELECT count(*) FROM suggestion_uses") > 0
    conn.close()
    (r,) = metrics.build_reports(
        lambda: store.connect(path, readonly=True), load_config(None, env={}), DAY, now_ms=horizon + 1
    )
    team = r.team.metrics
    assert 0.95 <= team["reply_rate"] <= 1.0
    assert 0.2 <= team["conversion"] <= 0.6 and 0.7 <= team["pay_rate"] <= 0.95
    assert team["slow_responses"] > 0 and team["short_replies"] > 0 and team["followups_recovered"] > 0
    assert 5 <= team["first_response_avg_s"] <= 60 and 0.8 <= team["ask_answer_ratio"] <= 1.6
    assert team["inquiries"] < team["consulted"]  # after-sale contacts
    assert 0 < team["refunds"] < team["sales"]  # a few paid orders are refunded


def test_simulate_shows_progress_when_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    simulate.simulate(tmp_path / "p.db", DAY, 2, 50, seed=1, progress=True)
    assert "simulate" in capsys.readouterr().err


def test_simulated_day_uses_only_the_librarys_intents_types_and_codes(tmp_path: Path, shipped_matcher: Matcher) -> None:
    """The demo shows what the real engine does: every intent, customer type, phrase code and adopted
    phrase in the log exists in the shipped library, and agents answer with its phrases."""
    path = tmp_path / "demo.db"
    simulate.simulate(path, DAY, 4, 300, seed=2, progress=False, matcher=shipped_matcher)
    library = shipped_matcher.library
    codes = {p.code for p in library.phrases}
    rendered = {library.render(p.id) for p in library.phrases}
    conn = store.connect(path, readonly=True)
    intents = {i for (i,) in conn.execute("SELECT DISTINCT intent FROM messages WHERE intent IS NOT NULL")}
    types = {t for (t,) in conn.execute("SELECT DISTINCT customer_type FROM messages WHERE customer_type IS NOT NULL")}
    offered = [json.loads(s) for (s,) in conn.execute("SELECT suggestions FROM messages WHERE suggestions IS NOT NULL")]
    used = [p for (p,) in conn.execute("SELECT phrase_id FROM suggestion_uses")]
    replies = [t for (t,) in conn.execute("SELECT text FROM messages WHERE sender = 'agent'")]
    unread = conn.execute("SELECT count(*) FROM messages WHERE sender = 'customer' AND intent IS NULL").fetchone()[0]
    conn.close()
    assert intents and intents <= set(library.intents)
    assert types and types <= set(library.customer_types) and len(types) >= 2
    assert offered and all(s["code"] in codes and s["phrase_id"] in library.by_id for o in offered for s in o)
    assert used and set(used) <= set(library.by_id)
    assert sum(t in rendered for t in replies) / len(replies) >= 0.6  # mostly the library's answers
    assert unread / (len(offered) + unread) < 0.3  # the questions come from the library's own wording


def test_simulated_customer_reads_as_the_matcher_reads_it(tmp_path: Path, shipped_matcher: Matcher) -> None:
    """Each logged suggestion list is what the matcher gives that message."""
    path = tmp_path / "d.db"
    simulate.simulate(path, DAY, 2, 40, seed=9, progress=False, matcher=shipped_matcher)
    conn = store.connect(path, readonly=True)
    rows = conn.execute("SELECT text, intent, suggestions FROM messages WHERE sender = 'customer' LIMIT 30").fetchall()
    conn.close()
    for text, intent, logged in rows:
        expected = shipped_matcher.suggest(text)
        assert intent == (expected[0].intent if expected else None), text
        assert [s["phrase_id"] for s in json.loads(logged or "[]")] == [s.phrase_id for s in expected], text
