"""The plugin manager: loading hook modules by name, rejecting bad ones, and the documented example."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from assistant import hookspecs
from assistant.config import Config, ConfigError, HooksConfig, load_config
from assistant.events import parse_event
from assistant.hookspecs import DeliveryResult, hookimpl
from assistant.outbound import Outbound
from assistant.plugins import Plugins, build_plugin_manager, first_result, implementers
from assistant.web.appkeys import STARTUP
from assistant.web.starting import StartStopped
from tests.followup_harness import Receiver
from tests.helpers import ROOT, body_of, eventually, make_app, make_event, with_hooks

DOC = ROOT / "docs" / "hooks.md"


def write_config(directory: Path, text: str) -> Path:
    path = directory / "hooks-config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_plugins_none_enabled_has_only_specs(config: Config) -> None:
    pm = build_plugin_manager(config)
    assert implementers(pm, "deliver_message") == []


def test_plugins_unknown_name_is_a_config_error_naming_it(config: Config) -> None:
    with pytest.raises(
        ConfigError, match=r"\[hooks\] enabled：未知钩子 'webhook_outt'（没有模块 hooks/webhook_outt.py）"
    ):
        build_plugin_manager(with_hooks(config, "webhook_outt"))


def test_plugins_bad_name_is_a_config_error(config: Config) -> None:
    with pytest.raises(ConfigError, match="不是钩子模块名"):
        build_plugin_manager(with_hooks(config, "../etc"))


def test_plugins_listed_twice_is_a_config_error(config: Config) -> None:
    with pytest.raises(ConfigError, match="列了两次"):
        build_plugin_manager(with_hooks(config, "webhook_out", "webhook_out"))


def test_plugins_unknown_hook_function_is_a_config_error(config: Config, hook_dir: Path) -> None:
    (hook_dir / "typo.py").write_text(
        "from assistant.hookspecs import hookimpl\n\n@hookimpl\ndef on_evnt(event):\n    pass\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="typo"):
        build_plugin_manager(with_hooks(config, "typo"))


def test_plugins_wrong_argument_is_a_config_error(config: Config, hook_dir: Path) -> None:
    (hook_dir / "badargs.py").write_text(
        "from assistant.hookspecs import hookimpl\n\n@hookimpl\ndef on_event(evt):\n    pass\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="badargs"):
        build_plugin_manager(with_hooks(config, "badargs"))


def test_plugins_module_import_error_is_one_line_naming_it(config: Config, hook_dir: Path) -> None:
    (hook_dir / "needs_lib.py").write_text("import no_such_library_anywhere\n", encoding="utf-8")
    (hook_dir / "boom.py").write_text("raise RuntimeError('not configured')\n", encoding="utf-8")
    with pytest.raises(
        ConfigError, match=r"^\[hooks\] enabled：'needs_lib' 无法导入：.*no_such_library_anywhere"
    ) as info:
        build_plugin_manager(with_hooks(config, "needs_lib"))
    assert isinstance(info.value.__cause__, ModuleNotFoundError)  # not hidden: the cause is kept for the log
    with pytest.raises(ConfigError, match=r"'boom' 无法导入：RuntimeError: not configured"):
        build_plugin_manager(with_hooks(config, "boom"))


def test_plugins_wrong_argument_is_one_line_naming_it_and_the_hooks_arguments(config: Config, hook_dir: Path) -> None:
    (hook_dir / "badargs2.py").write_text(
        "from assistant.hookspecs import hookimpl\n\n@hookimpl\ndef on_event(config, evnt):\n    pass\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        build_plugin_manager(with_hooks(config, "badargs2"))
    assert str(info.value) == (
        "[hooks] enabled：'badargs2'：on_event 的参数 evnt 不是这个钩子传的（它的参数：config、http、event、seq）"
    )


def test_plugins_module_marking_no_hook_is_a_config_error(config: Config, hook_dir: Path) -> None:
    (hook_dir / "unmarked.py").write_text("def on_event(event):\n    pass\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^\[hooks\] enabled：'unmarked' 没有实现任何钩子：.*@hookimpl"):
        build_plugin_manager(with_hooks(config, "unmarked"))


@pytest.mark.parametrize("define", ["def", "async def"])
async def test_plugins_startup_error_is_one_line_naming_the_plugin_and_line(
    config: Config, hook_dir: Path, define: str
) -> None:
    (hook_dir / "needs_url.py").write_text(
        "from assistant.hookspecs import hookimpl\n\n\n"
        f"@hookimpl\n{define} on_startup(config):\n"
        "    return config.hooks.settings['needs_url']['url']\n",
        encoding="utf-8",
    )
    plugins = Plugins(with_hooks(config, "needs_url"))
    with pytest.raises(ConfigError) as info:
        await plugins.start()
    await plugins.stop()
    assert str(info.value) == (
        f"[hooks] enabled：'needs_url'：on_startup 出错：KeyError: 'needs_url'（{hook_dir / 'needs_url.py'} 第 6 行）"
    )
    assert isinstance(info.value.__cause__, KeyError)  # kept for the debug log


async def test_plugins_startup_still_running_is_named_in_the_log(
    config: Config, hook_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A hook awaiting a peer that never answers held the start with nothing naming it (/readyz named the log's step).
    (hook_dir / "hangs.py").write_text(
        "import asyncio\nfrom assistant.hookspecs import hookimpl\n\nrelease = asyncio.Event()\n\n\n"
        "@hookimpl\nasync def on_startup():\n    await release.wait()\n",
        encoding="utf-8",
    )
    plugins = Plugins(with_hooks(config, "hangs"))
    plugins.slow_startup_s = 0.05
    starting = asyncio.ensure_future(plugins.start())
    line = "on_startup of hooks.hangs has not returned after 0.05 s: the start waits for it"
    await eventually(lambda: line in caplog.messages)
    sys.modules["hooks.hangs"].release.set()
    await starting
    await plugins.stop()


async def test_a_stop_during_a_hooks_on_startup_that_never_returns_ends_the_start(
    config: Config, hook_dir: Path
) -> None:
    # Found: a SIGTERM during the start waited for such an on_startup as long as it hung (the process was still
    # running 15 s after it), and /readyz named the step before it. The stop cancels it; every plugin hears
    # on_shutdown, as at any stop.
    (hook_dir / "hangs2.py").write_text(
        "import asyncio\nfrom assistant.hookspecs import hookimpl\n\nshut = []\n\n\n"
        "@hookimpl\nasync def on_startup():\n    await asyncio.Event().wait()\n\n\n"
        "@hookimpl\ndef on_shutdown():\n    shut.append(True)\n",
        encoding="utf-8",
    )
    app = make_app(with_hooks(config, "hangs2"))
    runner = web.AppRunner(app)
    starting = asyncio.ensure_future(runner.setup())
    try:
        await eventually(lambda: app[STARTUP].stage == "starting the hooks (on_startup)")
        app[STARTUP].stop()
        await eventually(starting.done)
        with pytest.raises(StartStopped):
            starting.result()
        assert sys.modules["hooks.hangs2"].shut == [True]
    finally:
        await runner.cleanup()


def test_plugins_unknown_hook_function_is_named_in_the_interface_language(config: Config, hook_dir: Path) -> None:
    (hook_dir / "typo2.py").write_text(
        "from assistant.hookspecs import hookimpl\n\n@hookimpl\ndef on_suggestion(event):\n    pass\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"^\[hooks\] enabled：hooks.typo2 定义了 on_suggestion（.*），它不是钩子"):
        build_plugin_manager(with_hooks(config, "typo2"))


async def test_first_result_lets_an_async_plugin_decline(config: Config) -> None:
    calls: list[str] = []

    class Declines:
        @hookimpl(tryfirst=True)
        async def deliver_message(self, conversation: dict[str, Any]) -> None:
            calls.append("declines")
            return None

    class Delivers:
        @hookimpl
        def deliver_message(self, text: str) -> DeliveryResult:
            calls.append("delivers")
            return DeliveryResult.sent(200)

    class NeverAsked:
        @hookimpl(trylast=True)
        def deliver_message(self) -> DeliveryResult:
            calls.append("never")
            return DeliveryResult.reject("should not be asked")

    pm = build_plugin_manager(config)
    for plugin in (NeverAsked(), Delivers(), Declines()):
        pm.register(plugin)
    kwargs = {
        "config": config,
        "http": Outbound(),
        "conversation": {},
        "text": "t",
        "idempotency_key": "k",
        "kind": "followup",
    }
    assert await first_result(pm.hook.deliver_message, **kwargs) == DeliveryResult.sent(200)
    assert calls == ["declines", "delivers"]


def test_every_hookspec_is_documented() -> None:
    doc = DOC.read_text(encoding="utf-8")
    specs = [name for name in vars(hookspecs) if hasattr(getattr(hookspecs, name), "assistant_spec")]
    assert sorted(specs) == [
        "adjust_followup",
        "adjust_suggestions",
        "confirm_delivery",
        "deliver_message",
        "on_alert",
        "on_event",
        "on_followup",
        "on_shutdown",
        "on_startup",
        "on_suggestions",
    ]
    for name in specs:
        assert f"| `{name}` |" in doc, f"{name} missing from the table in docs/hooks.md"


async def test_a_plugin_changing_what_on_suggestions_gives_changes_nothing_else(
    aiohttp_client: Any, config: Config, hook_dir: Path
) -> None:
    # The hook's arguments were the very dicts of the webhook's answer: a plugin's edit reached the platform.
    (hook_dir / "meddler.py").write_text(
        "from assistant.hookspecs import hookimpl\n\nCALLS = []\n\n\n"
        "@hookimpl\n"
        "def on_suggestions(suggestions, customer_type):\n"
        "    CALLS.append(suggestions[0]['text'])\n"
        "    suggestions[0]['text'] = 'changed by a plugin'\n"
        "    if customer_type:\n"
        "        customer_type['type'] = 'changed'\n",
        encoding="utf-8",
    )
    client = await aiohttp_client(make_app(with_hooks(config, "meddler")))
    resp = await client.post("/v1/events", data=body_of(make_event(text="什么时候发货", ts=_now_iso())))
    body = await resp.json()
    assert sys.modules["hooks.meddler"].CALLS  # the plugin had them
    assert body["suggestions"][0]["text"] != "changed by a plugin"
    assert body["customer_type"]["type"] != "changed"


async def test_an_old_customer_message_logged_now_is_not_handed_to_on_suggestions(
    aiohttp_client: Any, config: Config, hook_dir: Path
) -> None:
    # Connecting to a Chatwoot already running: a `message_updated` of a conversation resolved days ago was
    # logged now, and the Chatwoot hook posted a suggestion note into it, bumping it to the top of the inbox.
    (hook_dir / "noter.py").write_text(
        "from assistant.hookspecs import hookimpl\n\nNOTES = []\n\n\n"
        "@hookimpl\n"
        "def on_suggestions(conversation, suggestions):\n"
        "    NOTES.append(conversation)\n",
        encoding="utf-8",
    )
    client = await aiohttp_client(make_app(with_hooks(config, "noter")))
    now = datetime.now(UTC)
    for conversation, ts in (("days-ago", now - timedelta(days=3)), ("just-now", now - timedelta(seconds=30))):
        event = make_event(conversation=conversation, text="什么时候发货", ts=ts.isoformat())
        resp = await client.post("/v1/events", data=body_of(event))
        assert (await resp.json())["suggestions"]  # the answer and the panel still have them
    assert sys.modules["hooks.noter"].NOTES == ["just-now"]


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


async def test_documented_example_hook_works(config: Config, hook_dir: Path) -> None:
    """The example module of docs/hooks.md, loaded by name, delivers to a real server."""
    [source] = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    [table_toml] = [
        t
        for t in re.findall(r"```toml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
        if "[hooks.shop_gateway]" in t
    ]
    loaded = load_config(write_config(hook_dir, table_toml), env={"SHOP_GATEWAY_TOKEN": "t0ken"})
    assert loaded.hooks.settings["shop_gateway"]["shops"] == ["tmall-flagship"]
    assert loaded.secret("SHOP_GATEWAY_TOKEN") == "t0ken"
    (hook_dir / "shop_gateway.py").write_text(source, encoding="utf-8")
    receiver = await Receiver().start()
    try:
        table = {"url": receiver.url, "shops": ["tmall-flagship"], "token_env": "SHOP_GATEWAY_TOKEN"}
        hooks_config = HooksConfig(enabled=["shop_gateway"], settings={"shop_gateway": table})
        cfg = dataclasses.replace(config, hooks=hooks_config, secrets={"SHOP_GATEWAY_TOKEN": "t0ken"})
        pm = build_plugin_manager(cfg)
        http = Outbound()
        module = sys.modules["hooks.shop_gateway"]
        for r in pm.hook.on_startup(config=cfg, http=http):
            assert r is None
        pm.hook.on_event(config=cfg, http=http, event=parse_event(make_event(), max_text_chars=100), seq=1)
        assert module.event_counts == {"message": 1}
        conversation = {"shop": "tmall-flagship", "conversation": "c1", "customer": "u1", "agent": "a"}
        kwargs = {"config": cfg, "http": http, "text": "亲~", "idempotency_key": "fu-1", "kind": "followup"}
        result = await first_result(pm.hook.deliver_message, conversation=conversation, **kwargs)
        assert result.ok
        other = {**conversation, "shop": "somebody-else"}
        assert await first_result(pm.hook.deliver_message, conversation=other, **kwargs) is None
        with pytest.raises(ConfigError, match="SHOP_GATEWAY_TOKEN"):
            pm.hook.on_startup(config=dataclasses.replace(cfg, secrets={}), http=http)
    finally:
        await http.close()
        await receiver.close()
    [request] = receiver.requests
    assert request["json"] == {"chat": "c1", "to": "u1", "content": "亲~"}
    assert request["headers"]["Idempotency-Key"] == "fu-1"
    assert request["headers"]["Authorization"] == "Bearer t0ken"
