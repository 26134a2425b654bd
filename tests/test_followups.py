"""Idle follow-ups on a FakeClock: arming, cancelling, choosing, quiet hours, limits, restarts."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from assistant import pg, store
from assistant.clock import FakeClock
from assistant.config import Config
from assistant.events import parse_event
from assistant.followups.delivery import CUSTOMER_WROTE, auto_event_id
from assistant.followups.reasons import AGENT_CLOSED, AGENT_SENT, english
from assistant.hookspecs import DeliveryResult, hookimpl
from assistant.suggest.phrases import Library
from tests.followup_harness import IDLE, T0, Harness, Recorder, lose_unflushed_timers, tiny_library
from tests.helpers import BACKENDS, ROOT, eventually, make_event, replace_config

pytestmark = BACKENDS

# ---- arming ------------------------------------------------------------------------------------


async def test_followups_agent_message_arms_timer(harness: Harness, clock: FakeClock) -> None:
    await harness.agent_says()
    timer = harness.service.timers.queue.get(("shop1", "conv1"))
    assert timer is not None and timer.due_ms == T0 + IDLE * 1000
    assert harness.rows("SELECT state, due_ms FROM timers") == [("armed", T0 + IDLE * 1000)]
    updates = [u for u in harness.drain_updates() if u.kind == "followup"]
    assert [(u.payload["state"], u.payload["due_ms"], u.agent) for u in updates] == [
        ("armed", T0 + IDLE * 1000, "小美")
    ]


async def test_followups_fire_once_after_idle_and_log_auto_message(harness: Harness, recorder: Recorder) -> None:
    await harness.agent_says()
    await harness.advance(IDLE - 1)
    assert recorder.calls == [] and harness.followups() == []
    await harness.advance(1)
    assert len(recorder.calls) == 1
    call = recorder.calls[0]
    assert call["kind"] == "followup" and call["conversation"]["conversation"] == "conv1"
    [f] = harness.followups()
    assert (f.state, f.attempts, f.kind, f.id) == ("sent", 1, "followup", call["key"])
    assert f.text == call["text"] == "感谢光临本店，欢迎收藏店铺~"
    assert harness.rows("SELECT id, sender, followup_id, text FROM messages m JOIN events e USING (seq)"
                        " WHERE sender = 'auto'") == [(auto_event_id(f.id), "auto", f.id, f.text)]  # fmt: skip
    await harness.advance(IDLE * 10)
    assert len(recorder.calls) == 1


async def test_followups_rearm_on_each_agent_message(harness: Harness, recorder: Recorder) -> None:
    await harness.agent_says("在的亲")
    await harness.advance(200)
    await harness.agent_says("这款有现货")
    await harness.advance(IDLE - 200)  # the first message's deadline
    assert recorder.calls == []
    await harness.advance(200)
    assert len(recorder.calls) == 1


async def test_followups_duplicate_delivery_does_not_arm_twice(harness: Harness, recorder: Recorder) -> None:
    raw = await harness.agent_says()
    await harness.advance(200)
    [response] = await harness.resend(raw)
    assert response["duplicate"] is True
    await harness.advance(IDLE - 200)  # due from the first delivery, not the repeat
    assert len(recorder.calls) == 1
    await harness.advance(IDLE)
    assert len(recorder.calls) == 1


async def test_followups_auto_message_neither_arms_nor_cancels(harness: Harness, recorder: Recorder) -> None:
    await harness.agent_says()
    await harness.send(sender="auto", text="自动回复：客服马上就来")
    await harness.advance(IDLE)
    assert len(recorder.calls) == 1


async def test_followups_echo_of_sent_followup_does_not_rearm(harness: Harness, recorder: Recorder) -> None:
    await harness.agent_says()
    await harness.advance(IDLE)
    [call] = recorder.calls
    await harness.agent_says(call["text"])  # the platform reports our own message as the agent's
    await harness.advance(IDLE * 2)
    assert len(recorder.calls) == 1


# ---- cancelling --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        {"type": "message", "sender": "customer", "text": "好的我再看看"},
        {"type": "conversation_closed"},
    ],
    ids=["customer_reply", "conversation_closed"],
)
async def test_followups_cancelled_by_reply_or_close(
    harness: Harness, recorder: Recorder, event: dict[str, Any]
) -> None:
    await harness.agent_says()
    await harness.advance(100)
    await harness.send(**event)
    await harness.advance(IDLE * 2)
    assert recorder.calls == [] and harness.followups() == []
    assert harness.rows("SELECT state FROM timers") == [("cancelled",)]
    updates = [(u.payload["state"], u.agent) for u in harness.drain_updates() if u.kind == "followup"]
    assert updates == [("armed", "小美"), ("cancelled", "小美")]  # the agent's panel hears both


async def test_followups_none_after_the_agent_sent_a_closing_of_the_library(
    harness: Harness, recorder: Recorder
) -> None:
    # Found: an agent's quick-phrase closing was followed by a second closing, often the very same sentence.
    await harness.send(text="好的，谢谢")
    await harness.agent_says(" 感谢光临本店，欢迎收藏店铺~ ")
    await harness.advance(IDLE)
    assert recorder.calls == []
    [f] = harness.followups()
    assert (f.kind, f.state, f.last_error) == ("followup", "cancelled", AGENT_CLOSED)
    assert harness.rows("SELECT state FROM timers") == [("done",)]


async def test_followups_never_repeat_a_closing_the_conversation_got(harness: Harness, recorder: Recorder) -> None:
    await harness.agent_says()
    await harness.advance(IDLE)
    await harness.agent_says("亲，还有别的问题吗？")
    await harness.advance(IDLE)
    first, second = (call["text"] for call in recorder.calls)
    assert first == "感谢光临本店，欢迎收藏店铺~" and second != first


async def test_followups_payment_cancels_reminder(harness: Harness, recorder: Recorder) -> None:
    await harness.send("order_created", order="o1", amount=88.0)
    await harness.agent_says("亲，拍下记得付款哦")
    await harness.advance(60)
    await harness.send("order_paid", order="o1", amount=88.0)
    await harness.advance(IDLE)
    assert recorder.calls == [] and harness.followups() == []
    assert harness.rows("SELECT state, reason FROM timers") == [("cancelled", "paid")]


async def test_followups_closed_order_gets_a_closing_not_a_reminder(harness: Harness, recorder: Recorder) -> None:
    # Found: nothing could say an order was cancelled, so its conversation got 催付 for 24 hours.
    await harness.send("order_created", order="o1", amount=88.0)
    await harness.agent_says("好的亲，订单已经帮您取消了")
    await harness.send("order_closed", order="o1")
    await harness.advance(IDLE)
    [call] = recorder.calls
    assert call["kind"] == "followup"
    assert harness.rows("SELECT order_id, closed_ms IS NOT NULL, paid_ms FROM orders") == [("o1", 1, None)]


async def test_followups_order_closed_before_its_creation_arrives_is_still_closed(
    harness: Harness, recorder: Recorder
) -> None:
    now = harness.clock.now_ms()
    await harness.send("order_closed", order="o1", ts=now)
    await harness.send("order_created", order="o1", amount=88.0, ts=now - 5_000)
    await harness.agent_says()
    await harness.advance(IDLE)
    assert [call["kind"] for call in recorder.calls] == ["followup"]


async def test_followups_payment_of_one_order_keeps_reminder_for_another(harness: Harness, recorder: Recorder) -> None:
    await harness.send("order_created", order="o1", amount=88.0)
    await harness.send("order_created", order="o2", amount=12.5)
    await harness.agent_says()
    await harness.send("order_paid", order="o1", amount=88.0)
    await harness.advance(IDLE)
    [call] = recorder.calls
    assert call["kind"] == "payment_reminder" and call["text"] == "亲，订单o2还差付款12.50元哦"


# ---- choosing ----------------------------------------------------------------------------------


async def test_followups_unpaid_order_gives_payment_reminder(harness: Harness, recorder: Recorder) -> None:
    await harness.send("order_created", order="o9", amount=99.5)
    await harness.agent_says()
    await harness.advance(IDLE)
    [f] = harness.followups()
    assert (f.kind, f.phrase_id, f.text) == ("payment_reminder", "pr.one", "亲，订单o9还差付款99.50元哦")
    assert recorder.calls[0]["kind"] == "payment_reminder"


async def test_followups_order_older_than_window_gives_followup(harness: Harness, recorder: Recorder) -> None:
    window = harness.config.followups.payment_reminder_window_s
    await harness.send("order_created", order="old", amount=10.0, ts=T0 - (window + 60) * 1000)
    await harness.agent_says()
    await harness.advance(IDLE)
    assert [f.kind for f in harness.followups()] == ["followup"]


async def test_followups_prefer_phrase_for_customer_type(harness: Harness, recorder: Recorder) -> None:
    harness.customer_types["conv1"] = "returning"
    await harness.send(text="又来买啦，上次的很好用")
    await harness.agent_says()
    await harness.advance(IDLE)
    [f] = harness.followups()
    assert (f.phrase_id, f.text) == ("fu.back", "老朋友亲，下次见~")  # cust1 reads as an account id: 亲


async def test_followups_close_a_paid_conversation_with_thanks_not_a_pitch(
    send_config: Config, db_path: Path, clock: FakeClock, recorder: Recorder
) -> None:
    # A bargainer's closing says 领了券再下单更划算: wrong once the customer has paid.
    from assistant.suggest.phrases import Library

    shipped = Library.load([ROOT / "phrases"])
    h = await Harness(send_config, db_path, clock, plugins=[recorder], phrases=shipped).start()
    try:
        h.customer_types["paid"] = h.customer_types["browsing"] = "bargainer"
        for conversation in ("paid", "browsing"):
            await h.send(conversation=conversation, text="能便宜点吗，便宜就拍")
        await h.send("order_created", conversation="paid", order="o1", amount=199.0)
        await h.send("order_paid", conversation="paid", order="o1", amount=199.0)
        for conversation in ("paid", "browsing"):
            await h.agent_says(conversation=conversation)
        await h.advance(IDLE)
    finally:
        await h.stop()
    chosen = {f.conversation: (f.kind, f.phrase_id) for f in h.followups()}
    assert chosen["paid"][0] == "followup" and (chosen["paid"][1] or "").startswith("followup_paid.")
    assert chosen["browsing"] == ("followup", "followup.bargainer")  # not bought: the type's closing


async def test_followups_closing_without_a_purchase_never_asks_to_review_goods(backend: str) -> None:
    # Found: one of a returning customer's two shipped closings asked for a five-star review "once the goods
    # arrive", sent alike to a returning buyer who had bought nothing in the conversation.
    from assistant.followups.policy import choose_phrase
    from assistant.suggest.phrases import Library

    shipped = Library.load([ROOT / "phrases"])
    types = {t for p in shipped.phrases if p.intent == "followup" for t in p.types} | {None}
    for ctype in types:
        for n in range(40):  # the choice is stable per follow-up id: many ids reach every phrase of a pool
            phrase = choose_phrase(shipped, "followup", ctype, f"fu-{n}")
            assert phrase is not None
            text = shipped.render(phrase.id, {"shop": "本店", "customer": "", "agent": ""})
            assert "好评" not in text and "收到宝贝" not in text, (ctype, phrase.id)


async def test_followups_choose_the_shops_own_closings_and_reminders_over_the_demos(
    backend: str, tmp_path: Path
) -> None:
    """A shop's imported 结束语 and 催付 (a later `[phrases] path` layer, untyped as imports are) were never chosen:
    the demo has a typed closing and reminder for every customer type, and typed ones came first."""
    from assistant.followups.policy import choose_phrase
    from assistant.suggest.phrases import Library

    layer = tmp_path / "shop"
    layer.mkdir()
    (layer / "qianniu.toml").write_text(
        'group = "结束语"\n\n[[phrase]]\nid = "followup.imported_js01"\nintent = "followup"\ncode = "js01"\n'
        'text = "感谢亲的光临，有问题随时找我哦"\ntriggers = ["结束语", "感谢", "光临", "再见"]\n\n'
        '[[phrase]]\nid = "payment_reminder.imported_cf01"\nintent = "payment_reminder"\ncode = "cf01"\n'
        'text = "亲，您拍下的宝贝还没付款哦"\ntriggers = ["催付", "付款", "拍下", "未付款"]\n',
        encoding="utf-8",
    )
    library = Library.load([ROOT / "phrases", layer])
    for ctype in (None, "newcomer", "bargainer", "hesitant"):
        for n in range(10):
            assert choose_phrase(library, "followup", ctype, f"fu-{n}").id == "followup.imported_js01"  # type: ignore[union-attr]
            assert choose_phrase(library, "payment_reminder", ctype, f"fu-{n}").id == "payment_reminder.imported_cf01"  # type: ignore[union-attr]
    shipped = Library.load([ROOT / "phrases"])  # without a layer the demo's typed choice stands
    assert choose_phrase(shipped, "followup", "bargainer", "fu-1").id == "followup.bargainer"  # type: ignore[union-attr]


async def test_followups_fall_back_to_builtin_phrases(
    send_config: Config, db_path: Path, clock: FakeClock, recorder: Recorder
) -> None:
    from assistant.suggest.phrases import Library

    empty = Library.build([])
    h = await Harness(send_config, db_path, clock, plugins=[recorder], phrases=empty).start()
    try:
        await h.agent_says()
        await h.advance(IDLE)
    finally:
        await h.stop()
    [f] = h.followups()
    assert f.phrase_id == "builtin.followup" and "本店" in f.text


# ---- modes, quiet hours, limits -----------------------------------------------------------------


async def test_followups_suggest_mode_prompts_agent_only(
    config: Config, db_path: Path, clock: FakeClock, recorder: Recorder
) -> None:
    h = await Harness(replace_config(config, "followups", mode="suggest"), db_path, clock, plugins=[recorder]).start()
    try:
        await h.agent_says()
        h.drain_updates()
        await h.advance(IDLE)
        [f] = h.followups()
        assert f.state == "suggested" and recorder.calls == []
        [update] = [u for u in h.drain_updates() if u.kind == "followup"]
        assert (update.agent, update.payload["state"], update.payload["text"]) == ("小美", "suggested", f.text)
        assert h.rows("SELECT count(*) FROM messages WHERE sender = 'auto'") == [(0,)]
    finally:
        await h.stop()


@pytest.mark.parametrize("restart", [False, True])
async def test_followups_suggested_closing_leaves_the_panel_once_the_agent_sends_it(
    config: Config, db_path: Path, clock: FakeClock, recorder: Recorder, restart: bool
) -> None:
    # The prompt stayed on the card after the agent had sent it: an invitation to send twice. After a restart
    # its text was not even known as ours: sending it armed a new idle period and prompted a second closing.
    h = await Harness(replace_config(config, "followups", mode="suggest"), db_path, clock, plugins=[recorder]).start()
    try:
        await h.agent_says()
        await h.advance(IDLE)
        [f] = h.followups()
        assert f.state == "suggested"
        if restart:
            await h.restart(advance_s=1800)  # sent half an hour later, past the replay's reach
        h.drain_updates()
        await h.agent_says(text=f.text)  # the agent copies the suggestion into the chat
        await eventually(lambda: h.followups()[0].state == "cancelled")
        assert h.followups()[0].last_error == AGENT_SENT
        assert [u.payload["state"] for u in h.drain_updates() if u.kind == "followup"] == ["cancelled"]
        assert h.rows("SELECT count(*) FROM timers WHERE state = 'armed'") == [(0,)]  # the echo arms nothing
        await h.advance(IDLE)
        assert len(h.followups()) == 1  # no second closing
    finally:
        await h.stop()


async def test_followups_shop_mode_overrides_mode(
    config: Config, db_path: Path, clock: FakeClock, recorder: Recorder
) -> None:
    cfg = replace_config(config, "followups", mode="send", shop_modes={"shop2": "suggest"})
    h = await Harness(cfg, db_path, clock, plugins=[recorder]).start()
    try:
        await h.agent_says(shop="shop2")
        await h.advance(IDLE)
        assert [f.state for f in h.followups()] == ["suggested"] and recorder.calls == []
    finally:
        await h.stop()


# 22:58 shop time: due at 23:03, inside "23:00-08:00".
LATE_EVENING = T0 + (12 * 3600 + 58 * 60) * 1000
NEXT_MORNING = T0 + 22 * 3600 * 1000


async def test_followups_quiet_hours_defer_to_the_end(send_config: Config, db_path: Path, recorder: Recorder) -> None:
    clock = FakeClock(LATE_EVENING)
    cfg = replace_config(send_config, "followups", quiet_hours="23:00-08:00", quiet_policy="defer")
    h = await Harness(cfg, db_path, clock, plugins=[recorder]).start()
    try:
        await h.agent_says()
        await h.advance(IDLE)
        assert recorder.calls == [] and h.followups() == []
        assert h.rows("SELECT state, due_ms, reason FROM timers") == [("armed", NEXT_MORNING, "quiet_hours")]
        states = [u.payload for u in h.drain_updates() if u.kind == "followup"]
        # When the idle period began, as a countdown says it: a panel drops the line once the buyer writes after it.
        assert states[-1] == {"state": "deferred", "due_ms": NEXT_MORNING, "armed_ms": LATE_EVENING}
        clock.set(NEXT_MORNING - 1000)
        await h.settle()
        assert recorder.calls == []
        await h.advance(1)
        assert len(recorder.calls) == 1
    finally:
        await h.stop()


async def test_followups_quiet_hours_drop(send_config: Config, db_path: Path, recorder: Recorder) -> None:
    clock = FakeClock(LATE_EVENING)
    cfg = replace_config(send_config, "followups", quiet_hours="23:00-08:00", quiet_policy="drop")
    h = await Harness(cfg, db_path, clock, plugins=[recorder]).start()
    try:
        await h.agent_says()
        await h.advance(IDLE)
        clock.set(NEXT_MORNING + 3600_000)
        await h.settle()
        assert recorder.calls == []
        assert [f.state for f in h.followups()] == ["dropped"]
        assert h.rows("SELECT state FROM timers") == [("done",)]
    finally:
        await h.stop()


async def test_followups_at_most_max_per_idle_period(send_config: Config, db_path: Path, clock: FakeClock) -> None:
    recorder = Recorder()
    cfg = replace_config(send_config, "followups", max_followups_per_idle=2)
    h = await Harness(cfg, db_path, clock, plugins=[recorder]).start()
    try:
        await h.agent_says()
        for _ in range(5):
            await h.advance(IDLE)
        assert len(recorder.calls) == 2
        assert len({c["key"] for c in recorder.calls}) == 2
        await h.agent_says("亲，还有什么可以帮您")  # a new idle period
        for _ in range(5):
            await h.advance(IDLE)
        assert len(recorder.calls) == 4
    finally:
        await h.stop()


async def test_followups_disabled_never_arm(
    config: Config, db_path: Path, clock: FakeClock, recorder: Recorder
) -> None:
    h = await Harness(replace_config(config, "followups", enabled=False), db_path, clock, plugins=[recorder]).start()
    try:
        await h.agent_says()
        await h.advance(IDLE * 2)
        assert recorder.calls == [] and h.rows("SELECT count(*) FROM timers") == [(0,)]
    finally:
        await h.stop()


# ---- restarts ----------------------------------------------------------------------------------


async def test_followups_restart_keeps_pending_timer(harness: Harness, recorder: Recorder) -> None:
    await harness.agent_says()
    await harness.restart(advance_s=100)
    assert len(harness.service.timers.queue) == 1
    await harness.advance(IDLE - 101)
    assert recorder.calls == []
    await harness.advance(1)
    assert len(recorder.calls) == 1


async def test_followups_restart_fires_overdue_timer_within_grace(harness: Harness, recorder: Recorder) -> None:
    await harness.agent_says()
    grace = harness.config.followups.late_grace_s
    await harness.restart(advance_s=IDLE + grace - 1)
    await harness.advance(harness.config.followups.late_settle_s)  # messages held back meanwhile come in first
    assert len(recorder.calls) == 1
    assert [f.state for f in harness.followups()] == ["sent"]


async def test_followups_restart_too_late_is_missed(
    harness: Harness, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    await harness.agent_says()
    grace = harness.config.followups.late_grace_s
    caplog.set_level(logging.INFO, logger="assistant.followups.service")
    await harness.restart(advance_s=IDLE + grace + 1)
    # Found: the start-up summary said "0 missed" while the restart recorded this one missed.
    assert "0 deliveries resumed, 1 missed" in caplog.text
    assert recorder.calls == []
    [f] = harness.followups()
    assert f.state == "missed" and f.attempts == 0
    assert harness.rows("SELECT state FROM timers") == [("missed",)]
    await harness.advance(IDLE * 3)
    assert recorder.calls == []


async def test_followups_restart_with_a_new_idle_seconds_fires_at_the_new_deadline(
    send_config: Config, db_path: Path, clock: FakeClock, recorder: Recorder
) -> None:
    # Found: a timer reloaded after `idle_seconds` changed kept the deadline of the old setting.
    h = await Harness(send_config, db_path, clock, plugins=[recorder]).start()
    await h.agent_says()
    await h.stop()
    h.config = replace_config(send_config, "followups", idle_seconds=IDLE * 2)
    await h.start()
    try:
        # What `assistant followups timers` reads: it showed the old deadline until the timer fired.
        assert h.rows("SELECT due_ms FROM timers") == [(clock.now_ms() + IDLE * 2 * 1000,)]
        await h.advance(IDLE * 2 - 1)
        assert recorder.calls == []
        await h.advance(1)
        assert len(recorder.calls) == 1
    finally:
        await h.stop()


async def test_followups_restart_loads_timers_page_by_page_each_once(
    send_config: Config,
    db_path: Path,
    clock: FakeClock,
    recorder: Recorder,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Pages follow the deadlines: a timer the start moves to a later deadline (a longer `idle_seconds`) comes
    # again on a later page, and must be loaded and counted once.
    from assistant.followups.service import FollowupService

    h = await Harness(send_config, db_path, clock, plugins=[recorder]).start()
    for n in range(3):
        await h.send(conversation=f"conv{n}", sender="agent", agent="小美", text="在的亲")
        await h.advance(1)
    await h.stop()
    h.config = replace_config(send_config, "followups", idle_seconds=IDLE * 2)
    caplog.set_level(logging.INFO, logger="assistant.followups.service")
    monkeypatch.setattr(FollowupService._load_timers, "__defaults__", (1,))  # one timer a page
    await h.start()
    try:
        assert "follow-ups: 3 timers reloaded" in caplog.text
        assert len(h.service.timers.queue) == 3
        await h.advance(IDLE * 2)
        assert len(recorder.calls) == 3
    finally:
        await h.stop()


async def test_followups_restart_with_fewer_followups_per_idle_sends_no_more(
    send_config: Config, db_path: Path, clock: FakeClock, recorder: Recorder
) -> None:
    # Found: timers armed before a restart fired although `max_followups_per_idle` had been set to 0 ("never"),
    # and a period that had its one follow-up got a second after lowering it from 2 to 1.
    h = await Harness(send_config, db_path, clock, plugins=[recorder]).start()
    await h.agent_says()
    await h.send(conversation="conv2", sender="agent", agent="小美", text="在的亲")
    await h.stop()
    h.config = replace_config(send_config, "followups", max_followups_per_idle=0)
    await h.start()
    try:
        await h.advance(IDLE * 3)
        assert recorder.calls == [] and h.followups() == []
        assert h.rows("SELECT state FROM timers") == [("done",), ("done",)]
    finally:
        await h.stop()
    h.config = replace_config(send_config, "followups", max_followups_per_idle=2)
    await h.start()
    await h.agent_says("亲，还有什么可以帮您")
    await h.advance(IDLE)
    assert len(recorder.calls) == 1
    await h.stop()
    h.config = send_config  # one per idle period again
    await h.start()
    try:
        await h.advance(IDLE * 3)
        assert len(recorder.calls) == 1
    finally:
        await h.stop()


def restart_gap(config: Config, db: store.Location) -> float:
    """How long a delivery must lie untouched before a starting instance resumes it: at once alone on SQLite;
    on a shared database a lease, as until then another live instance may be sending it (docs/scaling.md)."""
    return config.followups.lease_s if isinstance(db, pg.Location) else 0.0


async def test_followups_restart_resumes_interrupted_delivery_with_same_key(
    send_config: Config, db_path: Path, clock: FakeClock
) -> None:
    failing = Recorder([DeliveryResult.retry("HTTP 503", 503)])
    h = await Harness(send_config, db_path, clock, plugins=[failing]).start()
    await h.agent_says()
    await h.advance(IDLE)  # first attempt fails; the retry waits on the clock
    [f] = h.followups()
    assert (f.state, f.attempts) == ("pending", 1)
    await h.stop()
    recorder = Recorder()
    h.extra_plugins = [recorder]
    clock.advance(10 + restart_gap(send_config, db_path))
    await h.start()
    try:
        await h.advance(send_config.followups.late_settle_s)  # the messages held back meanwhile came first
        [call] = recorder.calls
        assert call["key"] == failing.calls[0]["key"] == f.id
        [f] = h.followups()
        assert (f.state, f.attempts) == ("sent", 2)
    finally:
        await h.stop()


async def test_followups_restart_rebuilds_timer_lost_before_persisting(
    send_config: Config, db_path: Path, real_clock: FakeClock, recorder: Recorder
) -> None:
    h = await Harness(send_config, db_path, real_clock, plugins=[recorder]).start()
    await h.agent_says()
    await lose_unflushed_timers(h)
    await h.start()
    try:
        assert len(h.service.timers.queue) == 1
        await h.advance(IDLE + 1)
        assert len(recorder.calls) == 1
    finally:
        await h.stop()


async def test_followups_timer_firing_again_after_restart_sends_nothing_new(
    harness: Harness, recorder: Recorder
) -> None:
    await harness.agent_says()
    await harness.advance(IDLE)
    # As if a late write put the fired timer back to "armed" just before a crash:
    harness.rows("UPDATE timers SET state = 'armed', fired = 0")
    await harness.restart(advance_s=5)
    await harness.advance(harness.config.followups.late_settle_s)
    assert len(recorder.calls) == 1
    assert [f.state for f in harness.followups()] == ["sent"]
    assert harness.rows("SELECT state FROM timers") == [("done",)]


async def test_followups_clean_restart_replays_nothing(
    harness: Harness, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    await harness.agent_says()
    await harness.send(conversation="conv2", text="在吗")
    caplog.set_level("INFO", logger="assistant.followups.service")
    await harness.restart(advance_s=10)
    assert "1 timers reloaded, 0 rebuilt from the log" in caplog.text
    assert harness.rows("SELECT seq FROM timers_watermark") == [(2,)]


async def test_followups_one_failing_timer_does_not_hold_up_the_others(
    send_config: Config, db_path: Path, clock: FakeClock, recorder: Recorder
) -> None:
    class Flaky:
        """A phrase source that breaks for conv-bad only."""

        def __init__(self) -> None:
            self.library = tiny_library()

        def of_intent(self, intent: str, shop: str) -> Any:
            return self.library.of_intent(intent, shop)

        def render(self, phrase_id: str, variables: Any, item: None = None, shop: str = "") -> str:
            if variables.get("customer") == "bad":
                raise RuntimeError("template bug")
            return self.library.render(phrase_id, variables, shop=shop)

    h = await Harness(send_config, db_path, clock, plugins=[recorder], phrases=Flaky()).start()
    try:
        await h.agent_says(conversation="conv-bad", customer="bad")
        await h.agent_says(conversation="conv-ok")
        await h.advance(IDLE)
        assert [c["conversation"]["conversation"] for c in recorder.calls] == ["conv-ok"]
        assert h.service.timers.queue.get(("shop1", "conv-bad")) is not None  # will be tried again
        for _ in range(30):
            await h.advance(5)
        assert h.service.timers.queue.get(("shop1", "conv-bad")) is None  # given up after late_grace_s
        assert h.rows("SELECT state, reason FROM timers WHERE conversation = 'conv-bad'") == [("missed", "error")]
    finally:
        await h.stop()


# ---- hooks -------------------------------------------------------------------------------------


class EventWatcher:
    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []
        self.followups: list[str] = []

    @hookimpl
    async def on_event(self, event: Any, seq: int) -> None:
        self.seen.append((event.id, seq))

    @hookimpl
    def on_followup(self, followup: Any) -> None:
        self.followups.append(followup.state)


async def test_followups_hooks_see_new_events_and_followup_states(
    send_config: Config, db_path: Path, clock: FakeClock, recorder: Recorder
) -> None:
    watcher = EventWatcher()
    h = await Harness(send_config, db_path, clock, plugins=[recorder, watcher]).start()
    try:
        raw = await h.agent_says()
        await h.resend(raw)
        await h.advance(IDLE)
        assert [eid for eid, _ in watcher.seen] == [raw["id"], auto_event_id(recorder.calls[0]["key"])]
        assert watcher.followups == ["pending", "sent"]
    finally:
        await h.stop()


async def test_followups_failing_hook_does_not_stop_arming(
    send_config: Config, db_path: Path, clock: FakeClock, recorder: Recorder
) -> None:
    class Broken:
        @hookimpl
        def on_event(self) -> None:
            raise RuntimeError("plugin bug")

    h = await Harness(send_config, db_path, clock, plugins=[recorder, Broken()]).start()
    try:
        await h.agent_says()
        await h.advance(IDLE)
        assert len(recorder.calls) == 1
    finally:
        await h.stop()


async def test_followups_a_blocking_plain_function_hook_holds_nothing_up(
    send_config: Config, db_path: Path, clock: FakeClock
) -> None:
    # A plain deliver_message that blocks (a synchronous HTTP client against a slow platform) ran on the
    # event loop: every request waited for it, and no time limit could stop it.
    release = threading.Event()

    class Blocking:
        @hookimpl
        def deliver_message(self, idempotency_key: str) -> DeliveryResult:
            release.wait(timeout=30)
            return DeliveryResult.sent(200)

    config = replace_config(send_config, "followups", delivery_timeout_s=0.5)
    h = await Harness(config, db_path, clock, plugins=[Blocking()]).start()
    try:
        await h.agent_says()
        clock.advance(IDLE)
        await eventually(lambda: [f.attempts for f in h.followups()] == [1])  # the attempt has begun
        await h.send(conversation="other", text="在吗")  # served while the hook blocks
        await eventually(lambda: "timed out" in english(h.followups()[0].last_error or ""))
        assert h.followups()[0].state == "pending"  # the time limit stopped the wait: a retry comes
    finally:
        release.set()
        await h.stop()


class Confirmer:
    """A platform that can be asked (confirm_delivery): answers from a script; records each question."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, int]] = []

    @hookimpl
    def confirm_delivery(self, idempotency_key: str, since_ms: int) -> bool | None:
        self.asked.append((idempotency_key, since_ms))
        answer = self.answers.pop(0) if self.answers else None
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[no-any-return]


async def interrupted(send_config: Config, db_path: Path, clock: FakeClock) -> tuple[Harness, str]:
    """A follow-up whose first attempt ended without an answer (timed out) and a service that stopped."""
    timed_out = DeliveryResult.retry("timed out after 10 s")  # a 503 would say nothing was created: no question
    h = await Harness(send_config, db_path, clock, plugins=[Recorder([timed_out])]).start()
    await h.agent_says()
    await h.advance(IDLE)
    [f] = h.followups()
    await h.stop()
    clock.advance(restart_gap(send_config, db_path))
    return h, f.id


async def test_followups_restart_asks_the_platform_and_does_not_resend_what_it_holds(
    send_config: Config, db_path: Path, clock: FakeClock
) -> None:
    h, fid = await interrupted(send_config, db_path, clock)
    recorder, confirmer = Recorder(), Confirmer([True])
    h.extra_plugins = [recorder, confirmer]
    await h.start()
    try:
        if restart_gap(send_config, db_path) == 0:
            assert confirmer.asked == []  # the interrupted attempt still has its time limit to run out
            await h.advance(send_config.followups.delivery_timeout_s)
        assert [key for key, _ in confirmer.asked] == [fid]
        assert recorder.calls == []  # it was there: not posted again
        [f] = h.followups()
        assert (f.state, f.attempts) == ("sent", 1)
        assert h.rows("SELECT count(*) FROM messages WHERE sender = 'auto'") == [(1,)]
    finally:
        await h.stop()


@pytest.mark.parametrize("held", [True, False])
async def test_followups_restart_too_late_to_send_asks_what_the_platform_holds(
    send_config: Config, db_path: Path, clock: FakeClock, held: bool
) -> None:
    # A delivery found pending after more than late_grace_s was recorded `missed` without asking the platform:
    # when its attempt had arrived, the record said the customer got nothing and no `auto` message was logged.
    h, fid = await interrupted(send_config, db_path, clock)
    clock.advance(send_config.followups.late_grace_s + 1)
    recorder, confirmer = Recorder(), Confirmer([held])
    h.extra_plugins = [recorder, confirmer]
    await h.start()
    try:
        await h.advance(send_config.followups.delivery_timeout_s)
        assert [key for key, _ in confirmer.asked] == [fid]
        assert recorder.calls == []  # too late to send either way
        [f] = h.followups()
        assert f.state == ("sent" if held else "missed")
        assert h.rows("SELECT count(*) FROM messages WHERE sender = 'auto'") == [(1 if held else 0,)]
    finally:
        await h.stop()


async def test_followups_platform_that_cannot_be_asked_gets_nothing_until_it_answers(
    send_config: Config, db_path: Path, clock: FakeClock
) -> None:
    h, fid = await interrupted(send_config, db_path, clock)
    recorder, confirmer = Recorder(), Confirmer([RuntimeError("HTTP 502 listing messages"), False])
    h.extra_plugins = [recorder, confirmer]
    await h.start()
    try:
        if restart_gap(send_config, db_path) == 0:
            await h.advance(send_config.followups.delivery_timeout_s)  # the interrupted attempt's time limit
        assert len(confirmer.asked) == 1 and recorder.calls == []  # could not ask: nothing sent
        [f] = h.followups()
        assert f.state == "pending" and "could not confirm" in english(f.last_error or "")
        await h.advance(send_config.followups.backoff_max_s)  # asked again: not there, so sent once
        assert len(confirmer.asked) == 2
        assert [c["key"] for c in recorder.calls] == [fid]
        [f] = h.followups()
        assert f.state == "sent"
    finally:
        await h.stop()


class Stuck:
    """A deliver_message plugin whose attempts never answer (a platform hanging until the service is killed)."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    @hookimpl
    async def deliver_message(self, idempotency_key: str) -> DeliveryResult:
        self.keys.append(idempotency_key)
        await asyncio.Event().wait()
        raise AssertionError("never answered")


async def test_followups_restart_does_not_resend_once_the_customer_wrote_during_the_attempt(
    send_config: Config, db_path: Path, clock: FakeClock
) -> None:
    # Found: the customer's message, logged while an attempt hung, could only cancel the delivery once the
    # attempt failed; the service was stopped first, and the restart resumed the delivery and sent the closing
    # to a customer who had written since.
    stuck = Stuck()
    h = await Harness(send_config, db_path, clock, plugins=[stuck]).start()
    await h.agent_says()
    clock.advance(IDLE)
    await eventually(lambda: stuck.keys)
    [reply] = [parse_event(make_event(text="不用了谢谢", ts=clock.now_ms()), max_text_chars=5000)]
    await h.ingestor.ingest([reply])
    await h.stop()
    recorder = Recorder()
    h.extra_plugins = [recorder]
    clock.advance(restart_gap(send_config, db_path))
    await h.start()
    try:
        await h.advance(send_config.followups.delivery_timeout_s)  # the interrupted attempt's time limit
        assert recorder.calls == []
        [f] = h.followups()
        assert (f.id, f.state, f.last_error) == (stuck.keys[0], "cancelled", CUSTOMER_WROTE)
    finally:
        await h.stop()


@pytest.mark.parametrize(
    ("shop", "expected"),
    [("chatwoot-3", "亲亲，感谢您的咨询，我是张美~"), ("shop1", "买家小王亲，感谢您的咨询，我是张美 #15~")],
)
async def test_followups_name_the_agent_and_customer_as_the_buyer_reads_them(
    send_config: Config, db_path: Path, clock: FakeClock, shop: str, expected: str
) -> None:
    # Found: a Chatwoot shop's closing greeted the buyer with the contact id and named the agent with the log's
    # suffix telling two users apart (4321亲，…我是张美 #15); the contact unnamed, it takes the library's neutral 亲.
    # Elsewhere the names are the platform's own.
    library = Library.build(
        [("f.toml", {"phrase": [{"id": "f.n", "intent": "followup", "code": "f1", "text": "{{ customer }}亲，感谢您的咨询，我是{{ agent }}~"}]})],
        extra_variables={"shop": "测试店"},
    )  # fmt: skip
    recorder = Recorder()
    h = await Harness(send_config, db_path, clock, plugins=[recorder], phrases=library).start()
    try:
        customer = "4321" if shop.startswith("chatwoot") else "买家小王"
        await h.send(sender="agent", agent="张美 #15", text="不客气亲", shop=shop, customer=customer)
        await h.advance(IDLE)
        assert [c["text"] for c in recorder.calls] == [expected]
        [f] = h.followups()
        assert (f.customer, f.agent) == (customer, "张美 #15")  # the log keeps its ids
    finally:
        await h.stop()
