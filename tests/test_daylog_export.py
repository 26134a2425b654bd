"""A large day written by worker processes reads exactly as one written in this process."""

from __future__ import annotations

import io
import threading
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from assistant import store, upgrade
from assistant.config import Config
from assistant.daylog import export, query, threads
from assistant.daylog.query import DayQuery, Rules
from assistant.daylog.source import open_day
from assistant.events import parse_event

DAY = date(2026, 11, 20)
OFFERED = ({"phrase_id": "p1", "code": "c1", "score": 80.5}, {"phrase_id": "p2", "code": "c2", "score": 40})


def _raw(eid: str, ts: Any, c: int, sender: str, text: str, **extra: Any) -> dict[str, Any]:
    return {"id": eid, "type": "message", "ts": ts, "shop": "s", "conversation": f"conv{c}", "customer": f"b{c}",
            "sender": sender, "text": text, "agent": "小美", **extra}  # fmt: skip


@pytest.fixture
def busy_day(db_path: Path) -> Path:
    """40 conversations with suggestions, uses, follow-ups and orders, some running past midnight."""
    conn = store.connect(db_path)
    upgrade.migrate(conn)
    with store.transaction(conn):
        for c in range(40):
            first = parse_event(
                _raw(
                    f"{c}-0",
                    f"2026-11-20T{(c * 37) % 24:02d}:{c % 60:02d}:00+08:00",
                    c,
                    "customer",
                    "在吗 电话13812345678",
                ),
                max_text_chars=5000,
            )
            store.insert_event(conn, first, store.Annotation("shipping_time", "impatient", OFFERED))
            t0 = first.ts_ms
            raws = [_raw(f"{c}-{i}", t0 + i * 70_000, c, "customer" if i % 3 == 0 else "agent",
                         "好" if i % 4 == 0 else "亲，今天发货哦") for i in range(1, 12)]  # fmt: skip
            raws.append({**_raw(f"{c}-u", t0 + 5_000, c, "agent", ""), "type": "suggestion_used", "phrase_id": "p1"})
            raws.append(_raw(f"{c}-f", t0 + 900_000, c, "auto", "亲，还在吗", followup_id=f"f{c}"))
            raws.append({**_raw(f"{c}-o", t0 + 1_000_000, c, "agent", ""), "type": "order_created",
                         "order": f"o{c}", "amount": 88})  # fmt: skip
            for raw in raws:
                store.insert_event(conn, parse_event(raw, max_text_chars=5000))
    conn.close()
    return db_path


def render(config: Config, db: Path, fmt: str, jobs: int, **query: Any) -> str:
    out = io.StringIO()
    export.export(config, db, DayQuery(DAY, **query), fmt, out, jobs=jobs)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "text"])
def test_export_with_workers_matches_one_process(
    config: Config, busy_day: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export, "BLOCK_CONVERSATIONS", 3)  # many small blocks
    alone = render(config, busy_day, fmt, jobs=1)
    assert alone.count("\n") > 100
    assert render(config, busy_day, fmt, jobs=2) == alone


def test_export_with_workers_reads_the_day_as_of_one_time(
    config: Config, busy_day: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every block is annotated as of the time the export began (or was given): a burst still waiting then is the
    same in each, as in one process."""
    conn = store.connect(busy_day)
    with store.transaction(conn):
        for c in range(40, 46):  # customers nobody has answered yet, at 11:59:30
            waiting = _raw(f"{c}-0", "2026-11-20T11:59:30+08:00", c, "customer", "在吗")
            store.insert_event(conn, parse_event(waiting, max_text_chars=5000))
    conn.close()
    monkeypatch.setattr(export, "BLOCK_CONVERSATIONS", 3)
    noon = int(datetime(2026, 11, 20, 12, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp() * 1000)
    alone = render(config, busy_day, "jsonl", jobs=1, now_ms=noon)
    assert alone.count('"unanswered":false') > render(config, busy_day, "jsonl", jobs=1).count('"unanswered":false')
    assert render(config, busy_day, "jsonl", jobs=2, now_ms=noon) == alone


def test_export_with_workers_writes_utf8_bytes_to_a_file(config: Config, busy_day: Path, tmp_path: Path) -> None:
    alone = render(config, busy_day, "csv", jobs=1)
    path = tmp_path / "day.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        export.export(config, busy_day, DayQuery(DAY), "csv", out, jobs=2)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert path.read_text(encoding="utf-8-sig") == alone


def test_export_uses_workers_only_for_large_days(config: Config, busy_day: Path) -> None:
    with open_day(config, busy_day, DAY) as conn:
        assert export._auto_jobs(conn, DayQuery(DAY), Rules.from_config(config)) == 1


def test_export_with_workers_applies_the_filters(config: Config, busy_day: Path) -> None:
    assert render(config, busy_day, "jsonl", jobs=2, agent="nobody") == ""
    one = render(config, busy_day, "jsonl", jobs=2, conversation="conv3")
    assert one == render(config, busy_day, "jsonl", jobs=1, conversation="conv3") and one.count("\n") == 15


def test_a_day_read_stopped_early_joins_its_reader_before_the_snapshot_ends(
    config: Config, busy_day: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The log page stops once it has a page (or a search has found enough). The thread reading the next
    # conversations must be stopped and joined before the read transaction ends and the connection closes:
    # left running, it went on using the connection the request's thread was committing and closing.
    monkeypatch.setattr(threads, "_BATCH", 1)  # one conversation per hand-off: the reader stays ahead
    reader_alive_at_commit: list[bool] = []

    def trace(sql: str) -> None:
        if sql == "COMMIT":
            reader_alive_at_commit.append(any(t.name == "daylog-reader" for t in threading.enumerate()))

    conn = store.connect(busy_day)
    try:
        conn.set_trace_callback(trace)
        items = query.iter_items(conn, DayQuery(DAY), Rules.from_config(config))
        assert next(items)["kind"]
        items.close()
    finally:
        conn.close()
    assert reader_alive_at_commit == [False]
