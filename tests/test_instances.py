"""Several instances on one PostgreSQL database (in one process here; tests/test_scaling_e2e.py runs three
real services): a panel on one sees events posted to another, conversation state follows the other's
events, and a due idle period is fired once by whichever instance claims it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from assistant import pg, store
from assistant.config import Config
from assistant.web.appkeys import ENGINE
from tests.helpers import body_of, eventually, make_app, make_event
from tests.pgcluster import Cluster
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
        await eventually(lambda: heard.queue.qsize() == 1)
        # The listener's connection dies; what is written meanwhile arrives once it is back.
        await _kill_listener(pg_cluster, location)
        writer = Writer(location)
        event = parse_event(make_event(id="j2", conversation="c2"), max_text_chars=5000)
        await writer.submit(lambda conn: sender.record(conn, store.insert_event(conn, event)))  # with its event
        await writer.close()
        out_bus.publish(Update("followup", "s", "c2", "a1", {"n": 3}))
        await eventually(lambda: heard.queue.qsize() == 3, timeout=10)
        got = [heard.queue.get_nowait() for _ in range(3)]
        assert [(u.kind, u.conversation, u.remote) for u in got] == [
            ("followup", "c1", True),
            ("message", "c2", True),
            ("followup", "c2", True),
        ]
        assert got[1].payload == {"event_id": "j2", "event_type": "message"}  # no card builder given here
    finally:
        await sender.stop()
        await receiver.stop()


async def _kill_listener(cluster: Cluster, location: pg.Location) -> None:
    import psycopg

    name = location.url.rsplit("/", 1)[1]
    with psycopg.connect(cluster.url("postgres"), password=cluster.password, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = %s AND application_name = 'cs-assistant-listen'",
            (name,),
        ).fetchone()
    assert killed is not None and killed[0] == 2  # both relays listen
