"""Each bounded map of the service keeps its own rule: which entry goes first once it is full."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant import live, store, upgrade
from assistant.bus import Bus, Update
from assistant.catalog.importer import import_files
from assistant.catalog.store import Catalog
from assistant.chatwoot import Notes
from assistant.clock import FakeClock
from assistant.conversations import Conversations
from assistant.events import parse_event
from assistant.qa import service as qa_service
from assistant.store import Annotation, Written
from assistant.web.chatwoot_memory import ChatwootMemory, _Cache
from tests.catalog_data import HOODIE, TSHIRT, tshirt_files
from tests.helpers import make_event
from tests.qa_harness import QaHarness, robot_config


def migrated(db_path: Path) -> None:
    conn = store.connect(db_path)
    try:
        upgrade.migrate(conn)
    finally:
        conn.close()


def test_catalog_items_least_recently_read_go_first(tmp_path: Path, db_path: Path) -> None:
    conn = store.connect(db_path)
    try:
        assert import_files(conn, tshirt_files(tmp_path)).written
    finally:
        conn.close()
    catalog = Catalog(db_path, capacity=2)
    try:
        assert catalog.item(TSHIRT) is not None
        assert catalog.item("600000000099") is None  # not in the catalog: kept as such
        assert catalog.item(TSHIRT) is not None  # read again: the latest read
        assert catalog.item(HOODIE) is not None
        assert list(catalog._items) == [TSHIRT, HOODIE]
    finally:
        catalog.close()


def test_chatwoot_memory_least_recently_used_go_first(db_path: Path) -> None:
    migrated(db_path)  # no inbox known
    memory = ChatwootMemory(db_path)
    memory._inboxes = _Cache(2)
    try:
        assert memory.account_of_inbox("1") is None and memory.account_of_inbox("2") is None  # misses, kept
        assert memory.account_of_inbox("1") is None  # read again: the latest used
        memory.learned(Notes(inbox=("3", "7")))
        assert list(memory._inboxes.items()) == [("1", None), ("3", "7")]
        memory.learned(Notes(inbox=("1", "8")))  # written again: the latest used
        memory.learned(Notes(inbox=("4", "9")))
        assert list(memory._inboxes.items()) == [("1", "8"), ("4", "9")]
    finally:
        memory.close()


def test_chatwoot_memory_shared_keeps_no_miss(db_path: Path) -> None:
    migrated(db_path)
    memory = ChatwootMemory(db_path, shared=True)
    try:
        assert memory.account_of_inbox("1") is None
        memory.learned(Notes(inbox=("2", "7")))
        assert dict(memory._inboxes) == {"2": "7"}
        memory.learned(Notes(status=("7", "5", "open", 1)))
        assert dict(memory._statuses) == {}  # no journal heard: another instance may change it unseen
        memory.heard = lambda: 1  # the journal's first connection, listening
        memory.learned(Notes(status=("7", "5", "open", 1)))
        assert dict(memory._statuses) == {("7", "5"): ("open", 1)}
        memory.heard_of("memory", {"table": "chatwoot_statuses", "account": "7", "conversation": "5"})
        assert dict(memory._statuses) == {}  # another instance wrote it
    finally:
        memory.close()


async def test_qa_stash_keeps_the_alerts_last_written(
    db_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An alert is stashed as its message is recorded and taken when the commit is heard of: a batch rolled back
    # leaves its alerts in the stash, the first written let go first.
    monkeypatch.setattr(qa_service, "_STASH", 2)
    h = await QaHarness(robot_config(db_path), clock).start()
    conn = store.connect(db_path)
    try:
        for i in (0, 1, 0, 2):  # q0 recorded again (a batch retried): it keeps its place
            raw = make_event("message", id=f"q{i}", conversation=f"c{i}", ts=clock.now_ms(), text="再不处理我就投诉了")
            flag = {"category": "risk", "rule": "threat", "start": 0, "end": 4}
            written = Written(parse_event(raw, max_text_chars=5000), i + 1, False, Annotation(qa=(flag,)))
            conn.execute("BEGIN")
            h.service.record(conn, written)
            conn.execute("ROLLBACK")
        assert list(h.service._stash) == ["q1", "q2"]
    finally:
        conn.close()
        await h.stop()


def logged(conversation: str, seq: int) -> Written:
    raw = make_event("message", id=f"e{seq}", conversation=conversation, sender="agent", agent="小美", text="好的")
    return Written(parse_event(raw, max_text_chars=5000), seq, False)


def test_live_agents_latest_written_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "TRACKED_CONVERSATIONS", 2)
    publisher = live.Publisher(Bus(), lambda shop, conversation: {"agent": "小美"})
    for seq, conversation in enumerate(["a", "b", "a", "c"], 1):
        publisher(logged(conversation, seq))
    assert list(publisher._agents) == [("shop1", "a"), ("shop1", "c")]


def test_live_agents_latest_noted_kept_while_no_panel_watches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "TRACKED_CONVERSATIONS", 2)
    bus = Bus()
    feed = live.LiveFeed(bus)
    publisher = live.Publisher(
        bus, lambda shop, conversation: {}, feed=feed, agent_of=lambda shop, conversation: "小美"
    )
    for seq, conversation in enumerate(["a", "b", "a", "c"], 1):
        publisher(logged(conversation, seq))
    assert not feed.wants_cards()  # no card built: the agents are only noted
    assert list(publisher._agents) == [("shop1", "a"), ("shop1", "c")]


def test_live_published_events_first_published_go_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "TRACKED_CONVERSATIONS", 2)
    publisher = live.Publisher(Bus(), lambda shop, conversation: {"agent": "小美"})
    publisher(logged("a", 1))
    publisher(logged("b", 2))
    publisher.publish_cards([], "e1", "customer_merged")  # published again under the id of a first: keeps its place
    publisher(logged("c", 3))
    assert list(publisher._published or ()) == ["e2", "e3"]
    assert publisher.was_published("e3") and not publisher.was_published("e1")


def test_live_published_events_not_noted_where_nothing_asks() -> None:
    bus = Bus()
    heard = bus.subscribe()
    publisher = live.Publisher(bus, lambda shop, conversation: {"agent": "小美"}, tracked=False)  # a SQLite file's
    publisher(logged("a", 1))
    publisher.publish_cards([("shop1", "b")], "e2", "customer_merged")
    assert [u.conversation for u in heard.drain()] == ["a", "b"]  # published all the same
    assert publisher._published is None and not publisher.was_published("e1")


def test_live_followups_latest_written_kept_and_reading_moves_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "TRACKED_CONVERSATIONS", 2)
    feed = live.LiveFeed(Bus())
    for n, conversation in enumerate(["a", "b", "a", "c"]):
        feed.dispatch(Update("followup", "shop1", conversation, "小美", {"n": n}))
    assert list(feed.followups.items()) == [(("shop1", "a"), {"n": 2}), (("shop1", "c"), {"n": 3})]
    assert len(feed.followups_for([{"shop": "shop1", "conversation": "a"}])) == 1  # read: it stays first
    feed.dispatch(Update("followup", "shop1", "d", "小美", {"n": 4}))
    assert list(feed.followups) == [("shop1", "c"), ("shop1", "d")]


def test_conversation_states_least_recently_read_go_first(db_path: Path) -> None:
    migrated(db_path)
    conversations = Conversations(db_path, capacity=2)
    try:
        for conversation in ["a", "b", "a", "c"]:
            assert conversations.get("shop1", conversation).conversation == conversation
        assert list(conversations._states) == [("shop1", "a"), ("shop1", "c")]
    finally:
        conversations.close()


def test_customer_names_least_recently_used_go_first(db_path: Path) -> None:
    migrated(db_path)
    conversations = Conversations(db_path, capacity=2)
    try:
        assert conversations.name_customer("shop1", "a", "阿甲") and conversations.name_customer("shop1", "b", "阿乙")
        assert conversations.customer_name("shop1", "a") == "阿甲"  # read: the latest used
        assert conversations.customer_name("shop1", "c") is None  # not in the log: kept as such ("")
        assert list(conversations._names.items()) == [(("shop1", "a"), "阿甲"), (("shop1", "c"), "")]
        assert conversations.name_customer("shop1", "a", "阿甲甲")  # renamed: the latest used
        assert conversations.name_customer("shop1", "d", "阿丁")
        assert list(conversations._names) == [("shop1", "a"), ("shop1", "d")]
    finally:
        conversations.close()
