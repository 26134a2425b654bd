"""Logging many events at once (one statement per table) writes what logging them one by one writes."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from assistant import store, upgrade
from assistant.events import Event, parse_event
from assistant.ingest import Ingestor
from assistant.store import Annotation, Written
from assistant.writer import Writer
from tests.helpers import log_rows, make_event

TEXTS = ["在吗？", 'a "quoted" \\ back\\slash', "第一行\n第二行\t制表", "😀 emoji 表情", "亲，今天发货哦", "x" * 300]


def _events(seed: int, n: int) -> list[tuple[Event, Annotation | None]]:
    """Every kind of event, several to a conversation, out of order, with duplicates and odd text."""
    rng = random.Random(seed)
    items: list[tuple[Event, Annotation | None]] = []
    for i in range(n):
        conv = f"c{rng.randrange(6)}"
        ts = 1_763_600_000_000 + rng.randrange(-50_000, 50_000)
        base: dict[str, Any] = {"id": f"e{i}", "ts": ts, "conversation": conv, "customer": f"u{conv}"}
        kind = rng.randrange(9)
        annotation = None
        if kind < 3:
            raw = make_event(sender="customer", text=rng.choice(TEXTS), **base)
            if rng.random() < 0.7:
                annotation = Annotation(
                    intent=rng.choice(["shipping", "price", None]),
                    customer_type=rng.choice(["bargainer", None]),
                    suggestions=tuple(
                        {"phrase_id": f"p{k}", "code": f"/{k}", "score": 0.5 + k / 10, "text": "回复"}
                        for k in range(rng.randrange(3))
                    ),
                    qa=({"rule": "banned", "word": "最"},) if rng.random() < 0.3 else (),
                )
        elif kind < 5:
            raw = make_event(sender="agent", agent=rng.choice(["a1", "a2"]), text=rng.choice(TEXTS), **base)
        elif kind == 5:
            raw = make_event(sender="auto", text="欢迎光临", followup_id=rng.choice([None, "f1"]), **base)
        elif kind == 6:
            order = f"o{rng.randrange(4)}"
            paid = rng.random() < 0.5
            amount = rng.choice([99, 99.5, 0.01])
            agent = rng.choice(["a1", None])
            raw = make_event("order_paid" if paid else "order_created", order=order, amount=amount, agent=agent, **base)
        elif kind == 7:
            raw = make_event("suggestion_used", agent="a1", phrase_id=f"p{rng.randrange(3)}", **base)
        else:
            raw = make_event("conversation_closed", **base)
        raw["extra"] = {"list": [1, 2.5, None], "quote": '"'}  # kept in raw only
        if i % 97 == 0:  # U+0000 cannot go through SQLite's JSON: a batch holding one goes row by row
            raw["extra"]["note"] = "nul \x00 inside"
        if i and rng.random() < 0.1:
            raw["id"] = f"e{rng.randrange(i)}"  # a duplicate: an earlier id again
        items.append((parse_event(raw, max_text_chars=5000), annotation))
    return items


def _open(path: Path) -> sqlite3.Connection:
    conn = store.connect(path)
    upgrade.migrate(conn)
    return conn


def _outcome(written: list[Written]) -> list[tuple[str, int | None, bool, Annotation | None]]:
    return [(w.event.id, w.seq, w.duplicate, w.annotation) for w in written]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_insert_events_writes_what_insert_event_writes_one_by_one(tmp_path: Path, seed: int) -> None:
    items = _events(seed, 400)
    one, many = _open(tmp_path / "one.db"), _open(tmp_path / "many.db")
    rng = random.Random(seed)
    one_by_one: list[Written] = []
    batched: list[Written] = []
    start = 0
    while start < len(items):  # batches of 1 to 60, some in a transaction of their own
        chunk = items[start : start + rng.randrange(1, 61)]
        start += len(chunk)
        with store.transaction(one):
            one_by_one += [store.insert_event(one, event, annotation) for event, annotation in chunk]
        with store.transaction(many):
            batched += store.insert_events(many, chunk)
    assert _outcome(batched) == _outcome(one_by_one)
    assert log_rows(many) == log_rows(one)
    assert sum(w.duplicate for w in batched) > 10
    assert {row[1] for row in log_rows(many)["events"] if "\\u0000" in str(row[-1])}  # the NUL batches went too
    one.close()
    many.close()


def test_insert_events_keeps_the_first_of_two_equal_ids_in_one_batch(tmp_path: Path) -> None:
    conn = _open(tmp_path / "d.db")
    first = parse_event(make_event(id="same", text="第一"), max_text_chars=5000)
    second = parse_event(make_event(id="same", text="第二"), max_text_chars=5000)
    with store.transaction(conn):
        written = store.insert_events(conn, [(first, None), (second, None)])
    assert [w.duplicate for w in written] == [False, True]
    assert [row[0] for row in conn.execute("SELECT text FROM messages")] == ["第一"]
    conn.close()


async def test_concurrent_requests_are_logged_in_one_batch_and_a_failing_one_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes: list[int] = []
    insert_events = store.insert_events

    def spy(conn: sqlite3.Connection, items: list[tuple[Event, Annotation | None]], **kw: Any) -> list[Written]:
        sizes.append(len(items))
        return insert_events(conn, items, **kw)

    monkeypatch.setattr(store, "insert_events", spy)
    writer = Writer(tmp_path / "w.db")
    ingestor = Ingestor(writer)
    recorded: list[str] = []

    def recorder(conn: sqlite3.Connection, item: Written) -> None:
        if item.event.id == "bad":
            raise RuntimeError("refused by a recorder")
        recorded.append(item.event.id)

    ingestor.recorders.append(recorder)
    ids = [f"r{i}" for i in range(20)]
    ids[7] = "bad"
    requests = [ingestor.ingest([parse_event(make_event(id=i), max_text_chars=5000)]) for i in ids]
    results = await asyncio.gather(*requests, return_exceptions=True)
    await writer.close()
    assert isinstance(results[7], RuntimeError)
    assert [r[0]["id"] for k, r in enumerate(results) if k != 7] == [i for i in ids if i != "bad"]  # type: ignore[index]
    assert writer.commits <= 2  # the 20 requests shared a group
    conn = store.connect(tmp_path / "w.db", readonly=True)
    logged = sorted(row[0] for row in conn.execute("SELECT id FROM events"))
    conn.close()
    assert logged == sorted(i for i in ids if i != "bad")
    assert sorted(set(recorded)) == logged
    assert sizes[0] == 20 and sizes[1:] == [1] * 20  # all in one batch, then each alone after the failure
