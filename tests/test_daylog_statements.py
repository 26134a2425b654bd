"""The daily log read several conversations per statement on PostgreSQL (daylog/threads.py): the same day's log and
the same day's inspection, byte for byte, as one statement per conversation, and as SQLite reads the same day."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest

from assistant import pg, store
from assistant.config import Config, load_config
from assistant.daylog import formats, threads
from assistant.daylog.query import DayQuery, Rules, iter_items
from assistant.qa.inspector import load_inspector
from assistant.qa.review import review_day, reviewer_of
from tests.helpers import ROOT
from tests.kpi_log import D, Log, ms
from tests.pgcluster import Cluster
from tests.test_archive import insert_followup
from tests.test_qa_day_cases import load_day

NOW = ms("D+2 09:00")  # the day read two days later: every annotation settled


def nothing(log: Log) -> None:
    log.customer("D-1 10:00", "昨天的话")  # the day before only: the day itself is empty


def one(log: Log) -> None:
    log.customer("09:00", "这个什么时候发货")
    log.agent("09:00:30", "小美", "亲，今天下单今天发哦")


def with_and_without_followups(log: Log) -> None:
    for n, conversation in enumerate(("f1", "f2", "f3")):
        who = {"conversation": conversation, "customer": f"u-{conversation}"}
        log.customer(f"1{n}:00", "有现货吗", **who)
        log.agent(f"1{n}:01", "小美", "有的亲，放心拍", **who)
        if conversation == "f1":  # sent, and the buyer came back
            insert_followup(log.conn, id="fu-1", shop="s1", conversation="f1", customer="u-f1", state="sent",
                            fired_ms=ms("10:06"))  # fmt: skip
            log.auto("10:06", "亲，还在考虑吗？", followup_id="fu-1", **who)
            log.customer("10:08", "在的，我再看看", **who)
        elif conversation == "f2":  # failed: never a message, shown alone
            insert_followup(log.conn, id="fu-2", shop="s1", conversation="f2", customer="u-f2", state="failed",
                            fired_ms=ms("11:06"))  # fmt: skip
    log.conn.commit()


def many(log: Log) -> None:
    """More conversations than a few statements' worth: begun the evening before, answered the next morning, with a
    follow-up, an order, a transfer; and two at once, each with more rows than a hand-off to the annotating thread."""
    load_day(log)
    for minute in range(12):  # two conversations at once, their rows interleaved in time
        for second, conversation in ((0, "long"), (15, "beside")):
            who = {"conversation": conversation, "customer": f"u-{conversation}"}
            log.customer(f"20:{minute:02d}:{second:02d}", f"第{minute}个问题", **who)
            log.agent(f"20:{minute:02d}:{second + 30:02d}", "小美", f"亲，第{minute}个回答", **who)
    log.customer("D-1 23:59:59", "还在吗", conversation="eve", customer="u-eve")
    log.customer("00:00:01", "还在吗", conversation="eve", customer="u-eve")
    log.customer("23:59:00", "明天能发吗", conversation="late", customer="u-late")
    log.agent("D+1 09:00", "小美", "亲，今天发", conversation="late", customer="u-late")


SHAPES: dict[str, Callable[[Log], None]] = {
    "empty day": nothing,
    "one conversation": one,
    "with and without follow-ups": with_and_without_followups,
    "many conversations": many,
}


def render(config: Config, location: store.Location) -> bytes:
    """The day's log (JSON lines and text) and its inspection, as bytes."""
    rules = Rules.from_config(config)
    out = io.StringIO()
    with closing(store.connect(location, readonly=True)) as conn:
        with closing(iter_items(conn, DayQuery(D, now_ms=NOW), rules)) as items:
            formats.write(items, out, "jsonl")
        with closing(iter_items(conn, DayQuery(D, now_ms=NOW), rules)) as items:
            formats.write(items, out, "text")
        reviewer = reviewer_of(config.qa, load_inspector(config).categories)
        review = review_day(reviewer, config, conn, DayQuery(D, now_ms=NOW), NOW)
    out.write(json.dumps(review.to_json(), ensure_ascii=False, sort_keys=True))
    return out.getvalue().encode()


@pytest.fixture
def stores(tmp_path: Path, pg_cluster: Cluster) -> Iterator[tuple[Path, pg.Location]]:
    database = pg_cluster.database()
    yield tmp_path / "day.db", database
    pg.close_pools(database)


@pytest.mark.parametrize("shape", SHAPES)
def test_daylog_reads_a_day_alike_per_conversation_and_several_per_statement(
    shape: str, stores: tuple[Path, pg.Location], monkeypatch: pytest.MonkeyPatch
) -> None:
    sqlite, postgresql = stores
    for location in stores:
        log = Log(location)
        SHAPES[shape](log)
        log.close()
    config = load_config(ROOT / "config.toml", env={})
    monkeypatch.setattr(threads, "_BATCH", 5)  # the hand-off to the annotating thread splits the long conversation

    read_alone = render(config, sqlite)
    monkeypatch.setitem(threads.CONVERSATIONS_PER_STATEMENT, "postgresql", 1)
    one_each = render(config, postgresql)
    monkeypatch.setitem(threads.CONVERSATIONS_PER_STATEMENT, "postgresql", 3)  # the last statement's part-full
    three_each = render(config, postgresql)
    monkeypatch.setitem(threads.CONVERSATIONS_PER_STATEMENT, "postgresql", 100)  # the whole day in one
    all_in_one = render(config, postgresql)

    assert three_each == one_each == all_in_one == read_alone
    lines = read_alone.decode().splitlines()
    conversations = {json.loads(line)["conversation"] for line in lines if line.startswith('{"kind"')}
    expected = {"empty day": 0, "one conversation": 1, "with and without follow-ups": 3, "many conversations": 23}
    assert len(conversations) == expected[shape]
