"""Broadcast hooks reach the plugins that have them, and cost nothing on the event path when none has."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime
from typing import Any

import pytest

from assistant.config import Config
from assistant.events import parse_event
from assistant.hookspecs import DeliveryResult, hookimpl, reads_only, unshared
from assistant.plugins import Plugins, build_plugin_manager
from assistant.store import Annotation, Written
from tests.helpers import make_event


class Heard:
    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []

    @hookimpl
    def on_event(self, event: Any, seq: int) -> None:
        self.events.append((event.id, seq))


def written(seq: int) -> Written:
    return Written(parse_event(make_event(id=f"e{seq}"), max_text_chars=100), seq, False)


async def test_every_logged_event_reaches_a_plugin_with_on_event(config: Config) -> None:
    pm = build_plugin_manager(config)
    heard = Heard()
    pm.register(heard)
    plugins = Plugins(config, pm)
    try:
        plugins.on_written(written(1))
        plugins.on_written(Written(written(2).event, None, True))  # a duplicate: not logged again
        plugins.on_written(written(3))
        assert heard.events == [("e1", 1), ("e3", 3)]
    finally:
        await plugins.stop()


async def test_without_a_plugin_for_a_hook_pluggy_is_not_called(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    pm = build_plugin_manager(config)
    plugins = Plugins(config, pm)

    calls: list[object] = []

    def called(*args: object, **kwargs: object) -> list[object]:
        calls.append(kwargs)  # (the host logs a hook's failure and goes on: recorded, not raised)
        return []

    monkeypatch.setattr(type(pm.hook.on_event), "__call__", called)
    try:
        plugins.on_written(written(1))
    finally:
        monkeypatch.undo()
        await plugins.stop()
    assert calls == []


async def test_the_services_own_listeners_hear_an_event_before_any_plugin_and_a_failing_one_stops_none(
    config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    pm = build_plugin_manager(config)
    order: list[str] = []

    class Plugin:
        @hookimpl
        def on_event(self, event: Any, seq: int) -> None:
            order.append(f"plugin {event.id}")

    def failing(event: Any, seq: int) -> None:
        order.append(f"own {event.id}")
        raise RuntimeError("a defect")

    pm.register(Plugin())
    plugins = Plugins(config, pm)
    plugins.event_listeners.extend([failing, lambda event, seq: order.append(f"second {seq}")])
    try:
        plugins.on_written(written(1))
    finally:
        await plugins.stop()
    assert order == ["own e1", "second 1", "plugin e1"]
    assert "on_event failed" in caplog.text


def test_a_plugins_copy_is_equal_unshared_and_keeps_what_json_would_change() -> None:
    suggestions: list[dict[str, Any]] = [
        {"text": "亲，在的", "score": 0.9312, "evidence": ["在吗"], "facts": [{"name": "尺码", "value": "M"}]}
    ]
    copied = unshared(suggestions)
    assert copied == suggestions
    assert copied[0] is not suggestions[0] and copied[0]["evidence"] is not suggestions[0]["evidence"]
    copied[0]["facts"][0]["value"] = "L"
    assert suggestions[0]["facts"][0]["value"] == "M"
    odd: dict[str, Any] = {"pair": (1, 2), "nan": float("nan"), "when": datetime(2026, 12, 6, tzinfo=UTC)}
    kept = unshared(odd)  # JSON would make a list, a null and a string of them: deep-copied instead
    assert isinstance(kept["pair"], tuple) and math.isnan(kept["nan"]) and kept["when"] == odd["when"]


async def test_a_failing_plugin_is_named_and_keeps_no_other_from_hearing_the_event(
    config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    # Found: a plugin raising in on_event was logged as "a on_event hook failed" (which plugin, only its
    # traceback said), and pluggy's call stopped there: the plugins after it never heard of the event.
    pm = build_plugin_manager(config)
    heard = Heard()

    class Broken:
        @hookimpl
        def on_event(self, event: Any, seq: int) -> None:
            raise KeyError("url")

    pm.register(heard, name="hooks.counter")
    pm.register(Broken(), name="hooks.broken")  # registered last: pluggy calls it first
    plugins = Plugins(config, pm)
    try:
        plugins.on_written(written(1))
    finally:
        await plugins.stop()
    assert heard.events == [("e1", 1)]
    assert "on_event of hooks.broken failed" in caplog.text


def delivery_values() -> dict[str, Any]:
    conversation = {"shop": "s", "conversation": "c", "customer": "u", "agent": "a"}
    return {"conversation": conversation, "text": "t", "idempotency_key": "k", "kind": "followup"}


async def test_a_delivery_of_the_wrong_type_fails_naming_the_plugin(
    config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    # Found: a deliver_message returning True was recorded "deliver_message returned bool, not a DeliveryResult":
    # with several plugins enabled, nothing said whose hook it was.
    pm = build_plugin_manager(config)

    class Sloppy:
        @hookimpl
        def deliver_message(self, text: str) -> bool:
            return True

    pm.register(Sloppy(), name="hooks.sloppy")
    plugins = Plugins(config, pm)
    try:
        result = await plugins.deliver(**delivery_values())
    finally:
        await plugins.stop()
    assert result == DeliveryResult.reject("deliver_message of hooks.sloppy returned bool, not a DeliveryResult")
    assert "deliver_message of hooks.sloppy returned bool" in caplog.text


async def test_a_delivery_that_raises_is_noted_with_the_hook_and_the_plugin(config: Config) -> None:
    pm = build_plugin_manager(config)

    class Broken:
        @hookimpl
        async def deliver_message(self, text: str) -> DeliveryResult:
            raise KeyError("url")

    pm.register(Broken(), name="hooks.broken")
    plugins = Plugins(config, pm)
    try:
        with pytest.raises(KeyError) as raised:
            await plugins.deliver(**delivery_values())
    finally:
        await plugins.stop()
    assert raised.value.__notes__ == ["raised by deliver_message of hooks.broken"]  # the log's traceback shows it


async def test_a_confirmation_of_the_wrong_type_is_named_and_the_next_plugin_asked(
    config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    # Found: a confirm_delivery answering "yes" stopped the plugins after it from being asked and counted as
    # "cannot tell" with nothing in the log: the follow-up was sent again though the next plugin knew better.
    pm = build_plugin_manager(config)

    class Knows:
        @hookimpl
        def confirm_delivery(self, idempotency_key: str) -> bool:
            return True

    class Sloppy:
        @hookimpl
        def confirm_delivery(self, idempotency_key: str) -> str:
            return "yes"

    pm.register(Knows(), name="hooks.knows")
    pm.register(Sloppy(), name="hooks.sloppy")  # registered last: asked first
    plugins = Plugins(config, pm)
    try:
        held = await plugins.confirm(**delivery_values(), since_ms=0)
    finally:
        await plugins.stop()
    assert held is True
    assert "confirm_delivery of hooks.sloppy returned str" in caplog.text


async def test_an_on_shutdown_that_raises_keeps_the_others_and_the_stop(
    config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    # Found: pluggy's call stopped at the first on_shutdown that raised: the plugins after it never heard of the
    # stop, the outbound session was left open, and the error reached the service's stop unnamed.
    pm = build_plugin_manager(config)
    stopped: list[str] = []

    class Tidy:
        @hookimpl
        async def on_shutdown(self) -> None:
            stopped.append("tidy")

    class Broken:
        @hookimpl
        def on_shutdown(self) -> None:
            raise RuntimeError("flush failed")

    pm.register(Tidy(), name="hooks.tidy")
    pm.register(Broken(), name="hooks.broken")  # registered last: called first
    plugins = Plugins(config, pm)
    session = plugins.http.session()
    await plugins.stop()
    assert stopped == ["tidy"]
    assert session.closed
    assert "on_shutdown of hooks.broken failed" in caplog.text


async def test_a_slow_plain_notification_is_named_once_with_the_time_it_held_the_loop(
    config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    # Found: a plain on_event posting to a slow server held the event loop a second per event, and nothing in the
    # log said which plugin the service was waiting for.
    pm = build_plugin_manager(config)
    pm.register(Heard(), name="hooks.slow")
    plugins = Plugins(config, pm)
    readings = iter([10.0, 11.5, 20.0, 22.0])  # each call: its start, its end (an injected timer: no sleeping)
    plugins.timer = lambda: next(readings)
    try:
        plugins.on_written(written(1))
        plugins.on_written(written(2))
    finally:
        await plugins.stop()
    slow = [r.getMessage() for r in caplog.records if "held the event loop" in r.getMessage()]
    assert len(slow) == 1 and slow[0].startswith(
        "on_event of hooks.slow (tests/test_plugins_dispatch.py, line 25) held the event loop 1.50 s"
    )


def suggested(seq: int) -> Written:
    """A customer message stamped now, with two suggestions and a customer type."""
    event = parse_event(make_event(id=f"q{seq}", ts=datetime.now(UTC).isoformat()), max_text_chars=100)
    suggestions = ({"code": "fh1", "text": "亲，48小时内发货", "confidence": 0.9}, {"code": "kd1", "text": "默认中通"})
    return Written(event, seq, False, Annotation(suggestions=suggestions, customer_type_detail={"type": "newcomer"}))


async def test_on_suggestions_gets_the_services_own_values_only_while_every_plugin_reads_only(config: Config) -> None:
    # Every customer message's suggestions went through a JSON round trip for the Chatwoot hook, which only reads.
    heard: list[tuple[str, list[dict[str, Any]], Any]] = []

    class Reader:
        @hookimpl
        @reads_only
        def on_suggestions(self, suggestions: list[dict[str, Any]], customer_type: Any) -> None:
            heard.append(("reader", suggestions, customer_type))

    class Meddler:
        @hookimpl
        def on_suggestions(self, suggestions: list[dict[str, Any]], customer_type: Any) -> None:
            heard.append(("meddler", suggestions, customer_type))

    pm = build_plugin_manager(config)
    pm.register(Reader(), name="hooks.reader")
    plugins = Plugins(config, pm)
    try:
        first = suggested(1)
        assert first.annotation is not None
        plugins.on_written(first)
        [(_, own, detail)] = heard
        assert own[0] is first.annotation.suggestions[0] and detail is first.annotation.customer_type_detail
        plugins.register(Meddler(), name="hooks.meddler")  # one that may change them: both get a copy now
        second = suggested(2)
        assert second.annotation is not None
        plugins.on_written(second)
        assert [name for name, *_ in heard[1:]] == ["meddler", "reader"]
        for _, copied, detail in heard[1:]:
            assert copied == list(second.annotation.suggestions) and copied[0] is not second.annotation.suggestions[0]
            assert detail == {"type": "newcomer"} and detail is not second.annotation.customer_type_detail
    finally:
        await plugins.stop()


async def test_the_chatwoot_hook_without_notes_costs_a_customer_message_no_task(config: Config) -> None:
    # Its `on_suggestions` was an `async def` returning at once with notes off (as shipped): a task per message.
    chatwoot_config = dataclasses.replace(config, hooks=dataclasses.replace(config.hooks, enabled=["chatwoot"]))
    plugins = Plugins(chatwoot_config)
    message = suggested(1)
    try:
        plugins.on_written(dataclasses.replace(message, event=dataclasses.replace(message.event, shop="chatwoot-3")))
        assert plugins.implementers("on_suggestions") == ["hooks.chatwoot"]
        assert plugins.settled  # nothing spawned
    finally:
        await plugins.stop()
