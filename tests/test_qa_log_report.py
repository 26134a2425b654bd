"""Flags the next morning: beside their message in the daily log (text, JSONL, CSV, page, filter by
category) and in the KPI report's 质检 section (per agent and category, the messages masked)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from assistant import store
from assistant.cli import main
from assistant.config import load_config
from assistant.daylog import formats
from assistant.daylog.query import DayQuery, Item, Rules, iter_items
from assistant.kpi import metrics, report
from assistant.qa.inspector import Inspector
from tests.helpers import ROOT, body_of, make_app, make_event
from tests.kpi_log import SHOP, D, Log

Client = TestClient  # type: ignore[type-arg]
INSPECTOR = Inspector.load([ROOT / "phrases" / "qa.toml"])


def flags(text: str, side: str) -> tuple[dict[str, Any], ...]:
    return tuple(INSPECTOR.flag_json(f) for f in INSPECTOR.inspect(text, side))


@pytest.fixture
def log(tmp_path: Path) -> Iterator[Log]:
    """小美 writes a price claim and a WeChat contact; 阿杰's customer threatens a complaint."""
    built = Log(tmp_path / "q.db")

    def say(when: str, agent: str, text: str, conversation: str, customer: str) -> None:
        annotation = store.Annotation(qa=flags(text, "agent"))
        built.event("message", when, annotation, sender="agent", agent=agent, text=text,
                    conversation=conversation, customer=customer)  # fmt: skip

    def ask(when: str, text: str, conversation: str, customer: str) -> None:
        annotation = store.Annotation(qa=flags(text, "customer"))
        built.event("message", when, annotation, sender="customer", text=text, conversation=conversation,
                    customer=customer)  # fmt: skip

    ask("10:00", "这个多少钱", "c1", "u1")
    say("10:00:10", "小美", "亲，这款是全网最低价了", "c1", "u1")
    say("10:00:20", "小美", "加我微信 abc12345 电话13812345678", "c1", "u1")
    say("10:00:30", "小美", "好的", "c1", "u1")  # short, not a quality flag of the report
    ask("11:00", "不退款我就投诉了", "c2", "u2")
    say("11:01", "阿杰", "亲，非常抱歉，我马上为您处理", "c2", "u2")
    yield built
    built.close()


def day_items(log: Log) -> list[Item]:
    config = load_config(None, env={})
    with closing(iter_items(log.conn, DayQuery(D), Rules.from_config(config))) as items:
        return list(items)


def test_daylog_items_carry_their_flags(log: Log) -> None:
    flagged = {i["text"]: [f["category"] for f in i["qa"]] for i in day_items(log) if "qa" in i}
    assert flagged == {
        "亲，这款是全网最低价了": ["ad_extreme"],
        "加我微信 abc12345 电话138****5678": ["off_platform", "off_platform"],
        "不退款我就投诉了": ["risk"],
    }


def test_daylog_formats_show_the_flags(log: Log) -> None:
    items = day_items(log)
    text = io.StringIO()
    formats.write_text(items, text)
    assert "质检 极限用语「全网最低价」" in text.getvalue()
    assert "质检 投诉风险「投诉」" in text.getvalue()
    out = io.StringIO()
    formats.write_csv(items, out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["qa"] for r in rows if r["qa"]] == [
        "ad_extreme:全网最低价",
        "off_platform:加我微信 abc12345 off_platform:138****5678",  # the match masked like the text
        "risk:投诉",
    ]
    lines = io.StringIO()
    formats.write_jsonl(items, lines)
    decoded = [json.loads(line) for line in lines.getvalue().splitlines()]
    assert sum("qa" in d for d in decoded) == 3


async def test_daylog_page_shows_flags_and_filters_by_category(aiohttp_client: Any, tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    config = load_config(ROOT / "config.toml", env={}, overrides={"store": {"path": str(db)}})
    client: Client = await aiohttp_client(make_app(config))
    for event in (
        make_event(conversation="clean", sender="agent", agent="小美", text="亲，今天下午发货哦"),
        make_event(conversation="claim", sender="agent", agent="小美", text="这款销量第一"),
        make_event(conversation="angry", text="等着收差评吧"),
    ):
        assert (await client.post("/v1/events", data=body_of(event))).status == 200
    html = await (await client.get("/logs/daily", params={"date": "2026-11-20"})).text()
    assert 'data-category="ad_extreme">极限用语</span> 「销量第一」' in html
    assert '<option value="risk">投诉风险</option>' in html
    html = await (await client.get("/logs/daily", params={"date": "2026-11-20", "qa": "risk"})).text()
    assert 'id="conv-angry"' in html and 'id="conv-claim"' not in html and 'id="conv-clean"' not in html
    html = await (await client.get("/logs/daily", params={"date": "2026-11-20", "qa": "any"})).text()
    assert 'id="conv-angry"' in html and 'id="conv-claim"' in html and 'id="conv-clean"' not in html


LEAKY = {  # an agent's message → its flags' words as the masked log shows them
    "加我qq 110101199003071234": ["加我qq 1****************"],  # the qq rule takes 11 digits of an ID number
    "加我v信 13812345678@qq.com": ["加我v信", "1***"],  # the phone is in an e-mail address, shown 1***@qq.com
    "文三路478号1201室，加我微信 13900001111": ["加我微信", "139****1111"],  # after an address shown ****
    "我在文三路478号1201室，扣扣 6222021234567890123": ["扣扣 ***************"],  # a card's digits, after one
}


async def test_daylog_masked_flags_show_no_more_than_the_masked_text(
    aiohttp_client: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found: a flag's words were masked alone (加我qq 11010119900 is no ID number: its digits showed) and its
    # offsets indexed the message as written, so they marked other words of the masked text, which was shorter.
    db = tmp_path / "p.db"
    config = load_config(ROOT / "config.toml", env={}, overrides={"store": {"path": str(db)}})
    client: Client = await aiohttp_client(make_app(config))
    for n, text in enumerate(LEAKY):
        event = make_event(conversation=f"c{n}", sender="agent", agent="小美", text=text)
        assert (await client.post("/v1/events", data=body_of(event))).status == 200
    assert main(["log", "--config", str(ROOT / "config.toml"), "--db", str(db), "--date", "2026-11-20",
                 "--format", "jsonl"]) == 0  # fmt: skip
    items = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    shown = {i["text"]: [f["match"] for f in i["qa"]] for i in items if "qa" in i}
    assert sorted(shown.values()) == sorted(LEAKY.values())
    for item in (i for i in items if "qa" in i):
        assert all(item["text"][f["start"] : f["end"]] == f["match"] for f in item["qa"])
    html = await (await client.get("/logs/daily", params={"date": "2026-11-20"})).text()
    assert "11010119900" not in html and "62220212345" not in html and "138****5678" not in html
    assert "「139****1111」" in html and "「1***」" in html and "「扣扣 ***************」" in html
    assert main(["report", "--config", str(ROOT / "config.toml"), "--db", str(db), "--date", "2026-11-20",
                 "--format", "json"]) == 0  # fmt: skip
    flagged = json.loads(capsys.readouterr().out)["qa"]["flagged"]
    assert sorted([f["match"] for f in m["flags"]] for m in flagged) == sorted(LEAKY.values())
    assert all(m["text"][f["start"] : f["end"]] == f["match"] for m in flagged for f in m["flags"])


def test_report_counts_flags_per_agent_and_category(log: Log) -> None:
    [r] = log.reports()
    assert r.figures.qa == {"小美": {"ad_extreme": 1, "off_platform": 1}, "阿杰": {"risk": 1}}
    by_agent = {row.agent: row.metrics["qa_flags"] for row in r.agents}
    assert by_agent == {"小美": 2, "阿杰": 0}  # a customer's risk is not the agent's flag
    assert r.team.metrics["qa_flags"] == 2
    doc = r.to_json()
    assert [f["match"] for f in doc["qa"]["flagged"][1]["flags"]] == ["加我微信 abc12345", "138****5678"]
    assert [f["text"] for f in doc["qa"]["flagged"]] == [
        "亲，这款是全网最低价了",
        "加我微信 abc12345 电话138****5678",
        "不退款我就投诉了",
    ]


def test_report_renders_the_quality_section(log: Log) -> None:
    reports = log.reports()
    table = report.render_table(reports)
    assert "质检  小美: 极限用语 1 站外引流 1   阿杰: 投诉风险 1" in table
    html = report.render_html(reports, targets=log.config.kpi.targets, mask=True)
    assert "<h2>质检</h2>" in html
    assert "138****5678" in html and "13812345678" not in html
    assert f"/logs/daily?date={D.isoformat()}&amp;shop={SHOP}&amp;conversation=c2#conv-c2" in html


def test_report_score_can_weigh_quality_flags(log: Log) -> None:
    kpi = log.config.kpi
    weighted = type(kpi)(score_weights={"qa_flags": 1.0})
    [r] = log.reports()
    mei = next(row for row in r.agents if row.agent == "小美")
    assert metrics.score(mei.metrics, mei.tally, weighted) == round(100 * (1 - 2 / 3), 1)
    metrics.check_kpi_config(weighted)  # a scorable metric


def test_report_counts_a_customers_flag_for_the_agent_who_answers_it(tmp_path: Path) -> None:
    """A complaint sent while the conversation was 小美's and answered by 阿杰 is 阿杰's customer message
    (docs/kpi.md: a customer message belongs to the agent who answers it), so its flag is counted under
    阿杰 too, not under the agent named in the message's `agent` field."""
    built = Log(tmp_path / "handover.db")
    text = "不退款我就投诉了"
    built.event("message", "11:00", store.Annotation(qa=flags(text, "customer")), sender="customer", text=text,
                agent="小美", conversation="c9", customer="u9")  # fmt: skip
    built.agent("11:01", "阿杰", "亲，非常抱歉，我马上为您处理", conversation="c9", customer="u9")
    [r] = built.reports()
    built.close()
    assert [(row.agent, row.metrics["customer_messages"]) for row in r.agents] == [("阿杰", 1)]
    assert r.figures.qa == {"阿杰": {"risk": 1}}
    assert [f.agent for f in r.figures.qa_flagged] == ["阿杰"]


def test_report_says_in_a_sentence_that_nothing_was_flagged(tmp_path: Path) -> None:
    # A day without a flag showed the quality section's two tables empty (an agent column, a dash), which reads as
    # a page that failed to load.
    built = Log(tmp_path / "clean.db")
    try:
        built.event("message", "10:00", sender="customer", text="这个多少钱", conversation="c1", customer="u1")
        built.event("message", "10:00:10", sender="agent", agent="小美", text="亲，这款现在99元哦", conversation="c1",
                    customer="u1")  # fmt: skip
        html = report.render_html(built.reports(), targets=built.config.kpi.targets, mask=True)
    finally:
        built.close()
    assert "<h2>质检</h2>" in html
    assert "没有消息被质检规则标记。" in html
    assert 'class="qa-counts"' not in html and 'class="flags qa"' not in html
