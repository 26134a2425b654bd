"""The live stream: snapshots, per-agent filtering, tokens, resumption by Last-Event-ID, fan-out rules."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from assistant import live
from assistant.bus import Bus, Update
from assistant.config import Config, load_config
from assistant.live import LiveFeed, Scope
from assistant.store import now_ms
from assistant.web import stream
from assistant.web.appkeys import BUS, DB_PATH, FEED
from tests.helpers import BACKENDS, ROOT, body_of, eventually, make_app, make_event

Client = TestClient  # type: ignore[type-arg]
TOKENS = {"ASSISTANT_AGENT_TOKEN": "agent-token", "ASSISTANT_SUPERVISOR_TOKEN": "supervisor-token"}


@dataclass
class Sse:
    event: str
    data: Any
    id: str | None


async def sse_events(resp: aiohttp.ClientResponse) -> AsyncIterator[Sse]:
    """Parse a text/event-stream response into events."""
    event, event_id = "message", None
    data: list[str] = []
    async for raw in resp.content:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if data:
                yield Sse(event, json.loads("\n".join(data)), event_id)
            event, data = "message", []
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            event = value
        elif field == "data":
            data.append(value)
        elif field == "id":
            event_id = value


class Reader:
    """Collects a stream's events in the background."""

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self.resp = resp
        self.events: list[Sse] = []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for e in sse_events(self.resp):
            self.events.append(e)

    async def wait_for(self, predicate: Any, timeout: float = 3.0) -> Sse:
        found: Sse = await eventually(lambda: next((e for e in self.events if predicate(e)), None), timeout=timeout)
        return found

    def of(self, name: str) -> list[Sse]:
        return [e for e in self.events if e.event == name]

    async def close(self) -> None:
        self.task.cancel()
        self.resp.close()


async def open_stream(client: Client, query: str, headers: dict[str, str] | None = None) -> Reader:
    resp = await client.get(f"/v1/stream?{query}", headers=headers or {})
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    reader = Reader(resp)
    await reader.wait_for(lambda e: e.event in ("snapshot", "resumed"))
    return reader


@pytest.fixture
def token_config(db_path: Path) -> Config:
    return load_config(ROOT / "config.toml", env=TOKENS, overrides={"store": {"path": str(db_path)}})


@pytest.fixture
async def token_client(aiohttp_client: Any, token_config: Config) -> Client:
    return await aiohttp_client(make_app(token_config))


async def test_stream_starts_with_snapshot_of_open_conversations(client: Client) -> None:
    await client.post("/v1/events", data=body_of(make_event(conversation="c1", agent="a1")))
    await client.post("/v1/events", data=body_of(make_event(conversation="c2", agent="a2")))
    reader = await open_stream(client, "agent=a1")
    snapshot = reader.of("snapshot")[0]
    assert [c["conversation"] for c in snapshot.data["conversations"]] == ["c1"]
    first = snapshot.data["conversations"][0]
    assert first["suggestions"][0]["code"] and first["customer_type"]["label"]
    assert first["waiting_since_ms"] is not None and first["messages"][-1]["sender"] == "customer"
    assert snapshot.id is not None
    await reader.close()


async def test_stream_carries_only_the_agents_conversations(client: Client) -> None:
    reader = await open_stream(client, "agent=a1")
    await client.post("/v1/events", data=body_of(make_event(conversation="theirs", agent="a2")))
    await client.post("/v1/events", data=body_of(make_event(conversation="mine", agent="a1")))
    update = await reader.wait_for(lambda e: e.event == "conversation")
    assert update.data["payload"]["conversation"] == "mine"
    # Updates arrive in order: had "theirs" been sent to this panel, it would have come before "mine".
    assert [e.data["conversation"] for e in reader.of("conversation")] == ["mine"]
    await reader.close()


async def test_stream_supervisor_token_sees_every_conversation(token_client: Client) -> None:
    reader = await open_stream(token_client, "token=supervisor-token")
    for agent in ("a1", "a2"):
        await token_client.post("/v1/events", data=body_of(make_event(conversation=f"c-{agent}", agent=agent)))
    await reader.wait_for(lambda e: e.event == "conversation" and e.data["conversation"] == "c-a2")
    assert {e.data["conversation"] for e in reader.of("conversation")} == {"c-a1", "c-a2"}
    await reader.close()


async def test_stream_rejects_missing_or_wrong_token(token_client: Client) -> None:
    assert (await token_client.get("/v1/stream?agent=a1")).status == 401
    assert (await token_client.get("/v1/stream?agent=a1&token=nope")).status == 401
    reader = await open_stream(token_client, "agent=a1", headers={"Authorization": "Bearer agent-token"})
    await reader.close()


async def test_stream_agent_token_without_agent_is_rejected(token_client: Client) -> None:
    resp = await token_client.get("/v1/stream?token=agent-token")
    assert resp.status == 400
    assert (await resp.json())["field"] == "agent"


async def test_stream_resumes_after_last_event_id_without_snapshot(client: Client) -> None:
    reader = await open_stream(client, "agent=a1")
    await client.post("/v1/events", data=body_of(make_event(conversation="c1", agent="a1")))
    seen = await reader.wait_for(lambda e: e.event == "conversation")
    await reader.close()
    await client.post("/v1/events", data=body_of(make_event(conversation="c2", agent="a2")))
    missed = make_event(conversation="c3", agent="a1", text="可以开发票吗")
    await client.post("/v1/events", data=body_of(missed))
    again = await open_stream(client, "agent=a1", headers={"Last-Event-ID": seen.id or ""})
    update = await again.wait_for(lambda e: e.event == "conversation")
    assert again.of("snapshot") == [] and again.of("resumed")[0].data["missed"] == 1
    assert update.data["payload"]["event_id"] == missed["id"]
    await again.close()


@pytest.mark.parametrize("seq", ["²", "١٢", "9" * 4400])
async def test_stream_resumed_with_an_id_of_no_ascii_number_gets_a_snapshot(client: Client, seq: str) -> None:
    # Found: "²".isdigit() is true and int("²") raises; so did int() of 4,400 digits: the stream ended with an
    # error logged, and the panel sent the same id again at every reconnect (a header is at most 8,190 bytes).
    reader = await open_stream(client, "agent=a1")
    await client.post("/v1/events", data=body_of(make_event(conversation="c1", agent="a1")))
    seen = await reader.wait_for(lambda e: e.event == "conversation")
    await reader.close()
    boot = (seen.id or "").partition("-")[0]
    again = await open_stream(client, "agent=a1", headers={"Last-Event-ID": f"{boot}-{seq}"})
    assert [c["conversation"] for c in again.of("snapshot")[0].data["conversations"]] == ["c1"]
    await again.close()


async def test_stream_from_another_server_gets_a_snapshot(client: Client) -> None:
    await client.post("/v1/events", data=body_of(make_event(conversation="c1", agent="a1")))
    reader = await open_stream(client, "agent=a1&last_event_id=deadbeef-12")
    assert [c["conversation"] for c in reader.of("snapshot")[0].data["conversations"]] == ["c1"]
    await reader.close()


async def test_stream_hands_over_conversation_to_new_agent(client: Client) -> None:
    old = await open_stream(client, "agent=a1")
    await client.post("/v1/events", data=body_of(make_event(conversation="c1", agent="a1")))
    await old.wait_for(lambda e: e.event == "conversation")
    reply = make_event(
        conversation="c1", sender="agent", agent="a2", text="亲，我来为您处理", ts="2026-11-20T10:01:00+08:00"
    )
    await client.post("/v1/events", data=body_of(reply))
    moved = await old.wait_for(lambda e: e.event == "conversation" and e.data["payload"]["agent"] == "a2")
    assert moved.data["payload"]["previous_agent"] == "a1"
    await old.close()


async def test_stream_hands_over_a_conversation_of_before_a_restart(aiohttp_client: Any, config: Config) -> None:
    # After a restart the service had not seen who had the conversation: a hand-over reached only the new
    # agent's panel, and the old one kept the card, its customer still waiting.
    first = await aiohttp_client(make_app(config))
    await first.post("/v1/events", data=body_of(make_event(conversation="c1", agent="a1")))
    await first.close()
    client = await aiohttp_client(make_app(config))
    old = await open_stream(client, "agent=a1")
    assert [c["conversation"] for c in old.of("snapshot")[0].data["conversations"]] == ["c1"]
    handed = make_event("conversation_assigned", conversation="c1", agent="a2", ts="2026-11-20T10:01:00+08:00")
    assert (await client.post("/v1/events", data=body_of(handed))).status == 200
    moved = await old.wait_for(lambda e: e.event == "conversation" and e.data["payload"]["agent"] == "a2")
    assert moved.data["payload"]["previous_agent"] == "a1"  # the old panel drops it
    await old.close()


async def listed(client: Client, scope: Scope) -> list[tuple[str, str | None]]:
    """What a panel of `scope` lists after a reload: each conversation and the agent its card names."""
    return [(c["conversation"], c["agent"]) for c in await stream.scope_conversations(client.app, scope)]


def logged_agent(client: Client, conversation: str) -> str | None:
    with sqlite3.connect(client.app[DB_PATH]) as conn:
        row = conn.execute("SELECT agent FROM conversations WHERE conversation = ?", (conversation,)).fetchone()
    return None if row is None else str(row[0])


async def test_stream_keeps_a_handed_over_conversation_with_its_new_agent_after_a_late_message(
    client: Client,
) -> None:
    # A platform's retry of a message stamped before the hand-over, delivered after it: the card went back to
    # the old agent while the log kept the new one, and neither agent's panel listed the conversation.
    t = now_ms() - 10_000
    new = await open_stream(client, "agent=小王")
    for event in (
        make_event(id="c-1", ts=t, customer="buyer", agent="小美", text="这个能退吗", conversation="c"),
        make_event("conversation_assigned", id="c-3", ts=t + 2000, agent="小王", conversation="c"),
        make_event(id="c-2", ts=t + 1000, customer="buyer", agent="小美", text="在吗在吗", conversation="c"),
    ):
        assert (await client.post("/v1/events", data=body_of(event))).status == 200
    late = await new.wait_for(lambda e: e.event == "conversation" and e.data["payload"]["event_id"] == "c-2")
    assert late.data["payload"]["agent"] == "小王" and "previous_agent" not in late.data["payload"]
    await new.close()
    assert logged_agent(client, "c") == "小王"
    assert await listed(client, Scope(agent="小王")) == [("c", "小王")]
    assert await listed(client, Scope(agent="小美")) == []
    assert await listed(client, Scope(everything=True)) == [("c", "小王")]


async def test_stream_keeps_a_conversation_with_its_agent_when_a_reply_comes_after_the_next_message(
    client: Client,
) -> None:
    # The old agent's reply, stamped after the hand-over, arrives after the buyer's next message: the log
    # keeps the agent of the latest event (小王), and the card has to name the same one.
    t = now_ms() - 10_000
    for event in (
        make_event(ts=t, agent="小美", text="这个能退吗", conversation="c"),
        make_event("conversation_assigned", ts=t + 2000, agent="小王", conversation="c"),
        make_event(ts=t + 4000, agent="小王", text="还在吗", conversation="c"),
        make_event(ts=t + 3000, sender="agent", agent="小美", text="可以退的亲", conversation="c"),
    ):
        assert (await client.post("/v1/events", data=body_of(event))).status == 200
    assert logged_agent(client, "c") == "小王"
    assert await listed(client, Scope(agent="小王")) == [("c", "小王")]
    assert await listed(client, Scope(agent="小美")) == []


async def test_stream_keeps_a_conversation_open_when_a_closing_stamped_before_its_last_message_comes_late(
    client: Client,
) -> None:
    # The log leaves it open (the buyer wrote after the closing); the card said closed and left every list.
    t = now_ms() - 10_000
    for event in (
        make_event(ts=t, agent="小美", text="这个能退吗", conversation="c"),
        make_event(ts=t + 2000, agent="小美", text="还在吗", conversation="c"),
        make_event("conversation_closed", ts=t + 1000, conversation="c"),
    ):
        assert (await client.post("/v1/events", data=body_of(event))).status == 200
    assert await listed(client, Scope(agent="小美")) == [("c", "小美")]


async def test_stream_card_shows_messages_in_the_order_of_their_time_stamps(client: Client) -> None:
    # A message delivered late came last on the live card (第一句 | 第三句（客服） | 第二句) and stayed there
    # until a reload put it in its place.
    t = now_ms() - 20_000
    reader = await open_stream(client, "agent=a1")
    for ts, fields in (
        (t, {"text": "第一句"}),
        (t + 10_000, {"sender": "agent", "text": "第三句"}),
        (t + 5_000, {"text": "第二句"}),
    ):
        event = make_event(id=f"order-{ts}", ts=ts, agent="a1", conversation="c", **fields)
        assert (await client.post("/v1/events", data=body_of(event))).status == 200
    live_card = (
        await reader.wait_for(
            lambda e: e.event == "conversation" and e.data["payload"]["event_id"] == f"order-{t + 5_000}"
        )
    ).data["payload"]
    await reader.close()
    assert [m["text"] for m in live_card["messages"]] == ["第一句", "第二句", "第三句"]
    assert live_card["waiting_since_ms"] is None  # the reply came after both: 已回复
    [reloaded] = await stream.scope_conversations(client.app, Scope(agent="a1"))
    assert reloaded["messages"] == live_card["messages"]


async def test_stream_carries_followup_updates(client: Client) -> None:
    reader = await open_stream(client, "agent=a1")
    client.app[BUS].publish(Update("followup", "shop1", "c1", "a2", {"state": "armed", "due_ms": 1}))
    client.app[BUS].publish(Update("followup", "shop1", "c1", "a1", {"state": "armed", "due_ms": 2}))
    update = await reader.wait_for(lambda e: e.event == "followup")
    assert update.data["payload"] == {"state": "armed", "due_ms": 2}
    await reader.close()
    await client.post("/v1/events", data=body_of(make_event(conversation="c1", agent="a1")))
    again = await open_stream(client, "agent=a1")
    assert again.of("snapshot")[0].data["followups"] == {'["shop1","c1"]': {"state": "armed", "due_ms": 2}}
    await again.close()


async def test_stream_watches_one_conversation_by_chatwoot_account(client: Client) -> None:
    await client.post("/v1/events", data=body_of(make_event(shop="chatwoot-1", conversation="42", agent="x")))
    reader = await open_stream(client, "account=1&inbox=3&conversation=42")
    [conversation] = reader.of("snapshot")[0].data["conversations"]
    assert (conversation["shop"], conversation["conversation"]) == ("chatwoot-1", "42")
    await client.post("/v1/events", data=body_of(make_event(shop="chatwoot-1", conversation="43", agent="x")))
    await client.post("/v1/events", data=body_of(make_event(shop="chatwoot-1", conversation="42", agent="y")))
    update = await reader.wait_for(lambda e: e.event == "conversation")
    assert update.data["conversation"] == "42"
    await reader.close()


async def test_stream_ends_when_the_service_shuts_down(client: Client) -> None:
    reader = await open_stream(client, "agent=a1")
    client.app[FEED].close_all()
    await asyncio.wait_for(reader.task, 2)
    assert client.app[FEED].streams == set()


async def test_state_rebuilt_after_restart_has_suggestions(aiohttp_client: Any, config: Config) -> None:
    first = await aiohttp_client(make_app(config))
    await first.post("/v1/events", data=body_of(make_event(conversation="c1", agent="a1", text="太贵了能便宜点吗")))
    await first.close()
    second = await aiohttp_client(make_app(config))
    reader = await open_stream(second, "agent=a1")
    [conversation] = reader.of("snapshot")[0].data["conversations"]
    fresh = await (await second.get("/v1/suggest", params={"text": "太贵了能便宜点吗"})).json()
    assert conversation["suggestions"][0]["phrase_id"] == fresh["suggestions"][0]["phrase_id"]
    assert conversation["customer_type"]["type"] == fresh["customer_type"]["type"]
    await reader.close()


def test_feed_resyncs_a_panel_that_falls_behind() -> None:
    async def scenario() -> None:
        feed = LiveFeed(Bus())
        stream, missed = feed.open(Scope(agent="a1"), None)
        assert missed is None
        for i in range(live.STREAM_BACKLOG + 1):
            feed.dispatch(Update("message", "s", f"c{i}", "a1", {}))
        assert stream.resync and len(stream.pending) < live.STREAM_BACKLOG
        feed.close(stream)
        assert feed.streams == set()

    asyncio.run(scenario())


def test_feed_resumes_only_within_its_journal() -> None:
    feed = LiveFeed(Bus())
    for _i in range(live.JOURNAL_SIZE + 10):
        feed.dispatch(Update("message", "s", "c", "a1", {}))
    scope = Scope(agent="a1")
    assert feed._missed(scope, feed.id_of(5)) is None  # fell out of the journal
    assert [e.seq for e in feed._missed(scope, feed.id_of(feed.seq - 2)) or []] == [feed.seq - 1, feed.seq]
    assert feed._missed(scope, feed.last_id) == []
    assert feed._missed(scope, f"other-{feed.seq}") is None
    assert feed._missed(scope, feed.id_of(feed.seq + 1)) is None


def test_feed_ids_carry_the_journal_position_stamped_at_publish() -> None:
    async def scenario() -> None:
        bus = Bus()
        position = 7
        bus.position = lambda: position
        feed = LiveFeed(bus)
        feed.start()
        try:
            bus.publish(Update("message", "s", "c", "a1", {}))
            bus.publish(Update("message", "s", "c", "a1", {}))
            position = 9  # the journal read on after the updates were published: their ids keep 7
            await eventually(lambda: feed.seq == 2)
            first, entry = feed.journal[-2], feed.journal[-1]
            assert entry.id == f"{feed.boot}-2-7" and live.resume_position(entry.id) == 7
            assert feed.last_id == f"{feed.boot}-2-9"
            assert feed._missed(Scope(agent="a1"), first.id) == [entry]  # still resumes locally
        finally:
            await feed.stop()

    asyncio.run(scenario())


def test_resume_position_reads_only_well_formed_ids() -> None:
    assert live.resume_position("18c2f0a1b2c3-12-345") == 345
    for bad in (None, "", "18c2f0-12", "18c2f0-12-x", "a-1-2-3", "a-1-" + "9" * 30, "a-1-²", "a-1-١٢"):
        assert live.resume_position(bad) is None


def test_scope_accepts_by_agent_previous_agent_watch_and_everything() -> None:
    update = Update("message", "s", "c", "a2", {"previous_agent": "a1"})
    assert Scope(agent="a1").accepts(update) and Scope(agent="a2").accepts(update)
    assert not Scope(agent="a3").accepts(update)
    assert Scope(watch=("s", "c")).accepts(update) and not Scope(watch=("s", "d")).accepts(update)
    assert Scope(everything=True).accepts(update)


async def test_stream_sends_heartbeats_when_quiet(
    aiohttp_client: Any, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "HEARTBEAT_S", 0.05)
    client = await aiohttp_client(make_app(config))
    reader = await open_stream(client, "agent=a1")
    beat = await reader.wait_for(lambda e: e.event == "heartbeat")
    assert beat.data["server_ms"] > 0
    await reader.close()


def _written(conversation: str, agent: str | None) -> Any:
    from assistant.events import parse_event
    from assistant.store import Written

    return Written(parse_event(make_event(conversation=conversation, agent=agent), max_text_chars=5000), 1, False)


def test_publisher_builds_no_card_while_no_panel_listens() -> None:
    async def scenario() -> None:
        bus, built, agents = Bus(), [], {"c1": "a1"}
        feed = LiveFeed(bus)
        heard = bus.subscribe()

        def snapshot(shop: str, conversation: str) -> dict[str, Any]:
            built.append(conversation)
            return {"agent": agents[conversation]}

        publish = live.Publisher(bus, snapshot, feed=feed, agent_of=lambda shop, c: agents[c])
        publish(_written("c1", "a1"))
        assert built == [] and len(heard) == 0
        stream, _ = feed.open(Scope(agent="a1"), None)
        agents["c1"] = "a2"  # handed over while nobody watched: the card still reaches the panel it leaves
        publish(_written("c1", "a2"))
        (update,) = heard.drain()
        assert built == ["c1"] and update.payload["previous_agent"] == "a1" and update.agent == "a2"
        feed.close(stream)

    asyncio.run(scenario())


def test_feed_sends_a_snapshot_to_a_panel_that_missed_an_unbuilt_card() -> None:
    feed = LiveFeed(Bus())
    scope = Scope(agent="a1")
    stream, _ = feed.open(scope, None)
    feed.dispatch(Update("message", "s", "c", "a1", {}))
    seen = feed.last_id
    feed.close(stream)
    assert feed.wants_cards()  # the last panel just left: it may be back in a moment
    feed.dispatch(Update("message", "s", "c", "a1", {}))
    assert [e.seq for e in feed._missed(scope, seen) or []] == [feed.seq]
    feed.linger_s = 0.0
    assert not feed.wants_cards()  # a card skipped now: nobody may resume past it
    assert feed._missed(scope, seen) is None and feed._missed(scope, feed.last_id) is None
    feed.dispatch(Update("message", "s", "c", "a1", {}))  # seen only by a panel that came after the gap
    assert feed._missed(scope, feed.last_id) == []


def typed(card: dict[str, Any]) -> tuple[str, bool, str]:
    """What a card says of its customer's type: the type, whether it is sure, the talk track's first line."""
    kind = card["customer_type"]
    return kind["type"], kind["sure"], kind["script"][0]


WELCOME = ("newcomer", True, "您好，欢迎光临，我是今天为您服务的客服，请问有什么可以帮到您？")
AFTER_ORDER = ("newcomer", False, "亲，您好，您的订单和问题由我来跟进，麻烦把情况跟我说一下，我帮您查清楚。")


@BACKENDS
async def test_stream_card_takes_the_customer_type_an_order_gives_when_the_order_arrives(client: Client) -> None:
    # Found: an order counts for the customer type (no stranger, not given the welcome track), but the card kept
    # the type of the customer's last message until their next one: live, and in a snapshot or a resumption.
    reader = await open_stream(client, "agent=a1")
    try:
        await client.post("/v1/events", data=body_of(make_event(id="q", conversation="c1", agent="a1")))
        asked = await reader.wait_for(lambda e: e.event == "conversation")
        assert typed(asked.data["payload"]) == WELCOME
        order = make_event("order_created", id="o", conversation="c1", ts="2026-11-20T10:01:00+08:00")
        await client.post("/v1/events", data=body_of(order))
        ordered = await reader.wait_for(lambda e: e.event == "conversation" and e.data["payload"]["event_id"] == "o")
        assert typed(ordered.data["payload"]) == AFTER_ORDER
    finally:
        await reader.close()
    later = await open_stream(client, "agent=a1")  # a panel opened now
    resumed = await open_stream(client, "agent=a1", headers={"Last-Event-ID": asked.id or ""})
    try:
        assert [typed(c) for c in later.of("snapshot")[0].data["conversations"]] == [AFTER_ORDER]
        update = await resumed.wait_for(lambda e: e.event == "conversation")
        assert resumed.of("snapshot") == [] and typed(update.data["payload"]) == AFTER_ORDER
    finally:
        await later.close()
        await resumed.close()


def test_feed_keeps_a_followup_update_only_while_nothing_else_can_take_it() -> None:
    async def scenario() -> None:
        bus = Bus()
        feed = LiveFeed(bus)
        countdown = Update("followup", "s", "c1", "a1", {"state": "armed", "due_ms": 9, "armed_ms": 1})
        assert not feed.keep(countdown)  # not started: published
        feed.start()
        try:
            assert feed.keep(countdown) and feed.seq == 0 and feed.followups.get(("s", "c1")) == countdown.payload
            stream, _ = feed.open(Scope(agent="a2"), None)
            assert not feed.keep(countdown)  # a panel connected, whoever's it is
            feed.close(stream)
            assert not feed.keep(countdown)  # it lingers
            feed.linger_s = 0
            other = bus.subscribe(lambda u: u.kind == "followup")
            assert not feed.keep(countdown)  # another subscriber hears follow-ups
            other.close()
            bus.journal = lambda update: False
            assert not feed.keep(countdown)  # the relay journals every update first
            bus.journal = None
            bus.publish(Update("followup", "s", "c1", "a1", {"state": "cancelled"}))
            assert not feed.keep(countdown)  # an earlier update waits in the backlog: this one lands after it
            await eventually(lambda: feed.seq == 1)
            assert feed.keep(countdown) and feed.followups.get(("s", "c1")) == countdown.payload
        finally:
            await feed.stop()

    asyncio.run(scenario())
