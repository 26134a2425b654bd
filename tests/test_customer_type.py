"""The customer-type classifier: cues in context, evidence weighed, waits measured against the agent's replies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.conversations import Conversations
from assistant.suggest.customer_type import CustomerType, customer_type_json
from assistant.suggest.matcher import Matcher
from assistant.suggest.phrases import Library
from assistant.web.appkeys import ENGINE
from tests.helpers import body_of, make_event

Client = TestClient  # type: ignore[type-arg]

TYPES: dict[str, Any] = {
    "type": [
        {"id": "newcomer", "label": "陌生客户", "cues": ["第一次买"], "script": ["您好，欢迎", "有问题随时问"]},
        {"id": "impatient", "label": "性急型", "strong": ["急用"], "cues": ["快点"], "weak": ["出差", "催"],
         "script": ["马上处理", "先说结论"]},
        {"id": "bargainer", "label": "习惯性讲价", "strong": ["便宜点"], "script": ["已是最低价", "送您小礼物"]},
        {
            "id": "pressuring",
            "label": "威逼利诱型",
            "strong": ["别家更便宜"],
            "patterns": ["不.{0,3}便宜.{0,4}就走"],
            "script": ["物超所值", "价格守住"],
        },
        {"id": "returning", "label": "老顾客", "cues": ["回购"], "script": ["欢迎回来", "老客福利"]},
        {"id": "freebie", "label": "占小便宜型", "cues": ["送", "赠品"], "script": ["送小礼物", "包邮"]},
        {"id": "demanding", "label": "强势型", "strong": ["我要求"], "script": ["先道歉", "给方案"]},
    ]
}  # fmt: skip
INTENTS: dict[str, Any] = {"types": {"returning": {"cues": ["又来买"]}}}
HELLO = {"id": "a", "intent": "greeting", "code": "a", "text": "亲，您好呀", "triggers": ["在吗"]}
PHRASES = [("t.toml", {"phrase": [HELLO]})]
T0 = 1_795_140_000_000


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(Library.build(PHRASES, INTENTS, TYPES), strict=True)


@pytest.fixture
def shipped(shipped_matcher: Matcher) -> Matcher:
    return shipped_matcher


def calm(*texts: str) -> list[tuple[int, str]]:
    """Messages a minute apart."""
    return [(T0 + n * 60_000, t) for n, t in enumerate(texts)]


def burst(*texts: str, gap_ms: int = 1_500) -> list[tuple[int, str]]:
    """Messages typed one after another, a second or two apart."""
    return [(T0 + n * gap_ms, t) for n, t in enumerate(texts)]


# ---- cues, patterns and the result -------------------------------------------------------------------------


def test_classify_is_newcomer_when_nothing_points_elsewhere(matcher: Matcher) -> None:
    kind = matcher.classify(calm("你好", "这个有蓝色吗"))
    assert (kind.type, kind.label, kind.evidence, kind.sure) == ("newcomer", "陌生客户", (), True)
    assert kind.script == ("您好，欢迎", "有问题随时问")


def test_classify_without_messages_is_newcomer(matcher: Matcher) -> None:
    assert matcher.classify([]).type == "newcomer"
    assert matcher.classify([], []).type == "newcomer"


def test_classify_names_the_type_of_a_cue_with_the_buyers_words(matcher: Matcher) -> None:
    kind = matcher.classify(calm("能便宜点吗"))
    assert (kind.type, kind.sure) == ("bargainer", True)
    assert kind.evidence == ("便宜点",)
    assert 0.0 < kind.confidence <= 1.0


def test_classify_matches_cues_on_whole_words_only(matcher: Matcher) -> None:
    assert matcher.classify(calm("送到驿站就行")).type == "newcomer"  # 送 inside 送到
    assert matcher.classify(calm("能送我一个吗")).type == "freebie"
    assert matcher.classify(calm("有赠品吗")).type == "freebie"


def test_classify_prefers_the_longer_cue_over_the_one_inside_it(matcher: Matcher) -> None:
    assert matcher.classify(calm("别家更便宜点")).type == "pressuring"


def test_classify_counts_patterns(matcher: Matcher) -> None:
    kind = matcher.classify(calm("再不便宜我就走了"))
    assert kind.type == "pressuring"
    assert kind.evidence == ("不便宜我就走",)


def test_classify_counts_cues_kept_with_the_vocabulary(matcher: Matcher) -> None:
    assert matcher.classify(calm("我又来买啦")).type == "returning"


def test_a_cue_with_a_number_slot_matches_any_number() -> None:
    types = {"type": [dict(TYPES["type"][0]), {**TYPES["type"][2], "strong": ["少#块"]}]}
    m = Matcher(Library.build(PHRASES, {}, types), strict=True)
    assert m.classify(calm("能少5块吗")).type == "bargainer"
    assert m.classify(calm("能少十块吗")).type == "bargainer"
    assert m.classify(calm("少块布")).type == "newcomer"


def test_a_pattern_over_a_cue_is_one_piece_of_evidence() -> None:
    types = {
        "type": [
            dict(TYPES["type"][0]),
            {**TYPES["type"][4], "cues": ["上次买的"], "patterns": ["上次买的"]},
            {**TYPES["type"][1], "strong": [], "cues": ["仔细", "看看"]},
        ]
    }
    m = Matcher(Library.build(PHRASES, {}, types), strict=True)
    # 上次买的 counts once; two different words of the other type outweigh it.
    assert m.classify(calm("上次买的那件", "这次仔细点", "帮我看看")).type == "impatient"


def test_a_clear_threat_beats_the_haggling_around_it(matcher: Matcher) -> None:
    kind = matcher.classify(calm("便宜点", "多少钱", "价格能再低吗", "再不便宜我就走了"))
    assert kind.type == "pressuring"


def test_a_negation_undoes_a_cue(matcher: Matcher) -> None:
    for text in ("我不急用", "也不是很急用", "别急用"):
        assert matcher.classify(calm(text)).type == "newcomer", text
    assert matcher.classify(calm("我急用")).type == "impatient"


def test_politeness_softens_a_demand(matcher: Matcher) -> None:
    assert matcher.classify(calm("我要求今天发货")).type == "demanding"
    assert matcher.classify(calm("不好意思，我要求换个颜色可以吗")).type != "demanding"


def test_weak_evidence_names_no_type_and_says_not_sure(matcher: Matcher) -> None:
    kind = matcher.classify(calm("下周出差", "帮我催一下物流"))
    assert (kind.type, kind.sure) == ("newcomer", False)
    assert set(kind.evidence) == {"出差", "催"}
    assert customer_type_json(kind)["sure"] is False


def test_one_weak_word_is_not_worth_mentioning(matcher: Matcher) -> None:
    kind = matcher.classify(calm("下周出差"))
    assert (kind.type, kind.sure, kind.evidence) == ("newcomer", True, ())


def test_newer_evidence_outweighs_older_evidence_of_the_same_strength(matcher: Matcher) -> None:
    assert matcher.classify(calm("便宜点", "好的", "嗯", "急用")).type == "impatient"
    assert matcher.classify(calm("急用", "好的", "嗯", "便宜点")).type == "bargainer"


def test_one_message_of_another_kind_does_not_flip_the_type(matcher: Matcher, shipped: Matcher) -> None:
    # A cue in the next turn is only a little fresher than the one before it: the type first shown keeps the badge,
    # its confidence lowered by the close rival; more of the other kind, or older evidence, lets it go.
    for first, then in (("急用", "便宜点"), ("便宜点", "急用"), ("回购", "赠品")):
        kind = matcher.classify(calm(first, then))
        assert (kind.type, kind.sure) == (matcher.classify(calm(first)).type, True), (first, then, kind)
        assert kind.confidence < matcher.classify(calm(first)).confidence
    assert matcher.classify(calm("急用", "便宜点", "好的", "便宜点")).type == "bargainer"
    for first, then in (("是正品吗", "能便宜点吗"), ("我在你家买过好几次了", "送点小样吧")):
        assert shipped.classify(calm(first, then)).type == shipped.classify(calm(first)).type, (first, then)


def test_confidence_grows_with_evidence(matcher: Matcher) -> None:
    one = matcher.classify(calm("快点"))
    three = matcher.classify(calm("快点", "急用", "催一下"))
    assert (one.type, three.type) == ("impatient", "impatient")
    assert three.confidence > one.confidence


def test_json_shape() -> None:
    kind = CustomerType("impatient", "性急型", 0.8, ("快点",), ("马上", "这就办"))
    assert customer_type_json(kind) == {
        "type": "impatient", "label": "性急型", "confidence": 0.8, "sure": True, "evidence": ["快点"],
        "script": ["马上", "这就办"], "rival": None, "past_orders": 0,
    }  # fmt: skip


def test_near_tie_shows_both_types_with_the_words_of_each(shipped: Matcher) -> None:
    kind = shipped.classify(calm("做工", "正品"))
    assert (kind.type, kind.rival, kind.rival_label) == ("picky", "suspicious", "敏感型（多疑）")
    assert kind.evidence == ("做工", "正品")
    assert customer_type_json(kind)["rival"] == {"type": "suspicious", "label": "敏感型（多疑）"}


def test_clear_lead_or_a_narrower_type_is_no_near_tie(shipped: Matcher) -> None:
    assert shipped.classify(calm("急用")).rival == ""
    haggling_threat = shipped.classify(calm("便宜点 我回头给你介绍一堆客户", "不便宜就拉倒"))
    assert (haggling_threat.type, haggling_threat.rival) == ("pressuring", "")


# ---- time: turns, waits and re-asking ----------------------------------------------------------------------


@pytest.mark.parametrize("replies", [None, []])
def test_a_burst_of_five_neutral_messages_stays_default(shipped: Matcher, replies: list[int] | None) -> None:
    messages = burst("你好", "想问下", "这个保温杯", "能装开水吗", "谢谢")
    kind = shipped.classify(messages, replies)
    assert (kind.type, kind.sure) == ("newcomer", True)


def test_presence_checks_in_one_burst_are_one_turn(shipped: Matcher) -> None:
    assert shipped.classify(burst("在吗", "在吗？", "有人吗")).type == "newcomer"


def test_reasking_after_60s_unanswered_is_impatient(shipped: Matcher) -> None:
    messages = [(T0, "这款有白色吗"), (T0 + 60_000, "在吗？")]
    kind = shipped.classify(messages, [])
    assert (kind.type, kind.sure) == ("impatient", True)
    assert kind.evidence == ("在吗？",)


def test_asking_the_same_question_again_after_a_wait_is_impatient(shipped: Matcher) -> None:
    messages = [(T0, "这款有白色吗"), (T0 + 90_000, "这款有白色吗")]
    assert shipped.classify(messages, []).type == "impatient"


def test_reasking_after_an_answer_is_not_impatient(shipped: Matcher) -> None:
    messages = [(T0, "这款有白色吗"), (T0 + 60_000, "在吗？")]
    assert shipped.classify(messages, [T0 + 20_000]).type == "newcomer"


def test_reasking_after_a_short_wait_is_not_impatient(shipped: Matcher) -> None:
    messages = [(T0, "这款有白色吗"), (T0 + 15_000, "在吗？")]
    assert shipped.classify(messages, []).type == "newcomer"


def test_a_longer_wait_is_clearer_evidence(shipped: Matcher) -> None:
    short = shipped.classify([(T0, "有白色吗"), (T0 + 50_000, "在吗")], [])
    long = shipped.classify([(T0, "有白色吗"), (T0 + 300_000, "在吗")], [])
    assert short.type == long.type == "impatient"
    assert long.confidence > short.confidence


def test_without_reply_times_presence_checks_turn_after_turn_mean_impatient(shipped: Matcher) -> None:
    kind = shipped.classify(calm("在吗", "在吗？", "有人吗"))
    assert kind.type == "impatient"
    assert "有人吗" in kind.evidence


def test_times_out_of_order_or_missing_do_no_harm(shipped: Matcher) -> None:
    messages: list[Any] = [(T0, "这款有白色吗"), (None, "在吗"), (T0 - 500_000, "在吗"), ("x", 5), (T0, "好的")]
    assert shipped.classify(messages, [True, "x", T0]).type == "newcomer"  # type: ignore[list-item]


# ---- the shipped vocabulary --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "messages",
    [
        ["放快递柜就行", "送到驿站也可以"],  # 送 of delivery is no gift
        ["充电线有多长", "数据线是配的吗"],  # 数据 inside 数据线
        ["寄过来要多久", "买过来几天能到"],  # 买过 across 买/过来
        ["多少斤以内穿M码", "我一百斤"],  # 以内 without a price
        ["到了能先验货再签收吗"],
        ["抱歉啊，我要求换个大一码的可以吗"],  # a request inside an apology
        ["这个需要必须充满电才能用吗"],  # 必须 asked about, not demanded
        ["有没有优惠券可以领"],  # 优惠券 is not 优惠
        ["这件毛衣会起球吗", "好的 谢谢"],
        ["我想给我妈买 她一直穿l", "颜色有几种"],  # what she wears, not where she bought it (was returning)
        ["买了猫粮赠品没收到", "订单号发你了"],  # a missing gift is a complaint, not a wish for more (was freebie)
        ["赠品不要了 直接发"],
        ["我家住304房间 写地址要写吗"],  # a room number, not the steel (was professional)
        ["坐316路公交能到吗"],
        # Ordinary clothing-shop words that named a type on their own (returning, pressuring, demanding, freebie …).
        ["拍两件的话第二件多少钱"],  # the second piece, not a second purchase
        ["第一件要白色 第二件要黑色"],
        ["这款我只要一条就够了"],  # a quantity, not a price
        ["我要的是蓝色那款"],
        ["想送我爸一件外套", "他平时穿XL"],  # a gift for someone else
        ["最好的搭配是哪个颜色"],  # asking for advice, not for the dearest
        ["最便宜的物流是哪家"],  # postage, not a tight budget
    ],
)
def test_shipped_types_leave_out_of_context_words_default(shipped: Matcher, messages: list[str]) -> None:
    for replay in (burst(*messages, gap_ms=0), burst(*messages, gap_ms=11_000), calm(*messages)):
        kind = shipped.classify(replay)
        assert kind.type == "newcomer", (messages, kind)


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        # An outside test's conversations the badge misjudged (budget, newcomer ×3).
        (["我要送客户 要拿得出手的", "预算不限", "一次要20套"], "affluent"),
        (["国行还是港版", "支持5g双卡吗"], "professional"),
        (["猫粮蛋白质含量多少", "是无谷粮吗"], "professional"),
        (["怎么销量这么少", "评论都是好评 有点假"], "suspicious"),
        (["80块行不行"], "bargainer"),
        (["三件100可以吗"], "bargainer"),
        (["一百二卖不卖"], "bargainer"),
        (["下周一就要用", "还来得及吗"], "impatient"),
        (["我再想想吧"], "hesitant"),
        (["就怕收到不合适", "退换太麻烦"], "hesitant"),
        (["上次那件质量真不错", "这次想换个颜色"], "returning"),
        (["不给退我就去投诉平台"], "demanding"),
        (["那我去别家买了"], "pressuring"),
        (["你们再这样我不会再来了"], "demanding"),
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
        # A third outside test: professionals of other fields were left default, an offer to buy read as a threat.
        (["这个路由器是wifi6吗", "几根天线", "千兆口吗"], "professional"),
        (["羽毛球拍几u的", "平衡点多少毫米", "最高拉多少磅"], "professional"),
        (["电热水壶内胆是304不锈钢的吗"], "professional"),
        (["保温杯是316还是304"], "professional"),
        (["两罐奶粉能不能少点", "少20我就买"], "bargainer"),
        (["赠品是什么", "小样多给几个"], "freebie"),
        # Everyday clothing-shop wording of the types, and a lower price feared as a fake, not used as a threat.
        (["怎么比专柜便宜这么多"], "suspicious"),
        (["这双是不是退回来的又重新卖"], "suspicious"),
        (["我已经第四遍问你了", "再不处理我直接找小二"], "demanding"),
        (["这叫什么态度", "凭什么不退"], "demanding"),  # 什么 asks nothing: the demand is not softened
        (["能打个85折吗"], "bargainer"),
        (["价格再美丽点呗"], "bargainer"),
        (["感觉小贵"], "bargainer"),
        (["便宜滴嘛"], "bargainer"),
        (["两双都好看 挑不出来"], "hesitant"),
        (["让我想一想"], "hesitant"),
        (["我先转转"], "hesitant"),
        (["我先比较一下"], "hesitant"),
        (["要不先不买了吧"], "hesitant"),  # 要不 is "how about", not a negation
        (["周日聚会要穿"], "impatient"),
        (["这条裙子等着穿呢"], "impatient"),
        (["在你们店拍过好几次了"], "returning"),
        (["冲鸭 买它"], "impulsive"),
        # A buyer's own forms of the seed's 威逼利诱, of waiting unanswered, of polite haggling, of buying again.
        (["这双靴子就120", "不行我就走了"], "pressuring"),
        (["问了二十分钟了", "还回不回"], "impatient"),
        (["这是第二次问了", "到底有没有货"], "impatient"),
        (["打扰一下", "这件外套还有优惠的空间吗"], "bargainer"),
        (["之前入过一件白色的", "这次想换个颜色"], "returning"),
    ],
)
def test_shipped_types(shipped: Matcher, messages: list[str], expected: str) -> None:
    for replay in (burst(*messages, gap_ms=0), calm(*messages)):
        kind = shipped.classify(replay)
        assert kind.type == expected, (messages, kind)
        assert kind.label and len(kind.script) >= 2


def _cue_words(shipped: Matcher) -> list[str]:
    specs = shipped.library.customer_types.values()
    return sorted({w for s in specs for w in (*s.strong, *s.cues, *s.weak) if "#" not in w})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_cues_shown_are_the_buyers_own_words(shipped: Matcher, data: st.DataObject) -> None:
    words = _cue_words(shipped)
    piece = st.one_of(
        st.sampled_from(words),
        st.sampled_from(["，", "？", " ", "!!", "亲", "吧", "😀", "\u3000", "這個", "ＯＫ", "80块", "可以吗", "在吗"]),
        st.text(max_size=6),
    )
    message = st.lists(piece, min_size=1, max_size=6).map("".join)
    texts = data.draw(st.lists(message, min_size=1, max_size=6))
    gap = data.draw(st.sampled_from([0, 11_000, 60_000]))
    replies: list[int] | None = data.draw(st.sampled_from([None, []]))
    kind = shipped.classify([(T0 + n * gap, t) for n, t in enumerate(texts)], replies)
    for shown in kind.evidence:
        assert any(shown in t for t in texts), (shown, texts)


def test_badge_words_are_shown_as_the_customer_wrote_them(shipped: Matcher) -> None:
    kind = shipped.classify(calm("趕時間 快點發貨"))  # traditional characters: matched simplified, shown as written
    assert kind.type == "impatient"
    assert kind.evidence == ("趕時間", "快點")


def test_a_customer_who_has_ordered_is_no_sure_stranger_and_gets_no_welcome(shipped: Matcher) -> None:
    kind = shipped.classify(calm("裤子今天到货了", "拉链拉不上 怎么处理"))
    newcomer = shipped.library.customer_types["newcomer"]
    assert (kind.type, kind.sure, kind.evidence) == ("newcomer", False, ("到货了",))
    assert kind.script == newcomer.ordered_script and not set(kind.script) & set(newcomer.script)
    assert shipped.classify(calm("裤子有黑色吗", "怎么拍")).sure  # a stranger is still one


def test_a_customer_whose_conversation_has_an_order_gets_no_welcome_whatever_their_words(shipped: Matcher) -> None:
    # The order's event says what the words do not (怎么拍 after the order was placed: a question of a buyer).
    newcomer = shipped.library.customer_types["newcomer"]
    assert shipped.classify(calm("裤子有黑色吗", "怎么拍")).script == newcomer.script
    kind = shipped.classify(calm("裤子有黑色吗", "怎么拍"), ordered=True)
    assert (kind.type, kind.sure, kind.script) == ("newcomer", False, newcomer.ordered_script)
    impatient = shipped.classify(calm("快点发货", "急用"), ordered=True)  # a type that serves an order keeps its track
    assert (impatient.type, impatient.script) == ("impatient", shipped.library.customer_types["impatient"].script)


def test_a_buyer_with_an_order_in_transit_gets_no_welcome(shipped: Matcher) -> None:
    kind = shipped.classify(calm("我的外套还没发货吗", "物流一直没更新"))
    assert (kind.type, kind.sure) == ("newcomer", False)
    assert kind.script == shipped.library.customer_types["newcomer"].ordered_script


@pytest.mark.parametrize(
    "messages",
    [["老主顾了", "这次的裙子破了个口子", "要退货"], ["买过好几次了", "这次收到的凉鞋开胶了"]],
)
def test_a_returning_buyer_who_complains_gets_the_after_order_track(shipped: Matcher, messages: list[str]) -> None:
    kind = shipped.classify(calm(*messages))
    types = shipped.library.customer_types
    assert kind.type == "returning" and kind.sure
    assert kind.script == types["newcomer"].ordered_script and not set(kind.script) & set(types["returning"].script)


def test_an_after_order_complaint_keeps_a_track_that_serves_an_order(shipped: Matcher) -> None:
    kind = shipped.classify(calm("收到的裤子破了", "我要投诉"))
    assert (kind.type, kind.script) == ("demanding", shipped.library.customer_types["demanding"].script)


def test_badge_shows_an_abbreviation_as_the_customer_wrote_it(shipped: Matcher) -> None:
    kind = shipped.classify(calm("PYD可以吗"))  # read as 便宜点, shown as written
    assert (kind.type, kind.evidence) == ("bargainer", ("PYD",))


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        (["预算这块不用考虑", "帮我配一身见家长穿的"], "affluent"),
        (["预算上没问题", "主要看款式"], "affluent"),
        (["我要求也不高", "穿着舒服就可以"], "newcomer"),
    ],
)
def test_a_dismissal_after_a_word_undoes_it(shipped: Matcher, messages: list[str], expected: str) -> None:
    kind = shipped.classify(calm(*messages))
    assert kind.type == expected, kind
    assert kind.type != "newcomer" or kind.sure


@pytest.mark.parametrize(
    "messages",
    [
        ["我闺蜜在你们家买过好多次", "推荐我来的", "这件风衣有S码吗"],
        ["我表姐说你家鞋子不错", "她以前买过", "38的脚穿哪个码"],
        ["这款满199减20是下单自动减吗", "还是要领券"],
    ],
)
def test_someone_elses_purchase_or_the_shops_promotion_names_no_type(shipped: Matcher, messages: list[str]) -> None:
    kind = shipped.classify(calm(*messages))
    assert (kind.type, kind.sure) == ("newcomer", True), kind


def test_the_buyers_own_purchase_after_naming_someone_still_counts(shipped: Matcher) -> None:
    assert shipped.classify(calm("我妈说好看", "我之前在你家买过一件")).type == "returning"


@pytest.mark.parametrize(
    "messages",
    [
        ["下午拍今天能发吗", "寄到成都什么时候能到", "最快要几天"],
        ["这个毛衣会起球吗", "洗了掉色吗", "实物和图片一样吗"],
    ],
)
def test_routine_questions_of_weak_words_alone_name_no_type(shipped: Matcher, messages: list[str]) -> None:
    kind = shipped.classify(calm(*messages))
    assert (kind.type, kind.sure) == ("newcomer", False), kind
    assert len(kind.evidence) >= 3  # the words still show, as leaning towards a type


def test_a_wait_complained_of_names_impatience(shipped: Matcher) -> None:
    assert shipped.classify(calm("到现在还没看到物流")).type == "impatient"


def test_a_negation_after_how_about_still_negates(shipped: Matcher) -> None:
    assert shipped.classify(calm("我要不急用就晚点发")).type == "newcomer"


def test_badge_words_are_never_labels(shipped: Matcher) -> None:
    kind = shipped.classify(calm("这个是不是真的啊", "靠谱吗"))
    assert kind.type == "suspicious"
    assert all(word in "这个是不是真的啊靠谱吗" for word in kind.evidence)


# ---- the conversation state gives the classifier the agent's reply times -----------------------------------


async def _post(client: Client, ts: int, text: str, sender: str = "customer") -> dict[str, Any]:
    fields: dict[str, Any] = {"sender": sender, "text": text, "ts": ts}
    if sender == "agent":
        fields["agent"] = "小美"
    resp = await client.post("/v1/events", data=body_of(make_event(**fields)))
    assert resp.status == 200
    return dict(await resp.json())


async def test_reasking_an_unanswered_question_over_the_webhook_is_impatient(client: Client) -> None:
    await _post(client, T0, "这个杯子能装开水吗")
    body = await _post(client, T0 + 75_000, "在吗？")
    assert body["customer_type"]["type"] == "impatient"
    assert body["customer_type"]["evidence"] == ["在吗？"]


async def test_reasking_after_the_agent_answered_is_not_impatient(client: Client) -> None:
    await _post(client, T0, "这个杯子能装开水吗")
    await _post(client, T0 + 10_000, "可以的亲", sender="agent")
    body = await _post(client, T0 + 75_000, "在吗？")
    assert body["customer_type"]["type"] == "newcomer"


async def test_reply_times_rebuilt_from_the_log_match_the_live_state(client: Client, db_path: Path) -> None:
    await _post(client, T0, "有现货吗")
    await _post(client, T0 + 5_000, "有的", sender="agent")
    await _post(client, T0 + 6_000, "亲，今天下单今天发", sender="agent")  # answers nothing new
    await _post(client, T0 + 30_000, "好的 发什么快递")
    await _post(client, T0 + 40_000, "默认中通", sender="agent")
    live = client.app[ENGINE].conversations.get("shop1", "conv1")
    assert list(live.agent_replies) == [T0 + 5_000, T0 + 40_000]
    rebuilt = Conversations(db_path)
    try:
        assert list(rebuilt.get("shop1", "conv1").agent_replies) == list(live.agent_replies)
    finally:
        rebuilt.close()


@pytest.mark.parametrize("texts", [("做工", "正品"), ("别家", "预算"), ("进口的", "预算")])
def test_a_named_type_never_shows_less_confidence_than_naming_takes(shipped: Matcher, texts: tuple[str, ...]) -> None:
    """Two cues of different types side by side: the type named is sure, so its percentage is at least 40 %
    (docs/phrases.md: 0.3–0.4 is 不确定), however close the runner-up."""
    kind = shipped.classify(calm(*texts))
    assert kind.sure and kind.type != "newcomer"
    assert 0.4 <= kind.confidence < 0.45  # at the threshold, below a clear single cue's 0.45
