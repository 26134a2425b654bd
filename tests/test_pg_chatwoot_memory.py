"""The Chatwoot memory of instances sharing one PostgreSQL database: a delivery reads nothing on the event loop when
nothing changed (a contact's merges, a conversation's status), and what another instance changed is still seen (it
journals it: the relay makes this instance forget what it kept)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from assistant import pg
from assistant.live import Scope
from assistant.web.appkeys import BUS, CHATWOOT, RELAY
from assistant.web.chatwoot_memory import ChatwootMemory
from tests.helpers import eventually, make_app
from tests.pgcluster import Cluster
from tests.pgwire import RoundTrips, round_trips
from tests.test_chatwoot_e2e import changed
from tests.test_chatwoot_merge import BASE, MERGEE, merge_config, written_by
from tests.test_live import open_stream

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)

Client = TestClient  # type: ignore[type-arg]


async def _post(client: Client, payload: dict[str, Any]) -> dict[str, Any]:
    resp = await client.post("/v1/chatwoot", json=payload)
    assert resp.status == 200, await resp.text()
    return dict(await resp.json())


async def _memory_reads(client: Client, proxy: RoundTrips, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The round trips the memory made (its own connection, through `proxy`) for one delivery, and the answer."""
    before = proxy.count
    answer = await _post(client, payload)
    return proxy.count - before, answer


def _status(status: str, at_s: float) -> dict[str, Any]:
    """Conversation 42's status changed to `status` at `at_s` (epoch seconds)."""
    payload = changed("conversation_status_changed", status, None)
    payload.update(updated_at=at_s, timestamp=int(at_s))
    return payload


async def _heard(client: Client, received: int) -> None:
    """The instance heard the journal's rows up to its `received`-th of the other instance's."""
    relay = client.app[RELAY]
    await eventually(lambda: relay.received >= received)


async def test_pg_chatwoot_memory_reads_nothing_when_nothing_changed_and_hears_the_other_instance(
    aiohttp_client: Any, db_path: pg.Location, pg_cluster: Cluster
) -> None:
    # Found: on a shared database each message delivery read the contact's merges and the conversation's contact, and
    # each status its last status (once mapped, once for what it taught, once more to remember it when new), every
    # read a round trip on the event loop: 3 a message (its conversation's status), 2-3 a status change.
    config = merge_config(db_path)
    with round_trips(pg_cluster.port) as proxy:
        app = make_app(config)
        app[CHATWOOT] = ChatwootMemory(proxy.location(db_path), shared=True)  # its reads counted, the rest not
        here, there = await aiohttp_client(app), await aiohttp_client(make_app(config))
        await eventually(lambda: here.app[RELAY].listening.is_set() and there.app[RELAY].listening.is_set())
        await _post(here, written_by(MERGEE, "访客", "42", 9901, "你好，这件外套什么时候发货？"))
        await _post(here, written_by(MERGEE, "访客", "43", 9902, "我上次买的那件有点小"))
        read, _ = await _memory_reads(here, proxy, written_by(MERGEE, "访客", "42", 9903, "有现货吗"))
        assert read == 0  # the contact seen for it last time, no merge heard of since

        opened = time.time() - 300
        read, answer = await _memory_reads(here, proxy, _status("pending", opened))
        assert (read, answer["ignored"]) == (0, "conversation status 'pending' needs no event")  # the messages' own
        again = changed("conversation_updated", "pending", [{"status": ["open", "pending"]}])
        again.update(updated_at=opened, timestamp=int(opened))
        read, answer = await _memory_reads(here, proxy, again)
        assert (read, answer["ignored"]) == (0, "status 'pending' already known")

        # The other instance resolves it later: this one hears the journal's row, and reads the status again.
        received, position = here.app[RELAY].received, here.app[RELAY].floor
        heard = here.app[BUS].subscribe()
        panel = await open_stream(here, "agent=张美玲")  # the other instance's cards are built for it
        try:
            answer = await _post(there, _status("resolved", opened + 60))
            assert answer["accepted"] is True  # the closure, logged there
            await _heard(here, received + 2)  # its event's row, then its status's
        finally:
            await panel.close()
        assert [u.kind for u in heard.drain()] == ["message"]  # the closure's card; the status's row is no update
        missed = await here.app[RELAY].since(position, Scope(everything=True))  # a panel resuming from before
        assert missed is not None and [u.kind for u in missed] == ["message"]
        read, answer = await _memory_reads(here, proxy, _status("resolved", opened + 30))  # an older announcement
        assert read == 1 and answer["ignored"] == "status 'resolved' older than the last change seen ('resolved')"

        # The other instance merges the contact: a late delivery here names the contact merged away.
        received = here.app[RELAY].received
        await _post(there, written_by(BASE, "李先生", "42", 9904, "能便宜点吗"))
        await _heard(here, received + 2)  # the merge's rows (its two conversations), in one transaction
        read, answer = await _memory_reads(here, proxy, written_by(MERGEE, "访客", "43", 9905, "还在吗"))
        assert answer["accepted"] is True and read == 3  # its merges (one a hop: 501 → 777 → none), its contact
        conn = pg.connect(db_path)
        try:
            rows = conn.execute("SELECT customer FROM messages WHERE conversation = '43' ORDER BY seq").fetchall()
        finally:
            conn.close()
        assert [str(row[0]) for row in rows] == [BASE, BASE]
        read, _ = await _memory_reads(here, proxy, written_by(BASE, "李先生", "43", 9906, "好的"))
        assert read == 0


async def test_pg_chatwoot_memory_reads_every_time_while_the_journal_is_not_heard(
    aiohttp_client: Any, db_path: pg.Location, pg_cluster: Cluster
) -> None:
    # What another instance changes is heard through the journal's connection: without it, nothing changeable is kept.
    with round_trips(pg_cluster.port) as proxy:
        app = make_app(merge_config(db_path))
        memory = app[CHATWOOT] = ChatwootMemory(proxy.location(db_path), shared=True)
        here = await aiohttp_client(app)
        await eventually(lambda: here.app[RELAY].listening.is_set())
        await _post(here, written_by(MERGEE, "访客", "42", 9800, "在吗"))
        await _post(here, written_by(MERGEE, "访客", "42", 9801, "在吗"))  # the agent's name, read once it is written
        assert (await _memory_reads(here, proxy, written_by(MERGEE, "访客", "42", 9802, "在吗？")))[0] == 0
        here.app[RELAY].listening.clear()  # as when its connection is lost
        # Its merges, the conversation's contact, the conversation's status (the message's news of it).
        assert (await _memory_reads(here, proxy, written_by(MERGEE, "访客", "42", 9803, "有人吗")))[0] == 3
        assert (await _memory_reads(here, proxy, written_by(MERGEE, "访客", "42", 9804, "有人吗？")))[0] == 3
        here.app[RELAY].listening.set()
        assert memory.heard is not None
        assert (await _memory_reads(here, proxy, written_by(MERGEE, "访客", "42", 9805, "好的")))[0] == 3  # again
        assert (await _memory_reads(here, proxy, written_by(MERGEE, "访客", "42", 9806, "谢谢")))[0] == 0
