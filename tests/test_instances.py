"""Several instances on one PostgreSQL database (in one process here; tests/test_scaling_e2e.py runs three
real services): a panel on one sees events posted to another, conversation state follows the other's
events, and a due idle period is fired once by whichever instance claims it."""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from assistant import live, pg, store, upgrade
from assistant.cli.main import main
from assistant.clock import FakeClock
from assistant.cluster import instances
from assistant.config import Config
from assistant.followups.delivery import CUSTOMER_WROTE
from assistant.hookspecs import DeliveryResult, hookimpl
from assistant.web.appkeys import ENGINE, FEED, RELAY
from tests.catalog_data import HOODIE, TSHIRT
from tests.followup_harness import T0, Harness, Recorder
from tests.helpers import body_of, eventually, make_app, make_event, replace_config
from tests.pgcluster import PASSWORD_ENV, Cluster
from tests.test_archive import write_config
from tests.test_catalog_answers import catalog_db, say, top
from tests.test_live import open_stream

Client = TestClient  # type: ignore[type-arg]


@pytest.fixture
def backend() -> str:
    return "postgresql"


@pytest.fixture
async def pair(aiohttp_client: Any, config: Config) -> AsyncIterator[tuple[Client, Client]]:
    first = await aiohttp_client(make_app(config))
    second = await aiohttp_client(make_app(config))
    yield first, second


async def test_instances_panel_on_one_sees_events_posted_to_another(pair: tuple[Client, Client]) -> None:
    a, b = pair
    reader = await open_stream(b, "agent=a1")
    try:
        resp = await a.post(
            "/v1/events", data=body_of(make_event(conversation="far", agent="a1", text="在吗，发货了吗"))
        )
        assert resp.status == 200
        update = await reader.wait_for(lambda e: e.event == "conversation", timeout=5)
        assert update.data["payload"]["conversation"] == "far"
        assert update.data["payload"]["messages"][-1]["text"] == "在吗，发货了吗"
    finally:
        await reader.close()


async def test_instances_conversation_state_follows_the_other_instance(pair: tuple[Client, Client]) -> None:
    a, b = pair
    await a.post("/v1/events", data=body_of(make_event(id="s1", conversation="shared", text="在吗")))
    await b.post("/v1/events", data=body_of(make_event(id="s2", conversation="shared", text="这个什么时候发货")))
    await a.post("/v1/events", data=body_of(make_event(id="s3", conversation="shared", text="还有货吗")))
    state = a.app[ENGINE].conversations.get("shop1", "shared")
    assert [m["text"] for m in state.recent] == ["在吗", "这个什么时候发货", "还有货吗"]


async def test_instances_the_conversations_item_follows_it_to_another_instance(
    pair: tuple[Client, Client], tmp_path: Path, db_path: pg.Location
) -> None:
    a, b = pair
    catalog_db(tmp_path, db_path)
    await say(a, "在吗", "focus", item=TSHIRT)
    body = await say(b, "165 110斤穿什么码", "focus")  # b never saw the item named
    assert body["item"]["id"] == TSHIRT
    assert top(body)["text"] == "亲，165cm/110斤建议拿L码哦~"
    await say(b, "那这件呢", "focus", item=HOODIE)
    body = await say(a, "170 120斤穿什么码", "focus")  # a remembered the T-shirt: the hoodie was named since
    assert body["item"]["id"] == HOODIE
    assert top(body)["text"] == "亲，170cm/120斤建议拿L码哦~"


async def test_instances_an_event_posted_to_both_is_logged_once(pair: tuple[Client, Client], db_path: Any) -> None:
    a, b = pair
    event = make_event(id="twice", conversation="dup")
    first, second = await a.post("/v1/events", data=body_of(event)), await b.post("/v1/events", data=body_of(event))
    assert [(await r.json())["duplicate"] for r in (first, second)] == [False, True]
    conn = store.connect(db_path)
    try:
        assert conn.execute("SELECT count(*) FROM events WHERE id = 'twice'").fetchone()[0] == 1
    finally:
        conn.close()


async def test_instances_journal_resumes_after_the_listener_reconnects(pg_cluster: Cluster, config: Config) -> None:
    from assistant.bus import Bus, Update
    from assistant.cluster.relay import Relay
    from assistant.events import parse_event
    from assistant.writer import Writer

    location = config.location()
    assert isinstance(location, pg.Location)
    writer = Writer(location)  # migrates
    await writer.close()
    out_bus, in_bus = Bus(), Bus()
    sender, receiver = Relay(location, out_bus), Relay(location, in_bus)
    heard = in_bus.subscribe()
    await sender.start()
    await receiver.start()
    try:
        await eventually(receiver.listening.is_set)
        out_bus.publish(Update("followup", "s", "c1", "a1", {"n": 1}))
        await eventually(lambda: len(heard) == 1)
        # The listener's connection dies; what is written meanwhile arrives once it is back.
        await _kill_listener(pg_cluster, location)
        writer = Writer(location)
        event = parse_event(make_event(id="j2", conversation="c2"), max_text_chars=5000)
        await writer.submit(lambda conn: sender.record(conn, store.insert_event(conn, event)))  # with its event
        await writer.close()
        out_bus.publish(Update("followup", "s", "c2", "a1", {"n": 3}))
        await eventually(lambda: len(heard) == 3, timeout=10)
        got = heard.drain()
        assert [(u.kind, u.conversation, u.remote) for u in got] == [
            ("followup", "c1", True),
            ("message", "c2", True),
            ("followup", "c2", True),
        ]
        assert got[1].payload == {"event_id": "j2", "event_type": "message"}  # no card builder given here
    finally:
        await sender.stop()
        await receiver.stop()


async def test_instances_writer_reconnects_after_the_server_drops_its_connections(
    pg_cluster: Cluster, client: Client, db_path: Any
) -> None:
    # A PostgreSQL restart or failover drops every connection: the writer's was never opened again, and
    # every event after it was a 500 until each instance was restarted by hand.
    assert (await client.post("/v1/events", data=body_of(make_event(id="before")))).status == 200
    assert await _kill_all(pg_cluster, db_path) >= 1
    for n in range(3):
        resp = await client.post("/v1/events", data=body_of(make_event(id=f"after-{n}")))
        assert resp.status == 200, await resp.text()
    assert (await client.get("/readyz")).status == 200
    with store.connect(db_path, readonly=True) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 4


async def test_instances_an_instance_that_lives_through_a_server_restart_still_sees_the_others(
    pg_cluster: Cluster, pair: tuple[Client, Client], db_path: Any
) -> None:
    # The conversations' cache holds a reader for good: once the server dropped it, every read failed and the
    # instance that stayed up showed none of the other instances' events until it was restarted by hand.
    a, b = pair
    assert (await a.post("/v1/events", data=body_of(make_event(conversation="seen", agent="a1")))).status == 200
    assert await _kill_all(pg_cluster, db_path) >= 1
    for event in (
        make_event(conversation="both", customer="u1", text="在吗", ts="2026-11-20T10:00:00+08:00"),
        make_event(
            conversation="both",
            customer="u1",
            sender="agent",
            agent="小美",
            text="在的亲",
            ts="2026-11-20T10:01:00+08:00",
        ),
    ):
        assert (await b.post("/v1/events", data=body_of(event))).status == 200
    later = make_event(conversation="both", customer="u1", text="什么时候发货", ts="2026-11-20T10:02:00+08:00")
    assert (await a.post("/v1/events", data=body_of(later))).status == 200
    state = a.app[ENGINE].conversations.get("shop1", "both")
    assert state.agent == "小美" and [m["text"] for m in state.recent] == ["在吗", "在的亲", "什么时候发货"]
    with store.connect(db_path, readonly=True) as reader:  # a held reader survives too
        reader.execute("SELECT 1")
        await _kill_all(pg_cluster, db_path)
        assert reader.execute("SELECT count(*) FROM events").fetchone()[0] == 4


async def test_instances_a_server_refusing_connections_holds_no_request_up(
    pg_cluster: Cluster,
    client: Client,
    db_path: pg.Location,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A PostgreSQL outage: each read on the event loop (the conversations' cache, the catalog) waited for a
    # pooled connection for the pool's whole wait (5 s), up to three to a request, and every other request,
    # /healthz included, waited with it: the instance looked dead for the whole outage.
    from psycopg_pool import ConnectionPool

    asked: list[float] = []  # how long a read on the event loop was ready to wait for a connection
    getconn = ConnectionPool.getconn

    def watched(pool: ConnectionPool, timeout: float | None = None) -> Any:
        if _on_event_loop():
            asked.append(pool.timeout if timeout is None else timeout)
        return getconn(pool, timeout)

    monkeypatch.setattr(ConnectionPool, "getconn", watched)
    assert (await client.post("/v1/events", data=body_of(make_event(conversation="c0")))).status == 200
    await _allow_connections(pg_cluster, db_path, False)
    try:
        await _kill_all(pg_cluster, db_path)
        for n in range(3):  # conversations not yet cached: read on the event loop
            resp = await client.post("/v1/events", data=body_of(make_event(conversation=f"down-{n}")))
            assert resp.status == 503, await resp.text()
            assert "Retry-After" in resp.headers
        assert (await client.get("/healthz")).status == 200
        cached = await client.get("/v1/suggest", params={"text": "在吗", "shop": "shop1", "conversation": "c0"})
        assert cached.status == 200, await cached.text()  # a conversation already read needs no database
    finally:
        await _allow_connections(pg_cluster, db_path, True)
    assert asked and max(asked) <= pg.LOOP_WAIT_S, asked
    # One line for the outage, not one per request and per group commit (hundreds in a 20 s outage).
    assert sum("storage fault on POST /v1/events" in r.getMessage() for r in caplog.records) == 1
    assert sum("group commit failed" in r.getMessage() for r in caplog.records) == 1
    await eventually(
        lambda: _status_of(client.post("/v1/events", data=body_of(make_event(conversation="back")))), timeout=20
    )


async def _status_of(request: Any) -> bool:
    return bool((await request).status == 200)


def _on_event_loop() -> bool:
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


async def _allow_connections(cluster: Cluster, location: pg.Location, allow: bool) -> None:
    import psycopg

    name = location.url.rsplit("/", 1)[1]
    with psycopg.connect(cluster.url("postgres"), password=cluster.password, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {str(allow).lower()}')


async def test_instances_a_server_short_of_connections_is_named_at_start(
    db_path: pg.Location, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from assistant.writer import Writer

    writer = Writer(db_path)  # the session's server has room for an instance
    await writer.close()
    assert "connections free" not in caplog.text
    monkeypatch.setattr(upgrade, "CONNECTIONS_PER_INSTANCE", 100_000)  # an instance wanting more than the server has
    writer = Writer(db_path)
    await writer.close()
    assert "PostgreSQL has" in caplog.text and "raise max_connections" in caplog.text


async def _kill_all(cluster: Cluster, location: pg.Location) -> int:
    """Terminate every connection to the database, as a server restart does; how many there were."""
    import psycopg

    name = location.url.rsplit("/", 1)[1]
    with psycopg.connect(cluster.url("postgres"), password=cluster.password, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s", (name,)
        ).fetchone()
    assert killed is not None
    return int(killed[0])


async def _kill_listener(cluster: Cluster, location: pg.Location) -> None:
    import psycopg

    name = location.url.rsplit("/", 1)[1]
    with psycopg.connect(cluster.url("postgres"), password=cluster.password, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = %s AND application_name LIKE 'cs-assistant-listen%%'",
            (name,),
        ).fetchone()
    assert killed is not None and killed[0] == 2  # both relays listen


async def last_seen(client: Client, event: dict[str, Any]) -> Any:
    """Agent a1's panel on `client` sees `event` logged there, then goes away: its last update."""
    reader = await open_stream(client, "agent=a1")
    try:
        await client.post("/v1/events", data=body_of(event))
        return await reader.wait_for(lambda e: e.event == "conversation")
    finally:
        await reader.close()


async def test_instances_panel_whose_resume_fails_is_ended_not_left_hanging(
    pair: tuple[Client, Client], caplog: pytest.LogCaptureFixture
) -> None:
    # A panel resuming on a loaded instance: its cards are read on the event loop, bounded, and a database fault
    # there went to the error middleware, whose 503 could not follow the event stream's 200. The connection stayed
    # open with nothing on it: the panel (the scaling test's, once) waited for good instead of connecting again.
    a, b = pair
    seen = await last_seen(a, make_event(id="h1", conversation="kept", agent="a1", text="在吗"))
    relay = b.app[RELAY]
    build = relay.snapshot

    def unreadable(shop: str, conversation: str) -> Any:
        raise sqlite3.OperationalError("PostgreSQL is not answering (Silent)")

    relay.snapshot = unreadable
    resp = await b.get("/v1/stream?agent=a1", headers={"Last-Event-ID": seen.id or ""})
    assert resp.status == 200
    assert await asyncio.wait_for(resp.read(), timeout=10) == b""  # ended: the page connects again
    assert "storage fault on GET /v1/stream: PostgreSQL is not answering (Silent); its stream ended" in caplog.text
    relay.snapshot = build
    again = await open_stream(b, "agent=a1", headers={"Last-Event-ID": seen.id or ""})
    try:
        assert [e.data["from"] for e in again.of("resumed")] == ["journal"]
    finally:
        await again.close()


async def test_instances_panel_resumes_on_another_instance_from_the_journal(
    pair: tuple[Client, Client], db_path: Any
) -> None:
    a, b = pair
    seen = await last_seen(a, make_event(id="r1", conversation="kept", agent="a1", text="在吗"))
    assert seen.id is not None and live.resume_position(seen.id) is not None
    # While the panel is away (its instance died): events on both instances, one for another agent.
    await b.post("/v1/events", data=body_of(make_event(id="r2", conversation="kept", agent="a1", text="发货了吗")))
    await a.post("/v1/events", data=body_of(make_event(id="r3", conversation="new", agent="a1", text="有优惠吗")))
    await b.post("/v1/events", data=body_of(make_event(id="r4", conversation="other", agent="a2", text="你好")))
    await b.post(
        "/v1/events",
        data=body_of(make_event(id="r5", conversation="kept", agent="a1", sender="agent", text="今天发")),
    )

    again = await open_stream(b, "agent=a1", headers={"Last-Event-ID": seen.id})
    try:
        resumed = await again.wait_for(lambda e: e.event == "resumed")
        assert not again.of("snapshot")
        assert resumed.data["from"] == "journal" and resumed.data["missed"] == 2
        cards = {e.data["conversation"]: e.data["payload"] for e in again.of("conversation")}
        assert sorted(cards) == ["kept", "new"]  # each conversation once, as it is now; not a2's
        assert [m["text"] for m in cards["kept"]["messages"]] == ["在吗", "发货了吗", "今天发"]
        assert resumed.id is not None and resumed.id.startswith(b.app[FEED].boot)
        # And it goes on live from there.
        await a.post("/v1/events", data=body_of(make_event(id="r6", conversation="new", agent="a1", text="好的")))
        later = await again.wait_for(lambda e: e.event == "conversation" and e.data["payload"]["event_id"] == "r6")
        assert later.id is not None and later.id.startswith(b.app[FEED].boot)
    finally:
        await again.close()


async def test_instances_panel_gets_a_snapshot_when_the_journal_no_longer_reaches_back(
    pair: tuple[Client, Client], db_path: Any
) -> None:
    a, b = pair
    seen = await last_seen(a, make_event(id="p1", conversation="old", agent="a1"))
    await b.post("/v1/events", data=body_of(make_event(id="p2", conversation="old", agent="a1", text="还在吗")))
    conn = store.connect(db_path)
    try:
        conn.execute("DELETE FROM live_journal")  # pruned: what came after the panel's id is gone
        conn.commit()
    finally:
        conn.close()
    again = await open_stream(b, "agent=a1", headers={"Last-Event-ID": seen.id or ""})
    try:
        snapshot = again.of("snapshot")[0]
        assert [c["conversation"] for c in snapshot.data["conversations"]] == ["old"]
        assert snapshot.data["conversations"][0]["messages"][-1]["text"] == "还在吗"
        assert not again.of("resumed")
    finally:
        await again.close()


async def test_instances_read_position_waits_for_our_own_events_to_be_published(
    pg_cluster: Cluster, config: Config
) -> None:
    from assistant.bus import Bus
    from assistant.cluster.relay import Relay
    from assistant.events import parse_event
    from assistant.writer import Writer

    location = config.location()
    assert isinstance(location, pg.Location)
    published: set[str] = set()
    relay = Relay(location, Bus(), published=published.__contains__)
    writer = Writer(location)  # migrates
    await relay.start()
    try:
        await eventually(relay.listening.is_set)
        start = relay.floor
        for name in ("w1", "w2"):
            event = parse_event(make_event(id=name, conversation=name), max_text_chars=5000)

            def log_and_journal(conn: Any, e: Any = event) -> None:
                relay.record(conn, store.insert_event(conn, e))

            await writer.submit(log_and_journal)
        published.add("w2")
        await writer.submit(lambda conn: conn.execute("SELECT pg_notify('assistant_live', 'x')"))  # read again
        await eventually(lambda: len(relay.seen) == 1)  # w2's row is read; w1's is waited for
        assert relay.floor == start
        published.add("w1")
        await writer.submit(lambda conn: conn.execute("SELECT pg_notify('assistant_live', 'x')"))
        await eventually(lambda: relay.floor == start + 2 and not relay.seen)
    finally:
        await relay.stop()
        await writer.close()


async def test_instances_read_position_passes_a_missing_id_only_once_its_transaction_has_ended(
    pg_cluster: Cluster, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time
    import types

    import psycopg

    from assistant.bus import Bus
    from assistant.cluster import relay as relay_module
    from assistant.cluster.relay import Relay
    from assistant.writer import Writer

    location = config.location()
    assert isinstance(location, pg.Location)
    clock = [time.monotonic()]  # how long a gap has been open is measured on this clock
    monkeypatch.setattr(relay_module, "time", types.SimpleNamespace(monotonic=lambda: clock[0], time=time.time))
    await Writer(location).close()  # migrates
    bus = Bus()
    heard = bus.subscribe(lambda u: u.conversation.startswith("gap-"))
    relay = Relay(location, bus)
    await relay.start()

    async def connect() -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(location.url, autocommit=True, password=location.password)

    async def journal(conn: psycopg.AsyncConnection[Any], name: str) -> int:
        cur = await conn.execute(
            "INSERT INTO live_journal (origin, kind, shop, conversation, agent, payload, created_ms)"
            " VALUES ('elsewhere', 'followup', 's', %s, NULL, '{}', 0) RETURNING id",
            (name,),
        )
        row = await cur.fetchone()
        assert row is not None
        await conn.execute("SELECT pg_notify('assistant_live', 'elsewhere')")
        return int(row[0])

    slow, other, between = await connect(), await connect(), await connect()
    try:
        await eventually(relay.listening.is_set)
        start = relay.floor
        # The later row's transaction began first, and another one began in between that ends meanwhile: the
        # slow transaction's id is above every transaction id completed when the gap is first read.
        await other.execute("BEGIN")
        await other.execute("SELECT pg_current_xact_id()")
        await between.execute("BEGIN")
        await between.execute("SELECT pg_current_xact_id()")
        await slow.execute("BEGIN")
        await slow.execute("SELECT pg_current_xact_id()")
        missing = await journal(slow, "gap-slow")  # taken, not committed: a slow instance's group
        after = await journal(other, "gap-after")
        await other.execute("COMMIT")
        await eventually(lambda: after in relay.seen)
        await between.execute("COMMIT")
        for n in range(3):  # read again and again, long past any fixed wait, while it is still open
            clock[0] += 20.0
            later = await journal(other, f"gap-later-{n}")

            def read(id_: int = later) -> bool:
                return id_ in relay.seen or relay.floor >= id_

            await eventually(read)
            assert relay.floor == start == missing - 1
        await slow.execute("COMMIT")  # (its NOTIFY goes out now)
        await eventually(lambda: relay.floor >= later and not relay.seen)
        names = [update.conversation for update in heard.drain()]
        assert sorted(names) == sorted(["gap-slow", "gap-after", "gap-later-0", "gap-later-1", "gap-later-2"])

        # A rolled-back id is passed over as soon as its transaction has ended, not after a fixed wait.
        await slow.execute("BEGIN")
        await slow.execute("SELECT pg_current_xact_id()")
        await journal(slow, "gap-undone")
        last = await journal(other, "gap-kept")
        await eventually(lambda: last in relay.seen)
        assert relay.floor < last
        await slow.execute("ROLLBACK")
        await other.execute("SELECT pg_notify('assistant_live', 'elsewhere')")
        await eventually(lambda: relay.floor == last and not relay.seen)
    finally:
        for conn in (slow, other, between):
            await conn.close()
        await relay.stop()


@pytest.mark.parametrize("shared", [True, False])
async def test_instances_chatwoot_memory_reads_what_another_instance_learned(
    db_path: pg.Location, shared: bool
) -> None:
    from assistant.chatwoot import Notes
    from assistant.web.chatwoot_memory import ChatwootMemory, record
    from assistant.writer import Writer

    writer = Writer(db_path)  # migrates; stands for the other instance's writer
    here = ChatwootMemory(db_path, shared=shared)
    try:
        assert here.last_status("1", "42") is None and here.agent_name("1", "7") is None  # looked up once
        notes = Notes(status=("1", "42", "resolved", 1_000), agents=(("1", "7", "小美"),))
        await writer.submit(lambda conn: record(conn, notes))
        seen = (here.last_status("1", "42"), here.agent_name("1", "7"))
        if shared:
            assert seen == (("resolved", 1_000), "小美")
        else:  # alone on its database, the misses it cached were true: this is what `shared` is for
            assert seen == (None, None)
    finally:
        here.close()
        await writer.close()


async def test_instances_a_starting_instance_leaves_a_live_ones_delivery_alone(
    db_path: pg.Location, config: Config
) -> None:
    from assistant.clock import FakeClock
    from assistant.outbound import DeliveryResult
    from tests.followup_harness import T0, Harness, Recorder
    from tests.helpers import replace_config

    clock = FakeClock(T0)
    send = replace_config(config, "followups", mode="send", idle_seconds=60)
    lease_ms = int(send.followups.lease_s * 1000)
    busy = Recorder([DeliveryResult.retry("the platform is slow", 503)] * 4)  # its attempts wait for retries
    live = await Harness(send, db_path, clock, plugins=[busy]).start()
    starting: Harness | None = None
    try:
        await live.send(conversation="c1", text="在吗")
        await live.agent_says(conversation="c1")
        await live.advance(60)
        await eventually(lambda: len(busy.calls) == 1)
        assert [f.state for f in live.followups()] == ["pending"]  # the live instance is at it
        # A routine restart of another instance: it once resumed every pending delivery of the database.
        other = Recorder()
        starting = await Harness(send, db_path, clock, plugins=[other]).start()
        await starting.advance(send.followups.delivery_timeout_s + 1)  # past the attempt's time limit
        await live.settle()
        assert other.calls == [] and len(busy.calls) == 2  # the live instance's retry, nobody else's
        await live.service.stop()  # the live one dies with its delivery pending
        await starting.advance(lease_ms / 1000)
        assert starting.service.shared is not None
        await starting.service.shared.sweep()  # untouched for a lease: taken over, once
        await starting.advance(send.followups.delivery_timeout_s)  # the attempt in flight has run out its time
        await eventually(lambda: len(other.calls) == 1)
        assert other.calls[0]["key"] == busy.calls[0]["key"]
    finally:
        if starting is not None:
            await starting.stop()
        await live.plugins.stop()
        await live.writer.close()


class Holding:
    """A platform that holds every message it is asked about (the interrupted attempt arrived)."""

    @hookimpl
    def confirm_delivery(self) -> bool | None:
        return True


async def dead_instances_delivery(
    db_path: pg.Location, config: Config, last: DeliveryResult
) -> tuple[Harness, Recorder]:
    """An instance whose delivery's first attempt got `last` died with it pending; another runs on the same
    database (returned, with the platform it delivers to: it holds whatever it is asked about)."""
    clock = FakeClock(T0)
    send = replace_config(config, "followups", mode="send", idle_seconds=60)
    dead = await Harness(send, db_path, clock, plugins=[Recorder([last])]).start()
    await dead.agent_says(conversation="c1")
    await dead.advance(60)
    assert [(f.state, f.attempts) for f in dead.followups()] == [("pending", 1)]
    await dead.stop()
    platform = Recorder()
    return await Harness(send, db_path, clock, plugins=[platform, Holding()]).start(), platform


async def test_instances_a_delivery_taken_over_after_its_conversation_went_on_is_only_settled(
    db_path: pg.Location, config: Config
) -> None:
    # Found: the take-over resumed a dead instance's delivery as it was, and the customer's answer logged meanwhile
    # (no delivery under way to drop) did not stop it: a closing went to a conversation that had moved on.
    other, platform = await dead_instances_delivery(db_path, config, DeliveryResult.retry("HTTP 503", 503))
    try:
        await other.send(conversation="c1", text="好的我再看看")
        await other.advance(other.config.followups.lease_s)
        assert other.service.shared is not None
        await other.service.shared.sweep()
        await other.advance(other.config.followups.backoff_max_s)
        [f] = other.followups()
        assert (f.state, f.last_error) == ("cancelled", CUSTOMER_WROTE)
        assert platform.calls == []
    finally:
        await other.stop()


async def test_instances_a_delivery_taken_over_after_an_attempt_of_unknown_outcome_asks_the_platform_first(
    db_path: pg.Location, config: Config
) -> None:
    # Found: the take-over read the follow-up again without whether its last attempt's outcome was known, and posted
    # it again without asking the platform, which held it already.
    other, platform = await dead_instances_delivery(db_path, config, DeliveryResult.retry("TimeoutError"))
    try:
        await other.advance(other.config.followups.lease_s)
        assert other.service.shared is not None
        await other.service.shared.sweep()
        await other.advance(other.config.followups.delivery_timeout_s)
        await eventually(lambda: [f.state for f in other.followups()] == ["sent"])
        assert platform.calls == []
    finally:
        await other.stop()


async def test_instances_escalation_left_by_a_dead_instance_is_taken_over(
    db_path: pg.Location, pg_cluster: Cluster
) -> None:
    from assistant.clock import FakeClock
    from tests.qa_harness import SECRET, T0, TOKEN, QaHarness, robot_config
    from tests.robots import DingTalkRobot

    robot = await DingTalkRobot(TOKEN, SECRET).start()
    clock = FakeClock(T0)
    config = robot_config(db_path, dingtalk=robot.url)
    lease_ms = int(config.followups.lease_s * 1000)
    survivor = await QaHarness(config, clock).start()
    dying = await QaHarness(config, clock).start()
    try:
        await dying.send(conversation="c1", customer="u1", agent="阿杰", text="不给说法我就去消协")
        robot.script.append(500)  # the second alert's first attempt fails: it waits for a retry
        await dying.send(conversation="c2", customer="u2", agent="阿杰", text="我要投诉你们")
        assert len(robot.messages) == 1 and len(robot.requests) == 2
        await dying.stop()  # what it had armed or pending is in the database, and in no instance's memory
        assert await survivor.service.take_over(lease_ms) == 0
        await survivor.advance(lease_ms / 1000)  # the delivery untouched for a lease
        assert await survivor.service.take_over(lease_ms) == 1
        await survivor.settle()
        assert len(robot.messages) == 2
        await survivor.advance(config.qa.escalate_after_s - 1)  # due, but its owner may still be at it
        assert await survivor.service.take_over(lease_ms) == 0
        await survivor.advance(1)  # a lease past due
        assert await survivor.service.take_over(lease_ms) == 2
        await survivor.settle()
        titles = [m["markdown"]["title"] for m in robot.messages]
        assert len(titles) == 4 and sum("升级告警" in t for t in titles) == 2
        assert await survivor.service.take_over(lease_ms) == 0
        conn = store.connect(db_path)
        try:
            rows = conn.execute(
                "SELECT a.conversation, a.level, a.escalation, d.state FROM qa_alerts a"
                " JOIN qa_deliveries d ON d.alert_id = a.id ORDER BY a.conversation, a.level"
            ).fetchall()
        finally:
            conn.close()
        assert [tuple(r) for r in rows] == [
            ("c1", 1, "escalated", "sent"),
            ("c1", 2, None, "sent"),
            ("c2", 1, "escalated", "sent"),
            ("c2", 2, None, "sent"),
        ]
    finally:
        await survivor.stop()
        await robot.close()


async def test_instances_resumed_panel_hears_of_a_conversation_handed_over_meanwhile(
    pair: tuple[Client, Client],
) -> None:
    a, b = pair
    seen = await last_seen(a, make_event(id="h1", conversation="moved", agent="a1"))
    await b.post("/v1/events", data=body_of(make_event(id="h2", conversation="moved", agent="a2", text="还在吗")))
    again = await open_stream(b, "agent=a1", headers={"Last-Event-ID": seen.id or ""})
    try:
        await again.wait_for(lambda e: e.event == "resumed")
        [card] = again.of("conversation")
        assert (card.data["agent"], card.data["payload"]["previous_agent"]) == ("a2", "a1")  # the page drops it
    finally:
        await again.close()


async def test_instances_keep_a_buyer_erasure_from_running_under_them(
    aiohttp_client: Any,
    config: Config,
    db_path: pg.Location,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # `assistant buyer erase` could not see the instances: it erased under them, and they kept the buyer's
    # conversations in memory (shown on panels, followed up, written back).
    client = await aiohttp_client(make_app(config))
    assert (await client.post("/v1/events", data=body_of(make_event(customer="erased")))).status == 200
    await eventually(client.app[RELAY].listening.is_set)
    monkeypatch.setenv(PASSWORD_ENV, db_path.password or "")
    erase = ["buyer", "erase", "--customer", "erased", "--yes", "--config", str(write_config(tmp_path, db_path))]
    assert main(erase) == 1
    err = capsys.readouterr().err
    assert "请先停止" in err and f"{socket.gethostname()} pid {os.getpid()}" in err, err
    with closing(store.connect(db_path)) as conn:
        assert conn.execute("SELECT count(*) FROM events WHERE customer = 'erased'").fetchone()[0] == 1
        with store.transaction(conn):  # nor does an instance start under an erasure: it waits for it
            assert not instances.exclude(conn)
    await client.close()
    assert main(erase) == 0
    with closing(store.connect(db_path)) as conn:
        assert conn.execute("SELECT count(*) FROM events WHERE customer = 'erased'").fetchone()[0] == 0
