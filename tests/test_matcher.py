"""Suggestions: ranking, thresholds, context re-ranking, search, and robustness on bad input."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.suggest.matcher import Context, Matcher, Suggestion, customer_type_json, suggestion_json
from assistant.suggest.phrases import Library

ROOT = Path(__file__).resolve().parent.parent


def _p(pid: str, intent: str, code: str, text: str, *triggers: str, types: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"id": pid, "intent": intent, "code": code, "text": text, "triggers": list(triggers), "types": list(types)}


PHRASES = [
    _p("ship.today", "shipping_time", "fh1", "亲，下午4点前付款当天发出哦~", "什么时候发货", "今天能发吗"),
    _p("ship.48h", "shipping_time", "fh2", "亲，付款后48小时内发出~", "多久能发", "几天发货", types=("impatient",)),
    _p("ship.presale", "shipping_time", "fh3", "亲，预售款按页面时间发出哦", "预售什么时候发"),
    _p("log.where", "logistics", "wl1", "亲，我帮您查一下物流~", "快递到哪了", "物流没更新"),
    _p("pay.channels", "payment", "fk1", "亲，支付宝和花呗都可以用哦", "能用花呗吗", "怎么付款"),
    _p("remind.pay", "payment_reminder", "cf1", "亲，订单还没付款哦，{{ customer }}记得付款~", "付款"),
    _p("follow.idle", "followup", "gj1", "亲，刚才的问题还有疑问吗？"),
    _p("refund.when", "refund", "tk1", "亲，退款原路退回，一般1-3天到账~", "退款多久到账", "钱什么时候退"),
    _p("ret.how", "return_exchange", "th1", "亲，支持七天无理由退换哦~", "可以退货吗", "能换货吗"),
    _p("hello", "greeting", "hy1", "亲，欢迎光临{{ shop }}，请问有什么可以帮您？", "在吗", "你好"),
    _p("urge.here", "urge", "cd1", "亲，在的在的，让您久等了~", "人呢", "怎么不回"),
]
INTENTS_DATA: dict[str, Any] = {
    "intent": {
        "shipping_time": {"label": "发货时间", "keywords": ["发货", "几天发"], "weak": ["多久"]},
        "logistics": {"label": "物流", "strong": ["物流", "单号"], "weak": ["多久到"]},
        "payment": {"label": "付款", "strong": ["花呗", "支付宝"], "keywords": ["付款"]},
        "refund": {"label": "退款", "strong": ["退款"]},
        "return_exchange": {"label": "退换", "strong": ["退货", "换货"]},
        "greeting": {"label": "问候", "keywords": ["在吗", "你好"]},
        "urge": {"label": "催促", "whole": ["?"]},
    },
    "synonyms": {"hb": "花呗", "啥": "什么"},
    "questions": {"markers": ["吗", "?", "什么"], "fallback": None},
}
TYPES_DATA: dict[str, Any] = {
    "type": [
        {"id": "newcomer", "label": "陌生", "script": ["您好", "欢迎"]},
        {"id": "impatient", "label": "性急", "cues": ["快点"], "script": ["马上", "这就办"]},
    ]
}


@pytest.fixture(scope="module")
def library() -> Library:
    return Library.build(
        [("t.toml", {"group": "测试", "phrase": PHRASES})], INTENTS_DATA, TYPES_DATA, {"shop": "测试店"}
    )


@pytest.fixture(scope="module")
def matcher(library: Library) -> Matcher:
    return Matcher(library, strict=True)


@pytest.fixture(scope="module")
def shipped(shipped_library: Library) -> Matcher:
    return Matcher(shipped_library, strict=True)


@pytest.fixture(scope="module")
def shipped_library() -> Library:
    return Library.load(ROOT / "phrases", {"shop": "测试店"})


def test_suggest_ranks_phrases_of_the_message_intent(matcher: Matcher) -> None:
    result = matcher.suggest("这个啥时候发货呀")
    assert result[0].intent == "shipping_time"
    assert result[0].phrase_id == "ship.today"
    assert result[0].trigger == "什么时候发货"
    assert len(result) == 3


def test_suggest_renders_text_with_context_variables(matcher: Matcher) -> None:
    result = matcher.suggest("在吗", Context(variables={"shop": "小店"}))
    assert result[0].text == "亲，欢迎光临小店，请问有什么可以帮您？"
    assert matcher.suggest("在吗")[0].text == "亲，欢迎光临测试店，请问有什么可以帮您？"


def test_suggest_returns_nothing_below_the_threshold(matcher: Matcher) -> None:
    assert matcher.suggest("今天天气真不错") == []
    assert matcher.suggest("asdfgh") == []


def test_suggest_respects_k(library: Library) -> None:
    assert len(Matcher(library, k=1).suggest("什么时候发货")) == 1
    assert Matcher(library, k=0).suggest("什么时候发货") == []


def test_suggest_shows_a_close_second_intent(matcher: Matcher) -> None:
    intents = [s.intent for s in matcher.suggest("退货退款多久到账")]
    assert intents[0] in ("refund", "return_exchange")
    assert {"refund", "return_exchange"} <= set(intents)


def test_top_intent_phrases_come_first(matcher: Matcher) -> None:
    intents = [s.intent for s in matcher.suggest("什么时候发货")]
    assert intents[0] == "shipping_time"
    assert intents == sorted(intents, key=lambda i: i != "shipping_time")


def test_synonyms_reach_the_intent(matcher: Matcher) -> None:
    assert matcher.suggest("hb能用不")[0].intent == "payment"


def test_assistant_intents_are_never_suggested_without_context(matcher: Matcher) -> None:
    for text in ("付款", "怎么付款", "刚才的问题", "还有疑问吗"):
        assert all(s.intent not in ("payment_reminder", "followup") for s in matcher.suggest(text))


def test_unpaid_order_lifts_the_payment_reminder(matcher: Matcher) -> None:
    result = matcher.suggest("怎么付款", Context(has_unpaid_order=True, variables={"customer": "小王"}))
    assert result[0].intent == "payment_reminder"
    assert result[0].text == "亲，订单还没付款哦，小王记得付款~"
    assert "payment" in [s.intent for s in result]


def test_adoption_lifts_a_phrase_within_its_intent(matcher: Matcher) -> None:
    assert matcher.suggest("几天能发货")[0].phrase_id == "ship.48h"
    lifted = matcher.suggest("几天能发货", Context(adoption={"ship.today": 20}))
    assert lifted[0].phrase_id == "ship.today"


def test_customer_type_lifts_phrases_written_for_it(matcher: Matcher) -> None:
    plain = {s.phrase_id: s.score for s in matcher.suggest("发货")}
    typed = {s.phrase_id: s.score for s in matcher.suggest("发货", Context(customer_type="impatient"))}
    assert typed["ship.48h"] > plain["ship.48h"]
    assert typed["ship.today"] == plain["ship.today"]


def test_earlier_messages_help_a_message_that_says_little(matcher: Matcher) -> None:
    context = Context(customer_messages=((0, "我的物流怎么没更新"),))
    assert matcher.intent_scores("还没有", context).get("logistics", 0) > matcher.intent_scores("还没有").get(
        "logistics", 0
    )


def test_whole_message_forms_match(matcher: Matcher) -> None:
    assert matcher.suggest("？？？")[0].intent == "urge"


@pytest.mark.parametrize("text", ["[图片]", "[表情]", "😀😀", "[emoji]", "", "   ", "~", "👍👍", "👌", "🙏 👍", "😡"])
def test_a_message_with_nothing_to_read_gets_no_suggestion(shipped: Matcher, text: str) -> None:
    # Buyers send photos and stickers all day; the platform writes them as placeholders. None of them is a
    # reminder (the scorer once answered each with 让您久等了 at 0.80): the agent has to look at it.
    assert shipped.suggest(text) == [] and shipped.intent_scores(text) == {}
    assert shipped.suggest("？？")[0].intent == "urge"  # question marks alone still are
    assert shipped.suggest("❓❓")[0].intent == "urge"  # ... drawn as emoji too


def test_an_emoji_beside_words_is_read_as_its_synonym(shipped: Matcher) -> None:
    assert shipped.suggest("好的👌")[0].intent == "thanks_bye"
    assert shipped.suggest("❗什么时候发货")[0].intent == "shipping_time"


@pytest.mark.parametrize("text", ["ji tian neng dao", "dou you shen me yan se", "zhe ge you huo ma", "能tui货吗"])
def test_pinyin_is_never_read_as_english_by_its_letters(shipped: Matcher, text: str) -> None:
    found = shipped.suggest(text)
    assert not [w for s in found for w in s.evidence if w.isascii() and len(w) <= 2], text
    assert not found or found[0].confidence < 0.5, text  # unreadable: silent, or a guess the panel dims


@pytest.mark.parametrize(
    ("text", "intent", "word"),
    [
        ("能 cancel 吗", "refund", "取消"),
        ("cancel订单", "refund", "取消订单"),
        ("fa huo le ma", "shipping_time", "发货"),
        ("zheng pin ma", "authenticity", "正品"),
    ],
)
def test_english_words_and_pinyin_spellings_of_key_words_are_read(
    shipped: Matcher, text: str, intent: str, word: str
) -> None:
    first = shipped.suggest(text)[0]
    assert (first.intent, first.evidence[0]) == (intent, word)
    assert shipped.suggest("bao you ma")[0].evidence[0] == "包邮"


def test_scores_are_between_0_and_100(matcher: Matcher) -> None:
    for s in matcher.suggest("什么时候发货 物流 退款"):
        assert 0.0 <= s.score <= 100.0


def test_search_finds_by_code_prefix_then_text(matcher: Matcher) -> None:
    by_code = matcher.search("fh")
    assert [s.code for s in by_code[:3]] == ["fh1", "fh2", "fh3"]
    assert matcher.search("/tk1")[0].phrase_id == "refund.when"
    assert matcher.search("七天无理由")[0].phrase_id == "ret.how"
    assert matcher.search("") == []
    assert len(matcher.search("亲", limit=2)) <= 2


def test_render_by_id(matcher: Matcher) -> None:
    assert matcher.render("hello", {"shop": "A店"}) == "亲，欢迎光临A店，请问有什么可以帮您？"
    with pytest.raises(KeyError):
        matcher.render("nope", {})


def test_json_shapes() -> None:
    s = Suggestion("a", "refund", "tk1", "文本", 88.5, "退款", confidence=0.9, evidence=("退款", "到账"))
    assert suggestion_json(s) == {
        "phrase_id": "a", "intent": "refund", "code": "tk1", "text": "文本", "score": 88.5, "trigger": "退款",
        "confidence": 0.9, "evidence": ["退款", "到账"],
    }  # fmt: skip


BAD_INPUTS = [
    "",
    " ",
    "发货" * 5000,
    "😀😂🎉👍🏻❤️",
    "\x00\x01\x02\x1b[31m\u200b\ufeff",
    "在吗hello世界مرحبا Привет こんにちは 안녕하세요 ☃",
    "\ud800\udfff",
    "？" * 300,
    "{{ shop }}{% for %}",
    "\n\t\r",
]


@pytest.mark.parametrize("text", BAD_INPUTS)
def test_bad_input_gives_a_clean_result(matcher: Matcher, shipped: Matcher, text: str) -> None:
    for m in (matcher, shipped):
        result = m.suggest(text)
        assert isinstance(result, list) and len(result) <= m.k
        assert all(0.0 <= s.score <= 100.0 for s in result)
        kind = m.classify([(0, text), (1, text)])
        assert kind.type
        assert isinstance(m.search(text), list)


def test_non_string_input_gives_nothing(matcher: Matcher) -> None:
    assert matcher.suggest(None) == []
    assert matcher.search(None) == []


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200), k=st.integers(min_value=1, max_value=5))
def test_suggest_never_raises_and_keeps_its_promises(shipped: Matcher, text: str, k: int) -> None:
    shipped.k = k  # the same preprocessed library; k only limits the result
    try:
        result = shipped.suggest(text)
    finally:
        shipped.k = 3
    assert len(result) <= k
    assert all(0.0 <= s.score <= 100.0 for s in result)
    assert len({s.phrase_id for s in result}) == len(result)


# Messages built from the pieces real ones are made of: words, punctuation, spaces, codes, pasted cards.
PIECES = st.sampled_from([
    "你好", "在吗", "谢谢", "请问", "发货", "退款", "快递", "到哪了", "吗", "？", "，", "。", " ", "\n", "~", "!!",
    "[微笑]", "[数字x]", "#E-s14", "订单号:", "1234567890123", "商品ID:", "https://a.b/c?d=1", "7.5折", "xl",
    "😀", "\u200b", "\ud800", "单号", "订单号：[订单x]", "{{ shop }}", "…", "、",
])  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(PIECES | st.text(max_size=6), max_size=30))
def test_no_message_makes_the_engine_raise(shipped: Matcher, parts: list[str]) -> None:
    text = "".join(parts)
    result = shipped.suggest(text)
    assert all(0.0 <= s.confidence <= 1.0 and 0.0 <= s.score <= 100.0 for s in result)
    reading = shipped.read(text)
    assert reading.message.focus == reading.message.focus.strip()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messages=st.lists(st.tuples(st.integers(min_value=-(2**40), max_value=2**40), st.text(max_size=80)), max_size=8))
def test_classify_never_raises(shipped: Matcher, messages: list[tuple[int, str]]) -> None:
    kind = shipped.classify(messages)
    assert 0.0 <= kind.confidence <= 1.0
    assert customer_type_json(kind)["type"] == kind.type


def test_shipped_library_answers_common_questions(shipped: Matcher) -> None:
    cases = {
        "亲，什么时候发货呀": "shipping_time",
        "快递到哪了": "logistics",
        "zfb付不了": "payment",
        "能开发票吗": "invoice",
        "我要退款": "refund",
        "是正品吗": "authenticity",
        "有赠品吗": "gift",
        "谢谢亲": "thanks_bye",
        "發貨了嗎": "shipping_time",
        "160cm 100斤穿多大码": "size_advice",
    }
    for text, intent in cases.items():
        assert shipped.suggest(text)[0].intent == intent, text


def test_shipped_library_suggestion_has_rendered_text(shipped: Matcher) -> None:
    s = shipped.suggest("在吗", Context(variables={"shop": "好物店", "agent": "小美"}))[0]
    assert "{{" not in s.text and s.text


def test_a_weaker_second_guess_is_shown_before_a_third_copy(shipped: Matcher) -> None:
    # "够不够用" leans to stock, "几升" to product_info: both belong in the top three.
    intents = [s.intent for s in shipped.suggest("空气炸锅几升的，三口人够不够")]
    assert {"stock", "product_info"} <= set(intents)


def test_a_pattern_hit_shows_the_words_it_matched(shipped: Matcher) -> None:
    top = shipped.suggest("吹风机用了三次就不出热风了")[0]
    assert top.intent == "quality_issue"
    assert "(" not in top.trigger and "|" not in top.trigger


def test_problem_descriptions_without_a_defect_noun_reach_quality_issue(shipped: Matcher) -> None:
    for text in ("杯盖拧不紧", "开关一按就没反应", "穿了两次就开线了", "the zipper broke"):
        assert shipped.suggest(text)[0].intent == "quality_issue", text


def test_an_order_placed_with_the_wrong_spec_is_not_an_address_change(shipped: Matcher) -> None:
    # 拍错 is ordering the wrong colour or size: the change of spec (or an exchange), not the address.
    for text in ("拍错颜色了能改吗", "拍错了能改吗", "尺码选错了 还没发货能改吗"):
        top = shipped.suggest(text)[0]
        assert (top.intent, top.phrase_id) == ("return_exchange", "return_exchange.wrong_spec"), text
    for text in ("地址填错了能改吗", "电话写错了能改吗", "能改地址吗 拍错了"):
        assert shipped.suggest(text)[0].intent == "address_change", text


@pytest.mark.parametrize(
    ("text", "phrase_id"),
    [
        ("洗了会缩水吗", "product_info.washing"),
        ("保质期多久", "product_info.shelf_life"),
        ("孕妇可以用吗", "product_info.special_groups"),
        ("能不能晚几天发", "shipping_time.later"),
        ("帮我备注一下 不要放驿站", "logistics.delivery_request"),
        ("快递放驿站了吗", "logistics.pickup_station"),
        ("快递丢了", "logistics.lost"),
        ("是不是纯棉", "product_info.material"),  # once 正品 (authenticity): 保证正品…包退包赔
        ("是国产的吗", "product_info.origin"),
        ("有没有加绒", "product_info.warmth"),
        ("我身高175穿多大鞋", "size_advice.shoes"),  # once the children's sizes
    ],
)
def test_the_first_suggestion_answers_what_was_asked(shipped: Matcher, text: str, phrase_id: str) -> None:
    # Right intent, wrong phrase is still a wrong answer: 能不能晚几天发 once got "shipped within 48 hours".
    assert shipped.suggest(text)[0].phrase_id == phrase_id


@pytest.mark.parametrize(
    ("text", "phrase_id"),
    [
        # Questions an outside test found answered by something else; each once got the phrase in the comment.
        ("这个吹风机保修多久", "return_exchange.warranty"),  # 换颜色或款式也可以
        ("坏了能保修吗 去哪修", "return_exchange.warranty"),  # 尺码不合适可以换的
        ("电压是220的吗 带去日本能用吗", "product_info.voltage"),  # 主图都是实物实拍
        ("充电要多久能充满", "product_info.battery"),  # 生产日期和保质期
        ("充电头送吗还是要自己买", "product_info.in_box"),  # 店里的热销款
        ("沙发要自己安装吗", "product_info.installation"),  # 店里的热销款
        ("桌子能上门安装吗 收费不", "product_info.installation"),  # 避免暴晒和硬物刮擦
        ("色号怎么选 我皮肤偏黄", "product_info.shade"),  # 店里的热销款
        ("这款面膜有没有酒精", "product_info.material"),  # 主图都是实物实拍
        ("婴儿衣服是a类的吗", "product_info.material"),  # 主图都是实物实拍
        ("用了你家水乳脸上起红疹了咋办", "quality_issue.allergy"),  # 愿意留下使用，我们给您适当补偿
        ("夏天发货会不会化 有冰袋吗", "express_choice.cold_chain"),  # 当天截单时间前付款的订单当天发出
        ("是冷链发货吗", "express_choice.cold_chain"),  # 大件或重货用物流专线
        ("偏远地区包邮不", "express_choice.remote_fee"),  # 偏远地区可以帮您发邮政EMS
        ("优惠券怎么用不了", "promotion.coupon_failed"),  # 首页可以领优惠券
        ("领的券下单没减", "promotion.coupon_failed"),  # 首页可以领优惠券
        ("价保多少天", "price_bargain.price_stable"),  # 这个价格已经很实在啦
        ("有没有送运费险", "gift.freight_insurance"),  # 暂时没有额外的赠品
        ("预售定金能退吗", "refund.deposit"),  # 退货的运费可以一起申请
        ("尾款什么时候付", "payment.balance"),  # 支持支付宝、银行卡、花呗
        ("定金付了尾款忘付了咋办", "payment.balance"),  # 查到您的订单已经付款成功了
        ("拍下忘记付款了 订单关了", "payment.closed_reorder"),  # 查到您的订单已经付款成功了
        ("拍下未付款能帮我留着吗", "stock.reserve"),  # 淘宝交易是平台担保的
        ("拍下了没付款 还能改地址不", "address_change.before_ship"),  # 订单已经发出了，拦截改址
        ("地址写错了 已经发货了", "address_change.shipped"),  # 订单还没发货，地址可以修改
        ("快递一直停在中转站", "logistics.stuck"),  # 已经到您附近的驿站或快递柜啦
        ("缺货了还会有吗", "stock.restock_time"),  # kc1, the in-stock answer
        ("床的尺寸1米8的有吗", "stock.in_stock"),  # kc5, the other-colour answer
        ("申请了退款没人处理", "refund.progress"),  # 可以直接在订单详情申请退款
        ("敏感肌油皮 这个洗面奶适合我不", "product_info.suitable"),  # the shade phrase's 哪个色号适合我 pulled it
    ],
)
def test_the_first_suggestion_answers_gaps_an_outside_test_found(shipped: Matcher, text: str, phrase_id: str) -> None:
    assert shipped.suggest(text)[0].phrase_id == phrase_id


@pytest.mark.parametrize(
    ("text", "phrase_id"),
    [
        # A second outside test (156 buyer messages of a tester's own): the first suggestion promised a
        # seven-day return of fresh food, offered money to keep a phone dead on arrival, explained a buyer's
        # clothes dyed by ours as a screen's colour, and answered top-ups, card codes, gold certificates and
        # refused deliveries with other topics' phrases.
        ("生鲜可以退吗", "return_exchange.fresh_food"),
        ("坏果包赔吗", "return_exchange.fresh_food"),
        ("七天无理由 现在过了8天还行吗", "return_exchange.after_seven_days"),
        ("猫不爱吃 没拆的那袋能退吗", "return_exchange.seven_day"),
        ("橙子烂了好几个", "quality_issue.bad_fruit"),
        ("收到机器开不了机 怎么退", "quality_issue.dead_on_arrival"),
        ("掉色掉的好厉害 白衣服都染了", "quality_issue.colour_runs"),
        ("屏幕有划痕 跟描述不符", "quality_issue.ask_photo"),
        ("鞋底开胶了才穿一周", "quality_issue.defect"),
        ("话费充了半小时还没到账", "recharge.arrival"),
        ("卡密发了吗 没看到啊", "recharge.card_code"),
        ("买的会员兑换码在哪看啊", "recharge.card_code"),
        ("充错号码了 能退吗", "recharge.wrong_number"),
        ("金子是足金吗 有证书没", "authenticity.precious_metal"),
        ("我拒收了 钱怎么退", "refund.refused_delivery"),
        ("发票抬头写公司的", "invoice.company"),
        ("我的快递咋还在原地踏步", "logistics.stuck"),
        ("收到", "thanks_bye.ok"),  # an acknowledgement: asking for a review before the goods came was wrong
        ("洗衣机到了谁来装", "product_info.installation"),
        ("空调能以旧换新吗", "promotion.trade_in"),
        ("电池健康多少", "product_info.battery_health"),
        ("戒指圈口大了能改吗", "size_advice.ring"),
        ("奶粉保质期到啥时候", "product_info.shelf_life"),
        ("可以刻字吗", "product_info.engraving"),
        ("有发piao吗", "invoice.available"),
    ],
)
def test_the_first_suggestion_answers_gaps_a_second_outside_test_found(
    shipped: Matcher, text: str, phrase_id: str
) -> None:
    assert shipped.suggest(text)[0].phrase_id == phrase_id


@pytest.mark.parametrize(
    ("text", "phrase_id"),
    [
        # A third outside test (buyers of cosmetics, food, furniture, books, virtual goods): a spicy snack for a
        # child was 完全没问题, a delivered card code was promised a quick refund, a top-up's arrival got the refund
        # phrase, this year's harvest got 设计和用料都做了升级; a skin reaction, a product's features, activating
        # a membership and carrying a large item upstairs got nothing or a wrong topic's phrase.
        ("辣不辣 小孩能吃吗", "product_info.special_groups"),
        ("这个坚果是今年的新货吗", "product_info.shelf_life"),
        ("虚拟商品能退款吗 买错了", "recharge.no_refund"),
        ("游戏点卡多久到账 急", "recharge.arrival"),
        ("爱奇艺会员怎么激活", "recharge.activate"),
        ("用了两天脸上起痘痘了怎么办", "quality_issue.allergy"),
        ("帐篷防雨吗 能住几个人", "product_info.feature"),
        ("这本有没有拼音 孩子一年级", "product_info.feature"),
        ("上楼费谁出 司机说要加钱", "express_choice.upstairs"),
        ("大件送上楼吗 我家6楼没电梯", "express_choice.upstairs"),
        ("能不能放一楼我自己搬", "express_choice.upstairs"),
    ],
)
def test_the_first_suggestion_answers_gaps_a_third_outside_test_found(
    shipped: Matcher, text: str, phrase_id: str
) -> None:
    assert shipped.suggest(text)[0].phrase_id == phrase_id


@pytest.mark.parametrize(
    ("text", "claim"),
    [
        # Suggestions of the right intent that claimed what the agent cannot know, the same in every shop.
        ("要买50本 库存够不够", "不多了"),
        ("3段奶粉还有货吗 囤几罐", "库存充足"),
        ("活动到什么时候", "今天就结束"),
        ("双十一还会便宜吗", "恢复原价"),
        ("是今年的新款吗", "升级"),
        ("老人能用吗", "完全没问题"),
    ],
)
def test_suggestions_claim_no_stock_deadline_or_upgrade_the_agent_cannot_know(
    shipped: Matcher, text: str, claim: str
) -> None:
    suggestions = shipped.suggest(text)
    assert suggestions
    assert [s.text for s in suggestions if claim in s.text] == []


@pytest.mark.parametrize("text", ["支付宝密码忘了怎么办", "你是机器人吗", "招不招客服啊"])
def test_account_robot_and_hiring_questions_get_no_suggestion(shipped: Matcher, text: str) -> None:
    # No phrase answers them: a payment-safety or welcome phrase was offered (3 of an outside test's 11).
    assert shipped.suggest(text) == []


def test_colloquial_urging_reaches_urge(shipped: Matcher) -> None:
    for text in ("十分钟了 还没回", "回我", "我等着呢", "咋不吱声了"):
        assert shipped.suggest(text)[0].intent == "urge", text


class _Exploding(Mapping[str, int], Sequence[tuple[int, str]]):  # type: ignore[misc]
    """Conversation data that breaks whatever reads it (the matcher's modules may be compiled: no patching)."""

    def __getitem__(self, key: object) -> Any:
        raise RuntimeError("scoring exploded")

    def __iter__(self) -> Iterator[Any]:
        raise RuntimeError("scoring exploded")

    def __len__(self) -> int:
        return 1


def test_matcher_logs_an_internal_error_and_answers_nothing(library: Library, caplog: pytest.LogCaptureFixture) -> None:
    """In the service a broken matcher gives no suggestion and says so in the log; strict, it raises."""
    lenient = Matcher(library)
    broken = Context(adoption=_Exploding())
    with caplog.at_level("ERROR", logger="assistant.suggest.matcher"):
        assert lenient.suggest("什么时候发货", broken) == []
        assert lenient.classify(_Exploding()).type == lenient.types.default().type
    assert [str(r.exc_info[1]) for r in caplog.records if r.exc_info] == ["scoring exploded"] * 2
    lenient.strict = True
    with pytest.raises(RuntimeError, match="scoring exploded"):
        lenient.suggest("什么时候发货", broken)
