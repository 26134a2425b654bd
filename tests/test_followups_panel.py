"""Panels remember: after a restart the follow-up line of each conversation is rebuilt from the timers and
the database, the same as the last live update said before it (FakeClock, then the real app)."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from assistant.bus import Bus, Update
from assistant.clock import FakeClock
from assistant.config import Config
from assistant.live import LiveFeed
from assistant.web.appkeys import FEED
from tests.followup_harness import T0, Harness, Recorder
from tests.helpers import body_of, eventually, make_app, make_event, replace_config
from tests.test_panel import page_state

IDLE = 300
Key = tuple[str, str]


def last_updates(updates: Sequence[Update]) -> dict[Key, dict[str, Any]]:
    """What a panel shows: the latest follow-up update of each conversation."""
    shown: dict[Key, dict[str, Any]] = {}
    for u in updates:
        if u.kind == "followup":
            shown[(u.shop, u.conversation)] = u.payload
    return shown


def visible(shown: dict[Key, dict[str, Any]]) -> dict[Key, dict[str, Any]]:
    return {k: v for k, v in shown.items() if v["state"] != "cancelled"}


async def test_followups_panel_states_after_restart_match_the_last_live_updates(config: Config, db_path: Path) -> None:
    clock = FakeClock(T0)
    h = await Harness(replace_config(config, "followups", mode="suggest", idle_seconds=IDLE), db_path, clock).start()
    try:
        await h.agent_says(conversation="prompt")
        await h.advance(200)
        await h.agent_says(conversation="countdown")
        await h.agent_says(conversation="replied")
        await h.send(conversation="replied", text="好的我再看看")
        await h.advance(100)  # "prompt" comes due: a suggestion for the agent
        shown = last_updates(h.drain_updates())
        assert {k[1]: v["state"] for k, v in shown.items()} == {
            "prompt": "suggested",
            "countdown": "armed",
            "replied": "cancelled",
        }
        await h.restart(advance_s=10)
        rebuilt = h.service.panel_states(list(shown) + [("shop1", "never-seen")])
        assert rebuilt == visible(shown)
        assert rebuilt[("shop1", "countdown")] == {"state": "armed", "due_ms": T0 + 500_000, "armed_ms": T0 + 200_000}
        assert rebuilt[("shop1", "prompt")]["text"] == "感谢光临本店，欢迎收藏店铺~"
    finally:
        await h.stop()


async def test_followups_panel_states_show_quiet_hours_deferral(config: Config, db_path: Path) -> None:
    night = T0 + 13 * 3_600_000 - 60_000  # 22:59 shop time; quiet from 23:00
    clock = FakeClock(night)
    quiet = replace_config(config, "followups", idle_seconds=IDLE, quiet_hours="23:00-08:00")
    h = await Harness(quiet, db_path, clock).start()
    try:
        await h.agent_says()
        await h.advance(IDLE)
        shown = last_updates(h.drain_updates())
        assert shown[("shop1", "conv1")]["state"] == "deferred"
        await h.restart(advance_s=10)
        assert h.service.panel_states(list(shown)) == shown
    finally:
        await h.stop()


async def test_followups_panel_states_show_a_sent_followup_until_a_new_period(config: Config, db_path: Path) -> None:
    clock = FakeClock(T0)
    send = replace_config(config, "followups", mode="send", idle_seconds=IDLE)
    h = await Harness(send, db_path, clock, plugins=[Recorder()]).start()
    try:
        await h.agent_says()
        await h.advance(IDLE)
        shown = last_updates(h.drain_updates())
        assert shown[("shop1", "conv1")]["state"] == "sent"
        await h.restart(advance_s=10)
        assert h.service.panel_states(list(shown)) == shown
        await h.agent_says("还有什么需要帮您的吗")
        assert h.service.panel_states(list(shown))[("shop1", "conv1")]["state"] == "armed"
    finally:
        await h.stop()


def test_live_feed_recalls_only_what_it_has_no_update_for() -> None:
    feed = LiveFeed(Bus())
    asked: list[list[Key]] = []

    def recall(keys: list[Key]) -> dict[Key, dict[str, Any]]:
        asked.append(keys)
        return {k: {"state": "armed", "due_ms": 9} for k in keys if k[1] != "none"}

    feed.dispatch(Update("followup", "s", "heard", "a", {"state": "sent"}))
    conversations = [{"shop": "s", "conversation": c} for c in ("heard", "old", "none")]
    assert feed.followups_for(conversations) == {'["s","heard"]': {"state": "sent"}}  # without recall
    feed.recall = recall
    assert feed.followups_for(conversations) == {
        '["s","heard"]': {"state": "sent"},
        '["s","old"]': {"state": "armed", "due_ms": 9},
    }
    assert asked == [[("s", "old"), ("s", "none")]]


# ---- the real app, restarted on the same database -----------------------------------------------


def followup_states(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT conversation, state FROM followups ORDER BY conversation").fetchall()


async def test_panel_shows_countdown_and_prompt_again_after_a_restart(config: Config, db_path: Path) -> None:
    # Fired at once when due, however slow the start: no wait for a backlog to settle.
    config = replace_config(config, "followups", mode="suggest", idle_seconds=IDLE, late_settle_s=0)
    now = int(time.time() * 1000)
    countdown = make_event(sender="agent", agent="a1", conversation="countdown", text="亲，这款有现货", ts=now)
    # Written nearly five minutes ago and delivered only now: its idle period ends in half a second.
    prompt = make_event(sender="agent", agent="a1", conversation="prompt", text="亲，在的", ts=now - IDLE * 1000 + 500)
    first = TestClient(TestServer(make_app(config)))
    await first.start_server()
    try:
        for event in (countdown, prompt):
            assert (await first.post("/v1/events", data=body_of(event))).status == 200
        await eventually(lambda: followup_states(db_path) == [("prompt", "suggested")])
        before = page_state(await (await first.get("/panel?agent=a1")).text())["followups"]
    finally:
        await first.close()
    second = TestClient(TestServer(make_app(config)))
    await second.start_server()
    try:
        after = page_state(await (await second.get("/panel?agent=a1")).text())["followups"]
        resp = await second.get("/v1/stream?agent=a1")
        line = await resp.content.readuntil(b"\r\n\r\n")
        snapshot = json.loads(line.decode().split("data: ", 1)[1].split("\r\n", 1)[0])
        resp.close()
    finally:
        await second.close()
    key = '["shop1","countdown"]'
    assert before[key] == {"state": "armed", "due_ms": now + IDLE * 1000, "armed_ms": now}
    assert before['["shop1","prompt"]']["state"] == "suggested"
    assert after == before and snapshot["followups"] == before


async def test_a_countdown_no_panel_can_take_is_kept_for_the_next_snapshot_unpublished(
    config: Config, db_path: Path
) -> None:
    config = replace_config(config, "followups", mode="suggest", idle_seconds=IDLE)
    now = int(time.time() * 1000)
    client = TestClient(TestServer(make_app(config)))
    await client.start_server()
    try:
        feed = client.app[FEED]
        feed.linger_s = 0  # no panel has been connected: none lingers either
        said = make_event(sender="agent", agent="a1", conversation="quiet", text="亲，这款有现货", ts=now)
        assert (await client.post("/v1/events", data=body_of(said))).status == 200
        countdown = {"state": "armed", "due_ms": now + IDLE * 1000, "armed_ms": now}
        assert feed.followups.get(("shop1", "quiet")) == countdown
        assert [e.update.kind for e in feed.journal] == []  # nothing numbered that no panel could resume from
        assert page_state(await (await client.get("/panel?agent=a1")).text())["followups"] == {
            '["shop1","quiet"]': countdown
        }
        resp = await client.get("/v1/stream?agent=a1")  # a panel connected: countdowns are published again
        assert resp.status == 200
        await eventually(lambda: bool(feed.streams))
        later = make_event(sender="agent", agent="a1", conversation="watched", text="亲，在的", ts=now + 1)
        assert (await client.post("/v1/events", data=body_of(later))).status == 200
        await eventually(lambda: [e.update.conversation for e in feed.journal if e.update.kind == "followup"] == ["watched"])  # fmt: skip
        resp.close()
    finally:
        await client.close()
