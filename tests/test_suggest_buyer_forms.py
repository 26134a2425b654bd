"""Suggestions for the ways buyers type: durations, counts, a defect beside a cost question, sizes asked after."""

from __future__ import annotations

from pathlib import Path

from assistant.suggest.evaluation import read_labeled
from assistant.suggest.matcher import Matcher
from assistant.suggest.matching import Request, answer
from tests.helpers import ROOT, live_codes


def test_a_week_is_no_one_star_review(shipped_matcher: Matcher) -> None:
    for text in ("等了快一个星期了", "这个快递走了一个多星期"):  # no trigger's word is there: ts3 is not suggested
        assert "ts3" not in live_codes(shipped_matcher, text), text
    for text in ("包裹在路上走了一星期", "都一星期了还没到", "这单都一星期了"):
        assert live_codes(shipped_matcher, text)[0] != "ts3", text
        assert shipped_matcher.read(text).keyword_words.get("complaint") != "一星", text
    assert live_codes(shipped_matcher, "给你们一星")[0] == "ts3"  # a one-star review still is one


def test_a_week_without_shipping_is_no_question_about_weekends(shipped_matcher: Matcher) -> None:
    for text in ("拍了一个礼拜还没发货", "下单一星期了还不发货"):
        codes = live_codes(shipped_matcher, text)
        assert codes and codes[0] != "fh5", (text, codes)


def test_a_weekend_day_named_any_way_before_sending_asks_about_weekend_shipping(shipped_matcher: Matcher) -> None:
    # 寄 beside a day read as «能寄到吗» (where a parcel can go) before; 礼拜六 and 星期天 are the weekend (fh5).
    for text in ("星期日可以寄吗", "星期六还寄吗", "周六能寄不", "礼拜六可以寄出吗"):
        found = shipped_matcher.suggest(text)
        assert found[0].code == "fh5" and found[0].confidence >= 0.45, (text, found)
    codes = live_codes(shipped_matcher, "星期二能寄吗")  # a weekday: when it ships, without the weekend answer
    assert codes[0].startswith("fh") and "fh5" not in codes, codes
    assert live_codes(shipped_matcher, "周日能寄到吗")[0].startswith("wl")  # where it can go, not when it is sent


def test_an_item_named_after_a_size_question_asks_its_size_too(shipped_matcher: Matcher) -> None:
    # 短裙呢 asks of the skirt what was asked before; its 短 is a cut, not a defect of length.
    for earlier, text in (("我身高165穿什么码", "短裙呢"), ("一米七二 一百四十斤穿几码", "短裙呢")):
        found, _ = answer(shipped_matcher, Request(0, text, 60_000, [(0, earlier)], [], False, {}, ""), {})
        assert found and found[0].code.startswith("cm"), (text, found)
        assert all(s.confidence < 0.1 for s in found if s.intent == "quality_issue"), (text, found)
    assert shipped_matcher.suggest("短裙呢") == []  # alone it says nothing to answer


def test_a_wait_of_days_told_as_a_complaint_is_impatience(shipped_matcher: Matcher) -> None:
    for text in ("等了快一个星期了", "快递跑了五天了", "都两个礼拜了还没收到"):
        assert shipped_matcher.classify([(0, text)]).type == "impatient", text
    assert shipped_matcher.classify([(0, "用了一周就坏了")]).type != "impatient"


def test_items_missing_from_a_parcel_get_the_missing_items_answer(shipped_matcher: Matcher) -> None:
    for text in ("买了４盒 只收到３盒", "订了三双 怎么才到两双", "拍了5个只来了4个"):
        found = shipped_matcher.suggest(text)
        assert found[0].intent == "quality_issue" and "zl7" in [s.code for s in found[:2]], (text, found)
        assert all(s.confidence < 0.1 for s in found if s.intent == "thanks_bye"), (text, found)


def test_a_defect_with_a_return_cost_question_gets_the_quality_return_terms(shipped_matcher: Matcher) -> None:
    for text in ("靴子脱胶了 寄回去运费谁出", "拉链坏了 能换吗 来回运费谁付"):
        assert live_codes(shipped_matcher, text)[0] == "th6", text
    assert live_codes(shipped_matcher, "退货运费谁出")[0] == "th5"  # no defect: the buyer's own return


def test_a_return_cost_question_without_a_defect_gets_the_ordinary_return_terms(shipped_matcher: Matcher) -> None:
    # th6 («如果是商品质量问题，退换货运费由我们承担») presumes a defect; its trigger 坏的退回去运费 is worded closest.
    for text in ("退回去的邮费你们包吗", "寄回去运费是你们付吧", "退回去的运费你们给报吗"):
        assert live_codes(shipped_matcher, text)[0] == "th5", text
    assert live_codes(shipped_matcher, "不想要了 寄回去的邮费你们出吗")[0] != "th6"
    assert live_codes(shipped_matcher, "质量问题寄回去运费你们出吗")[0] == "th6"


def test_asking_for_a_size_is_asking_for_stock(shipped_matcher: Matcher) -> None:
    for text in ("有XL码吗", "这条裙子有S码吗", "有没有xxl码"):
        codes = live_codes(shipped_matcher, text)
        assert codes[0].startswith("kc"), (text, codes)
    assert live_codes(shipped_matcher, "我160穿什么码")[0].startswith("cm")


def test_free_shipping_beside_other_questions_gets_no_sf_upgrade(shipped_matcher: Matcher) -> None:
    for text in ("包邮吗 明天能发货吗", "便宜点行吗 包不包邮 啥时候发"):
        codes = live_codes(shipped_matcher, text)
        assert "kd2" not in codes, (text, codes)


def test_an_address_change_before_shipping_gets_the_unshipped_answer(shipped_matcher: Matcher) -> None:
    for text in (
        "订单地址填错了 还没发货吧 帮忙改成杭州市西湖区文三路20号",
        "拍完发现地址填错了 应该还没发吧 改成广州市天河区体育西路1号",
    ):
        assert live_codes(shipped_matcher, text)[0] == "dz1", text


def test_a_size_question_is_no_hesitation(shipped_matcher: Matcher) -> None:
    for text in ("一米六五 一百斤 选哪个码", "体重130斤选哪个尺码"):
        assert shipped_matcher.classify([(0, text)]).type != "hesitant", text
    assert shipped_matcher.classify([(0, "这两件选哪个好 好纠结")]).type == "hesitant"


def test_a_share_links_parameters_are_no_words(shipped_matcher: Matcher) -> None:
    # Found: ?tk= in every Taobao share link was read as 退款 before the link was cut out, so a link alone got the
    # refund answers at 100 % and a price question after it «这次退款金额是__元»; &fp= read as 发票, /hb/ as 花呗.
    found = shipped_matcher.suggest("https://m.tb.cn/h.aBc123?tk=Qw9ErT7y")  # an item shown, nothing asked of it
    assert found[0].code == "hy7" and all(s.confidence < 0.05 for s in found if s.intent != "greeting"), found
    assert not {s.intent for s in found} & {"refund", "invoice", "payment"}, found
    assert live_codes(shipped_matcher, "https://shop42.taobao.com/hb/index.htm?fp=1&kd=2") == []  # a shop's page
    for link in ("https://m.tb.cn/h.aBc123?tk=Qw9ErT7y", "https://shop42.taobao.com/hb/index.htm?fp=1&kd=2"):
        assert live_codes(shipped_matcher, f"{link} 这款多少钱一件")[0].startswith("yj"), link  # the price answers
    assert live_codes(shipped_matcher, "tk多久能到账")[0].startswith("tk")  # outside a link the word still reads


def test_a_defect_named_lifts_the_quality_return_terms_over_the_buyer_pays_ones(shipped_matcher: Matcher) -> None:
    for text in ("杯子裂了，退货邮费谁承担", "鞋子开胶了 可以退吗 运费谁出", "衣服破了个洞 退回去邮费我出吗"):
        assert live_codes(shipped_matcher, text)[0] == "th6", text
    assert live_codes(shipped_matcher, "退货运费谁出")[0] == "th5"


def test_a_first_message_calling_for_someone_gets_a_greeting(shipped_matcher: Matcher) -> None:
    for text in ("喂喂喂 有人吗", "在吗在吗"):
        assert live_codes(shipped_matcher, text)[0].startswith("hy"), text
        # after a wait (an earlier message, an agent's reply) the same words remind
        later, _ = answer(shipped_matcher, Request(0, text, 90_000, [(0, "这个有货吗")], [], False, {}, ""), {})
        assert later[0].code.startswith("cd"), text
    assert live_codes(shipped_matcher, "有人吗 怎么还不发货")[0].startswith("cd")  # a push, not a greeting
    # ... and a reminder by a margin, not by a near tie with the shipping time that a retrained scorer flips
    found = shipped_matcher.suggest("有人吗 怎么还不发货")
    urge = max(s.confidence for s in found if s.intent == "urge")
    assert urge >= max(s.confidence for s in found if s.intent != "urge") + 0.1, found


def test_a_greeting_word_said_over_and_over_is_a_greeting(shipped_matcher: Matcher) -> None:
    for text in ("亲亲亲亲", "亲亲亲"):
        assert live_codes(shipped_matcher, text)[0].startswith("hy"), text


def test_a_size_letter_after_size_is_a_stock_question(shipped_matcher: Matcher) -> None:
    for text in ("size M 有吗", "size xl还有吗"):
        assert live_codes(shipped_matcher, text)[0].startswith("kc"), text


def test_several_questions_get_one_answer_each(shipped_matcher: Matcher) -> None:
    found = shipped_matcher.suggest("能便宜点吗 包邮吗 今天能发吗")
    assert {s.intent for s in found} == {"price_bargain", "express_choice", "shipping_time"}, found


def test_an_order_card_alone_gets_no_size_advice(shipped_matcher: Matcher) -> None:
    # The item field of a card names a size (28码, 110cm, M码): that is what was bought, not a size question.
    for text in (
        "订单编号：5820394817263549102\n商品：弹力修身西裤 30码\n实付款：¥129.00",
        "订单号：4817263549102583920\n商品：宝宝棉服 110cm\n实付款：¥199.00",
        "订单号：7263549102583920481 商品名称：成人拉拉裤M码 数量：3",
    ):
        assert live_codes(shipped_matcher, text) == [], text
    asked = "订单号：4817263549102583920\n商品：宝宝棉服 110cm\n我家宝宝95cm穿哪个码"
    assert live_codes(shipped_matcher, asked)[0].startswith("cm")  # the question sent with the card is still read


def test_labelled_delivery_details_are_checked_not_renamed(shipped_matcher: Matcher) -> None:
    for text in ("收件人：赵六 电话：13711112222 地址：上海市浦东新区张江路88号", "收货人：陈静", "收件人: 刘洋"):
        codes = live_codes(shipped_matcher, text)
        assert not codes or codes[0] == "dz4", (text, codes)
    assert live_codes(shipped_matcher, "收件人名字写错了")[0] == "dz6"  # asking to change the name still is that


def test_free_shipping_asked_alone_gets_no_bargaining_refusal(shipped_matcher: Matcher) -> None:
    # Nobody asked for a lower price: the free-shipping answer of price_bargain refuses none.
    for text in ("这件包邮不", "bao you ma", "包邮吗亲"):
        found = shipped_matcher.suggest(text)
        assert found, text
        for s in found:
            assert "没法再让" not in s.text, (text, s.code)


def test_free_shipping_asked_alone_is_answered_by_the_shipping_fee_first(shipped_matcher: Matcher) -> None:
    # 包邮吗 asks what the parcel costs to send (运费): the promotion's answer came first, as if an activity was asked.
    for text in ("包邮吗", "这个包邮吗", "by吗", "包郵嗎"):
        assert [s.intent for s in shipped_matcher.suggest(text)[:1]] == ["express_choice"], text
    # a free-shipping threshold is the shop's activity
    assert live_codes(shipped_matcher, "满多少包邮")[0] == "hd10"
    # beside a surer question, the places left go to that question's answers, not to a courier no one asked for
    assert sorted(c[:2] for c in live_codes(shipped_matcher, "包邮吗 明天能发货吗")) == ["fh", "fh", "kd"]


def test_a_price_elsewhere_beside_this_shops_price_is_still_a_comparison(shipped_matcher: Matcher) -> None:
    assert live_codes(shipped_matcher, "别家才卖45")[0] == "yj10"
    for text in ("别家才卖45，你家怎么69", "别家才卖45，你家怎么¥69", "别人家才卖120 你们卖160"):
        assert live_codes(shipped_matcher, text)[:1] == ["yj10"], text


def test_of_phrases_that_tie_the_one_for_goods_the_message_names_comes_first(shipped_matcher: Matcher) -> None:
    for text in ("耳机续航多久", "充电宝续航多久"):
        found = shipped_matcher.suggest(text)
        assert found[0].code == "cp24", (text, found)
    found = shipped_matcher.suggest("保质期多久")
    assert found[0].code == "cp18", found  # no goods named: the closest trigger decides


def test_a_price_difference_to_pay_is_no_refund(shipped_matcher: Matcher) -> None:
    # 差价 is paid (a link to pay it, a faster courier) as often as refunded: alone it only leans towards a refund.
    assert shipped_matcher.keyword_scores("差价链接发我一下").get("refund", 0.0) < 0.45
    for text in ("退差价", "差价能退吗"):
        assert shipped_matcher.keyword_scores(text)["refund"] >= 0.6, text


def test_a_defect_in_plain_words_with_a_return_cost_question_gets_the_quality_return_terms(
    shipped_matcher: Matcher,
) -> None:
    # Found: the defect's word (裂缝) was no key word, or the question was too long for any trigger to be close (40):
    # th5 «七天无理由退换的运费由买家承担» came first, as if nothing were wrong with the goods.
    for text in ("杯子有裂缝 退货运费谁出", "衣服有个洞 寄回去的运费你们出吗", "保温壶漏水 寄回运费你们出吗"):
        assert live_codes(shipped_matcher, text)[0] == "th6", text
    assert live_codes(shipped_matcher, "退货运费谁出")[0] == "th5"  # no defect: the buyer's own return


def test_a_colour_or_size_after_the_goods_is_a_stock_question(shipped_matcher: Matcher) -> None:
    # Found: 这个有白色吗 got a product-function answer (cp29), 有大一码的吗 size advice, 有37的吗 «实物实拍».
    for text in ("这个有白色吗", "这个有XL吗", "有大一码的吗", "有37的吗", "婴儿连体衣有66码吗", "这件外套有灰色的吗"):
        codes = live_codes(shipped_matcher, text)
        assert codes[0].startswith("kc"), (text, codes)
    assert live_codes(shipped_matcher, "这个有盖子吗")[0].startswith("cp")  # a part of the goods, not a variant
    assert live_codes(shipped_matcher, "有尺码表吗")[0].startswith("cm")
    assert live_codes(shipped_matcher, "我160穿什么码")[0].startswith("cm")


def test_a_leak_is_a_defect_not_a_wrong_item(shipped_matcher: Matcher) -> None:
    # Found: the 买的 of 买的奶瓶漏水 made «不是我买的» the closest trigger, so the wrong-item answer (zl8) came first.
    for text in ("买的奶瓶漏水", "刚买的水杯漏水了"):
        assert live_codes(shipped_matcher, text)[0] == "zl1", text
    assert live_codes(shipped_matcher, "发错了 不是我买的")[0] == "zl8"


def test_a_weekday_is_no_question_about_weekends(shipped_matcher: Matcher) -> None:
    # Found: 星期一 was like 星期天, so a Monday got «周末仓库也正常发货».
    for text in ("星期一能发货吗", "周二能发吗", "礼拜四能寄出吗", "周五发货吗"):
        codes = live_codes(shipped_matcher, text)
        assert codes[0].startswith("fh") and "fh5" not in codes, (text, codes)
    for text in ("周六能发吗", "星期天发货吗", "礼拜六能发货吗", "双休日发货吗"):
        assert live_codes(shipped_matcher, text)[0] == "fh5", text


def test_shipping_costs_asked_in_english_get_the_shipping_fee_answer(shipped_matcher: Matcher) -> None:
    # Found: shipping read as 发货 alone, so both got «现货宝贝付款后48小时内发出».
    for text in ("is it free shipping", "shipping fee?", "Free shipping?"):
        assert live_codes(shipped_matcher, text)[0] == "kd12", text
    assert live_codes(shipped_matcher, "when ship")[0].startswith("fh")


def test_a_long_wait_for_the_order_gets_the_apology_that_looks_into_it(shipped_matcher: Matcher) -> None:
    # Found: a week's wait got the generic complaint answer (ts1 «请告诉我具体情况») as if nothing were said.
    for text in ("等了一个星期了", "都等了十来天了"):
        assert live_codes(shipped_matcher, text)[0] == "cd3", text


def test_idioms_with_ma_are_no_size_question(shipped_matcher: Matcher) -> None:
    # 两码事, 一码事, 一码归一码 (different matters, the same matter, one thing at a time) hold 一码/两码 but ask no size.
    for text in ("这跟我问的是两码事", "发票和运费不是一码事", "咱们一码归一码", "退款跟补偿是两码事"):
        assert shipped_matcher.read(text).keyword_words.get("size_advice") is None, text
        assert all(s.intent != "size_advice" for s in shipped_matcher.suggest(text)), text
    assert live_codes(shipped_matcher, "退款跟补偿是两码事")[0].startswith("tk")
    for text in ("平时穿两码的 这双要大两码吗", "一码的差别大不大", "两码事先不说 我穿大一码行吗"):
        assert live_codes(shipped_matcher, text)[0].startswith("cm"), text
    for text in ("二维码扫不出来", "支付密码忘了", "起码便宜点吧"):  # 码 inside another word was no size before either
        assert all(s.intent != "size_advice" for s in shipped_matcher.suggest(text)), text


def test_an_item_named_alone_with_ne_asks_what_was_asked_before(shipped_matcher: Matcher) -> None:
    # 台灯呢 ("and the lamp?") names goods and asks nothing of its own: the scorer's guess from the goods' name
    # (a defect, which other messages tell of lamps) is chance; the question before it says what is asked.
    for earlier, text, prefix in (
        ("多久能发货", "那个台灯呢", "fh"),
        ("黑色的还有货吗", "鼠标垫呢", "kc"),
        ("我一米七 一百二十斤穿多大", "那条西裤呢", "cm"),
        ("能便宜一点吗", "台灯呢", "yj"),
    ):
        found, _ = answer(shipped_matcher, Request(0, text, 60_000, [(0, earlier)], [], False, {}, ""), {})
        assert found and found[0].code.startswith(prefix), (earlier, text, found)
        assert all(s.intent != "quality_issue" for s in found), (earlier, text, found)
    for text in ("台灯呢", "那个鼠标垫呢", "西裤呢"):
        assert shipped_matcher.suggest(text) == [], text
    assert live_codes(shipped_matcher, "结果呢")[0].startswith("cd")  # a reminder it knows for sure stays one


def test_a_coupon_miswritten_as_juan_is_a_coupon(shipped_matcher: Matcher) -> None:
    # 劵 for 券 is the miswriting buyers type everywhere, not only in 优惠劵.
    for text in ("店铺劵能用吗", "领的劵怎么没抵扣", "劵后价多少"):
        assert live_codes(shipped_matcher, text)[0].startswith("hd"), text
        assert shipped_matcher.read(text).keyword_words.get("promotion") == "券", text


def test_goods_called_shoddy_are_a_quality_issue(shipped_matcher: Matcher) -> None:
    # 劣质 (shoddy) says what 质量差 says; the scorer alone put 东西太劣质了 at 0.36 beside thanks.
    for text in ("东西太劣质了", "这种劣质货也卖", "做工劣质 线头一堆"):
        assert shipped_matcher.read(text).keyword_words.get("quality_issue") == "劣质", text
        found = shipped_matcher.suggest(text)
        assert found[0].intent == "quality_issue" and found[0].confidence >= 0.5, (text, found)


def test_delivering_there_is_no_gift(shipped_matcher: Matcher) -> None:
    # 送 in 送过去 is carrying the parcel to a place, as in 送到吗; the gift intent's weak 送 read it as a present.
    for text in ("我们村能送过去吗", "山里送得过去不"):
        found = shipped_matcher.suggest(text)
        assert found[0].intent == "express_choice", (text, found)  # a courier's answer (kd…, or wl9: a far place)
        assert all(s.confidence < 0.05 for s in found if s.intent == "gift"), (text, found)
    assert live_codes(shipped_matcher, "能送个小礼物吗")[0].startswith("zs")  # a present still is one


def test_a_hope_not_to_be_disappointed_is_no_complaint(shipped_matcher: Matcher) -> None:
    # 别让我失望, 没让我失望: 失望 negated is a hope or praise; the complaint answer came at 0.5 and more.
    for text in ("朋友推荐来的 别让我失望", "收到了 没让我失望"):
        assert shipped_matcher.read(text).keyword_words.get("complaint") is None, text
        assert all(s.intent != "complaint" for s in shipped_matcher.suggest(text)), text
    assert shipped_matcher.read("相信你们不会让我失望").keyword_words.get("complaint") is None
    for text in ("太让人失望了", "对你们很失望"):
        assert live_codes(shipped_matcher, text)[0].startswith("ts"), text


def test_waiting_till_the_flowers_wilt_is_no_thanks(shipped_matcher: Matcher) -> None:
    # 花都谢了 (the flowers have wilted: a long wait) ends in 谢了, which was split off as a closing thanks.
    for text in ("等你们回复 花儿都谢了", "这快递走得花都谢了还没到"):
        found = shipped_matcher.suggest(text)
        assert found[0].intent != "thanks_bye" and all(s.confidence < 0.3 for s in found if s.intent == "thanks_bye")
        assert all(c.kind != "social" for c in shipped_matcher.read(text).message.clauses), text
    assert live_codes(shipped_matcher, "知道了谢了")[0].startswith("zb")


def test_asking_for_a_wechat_contact_is_no_payment_question(shipped_matcher: Matcher) -> None:
    # 微信 is a way to pay (微信支付) and a contact (加个微信): adding one was answered with payment at 0.51.
    for text in ("可以加你微信吗", "方便加个微信吗"):
        assert shipped_matcher.read(text).keyword_words.get("payment") is None, text
        assert all(s.intent != "payment" for s in shipped_matcher.suggest(text)), text
    for text in ("能用微信付吗", "用微信付款行不行"):
        assert live_codes(shipped_matcher, text)[0].startswith("fk"), text


def test_a_coupon_typed_as_a_roll_is_a_coupon_where_only_a_coupon_fits(shipped_matcher: Matcher) -> None:
    # 卷 typed for 券: 卷后价 read as a price question (yj1, 0.6) before; 卷 as a roll or curls stays one.
    for text in ("卷后价多少", "店铺卷能叠加吗", "领了卷怎么没减"):
        assert shipped_matcher.read(text).keyword_words.get("promotion") == "券", text
        assert live_codes(shipped_matcher, text)[0].startswith("hd"), text
    for text in ("卷发棒好用吗", "纸巾一提几卷", "卷尺有几米"):
        assert "promotion" not in shipped_matcher.read(text).keyword_words, text


def test_a_price_difference_is_refunded_or_paid_as_the_buyer_says_who_pays_it(shipped_matcher: Matcher) -> None:
    # 补差价 was read as a promotion (or, beside 你们, a complaint): who pays it says what the buyer asks.
    for text in ("你们补差价给我吧", "给我补个差价吧"):  # the shop pays: a partial refund
        found = shipped_matcher.suggest(text)
        assert found[0].intent == "refund" and found[0].confidence >= 0.5, (text, found)
    for text in ("还要我补差价吗", "差价我来补 怎么拍"):  # the buyer pays: how to pay it
        found = shipped_matcher.suggest(text)
        assert found[0].intent == "payment" and found[0].confidence >= 0.5, (text, found)
    assert live_codes(shipped_matcher, "换个颜色要补差价吗")[0].startswith("th")  # paying for a change is the change


def test_a_question_opened_with_then_may_i_ask_is_no_greeting(shipped_matcher: Matcher) -> None:
    # 那 before 请问 kept the opener in the question: its 请问 made a greeting (那我问一下你们招人吗 at 0.21).
    for text in ("那我问一下你们招人吗", "那请问你们几点下班"):
        assert "greeting" not in shipped_matcher.read(text).keyword_words, text
        assert all(s.intent != "greeting" for s in shipped_matcher.suggest(text)), text
    reading = shipped_matcher.read("那请问一下几天能到")
    assert reading.message.focus == "几天能到" and reading.message.clauses[0].kind == "social"
    assert live_codes(shipped_matcher, "那请问一下几天能到")[0].startswith("wl")


def test_a_laugh_after_a_question_does_not_close_the_chat(shipped_matcher: Matcher) -> None:
    # 哈哈 after a question was a social clause, read as thanks closing the chat (thanks at 0.38 for a question
    # no phrase answers); it is a pause.
    text = "你是男生还是女生 哈哈哈"
    assert [c.kind for c in shipped_matcher.read(text).message.clauses] == ["text", "pause"]
    assert shipped_matcher.suggest(text) == []
    assert live_codes(shipped_matcher, "能开发票吗 哈哈")[0].startswith("fp")
    assert live_codes(shipped_matcher, "好的 哈哈")[0].startswith("zb")  # thanks said stays thanks


def test_that_typed_for_which_gets_the_answer_to_which(shipped_matcher: Matcher) -> None:
    # 那 typed for 哪: 那个颜色好看 got nothing (its 那个 dropped as a filler, a remark was left) and 那款比较好 thanks.
    for text in ("那个颜色好看", "那款比较好", "我问一下这台用那一种电池"):
        found = shipped_matcher.suggest(text)
        assert found and found[0].intent == "product_info" and found[0].confidence >= 0.5, (text, found)
    assert live_codes(shipped_matcher, "那个颜色有货吗")[0].startswith("kc")  # a marker: it points, and keeps its 那


def test_a_remark_that_no_human_replied_calls_for_no_agent(shipped_matcher: Matcher) -> None:
    # 人工 was learnt only from calls for an agent (转人工): a remark about earlier replies got an answer at 0.26.
    assert shipped_matcher.suggest("之前不知道不是人工回复") == []
    for text in ("转人工", "现在是人工了吗"):  # calling for one still is a greeting
        assert live_codes(shipped_matcher, text)[0].startswith("hy"), text


def test_sending_back_goods_not_sent_yet_is_a_refund(shipped_matcher: Matcher) -> None:
    # 退 beside goods not sent yet got the shipping-time answer (0.52) or the return terms: nothing is there to send
    # back, the order is refunded; half the money back is a partial refund, not a return.
    for text in ("还没发货 我要退", "没发货能退吗", "还没发呢 不想要了能退吗", "能退一半吗"):
        found = shipped_matcher.suggest(text)
        assert found[0].intent == "refund" and found[0].confidence >= 0.5, (text, found)
    assert live_codes(shipped_matcher, "收到了不喜欢能退吗")[0].startswith("th")  # received: sent back, a return
    assert shipped_matcher.suggest("没发票能退吗")[0].intent != "refund"  # 没发票 is no parcel not sent


def test_a_question_asked_beside_a_complaint_is_answered_first(shipped_matcher: Matcher) -> None:
    # The complaint outweighed the question asked with it: 等了三天了太慢了 能换顺丰吗 got the reminder answer at 0.77.
    found = shipped_matcher.suggest("等了三天了太慢了 能换顺丰吗")
    assert found[0].intent == "express_choice" and "urge" in [s.intent for s in found], found
    assert live_codes(shipped_matcher, "等了三天了太慢了")[0].startswith("cd")  # the complaint alone is still one


def test_a_question_pointing_back_asks_what_the_earlier_message_asked(shipped_matcher: Matcher) -> None:
    # 那两件呢, 那这款呢, 这个呢: their 件呢 (a parcel asked for), 款呢 (a refund) or 这个 (a product question) named
    # a topic of their own, and the question before them, which they ask again, counted only as a hint.
    rows = [r.split("\t") for r in (ROOT / "tests/data/written_followups.tsv").read_text().splitlines()]
    for intent, earlier, text in (r for r in rows if r[0] and not r[0].startswith("#")):
        before = [(0, earlier)] if earlier else []
        found, _ = answer(shipped_matcher, Request(0, text, 60_000, before, [], False, {}, ""), {})
        assert [s.intent for s in found[:1]] == ([] if intent == "none" else [intent]), (earlier, text, found)
    assert (
        live_codes(shipped_matcher, "这个呢")[0] == "hy7"
    )  # alone, beside a picture: what is it the buyer wants to know


def assert_first_intents(matcher: Matcher, path: Path) -> None:
    """Every line of a labeled written set gets a first suggestion of one of its intents (`a|b`)."""
    rows, bad = read_labeled(path)
    assert rows and not bad
    for labels, text in rows:
        found = matcher.suggest(text)
        assert found and found[0].intent in labels.split("|"), (text, found)


def test_typos_of_the_same_sound_read_as_the_words_meant(shipped_matcher: Matcher) -> None:
    # 腿货 (退货), 取销 (取消), 什么候 (什么时候) got another intent's answer or none.
    assert_first_intents(shipped_matcher, ROOT / "tests/data/written_typos.tsv")
    # 发火 and 倒货 are words of their own (anger, reselling) where nothing asks of a parcel
    assert "发货" not in shipped_matcher.normalizer.normalize("别发火 我就问问")


def test_account_questions_reach_their_answers(shipped_matcher: Matcher) -> None:
    # 怎么才能成为你们店的会员 and 店里的积分在哪里看 were silent, 我下单选错规格了 got a thanks.
    assert_first_intents(shipped_matcher, ROOT / "tests/data/written_account.tsv")
    assert live_codes(shipped_matcher, "会员价怎么算的")[0] == "hd8"  # the membership answer, not the 满减 one


def test_pinyin_initials_read_as_the_words_they_stand_for(shipped_matcher: Matcher) -> None:
    # hdfk (货到付款) got the product answer or nothing, thh (退换货) and yfx (运费险) a product or stock answer.
    assert_first_intents(shipped_matcher, ROOT / "tests/data/written_pinyin.tsv")
