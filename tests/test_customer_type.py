"""The customer-type classifier: cues, patterns, behaviour, and the default."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from assistant.suggest.customer_type import CustomerType, customer_type_json
from assistant.suggest.matcher import Matcher
from assistant.suggest.phrases import Library

ROOT = Path(__file__).resolve().parent.parent

TYPES: dict[str, Any] = {
    "type": [
        {"id": "newcomer", "label": "陌生客户", "cues": ["第一次买"], "script": ["您好，欢迎", "有问题随时问"]},
        {"id": "impatient", "label": "性急型", "cues": ["快点"], "script": ["马上处理", "先说结论"]},
        {"id": "bargainer", "label": "习惯性讲价", "cues": ["便宜点"], "script": ["已是最低价", "送您小礼物"]},
        {
            "id": "pressuring",
            "label": "威逼利诱型",
            "cues": ["别家更便宜"],
            "patterns": ["不.{0,3}便宜.{0,4}就走"],
            "script": ["物超所值", "价格守住"],
        },
        {"id": "returning", "label": "老顾客", "cues": ["回购"], "script": ["欢迎回来", "老客福利"]},
    ]
}
INTENTS: dict[str, Any] = {
    "intent": {"price_bargain": {"keywords": ["多少钱", "价格"]}, "urge": {"strong": ["人呢"]}},
    "types": {"bargainer": {"intents": ["price_bargain"]}, "returning": {"cues": ["又来买"]}},
}
HELLO = {"id": "a", "intent": "greeting", "code": "a", "text": "亲，您好呀", "triggers": ["在吗"]}
PHRASES = [("t.toml", {"phrase": [HELLO]})]


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(Library.build(PHRASES, INTENTS, TYPES), strict=True)


@pytest.fixture
def shipped(shipped_matcher: Matcher) -> Matcher:
    return shipped_matcher


def calm(*texts: str) -> list[tuple[int, str]]:
    """Messages a minute apart."""
    return [(n * 60_000, t) for n, t in enumerate(texts)]


def test_newcomer_when_nothing_points_elsewhere(matcher: Matcher) -> None:
    kind = matcher.classify(calm("你好", "这个有蓝色吗"))
    assert (kind.type, kind.label, kind.evidence) == ("newcomer", "陌生客户", ())
    assert kind.script == ("您好，欢迎", "有问题随时问")


def test_no_messages_is_newcomer(matcher: Matcher) -> None:
    assert matcher.classify([]).type == "newcomer"


def test_cue_points_to_its_type_with_evidence(matcher: Matcher) -> None:
    kind = matcher.classify(calm("能便宜点吗"))
    assert kind.type == "bargainer"
    assert "便宜点" in kind.evidence
    assert 0.0 < kind.confidence <= 1.0


def test_longer_cue_wins_over_the_cue_inside_it(matcher: Matcher) -> None:
    assert matcher.classify(calm("别家更便宜点")).type == "pressuring"


def test_pattern_points_to_its_type(matcher: Matcher) -> None:
    kind = matcher.classify(calm("再不便宜我就走了"))
    assert kind.type == "pressuring"


def test_extra_cues_from_the_vocabulary_count(matcher: Matcher) -> None:
    assert matcher.classify(calm("我又来买啦")).type == "returning"


def test_a_cue_with_a_number_slot_matches_any_number() -> None:
    types = {"type": [dict(TYPES["type"][0]), {**TYPES["type"][2], "cues": ["少#块"]}]}
    m = Matcher(Library.build(PHRASES, {}, types))
    assert m.classify(calm("能少5块吗")).type == "bargainer"
    assert m.classify(calm("能少十块吗")).type == "bargainer"
    assert m.classify(calm("少块布")).type == "newcomer"


def test_a_pattern_over_a_counted_cue_adds_little() -> None:
    types = {
        "type": [
            dict(TYPES["type"][0]),
            {**TYPES["type"][4], "cues": ["上次买的"], "patterns": ["上次买"]},
            {**TYPES["type"][1], "cues": ["仔细", "检查", "一下"]},
        ]
    }
    m = Matcher(Library.build(PHRASES, {}, types))
    # 上次买的 is one piece of evidence, not a cue plus a pattern over the same words.
    assert m.classify(calm("上次买的那件", "这次仔细检查一下")).type == "impatient"


def test_a_clear_threat_beats_the_haggling_around_it(matcher: Matcher) -> None:
    kind = matcher.classify(calm("便宜点", "多少钱", "价格能再低吗", "再不便宜我就走了"))
    assert kind.type == "pressuring"


def test_burst_of_messages_means_impatient(matcher: Matcher) -> None:
    kind = matcher.classify([(0, "这个"), (2_000, "有货吗"), (4_000, "什么时候发")])
    assert kind.type == "impatient"
    assert any("秒内连发" in e for e in kind.evidence)


def test_messages_far_apart_are_not_a_burst(matcher: Matcher) -> None:
    assert matcher.classify(calm("这个", "有货吗", "什么时候发")).type == "newcomer"


def test_repeated_presence_checks_mean_impatient(matcher: Matcher) -> None:
    kind = matcher.classify(calm("在吗", "在吗？", "有人吗"))
    assert kind.type == "impatient"
    assert any("在吗" in e for e in kind.evidence)


def test_repeated_price_questions_mean_bargainer(matcher: Matcher) -> None:
    kind = matcher.classify(calm("这个多少钱", "那个价格呢"))
    assert kind.type == "bargainer"
    assert any("2次" in e for e in kind.evidence)


def test_confidence_grows_with_evidence(matcher: Matcher) -> None:
    one = matcher.classify(calm("快点"))
    three = matcher.classify(calm("快点", "快点发", "快点回复"))
    assert three.confidence >= one.confidence


def test_json_shape() -> None:
    kind = CustomerType("impatient", "性急型", 0.8, ("快点",), ("马上", "这就办"))
    assert customer_type_json(kind) == {
        "type": "impatient", "label": "性急型", "confidence": 0.8, "evidence": ["快点"], "script": ["马上", "这就办"],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        (["我是你们家老顾客了", "这次再来两件"], "returning"),
        (["急急急", "今天能发吗 快点"], "impatient"),
        (["这两个哪个好", "我再考虑考虑"], "hesitant"),
        (["能便宜点吗", "抹个零呗"], "bargainer"),
        (["别家才卖89", "你们不降价我就去别家了"], "pressuring"),
        (["我是学生 预算不多", "有没有便宜点的款"], "budget"),
        (["要最好的那款", "价格无所谓"], "affluent"),
        (["有没有线头", "发之前帮我仔细检查一下"], "picky"),
        (["这个功率多少瓦", "具体参数发我看看"], "professional"),
        (["是正品吗", "不会是假货吧"], "suspicious"),
        (["买这个送什么", "多送点小样呗"], "freebie"),
        (["太好看了", "直接拍了"], "impulsive"),
        (["我不管", "今天必须给我处理好"], "demanding"),
        (["你好", "这个有黑色吗"], "newcomer"),
        (["这款耳机是LDAC还是aptX", "续航实测多久"], "professional"),
        (["发货前拍个视频给我", "我怕你们发旧货"], "suspicious"),
        (["把你们领导叫来", "别浪费我时间"], "demanding"),
        (["360吧", "最后一口价"], "bargainer"),
        (["这个价格跟旗舰店对齐", "不然我就撤了"], "pressuring"),
        (["跟上次一样", "再买两件"], "returning"),
    ],
)
def test_shipped_types(shipped: Matcher, messages: list[str], expected: str) -> None:
    kind = shipped.classify(calm(*messages))
    assert kind.type == expected
    assert kind.label and len(kind.script) >= 2
