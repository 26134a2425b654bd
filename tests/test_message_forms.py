"""Messages that are not plain one-topic text: emoticon codes, placeholders, links, two questions, other spellings."""

from __future__ import annotations

from assistant.suggest.matcher import Matcher
from assistant.suggest.matching import Request, answer


def live(matcher: Matcher, text: str, history: tuple[str, ...] = ()) -> list[str]:
    """The intents the service suggests for a message after `history` (a minute apart, no reply between)."""
    earlier = [(n * 60_000, t) for n, t in enumerate(history)]
    found, _ = answer(matcher, Request(0, text, len(earlier) * 60_000, earlier, [], False, {}, ""), {})
    return [s.intent for s in found]


def test_emoticon_codes_alone_get_no_suggestion(shipped_matcher: Matcher) -> None:
    # Wangwang's and QQ's codes as exported or relayed text: the OK of /:(OK) is no thanks, the 8 of /:8-) no size.
    for text in ("/:8-)", "/:015", "/:(OK)", "/:^_^/:^_^", "/::)", "/:girl"):
        assert shipped_matcher.suggest(text) == [], text
    assert live(shipped_matcher, "谢谢/:^_^")[0] == "thanks_bye"
    assert live(shipped_matcher, "这个有货吗/:8-)")[0] == "stock"
    assert live(shipped_matcher, "好的/:(OK)")[0] == "thanks_bye"


def test_emoticon_and_placeholder_codes_do_not_move_the_customer_type(shipped_matcher: Matcher) -> None:
    # Wangwang's emoticons have names ([怀疑], [没钱了]): a picture sent, not the buyer's doubt or budget.
    for text in ("[怀疑]", "[没钱了]", "有货吗[怀疑]", "能发顺丰吗[没钱了]"):
        kind = shipped_matcher.classify([(0, text)])
        assert kind.type == "newcomer" and kind.sure and not kind.evidence, (text, kind)
    assert shipped_matcher.classify([(0, "有点怀疑是不是正品")]).type == "suspicious"  # said in words, it counts


def test_a_picture_or_voice_message_sent_again_is_no_question_asked_again(shipped_matcher: Matcher) -> None:
    for repeated in (["[图片]", "[图片]"], ["[语音]", "[语音]", "[语音]"], ["[表情]", "[表情]"]):
        messages = [(n * 60_000, text) for n, text in enumerate(repeated)]
        kind = shipped_matcher.classify(messages, [])
        assert kind.type == "newcomer" and not kind.evidence, (repeated, kind)
    asked = shipped_matcher.classify([(0, "有货吗"), (60_000, "有货吗")], [])
    assert asked.type == "impatient"  # the same question again after a wait still is impatience


def test_two_questions_in_one_message_get_both_answers_in_the_order_asked(shipped_matcher: Matcher) -> None:
    for text, first, second in (
        ("发什么快递 能便宜点吗", "express_choice", "price_bargain"),
        ("能便宜点吗 发什么快递", "price_bargain", "express_choice"),
        ("有货吗 几天到", "stock", "logistics"),
        ("几天到 有货吗", "logistics", "stock"),
        ("能开发票吗 什么时候发货", "invoice", "shipping_time"),
        ("这个是正品吗 能便宜点不", "authenticity", "price_bargain"),
        ("什么时候发货，能改地址吗", "shipping_time", "address_change"),
    ):
        intents = live(shipped_matcher, text)
        assert first in intents and second in intents, (text, intents)
        assert intents.index(first) < intents.index(second), (text, intents)
        found = shipped_matcher.suggest(text)
        assert all(s.confidence >= 0.5 for s in found if s.intent == second), (text, found)  # not dimmed
    assert set(live(shipped_matcher, "发什么快递")) == {"express_choice"}  # one question: its answers alone


def test_a_greeting_beside_a_question_never_comes_before_its_answer(shipped_matcher: Matcher) -> None:
    # Found: a greeting clause the splitter could not take as one (a size or a word before it: xl你好？) was read as a
    # topic asked, so its welcome phrases came first, above the question's surer answer (0.963 before 0.998).
    for text, intent in (
        ("xl你好？有货吗", "stock"),
        ("nihao你好？到哪了", "logistics"),
        ("7.5折你好？到哪了", "logistics"),
    ):
        found = shipped_matcher.suggest(text)
        assert found and found[0].intent == intent, (text, found)
        assert found[0].confidence == max(s.confidence for s in found), (text, found)
    assert live(shipped_matcher, "你好？")[0] == "greeting"  # a greeting alone is still answered as one


def test_a_question_after_a_story_is_answered(shipped_matcher: Matcher) -> None:
    text = "我朋友推荐的你们家 说质量很好 我看了很久了 一直在犹豫 今天终于决定买了 想问下几天能到北京"
    assert live(shipped_matcher, text)[0] == "logistics"
    # A story that asks nothing stays unanswered.
    assert shipped_matcher.suggest("我朋友推荐的你们家 说质量很好 我看了很久了 一直在犹豫 今天终于决定买了") == []


def test_a_pasted_share_text_is_cut_out_with_its_title(shipped_matcher: Matcher) -> None:
    # A Taobao share text (淘口令): its title's 宽松 got the «担心偏大» size answer, 316不锈钢 named an expert.
    for text in (
        "【淘宝】https://m.tb.cn/h.5abcDEF?tk=abcd123 「夏季纯棉短袖T恤男宽松」点击链接直接打开 或者 淘宝搜索直接打开",
        "￥AbCd1234XyZ￥ 复制这条信息，打开手机淘宝即可看到【儿童保温杯316不锈钢】",
        "【天猫】「羊毛大衣女 宽松显瘦」 m.tb.cn/h.5abcDEF 点击链接直接打开",
    ):
        assert shipped_matcher.read(text).message.has_card, text
        assert live(shipped_matcher, text)[0] == "greeting", text  # an item shown: what to tell is asked (hy7)
        kind = shipped_matcher.classify([(0, text)])
        assert kind.type == "newcomer" and not kind.evidence, (text, kind)
    asked = "【淘宝】https://m.tb.cn/h.5abcDEF?tk=abcd123 CZ0001 「加厚羽绒服女中长款」点击链接直接打开 这个有160的码吗"
    assert shipped_matcher.read(asked).message.focus == "这个有160的码吗"  # the question sent with it is read
    assert shipped_matcher.read("这个是不是316不锈钢的【急】").message.focus.startswith("这个是不是316")  # no share


def test_an_abbreviation_with_the_end_of_its_word_typed_or_typed_over_and_over_reads_as_the_word(
    shipped_matcher: Matcher,
) -> None:
    # ok的 folded to 好的的 and okok was no word: both were silent where 好的 and ok get the closing thanks.
    for text in ("ok的", "OK的", "okok", "okokok"):
        assert live(shipped_matcher, text)[0] == "thanks_bye", text
    assert shipped_matcher.normalizer.fold("ok的") == shipped_matcher.normalizer.fold("好的")
    assert shipped_matcher.normalizer.fold("book") == "book"  # a Latin word's own letters are no repetition


def test_an_item_shown_alone_gets_the_answer_that_asks_what_to_tell_of_it(shipped_matcher: Matcher) -> None:
    # A link, a product card or a listing alone got nothing: the agent had to write «想了解它的哪方面» by hand.
    for text in (
        "https://item.taobao.com/item.htm?id=612345678901",
        "你好 https://detail.tmall.com/item.htm?id=612345678901&skuId=4567",
        "[商品]",
        "纯棉短袖T恤男 宽松 ¥59.00 已售3000+件",
    ):
        found = shipped_matcher.suggest(text)
        assert found[0].code == "hy7" and found[0].confidence >= 0.5, (text, found)
        assert shipped_matcher.classify([(0, text)]).type == "newcomer", text
    # What is asked with it is answered; an order card, a picture, a shop's page stay the agent's to look at.
    assert live(shipped_matcher, "https://item.taobao.com/item.htm?id=612345678901 这个有货吗")[0] == "stock"
    for text in ("订单号：3456789012345678901", "[图片]", "https://shop42.taobao.com/index.htm"):
        assert shipped_matcher.suggest(text) == [], text
