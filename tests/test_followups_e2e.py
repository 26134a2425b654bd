"""The real service as a subprocess sends an idle follow-up to a local receiver: on time, once, across a SIGKILL."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from tests.followup_harness import OUT_SECRET, Receiver
from tests.helpers import ROOT, body_of, eventually, followups_settled, make_event
from tests.service import Service, service_config

pytestmark = pytest.mark.slow

IDLE_S = 2


def write_config(tmp_path: Path, url: str, *, idle_s: int = IDLE_S, grace_s: int = 120) -> Path:
    return service_config(
        tmp_path,
        f"""
[followups]
idle_seconds = {idle_s}
late_grace_s = {grace_s}
mode = "send"
backoff_base_s = 0.2
delivery_timeout_s = 4

[hooks]
enabled = ["webhook_out"]

[hooks.webhook_out]
url = "{url}"
timeout_s = 10
""",
    )


async def start_service(tmp_path: Path, receiver: Receiver, port: int | None = None, **timing: int) -> Service:
    service = Service(
        write_config(tmp_path, receiver.url, **timing),
        tmp_path / "e2e.db",
        env={"ASSISTANT_OUTBOUND_SECRET": OUT_SECRET},
        port=port,
    )
    return await service.start()


async def post_agent_message(service: Service, conversation: str = "e2e-conv", *, age_s: float = 0) -> float:
    """Post an agent message written `age_s` ago; the time it was posted."""
    event = make_event(
        sender="agent", agent="小美", text="亲，这款今天下单明天就发货哦", conversation=conversation,
        ts=int((time.time() - age_s) * 1000),
    )  # fmt: skip
    async with aiohttp.ClientSession() as session:
        sent = time.time()
        async with session.post(f"{service.url}/v1/events", data=body_of(event)) as resp:
            assert resp.status == 200
    return sent


async def wait_for_requests(receiver: Receiver, n: int, timeout: float) -> None:
    await eventually(lambda: len(receiver.requests) >= n, timeout=timeout)


def armed_timers(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM timers WHERE state = 'armed'").fetchone()[0])


def followup_rows(db: Path) -> list[tuple[str, str, int]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT id, state, attempts FROM followups").fetchall()


def auto_messages(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM messages WHERE sender = 'auto'").fetchone()[0])


async def test_e2e_followup_arrives_after_idle_exactly_once(tmp_path: Path, receiver: Receiver) -> None:
    service = await start_service(tmp_path, receiver)
    try:
        sent = await post_agent_message(service)
        await wait_for_requests(receiver, 1, timeout=6)
        await eventually(lambda: followups_settled(service.db))  # nothing left that could send a duplicate
    finally:
        service.stop()
    assert len(receiver.requests) == 1
    [request] = receiver.requests
    delay = request["at"] - sent
    assert IDLE_S <= delay <= 4, f"arrived {delay:.2f} s after the agent's message"
    assert request["verified"] is True
    assert request["json"]["conversation"] == "e2e-conv" and request["json"]["kind"] == "followup"
    [(fid, state, attempts)] = followup_rows(service.db)
    assert (fid, state, attempts) == (request["headers"]["Idempotency-Key"], "sent", 1)
    assert auto_messages(service.db) == 1


async def test_e2e_sigkill_while_timer_pending_still_delivers_once(tmp_path: Path, receiver: Receiver) -> None:
    service = await start_service(tmp_path, receiver)
    try:
        await post_agent_message(service)
        await eventually(lambda: armed_timers(service.db) == 1)  # the timer is on disk, not yet due
        service.kill()
    finally:
        service.stop()
    assert receiver.requests == []
    restarted = await start_service(tmp_path, receiver, port=service.port)
    try:
        await wait_for_requests(receiver, 1, timeout=8)
        await eventually(lambda: followups_settled(service.db))
    finally:
        restarted.stop()
    assert len(receiver.requests) == 1
    assert [state for _, state, _ in followup_rows(service.db)] == ["sent"]
    assert auto_messages(service.db) == 1


async def test_e2e_sigkill_mid_delivery_retries_with_same_key(tmp_path: Path) -> None:
    slow = await Receiver(secret=OUT_SECRET, delay_s=3.0).start()
    try:
        service = await start_service(tmp_path, slow)
        try:
            await post_agent_message(service)
            await wait_for_requests(slow, 1, timeout=6)  # the POST is now hanging
            service.kill()
        finally:
            service.stop()
        slow.delay_s = 0
        restarted = await start_service(tmp_path, slow, port=service.port)
        try:
            # The interrupted attempt runs out its time limit (4 s from its start) before the retry.
            await wait_for_requests(slow, 2, timeout=15)
            await eventually(lambda: followups_settled(service.db))
        finally:
            restarted.stop()
    finally:
        await slow.close()
    keys = slow.keys()
    assert len(keys) == 2 and len(set(keys)) == 1  # at least once, deduplicable by the key
    [(fid, state, attempts)] = followup_rows(service.db)
    assert (fid, state, attempts) == (keys[0], "sent", 2)
    assert auto_messages(service.db) == 1


async def test_e2e_sigterm_mid_delivery_finishes_the_attempt_and_never_posts_it_again(tmp_path: Path) -> None:
    # Found: a clean stop cancelled the attempts in flight, so every restart posted them again (and, where the
    # platform cannot be asked, left them `failed` although they had arrived).
    slow = await Receiver(secret=OUT_SECRET, delay_s=1.5).start()
    try:
        service = await start_service(tmp_path, slow)
        try:
            await post_agent_message(service)
            await wait_for_requests(slow, 1, timeout=6)  # the POST is now in flight
            assert service.proc is not None
            service.proc.send_signal(signal.SIGTERM)  # waited for below, while the receiver answers
            await eventually(lambda: service.proc is not None and service.proc.poll() is not None, timeout=10)
            assert service.proc.returncode == 0
        finally:
            service.stop()
        assert [(state, attempts) for _, state, attempts in followup_rows(service.db)] == [("sent", 1)]
        assert auto_messages(service.db) == 1
        restarted = await start_service(tmp_path, slow, port=service.port)
        try:
            await eventually(lambda: followups_settled(service.db))
            assert "0 deliveries resumed" in restarted.log.read_text(errors="replace")
        finally:
            restarted.stop()
    finally:
        await slow.close()
    assert len(slow.requests) == 1


def followup_rows_by_conversation(db: Path) -> dict[str, str]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT conversation, state FROM followups").fetchall())


async def test_e2e_late_message_fires_at_its_own_deadline_and_a_stale_one_never(
    tmp_path: Path, receiver: Receiver
) -> None:
    idle, grace = 4, 2
    service = await start_service(tmp_path, receiver, idle_s=idle, grace_s=grace)
    try:
        await post_agent_message(service, "stale", age_s=idle + grace + 5)  # its deadline passed 7 s ago
        sent = await post_agent_message(service, "late", age_s=2.5)  # arrives 2.5 s late: 1.5 s of idle left
        await wait_for_requests(receiver, 1, timeout=8)
        await eventually(lambda: followups_settled(service.db))
        log = service.log.read_text(errors="replace")
    finally:
        service.stop()
    [request] = receiver.requests
    assert request["json"]["conversation"] == "late"
    delay = request["at"] - sent
    assert 1.3 <= delay < 3.5, f"arrived {delay:.2f} s after the late message (its deadline: 1.5 s)"
    assert followup_rows_by_conversation(service.db) == {"late": "sent", "stale": "stale"}
    assert "arrived 7 s after its idle period ended" in log and armed_timers(service.db) == 0


async def test_e2e_simulated_past_day_then_serve_arms_and_sends_nothing(tmp_path: Path, receiver: Receiver) -> None:
    config = write_config(tmp_path, receiver.url)
    db = tmp_path / "e2e.db"
    day = (datetime.now(ZoneInfo("Asia/Shanghai")).date() - timedelta(days=13)).isoformat()
    done = subprocess.run(
        [sys.executable, "-m", "assistant", "simulate", "--day", day, "--agents", "4", "--customers", "200",
         "--config", str(config), "--db", str(db)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    service = await start_service(tmp_path, receiver)
    try:
        await post_agent_message(service, "today")  # the service is live: a message of today does follow up
        await wait_for_requests(receiver, 1, timeout=8)
        await eventually(lambda: followups_settled(service.db))
        assert service.terminate() == 0
    finally:
        service.stop()
    assert [r["json"]["conversation"] for r in receiver.requests] == ["today"]
    assert followup_rows_by_conversation(db) == {"today": "sent"}
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM timers WHERE conversation != 'today'").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM messages WHERE sender = 'agent'").fetchone()[0] > 1000
    assert "0 timers reloaded, 0 rebuilt from the log (0 messages" in service.log.read_text(errors="replace")
