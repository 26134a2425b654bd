"""Alerts: a customer's risk message reaches the group robots once, signed, with retries, across restarts,
and escalates when no agent answers in time."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote_plus

import aiohttp
import pytest

from assistant.clock import FakeClock
from hooks import dingtalk
from tests.qa_harness import SECRET, T0, TOKEN, WECOM_KEY, QaHarness, alert_rows, deliveries, robot_config
from tests.robots import DingTalkRobot, WecomRobot

PLUGIN = "hooks.dingtalk"


@pytest.fixture
async def harness(robot: DingTalkRobot, db_path: Path, clock: FakeClock) -> AsyncIterator[QaHarness]:
    h = await QaHarness(robot_config(db_path, dingtalk=robot.url), clock).start()
    yield h
    await h.stop()


async def test_alert_risk_message_reaches_dingtalk_once_signed(
    harness: QaHarness, robot: DingTalkRobot, db_path: Path
) -> None:
    response = await harness.send(conversation="c1", customer="buyer9", agent="小美", text="再不处理我就投诉了")
    assert [f["category"] for f in response["qa"]] == ["risk"]  # one threat, one flag
    [message] = robot.messages
    assert robot.requests[0]["errcode"] == 0  # the stand-in checked the signature and the timestamp window
    assert message["msgtype"] == "markdown"
    text = message["markdown"]["text"]
    assert "投诉风险" in message["markdown"]["title"] and "buyer9" in text and "小美" in text
    assert "/logs/daily?date=2026-11-20&shop=shop1&conversation=c1" in text
    assert deliveries(db_path) == [(1, PLUGIN, "sent", 1)]
    await harness.restart()
    assert len(robot.requests) == 1  # sent stays sent


async def test_alert_is_retried_after_failures_and_sent_once(
    harness: QaHarness, robot: DingTalkRobot, db_path: Path
) -> None:
    robot.script.extend([503, {"errcode": 130101, "errmsg": "send too fast"}])
    await harness.send(conversation="c2", text="给差评")
    assert robot.messages == [] and deliveries(db_path) == [(1, PLUGIN, "pending", 1)]
    await harness.advance(2)  # first backoff: 1–2 s
    await harness.advance(4)  # second: 2–4 s
    assert len(robot.messages) == 1
    assert deliveries(db_path) == [(1, PLUGIN, "sent", 3)]
    await harness.advance(200)  # (the escalation is due at 300 s)
    assert len(robot.requests) == 3


async def test_alert_refused_by_the_robot_fails_without_retrying(db_path: Path, clock: FakeClock) -> None:
    robot = await DingTalkRobot(TOKEN, "SEC-another-secret").start()
    try:
        h = await QaHarness(robot_config(db_path, dingtalk=robot.url, qa={"escalate_after_s": 0}), clock).start()
        await h.send(conversation="c3", text="打12315")
        await h.advance(600)
        assert deliveries(db_path) == [(1, PLUGIN, "failed", 1)]
        assert robot.requests[0]["errcode"] == 310000 and robot.messages == []
        await h.stop()
    finally:
        await robot.close()


async def test_alert_pending_when_the_robot_is_down_is_sent_after_a_restart(
    robot: DingTalkRobot, db_path: Path, clock: FakeClock
) -> None:
    url = robot.url
    await robot.close()
    config = robot_config(db_path, dingtalk=url, qa={"max_attempts": 50, "escalate_after_s": 0})
    h = await QaHarness(config, clock).start()
    await h.send(conversation="c4", text="你们就是骗子")
    assert deliveries(db_path)[0][2] == "pending"
    await h.stop()
    port = int(url.split(":")[2].split("/")[0])
    again = DingTalkRobot(TOKEN, SECRET)
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    app = web.Application()
    app.router.add_post(again.path, again.handle)
    again.server = TestServer(app, host="127.0.0.1", port=port)
    await again.server.start_server()
    try:
        await h.start()
        await h.advance(1)
        assert len(again.messages) == 1
        assert deliveries(db_path)[0][2] == "sent"
        await h.restart()
        await h.advance(3600)
        assert len(again.requests) == 1
        await h.stop()
    finally:
        await again.close()


@pytest.mark.parametrize("robot_kind", ["dingtalk", "wecom"])
async def test_alert_delivery_error_never_shows_the_robots_secret(
    robot_kind: str, db_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    # A URL aiohttp cannot use (a port typo): its exception quoted the whole URL, ?access_token= / ?key= and all,
    # into the log, the delivery's last error and the supervisors' page.
    url = {"dingtalk": "http://127.0.0.1:99999/robot/send", "wecom": "http://127.0.0.1:99999/cgi-bin/webhook/send"}
    config = robot_config(db_path, **{robot_kind: url[robot_kind]}, qa={"escalate_after_s": 0})
    h = await QaHarness(config, clock).start()
    try:
        await h.send(conversation="c6", text="再不处理我就投诉了")
        with sqlite3.connect(db_path) as conn:
            [(error,)] = conn.execute("SELECT last_error FROM qa_deliveries").fetchall()
    finally:
        await h.stop()
    assert error and "127.0.0.1:99999" in error  # still says where it went wrong
    for secret in (TOKEN, WECOM_KEY, "sign="):
        assert secret not in error and secret not in caplog.text


async def test_alert_escalates_when_no_agent_answers(harness: QaHarness, robot: DingTalkRobot, db_path: Path) -> None:
    await harness.send(conversation="c5", customer="u5", agent="阿杰", text="不给说法我就去消协")
    await harness.advance(299)
    assert len(robot.messages) == 1
    await harness.advance(1)
    assert [(level, state) for _, level, _, state in alert_rows(db_path)] == [(1, "escalated"), (2, None)]
    assert len(robot.messages) == 2
    assert "升级告警" in robot.messages[1]["markdown"]["title"]
    await harness.advance(3600)
    assert len(robot.messages) == 2  # one escalation, not one per interval


async def test_alert_history_is_flagged_but_pages_no_one(
    harness: QaHarness, robot: DingTalkRobot, db_path: Path
) -> None:
    """A replayed or back-filled message (stamped more than 10 minutes before it is logged) is flagged like any
    message, but a month's old complaints must not page the group or arm escalations."""
    old = await harness.send(
        conversation="c-old", ts=harness.clock.now_ms() - 11 * 60_000, text="再不处理我就去12315投诉"
    )
    assert {f["category"] for f in old["qa"]} == {"risk"}
    await harness.advance(600)
    assert robot.messages == [] and alert_rows(db_path) == []
    await harness.send(conversation="c-new", ts=harness.clock.now_ms() - 9 * 60_000, text="再不处理我就去12315投诉")
    assert len(robot.messages) == 1  # a recent one still does


async def test_alert_a_buyer_writing_again_before_an_answer_raises_no_second_alert(
    harness: QaHarness, robot: DingTalkRobot, db_path: Path
) -> None:
    # Three angry messages in a row once made three alerts and three escalations in the group.
    await harness.send(conversation="c8", text="我要投诉你们")
    await harness.advance(30)
    second = await harness.send(conversation="c8", text="再不处理就给差评")
    await harness.advance(30)
    await harness.send(conversation="c8", text="我去找消协")
    assert [f["category"] for f in second["qa"]] == ["risk"]  # still flagged: the page and the log show it
    await harness.advance(300)
    assert [(level, state) for _, level, _, state in alert_rows(db_path)] == [(1, "escalated"), (2, None)]
    assert len(robot.messages) == 2
    escalation = robot.messages[1]["markdown"]["text"]  # what the buyer said since: it showed the first alone
    assert "我要投诉你们" in escalation and "再不处理就给差评" in escalation and "我去找消协" in escalation
    await harness.send(conversation="c8", sender="agent", agent="小美", text="亲，非常抱歉，我马上为您处理")
    await harness.send(conversation="c9", text="我要投诉")  # another conversation alerts as before
    assert len(robot.messages) == 3


async def test_alert_answered_in_time_does_not_escalate(
    harness: QaHarness, robot: DingTalkRobot, db_path: Path
) -> None:
    await harness.send(conversation="c6", text="我要投诉你们")
    await harness.advance(60)
    await harness.send(conversation="c6", sender="agent", agent="小美", text="亲，非常抱歉，我马上为您处理")
    await harness.advance(600)
    assert [state for *_, state in alert_rows(db_path)] == ["answered"]
    assert len(robot.messages) == 1


async def test_alert_escalation_survives_a_restart(harness: QaHarness, robot: DingTalkRobot, db_path: Path) -> None:
    await harness.send(conversation="c7", text="再不退款我就报警")
    await harness.advance(100)
    await harness.restart()
    await harness.advance(199)
    assert len(robot.messages) == 1
    await harness.advance(1)
    assert len(robot.messages) == 2
    assert [level for _, level, _, _ in alert_rows(db_path)] == [1, 2]


async def test_an_escalation_an_older_release_armed_for_a_back_filled_message_is_not_armed_at_start(
    harness: QaHarness, robot: DingTalkRobot, db_path: Path
) -> None:
    # An older release alerted on yesterday's back-filled complaint and armed its escalation; after the upgrade
    # the supervisors were paged again for a message of the day before.
    await harness.send(conversation="c10", text="再不处理我就去12315投诉")
    with sqlite3.connect(db_path) as conn:  # as the older release stored it: written a day before it was logged
        conn.execute("UPDATE qa_alerts SET ts_ms = ts_ms - 86400000")
    await harness.restart()
    await harness.advance(3600)
    assert len(robot.messages) == 1  # the alert it sent then; no escalation now
    assert [state for *_, state in alert_rows(db_path)] == [None]


async def test_alert_goes_to_each_enabled_robot(robot: DingTalkRobot, db_path: Path, clock: FakeClock) -> None:
    wecom = await WecomRobot(WECOM_KEY).start()
    try:
        config = robot_config(db_path, dingtalk=robot.url, wecom=wecom.url)
        h = await QaHarness(config, clock).start()
        await h.send(conversation="c8", text="申请小二介入")
        assert len(robot.messages) == 1 and len(wecom.messages) == 1
        body = wecom.messages[0]
        assert body["msgtype"] == "markdown" and "投诉风险" in body["markdown"]["content"]
        assert sorted(p for _, p, _, _ in deliveries(db_path)) == ["hooks.dingtalk", "hooks.wecom"]
        await h.stop()
    finally:
        await wecom.close()


async def test_alert_agent_flags_alert_only_when_configured(
    robot: DingTalkRobot, db_path: Path, clock: FakeClock
) -> None:
    h = await QaHarness(robot_config(db_path, dingtalk=robot.url), clock).start()
    await h.send(conversation="c9", sender="agent", agent="小美", text="加我微信 abc12345")
    assert robot.messages == [] and alert_rows(db_path) == []
    await h.stop()
    config = robot_config(db_path, dingtalk=robot.url, qa={"alert_categories": ["risk", "off_platform"]})
    h = await QaHarness(config, clock).start()
    await h.send(conversation="c9", sender="agent", agent="小美", text="加我微信 abc12345")
    assert len(robot.messages) == 1
    assert [(level, state) for _, level, _, state in alert_rows(db_path)] == [(1, None)]  # no escalation
    await h.stop()


async def test_alert_names_the_agent_who_has_the_conversation_and_the_buyer_of_an_agents_flag(
    robot: DingTalkRobot, db_path: Path, clock: FakeClock
) -> None:
    # A buyer's complaint (no agent field, as platforms send them) named no one to call; an agent's flag named
    # no buyer. The report counts the first for the agent who has the conversation: the alert names them too.
    config = robot_config(db_path, dingtalk=robot.url, qa={"alert_categories": ["risk", "off_platform"]})
    h = await QaHarness(config, clock).start()
    await h.send(conversation="c12", customer="u12", text="在吗")
    await h.send(conversation="c12", sender="agent", agent="阿杰", text="你自己看详情页")
    await h.send(conversation="c12", customer="u12", text="什么态度，我要投诉你们")
    complaint = robot.messages[0]["markdown"]["text"]
    assert "接待：阿杰" in complaint
    await h.send(conversation="c13", customer="u13", sender="agent", agent="小美", text="加我微信 abc12345")
    offer = robot.messages[1]["markdown"]["text"]
    assert "顾客：u13" in offer
    await h.stop()


async def test_alert_text_is_masked_for_the_group(harness: QaHarness, robot: DingTalkRobot) -> None:
    await harness.send(conversation="c10", text="我电话13812345678，不处理就投诉")
    text = robot.messages[0]["markdown"]["text"]
    assert "13812345678" not in text and "投诉" in text


async def test_alert_masks_the_matched_phone_number_too(robot: DingTalkRobot, db_path: Path, clock: FakeClock) -> None:
    config = robot_config(db_path, dingtalk=robot.url, qa={"alert_categories": ["risk", "off_platform"]})
    h = await QaHarness(config, clock).start()
    await h.send(conversation="c11", sender="agent", agent="小美", text="有事打我手机 13812345678")
    text = robot.messages[0]["markdown"]["text"]
    assert "13812345678" not in text and "138\\*\\*\\*\\*5678" in text
    await h.stop()


# ---- the DingTalk stand-in itself checks what DingTalk checks --------------------------------------


async def post(url: str, body: object) -> dict[str, object]:
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=json.dumps(body), headers={"Content-Type": "application/json"}) as resp:
            assert resp.status == 200
            answer: dict[str, object] = await resp.json()
            return answer


MESSAGE = {"msgtype": "text", "text": {"content": "hello"}}


async def test_dingtalk_standin_accepts_a_signed_request(robot: DingTalkRobot) -> None:
    url = dingtalk.signed_url(robot.url, TOKEN, SECRET, int(time.time() * 1000))
    assert (await post(url, MESSAGE))["errcode"] == 0


@pytest.mark.parametrize(
    ("skew_ms", "secret", "token", "code"),
    [
        (-2 * 3_600_000, SECRET, TOKEN, 310000),  # signed two hours ago
        (2 * 3_600_000, SECRET, TOKEN, 310000),  # two hours ahead
        (0, "SEC-wrong", TOKEN, 310000),
        (0, SECRET, "wrong-token", 300001),
    ],
)
async def test_dingtalk_standin_refuses_what_dingtalk_refuses(
    robot: DingTalkRobot, skew_ms: int, secret: str, token: str, code: int
) -> None:
    url = dingtalk.signed_url(robot.url, token, secret, int(time.time() * 1000) + skew_ms)
    assert (await post(url, MESSAGE))["errcode"] == code
    assert robot.messages == []


async def test_dingtalk_sign_is_the_documented_formula() -> None:
    import base64
    import hashlib
    import hmac

    stamp, secret = 1_700_000_000_000, "SECabc"
    expected = base64.b64encode(hmac.new(b"SECabc", b"1700000000000\nSECabc", hashlib.sha256).digest()).decode()
    assert dingtalk.sign(secret, stamp) == quote_plus(expected)


# ---- the robots' settings ---------------------------------------------------------------------------


def test_robot_settings_are_checked_at_start(db_path: Path) -> None:
    from assistant.config import ConfigError, load_config
    from hooks import wecom
    from tests.helpers import ROOT

    with pytest.raises(ConfigError, match=r"\[hooks.dingtalk\] msgtype：应为 'markdown' 或 'text'，实际是 'card'"):
        load_config(ROOT / "config.toml", env={}, overrides={"hooks": {"dingtalk": {"msgtype": "card"}}})
    bare = load_config(ROOT / "config.toml", env={}, overrides={"store": {"path": str(db_path)}})
    with pytest.raises(ConfigError, match="access_token_env：请设置环境变量 DINGTALK_ACCESS_TOKEN"):
        dingtalk.on_startup(bare)
    with pytest.raises(ConfigError, match="key_env：请设置环境变量 WECOM_WEBHOOK_KEY"):
        wecom.on_startup(bare)


async def test_robot_text_messages_mention_who_is_configured(
    robot: DingTalkRobot, db_path: Path, clock: FakeClock
) -> None:
    config = robot_config(db_path, dingtalk=robot.url)
    config = dataclasses.replace(
        config,
        hooks=dataclasses.replace(
            config.hooks,
            dingtalk=dataclasses.replace(config.hooks.dingtalk, msgtype="text", at_mobiles=["13900000000"]),
        ),
    )
    h = await QaHarness(config, clock).start()
    await h.send(conversation="c12", text="给你们差评")
    [message] = robot.messages
    assert message["msgtype"] == "text" and message["at"] == {"atMobiles": ["13900000000"], "isAtAll": False}
    assert (
        message["text"]["content"].startswith("【质检告警 投诉风险】") and "@13900000000" in message["text"]["content"]
    )
    await h.stop()


def test_wecom_markdown_escapes_the_shop_in_its_heading(db_path: Path) -> None:
    # The heading put the shop name raw: a link in the supervisors' group, while the lines below escaped it.
    from assistant.hookspecs import Alert
    from hooks import wecom

    config = robot_config(db_path, wecom="http://127.0.0.1:9/cgi-bin/webhook/send")
    flag = {"category": "risk", "label": "投诉风险", "rule": "risk.complaint", "severity": "high", "match": "投诉"}
    shop = "店[x](http://evil.example/s)</font>**"
    alert = Alert("qa-1", 1, shop, "c1", "buyer1", None, "customer", "e1", T0, "我要投诉", (flag,), T0, "/logs")
    content = str(wecom.message(config, alert)["markdown"]["content"])  # type: ignore[index]
    head = content.splitlines()[0]
    assert head == r'**质检告警 投诉风险** <font color="comment">店\[x\]\(http://evil.example/s\)\</font\>\*\*</font>'
    assert r"店铺：店\[x\]\(http://evil.example/s\)\</font\>\*\*" in content  # as the lines below already did
