"""A database restored from a backup: `assistant followups skip-due` marks not sent what came due after the backup
point (the service that ran on after it may have sent it), and a start names timers long overdue."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from assistant import store
from assistant.cli import main
from assistant.cli.followups import RESTORED_NOTE, run_skip_due
from assistant.clock import FakeClock
from assistant.config import Config
from assistant.hookspecs import DeliveryResult
from tests.followup_harness import IDLE, T0, Harness, Recorder, lose_unflushed_timers
from tests.helpers import BACKENDS


async def backed_up(send_config: Config, db: store.Location, clock: FakeClock) -> Harness:
    """A service that armed two timers (conv1 due at T0 + 300 s, conv2 at T0 + 500 s) and stopped: the backup
    point. The service that ran on after it sent conv1's closing; the backup knows nothing of it."""
    h = await Harness(send_config, db, clock, plugins=[Recorder()]).start()
    await h.agent_says()
    await h.advance(200)
    await h.agent_says(conversation="conv2")
    await h.stop()
    return h


@BACKENDS
async def test_followups_start_on_a_restored_backup_warns_of_timers_long_overdue(
    send_config: Config, db_path: store.Location, caplog: pytest.LogCaptureFixture
) -> None:
    # Found: each service started on a restored backup sent again every follow-up the service after the backup
    # had sent (its start said "0 deliveries resumed", nothing warned).
    clock = FakeClock(T0)
    h = await backed_up(send_config, db_path, clock)
    clock.advance(IDLE - 200 + 60)  # restored a minute after conv1 came due: within late_grace_s
    recorder = Recorder()
    h.extra_plugins = [recorder]
    caplog.set_level(logging.WARNING, logger="assistant.followups.timers")
    await h.start()
    try:
        await h.advance(send_config.followups.late_settle_s)  # an overdue timer waits for held-back messages first
        assert [c["conversation"]["conversation"] for c in recorder.calls] == ["conv1"]  # sent a second time
        assert "1 armed timers came due 30 s or more before this start" in caplog.text
        assert "assistant followups skip-due" in caplog.text
    finally:
        await h.stop()


@BACKENDS
async def test_followups_skip_due_marks_timers_due_before_the_time_not_sent(
    send_config: Config, db_path: store.Location, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = FakeClock(T0)
    h = await backed_up(send_config, db_path, clock)
    clock.advance(IDLE - 200 + 60)
    now = clock.now_ms()
    assert run_skip_due(send_config, before_ms=now, now_ms=now, dry_run=True) == 0
    assert "1 个" in capsys.readouterr().out
    assert h.rows("SELECT conversation, state FROM timers ORDER BY conversation") == [
        ("conv1", "armed"), ("conv2", "armed"),
    ]  # fmt: skip
    assert run_skip_due(send_config, before_ms=now, now_ms=now, dry_run=False) == 0
    assert h.rows("SELECT conversation, state, reason FROM timers ORDER BY conversation") == [
        ("conv1", "cancelled", "restored"), ("conv2", "armed", None),
    ]  # fmt: skip
    recorder = Recorder()
    h.extra_plugins = [recorder]
    await h.start()
    try:
        assert recorder.calls == [] and h.followups() == []
        await h.advance(140)  # conv2's own deadline, after the backup's time: the service after it never sent it
        assert [c["conversation"]["conversation"] for c in recorder.calls] == ["conv2"]
    finally:
        await h.stop()


@BACKENDS
async def test_followups_skip_due_covers_messages_the_timers_had_not_applied(
    send_config: Config, db_path: store.Location, real_clock: FakeClock
) -> None:
    # A backup taken between logging an agent message and writing its timer: the start's replay armed it again.
    h = await Harness(send_config, db_path, real_clock, plugins=[Recorder()]).start()
    await h.agent_says()
    await lose_unflushed_timers(h)
    real_clock.advance(IDLE + 60)
    now = real_clock.now_ms()
    assert run_skip_due(send_config, before_ms=now, now_ms=now, dry_run=False) == 0
    recorder = Recorder()
    h.extra_plugins = [recorder]
    await h.start()
    try:
        await h.advance(IDLE)
        assert recorder.calls == [] and h.followups() == []
        assert h.rows("SELECT state, reason FROM timers") == [("cancelled", "restored")]
    finally:
        await h.stop()


@BACKENDS
async def test_followups_skip_due_cancels_a_delivery_still_pending(
    send_config: Config, db_path: store.Location
) -> None:
    clock = FakeClock(T0)
    h = await Harness(send_config, db_path, clock, plugins=[Recorder([DeliveryResult.retry("HTTP 503", 503)])]).start()
    await h.agent_says()
    await h.advance(IDLE)  # the first attempt failed; the retry waits
    await h.stop()
    clock.advance(10 + send_config.followups.lease_s)
    now = clock.now_ms()
    assert run_skip_due(send_config, before_ms=now, now_ms=now, dry_run=False) == 0
    recorder = Recorder()
    h.extra_plugins = [recorder]
    await h.start()
    try:
        await h.advance(120)
        assert recorder.calls == []
        [f] = h.followups()
        assert (f.state, f.last_error) == ("cancelled", RESTORED_NOTE)
    finally:
        await h.stop()


async def test_followups_cli_skip_due_counts_changes_and_refuses_a_running_service(
    send_config: Config, db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = FakeClock(T0)
    h = await backed_up(send_config, db_path, clock)
    args = ["followups", "skip-due", "--db", str(db_path), "--before", "2026-11-20 10:06"]  # shop time, T0 + 360 s
    assert main([*args, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "将标记为未发送" in out and "1 个在 2026-11-20 10:06:00 前到期的计时器" in out
    assert h.rows("SELECT count(*) FROM timers WHERE state = 'armed'") == [(2,)]
    held = store.hold_alone(db_path)  # as `assistant serve` holds it
    try:
        assert main(args) == 1
        assert "正在运行的服务" in capsys.readouterr().err
    finally:
        store.let_go(held)
    assert main(args) == 0
    assert "已标记为未发送" in capsys.readouterr().out
    assert h.rows("SELECT conversation FROM timers WHERE state = 'armed'") == [("conv2",)]
    with pytest.raises(SystemExit) as usage:
        main([*args[:-1], "10 o'clock"])
    assert usage.value.code == 2 and "'--before'" in capsys.readouterr().err
