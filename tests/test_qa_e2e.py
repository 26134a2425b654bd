"""The real service as a subprocess: flags in the webhook's answer, the log and the report; a risk message
reaches a local DingTalk stand-in exactly once, signed as DingTalk requires, across SIGKILLs."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.helpers import ROOT, body_of, day_of, eventually, live_event
from tests.qa_harness import SECRET, TOKEN
from tests.robots import DingTalkRobot
from tests.service import Service, service_config

pytestmark = pytest.mark.slow

ENV = {"DINGTALK_ACCESS_TOKEN": TOKEN, "DINGTALK_SECRET": SECRET, "ASSISTANT_WEBHOOK_SECRET": ""}


def write_config(tmp_path: Path, url: str) -> Path:
    return service_config(
        tmp_path,
        f"""
[qa]
escalate_after_s = 3600
backoff_base_s = 2

[hooks]
enabled = ["dingtalk"]

[hooks.dingtalk]
url = "{url}"
""",
    )


async def post(service: Service, event: dict[str, Any]) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{service.url}/v1/events", data=body_of(event)) as resp:
            assert resp.status == 200
            body: dict[str, Any] = await resp.json()
            return body


def deliveries(db: Path) -> list[tuple[str, int]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT state, attempts FROM qa_deliveries ORDER BY updated_ms").fetchall()


def cli(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "assistant", *args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout


async def test_qa_e2e_flags_alert_once_across_sigkill(tmp_path: Path, robot: DingTalkRobot) -> None:
    config, db = write_config(tmp_path, robot.url), tmp_path / "e2e.db"
    service = await Service(config, db, env=ENV).start()
    try:
        agent = live_event(conversation="c1", sender="agent", agent="小美", text="加我V信 abc123 给您便宜点")
        assert [f["category"] for f in (await post(service, agent))["qa"]] == ["off_platform"]
        risk = live_event(conversation="c1", customer="buyer1", agent="小美", text="再不处理我就投诉了")
        assert {f["category"] for f in (await post(service, risk))["qa"]} == {"risk"}
        await eventually(lambda: deliveries(db) == [("sent", 1)], timeout=10)
        assert len(robot.messages) == 1 and robot.requests[0]["errcode"] == 0  # signed, in the time window
        assert "投诉风险" in robot.messages[0]["markdown"]["title"]

        service.kill()
        service = await Service(config, db, env=ENV, port=service.port).start()
        # A second alert: the robot fails its first attempt; the service dies before the retry.
        robot.script.append(503)
        again = live_event(conversation="c2", customer="buyer2", text="我要打12315")
        await post(service, again)
        await eventually(lambda: len(robot.requests) == 2, timeout=10)
        service.kill()
        assert sorted(deliveries(db)) == [("pending", 1), ("sent", 1)]

        service = await Service(config, db, env=ENV, port=service.port).start()
        await eventually(lambda: sorted(deliveries(db)) == [("sent", 1), ("sent", 2)], timeout=10)
        assert len(robot.messages) == 2
        service.kill()
        service = await Service(config, db, env=ENV, port=service.port).start()
        # Nothing is pending, so nothing more can be sent: state, not a wait.
        assert sorted(deliveries(db)) == [("sent", 1), ("sent", 2)]
        assert len(robot.requests) == 3
    finally:
        service.stop()

    log = cli("log", "--date", day_of(risk), "--config", str(config), "--db", str(db))
    assert "质检 站外引流「加我V信 abc123」" in log
    assert "质检 投诉风险「不处理我就投诉」" in log
    doc = json.loads(
        cli("report", "--date", day_of(risk), "--format", "json", "--config", str(config), "--db", str(db))
    )
    assert doc["qa"]["by_agent"]["小美"] == {"off_platform": 1, "risk": 1}
    assert [a["qa_flags"] for a in doc["agents"] if a["agent"] == "小美"] == [1]
