"""Follow-ups on the conversation's own clock (FakeClock): deadlines from `ts`, late, stale and future
messages, order by stamp rather than arrival, and restarts that rebuild exactly what the live path did."""

from __future__ import annotations

import logging
import re
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from assistant import store, upgrade
from assistant.clock import FakeClock, local_day
from assistant.config import Config
from assistant.daylog.query import DayQuery, Rules, iter_items
from assistant.events import parse_event
from assistant.followups.reasons import english
from assistant.kpi.simulate import simulate
from tests.followup_harness import (
    GRACE,
    IDLE,
    T0,
    TOLERANCE,
    Harness,
    Recorder,
    agent,
    customer,
    ingest,
    lose_unflushed_timers,
)
from tests.helpers import BACKENDS, make_event

pytestmark = BACKENDS

KEY = ("shop1", "conv1")


def followup_updates(h: Harness) -> list[tuple[str, Any]]:
    return [(u.payload["state"], u.payload.get("due_ms")) for u in h.drain_updates() if u.kind == "followup"]


# ---- the deadline is the message's ts + idle_seconds ----------------------------------------------


async def test_followups_late_message_fires_at_its_own_deadline(harness: Harness, recorder: Recorder) -> None:
    now = harness.clock.now_ms()
    await harness.resend(agent(now - 100_000))  # arrives 100 s after it was written
    timer = harness.service.timers.queue.get(KEY)
    assert timer is not None and (timer.armed_ms, timer.due_ms) == (now - 100_000, now - 100_000 + IDLE * 1000)
    assert followup_updates(harness) == [("armed", now + (IDLE - 100) * 1000)]
    await harness.advance(IDLE - 101)
    assert recorder.calls == []
    await harness.advance(1)
    assert len(recorder.calls) == 1
    [f] = harness.followups()
    assert (f.state, f.due_ms, f.fired_ms) == ("sent", now + (IDLE - 100) * 1000, harness.clock.now_ms())


async def test_followups_message_late_within_grace_fires_at_once(harness: Harness, recorder: Recorder) -> None:
    now = harness.clock.now_ms()
    await harness.resend(agent(now - (IDLE + GRACE - 10) * 1000))  # its deadline passed 110 s ago
    settle_s = harness.config.followups.late_settle_s  # the rest of a backlog comes in first
    await harness.advance(settle_s)
    assert len(recorder.calls) == 1
    [f] = harness.followups()
    assert (f.state, f.fired_ms - f.due_ms) == ("sent", (GRACE - 10 + settle_s) * 1000)


async def test_followups_stale_message_never_arms_and_is_recorded_stale(
    harness: Harness, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="assistant.followups.service")
    now = harness.clock.now_ms()
    raw = agent(now - (IDLE + GRACE + 1) * 1000)
    await harness.resend(raw)
    assert harness.service.timers.queue.get(KEY) is None
    [f] = harness.followups()
    assert (f.state, f.kind, f.attempts, f.due_ms) == ("stale", "followup", 0, now - (GRACE + 1) * 1000)
    assert f.text == "感谢光临本店，欢迎收藏店铺~"  # what it would have said, for the record
    assert english(f.last_error or "") == f"the agent message arrived {GRACE + 1} s after its idle period ended"
    assert f"agent message {raw['id']} of shop1/conv1 arrived 121 s after its idle period ended" in caplog.text
    assert followup_updates(harness) == []  # the panel is never prompted
    await harness.advance(IDLE * 3)
    assert recorder.calls == [] and [f.state for f in harness.followups()] == ["stale"]
    assert harness.rows("SELECT count(*) FROM timers") == [(0,)]


async def test_followups_a_back_fill_of_past_days_logs_one_warning_a_minute(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    # A month sent after the fact wrote 777 warnings, one per agent message, burying the start's own.
    caplog.set_level(logging.WARNING, logger="assistant.followups.service")
    now = harness.clock.now_ms()
    for n in range(5):
        await harness.resend(agent(now - (IDLE + GRACE + 100 + n) * 1000, conversation=f"old{n}"))
    assert len(harness.followups()) == 5 and caplog.text.count("after its idle period ended") == 1
    await harness.advance(61)
    await harness.resend(agent(now - 3600_000, conversation="old9"))
    assert caplog.text.count("after its idle period ended") == 2 and "(5 such messages since" in caplog.text


async def test_followups_stale_record_of_a_back_filled_day_is_dated_on_that_day(
    harness: Harness, send_config: Config
) -> None:
    # Found: yesterday's back-filled chats put their stale records into today's daily log, as the assistant's
    # messages at the import time.
    yesterday = harness.clock.now_ms() - 86_400_000
    await harness.resend(agent(yesterday))
    [f] = harness.followups()
    assert (f.state, f.fired_ms) == ("stale", yesterday + IDLE * 1000)
    conn = store.connect(harness.db)
    try:
        today = local_day(harness.clock.now_ms(), send_config.tz)
        rules = Rules.from_config(send_config)
        assert [i["kind"] for i in iter_items(conn, DayQuery(today), rules)] == []
        shown = list(iter_items(conn, DayQuery(today - timedelta(days=1)), rules))
        assert [(i["kind"], i["followup"]["state"]) for i in shown if i["kind"] == "followup"] == [
            ("followup", "stale")
        ]
    finally:
        conn.close()


async def test_followups_stale_message_answered_in_the_same_batch_records_nothing(
    harness: Harness, recorder: Recorder
) -> None:
    old = harness.clock.now_ms() - 3_600_000  # an hour-old backlog delivered at once
    await ingest(harness, agent(old), customer(old + 60_000), agent(old + 120_000, text="还有其他问题吗"))
    [f] = harness.followups()  # only the last agent message was owed a follow-up; the first was answered
    assert (f.state, f.due_ms) == ("stale", old + 120_000 + IDLE * 1000)
    assert recorder.calls == [] and harness.service.timers.queue.get(KEY) is None


async def test_followups_stale_message_after_payment_records_nothing(harness: Harness, recorder: Recorder) -> None:
    old = harness.clock.now_ms() - 3_600_000
    await ingest(
        harness,
        make_event("order_created", order="o1", amount=50.0, ts=old - 60_000),
        agent(old),
        make_event("order_paid", order="o1", amount=50.0, ts=old + 30_000),
    )
    assert harness.followups() == [] and recorder.calls == []


# ---- a ts in the future ------------------------------------------------------------------------


async def test_followups_future_ts_beyond_tolerance_uses_receive_time_plus_tolerance(
    harness: Harness, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="assistant.followups.service")
    now = harness.clock.now_ms()
    raw = agent(now + (TOLERANCE + 60) * 1000)
    await harness.resend(raw)
    timer = harness.service.timers.queue.get(KEY)
    ahead = now + TOLERANCE * 1000
    assert timer is not None and (timer.armed_ms, timer.due_ms) == (ahead, ahead + IDLE * 1000)
    assert f"event {raw['id']} of shop1/conv1 is stamped 360 s after it arrived" in caplog.text
    await harness.advance(TOLERANCE + IDLE)
    assert len(recorder.calls) == 1


async def test_followups_future_ts_within_tolerance_is_believed(
    harness: Harness, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="assistant.followups.service")
    now = harness.clock.now_ms()
    await harness.resend(agent(now + TOLERANCE * 1000))
    timer = harness.service.timers.queue.get(KEY)
    assert timer is not None and timer.due_ms == now + (TOLERANCE + IDLE) * 1000
    assert "stamped" not in caplog.text
    await harness.advance(TOLERANCE + IDLE - 1)
    assert recorder.calls == []
    await harness.advance(1)
    assert len(recorder.calls) == 1


async def test_followups_future_ts_warnings_are_rate_limited(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="assistant.followups.service")
    ahead = (TOLERANCE + 600) * 1000
    for i in range(5):
        await harness.resend(customer(harness.clock.now_ms() + ahead, conversation=f"c{i}"))
    assert caplog.text.count("is stamped") == 1
    await harness.advance(60)
    await harness.resend(customer(harness.clock.now_ms() + ahead, conversation="c9"))
    assert caplog.text.count("is stamped") == 2 and "(5 such events since the last warning)" in caplog.text


async def test_followups_platform_clock_ahead_payment_before_the_reply_keeps_the_paid_closing(
    send_config: Config, db_path: Path, real_clock: FakeClock, recorder: Recorder
) -> None:
    # Found: with the platform's clock more than the tolerance ahead, the reply's idle clock took its receive
    # time but the payment kept its own stamp, so a payment made before the reply looked later and cancelled
    # the closing ("paid"): the buyer got no thank-you at all.
    h = await Harness(send_config, db_path, real_clock, plugins=[recorder]).start()
    try:
        ahead = (TOLERANCE + 300) * 1000
        await h.send("order_created", order="o1", amount=20.0, ts=real_clock.now_ms() + ahead)
        await h.advance(30)
        await h.send("order_paid", order="o1", amount=20.0, ts=real_clock.now_ms() + ahead)
        await h.advance(30)
        await h.resend(agent(real_clock.now_ms() + ahead, text="感谢亲的支持，马上为您安排发货"))
        await h.advance(TOLERANCE + IDLE)  # logged at their receive time + the tolerance
        [call] = recorder.calls
        [f] = h.followups()
        assert (call["kind"], f.state, f.phrase_id) == ("followup", "sent", "builtin.followup_paid")
    finally:
        await h.stop()


# ---- order by stamp, not arrival -----------------------------------------------------------------


async def test_followups_reply_stamped_after_cancels_even_when_it_arrives_first(
    harness: Harness, recorder: Recorder
) -> None:
    now = harness.clock.now_ms()
    await harness.resend(customer(now))
    await harness.resend(agent(now - 10_000))  # written before the customer's reply, delivered after it
    assert harness.service.timers.queue.get(KEY) is None
    await harness.advance(IDLE * 2)
    assert recorder.calls == [] and harness.followups() == []
    assert harness.rows("SELECT count(*) FROM timers") == [(0,)]


async def test_followups_reply_stamped_before_does_not_cancel(harness: Harness, recorder: Recorder) -> None:
    now = harness.clock.now_ms()
    await harness.resend(agent(now))
    await harness.resend(customer(now - 10_000))  # written before the agent's message, delivered after it
    assert harness.service.timers.queue.get(KEY) is not None
    await harness.advance(IDLE)
    assert len(recorder.calls) == 1
    assert [f.state for f in harness.followups()] == ["sent"]


async def test_followups_firing_reads_replies_by_stamp_when_their_listener_has_not_run(
    harness: Harness, recorder: Recorder
) -> None:
    now = harness.clock.now_ms()
    await harness.resend(agent(now, conversation="after"))
    await harness.resend(agent(now, conversation="before"))
    # Logged, but as if the timers never heard of them: the firing transaction reads the log.
    harness.service.handle = lambda event, seq: None  # type: ignore[method-assign]
    await harness.resend(customer(now + 5_000, conversation="after"))
    await harness.resend(customer(now - 5_000, conversation="before"))
    await harness.advance(IDLE)
    assert [c["conversation"]["conversation"] for c in recorder.calls] == ["before"]
    assert harness.rows("SELECT conversation, state, reason FROM timers ORDER BY conversation") == [
        ("after", "cancelled", "customer_replied"),
        ("before", "done", None),
    ]


async def test_followups_earlier_agent_message_does_not_replace_a_later_one(
    harness: Harness, recorder: Recorder
) -> None:
    now = harness.clock.now_ms()
    await harness.resend(agent(now))
    await harness.advance(60)
    await harness.resend(agent(now - 60_000, text="在的亲"))  # written before the first, delivered a minute after
    timer = harness.service.timers.queue.get(KEY)
    assert timer is not None and timer.due_ms == now + IDLE * 1000
    await harness.advance(IDLE - 61)
    assert recorder.calls == []
    await harness.advance(1)
    assert len(recorder.calls) == 1


async def test_followups_earlier_agent_message_after_a_fired_period_arms_nothing(
    harness: Harness, recorder: Recorder
) -> None:
    start = harness.clock.now_ms()
    await harness.resend(agent(start))
    await harness.advance(IDLE)
    assert len(recorder.calls) == 1
    await harness.resend(agent(start - 30_000, text="在的亲"))  # late but not stale: within grace of its deadline
    assert harness.service.timers.queue.get(KEY) is None
    await harness.advance(IDLE * 2)
    assert len(recorder.calls) == 1 and len(harness.followups()) == 1


async def test_followups_payment_stamped_before_the_agent_message_keeps_the_closing_message(
    harness: Harness, recorder: Recorder
) -> None:
    now = harness.clock.now_ms()
    await harness.send("order_created", order="o1", amount=20.0, ts=now - 120_000)
    await harness.resend(agent(now, text="感谢亲的支持"))
    await harness.send("order_paid", order="o1", amount=20.0, ts=now - 60_000)  # paid before, reported after
    await harness.advance(IDLE)
    [call] = recorder.calls
    assert call["kind"] == "followup"


# ---- restarts: rebuilt exactly as applied on arrival ---------------------------------------------


async def test_followups_restart_rebuilds_a_late_message_at_its_own_deadline(
    send_config: Config, db_path: Path, real_clock: FakeClock, recorder: Recorder
) -> None:
    h = await Harness(send_config, db_path, real_clock, plugins=[recorder]).start()
    written = real_clock.now_ms() - 100_000
    await h.resend(agent(written))
    await lose_unflushed_timers(h)
    await h.start()
    try:
        timer = h.service.timers.queue.get(KEY)
        assert timer is not None and timer.due_ms == written + IDLE * 1000
        await h.advance(IDLE - 101)
        assert recorder.calls == []
        await h.advance(1)
        assert len(recorder.calls) == 1
    finally:
        await h.stop()


async def test_followups_restart_replays_stamp_order_not_arrival_order(
    send_config: Config, db_path: Path, real_clock: FakeClock, recorder: Recorder
) -> None:
    h = await Harness(send_config, db_path, real_clock, plugins=[recorder]).start()
    now = real_clock.now_ms()
    await h.resend(customer(now, conversation="replied"))
    await h.resend(agent(now - 10_000, conversation="replied"))  # answered before it arrived: never armed
    await h.resend(agent(now, conversation="waiting"))
    await h.resend(customer(now - 10_000, conversation="waiting"))  # said before the agent's: keeps it armed
    assert {k[1] for k, _ in h.service.timers.queue.items()} == {"waiting"}
    await lose_unflushed_timers(h)
    await h.start()
    try:
        assert {k[1] for k, _ in h.service.timers.queue.items()} == {"waiting"}
        await h.advance(IDLE)
        assert [c["conversation"]["conversation"] for c in recorder.calls] == ["waiting"]
    finally:
        await h.stop()


async def test_followups_restart_records_a_message_stale_on_arrival_whose_record_a_kill_lost(
    send_config: Config, db_path: Path, real_clock: FakeClock, recorder: Recorder
) -> None:
    # Found: the record is written behind the event's 200; killed in between, the replay skipped the message,
    # and the evidence of a late platform was gone.
    h = await Harness(send_config, db_path, real_clock, plugins=[recorder]).start()
    await h.resend(agent(real_clock.now_ms() - 86_400_000))
    [before] = h.followups()
    await lose_unflushed_timers(h)
    h.rows("DELETE FROM followups")
    await h.start()
    try:
        await h.settle()
        [f] = h.followups()
        assert (f.id, f.state) == (before.id, "stale")
        # The intake measures the lateness on the service's clock (the fake one, started at the real time and not
        # moved since), the replay from the log's receipt time (the real clock when the writer took the event): the
        # same, plus the real seconds the test had run by then (more than one on a loaded machine).
        late = [int(re.search(r"(\d+) s after", english(str(r.last_error))).group(1)) for r in (before, f)]  # type: ignore[union-attr]
        ran_s = (time.time_ns() // 1_000_000 - real_clock.now_ms()) / 1000
        assert late[0] == 86_100 and late[0] <= late[1] <= late[0] + ran_s + 1
        assert len(h.service.timers.queue) == 0 and recorder.calls == []
    finally:
        await h.stop()
    await lose_unflushed_timers(h)
    await h.start()  # replayed again: recorded once
    try:
        assert [f.state for f in h.followups()] == ["stale"]
    finally:
        await h.stop()


async def test_followups_restart_leaves_messages_stale_on_arrival_alone(
    send_config: Config, db_path: Path, real_clock: FakeClock, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    h = await Harness(send_config, db_path, real_clock, plugins=[recorder]).start()
    await h.resend(agent(real_clock.now_ms() - 86_400_000))
    assert [f.state for f in h.followups()] == ["stale"]
    await lose_unflushed_timers(h)
    caplog.set_level(logging.INFO, logger="assistant.followups.service")
    await h.start()
    try:
        assert "0 rebuilt from the log (1 messages stale on arrival, not armed)" in caplog.text
        assert len(h.service.timers.queue) == 0
        await h.advance(IDLE * 2)
        assert recorder.calls == [] and [f.state for f in h.followups()] == ["stale"]
    finally:
        await h.stop()


async def test_followups_restart_remembers_a_fired_period_against_late_messages(
    harness: Harness, recorder: Recorder
) -> None:
    start = harness.clock.now_ms()
    await harness.resend(agent(start))
    await harness.advance(IDLE)
    assert len(recorder.calls) == 1
    await harness.restart(advance_s=5)
    await harness.resend(agent(start - 30_000, text="在的亲"))  # stamped before the period that fired
    assert harness.service.timers.queue.get(KEY) is None
    await harness.advance(IDLE * 2)
    assert len(recorder.calls) == 1


async def test_followups_restart_remembers_a_reply_against_late_messages(harness: Harness, recorder: Recorder) -> None:
    now = harness.clock.now_ms()
    await harness.resend(customer(now))
    await harness.restart(advance_s=5)
    await harness.resend(agent(now - 10_000))
    assert harness.service.timers.queue.get(KEY) is None
    await harness.advance(IDLE * 2)
    assert recorder.calls == []


# ---- back-fills never arm --------------------------------------------------------------------------


def shop_today(config: Config) -> date:
    return local_day(int(time.time() * 1000), config.tz)


async def test_followups_simulated_past_day_arms_and_prompts_nothing(
    send_config: Config, db_path: Path, real_clock: FakeClock, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    day = shop_today(send_config) - timedelta(days=13)
    result = simulate(db_path, day, 4, 200, seed=7, progress=False)
    assert result.messages > 1000
    caplog.set_level(logging.INFO, logger="assistant.followups.service")
    h = await Harness(send_config, db_path, real_clock, plugins=[recorder]).start()
    try:
        assert "0 timers reloaded, 0 rebuilt from the log (0 messages" in caplog.text  # the watermark is past it
        assert len(h.service.timers.queue) == 0 and followup_updates(h) == []
        # A database back-filled before the watermark moved: every agent message was stale on arrival.
        await h.stop()
        h.rows("UPDATE timers_watermark SET seq = 0")
        caplog.clear()
        await h.start()
        stale = int(caplog.text.split("(")[1].split(" messages stale")[0])
        assert stale > 100
        assert len(h.service.timers.queue) == 0 and followup_updates(h) == []
        await h.advance(IDLE * 3)
        # Nothing sent or prompted; unanswered agent messages get the record of a message that came too late.
        assert recorder.calls == [] and {f.state for f in h.followups()} == {"stale"}
        assert h.rows("SELECT count(*) FROM timers") == [(0,)]
    finally:
        await h.stop()


async def test_followups_simulated_today_arms_nothing(
    send_config: Config, db_path: Path, real_clock: FakeClock, recorder: Recorder
) -> None:
    simulate(db_path, shop_today(send_config), 4, 300, seed=8, progress=False)
    assert sqlite_rows(db_path, "SELECT seq FROM timers_watermark") == sqlite_rows(
        db_path, "SELECT max(seq) FROM events"
    )
    h = await Harness(send_config, db_path, real_clock, plugins=[recorder]).start()
    try:
        await h.advance(IDLE * 3)
        assert len(h.service.timers.queue) == 0 and recorder.calls == [] and h.followups() == []
    finally:
        await h.stop()


def test_simulate_leaves_the_watermark_when_timers_have_not_caught_up(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    conn = store.connect(db_path)
    upgrade.migrate(conn)
    with store.transaction(conn):
        store.insert_event(conn, parse_event(agent(T0), max_text_chars=5000))  # logged, never applied
    conn.close()
    simulate(db_path, date(2026, 11, 1), 2, 20, seed=1, progress=False)
    assert sqlite_rows(db_path, "SELECT seq FROM timers_watermark") == [(0,)]
    assert "a restart replays this day too" in caplog.text


def sqlite_rows(db: store.Location, sql: str) -> list[tuple[Any, ...]]:
    conn = store.connect(db)
    try:
        return [tuple(row) for row in conn.execute(sql)]
    finally:
        conn.close()


async def test_followups_refiring_after_restart_tells_the_panel_the_outcome_again(
    harness: Harness, recorder: Recorder
) -> None:
    await harness.agent_says()
    await harness.advance(IDLE)
    [f] = harness.followups()
    # As if a crash left the fired timer armed on disk: it is reloaded and fires again, sending nothing.
    harness.rows("UPDATE timers SET state = 'armed', fired = 0")
    await harness.restart(advance_s=5)
    await harness.advance(harness.config.followups.late_settle_s)
    assert len(recorder.calls) == 1
    updates = [
        (u.payload["state"], u.payload.get("followup_id")) for u in harness.drain_updates() if u.kind == "followup"
    ]
    assert updates[-1] == ("sent", f.id)  # a panel that showed the reloaded countdown converges
