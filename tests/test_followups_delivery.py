"""Follow-ups sent through hooks/webhook_out to a real local server: retries, give-up, 4xx, no blocking."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from assistant.clock import FakeClock
from assistant.config import Config
from assistant.events import parse_event
from assistant.followups.delivery import (
    CUSTOMER_WROTE,
    LOCKED_TOO_LONG,
    ORDER_SETTLED,
    auto_event_id,
)
from assistant.followups.reasons import AGENT_WROTE, CLOSED, english
from assistant.hookspecs import CannotConfirm, DeliveryResult, Followup, hookimpl
from assistant.web.appkeys import FOLLOWUPS
from tests.followup_harness import OUT_SECRET, T0, Harness, LockHolder, Receiver, Recorder, outbound_config
from tests.helpers import BACKENDS, body_of, eventually, make_app, make_event, replace_config

pytestmark = BACKENDS

IDLE = 300
LOCK_WAIT_S = 0.2  # the writer's busy_timeout_s where another process holds the database (real time)
Start = Callable[..., Awaitable[tuple[Harness, Receiver, FakeClock]]]


@pytest.fixture
async def running(config: Config, db_path: Path) -> AsyncIterator[Start]:
    """Start a harness whose webhook_out posts to a receiver answering `statuses`."""
    started: list[tuple[Harness, Receiver]] = []

    async def start(
        statuses: Sequence[int] = (), *, hold: bool = False, busy_timeout_s: float = 5.0, **followups: object
    ) -> tuple[Harness, Receiver, FakeClock]:
        receiver = await Receiver(statuses, secret=OUT_SECRET, hold=hold).start()
        cfg = replace_config(
            outbound_config(config, receiver.url), "followups", mode="send", idle_seconds=IDLE, **followups
        )
        clock = FakeClock(T0)
        harness = await Harness(cfg, db_path, clock, busy_timeout_s=busy_timeout_s).start()
        started.append((harness, receiver))
        return harness, receiver, clock

    yield start
    for harness, receiver in started:
        await harness.stop()
        await receiver.close()


async def retry_until_done(h: Harness, max_waits: int = 20) -> None:
    """Advance through backoffs until nothing is left to deliver."""
    for _ in range(max_waits):
        if h.service.deliverer.in_flight == 0:
            return
        await h.advance(h.config.followups.backoff_max_s)
    raise AssertionError("deliveries still in flight")


async def test_delivery_retries_then_succeeds(running: Start) -> None:
    h, receiver, _ = await running([503, 500])
    await h.agent_says()
    await h.advance(IDLE)
    assert len(receiver.requests) == 1
    [f] = h.followups()
    assert (f.state, f.attempts, f.last_error is not None) == ("pending", 1, True)
    await retry_until_done(h)
    assert len(receiver.requests) == 3
    assert len(set(receiver.keys())) == 1 and all(r["verified"] for r in receiver.requests)
    [f] = h.followups()
    assert (f.state, f.attempts) == ("sent", 3)
    assert h.rows("SELECT count(*) FROM messages WHERE sender = 'auto'") == [(1,)]
    states = [u.payload["state"] for u in h.drain_updates() if u.kind == "followup"]
    assert states[-2:] == ["pending", "sent"]


async def test_delivery_gives_up_after_max_attempts(running: Start) -> None:
    h, receiver, _ = await running([500] * 10, max_attempts=4)
    await h.agent_says()
    await h.advance(IDLE)
    await retry_until_done(h)
    assert len(receiver.requests) == 4
    [f] = h.followups()
    assert (f.state, f.attempts) == ("failed", 4) and "HTTP 500" in (f.last_error or "")
    assert h.rows("SELECT count(*) FROM messages WHERE sender = 'auto'") == [(0,)]
    assert [u.payload["state"] for u in h.drain_updates() if u.kind == "followup"][-1] == "failed"


async def test_delivery_client_error_is_not_retried(running: Start) -> None:
    h, receiver, _ = await running([400])
    await h.agent_says()
    await h.advance(IDLE)
    await h.advance(3600)
    assert len(receiver.requests) == 1
    [f] = h.followups()
    assert (f.state, f.attempts) == ("failed", 1) and "HTTP 400" in (f.last_error or "")


async def test_delivery_waiting_to_retry_is_dropped_when_customer_writes(running: Start) -> None:
    h, receiver, _ = await running([503])
    await h.agent_says()
    await h.advance(IDLE)
    await h.send(text="在的，刚才在忙")
    await retry_until_done(h)
    assert len(receiver.requests) == 1
    assert [f.state for f in h.followups()] == ["cancelled"]


async def test_delivery_waiting_to_retry_is_dropped_when_the_agent_writes_again(running: Start) -> None:
    # Found: the agent's next message opened a new idle period but left the old one's retry running, so its
    # closing reached the customer after the agent's new answer, and a second closing followed it.
    h, receiver, _ = await running([503])
    await h.agent_says()
    await h.advance(IDLE)
    await h.agent_says("亲，还有别的问题吗？")
    await retry_until_done(h)
    assert len(receiver.requests) == 1
    [f] = h.followups()
    assert (f.state, f.last_error) == ("cancelled", AGENT_WROTE)
    await h.advance(IDLE)  # the new period's own closing, once
    assert len(receiver.requests) == 2 and len(set(receiver.keys())) == 2


async def test_delivery_of_a_reminder_waiting_to_retry_is_dropped_when_the_order_is_paid(running: Start) -> None:
    # Found: a customer message, an agent message or a closure dropped a retrying delivery, a payment did not, so
    # the buyer who had just paid was asked to pay once the receiver answered again.
    h, receiver, _ = await running([500])
    await h.send("order_created", order="o1", amount=99.0)
    await h.agent_says("亲记得付款哦")
    await h.advance(IDLE)
    [f] = h.followups()
    assert (f.kind, f.state) == ("payment_reminder", "pending")
    await h.send("order_paid", order="o1", amount=99.0)
    await retry_until_done(h)
    assert len(receiver.requests) == 1
    [f] = h.followups()
    assert (f.state, f.last_error) == ("cancelled", ORDER_SETTLED)


async def test_delivery_of_a_reminder_whose_payment_check_met_a_locked_database_is_checked_again_and_sent_once(
    running: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found: "is the order paid?" before the reminder went out failed on a database another process held past
    # busy_timeout_s, and that ended the delivery: the reminder stayed pending, never sent, until a restart.
    h, receiver, _ = await running()
    deliverer = h.service.deliverer
    check = deliverer._unpaid
    checks: list[str] = []

    async def locked_once(f: Followup) -> bool:
        checks.append(f.id)
        if len(checks) > 1:
            return await check(f)

        def locked(conn: sqlite3.Connection) -> bool:
            exc = sqlite3.OperationalError("database is locked")
            exc.sqlite_errorcode = 5  # SQLITE_BUSY, as the writer meets it (PostgreSQL's lock timeout maps to it)
            raise exc

        return await h.writer.submit(locked, together=True)

    monkeypatch.setattr(deliverer, "_unpaid", locked_once)
    await h.send("order_created", order="o1", amount=99.0)
    await h.agent_says("亲记得付款哦")
    await h.advance(IDLE)
    [f] = h.followups()
    assert (f.kind, f.state, f.attempts, len(checks), receiver.requests) == ("payment_reminder", "pending", 0, 1, [])
    assert deliverer.in_flight == 1  # waiting out the delivery's backoff, then asking again
    await retry_until_done(h)
    assert len(checks) == 2 and len(receiver.requests) == 1
    [f] = h.followups()
    assert (f.state, f.attempts) == ("sent", 1)


async def test_delivery_whose_payment_check_meets_a_database_locked_for_good_is_left_pending_after_max_attempts(
    running: Start, caplog: pytest.LogCaptureFixture
) -> None:
    # Found: the payment check before a reminder's attempt met a database another process held in a transaction
    # for good, and was asked again after each backoff, forever and silently.
    h, receiver, _ = await running([500], max_attempts=3, late_grace_s=3600, busy_timeout_s=LOCK_WAIT_S)
    await h.send("order_created", order="o1", amount=99.0)
    await h.agent_says("亲记得付款哦")
    await h.advance(IDLE)
    assert len(receiver.requests) == 1  # answered 500: checked again, then attempted, after a backoff
    holder = LockHolder(h.db)
    holder.take()
    try:
        await retry_until_done(h)
    finally:
        holder.release()
    [f] = h.followups()
    assert (f.state, f.attempts, len(receiver.requests), h.service.deliverer.left_pending) == ("pending", 1, 1, 1)
    [line] = [r.getMessage() for r in caplog.records if "left pending" in r.getMessage()]
    assert f.id in line and "whether its order was paid" in line and "nothing was sent" in line
    await h.restart()  # resumed, and sent once
    await retry_until_done(h)
    [f] = h.followups()
    assert (f.state, f.attempts, len(receiver.requests), len(set(receiver.keys()))) == ("sent", 2, 2, 1)


async def test_delivery_taken_by_the_platform_while_the_database_is_locked_is_recorded_sent_when_it_takes_writes(
    running: Start,
) -> None:
    # Found: the platform took the closing, and logging it sent met a database another process held: the error
    # ended the delivery, and the follow-up stayed pending, its outcome unknown, until a restart.
    h, receiver, clock = await running(hold=True, busy_timeout_s=LOCK_WAIT_S)
    await h.agent_says()
    clock.advance(IDLE)
    await eventually(lambda: len(receiver.requests) == 1)
    holder = LockHolder(h.db)
    holder.take()
    try:
        receiver.release()
        await h.settle()  # waiting out a backoff
        assert h.service.deliverer.in_flight == 1
    finally:
        holder.release()
    await retry_until_done(h)
    [f] = h.followups()
    assert (f.state, f.attempts, len(receiver.requests)) == ("sent", 1, 1)
    assert h.rows("SELECT count(*) FROM messages WHERE sender = 'auto'") == [(1,)]


async def test_delivery_taken_by_the_platform_whose_record_meets_a_database_locked_for_good_is_not_posted_again(
    running: Start, caplog: pytest.LogCaptureFixture
) -> None:
    h, receiver, clock = await running(hold=True, max_attempts=2, busy_timeout_s=LOCK_WAIT_S)
    await h.agent_says()
    clock.advance(IDLE)
    await eventually(lambda: len(receiver.requests) == 1)
    holder = LockHolder(h.db)
    holder.take()
    try:
        receiver.release()
        await retry_until_done(h)
    finally:
        holder.release()
    [f] = h.followups()
    assert (f.state, f.attempts, h.service.deliverer.left_pending) == ("pending", 1, 1)
    assert h.rows("SELECT unknown FROM followup_outcomes WHERE id = ?", f.id) == [(1,)]  # a restart asks first
    [line] = [r.getMessage() for r in caplog.records if "left pending" in r.getMessage()]
    assert f.id in line and "attempt 1 reached the platform" in line
    h.service.deliverer.submit(f)  # taken up again (a shared database's take-over): recorded, not posted
    await retry_until_done(h)
    [f] = h.followups()
    assert (f.state, f.attempts, len(receiver.requests)) == ("sent", 1, 1)
    assert h.rows("SELECT count(*) FROM messages WHERE sender = 'auto'") == [(1,)]


async def left_pending_reminder(running: Start) -> tuple[Harness, Receiver, LockHolder]:
    """A payment reminder answered 500 once, whose delivery then met a database another process holds (the
    returned holder, still holding it) `max_attempts` times: left pending."""
    h, receiver, _ = await running([500], max_attempts=3, busy_timeout_s=LOCK_WAIT_S)
    await h.send("order_created", order="o1", amount=99.0)
    await h.agent_says("亲记得付款哦")
    await h.advance(IDLE)
    assert len(receiver.requests) == 1
    [f] = h.followups()
    holder = LockHolder(h.db)
    holder.take()
    try:
        await retry_until_done(h)
        assert (h.service.deliverer.left_pending, list(h.service.deliverer.left)) == (1, [f.id])
    except BaseException:
        holder.release()
        raise
    return h, receiver, holder


async def test_delivery_left_pending_by_a_locked_database_is_taken_up_again_after_the_lease_and_sent_once(
    running: Start, caplog: pytest.LogCaptureFixture
) -> None:
    # Found: on SQLite a follow-up a locked database left pending waited for the next start, hours or days while
    # the service ran on: the buyer never got the reminder. Now it is taken up again a lease later.
    caplog.set_level(logging.INFO, logger="assistant.followups.delivery")
    h, receiver, holder = await left_pending_reminder(running)
    lease_s = h.config.followups.lease_s
    try:
        await h.advance(lease_s)  # still locked: read again a lease later, nothing sent
        assert (len(receiver.requests), h.service.deliverer.in_flight) == (1, 0)
        assert "taking it up again met a locked database" in caplog.text
    finally:
        holder.release()
    assert [(f.state, f.attempts) for f in h.followups()] == [("pending", 1)]
    stuck = {"pending": 1, "left_pending": 1, "left_pending_now": 1, "checks_given_up": 0}
    assert await h.service.deliverer.counts() == stuck  # what /readyz shows
    await h.advance(lease_s)
    await retry_until_done(h)
    [f] = h.followups()
    assert (f.state, f.attempts, len(receiver.requests), len(set(receiver.keys()))) == ("sent", 2, 2, 1)
    assert await h.service.deliverer.counts() == {**stuck, "pending": 0, "left_pending_now": 0}
    await h.advance(lease_s * 2)
    assert len(receiver.requests) == 2  # once
    assert h.rows("SELECT count(*) FROM messages WHERE sender = 'auto'") == [(1,)]


async def test_delivery_left_pending_by_a_locked_database_is_only_settled_when_taken_up_after_the_customer_wrote(
    running: Start,
) -> None:
    h, receiver, holder = await left_pending_reminder(running)
    holder.release()
    assert [(f.state, f.attempts) for f in h.followups()] == [("pending", 1)]
    await h.send(text="我再想想")  # no delivery under way to drop: the take-up reads the log
    await h.advance(h.config.followups.lease_s)
    await retry_until_done(h)
    [f] = h.followups()
    assert (f.state, f.last_error, len(receiver.requests)) == ("cancelled", CUSTOMER_WROTE, 1)


async def test_delivery_left_pending_by_a_database_locked_past_late_grace_is_recorded_missed_not_sent(
    running: Start,
) -> None:
    # A closing or a reminder taken up hours late (the database locked all along) went out however late it was;
    # past late_grace_s after the first lease ran out it is recorded missed, as a start records one.
    h, receiver, holder = await left_pending_reminder(running)
    lease_s, grace_s = h.config.followups.lease_s, h.config.followups.late_grace_s
    try:
        for _ in range(int(grace_s // lease_s) + 2):  # read again each lease, the database still locked
            await h.advance(lease_s)
    finally:
        holder.release()
    await h.advance(lease_s)
    await retry_until_done(h)
    [f] = h.followups()
    assert (f.state, f.last_error, len(receiver.requests)) == ("missed", LOCKED_TOO_LONG, 1)
    assert await h.service.deliverer.counts() == {
        "pending": 0, "left_pending": 1, "left_pending_now": 0, "checks_given_up": 0
    }  # fmt: skip


async def test_delivery_of_a_copy_read_before_it_was_sent_posts_nothing(running: Start) -> None:
    # A take-over's copy of a pending follow-up, read just before its own delivery recorded it sent.
    h, receiver, _ = await running()
    await h.agent_says()
    await h.advance(IDLE)
    [f] = h.followups()
    assert (f.state, len(receiver.requests)) == ("sent", 1)
    h.service.deliverer.submit(replace(f, state="pending", attempts=0, updated_ms=f.fired_ms))
    await retry_until_done(h)
    assert (len(receiver.requests), h.followups()[0].state) == (1, "sent")


async def test_payment_that_meets_a_locked_database_is_checked_again_and_cancels_the_timer(running: Start) -> None:
    # Found: the check that a payment left no unpaid order, run as the payment is logged, met a database another
    # process held and ended there: the reminder's timer stayed armed and the panel kept counting down.
    h, _, _ = await running(busy_timeout_s=LOCK_WAIT_S)
    await h.send("order_created", order="o1", amount=99.0)
    await h.agent_says("亲记得付款哦")
    await h.advance(60)
    holder = LockHolder(h.db)
    h.ingestor.listeners.append(lambda written: holder.take() if written.event.type == "order_paid" else None)
    try:
        await h.send("order_paid", order="o1", amount=99.0)
        assert h.service.timers.queue.get(("shop1", "conv1")) is not None
    finally:
        holder.release()
    await h.advance(h.config.followups.backoff_max_s)
    assert h.service.timers.queue.get(("shop1", "conv1")) is None
    states = [u.payload for u in h.drain_updates() if u.kind == "followup"]
    assert states[-1] == {"state": "cancelled", "reason": "paid"}
    await h.advance(IDLE)
    assert h.followups() == []


async def test_delivery_of_a_reminder_waiting_to_retry_is_dropped_when_the_order_is_closed(running: Start) -> None:
    h, receiver, _ = await running([500])
    await h.send("order_created", order="o1", amount=99.0)
    await h.agent_says("亲记得付款哦")
    await h.advance(IDLE)
    await h.send("order_closed", order="o1")
    await retry_until_done(h)
    assert len(receiver.requests) == 1
    [f] = h.followups()
    assert (f.kind, f.state, f.last_error) == ("payment_reminder", "cancelled", ORDER_SETTLED)


async def test_delivery_of_a_reminder_goes_out_while_another_order_is_unpaid(running: Start) -> None:
    h, receiver, _ = await running([500])
    await h.send("order_created", order="o1", amount=99.0)
    await h.send("order_created", order="o2", amount=20.0)
    await h.agent_says("亲记得付款哦")
    await h.advance(IDLE)
    await h.send("order_paid", order="o2", amount=20.0)
    await retry_until_done(h)
    assert len(receiver.requests) == 2
    assert [(f.kind, f.state) for f in h.followups()] == [("payment_reminder", "sent")]


async def test_delivery_waiting_to_retry_is_dropped_with_its_own_reason_when_the_conversation_closes(
    running: Start,
) -> None:
    # Found: the record said the customer wrote, where the conversation was closed.
    h, receiver, _ = await running([503])
    await h.agent_says()
    await h.advance(IDLE)
    await h.send("conversation_closed")
    await retry_until_done(h)
    assert len(receiver.requests) == 1
    [f] = h.followups()
    assert (f.state, f.last_error) == ("cancelled", CLOSED)


async def test_delivery_never_blocks_webhook_handling(
    aiohttp_client: Callable[..., Awaitable[TestClient]],  # type: ignore[type-arg]
    config: Config,
    db_path: Path,
) -> None:
    """A receiver that never answers holds a delivery open while events keep being accepted."""
    receiver = await Receiver(hold=True).start()
    cfg = replace_config(outbound_config(config, receiver.url), "followups", mode="send", idle_seconds=1)
    try:
        client = await aiohttp_client(make_app(cfg))
        agent = make_event(sender="agent", agent="小美", text="亲，这款有现货哦", ts=int(time.time() * 1000))
        assert (await client.post("/v1/events", data=body_of(agent))).status == 200
        await eventually(lambda: receiver.requests, timeout=10)  # the delivery now hangs on the receiver
        for i in range(20):
            event = make_event(conversation=f"other{i}", text="什么时候发货", ts=int(time.time() * 1000))
            resp = await client.post("/v1/events", data=body_of(event))
            assert resp.status == 200 and (await resp.json())["accepted"]
        # Every event was answered while the delivery was still open: handling never waited for it.
        assert not receiver.released.is_set()
        assert client.app[FOLLOWUPS].deliverer.in_flight == 1
    finally:
        await receiver.close()


class Unaskable:
    """A platform that cannot be asked whether it holds a message (Chatwoot with an agent bot's token)."""

    def __init__(self) -> None:
        self.asked = 0

    @hookimpl
    def confirm_delivery(self) -> bool | None:
        self.asked += 1
        raise RuntimeError(
            'HTTP 401 listing Chatwoot messages: {"error":"Access to this endpoint is not authorized for bots"}'
        )


def echo(h: Harness, followup_id: str) -> dict[str, object]:
    """The platform's echo of a follow-up, as the Chatwoot webhook logs it."""
    return make_event(
        id=auto_event_id(followup_id), sender="auto", text="亲，还在吗", followup_id=followup_id, ts=h.clock.now_ms()
    )


@pytest.mark.parametrize("echoed", [True, False])
async def test_delivery_timed_out_attempt_goes_by_its_echo_when_the_platform_cannot_be_asked(
    config: Config, db_path: Path, echoed: bool
) -> None:
    # Found: with an agent bot's token Chatwoot refuses the listing asked before a retry, so an attempt that timed
    # out was never retried and recorded failed, whether or not Chatwoot had created the message.
    cfg = replace_config(config, "followups", mode="send", idle_seconds=IDLE, max_attempts=3)
    recorder, unaskable = Recorder([DeliveryResult.retry("TimeoutError posting to Chatwoot")]), Unaskable()
    h = await Harness(cfg, db_path, FakeClock(T0), plugins=[recorder, unaskable]).start()
    try:
        await h.agent_says()
        await h.advance(IDLE)
        [f] = h.followups()
        if echoed:
            await h.resend(echo(h, f.id))
        await h.advance(cfg.followups.backoff_max_s)
        await h.advance(cfg.followups.delivery_timeout_s)  # the echo's time is over
        [f] = h.followups()
        assert f.state == "sent"
        assert len(recorder.calls) == (1 if echoed else 2)  # no echo: it was not created, so sent again
        assert h.rows("SELECT count(*) FROM messages WHERE sender = 'auto'") == [(1,)]
    finally:
        await h.stop()


async def test_delivery_cut_by_a_restart_is_sent_by_its_echo_and_never_posted_again_without_one(
    config: Config, db_path: Path
) -> None:
    cfg = replace_config(config, "followups", mode="send", idle_seconds=IDLE, max_attempts=2)
    clock = FakeClock(T0)
    h = await Harness(cfg, db_path, clock, plugins=[Recorder([DeliveryResult.retry("TimeoutError")] * 2)]).start()
    await h.agent_says()
    await h.agent_says("亲，还有别的需要吗", conversation="conv2")
    await h.advance(IDLE)
    ids = {f.conversation: f.id for f in h.followups()}
    await h.resend(echo(h, ids["conv1"]))  # conv1's attempt arrived; conv2's echo never came
    await h.stop()
    clock.advance(cfg.followups.lease_s)
    recorder, unaskable = Recorder(), Unaskable()
    h.extra_plugins = [recorder, unaskable]
    await h.start()
    try:
        for _ in range(5):
            await h.advance(cfg.followups.backoff_max_s)
        states = {f.conversation: (f.state, f.last_error or "") for f in h.followups()}
        assert states["conv1"] == ("sent", "TimeoutError")
        assert states["conv2"][0] == "failed" and "not authorized for bots" in states["conv2"][1]
        assert recorder.calls == []  # nothing posted again: conv2's attempt may have arrived while we were down
    finally:
        await h.stop()


class Refusing:
    """Chatwoot with an agent bot's token: listing a conversation's messages is refused for good (401)."""

    def __init__(self) -> None:
        self.asked = 0

    @hookimpl
    def confirm_delivery(self) -> bool | None:
        self.asked += 1
        raise CannotConfirm("HTTP 401 listing Chatwoot messages: not authorized for bots", final=True)


@pytest.mark.parametrize("status", [500, 429])
async def test_delivery_waiting_to_retry_after_an_error_status_is_resumed_without_asking(
    config: Config, db_path: Path, status: int
) -> None:
    # Found: after a clean restart every resumed delivery was treated as one whose attempt may have arrived, so
    # with an agent bot's token (listing refused) a follow-up answered 500 or 429 was never sent and ended failed.
    cfg = replace_config(config, "followups", mode="send", idle_seconds=IDLE)
    clock = FakeClock(T0)
    failing = DeliveryResult.from_status(status, f"HTTP {status} from Chatwoot")
    h = await Harness(cfg, db_path, clock, plugins=[Recorder([failing] * 2)]).start()
    await h.agent_says()
    await h.advance(IDLE)
    await h.advance(cfg.followups.backoff_max_s)
    [f] = h.followups()
    assert (f.state, f.attempts, f.outcome_unknown) == ("pending", 2, False)
    await h.stop()
    clock.advance(cfg.followups.lease_s)  # the stopped instance's claim has run out (several instances)
    recorder, refusing = Recorder(), Refusing()
    h.extra_plugins = [recorder, refusing]
    await h.start()
    try:
        await h.advance(cfg.followups.backoff_max_s)
        [f] = h.followups()
        assert (f.state, f.attempts) == ("sent", 3)
        assert len(recorder.calls) == 1 and refusing.asked == 0
    finally:
        await h.stop()


async def test_delivery_cut_short_is_failed_at_once_when_the_platform_refuses_to_be_asked(
    config: Config, db_path: Path
) -> None:
    # Asking again cannot help: the follow-up is failed at the first refusal, never posted (it may have arrived).
    cfg = replace_config(config, "followups", mode="send", idle_seconds=IDLE)
    clock = FakeClock(T0)
    h = await Harness(cfg, db_path, clock, plugins=[Recorder([DeliveryResult.retry("TimeoutError")])]).start()
    await h.agent_says()
    await h.advance(IDLE)
    await h.stop()
    clock.advance(cfg.followups.lease_s)  # the stopped instance's claim has run out (several instances)
    recorder, refusing = Recorder(), Refusing()
    h.extra_plugins = [recorder, refusing]
    await h.start()
    try:
        [f] = h.followups()
        assert (f.state, f.attempts) == ("failed", 2) and "not posted again" in english(f.last_error or "")
        assert recorder.calls == [] and refusing.asked == 1
    finally:
        await h.stop()


class Revoked:
    """Chatwoot after the token was revoked or rotated: listing a conversation's messages is refused (401) while
    `refused`; then the message is found there (`holds`) or not."""

    CREDENTIAL = "CHATWOOT_API_TOKEN (the API token of Chatwoot account 3)"

    def __init__(self, *, holds: bool) -> None:
        self.holds = holds
        self.refused = True
        self.asked = 0

    @hookimpl
    def confirm_delivery(self) -> bool | None:
        self.asked += 1
        if self.refused:
            why = 'HTTP 401 listing Chatwoot messages: {"error":"Invalid Access Token"}'
            raise CannotConfirm(why, final=True, credential=self.CREDENTIAL)
        return self.holds


@pytest.mark.parametrize("holds", [True, False])
async def test_delivery_of_unknown_outcome_waits_for_a_refused_token_before_asking_again(
    config: Config, db_path: Path, holds: bool
) -> None:
    # Found: an attempt that timed out just before a restart, then a revoked token's 401 when the platform was asked
    # whether it arrived: the follow-up was failed at once, as if the token could never list messages (a bot's),
    # where every other 401 keeps it for the new token.
    cfg = replace_config(config, "followups", mode="send", idle_seconds=IDLE, late_grace_s=600)
    clock = FakeClock(T0)
    h = await Harness(cfg, db_path, clock, plugins=[Recorder([DeliveryResult.retry("TimeoutError")])]).start()
    await h.agent_says()
    await h.advance(IDLE)
    await h.stop()
    clock.advance(cfg.followups.lease_s)
    recorder, revoked = Recorder(), Revoked(holds=holds)
    h.extra_plugins = [recorder, revoked]
    await h.start()
    try:
        await h.advance(cfg.followups.backoff_max_s)
        [f] = h.followups()
        assert (f.state, f.attempts) == ("pending", 1) and "Invalid Access Token" in (f.last_error or "")
        assert revoked.asked >= 2 and recorder.calls == []  # kept and asked again, never posted meanwhile
        refused = (await h.service.deliverer.counts())["credentials_refused"]
        assert refused == {Revoked.CREDENTIAL: {"error": f.last_error, "held": 1}}
        revoked.refused = False  # the new token
        await h.advance(cfg.followups.backoff_max_s)
        [f] = h.followups()
        assert f.state == "sent"
        assert len(recorder.calls) == (0 if holds else 1)  # posted only when the platform did not hold it
        assert "credentials_refused" not in await h.service.deliverer.counts()
    finally:
        await h.stop()


async def test_delivery_waits_out_the_receivers_retry_after(config: Config, db_path: Path) -> None:
    # Found: Chatwoot's 429 asked for 240 s and was retried within 2 s, seven times in 81 s.
    cfg = replace_config(config, "followups", mode="send", idle_seconds=IDLE)
    throttled = replace(DeliveryResult.from_status(429, "HTTP 429 from Chatwoot"), retry_after_s=240.0)
    recorder = Recorder([throttled])
    h = await Harness(cfg, db_path, FakeClock(T0), plugins=[recorder]).start()
    try:
        await h.agent_says()
        await h.advance(IDLE)
        await h.advance(cfg.followups.backoff_max_s)
        await h.advance(239 - cfg.followups.backoff_max_s)
        assert len(recorder.calls) == 1 and h.followups()[0].state == "pending"
        await h.advance(1)
        assert len(recorder.calls) == 2 and h.followups()[0].state == "sent"
    finally:
        await h.stop()


class HeldFirst:
    """A platform that takes every follow-up at once but the first, which it answers when `release` is set."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.release = asyncio.Event()

    @hookimpl
    async def deliver_message(
        self, conversation: dict[str, Any], text: str, idempotency_key: str, kind: str
    ) -> DeliveryResult:
        self.keys.append(idempotency_key)
        if len(self.keys) == 1:
            await self.release.wait()
        return DeliveryResult.sent(200)


async def test_two_closings_delivered_out_of_order_leave_the_panel_on_the_later_one(
    send_config: Config, db_path: Path, clock: FakeClock
) -> None:
    # Found: the first idle period's closing, held by a slow platform while the agent wrote again and the second
    # period's closing went out, was recorded sent last: the panel's line (the last update it heard) showed the
    # first closing, the database (and so every panel after a restart) the second.
    held = HeldFirst()
    h = await Harness(send_config, db_path, clock, plugins=[held]).start()
    try:
        await h.agent_says()
        clock.advance(IDLE)
        await eventually(lambda: len(held.keys) == 1)  # the first closing's attempt, held
        again = make_event(sender="agent", agent="小美", text="亲，还有别的问题吗？", ts=clock.now_ms())
        await h.ingestor.ingest([parse_event(again, max_text_chars=5000)])
        clock.advance(IDLE)
        # The second period's closing waits for the first's attempt in flight: the buyer reads them in order.
        await eventually(lambda: [f.state for f in h.followups()] == ["pending", "pending"])
        assert len(held.keys) == 1
        held.release.set()
        await h.settle()
        first, second = h.followups()
        assert (first.state, second.state, held.keys) == ("sent", "sent", [first.id, second.id])
        key = (second.shop, second.conversation)
        [*_, shown] = [u.payload for u in h.drain_updates() if u.kind == "followup"]
        assert shown == h.service.panel_states([key])[key]
        assert shown["followup_id"] == second.id
    finally:
        await h.stop()
