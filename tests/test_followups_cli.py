"""`assistant followups list` and `assistant followups timers` read what the service recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.cli import main
from assistant.clock import FakeClock
from assistant.config import Config
from assistant.followups.reasons import (
    ARRIVED_LATE,
    CHANNEL_REFUSED,
    NOT_POSTED_AGAIN,
    REFUSED_TOO_LATE,
    RETRIED,
    TIMED_OUT,
    UNCONFIRMED,
    coded,
    english,
)
from assistant.hookspecs import Followup
from tests.followup_harness import T0, Harness, Recorder
from tests.helpers import replace_config


async def test_followups_cli_lists_followups_and_timers(
    config: Config, db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    h = await Harness(
        replace_config(config, "followups", mode="send"), db_path, FakeClock(T0), plugins=[Recorder()]
    ).start()
    try:
        await h.agent_says()
        await h.advance(300)
        await h.agent_says(conversation="conv2")
    finally:
        await h.stop()
    assert main(["followups", "list", "--db", str(db_path)]) == 0
    out = capsys.readouterr().out
    assert "已发送" in out and "shop1/conv1" in out and "2026-11-20 10:05:00" in out  # zh_CN, the default
    assert "尝试 1 次" in out
    assert main(["followups", "list", "--json", "--state", "sent", "--db", str(db_path)]) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert json.loads(line)["conversation"] == "conv1"
    assert main(["followups", "timers", "--db", str(db_path)]) == 0
    captured = capsys.readouterr()
    assert "shop1/conv2" in captured.out and "1 个待触发的计时器" in captured.err


def test_followups_cli_without_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["followups", "list", "--db", str(tmp_path / "none.db")]) == 1
    assert "没有数据库" in capsys.readouterr().err


async def test_followups_cli_lists_stale_messages_with_the_reason(
    config: Config, db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = FakeClock(T0)
    h = await Harness(replace_config(config, "followups", mode="send"), db_path, clock, plugins=[Recorder()]).start()
    try:
        await h.send(sender="agent", agent="小美", text="亲，在的", ts=T0 - 3_600_000)  # an hour late
    finally:
        await h.stop()
    assert main(["followups", "list", "--state", "stale", "--db", str(db_path)]) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert "消息迟到，未跟进" in line and "shop1/conv1" in line and "尝试 0 次" in line
    assert line.endswith("（客服消息在空闲期结束 55 分钟后才到达）")  # stored as a code (3300 s), shown in Chinese


def test_followups_cli_shows_a_stored_reason_in_the_interfaces_language() -> None:
    from assistant.cli.followups import shown_reason
    from assistant.followups.delivery import CUSTOMER_WROTE, TIMED_OUT

    assert shown_reason(CUSTOMER_WROTE) == "发出前顾客又发了消息"
    assert shown_reason(coded(TIMED_OUT, seconds="2.5")) == "2.5 秒后超时"
    assert shown_reason("HTTP 500: 100% busy") == "HTTP 500: 100% busy"  # a platform's own words, as they came
    # Rows written before the codes hold the English text: still shown in Chinese.
    assert shown_reason("the customer wrote before it was delivered") == "发出前顾客又发了消息"
    assert shown_reason("timed out after 2.5 s") == "2.5 秒后超时"


@pytest.mark.parametrize(
    ("stored", "said", "seconds"),
    [
        (coded(TIMED_OUT, seconds="90"), "90 秒后超时", "90"),  # under two minutes: seconds
        (coded(TIMED_OUT, seconds="120"), "2 分钟后超时", "120"),
        (coded(TIMED_OUT, seconds="930"), "15 分 30 秒后超时", "930"),
        (coded(ARRIVED_LATE, seconds="3300"), "客服消息在空闲期结束 55 分钟后才到达", "3300"),
        (coded(ARRIVED_LATE, seconds="7290"), "客服消息在空闲期结束 2 小时 2 分钟后才到达", "7290"),  # to the minute
        (coded(TIMED_OUT, seconds="nan"), "nan 秒后超时", "nan"),
        # Rows stored as English text before the codes: the same words.
        (
            "the agent message arrived 3300 s after its idle period ended",
            "客服消息在空闲期结束 55 分钟后才到达",
            "3300",
        ),
        ("timed out after 600 s", "10 分钟后超时", "600"),
    ],
)
def test_followups_reason_times_are_said_in_minutes_from_two_minutes_and_the_log_keeps_seconds(
    stored: str, said: str, seconds: str
) -> None:
    from assistant.cli.followups import shown_reason

    assert shown_reason(stored) == said
    assert f" {seconds} s " in english(stored) + " "  # the engineer's log: seconds, as stored


def test_followups_cli_shows_too_late_and_the_platforms_refusals_in_chinese_with_the_platforms_words() -> None:
    # Found: `followups list` showed the reasons of a follow-up given up too late, refused by its channel, retried in
    # the platform or not posted again in English ("not delivered within max_late_s (900s) of coming due: too late to
    # send: …"): they were stored as English sentences with the platform's answer glued on, which no translation
    # matched. They are stored as codes with their values, and shown in Chinese; the platform's words as they came.
    from assistant.cli.followups import shown_reason
    from assistant.followups.refusals import too_late

    f = Followup(
        id="fu-1", shop="chatwoot-3", conversation="42", customer="501", agent="小美", kind="followup",
        phrase_id="fu.new", text="感谢光临", mode="send", state="missed", attempts=1, last_error=None, armed_seq=1,
        due_ms=0, fired_ms=0, updated_ms=0,
    )  # fmt: skip
    late = too_late(f, 4_000_000, 900, "HTTP 429 from Chatwoot: Retry later", 3600)
    assert late is not None and shown_reason(late) == (
        "未在到期后 max_late_s（15 分钟）内送出：已太迟，不再发送：下一次尝试将在到期 1 小时 7 分钟后"
        "（Retry-After 要求等待 1 小时）：HTTP 429 from Chatwoot: Retry later"
    )
    refused = coded(RETRIED, coded(CHANNEL_REFUSED, "Message failed to send: (#131047) Re-engagement message"))
    assert shown_reason(refused) == (
        "渠道拒收后经平台内重试已发出：平台接收后渠道未送达：Message failed to send: (#131047) Re-engagement message"
    )
    assert shown_reason(coded(NOT_POSTED_AGAIN, coded(UNCONFIRMED, "ListingFailed: HTTP 401"))) == (
        "未再次发送：中断的那次尝试可能已送达顾客：无法确认先前的尝试：ListingFailed: HTTP 401"
    )
    assert shown_reason(coded(REFUSED_TOO_LATE, "HTTP 401 from Chatwoot")).startswith("凭据被拒直到到期后超过")
