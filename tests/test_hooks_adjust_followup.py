"""`adjust_followup`: a shop's plugin rewrites a follow-up's text (the buyer's name) or keeps it from the buyer
(`DoNotSend`: no 催付 to a buyer who asked not to be chased); two plugins chain; the text decided is the one stored and
sent, also after a restart, decided once; every mistake leaves the follow-up as the library made it, told in the log
with the plugin, the hook, its file and line."""

from __future__ import annotations

import dataclasses
import logging
import sys
from pathlib import Path

import pytest

from assistant import store
from assistant.clock import FakeClock
from assistant.config import Config
from assistant.followups.reasons import english, shown
from assistant.hookspecs import DeliveryResult
from tests.followup_harness import T0, Harness, Recorder
from tests.helpers import BACKENDS, with_hooks

IDLE = 300  # the send_config fixture's idle_seconds
LIBRARY_TEXT = "感谢光临本店，欢迎收藏店铺~"  # the tiny library's closing for a newcomer

# Registered first, asked last: the buyer's name before what the other plugin left.
NAMER = """\
from assistant.hookspecs import hookimpl

SEEN = []


@hookimpl
def adjust_followup(followup, conversation):
    SEEN.append(followup.text)
    return conversation["customer"] + "，" + followup.text
"""
# Registered second, asked first: a greeting of its own, a new one at each call (a second call would show).
GREETER = """\
from assistant.hookspecs import DoNotSend, hookimpl

CALLS = []


@hookimpl
def adjust_followup(followup):
    CALLS.append(followup.id)
    if followup.customer == "别催我" and followup.kind == "payment_reminder":
        return DoNotSend("买家要求不要催付")
    return followup.text.replace("感谢光临", "感谢第%d次光临" % len(CALLS))
"""


async def test_adjust_followup_text_is_chained_stored_and_sent_again_after_a_restart_unchanged(
    send_config: Config, db_path: store.Location, hook_dir: Path
) -> None:
    (hook_dir / "namer.py").write_text(NAMER, encoding="utf-8")
    (hook_dir / "greeter.py").write_text(GREETER, encoding="utf-8")
    recorder = Recorder([DeliveryResult.retry("HTTP 503")])  # the first attempt fails: pending over the restart
    clock = FakeClock(T0)
    h = await Harness(with_hooks(send_config, "namer", "greeter"), db_path, clock, plugins=[recorder]).start()
    try:
        await h.agent_says(customer="小鹿")
        await h.advance(IDLE)
        [f] = h.followups()
        assert (f.state, f.text) == ("pending", "小鹿，感谢第1次光临本店，欢迎收藏店铺~")
        assert sys.modules["hooks.namer"].SEEN == ["感谢第1次光临本店，欢迎收藏店铺~"]  # the greeter's text
        h = await h.restart()
        await h.advance(h.config.followups.backoff_max_s)
        [f] = h.followups()
        assert f.state == "sent"
        assert [c["text"] for c in recorder.calls] == [f.text, f.text]  # the first attempt's text, again
        assert sys.modules["hooks.greeter"].CALLS == [f.id]  # decided once
    finally:
        await h.stop()


@BACKENDS
async def test_adjust_followup_do_not_send_is_recorded_cancelled_with_the_plugins_words(
    send_config: Config, db_path: store.Location, hook_dir: Path
) -> None:
    (hook_dir / "greeter.py").write_text(GREETER, encoding="utf-8")
    recorder = Recorder()
    h = await Harness(with_hooks(send_config, "greeter"), db_path, FakeClock(T0), plugins=[recorder]).start()
    try:
        await h.send("order_created", order="o9", amount=99.5, customer="别催我")
        await h.agent_says(customer="别催我")
        await h.advance(IDLE)
        [f] = h.followups()
        assert (f.kind, f.state) == ("payment_reminder", "cancelled")
        assert recorder.calls == []
        assert f.last_error is not None
        assert shown(f.last_error) == "hooks.greeter 的 adjust_followup 决定不发给买家：买家要求不要催付"
        assert english(f.last_error) == "kept from the buyer by adjust_followup of hooks.greeter: 买家要求不要催付"
    finally:
        await h.stop()


MISTAKES = {
    "raises": ("    raise KeyError('vip')\n", "raised KeyError: 'vip'", 6),
    "a_list": ("    return [followup.text]\n", "returned list, not a text, DoNotSend(reason) or None", 5),
    "empty": ("    return '  '\n", "returned an empty text (return DoNotSend(reason) to keep it from the buyer)", 5),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
async def test_adjust_followup_mistake_sends_the_librarys_text_and_names_the_plugin(
    send_config: Config, db_path: store.Location, hook_dir: Path, caplog: pytest.LogCaptureFixture, mistake: str
) -> None:
    body, problem, line = MISTAKES[mistake]
    source = "from assistant.hookspecs import hookimpl\n\n\n@hookimpl\ndef adjust_followup(followup):\n" + body
    (hook_dir / "broken.py").write_text(source, encoding="utf-8")
    recorder = Recorder()
    h = await Harness(with_hooks(send_config, "broken"), db_path, FakeClock(T0), plugins=[recorder]).start()
    caplog.set_level(logging.ERROR, logger="assistant.plugins")
    try:
        await h.agent_says()
        await h.advance(IDLE)
        [f] = h.followups()
        assert (f.state, f.text) == ("sent", LIBRARY_TEXT)
        assert [c["text"] for c in recorder.calls] == [LIBRARY_TEXT]
        [said] = [r.getMessage() for r in caplog.records if "adjust_followup of hooks.broken" in r.getMessage()]
        assert said.startswith(
            f"adjust_followup of hooks.broken ({hook_dir / 'broken.py'}, line {line}) {problem}: the follow-up keeps"
            " the text it had before it"
        )
    finally:
        await h.stop()


async def test_adjust_followup_slow_is_named_with_its_time(
    send_config: Config, db_path: store.Location, hook_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (hook_dir / "namer.py").write_text(NAMER, encoding="utf-8")
    h = await Harness(with_hooks(send_config, "namer"), db_path, FakeClock(T0), plugins=[Recorder()]).start()
    ticks = iter(range(1000))
    h.plugins.timer = lambda: next(ticks) * 0.5  # each call measured as 0.5 s
    caplog.set_level(logging.ERROR, logger="assistant.plugins")
    try:
        await h.agent_says()
        await h.advance(IDLE)
        [f] = h.followups()
        assert f.text == "cust1，" + LIBRARY_TEXT  # slow, but its text is used
        [said] = [r.getMessage() for r in caplog.records if "adjust_followup of hooks.namer" in r.getMessage()]
        assert f"({hook_dir / 'namer.py'}, line 7) took 0.50 s" in said
    finally:
        await h.stop()


async def test_adjust_followup_is_not_asked_again_about_one_already_recorded(
    send_config: Config, db_path: store.Location, hook_dir: Path
) -> None:
    # A timer firing again after a crash makes the same follow-up (its id) again: the store keeps the first one, and
    # the plugin, asked again, would have been told of a follow-up that is not new (a counter of chased buyers).
    (hook_dir / "greeter.py").write_text(GREETER, encoding="utf-8")
    h = await Harness(with_hooks(send_config, "greeter"), db_path, FakeClock(T0), plugins=[Recorder()]).start()
    try:
        await h.agent_says()
        await h.advance(IDLE)
        [f] = h.followups()
        again = dataclasses.replace(f, state="pending", text=LIBRARY_TEXT)
        made = await h.writer.submit(lambda conn: h.service.adjuster.adjusted(conn, again))
        assert made == again  # what the store holds stands: insert_followup returns it
        assert sys.modules["hooks.greeter"].CALLS == [f.id]
    finally:
        await h.stop()
