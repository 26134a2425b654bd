"""Hooks as a shop's engineer writes them from docs/hooks.md (a phrase filter by the buyer's VIP level, a follow-up
text rewriter, an event enricher), and each mistake they make: told with the hook's file and function, at start when
it can be seen then, at run time without losing the event or holding other conversations up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from assistant.config import Config, ConfigError
from assistant.hookspecs import Followup
from assistant.plugins import Plugins, build_plugin_manager
from assistant.store import now_ms
from tests.helpers import body_of, make_app, make_event, with_hooks
from tests.test_plugins_dispatch import written

# The three hooks, written as the docs' table reads at first sight: `on_suggestions` gets the suggestions, `on_followup`
# the follow-up, `on_event` the event, and each returns what it made of them.
VIP_FILTER = """\
from assistant.hookspecs import hookimpl

VIP_LEVELS = {"买家甲": 3}


@hookimpl
def on_suggestions(customer, suggestions):
    if VIP_LEVELS.get(customer, 0) >= 2:
        return [s for s in suggestions if s["intent"] != "price_bargain"]
    return suggestions
"""
REWRITER = """\
from assistant.hookspecs import hookimpl


@hookimpl
async def on_followup(followup):
    return followup.text.replace("亲", "尊敬的会员")
"""
ENRICHER = """\
from assistant.hookspecs import hookimpl


@hookimpl
def on_event(event, seq):
    return {"vip": {"买家甲": 3}[event.customer]}
"""


def said(caplog: pytest.LogCaptureFixture, words: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if words in r.getMessage()]


def test_hooks_a_name_no_hook_has_is_refused_with_its_file_line_and_the_hook_meant(
    config: Config, hook_dir: Path
) -> None:
    # Found: `[hooks] enabled：hooks.typo 定义了 on_suggestion，它不是钩子`: neither where nor what was meant.
    (hook_dir / "typo.py").write_text(VIP_FILTER.replace("def on_suggestions", "def on_suggestion"), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        build_plugin_manager(with_hooks(config, "typo"))
    assert str(info.value) == (
        f"[hooks] enabled：hooks.typo 定义了 on_suggestion（{hook_dir / 'typo.py'} 第 7 行；是不是想写 on_suggestions？），"
        "它不是钩子（钩子列表见 docs/hooks.md）"
    )


def test_hooks_a_syntax_error_or_a_missing_library_is_refused_with_the_file_and_line(
    config: Config, hook_dir: Path
) -> None:
    # Found: a syntax error named the file without its folder (`(syntax.py, line 4)`); a library not installed named
    # neither the hook's file nor the line importing it.
    (hook_dir / "broken.py").write_text(VIP_FILTER.replace("(customer, suggestions)", "(customer, suggestions"))
    (hook_dir / "needs_crm.py").write_text("import shop_crm_client\n\n" + VIP_FILTER, encoding="utf-8")
    for name, error, line in (
        ("broken", "SyntaxError: '(' was never closed", 7),
        ("needs_crm", "ModuleNotFoundError: No module named 'shop_crm_client'", 1),
    ):
        with pytest.raises(ConfigError) as info:
            build_plugin_manager(with_hooks(config, name))
        assert str(info.value) == f"[hooks] enabled：'{name}' 无法导入：{error}（{hook_dir / name}.py 第 {line} 行）"


async def test_hooks_a_notification_returning_a_value_is_told_once_that_nothing_reads_it(
    aiohttp_client: Any, config: Config, hook_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Found: the filter's list, the rewritten text and the enriched event went nowhere, and nothing said so: the
    # engineer saw the VIP buyer still offered the 议价 answer, with a clean log.
    for name, text in (("vip_filter", VIP_FILTER), ("rewriter", REWRITER), ("enricher", ENRICHER)):
        (hook_dir / f"{name}.py").write_text(text, encoding="utf-8")
    client = await aiohttp_client(make_app(with_hooks(config, "vip_filter", "rewriter", "enricher")))
    for conversation in ("c1", "c2"):
        body = make_event(
            id=f"m-{conversation}", conversation=conversation, customer="买家甲", text="能便宜点吗", ts=now_ms()
        )
        resp = await client.post("/v1/events", data=body_of(body))
        assert resp.status == 200
        assert any(
            s["intent"] == "price_bargain" for s in (await resp.json())["suggestions"]
        )  # as the library gave them
    plugins = Plugins(with_hooks(config, "rewriter"))
    followup = Followup("f1", "shop1", "c1", "买家甲", "a1", "followup", None, "亲，还在吗", "send", "pending", 0, None, 1, 0, 0, 0)  # fmt: skip
    plugins.on_followup(followup)
    await plugins.tasks.join()  # an `async def` one: its task
    await plugins.stop()
    lines = said(caplog, "a notification's result is ignored")
    assert sorted(lines) == [
        f"on_event of hooks.enricher ({hook_dir / 'enricher.py'}, line 5) returned dict: a notification's result is "
        "ignored, it changes nothing the service does (docs/hooks.md, what a hook cannot change); said once",
        f"on_followup of hooks.rewriter ({hook_dir / 'rewriter.py'}, line 5) returned str: a notification's result is "
        "ignored, it changes nothing the service does (docs/hooks.md, what a hook cannot change); said once",
        f"on_suggestions of hooks.vip_filter ({hook_dir / 'vip_filter.py'}, line 7) returned list: a notification's "
        "result is ignored, it changes nothing the service does (docs/hooks.md, what a hook cannot change); said once",
    ]


@pytest.mark.parametrize("define", ["def", "async def"])
async def test_hooks_a_notification_that_raises_is_logged_with_its_file_and_line_and_the_event_kept(
    aiohttp_client: Any, config: Config, hook_dir: Path, caplog: pytest.LogCaptureFixture, define: str
) -> None:
    # Found: the line said `on_event of hooks.enricher failed` (an `async def` one: `task on_event of hooks.enricher
    # failed, its work is not done`), the hook's file and line only at the end of the traceback.
    (hook_dir / "enricher.py").write_text(ENRICHER.replace("def on_event", f"{define} on_event"), encoding="utf-8")
    plugins = Plugins(with_hooks(config, "enricher"))
    plugins.on_written(written(1))  # its customer is not in the table: KeyError
    await plugins.tasks.join()  # an `async def` one: its task
    await plugins.stop()
    assert said(caplog, "of hooks.enricher") == [
        f"on_event of hooks.enricher failed ({hook_dir / 'enricher.py'}, line 6): KeyError: 'cust1'"
    ]
    client = await aiohttp_client(make_app(with_hooks(config, "enricher")))
    for conversation in ("c1", "c2"):  # logged and answered all the same
        resp = await client.post("/v1/events", data=body_of(make_event(id=f"m-{conversation}", conversation=conversation)))  # fmt: skip
        assert resp.status == 200 and (await resp.json())["duplicate"] is False
