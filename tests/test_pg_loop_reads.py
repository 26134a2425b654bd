"""The statements an event runs on the event loop on PostgreSQL: each is a round trip during which no other request
of the instance moves, so the values already known (from the event itself, its insert, an earlier event) are not
read again, and what another instance wrote is still seen."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from assistant import pg, store
from assistant.catalog.store import PG_IMPORT_CHECK_S, Catalog
from assistant.clock import FakeClock
from assistant.config import Config
from assistant.events import parse_event
from assistant.tasks import on_event_loop
from assistant.web.appkeys import ENGINE, PUBLISHER
from assistant.writer import Writer
from tests.catalog_data import TSHIRT
from tests.helpers import body_of, make_app, make_event
from tests.test_catalog_answers import catalog_db
from tests.test_live import open_stream

Client = TestClient  # type: ignore[type-arg]


@pytest.fixture
def backend() -> str:
    return "postgresql"


@pytest.fixture
def on_loop(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The statements run on the event loop (on any PostgreSQL connection), in order."""
    seen: list[str] = []
    execute = pg.Connection.execute

    def counted(self: pg.Connection, sql: str, params: Any = ()) -> pg.Cursor:
        if on_event_loop():
            seen.append(" ".join(sql.split()))
        return execute(self, sql, params)

    monkeypatch.setattr(pg.Connection, "execute", counted)
    yield seen


def _now_ms() -> int:
    return int(time.time() * 1000)


async def _post(client: Client, on_loop: list[str], **fields: Any) -> list[str]:
    """Post one event stamped now; the statements it ran on the event loop."""
    on_loop.clear()
    resp = await client.post("/v1/events", data=body_of(make_event(ts=_now_ms(), **fields)))
    assert resp.status == 200, await resp.text()
    return list(on_loop)


async def test_pg_events_of_a_cached_conversation_read_only_the_currency_check_on_the_loop(
    aiohttp_client: Any, config: Config, on_loop: list[str]
) -> None:
    # Each event read the log between the cached state's last event and its own (another instance's in between?),
    # and a customer message looked at the catalog's import log three times: 1 statement an agent message or an
    # order, 5 a customer message, each a round trip on the event loop.
    client = await aiohttp_client(make_app(config))
    assert await _post(client, on_loop, conversation="c1", text="这件有货吗", item=TSHIRT)
    assert await _post(client, on_loop, conversation="c1", sender="agent", agent="a1", text="亲，有的") == []
    again = await _post(client, on_loop, conversation="c1", text="什么时候发货", item=TSHIRT)
    assert again == ["SELECT max(seq) FROM events WHERE shop = ? AND conversation = ?"]  # another instance's since?
    for kind in ("order_created", "order_paid"):
        assert await _post(client, on_loop, type=kind, conversation="c1", order="o1", amount=99.0) == []
    assert await _post(client, on_loop, type="conversation_closed", conversation="c1") == []


async def test_pg_a_new_conversation_is_read_in_one_statement(
    aiohttp_client: Any, config: Config, on_loop: list[str]
) -> None:
    # A conversation the log has no event of was read in four statements (its latest seq, messages, orders, row).
    client = await aiohttp_client(make_app(config))
    await _post(client, on_loop, conversation="first", customer="u1", text="在吗")  # the shop's adoption counts
    read = await _post(client, on_loop, conversation="new", customer="u2", text="在吗")
    assert read[0] == "SELECT max(seq) FROM events WHERE shop = ? AND conversation = ?"
    assert len(read) == 2 and read[1].startswith("SELECT count(*) FROM (SELECT 1 FROM orders"), read  # past orders


async def test_pg_an_event_another_instance_logged_in_between_is_still_folded_in(
    aiohttp_client: Any, config: Config, db_path: pg.Location, on_loop: list[str]
) -> None:
    # The check comes with the event's own insert (it was a statement on the event loop after each event): an event another instance logged between the cached state's
    # and this one (its journal row not heard yet: none here) still makes the state read again from the log.
    client = await aiohttp_client(make_app(config))
    await _post(client, on_loop, conversation="both", text="在吗")
    other = Writer(db_path)  # stands for the other instance's writer
    try:
        raw = make_event(id="elsewhere", conversation="both", sender="agent", agent="a2", text="亲，在的", ts=_now_ms())
        event = parse_event(raw, max_text_chars=5000)
        await other.submit(lambda conn: store.insert_event(conn, event))
    finally:
        await other.close()
    assert await _post(client, on_loop, conversation="both", text="发什么快递") != []  # its currency check
    assert await _post(client, on_loop, type="order_created", conversation="both", order="o9", amount=5.0) == []
    state = client.app[ENGINE].conversations.get("shop1", "both")
    assert [m["text"] for m in state.recent] == ["在吗", "亲，在的", "发什么快递"]
    assert state.agent == "a2" and state.unpaid_orders == {"o9": 5.0}
    # The same through an agent message, which checks nothing before it is logged: its insert tells.
    other = Writer(db_path)
    try:
        raw = make_event(id="elsewhere-2", conversation="both", text="好的", ts=_now_ms())
        event = parse_event(raw, max_text_chars=5000)
        await other.submit(lambda conn: store.insert_event(conn, event))
    finally:
        await other.close()
    read = await _post(client, on_loop, conversation="both", sender="agent", agent="a1", text="马上发")
    assert read[0] == "SELECT max(seq) FROM events WHERE shop = ? AND conversation = ?"  # the state read again
    state = client.app[ENGINE].conversations.get("shop1", "both")
    assert [m["text"] for m in state.recent][-2:] == ["好的", "马上发"]


def test_pg_catalog_looks_at_its_import_log_once_a_second_and_sees_a_new_import(
    tmp_path: Path, db_path: pg.Location, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A customer message's answer asked for its item three times (title, facts, card), and each call looked at the
    # import log: a round trip on the event loop each, for an import that comes a few times a day.
    catalog_db(tmp_path, db_path)
    clock = FakeClock(0)
    catalog = Catalog(db_path, clock=lambda: clock.now_ms() / 1000)
    read: list[str] = []
    execute = pg.Connection.execute

    def counted(self: pg.Connection, sql: str, params: Any = ()) -> pg.Cursor:
        read.append(sql)
        return execute(self, sql, params)

    monkeypatch.setattr(pg.Connection, "execute", counted)
    try:
        first = catalog.item(TSHIRT)
        assert first is not None and first.title != "新标题"
        read.clear()
        assert catalog.item(TSHIRT) == first and catalog.item(TSHIRT) == first
        assert read == []  # the item kept, the import log not looked at again within the second
        conn = store.connect(db_path)
        try:
            with store.transaction(conn):
                conn.execute("UPDATE catalog_items SET title = ? WHERE item_id = ?", ("新标题", TSHIRT))
                conn.execute(
                    "INSERT INTO catalog_imports (imported_ms, files, items, charts, sizes) VALUES (?, '[]', 1, 0, 0)",
                    (store.now_ms(),),
                )
        finally:
            conn.close()
        clock.advance(PG_IMPORT_CHECK_S)
        renewed = catalog.item(TSHIRT)
        assert renewed is not None and renewed.title == "新标题"  # the import seen a second later
    finally:
        catalog.close()


async def test_pg_a_new_conversations_card_reads_no_agent_before_it(
    aiohttp_client: Any, config: Config, on_loop: list[str]
) -> None:
    # With a panel open, the first event of a conversation the publisher had not tracked read the agent the log gave
    # it before that event: for a new conversation, whose insert found no event before it, there is none to read.
    client = await aiohttp_client(make_app(config))
    reader = await open_stream(client, "agent=a1")
    try:
        read = await _post(client, on_loop, conversation="fresh", customer="u3", agent="a1", text="在吗")
        await reader.wait_for(lambda e: e.event == "conversation", timeout=5)
        assert not [sql for sql in read if sql.startswith("SELECT agent FROM events")], read
        # A conversation with events before its first since the start: still read (a hand-over reaches the old panel).
        client.app[PUBLISHER]._agents.clear()
        read = await _post(client, on_loop, conversation="fresh", sender="agent", agent="a2", text="您好")
        assert [sql for sql in read if sql.startswith("SELECT agent FROM events")], read
    finally:
        await reader.close()
