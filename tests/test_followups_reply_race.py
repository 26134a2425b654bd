"""A buyer's reply that is acknowledged before the idle follow-up is posted stops it, whatever the order in which the
reply's logging and the timer's firing ran: on one instance, and across instances on one PostgreSQL database, where
the instance that fired the timer hears nothing of a reply another instance logs (docs/followups.md, "A reply at the
moment of firing"). Each test holds the reply at one point between its arrival and its acknowledgement while the
timer fires, and holds the follow-up's delivery until the reply is acknowledged: no sleep, the fake clock."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from contextlib import closing
from typing import Any

import pytest

from assistant import store
from assistant.clock import FakeClock
from assistant.config import Config
from assistant.events import Event, parse_event
from assistant.followups.delivery import CUSTOMER_WROTE
from assistant.hookspecs import DeliveryResult, Followup, hookimpl
from assistant.ingest import Enrichment
from assistant.store import Written
from tests.followup_harness import T0, Harness, Recorder
from tests.helpers import BACKENDS, eventually, make_event, replace_config

IDLE_S = 60
HOLD_S = 5  # the follow-up's delivery waits this long after its firing: the reply is acknowledged meanwhile


class Gate:
    """An annotator that holds a customer message before it is logged (its matching, on a loaded machine)."""

    def __init__(self) -> None:
        self.reached = asyncio.Event()
        self.opened = asyncio.Event()

    def __call__(self, event: Event) -> Enrichment | None | asyncio.Future[Enrichment | None]:
        if not event.is_customer_message:
            return None
        return asyncio.ensure_future(self._wait())

    async def _wait(self) -> Enrichment | None:
        self.reached.set()
        await self.opened.wait()
        return None


class Latch:
    """A recorder that holds a customer message's logging transaction open, its row inserted and not committed, before
    the follow-up service's own recorder (in the writer's thread: the other instance's writer goes on)."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.opened = threading.Event()

    def __call__(self, conn: sqlite3.Connection, written: Written) -> None:
        if written.event.is_customer_message:
            self.reached.set()
            assert self.opened.wait(timeout=60), "the latch was never opened"


class Firing:
    """An `adjust_followup` plugin that holds the firing's transaction (in the writer's thread), its timer claimed and
    its follow-up not written yet."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.opened = threading.Event()

    @hookimpl
    def adjust_followup(self, followup: Followup) -> None:
        self.reached.set()
        assert self.opened.wait(timeout=60), "the firing was never let go"


def waiting_for_a_lock(db: store.Location) -> bool:
    """Whether a statement of another connection to `db` waits for a row lock (the reply's, for the claimed timer)."""
    with closing(store.connect(db)) as conn:
        waiting = (
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return int(conn.execute(waiting).fetchone()[0]) > 0


def hold_deliveries(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each follow-up `h` starts delivering waits HOLD_S on the fake clock before its attempt (its instance slow)."""
    deliverer = h.service.deliverer
    submit = deliverer.submit

    def held(followup: Followup, **kwargs: Any) -> None:
        deliverer.held.setdefault(followup.id, h.clock.now_ms() + HOLD_S * 1000)
        submit(followup, **kwargs)

    monkeypatch.setattr(deliverer, "submit", held)


def reply(h: Harness) -> asyncio.Task[list[dict[str, Any]]]:
    """The buyer's reply posted to `h`, stamped now (after the agent's message, before the timer comes due)."""
    raw = make_event(conversation="c1", text="好的，那我再看看", ts=h.clock.now_ms())
    return asyncio.ensure_future(h.ingestor.ingest([parse_event(raw, max_text_chars=5000)]))


async def fire(timed: Harness) -> None:
    """Fire `timed`'s timer (the reply held meanwhile): its follow-up is recorded, and waits to be posted."""
    await timed.advance(1)  # due: the timer fires without the reply, which is not logged yet
    assert [(f.state, f.attempts) for f in timed.followups()] == [("pending", 0)]  # fired, not posted yet


@BACKENDS
async def test_followup_reply_acknowledged_before_posting_stops_it_on_one_instance(
    config: Config, db_path: store.Location, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The reply's cancel runs on the event loop before its 200, and drops the delivery the firing began.
    platform = Recorder()
    clock = FakeClock(T0)
    h = await Harness(replace_config(config, "followups", mode="send", idle_seconds=IDLE_S), db_path, clock,
                      plugins=[platform]).start()  # fmt: skip
    try:
        gate = Gate()
        h.ingestor.annotators.append(gate)
        hold_deliveries(h, monkeypatch)
        await h.agent_says(conversation="c1")
        await h.advance(IDLE_S - 1)
        acknowledged = reply(h)
        await eventually(gate.reached.is_set)
        await fire(h)
        gate.opened.set()
        assert (await acknowledged)[0]["accepted"]
        await h.advance(HOLD_S)
        assert platform.calls == []
        [f] = h.followups()
        assert (f.state, f.last_error) == ("cancelled", CUSTOMER_WROTE)
    finally:
        await h.stop()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
@pytest.mark.parametrize("held", ["before_logging", "in_transaction", "while_firing"])
async def test_followup_reply_acknowledged_by_another_instance_before_posting_stops_it(
    config: Config, db_path: store.Location, monkeypatch: pytest.MonkeyPatch, held: str
) -> None:
    # Found (tests/test_scaling_e2e.py, once): the instance holding the timer fired it while the buyer's reply, posted
    # to another instance, was on its way into the log (matched, or its transaction open); the reply was acknowledged
    # and the closing was posted after it all the same: the firing could not see it, the reply's transaction found
    # the timer fired and changed nothing, and the firing instance never heard of the reply.
    platform, firing = Recorder(), Firing()
    clock = FakeClock(T0)
    send = replace_config(config, "followups", mode="send", idle_seconds=IDLE_S)
    timed = await Harness(send, db_path, clock, plugins=[platform, firing]).start()
    replied = await Harness(send, db_path, clock, plugins=[Recorder()]).start()
    firing.opened.set()  # the firing goes on at once, but in "while_firing"
    try:
        hold_deliveries(timed, monkeypatch)
        await timed.agent_says(conversation="c1")  # armed on `timed`
        await timed.advance(IDLE_S - 1)
        if held == "before_logging":
            gate = Gate()
            replied.ingestor.annotators.append(gate)
            acknowledged = reply(replied)
            await eventually(gate.reached.is_set)
            await fire(timed)
            gate.opened.set()
        elif held == "while_firing":  # the reply's transaction waits for the firing's claim of the timer
            firing.opened.clear()
            clock.advance(1)
            await eventually(firing.reached.is_set)
            acknowledged = reply(replied)
            await eventually(lambda: waiting_for_a_lock(db_path))
            firing.opened.set()
            await timed.settle()
        else:
            latch = Latch()
            replied.ingestor.recorders.insert(0, latch)  # before the follow-up service's recorder
            acknowledged = reply(replied)
            await eventually(latch.reached.is_set)
            await fire(timed)
            latch.opened.set()
        assert (await acknowledged)[0]["accepted"]
        await replied.settle()
        await timed.advance(HOLD_S)
        assert platform.calls == []
        [f] = timed.followups()
        assert (f.state, f.last_error) == ("cancelled", CUSTOMER_WROTE)
        # The instance that cancelled it tells the panels (the firing one, which showed it pending, learns nothing).
        told = [u.payload for u in replied.drain_updates() if u.kind == "followup"]
        assert [(p["followup_id"], p["state"]) for p in told] == [(f.id, "cancelled")]
    finally:
        await replied.stop()
        await timed.stop()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_followup_waiting_to_retry_is_cancelled_by_a_reply_through_another_instance(
    config: Config, db_path: store.Location
) -> None:
    # Its first attempt was answered 503 (nothing created); the reply came through another instance during the
    # backoff: the retry went out all the same, as the delivering instance heard nothing of it.
    platform = Recorder([DeliveryResult.retry("HTTP 503 from the platform", 503)])
    clock = FakeClock(T0)
    send = replace_config(config, "followups", mode="send", idle_seconds=IDLE_S)
    timed = await Harness(send, db_path, clock, plugins=[platform]).start()
    replied = await Harness(send, db_path, clock, plugins=[Recorder()]).start()
    try:
        await timed.agent_says(conversation="c1")
        await timed.advance(IDLE_S)
        assert len(platform.calls) == 1 and [(f.state, f.attempts) for f in timed.followups()] == [("pending", 1)]
        assert (await reply(replied))[0]["accepted"]
        await replied.settle()
        await timed.advance(send.followups.backoff_max_s)  # past the retry's time
        assert len(platform.calls) == 1
        [f] = timed.followups()
        assert (f.state, f.last_error) == ("cancelled", CUSTOMER_WROTE)
    finally:
        await replied.stop()
        await timed.stop()
