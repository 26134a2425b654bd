"""A buyer's reply logged while a follow-up waits to retry an attempt of unknown outcome (a gateway's 504, a proxy's
page in Chatwoot's answer): before its retry the delivery asks the platform, and a follow-up the platform does not hold
is cancelled, not posted after the reply; one it holds is recorded sent and not posted again (docs/followups.md, "A
reply at the moment of firing"). On one instance and across two on one PostgreSQL database, against a local Chatwoot,
on the fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from assistant import store
from assistant.clock import FakeClock
from assistant.config import Config
from assistant.events import parse_event
from assistant.followups.reasons import CUSTOMER_WROTE
from tests.fake_chatwoot import FakeChatwoot
from tests.followup_harness import IDLE, T0, Harness
from tests.helpers import BACKENDS, eventually, make_event
from tests.test_chatwoot_sending import CHATWOOT, TOKEN, chatwoot_config
from tests.test_followups_reply_race import Latch, waiting_for_a_lock

CREATED = pytest.mark.parametrize("created", [False, True], ids=["not_created", "created"])


@pytest.fixture
async def chatwoot() -> AsyncIterator[FakeChatwoot]:
    fake = await FakeChatwoot(TOKEN).start()
    yield fake
    await fake.close()


async def unknown_attempt(h: Harness, chatwoot: FakeChatwoot, created: bool) -> None:
    """The agent answers, the buyer goes quiet, and the follow-up's first attempt ends with its outcome unknown:
    Chatwoot created the message and a proxy's page came back in its answer, or a gateway answered 504 (nothing
    created). The follow-up then waits to retry."""
    if created:
        chatwoot.mangled_next = 1
    else:
        chatwoot.fail_next = [504]
    await h.agent_says(**CHATWOOT)
    await h.advance(IDLE)
    assert len(chatwoot.started) == 1
    assert len(chatwoot.followups("3", "42")) == int(created)
    [f] = h.followups()
    assert (f.state, f.attempts) == ("pending", 1)
    assert h.rows("SELECT unknown FROM followup_outcomes WHERE id = ?", f.id) == [(1,)]


def reply(h: Harness) -> asyncio.Task[list[dict[str, Any]]]:
    """The buyer's reply posted to `h`, stamped now (after the agent's message)."""
    raw = make_event(**CHATWOOT, text="好的，我再考虑一下", ts=h.clock.now_ms())
    return asyncio.ensure_future(h.ingestor.ingest([parse_event(raw, max_text_chars=5000)]))


def settled_as_the_platform_says(h: Harness, chatwoot: FakeChatwoot, created: bool) -> None:
    """The retry asked Chatwoot and posted nothing: the follow-up it holds is sent, one it does not is cancelled."""
    assert chatwoot.lists >= 1
    assert len(chatwoot.started) == 1, "posted again after the buyer's reply"
    assert len(chatwoot.followups("3", "42")) == int(created)
    [f] = h.followups()
    assert f.state == "sent" if created else (f.state, f.last_error) == ("cancelled", CUSTOMER_WROTE)


@BACKENDS
@CREATED
async def test_followup_of_unknown_outcome_and_a_reply_through_its_instance(
    send_config: Config, db_path: store.Location, chatwoot: FakeChatwoot, created: bool
) -> None:
    h = await Harness(chatwoot_config(send_config, chatwoot), db_path, FakeClock(T0)).start()
    try:
        await unknown_attempt(h, chatwoot, created)
        assert (await reply(h))[0]["accepted"]
        await h.advance(send_config.followups.backoff_max_s)  # past the retry's time
        settled_as_the_platform_says(h, chatwoot, created)
    finally:
        await h.stop()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
@CREATED
async def test_followup_of_unknown_outcome_and_a_reply_through_another_instance(
    send_config: Config, db_path: store.Location, chatwoot: FakeChatwoot, created: bool
) -> None:
    # Found: the reply's transaction leaves a follow-up of unknown outcome to its delivery, which asked Chatwoot before
    # its retry and, Chatwoot holding nothing, posted the closing after the buyer's acknowledged reply.
    clock = FakeClock(T0)
    config = chatwoot_config(send_config, chatwoot)
    timed = await Harness(config, db_path, clock).start()
    replied = await Harness(config, db_path, clock).start()
    try:
        await unknown_attempt(timed, chatwoot, created)
        assert (await reply(replied))[0]["accepted"]
        await replied.settle()
        assert [f.state for f in timed.followups()] == ["pending"]  # left to its delivery: only it can ask
        timed.drain_updates()
        await timed.advance(send_config.followups.backoff_max_s)
        settled_as_the_platform_says(timed, chatwoot, created)
        # The instance that settled it tells its panels.
        [f] = timed.followups()
        told = [u.payload for u in timed.drain_updates() if u.kind == "followup"]
        assert [(p["followup_id"], p["state"]) for p in told] == [(f.id, f.state)]
    finally:
        await replied.stop()
        await timed.stop()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_followup_retry_waits_for_a_reply_transaction_that_holds_it(
    send_config: Config, db_path: store.Location, chatwoot: FakeChatwoot
) -> None:
    # The reply's transaction on another instance has locked the follow-up (it reads the pending follow-ups of the
    # period it ends) and not committed when the retry records its attempt: the record waits for it, and then reads
    # the log with the reply in it. Without the row locked first, the record's update waited for that lock and read
    # the log as before the wait: the closing was posted after the reply's 200.
    clock = FakeClock(T0)
    config = chatwoot_config(send_config, chatwoot)
    timed = await Harness(config, db_path, clock).start()
    replied = await Harness(config, db_path, clock).start()
    latch = Latch()
    try:
        await unknown_attempt(timed, chatwoot, created=False)
        replied.ingestor.recorders.append(latch)  # after the follow-up service's recorder, which locks the follow-up
        acknowledged = reply(replied)
        await eventually(latch.reached.is_set)
        clock.advance(send_config.followups.backoff_max_s)  # the retry: asks Chatwoot, then records its attempt
        await eventually(lambda: waiting_for_a_lock(db_path), timeout=30)
        assert not acknowledged.done()
        latch.opened.set()
        assert (await acknowledged)[0]["accepted"]
        await replied.settle()
        await timed.settle()
        settled_as_the_platform_says(timed, chatwoot, created=False)
    finally:
        latch.opened.set()
        await replied.stop()
        await timed.stop()
