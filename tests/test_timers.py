"""The timer queue, the clocks, quiet hours, and the pure decisions behind a firing."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import threading
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant import pg, store, upgrade
from assistant.clock import FakeClock, QuietHours, SystemClock
from assistant.config import ConfigError, load_config
from assistant.followups.delivery import backoff_ms
from assistant.followups.policy import (
    Cancel,
    Create,
    Defer,
    Policy,
    choose_phrase,
    decide,
    event_time,
    followup_id,
    is_stale,
    kind_for,
    nickname,
)
from assistant.followups.store import FireContext, TimerRow, UnpaidOrder, save_timers, timer
from assistant.followups.timeline import Timeline
from assistant.followups.timers import Due, Timer, TimerQueue
from tests.followup_harness import T0, tiny_library

SHANGHAI = ZoneInfo("Asia/Shanghai")


# ---- queue -------------------------------------------------------------------------------------


def test_timer_queue_pops_in_deadline_order() -> None:
    q = TimerQueue()
    for i, due in enumerate([30, 10, 20]):
        q.set(("s", f"c{i}"), Timer(due, i + 1, 0, 0, None))
    assert q.next_due() == 10
    assert [k for k, _ in q.pop_due(25, 10)] == [("s", "c1"), ("s", "c2")]
    assert q.next_due() == 30


def test_timer_queue_rearm_makes_old_deadline_stale() -> None:
    q = TimerQueue()
    q.set(("s", "c"), Timer(10, 1, 0, 0, None))
    q.set(("s", "c"), Timer(50, 2, 0, 0, None))
    assert q.pop_due(40, 10) == []
    [(key, timer)] = q.pop_due(50, 10)
    assert (key, timer.armed_seq, timer.firing) == (("s", "c"), 2, True)
    assert q.pop_due(10**9, 10) == [] and len(q) == 1  # stays until settled


def test_timer_queue_removed_timer_never_pops() -> None:
    q = TimerQueue()
    q.set(("s", "c"), Timer(10, 1, 0, 0, None))
    q.remove(("s", "c"))
    assert q.next_due() is None and q.pop_due(100, 10) == []


def test_timer_queue_pop_respects_limit() -> None:
    q = TimerQueue()
    for i in range(10):
        q.set(("s", str(i)), Timer(i, i + 1, 0, 0, None))
    assert len(q.pop_due(100, 4)) == 4 and len(q.pop_due(100, 100)) == 6


def test_timer_queue_compacts_stale_entries() -> None:
    q = TimerQueue()
    for i in range(5000):
        q.set(("s", "c"), Timer(i, i + 1, 0, 0, None))
    assert len(q._heap) <= 2 * len(q) + 1024
    [(_, timer)] = q.pop_due(10**9, 10)
    assert timer.armed_seq == 5000


@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 1000)), max_size=200))
def test_timer_queue_fires_each_key_once_at_its_last_deadline(arms: list[tuple[int, int]]) -> None:
    q = TimerQueue()
    last: dict[tuple[str, str], int] = {}
    for seq, (conv, due) in enumerate(arms, 1):
        key = ("s", str(conv))
        q.set(key, Timer(due, seq, 0, 0, None))
        last[key] = due
    fired = []
    for now in range(0, 1001, 50):
        fired += [(k, t.due_ms, now) for k, t in q.pop_due(now, 7)]
    fired += [(k, t.due_ms, 1000) for k, t in q.pop_due(1000, 10**6)]
    assert sorted((k, d) for k, d, _ in fired) == sorted(last.items())
    assert all(d <= now for _, d, now in fired)


# ---- clocks ------------------------------------------------------------------------------------


async def test_fake_clock_wakes_sleepers_in_order() -> None:
    clock = FakeClock(1000)
    woke: list[int] = []

    async def sleeper(ms: int) -> None:
        await clock.sleep_until(ms)
        woke.append(ms)

    tasks = [asyncio.create_task(sleeper(ms)) for ms in (3000, 2000, 5000)]
    await asyncio.sleep(0)
    assert clock.sleepers == 3
    clock.advance(3)
    await asyncio.gather(*tasks[:2])
    assert woke == [2000, 3000] and clock.waking == 0 and clock.sleepers == 1
    tasks[2].cancel()
    with pytest.raises(asyncio.CancelledError):
        await tasks[2]
    with pytest.raises(ValueError):
        clock.set(0)


async def test_system_clock_sleeps_until_deadline() -> None:
    clock = SystemClock(max_nap_s=0.01)
    target = clock.now_ms() + 30
    await clock.sleep_until(target)
    assert clock.now_ms() >= target


# ---- quiet hours -------------------------------------------------------------------------------


def at(hh: int, mm: int, day: int = 0) -> int:
    """Epoch ms of hh:mm Shanghai time on T0's day (+ days)."""
    return T0 + ((hh - 10) * 3600 + mm * 60 + day * 86400) * 1000


def test_quiet_hours_across_midnight() -> None:
    quiet = QuietHours.parse("23:00-08:00")
    assert quiet is not None
    assert [quiet.contains(at(h, m), SHANGHAI) for h, m in [(22, 59), (23, 0), (3, 0), (7, 59), (8, 0)]] == [
        False, True, True, True, False,
    ]  # fmt: skip
    assert quiet.end_after(at(23, 30), SHANGHAI) == at(8, 0, day=1)
    assert quiet.end_after(at(3, 0), SHANGHAI) == at(8, 0)


def test_quiet_hours_within_a_day() -> None:
    quiet = QuietHours.parse("12:00-13:30")
    assert quiet is not None
    assert quiet.contains(at(12, 45), SHANGHAI) and not quiet.contains(at(13, 30), SHANGHAI)
    assert quiet.end_after(at(12, 45), SHANGHAI) == at(13, 30)


@pytest.mark.parametrize("text", ["23:00", "8-9", "24:00-08:00", "08:00-08:00", "23:60-01:00"])
def test_quiet_hours_rejects_bad_spans(text: str) -> None:
    with pytest.raises(ValueError):
        QuietHours.parse(text)


def test_config_rejects_bad_quiet_hours_with_one_line() -> None:
    with pytest.raises(ConfigError, match=r"\[followups\] quiet_hours"):
        load_config(None, env={}, overrides={"followups": {"quiet_hours": "nightly"}})


def test_config_rejects_non_positive_idle_seconds() -> None:
    with pytest.raises(ConfigError, match=r"\[followups\] idle_seconds"):
        load_config(None, env={}, overrides={"followups": {"idle_seconds": 0}})


# ---- decisions ---------------------------------------------------------------------------------

POLICY = Policy(
    idle_ms=300_000, grace_ms=120_000, window_ms=86_400_000, max_per_idle=1,
    quiet=QuietHours.parse("23:00-08:00"), quiet_policy="defer", tz=SHANGHAI,
)  # fmt: skip
DUE = Due(
    ("s", "c"), due_ms=at(10, 5), armed_seq=7, armed_ms=at(10, 0), fired=0, agent="a", timer=Timer(0, 7, 0, 0, "a")
)


def ctx(**changes: Any) -> FireContext:
    base = FireContext(
        armed_event_id="e7", customer="u", agent="a", customer_type=None, replied=False, paid=False, unpaid=()
    )
    return dataclasses.replace(base, **changes)


def test_decide_followup_when_nothing_unpaid() -> None:
    assert decide(ctx(), DUE, at(10, 5), POLICY, "send") == Create("followup", "pending", None)
    assert decide(ctx(), DUE, at(10, 5), POLICY, "suggest") == Create("followup", "suggested", None)


def test_decide_payment_reminder_when_an_order_is_unpaid() -> None:
    unpaid = (UnpaidOrder("o1", 9.9, at(9, 0)),)
    assert decide(ctx(unpaid=unpaid, paid=True), DUE, at(10, 5), POLICY, "send").kind == "payment_reminder"  # type: ignore[union-attr]


def test_decide_cancels_on_reply_and_on_payment() -> None:
    assert decide(ctx(replied=True), DUE, at(10, 5), POLICY, "send") == Cancel("customer_replied")
    assert decide(ctx(paid=True), DUE, at(10, 5), POLICY, "send") == Cancel("paid")


def test_decide_missed_when_late_beyond_grace() -> None:
    assert decide(ctx(), DUE, DUE.due_ms + 120_001, POLICY, "send") == Create("followup", "missed", None)
    assert decide(ctx(), DUE, DUE.due_ms + 120_000, POLICY, "send") == Create("followup", "pending", None)


def test_decide_quiet_hours_defer_or_drop() -> None:
    night = Due(("s", "c"), at(23, 3), 7, at(22, 58), 0, "a", Timer(0, 7, 0, 0, "a"))
    assert decide(ctx(), night, at(23, 3), POLICY, "send") == Defer(at(8, 0, day=1))
    drop = Policy(**{**POLICY.__dict__, "quiet_policy": "drop"})
    assert decide(ctx(), night, at(23, 3), drop, "send") == Create("followup", "dropped", None)


def test_decide_next_due_while_more_allowed() -> None:
    two = Policy(**{**POLICY.__dict__, "max_per_idle": 2})
    assert decide(ctx(), DUE, at(10, 5), two, "send") == Create("followup", "pending", at(10, 10))
    second = Due(("s", "c"), at(10, 10), 7, at(10, 0), 1, "a", Timer(0, 7, 0, 0, "a"))
    assert decide(ctx(), second, at(10, 10), two, "send") == Create("followup", "pending", None)


# ---- phrases, ids, backoff ---------------------------------------------------------------------


def test_choose_phrase_prefers_customer_type_and_is_stable() -> None:
    library = tiny_library()
    assert choose_phrase(library, "followup", "returning", "x").id == "fu.back"  # type: ignore[union-attr]
    assert choose_phrase(library, "followup", None, "x").id == "fu.new"  # type: ignore[union-attr]
    assert choose_phrase(library, "followup", "picky", "x").id in {"fu.new", "fu.back"}  # type: ignore[union-attr]
    assert choose_phrase(library, "greeting", None, "x") is None


def test_followup_id_is_deterministic_and_distinct() -> None:
    assert followup_id("s", "c", "e1", 1) == followup_id("s", "c", "e1", 1)
    assert len({followup_id("s", "c", "e1", 1), followup_id("s", "c", "e1", 2), followup_id("s", "c2", "e1", 1)}) == 3


def test_backoff_grows_exponentially_with_jitter_and_cap() -> None:
    rng = random.Random(1)
    waits = [backoff_ms(n, 1.0, 60.0, rng) for n in range(1, 10)]
    for n, wait in enumerate(waits, 1):
        ceiling = min(60_000, 1000 * 2 ** (n - 1))
        assert ceiling / 2 <= wait <= ceiling
    assert len(set(backoff_ms(3, 1.0, 60.0, random.Random(s)) for s in range(20))) > 1


# ---- the conversation's clock ------------------------------------------------------------------


def test_event_time_believes_ts_up_to_the_tolerance_ahead() -> None:
    received = at(10, 0)
    assert event_time(received - 3_600_000, received, POLICY) == received - 3_600_000  # late: its own time
    assert event_time(received + 300_000, received, POLICY) == received + 300_000  # within 300 s ahead
    # Beyond: the receive time + the tolerance (as the log keeps it), after every believed event received before.
    assert event_time(received + 300_001, received, POLICY) == received + 300_000


def test_is_stale_once_the_deadline_passed_by_more_than_grace() -> None:
    now = at(10, 0)
    assert not is_stale(now - 420_000, now, POLICY)  # deadline 120 s ago: still fires, at once
    assert is_stale(now - 420_001, now, POLICY)
    assert POLICY.horizon_ms == 420_000


def test_kind_for_reply_payment_and_unpaid_order() -> None:
    assert kind_for(ctx()) == "followup"
    assert kind_for(ctx(replied=True, unpaid=(UnpaidOrder("o", 1.0, 0),))) == Cancel("customer_replied")
    assert kind_for(ctx(paid=True)) == Cancel("paid")
    assert kind_for(ctx(paid=True, unpaid=(UnpaidOrder("o", 1.0, 0),))) == "payment_reminder"


def test_timeline_keeps_the_latest_stamp_within_the_horizon() -> None:
    line = Timeline(horizon_ms=1000, max_size=3)
    line.note(("s", "a"), (5000, 2), now_ms=5000)
    line.note(("s", "a"), (4000, 9), now_ms=5000)  # stamped earlier, arrived later: not the latest
    assert line.get(("s", "a")) == (5000, 2)
    line.note(("s", "b"), (5500, 3), now_ms=5500)
    line.note(("s", "c"), (6200, 4), now_ms=6200)
    line.prune(6200)  # "a" (5000) is now older than the horizon
    assert line.get(("s", "a")) is None and len(line) == 2
    for i in range(5):
        line.note(("s", f"x{i}"), (6300, 10 + i), now_ms=6300)
    assert len(line) == 3  # bounded in size too
    line.forget(("s", "x4"))
    assert line.get(("s", "x4")) is None


def test_save_timers_keeps_a_fired_row_from_a_late_armed_write(tmp_path: Path) -> None:
    conn = store.connect(tmp_path / "t.db")
    upgrade.migrate(conn)
    armed = TimerRow("s", "c", 7, 1000, 301_000, 0, "a")
    save_timers(conn, [armed], 1)
    save_timers(conn, [dataclasses.replace(armed, fired=1, state="done")], 2)  # the firing commits first
    save_timers(conn, [armed], 3)  # then a flush built before it
    assert timer(conn, "s", "c") == dataclasses.replace(armed, fired=1, state="done")
    newer = TimerRow("s", "c", 9, 2000, 302_000, 0, "a")
    save_timers(conn, [newer], 4)  # a new idle period always wins
    save_timers(conn, [dataclasses.replace(armed, due_ms=999_999)], 5)  # an older one never does
    assert timer(conn, "s", "c") == newer
    conn.close()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_save_timers_of_two_instances_in_opposite_orders_never_deadlock(db_path: store.Location) -> None:
    """Two instances flush the same conversations at once, their rows in opposite orders: both commit."""
    assert isinstance(db_path, pg.Location)
    first, second = pg.connect_direct(db_path), pg.connect_direct(db_path)
    try:
        upgrade.migrate(cast(Any, first))
        rows = [TimerRow("s", f"c{i:03}", 1, 1000, 301_000, 0, "a1") for i in range(300)]
        save_timers(cast(Any, first), rows, 1)  # the rows exist: each flush below locks them one by one
        both = threading.Barrier(2)
        failures: list[BaseException] = []

        def flush(conn: pg.Connection, ordered: list[TimerRow], armed_seq: int) -> None:
            try:
                conn.execute("BEGIN")
                both.wait(timeout=10)
                save_timers(cast(Any, conn), [dataclasses.replace(r, armed_seq=armed_seq) for r in ordered], 2)
                conn.execute("COMMIT")
            except BaseException as exc:
                failures.append(exc)

        flushes = [
            threading.Thread(target=flush, args=(first, rows, 2)),
            threading.Thread(target=flush, args=(second, rows[::-1], 3)),
        ]
        for thread in flushes:
            thread.start()
        for thread in flushes:
            thread.join(timeout=30)
        assert failures == []
        stored = {r[0] for r in cast(Any, first).execute("SELECT armed_seq FROM timers")}
        assert stored == {3}  # the newer period (seq 3) wins whichever committed first
    finally:
        first.close()
        second.close()


async def test_timers_dropped_in_a_long_outage_are_logged_once_not_one_line_each(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A database away for longer than `late_grace_s` drops every due timer of the instance: one line says so
    (then a line a minute with a count), not one ERROR line per conversation."""
    import logging
    import sqlite3

    from assistant.followups.timers import Timers

    clock = FakeClock(T0)
    timers = Timers(cast(Any, None), clock, max_retries=1)

    async def down(_: list[Due]) -> None:
        raise sqlite3.OperationalError("connection refused")

    timers._on_due = down
    for n in range(40):
        timers.arm(("s1", f"c{n}"), due_ms=T0, armed_seq=n + 1, armed_ms=T0 - 5000, agent="a1")
    caplog.set_level(logging.WARNING, logger="assistant.followups.timers")
    for _ in range(3):  # fails, is retried, fails for good
        batch = timers.queue.pop_due(clock.now_ms() + 10 * timers.retry_ms, 256)
        await timers._slots.acquire()
        await timers._fire(batch)
    assert len(timers.queue) == 0
    dropped = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert len(dropped) == 1, [r.getMessage() for r in dropped][:3]
    assert "40" in dropped[0].getMessage()


def test_nickname_keeps_nicks_and_drops_account_ids() -> None:
    # Found: 亲爱的u1029384756 / 亲爱的tb_impatient1: the event's `customer` is "the buyer's id or nick".
    for account in ("u20250117", "tb_lisi", "tb_lisi9", "13912345678", "139****5678", "+86 139 1234 5678", "a@b.cn"):
        assert nickname(account) == "", account
    for nick in ("栗子", "Lily", "小鹿2", "橙子 酱"):
        assert nickname(nick) == nick
