"""The day's inspection (`assistant qa day`): per agent, a score and each finding, the rules' flags and the
service norms a conversation's log can judge (first reply, average reply, a question left unanswered, no closing)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from assistant import store
from assistant.cli import main
from assistant.config import ConfigError, load_config
from assistant.daylog.query import DayQuery, Rules, iter_conversations, iter_items
from assistant.qa.inspector import Inspector, load_inspector
from assistant.qa.review import DayReview, Reviewer
from tests.helpers import ROOT, make_app
from tests.kpi_log import D, Log

Client = TestClient  # type: ignore[type-arg]
INSPECTOR = Inspector.load([ROOT / "phrases" / "qa.toml"])
CATEGORIES = INSPECTOR.categories
CLOSING = "感谢您的支持，祝您生活愉快~"


def flags(text: str, side: str) -> store.Annotation:
    return store.Annotation(qa=tuple(INSPECTOR.flag_json(f) for f in INSPECTOR.inspect(text, side)))


class Day(Log):
    def ask(self, when: str, text: str, conversation: str) -> None:
        self.event("message", when, flags(text, "customer"), sender="customer", text=text,
                   conversation=conversation, customer=f"u-{conversation}")  # fmt: skip

    def say(self, when: str, agent: str, text: str, conversation: str) -> None:
        self.event("message", when, flags(text, "agent"), sender="agent", agent=agent, text=text,
                   conversation=conversation, customer=f"u-{conversation}")  # fmt: skip


@pytest.fixture
def day(tmp_path: Path) -> Iterator[Day]:
    built = Day(tmp_path / "d.db")
    yield built
    built.close()


def review(day: Day, **qa: object) -> DayReview:
    config = load_config(None, env={}, overrides={"qa": qa} if qa else None)
    with closing(iter_items(day.conn, DayQuery(D), Rules.from_config(config))) as items:
        return Reviewer(config.qa, CATEGORIES).review(iter_conversations(items))


def found(result: DayReview) -> list[tuple[str, str, str]]:
    return [(f.agent, f.rule, f.conversation) for f in result.findings]


def test_review_good_service_has_nothing_to_find(day: Day) -> None:
    day.ask("10:00", "这件有M码吗？", "c1")
    day.say("10:00:08", "小美", "亲，您好，M码有现货的哦", "c1")
    day.ask("10:01", "好的，我拍了", "c1")
    day.say("10:01:10", "小美", CLOSING, "c1")
    result = review(day)
    assert found(result) == []
    assert [(a.agent, a.score, a.conversations) for a in result.agents.values()] == [("小美", 100.0, 1)]


def test_review_finds_a_late_first_reply_and_a_slow_average(day: Day) -> None:
    # Found: the inspection read words only; a buyer kept waiting 2 minutes for the first reply was never seen.
    day.ask("10:00", "在吗？这款还有货吗", "c1")
    day.say("10:02", "阿杰", "亲，有的", "c1")
    day.ask("10:03", "什么时候发货", "c1")
    day.say("10:04:30", "阿杰", "今天就发，" + CLOSING, "c1")
    result = review(day)
    assert found(result) == [("阿杰", "first_response", "c1"), ("阿杰", "average_response", "c1")]
    first, average = result.findings
    assert first.label == "首次响应超时" and first.detail == "首次回复用了 120 秒（规范 30 秒）"
    assert first.text == "在吗？这款还有货吗" and first.sender == "customer"
    assert average.detail == "2 次回复平均 105 秒（规范 60 秒）"
    assert result.agents["阿杰"].score == 96.0
    assert found(review(day, first_response_s=0, average_response_s=0)) == []  # 0: not checked


def test_review_finds_a_question_left_unanswered_not_a_thanks(day: Day) -> None:
    day.ask("10:00", "这个能用多久", "c1")
    day.say("10:00:05", "小美", "亲，正常使用三五年没问题的，" + CLOSING, "c1")
    day.ask("10:05", "那保修多久呢", "c1")  # never answered
    day.ask("11:00", "有白色的吗", "c2")
    day.say("11:00:05", "小美", "有的亲，" + CLOSING, "c2")
    day.ask("11:01", "好的谢谢", "c2")  # nothing to answer
    result = review(day)
    assert found(result) == [("小美", "unanswered", "c1")]
    [miss] = result.findings
    assert (miss.label, miss.text, miss.points) == ("问题未回复", "那保修多久呢", 5.0)
    assert found(review(day, question_words=[])) == []  # empty: not checked
    day.ask("10:06", "在吗", "c9")  # a conversation no agent took
    assert ("", "unanswered", "c9") in found(review(day))


def test_review_finds_a_conversation_ended_without_closing_words(day: Day) -> None:
    day.ask("10:00", "发什么快递", "c1")
    day.say("10:00:05", "小美", "亲，默认中通哦", "c1")
    day.ask("10:01", "好", "c1")
    day.say("10:01:05", "小美", "嗯嗯", "c1")
    result = review(day)
    assert found(result) == [("小美", "short", "c1"), ("小美", "no_closing", "c1")]
    assert {f.rule: f.label for f in result.findings} == {"no_closing": "缺少结束语", "short": "短回复"}
    assert [f.rule for f in review(day, closing_words=[]).findings] == ["short"]  # empty: not checked


def test_review_owes_no_second_closing_for_the_buyers_thanks_after_one(day: Day) -> None:
    # Found: the agent closed (不客气的亲), the buyer answered 嗯嗯 and 好的谢谢 and the agent smiled back three times;
    # the closing was then older than the agent's last three replies, and the conversation owed one again.
    day.ask("10:00", "发什么快递", "c1")
    day.say("10:00:05", "小美", "亲，您好，默认中通哦", "c1")
    day.ask("10:01", "好的谢谢", "c1")
    day.say("10:01:05", "小美", "不客气的亲", "c1")
    day.ask("10:01:30", "嗯嗯", "c1")
    day.say("10:01:35", "小美", "[微笑]", "c1")
    day.ask("10:02", "好的，谢谢啦！", "c1")
    day.say("10:02:05", "小美", "嗯嗯", "c1")
    day.say("10:02:06", "小美", "😊", "c1")
    # The buyer's new question after the closing asks for another goodbye once it is answered.
    day.ask("11:00", "这款有货吗", "c2")
    day.say("11:00:05", "小美", "亲，您好，有货的，祝您购物愉快", "c2")
    day.ask("11:01", "好的，那能开发票吗", "c2")
    day.say("11:01:05", "小美", "可以开的", "c2")
    day.say("11:01:06", "小美", "拍下后备注抬头", "c2")
    day.say("11:01:07", "小美", "税号也备注上", "c2")
    assert [(c, rule) for _agent, rule, c in found(review(day)) if rule != "short"] == [("c2", "no_closing")]


def test_review_takes_the_training_materials_own_closing_for_one(day: Day) -> None:
    # Found: the 结束语 training material gives as its example (如果有什么问题,请随时和咨询我们) was no closing.
    day.ask("10:00", "这款有货吗", "c1")
    day.say("10:00:05", "小美", "亲，您好，有货的", "c1")
    day.say("10:05:05", "小美", "亲爱的您可以看下我们店铺内有没有您喜欢的商品。如果有什么问题,请随时和咨询我们。", "c1")
    assert found(review(day)) == []


def test_review_finds_a_first_reply_without_a_greeting_unless_an_auto_reply_greeted(day: Day) -> None:
    day.ask("10:00", "这款有货吗", "c1")
    day.say("10:00:05", "小美", "有货，" + CLOSING, "c1")
    day.ask("11:00", "这款有货吗", "c2")
    day.auto("11:00:01", "您好，欢迎光临本店，客服马上为您服务~", conversation="c2", customer="u-c2")
    day.say("11:00:05", "小美", "有货，" + CLOSING, "c2")
    result = review(day)
    assert found(result) == [("小美", "no_greeting", "c1")]
    assert result.findings[0].label == "缺少欢迎语"
    assert found(review(day, greeting_words=[])) == []  # empty: not checked


def test_review_deducts_the_shops_own_points_per_finding(day: Day) -> None:
    day.ask("10:00", "最便宜多少", "c1")
    day.say("10:00:05", "小美", "亲，这款是全网最低价了，加我微信 abc12345 再便宜点", "c1")
    day.say("10:00:10", "小美", CLOSING, "c1")
    day.ask("11:00", "再不发货我就投诉了", "c2")
    day.say("11:00:05", "阿杰", "非常抱歉亲，马上为您加急，" + CLOSING, "c2")
    result = review(day)
    assert [(f.agent, f.label, f.points) for f in result.findings] == [
        ("小美", "极限用语", 3.0),
        ("小美", "站外引流", 5.0),
        ("阿杰", "投诉风险", 0.0),  # a buyer's threat is shown under the agent answering it, and costs nothing
    ]
    assert [(a.agent, a.score) for a in result.agents.values()] == [("小美", 92.0), ("阿杰", 100.0)]
    shop = review(day, deductions={"off_platform": 20, "ad_extreme": 0})
    assert shop.agents["小美"].score == 80.0
    with pytest.raises(ConfigError, match="offplatform"):  # a misspelt name, refused at start and by `qa day`
        load_inspector(load_config(ROOT / "config.toml", env={}, overrides={"qa": {"deductions": {"offplatform": 1}}}))


def test_review_scores_an_agent_by_conversation_not_by_how_many_they_served(day: Day) -> None:
    # Found on a simulated day: points summed over the day took an agent serving 43 buyers to 0 on one-word replies.
    for n in range(3):
        day.ask(f"1{n}:00", "有货吗", f"c{n}")
        day.say(f"1{n}:00:05", "小美", "有的亲，" + CLOSING, f"c{n}")
    day.say("10:00:10", "小美", "加我微信 abc12345", "c0")
    result = review(day)
    mei = result.agents["小美"]
    assert (mei.conversations, mei.deducted, mei.score) == (3, 5.0, 98.3)  # (95 + 100 + 100) / 3


def test_qa_day_lists_five_findings_of_a_rule_unless_all(day: Day, capsys: pytest.CaptureFixture[str]) -> None:
    day.ask("10:00", "在吗", "c1")
    day.say("10:00:01", "小美", "亲，在的", "c1")
    for n in range(7):
        day.say(f"10:00:0{n + 2}", "小美", "嗯嗯", "c1")
    day.say("10:00:10", "小美", CLOSING, "c1")
    args = ["qa", "day", "--config", str(ROOT / "config.toml"), "--db", str(day.path), "--date", D.isoformat()]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "  短回复：7 条，扣 7 分" in out and out.count("客服：嗯嗯") == 5 and "……还有 2 条（--all 显示全部）" in out
    assert main([*args, "--all"]) == 0
    assert capsys.readouterr().out.count("客服：嗯嗯") == 7


def test_qa_day_prints_each_agent_each_rule_and_each_finding(day: Day, capsys: pytest.CaptureFixture[str]) -> None:
    day.ask("10:00", "这个多少钱", "c1")
    day.say("10:01", "小美", "亲，这款是全网最低价了，\x1b[31m加我微信 abc12345", "c1")
    day.ask("11:00", "有货吗", "c2")
    day.say("11:00:05", "阿杰", "有的亲，" + CLOSING, "c2")
    args = ["qa", "day", "--config", str(ROOT / "config.toml"), "--db", str(day.path), "--date", D.isoformat()]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "质检日报 2026-11-20：2 个会话，2 位客服" in out
    # a score has one decimal in the table and the headings alike (89 beside 98.1 stood out of its column)
    assert re.search(r"^小美 +89\.0 +11 ", out, re.M) and re.search(r"^阿杰 +100\.0 +0 ", out, re.M)
    assert "小美：得分 89.0（1 个会话共扣 11 分）" in out and "阿杰：得分 100，没有发现问题" in out
    assert "  站外引流：1 条，扣 5 分" in out
    assert "会话 c1，顾客 u-c1  「加我微信 abc12345」" in out
    assert "      客服：亲，这款是全网最低价了，?[31m加我微信 abc12345" in out  # no escape reaches the terminal
    assert "      顾客：这个多少钱" in out  # the first reply's finding quotes the buyer's message
    assert main([*args, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [(a["agent"], a["score"]) for a in doc["agents"]] == [("小美", 89.0), ("阿杰", 100.0)]
    assert doc["rules"][0] == {"rule": "off_platform", "label": "站外引流", "findings": 1, "points": 5.0}


def test_qa_day_says_when_nothing_was_found(day: Day, capsys: pytest.CaptureFixture[str]) -> None:
    day.ask("11:00", "有货吗", "c2")
    day.say("11:00:05", "阿杰", "有的亲，" + CLOSING, "c2")
    args = ["qa", "day", "--config", str(ROOT / "config.toml"), "--db", str(day.path)]
    assert main([*args, "--date", D.isoformat()]) == 0
    assert (
        capsys.readouterr().out
        == "质检日报 2026-11-20：1 个会话，1 位客服\n没有发现问题：每条回复都符合规则和服务规范。\n"
    )
    assert main([*args, "--date", "2026-11-25"]) == 0
    assert "2026-11-25 没有消息" in capsys.readouterr().err


async def test_qa_day_page_shows_each_finding_escaped_and_linked(day: Day, aiohttp_client: Any) -> None:
    day.ask("10:00", "<b>这个多少钱</b>", "c1")
    day.say("10:01", "小美", "亲，这款是全网最低价了，<script>x()</script>", "c1")
    day.ask("11:00", "有货吗", "c2")
    day.say("11:00:05", "阿杰", "有的亲，" + CLOSING, "c2")
    config = load_config(ROOT / "config.toml", env={}, overrides={"store": {"path": str(day.path)}})
    client: Client = await aiohttp_client(make_app(config))
    html = await (await client.get("/qa/day", params={"date": D.isoformat()})).text()
    assert "<script>x()" not in html and "&lt;script&gt;x()&lt;/script&gt;" in html
    assert "顾客：&lt;b&gt;这个多少钱&lt;/b&gt;" in html  # the late first reply quotes the buyer
    assert "<td>94.0</td>" in html and "<td>100.0</td>" in html  # one decimal, as in the terminal
    assert "小美：得分 94.0（1 个会话共扣 6 分）" in html and "阿杰：得分 100，没有发现问题" in html
    assert "<h3>极限用语：1 条，扣 3 分</h3>" in html and "<mark>全网最低价</mark>" in html
    assert f'href="/logs/daily?date={D.isoformat()}&amp;shop=s1&amp;conversation=c1#conv-c1"' in html
    html = await (await client.get("/qa/day", params={"date": "2026-11-21"})).text()
    assert '<p class="empty" id="nothing">这一天没有会话。</p>' in html
    assert (await client.get("/qa/day", params={"date": "2026-13-01"})).status == 400
