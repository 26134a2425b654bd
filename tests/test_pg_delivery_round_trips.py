"""The round trips a follow-up's delivery and the take-over sweep cost the writer on PostgreSQL, counted on the wire
through a proxy (tests/pgwire.py); and the same deliveries and take-overs on both stores."""

from __future__ import annotations

import pytest

from assistant import pg
from assistant.clock import FakeClock
from assistant.config import Config
from assistant.hookspecs import DeliveryResult
from tests.followup_harness import T0, Harness, Recorder
from tests.helpers import replace_config
from tests.pgcluster import Cluster
from tests.pgwire import round_trips
from tests.test_followups_round_trips import IDLE, followups_config

DELIVERIES = 5


async def delivered_round_trips(pg_cluster: Cluster, config: Config, mode: str) -> float:
    """Round trips per idle conversation from its timer's due time to its follow-up settled, one at a time."""
    with round_trips(pg_cluster.port) as proxy:
        location = proxy.location(pg_cluster.database())
        cfg = followups_config(replace_config(config, "store", url=location.url), mode)
        platform = Recorder()
        h = await Harness(cfg, location, FakeClock(T0), plugins=[platform]).start()
        try:
            counted = 0
            for i in range(DELIVERIES):
                await h.send(conversation=f"c{i}", text="这个还有货吗")
                await h.agent_says(conversation=f"c{i}")
                before = proxy.count
                await h.advance(IDLE)
                counted += proxy.count - before
            followups = h.followups()
            assert [f.state for f in followups] == ["sent" if mode == "send" else "suggested"] * DELIVERIES
            assert len(platform.calls) == (DELIVERIES if mode == "send" else 0)
            if mode == "send":
                texts = h.rows("SELECT conversation, sender FROM messages WHERE sender = 'auto' ORDER BY seq")
                assert texts == [(f"c{i}", "auto") for i in range(DELIVERIES)]  # each logged once
            return counted / DELIVERIES
        finally:
            await h.stop()
            pg.close_pools(location)


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_pg_a_delivery_costs_the_writer_few_round_trips(pg_cluster: Cluster, config: Config) -> None:
    # Found: a delivery read the conversation's inbox (a writer group of its own), recorded the attempt (its row, then
    # whether its outcome is known: another round trip), logged the auto message, then recorded it sent (another
    # group): 22 round trips a follow-up delivered, beside its firing.
    sent = await delivered_round_trips(pg_cluster, config, "send")
    suggested = await delivered_round_trips(pg_cluster, config, "suggest")
    assert sent - suggested <= 14, (sent, suggested)


async def sweep_round_trips(pg_cluster: Cluster, config: Config, stalled: int) -> int:
    """Round trips of one take-over sweep on an instance that takes over `stalled` deliveries a dead instance left
    pending (beside one more, when there are any, that the buyer's reply through this instance cancels at once)."""
    clock = FakeClock(T0)
    db = pg_cluster.database()
    cfg = replace_config(followups_config(config, "send"), "followups", lease_s=60)  # taken over before too late
    left = stalled + 1 if stalled else 0
    dead = await Harness(cfg, db, clock, plugins=[Recorder([DeliveryResult.retry("HTTP 503", 503)] * left)]).start()
    try:
        for i in range(left):
            await dead.send(conversation=f"c{i}", text="这个还有货吗")
            await dead.agent_says(conversation=f"c{i}")
        await dead.advance(IDLE)
        assert [f.state for f in dead.followups()] == ["pending"] * left
    finally:
        await dead.stop()
    with round_trips(pg_cluster.port) as proxy:
        location = proxy.location(db)
        platform = Recorder()
        other = await Harness(
            replace_config(cfg, "store", url=location.url), location, clock, plugins=[platform]
        ).start()
        try:
            if stalled:  # the buyer answers after it came due: its attempt created nothing, so his reply ends it
                await other.send(conversation="c0", text="好的我再看看")
                assert [f.state for f in other.followups() if f.conversation == "c0"] == ["cancelled"]
            clock.advance(cfg.followups.lease_s)
            shared = other.service.shared
            assert shared is not None
            before = proxy.count
            await shared.sweep()
            counted = proxy.count - before
            assert shared.taken_over == stalled
            for _ in range(
                0 if stalled else 2
            ):  # nothing to take: the fewest of three (a timer's write may come meanwhile)
                before = proxy.count
                await shared.sweep()
                counted = min(counted, proxy.count - before)
            await other.advance(cfg.followups.delivery_timeout_s)  # the attempts cut short have run out their time
            await other.settle()
            states = sorted((f.conversation, f.state) for f in other.followups())
            assert states == sorted([("c0", "cancelled")] * bool(stalled) + [(f"c{i}", "sent") for i in range(1, left)])
            return counted
        finally:
            await other.stop()
            pg.close_pools(location)


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_pg_a_take_over_sweep_costs_few_round_trips(pg_cluster: Cluster, config: Config) -> None:
    # Found: a sweep with nothing to take over (every lease_s / 4 on every instance) read the overdue timers and the
    # stalled deliveries one after the other: 9 round trips with the transaction's own (a job of one statement: 7);
    # with 3 deliveries to take over, it touched them, read their outcomes, and for each the time of its arming message
    # and what came after it: 16. Now 7 and 9 (a margin for the timers' own writes, which may come meanwhile).
    assert await sweep_round_trips(pg_cluster, config, 0) <= 8
    assert await sweep_round_trips(pg_cluster, config, 3) <= 12
