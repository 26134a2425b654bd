"""The timers' changes carried by a request's logging transaction (Ingestor.riders): no writer job of their own."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from assistant import store
from assistant.clock import FakeClock
from assistant.events import parse_event
from assistant.followups.timers import CARRY_WAIT_S, Timers
from assistant.ingest import Ingestor
from assistant.store import Written
from assistant.web.appkeys import WRITER
from assistant.writer import Writer
from tests.helpers import T0, live_event, make_event


def rows(db: Path) -> tuple[dict[str, tuple[int, str, str | None]], int]:
    """(conversation → (armed_seq, state, reason), the watermark) as committed."""
    conn = store.connect(db, readonly=True)
    try:
        timers = {
            r[0]: (r[1], r[2], r[3]) for r in conn.execute("SELECT conversation, armed_seq, state, reason FROM timers")
        }
        return timers, int(conn.execute("SELECT seq FROM timers_watermark").fetchone()[0])
    finally:
        conn.close()


def service(db: Path) -> tuple[Writer, Ingestor, Timers]:
    """A writer, an ingestor and timers whose flusher never runs (not started): only a request writes them."""
    writer = Writer(db)
    ingestor = Ingestor(writer)
    timers = Timers(writer, FakeClock(T0))
    ingestor.riders.append(timers.ride)
    return writer, ingestor, timers


async def test_the_next_requests_transaction_writes_the_changed_timers_and_the_watermark(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    writer, ingestor, timers = service(db)
    await ingestor.ingest([parse_event(make_event(conversation="first"), max_text_chars=5000)])
    timers.saw(1)
    timers.arm(("shop", "first"), due_ms=T0 + 300_000, armed_seq=1, armed_ms=T0, agent="小美")
    timers.arm(("shop", "second"), due_ms=T0 + 300_000, armed_seq=1, armed_ms=T0, agent="小美")
    timers.cancel(("shop", "second"), seq=1, at_ms=T0 + 1, reason="customer_replied")
    commits = writer.commits
    await ingestor.ingest([parse_event(make_event(conversation="other"), max_text_chars=5000)])
    assert writer.commits == commits + 1  # one COMMIT for the event and the timers
    assert timers.settled and timers.ride() is None
    await writer.close()
    timers_now, watermark = rows(db)
    assert timers_now == {"first": (1, "armed", None)}  # the cancelled one was never written armed
    assert watermark == 1


async def test_a_failed_transaction_gives_its_changes_back_to_the_next_write(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    writer, ingestor, timers = service(db)
    await ingestor.ingest([parse_event(make_event(conversation="first"), max_text_chars=5000)])

    def refuse(conn: sqlite3.Connection, item: Written) -> None:
        if item.event.id == "bad":
            raise RuntimeError("refused by a recorder")

    ingestor.recorders.append(refuse)
    timers.saw(1)
    timers.arm(("shop", "first"), due_ms=T0 + 300_000, armed_seq=1, armed_ms=T0, agent="小美")
    with pytest.raises(RuntimeError):
        await ingestor.ingest([parse_event(make_event(id="bad"), max_text_chars=5000)])
    assert rows(db) == ({}, 0)  # rolled back with the event
    assert not timers.settled
    await ingestor.ingest([parse_event(make_event(conversation="other"), max_text_chars=5000)])
    assert rows(db) == ({"first": (1, "armed", None)}, 1)
    assert timers.settled
    await writer.close()


async def test_one_write_at_a_time_and_a_flush_waits_for_the_one_in_flight(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    writer, _, timers = service(db)
    timers.saw(1)
    timers.arm(("shop", "first"), due_ms=T0 + 300_000, armed_seq=1, armed_ms=T0, agent="小美")
    carried = timers.ride()
    assert carried is not None and carried.keys == {("shop", "first")}
    timers.saw(2)
    timers.arm(("shop", "second"), due_ms=T0 + 300_000, armed_seq=2, armed_ms=T0, agent="小美")
    # Its watermark (2) would pass the first write's changes if that one failed: not taken while it is in flight.
    assert timers.ride() is None
    carried.failed()
    again = timers.ride()
    assert again is not None and again.keys == {("shop", "first"), ("shop", "second")} and again.seen == 2
    again.committed()
    timers.saw(3)
    timers.arm(("shop", "third"), due_ms=T0 + 300_000, armed_seq=3, armed_ms=T0, agent="小美")
    held = timers.ride()
    assert held is not None
    flushing = asyncio.ensure_future(timers.flush())
    await asyncio.sleep(0)  # one turn of the loop: the flush starts and waits
    assert not flushing.done()
    await writer.submit(held, together=True)
    held.committed()
    await flushing  # nothing left to write: the carried one had it all
    await writer.close()
    assert rows(db) == ({"third": (3, "armed", None)}, 3)  # only `held` reached the database


async def test_under_a_stream_of_requests_every_timer_write_rides_in_one_of_them(client: TestClient) -> None:  # type: ignore[type-arg]
    # The service's flusher writes only what no request came for: while requests keep coming (the timers' changes
    # made by their listeners after each COMMIT), it writes no job of its own. It flushed 50 ms after a change
    # whatever the traffic, taking the changes made after each COMMIT before the next request could carry them:
    # one job of its own every 50 ms or so, and the group it landed in logged its events in two INSERTs.
    writer = client.app[WRITER]

    async def post(n: int) -> None:
        event = live_event(sender="agent", agent="小美", text="亲，今天发货哦", conversation=f"c{n % 8}")
        async with client.post("/v1/events", json=event) as resp:
            assert resp.status == 200

    await post(0)
    jobs, posted, began = writer.jobs, 0, time.monotonic()
    for first in range(0, 480, 4):  # four at a time, as a webhook's concurrent deliveries
        await asyncio.gather(*(post(n) for n in range(first, first + 4)))
        posted += 4
    own = writer.jobs - jobs - posted  # the jobs of no request: the flusher's
    # Without a request for CARRY_WAIT_S (a round of four held up on a busy machine) it still writes, rightly; the
    # flusher of before made one job per 100-115 ms of the stream (33 and 34 in 3.4-3.9 s, against none now).
    assert own <= (time.monotonic() - began) / CARRY_WAIT_S / 10, own
