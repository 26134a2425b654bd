"""The customer type read from the buyer's own words: pasted listings, owed gifts, threats, waits."""

from __future__ import annotations

from assistant.suggest.customer_type import CustomerType
from assistant.suggest.matcher import Matcher


def badge(matcher: Matcher, text: str) -> CustomerType:
    """The type of a conversation of this one message."""
    return matcher.classify([(0, text)])


def test_a_pasted_listing_title_is_not_the_buyers_words(shipped_matcher: Matcher) -> None:
    for text in (
        "【官方正品】雅诗兰黛小棕瓶精华 50ml ¥599.00 月销1000+",
        "【官方正品】雅诗兰黛小棕瓶精华 50ml ¥599.00 月销1000+ 几号发货",
        "儿童保温杯316不锈钢 ¥59.9 已售5000+件 宝宝几岁能用",
    ):
        found = badge(shipped_matcher, text)
        assert found.type == "newcomer" and not found.evidence, (text, found)
    # The same words said by the buyer still count.
    assert badge(shipped_matcher, "这是正品吗").type == "suspicious"
    assert badge(shipped_matcher, "是316不锈钢的吗").type == "professional"


def test_an_order_card_still_shows_an_order(shipped_matcher: Matcher) -> None:
    found = badge(shipped_matcher, "订单号:4200123456789012345 交易状态:等待卖家发货 几号发")
    assert found.type == "newcomer" and not found.sure, found


def test_a_gift_promised_or_missing_is_owed_not_wished_for(shipped_matcher: Matcher) -> None:
    for text in ("说好送的赠品没有", "赠品没收到", "送的小样没收到", "说好的送我个小礼物呢"):
        found = badge(shipped_matcher, text)
        assert found.type == "newcomer" and not found.sure, (text, found)  # an order, with nothing else named
    assert badge(shipped_matcher, "说好送货上门结果让我自己去拿").type != "freebie"
    for text in ("有赠品吗", "送赠品吗", "有小样吗"):
        assert badge(shipped_matcher, text).type == "freebie", text


def test_a_one_star_threat_reads_as_a_bad_review_does(shipped_matcher: Matcher) -> None:
    for star, review in (
        ("再不处理我就给一星", "再不处理我就给差评"),
        ("给你们打一星 质量太差", "给你们打差评 质量太差"),
    ):
        found, expected = badge(shipped_matcher, star), badge(shipped_matcher, review)
        assert (found.type, found.confidence) == (expected.type, expected.confidence), (star, found, expected)
        assert found.type == "demanding", (star, found)
    assert badge(shipped_matcher, "都一星期了").type != "demanding"  # a week is no review


def test_a_wait_counted_from_the_order_is_impatience(shipped_matcher: Matcher) -> None:
    for text in ("下单一星期了物流还不动", "付款三天了还没发货", "买了五天了还没到", "拍了一周了"):
        assert badge(shipped_matcher, text).type == "impatient", text
    assert badge(shipped_matcher, "等了一个星期了物流还不动").type == "impatient"
    for text in ("下单三天就到了", "付款几天能发货", "买了一个月了还不错", "买了三天就坏了"):
        assert badge(shipped_matcher, text).type != "impatient", text


def test_a_vague_promise_thrown_back_and_a_fix_dictated_are_demands(shipped_matcher: Matcher) -> None:
    # 尽快是哪天 quotes the agent's 尽快 to ask for a definite day: it was read as the buyer's own hurry (impatient).
    talk = ["后天能到吗", "尽快是哪天 你说清楚", "你们把这单退了重新给我发一单不就行了", "尽快"]
    found = shipped_matcher.classify([(n * 30_000, text) for n, text in enumerate(talk)])
    assert found.type == "demanding", found
    assert badge(shipped_matcher, "你直接退我运费不就行了").type == "demanding"
    assert badge(shipped_matcher, "能尽快发货吗 急用").type == "impatient"  # a hurry of their own still is one


def conversation(matcher: Matcher, text: str) -> CustomerType:
    """The type of `msg1 | msg2 | …`, sent a minute apart (replies unknown)."""
    messages = [m.strip() for m in text.split("|") if m.strip()]
    return matcher.classify([(n * 60_000, m) for n, m in enumerate(messages)])


def test_a_polite_let_me_think_is_a_strangers_leave_taking(shipped_matcher: Matcher) -> None:
    for text in ("这款有没有蓝色 | 行，我考虑一下哈，谢谢", "杯子能装开水吗 | 好的 那我先看看别的，谢谢您"):
        found = conversation(shipped_matcher, text)
        assert found.type == "newcomer", (text, found)
    # Without the courtesy, or with a second sign of doubt, the doubt still names the type.
    assert conversation(shipped_matcher, "这款有没有蓝色 | 我考虑一下").type == "hesitant"
    assert conversation(shipped_matcher, "好纠结啊 | 我考虑一下，谢谢").type == "hesitant"


def test_a_walk_away_on_a_condition_is_pressure(shipped_matcher: Matcher) -> None:
    for text in ("有满减吗 | 没有的话我就去天猫买", "能少十块吗 | 不行的话我去官网下单"):
        assert conversation(shipped_matcher, text).type == "pressuring", text
    assert conversation(shipped_matcher, "我去京东看过了").type != "pressuring"  # no condition, no threat


def test_free_shipping_asked_as_a_concession_is_haggling(shipped_matcher: Matcher) -> None:
    for text in ("两瓶一起包邮行不", "给我包邮好不好"):
        assert badge(shipped_matcher, text).type == "bargainer", text
    assert badge(shipped_matcher, "这个包邮吗").type != "bargainer"


def test_a_purchase_promised_for_free_shipping_is_a_haggling_offer(shipped_matcher: Matcher) -> None:
    # 立马下单 inside the offer is its condition, not impulse: the badge said 冲动型, and a walk-away after it was read
    # as pressing for the purchase (no haggling in the conversation), not as the seeds' 威逼利诱.
    for text in ("包邮的话我就拍", "给个包邮我马上下单"):
        assert badge(shipped_matcher, text).type == "bargainer", text
    assert conversation(shipped_matcher, "包邮我立刻付款 | 不包邮我换一家").type == "pressuring"
    assert badge(shipped_matcher, "喜欢 直接下单").type == "impulsive"  # no offer: the impulse stays


def test_no_flaw_accepted_is_a_demand_beside_the_picky_detail(shipped_matcher: Matcher) -> None:
    # The seeds: 挑剔型 buys the details, 强势型 respect; refusing any flaw at all sets the buyer's terms. Such a buyer
    # was named picky alone (压痕 in 有一点压痕都不行), sure; now the near tie says both, the demand first.
    found = conversation(shipped_matcher, "我要的是全新的 | 外盒有一点点划痕都不行 | 记住了")
    assert (found.type, found.rival) == ("demanding", "picky"), found
    assert badge(shipped_matcher, "收到的杯子有一点划痕").type == "picky"  # a flaw told: the detail alone


def test_one_of_every_colour_is_buying_without_counting(shipped_matcher: Matcher) -> None:
    for text in ("每种颜色各来一个", "所有花色都要一套"):
        assert badge(shipped_matcher, text).type == "affluent", text


def test_buying_before_reading_is_impulse(shipped_matcher: Matcher) -> None:
    for text in ("评价都没看就下单了", "没看详情就拍了"):
        assert badge(shipped_matcher, text).type == "impulsive", text


def test_being_made_to_tell_it_again_is_a_demand(shipped_matcher: Matcher) -> None:
    for text in ("每次都要我重新讲一遍", "给我安排专人负责"):
        assert badge(shipped_matcher, text).type == "demanding", text


def test_a_gift_asked_inside_a_haggling_offer_is_haggling(shipped_matcher: Matcher) -> None:
    # No cut, then the gift instead: the haggler's next step, not a second kind of customer.
    for conversation in (
        ["能便宜点不", "包邮加送小样行不"],
        ["能少点吗", "那包邮再送个赠品行吗"],
    ):
        found = shipped_matcher.classify([(n * 30_000, t) for n, t in enumerate(conversation)])
        assert found.type == "bargainer", (conversation, found)
    # A gift asked for on its own is still the freebie type.
    for text in ("加送小样吗", "有赠品吗 多送点小样"):
        assert badge(shipped_matcher, text).type == "freebie", text


def test_a_pattern_runs_over_two_clauses_split_by_a_space(shipped_matcher: Matcher) -> None:
    # One sentence typed with a pause is read as it would be without the space.
    for text in ("还没看详情 就是喜欢", "评价都没看 就下单了", "没仔细看 就拍了"):
        found = badge(shipped_matcher, text)
        assert found.type == badge(shipped_matcher, text.replace(" ", "")).type == "impulsive", (text, found)
        assert " " in found.evidence[0], (text, found)  # the buyer's words across the space


def test_words_left_unread_name_no_interest_in_them(shipped_matcher: Matcher) -> None:
    # 参数没细看 is no professional's question: the specifications are dismissed, as in 参数不重要.
    for text in ("参数没细看就是喜欢", "参数不用看 好看就行"):
        assert badge(shipped_matcher, text).type != "professional", text
    assert badge(shipped_matcher, "参数没细看就是喜欢").type == "impulsive"
    # Read, or asked about, they still count.
    for text in ("参数是多少", "参数没看到 发我一下"):
        assert badge(shipped_matcher, text).type == "professional", text


def test_a_threat_to_walk_with_no_price_in_it_presses_for_what_else_was_asked(shipped_matcher: Matcher) -> None:
    def kind(*texts: str) -> str:
        return shipped_matcher.classify([(n * 30_000, t) for n, t in enumerate(texts)]).type

    # The time asked for, then a walk-away on it: the buyer wants the time, not the price held.
    assert kind("后天之前能到吗", "能到就拍 到不了我换一家", "快说") == "impatient"
    # Over the price, or with haggling in the conversation, it is the seeds' 威逼利诱.
    assert kind("今天能发吗", "再便宜点 不便宜我换一家", "快说") == "pressuring"
    assert kind("能少点吗", "今天能发吗", "能就拍 不能我换一家", "快说") == "pressuring"
    assert kind("能就拍 不能我换一家") == "pressuring"  # nothing else asked: still a threat to walk
