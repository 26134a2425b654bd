"""The live journal a panel resumes from on another instance (assistant/cluster/relay.py): what it keeps, and what a
resuming panel is sent from it."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import types
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from assistant import live, pg
from assistant.bus import Bus, Update
from assistant.cluster import relay as relay_module
from assistant.cluster.relay import KEEP_MS, Relay
from assistant.config import Config
from assistant.live import Scope
from assistant.store import Written
from assistant.web.appkeys import BUS, ENGINE, INGESTOR, PUBLISHER, RELAY
from assistant.writer import Writer
from tests.helpers import body_of, eventually, make_app, make_event
from tests.pgcluster import Cluster
from tests.test_live import AFTER_ORDER, WELCOME, open_stream, typed


@pytest.fixture
def backend() -> str:
    return "postgresql"


@pytest.fixture
async def location(pg_cluster: Cluster, config: Config) -> pg.Location:
    location = config.location()
    assert isinstance(location, pg.Location)
    await Writer(location).close()  # migrates
    return location


@pytest.fixture
async def journal(location: pg.Location) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    conn = await psycopg.AsyncConnection.connect(location.url, autocommit=True, password=location.password)
    yield conn
    await conn.close()


async def write_row(conn: psycopg.AsyncConnection[Any], conversation: str, created_ms: int) -> int:
    """Another instance's event row, written at `created_ms` by that instance's clock; its id."""
    cur = await conn.execute(
        "INSERT INTO live_journal (origin, kind, shop, conversation, agent, payload, created_ms)"
        " VALUES ('elsewhere', 'message', 's', %s, 'a1', %s, %s) RETURNING id",
        (conversation, f'{{"event_id":"{conversation}"}}', created_ms),
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def kept(conn: psycopg.AsyncConnection[Any]) -> list[str]:
    cur = await conn.execute("SELECT conversation FROM live_journal ORDER BY id")
    return [str(row[0]) for row in await cur.fetchall()]


async def test_relay_prunes_only_the_journals_oldest_rows_so_a_resume_never_skips_one(
    location: pg.Location, journal: psycopg.AsyncConnection[Any]
) -> None:
    # Rows are numbered as they are inserted, but stamped with the clock of the instance that wrote them: one whose
    # clock runs ahead (or a row stamped before a slow group took its id) is younger than rows numbered after it.
    # Pruning by the stamp alone deleted those later rows and kept the earlier one, so the journal still seemed to
    # reach back to a panel's position: the panel resumed without their cards instead of getting a snapshot.
    now = int(time.time() * 1000)
    before = await write_row(journal, "gone", now - KEEP_MS - 60_000)  # old, and before every kept row: pruned
    position = await write_row(journal, "ahead", now + 60_000)  # the panel had everything up to here
    await write_row(journal, "missed-1", now - KEEP_MS - 60_000)
    await write_row(journal, "missed-2", now - KEEP_MS - 60_000)
    bus = Bus()
    relay = Relay(location, bus)
    await relay.start()
    try:
        bus.publish(Update("followup", "s", "line", "a1", {"state": "armed"}))  # its writer prunes the journal
        await eventually(lambda: _has(journal, "line"))
        missed = await relay.since(position, Scope(everything=True))
        behind = await relay.since(before - 1, Scope(everything=True))
    finally:
        await relay.stop()
    assert await kept(journal) == ["ahead", "missed-1", "missed-2", "line"]
    assert missed is not None and [u.conversation for u in missed] == ["missed-1", "missed-2", "line"]
    assert behind is None  # the journal no longer reaches back that far: a snapshot


async def _has(conn: psycopg.AsyncConnection[Any], conversation: str) -> bool:
    return conversation in await kept(conn)


class Unreadable:
    """The conversations' reader while PostgreSQL does not answer on the event loop (pg's `Silent`)."""

    def execute(self, *args: Any) -> Any:
        raise sqlite3.OperationalError("PostgreSQL is not answering (Silent)")


async def test_relay_card_not_readable_is_built_again_not_lost(
    aiohttp_client: Any, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On a loaded machine a read on the event loop can go unanswered for half a second, and then the pool is not
    # asked again until a probe is answered. A card built meanwhile for another instance's event was read as a
    # conversation with no events (no messages, no agent): the agent's panel never got it, and the read position
    # passed the row, so nothing sent it again (nor to a panel resuming elsewhere from a later position).
    a = await aiohttp_client(make_app(config))
    b = await aiohttp_client(make_app(config))
    reader = await open_stream(b, "agent=a1")
    try:
        conversations = b.app[ENGINE].conversations
        monkeypatch.setattr(conversations, "_reader", Unreadable)
        relay = b.app[RELAY]
        received = relay.received
        resp = await a.post(
            "/v1/events", data=body_of(make_event(id="u1", conversation="far", agent="a1", text="在吗"))
        )
        assert resp.status == 200
        await eventually(lambda: relay.received > received)  # read while the log could not be
        monkeypatch.undo()
        await a.post("/v1/events", data=body_of(make_event(id="u2", conversation="else", agent="a2", text="你好")))
        card = await reader.wait_for(
            lambda e: e.event == "conversation" and e.data["conversation"] == "far", timeout=10
        )
        assert [m["text"] for m in card.data["payload"]["messages"]] == ["在吗"]
        assert card.data["agent"] == "a1"
        assert relay.received == received + 2  # each row heard once (an adoption counted once), however often tried
    finally:
        await reader.close()


async def test_relay_long_transaction_elsewhere_does_not_pass_a_row_still_being_written(
    location: pg.Location, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A missing id was passed over once no transaction older than it ran anywhere in the cluster (its snapshot's
    # xmin). One long write transaction elsewhere (an archive run; a stray one in another database) held that back,
    # so each gap waited a minute and was then passed whole, with the rows whose transactions were still committing:
    # their cards never reached this instance's panels, nor a panel resuming from a later position. Now only the
    # transactions writing to the journal are waited for, each as long as it runs.
    clock = [time.monotonic()]
    monkeypatch.setattr(relay_module, "time", types.SimpleNamespace(monotonic=lambda: clock[0], time=time.time))
    bus = Bus()
    heard = bus.subscribe(lambda u: u.conversation.startswith("gap-"))
    relay = Relay(location, bus)
    await relay.start()

    async def connect() -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(location.url, autocommit=True, password=location.password)

    async def journal(conn: psycopg.AsyncConnection[Any], name: str) -> int:
        cur = await conn.execute(
            "INSERT INTO live_journal (origin, kind, shop, conversation, agent, payload, created_ms)"
            " VALUES ('elsewhere', 'followup', 's', %s, NULL, '{}', %s) RETURNING id",
            (name, int(time.time() * 1000)),
        )
        row = await cur.fetchone()
        assert row is not None
        await conn.execute("SELECT pg_notify('assistant_live', 'elsewhere')")
        return int(row[0])

    archive, undone, slow, other = [await connect() for _ in range(4)]
    try:
        await eventually(relay.listening.is_set)
        await archive.execute("BEGIN")  # a long write transaction that never touches the journal
        await archive.execute("SELECT pg_current_xact_id()")
        await undone.execute("BEGIN")
        await journal(undone, "gap-undone")
        await undone.execute("ROLLBACK")  # a hole for good (a group that lost a deadlock and ran again)
        first = await journal(other, "gap-first")
        await eventually(lambda: first in relay.seen or relay.floor >= first)
        clock[0] += 30.0
        await slow.execute("BEGIN")
        await slow.execute("SELECT pg_current_xact_id()")
        missing = await journal(slow, "gap-slow")  # a group still committing
        later = await journal(other, "gap-later")
        clock[0] += 31.0  # the first hole has been open over a minute; the slow group for 31 s
        await other.execute("SELECT pg_notify('assistant_live', 'elsewhere')")
        await eventually(lambda: later in relay.seen or relay.floor >= later)
        assert relay.floor < missing  # not passed while its transaction may still commit
        await slow.execute("COMMIT")
        await eventually(lambda: relay.floor >= later and not relay.seen)
        assert sorted(u.conversation for u in heard.drain()) == ["gap-first", "gap-later", "gap-slow"]
    finally:
        for conn in (archive, undone, slow, other):
            await conn.close()
        await relay.stop()


async def test_relay_resumed_panel_gets_its_conversation_whose_events_since_name_no_agent(
    aiohttp_client: Any, config: Config
) -> None:
    # A resuming agent panel was sent the conversations whose journal rows since its position named that agent.
    # A customer message or an order that names no agent (a platform that sends the agent only on agent messages)
    # belongs to the conversation's agent all the same, and the live card reached that agent's panel: a panel that
    # moved to another instance missed it, the customer's new message among them.
    a = await aiohttp_client(make_app(config))
    b = await aiohttp_client(make_app(config))
    reader = await open_stream(a, "agent=a1")
    try:
        await a.post("/v1/events", data=body_of(make_event(id="n1", conversation="mine", agent="a1", sender="agent", text="您好")))  # fmt: skip
        await eventually(lambda: a.app[RELAY].floor > 0)  # its row read: the panel's next id is past it
        await a.post("/v1/events", data=body_of(make_event(id="n1b", conversation="later", agent="a1", text="在吗")))
        seen = await reader.wait_for(lambda e: e.event == "conversation" and e.data["payload"]["event_id"] == "n1b")
        assert (live.resume_position(seen.id) or 0) > 0
    finally:
        await reader.close()
    # While the panel is away (its instance died): the customer writes, and pays, naming no agent.
    await b.post("/v1/events", data=body_of(make_event(id="n2", conversation="mine", text="这个什么时候发货")))
    await b.post("/v1/events", data=body_of(make_event(id="n3", conversation="other", agent="a2", text="你好")))
    again = await open_stream(b, "agent=a1", headers={"Last-Event-ID": seen.id or ""})
    try:
        resumed = again.of("resumed")[0]
        assert resumed.data["from"] == "journal"
        cards = {e.data["conversation"]: e.data["payload"] for e in again.of("conversation")}
        assert sorted(cards) == ["later", "mine"]  # not a2's
        assert [m["text"] for m in cards["mine"]["messages"]] == ["您好", "这个什么时候发货"]
    finally:
        await again.close()


async def test_relay_resumed_panel_hears_of_its_conversation_handed_over_after_its_position(
    aiohttp_client: Any, config: Config
) -> None:
    # The conversation was the agent's when its panel last heard; since, it went to another agent by events naming
    # only that one. The live card told the panel (its previous agent), which dropped it; a panel that moved to
    # another instance was not sent it, and kept showing the conversation as its own.
    a = await aiohttp_client(make_app(config))
    b = await aiohttp_client(make_app(config))
    reader = await open_stream(a, "agent=a1")
    try:
        await a.post("/v1/events", data=body_of(make_event(id="m1", conversation="moved", agent="a1", text="在吗")))
        await eventually(lambda: a.app[RELAY].floor > 0)  # its row read: the panel's next id is past it
        await a.post("/v1/events", data=body_of(make_event(id="m2", conversation="later", agent="a1", text="你好")))
        seen = await reader.wait_for(lambda e: e.event == "conversation" and e.data["payload"]["event_id"] == "m2")
        assert (live.resume_position(seen.id) or 0) > 0
    finally:
        await reader.close()
    await b.post("/v1/events", data=body_of(make_event(id="m3", conversation="moved", agent="a2", sender="agent", text="我来")))  # fmt: skip
    again = await open_stream(b, "agent=a1", headers={"Last-Event-ID": seen.id or ""})
    try:
        assert again.of("resumed")[0].data["from"] == "journal"
        cards = {e.data["conversation"]: e.data for e in again.of("conversation")}
        assert sorted(cards) == ["later", "moved"]
        moved = cards["moved"]
        assert (moved["agent"], moved["payload"]["previous_agent"]) == ("a2", "a1")  # the page drops it
    finally:
        await again.close()


async def test_relay_snapshot_whose_cards_cannot_be_read_ends_the_stream_not_missing_them(
    aiohttp_client: Any, config: Config, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A snapshot replaces everything a panel shows. Built while the log did not answer on the event loop, each
    # conversation not cached was read as one with no events and no agent, and left out of the agent's snapshot: the
    # panel dropped those cards until their next event. The stream ends instead, and the page connects again.
    a = await aiohttp_client(make_app(config))
    b = await aiohttp_client(make_app(config))
    await a.post("/v1/events", data=body_of(make_event(id="s1", conversation="far", agent="a1", text="在吗")))
    monkeypatch.setattr(b.app[ENGINE].conversations, "_reader", Unreadable)
    resp = await b.get("/v1/stream?agent=a1")
    assert resp.status == 200
    assert await asyncio.wait_for(resp.read(), timeout=10) == b""  # ended: the page connects again
    assert "PostgreSQL is not answering (Silent); its stream ended" in caplog.text
    monkeypatch.undo()
    again = await open_stream(b, "agent=a1")
    try:
        [snapshot] = again.of("snapshot")
        assert [c["conversation"] for c in snapshot.data["conversations"]] == ["far"]
    finally:
        await again.close()


async def test_relay_card_failing_by_a_defect_is_logged_once_and_passed(
    location: pg.Location, journal: psycopg.AsyncConnection[Any], caplog: pytest.LogCaptureFixture
) -> None:
    # Only a database that did not answer is worth reading again: a defect would fail the same way every few seconds
    # for half a minute, a traceback each time, and hold every panel's position back meanwhile.
    def broken(shop: str, conversation: str) -> dict[str, Any]:
        raise ValueError("a defect")

    relay = Relay(location, Bus(), snapshot=broken)
    await relay.start()
    try:
        await eventually(relay.listening.is_set)
        row = await write_row(journal, "bad", int(time.time() * 1000))
        await journal.execute("SELECT pg_notify('assistant_live', 'elsewhere')")
        await eventually(lambda: relay.floor >= row)
        assert caplog.text.count("card of s/bad not built") == 1
    finally:
        await relay.stop()


async def test_relay_resumed_panel_watching_a_conversation_gets_it_whichever_agent_its_events_name(
    location: pg.Location, journal: psycopg.AsyncConnection[Any]
) -> None:
    # A panel watching one conversation (Chatwoot's dashboard app) also names the agent using it. Resuming, it was
    # sent the conversation only if its rows since named that agent: not when another agent answered, or the customer
    # wrote in an event naming no one.
    now = int(time.time() * 1000)
    position = await write_row(journal, "watched", now)
    cur = await journal.execute(
        "INSERT INTO live_journal (origin, kind, shop, conversation, agent, payload, created_ms)"
        " VALUES ('elsewhere', 'message', 's', 'watched', 'a2', '{\"event_id\":\"w2\"}', %s)",
        (now,),
    )
    assert cur.rowcount == 1
    relay = Relay(location, Bus())
    await relay.start()
    try:
        missed = await relay.since(position, Scope(agent="a1", watch=("s", "watched")))
    finally:
        await relay.stop()
    assert missed is not None and [(u.conversation, u.payload["event_id"]) for u in missed] == [("watched", "w2")]


async def test_relay_conversation_read_while_the_log_did_not_answer_is_not_cached_empty(
    aiohttp_client: Any, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A conversation's state read while PostgreSQL did not answer on the event loop was cached empty: its history
    # was gone from the suggestions, the customer type and the card until another of its events came.
    app = await aiohttp_client(make_app(config))
    for n, text in enumerate(["这件有黑色吗", "M码有吗"]):
        event = make_event(id=f"h{n}", conversation="kept", agent="a1", text=text, ts=1_800_000_000_000 + n)
        assert (await app.post("/v1/events", data=body_of(event))).status == 200
    conversations = app.app[ENGINE].conversations
    conversations._states.clear()  # as after its eviction from the cache
    monkeypatch.setattr(conversations, "_reader", Unreadable)
    shop = make_event()["shop"]
    assert conversations.get(shop, "kept").customer_messages == ()  # nothing read: nothing to show for now
    monkeypatch.undo()
    assert [text for _, text in conversations.get(shop, "kept").customer_messages] == ["这件有黑色吗", "M码有吗"]


async def test_relay_follow_up_line_a_panel_was_sent_reaches_it_on_another_instance_though_its_own_died(
    aiohttp_client: Any, config: Config
) -> None:
    # A follow-up line (a countdown, a prompt sent or cancelled) was journaled just after it was published, in a
    # transaction of its own. An instance killed in between had sent the line to its panels, and a panel that moved
    # to another instance never had it there (the card of its event, journaled with the event, it had). A line now
    # reaches the panels only once the journal holds it.
    a = await aiohttp_client(make_app(config))
    b = await aiohttp_client(make_app(config))
    relay = a.app[RELAY]
    bus = a.app[BUS]

    def killed_when_heard(update: Update) -> bool:  # the instance dies the moment its panels can hear the line
        if update.kind == "followup":
            for task in relay._tasks:
                task.cancel()
        return False

    reader = await open_stream(a, "agent=a1")
    try:
        await a.post("/v1/events", data=body_of(make_event(id="k1", conversation="idle", agent="a1", text="在吗")))
        await eventually(lambda: relay.floor > 0)  # its row read: the panel's ids carry a position past it
        bus.subscribe(killed_when_heard)
        line = {"state": "armed", "due_ms": 1_795_000_120_000, "armed_ms": 1_795_000_000_000}
        bus.publish(Update("followup", "shop1", "idle", "a1", line))
        seen = await reader.wait_for(lambda e: e.event == "followup", timeout=10)
        assert seen.data["payload"] == line and (live.resume_position(seen.id) or 0) > 0
    finally:
        await reader.close()
    again = await open_stream(b, "agent=a1", headers={"Last-Event-ID": seen.id or ""})
    try:
        assert again.of("resumed")[0].data["from"] == "journal"
        assert [(e.data["conversation"], e.data["payload"]) for e in again.of("followup")] == [("idle", line)]
    finally:
        await again.close()


async def test_relay_position_passes_our_event_as_soon_as_its_update_is_out_not_at_the_next_read(
    aiohttp_client: Any, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found on a loaded machine: the listener, woken by the event's own NOTIFY, read its row before the Publisher had
    # published the event's update (the writer thread's answer comes to the loop after the COMMIT). The position
    # waits for our own rows until then, but went past this one only at the next read: the next notification, or
    # READ_S (5 s) later. Meanwhile every id given to a panel carried a position from before the event.
    monkeypatch.setattr(relay_module, "READ_S", 3600.0)  # no read but the notifications'
    a = await aiohttp_client(make_app(config))
    relay, ingestor, publisher = a.app[RELAY], a.app[INGESTOR], a.app[PUBLISHER]
    held: list[Written] = []
    ingestor.listeners[ingestor.listeners.index(publisher)] = held.append  # published once the relay has read it
    await a.post("/v1/events", data=body_of(make_event(id="k1", conversation="c1", agent="a1", text="在吗")))
    await eventually(lambda: held and relay._unsent)  # its row read: not passed while its update is not out
    assert relay.floor == 0
    publisher(held[0])
    assert relay.floor == 1


async def test_relay_card_takes_the_customer_type_an_order_gives_on_every_instance(
    aiohttp_client: Any, config: Config
) -> None:
    # An order counts for the customer type: the card changes when the order arrives, on the instance that logged it
    # and on the others, whose panels hear of it through the journal (and on the first again, after the second
    # logged the customer's next message and the order there).
    a = await aiohttp_client(make_app(config))
    b = await aiohttp_client(make_app(config))
    here, there = await open_stream(a, "agent=a1"), await open_stream(b, "agent=a1")
    try:
        await a.post("/v1/events", data=body_of(make_event(id="q", conversation="c1", agent="a1")))
        for panel in (here, there):
            asked = await panel.wait_for(lambda e: e.event == "conversation" and e.data["payload"]["event_id"] == "q")
            assert typed(asked.data["payload"]) == WELCOME
        order = make_event("order_created", id="o", conversation="c1", ts="2026-11-20T10:01:00+08:00")
        await a.post("/v1/events", data=body_of(order))
        for panel in (here, there):
            got = await panel.wait_for(lambda e: e.event == "conversation" and e.data["payload"]["event_id"] == "o")
            assert typed(got.data["payload"]) == AFTER_ORDER
        await b.post("/v1/events", data=body_of(make_event(id="q2", conversation="c2", agent="a1")))
        paid = make_event("order_paid", id="p", conversation="c2", order="o2", ts="2026-11-20T10:01:00+08:00")
        await b.post("/v1/events", data=body_of(paid))
        for panel in (here, there):
            got = await panel.wait_for(lambda e: e.event == "conversation" and e.data["payload"]["event_id"] == "p")
            assert typed(got.data["payload"]) == AFTER_ORDER
    finally:
        await here.close()
        await there.close()


async def test_relay_journal_writer_through_an_outage_says_so_once_not_every_second(
    aiohttp_client: Any,
    config: Config,
    pg_cluster: Cluster,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Found: under traffic through a 20 s outage each instance logged "live journal write failed" every second (a
    # follow-up line waiting), where every other part of the service says an outage once, then once a minute.
    monkeypatch.setattr(relay_module, "RECONNECT_S", 0.05)
    a = await aiohttp_client(make_app(config))
    relay = a.app[RELAY]
    attempts = 0
    connect = relay._connect

    async def counted(role: str = "journal") -> psycopg.AsyncConnection[Any]:
        nonlocal attempts
        if role == "journal":
            attempts += 1
        return await connect(role)

    monkeypatch.setattr(relay, "_connect", counted)
    await asyncio.to_thread(pg_cluster.stop_server)
    try:
        if relay._out is not None:
            await relay._out.close()
        line = {"state": "armed", "due_ms": 1_795_000_120_000, "armed_ms": 1_795_000_000_000}
        a.app[BUS].publish(Update("followup", "shop1", "idle", "a1", line))
        await eventually(lambda: attempts >= 5, timeout=30)
    finally:
        await asyncio.to_thread(pg_cluster.start_server)
    await eventually(lambda: not relay._lines, timeout=30)  # journaled once the server is back
    failed = [r for r in caplog.records if "live journal write failed" in r.getMessage()]
    assert len(failed) == 1, [r.getMessage() for r in failed]
    await eventually(lambda: any("live journal is written again" in r.getMessage() for r in caplog.records))
