"""Follow-ups sent through hooks/webhook_out to a real local server: retries, give-up, 4xx, no blocking."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from assistant.clock import FakeClock
from assistant.config import Config
from assistant.followups.delivery import AGENT_WROTE
from assistant.web.appkeys import FOLLOWUPS
from tests.followup_harness import T0, Harness, Receiver
from tests.helpers import BACKENDS, body_of, eventually, make_app, make_event, replace_config
from tests.test_webhook_out import OUT_SECRET, outbound_config

pytestmark = BACKENDS

IDLE = 300
Start = Callable[..., Awaitable[tuple[Harness, Receiver, FakeClock]]]


@pytest.fixture
async def running(config: Config, db_path: Path) -> AsyncIterator[Start]:
    """Start a harness whose webhook_out posts to a receiver answering `statuses`."""
    started: list[tuple[Harness, Receiver]] = []

    async def start(statuses: Sequence[int] = (), **followups: object) -> tuple[Harness, Receiver, FakeClock]:
        receiver = await Receiver(statuses, secret=OUT_SECRET).start()
        cfg = replace_config(
            outbound_config(config, receiver.url), "followups", mode="send", idle_seconds=IDLE, **followups
        )
        clock = FakeClock(T0)
        harness = await Harness(cfg, db_path, clock).start()
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
