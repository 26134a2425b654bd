"""`assistant followups list` and `assistant followups timers` read what the service recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.cli import main
from assistant.clock import FakeClock
from assistant.config import Config
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
    assert "(客服消息在空闲期结束 3300 秒后才到达)" in line  # stored in English (the JSON), shown in Chinese


def test_followups_cli_shows_a_stored_reason_in_the_interfaces_language() -> None:
    from assistant.cli.followups import shown_reason
    from assistant.followups.delivery import CUSTOMER_WROTE, TIMED_OUT

    assert shown_reason(CUSTOMER_WROTE) == "发出前顾客又发了消息"
    assert shown_reason(TIMED_OUT % {"seconds": "2.5"}) == "2.5 秒后超时"
    assert shown_reason("HTTP 500: 100% busy") == "HTTP 500: 100% busy"  # a platform's own words, as they came
