"""The shipped example plugins that change what the service does, as an engineer enables them: `product_first` puts a
shop's phrase first for a product word (through a real server whose messages a matching worker process matches),
`quiet_hours` keeps 催付 from the buyer at night (on the service's clock); each refuses a wrong table at start."""

from __future__ import annotations

import dataclasses
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from assistant import store
from assistant.clock import FakeClock
from assistant.config import Config, ConfigError, HooksConfig, load_config
from assistant.followups.reasons import shown
from assistant.plugins import Plugins
from assistant.web.appkeys import ENGINE
from tests.followup_harness import T0, Harness, Recorder
from tests.helpers import ROOT, body_of, eventually, make_app, make_event

HOUR_S = 3600
IDLE_S = 300  # the send_config fixture's idle_seconds
# The shop's own phrase for its down coats, which the matcher would not put first for a question about washing.
DOWN_PHRASE = (
    '[[phrase]]\nid = "shop.down_coat"\nintent = "product_info"\ncode = "ywf1"\n'
    'text = "亲，这款羽绒服是90%白鸭绒，充绒量足，建议干洗或手洗，不要机洗暴晒哦~"\n'
    'triggers = ["羽绒服的绒是什么绒"]\n'
)


def with_tables(config: Config, **tables: dict[str, Any]) -> Config:
    """`config` with these hooks enabled and their `[hooks.<name>]` tables, as config.toml would give them."""
    return dataclasses.replace(config, hooks=HooksConfig(enabled=list(tables), settings=dict(tables)))


async def post(client: Any, conversation: str, text: str, shop: str = "shop1") -> list[str]:
    event = make_event(conversation=conversation, text=text, shop=shop, ts=datetime.now(UTC).isoformat())
    resp = await client.post("/v1/events", data=body_of(event))
    assert resp.status == 200
    return [s["code"] for s in (await resp.json())["suggestions"]]


async def test_product_first_puts_the_shops_phrase_first_for_its_word_with_a_matching_worker(
    aiohttp_client: Any, tmp_path: Path, db_path: store.Location
) -> None:
    phrases = tmp_path / "phrases"
    shutil.copytree(ROOT / "phrases", phrases)
    (phrases / "shop.toml").write_text(DOWN_PHRASE, encoding="utf-8")
    overrides = {"store": {"path": str(db_path)}, "phrases": {"path": str(phrases)}}
    config = load_config(ROOT / "config.toml", env={}, overrides=overrides)
    table = {"words": {"羽绒服": "YWF1", "充绒量": "ywf1"}, "shops": ["shop1"]}
    app = make_app(with_tables(config, product_first=table), workers=1)
    client = await aiohttp_client(app)
    workers = app[ENGINE].workers
    assert workers is not None
    await eventually(lambda: workers.ready, timeout=60)
    answered = workers.answered
    without_word = await post(client, "c1", "能便宜点吗")
    named = await post(client, "c2", "能便宜点吗，羽绒服")
    other_shop = await post(client, "c3", "能便宜点吗，羽绒服", shop="shop2")
    assert workers.answered == answered + 3  # matched in the worker process, adjusted in the service
    assert "ywf1" not in without_word and "ywf1" not in other_shop
    assert named == ["ywf1", *other_shop]  # the same text in a shop the plugin is not for: the matcher's own
    # A message whose best phrase is already the shop's: moved up, shown once.
    asked = await post(client, "c4", "羽绒服的绒是什么绒，充绒量多少")
    assert asked[0] == "ywf1" and asked.count("ywf1") == 1


def test_product_first_takes_the_word_found_first_and_of_two_there_the_longer() -> None:
    from hooks.product_first import code_for

    words = {"羽绒": "yr1", "羽绒服": "ywf1", "真丝": "zs1", "T恤": "tx1"}
    assert code_for(words, "真丝的和羽绒服哪个好") == "zs1"
    assert code_for(words, "羽绒服怎么洗") == "ywf1"
    assert code_for(words, "这件羽绒马甲") == "yr1"
    assert code_for(words, "t恤起球吗") == "tx1"  # case ignored
    assert code_for(words, "能便宜点吗") is None


@pytest.mark.parametrize(
    ("hook", "table", "said"),
    [
        ("product_first", {}, '[hooks.product_first] words：应为词语与话术编号的表，如 { "羽绒服" = "ywf1" }'),
        ("product_first", {"words": {"羽绒服": ""}}, "[hooks.product_first] words：'羽绒服' 需要词语和话术编号"),
        ("product_first", {"words": {"羽绒服": "a"}, "shop": ["x"]}, "未知的键 'hooks.product_first.shop'"),
        (
            "quiet_hours",
            {"start": "22:00", "end": "8:00"},
            "[hooks.quiet_hours] end：应为 \"22:00\" 这样的时刻，实际为 '8:00'",
        ),
        ("quiet_hours", {"start": "22:00", "end": "22:00"}, "[hooks.quiet_hours]：开始和结束是同一时刻"),
        (
            "quiet_hours",
            {"start": "22:00", "end": "08:00", "kinds": ["催付"]},
            "[hooks.quiet_hours] kinds：应为由 'followup'、'payment_reminder' 组成的列表",
        ),
    ],
)
async def test_example_hooks_refuse_a_wrong_table_at_start(
    config: Config, hook: str, table: dict[str, Any], said: str
) -> None:
    plugins = Plugins(with_tables(config, **{hook: table}))
    try:
        with pytest.raises(ConfigError) as info:
            await plugins.start()
    finally:
        await plugins.stop()
    assert str(info.value) == said


async def test_quiet_hours_keeps_a_payment_reminder_from_the_buyer_at_night_and_sends_it_by_day(
    send_config: Config, db_path: store.Location
) -> None:
    config = with_tables(send_config, quiet_hours={"start": "22:00", "end": "08:00"})
    recorder = Recorder()
    clock = FakeClock(T0 + (13 * HOUR_S - IDLE_S) * 1000)  # 22:55 in Asia/Shanghai: due at 23:00
    h = await Harness(config, db_path, clock, plugins=[recorder]).start()
    try:
        await h.send("order_created", order="o1", amount=99.5, conversation="night", customer="夜猫子")
        await h.agent_says(conversation="night", customer="夜猫子")
        await h.agent_says(conversation="closing", customer="小鹿")  # no order: a 结束语, not kept back
        await h.advance(IDLE_S)
        by_conversation = {f.conversation: f for f in h.followups()}
        night = by_conversation["night"]
        assert (night.kind, night.state) == ("payment_reminder", "cancelled")
        assert night.last_error is not None
        assert shown(night.last_error) == (
            "hooks.quiet_hours 的 adjust_followup 决定不发给买家：免打扰时段 22:00–08:00，23:00 不发送"
        )
        assert (by_conversation["closing"].kind, by_conversation["closing"].state) == ("followup", "sent")
        clock.advance(11 * HOUR_S - IDLE_S)  # 09:55 the next morning: due at 10:00
        await h.send("order_created", order="o2", amount=20.0, conversation="day", customer="早起的")
        await h.agent_says(conversation="day", customer="早起的")
        await h.advance(IDLE_S)
        day = next(f for f in h.followups() if f.conversation == "day")
        assert (day.kind, day.state) == ("payment_reminder", "sent")
        assert [c["conversation"]["conversation"] for c in recorder.calls] == ["closing", "day"]
    finally:
        await h.stop()
