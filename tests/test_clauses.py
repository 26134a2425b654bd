"""Clause splitting: punctuation and spaces, pasted order cards, social words at the edges, the focus."""

from __future__ import annotations

import pytest

from assistant.suggest.clauses import CARD, ITEM_SHOWN, PAUSE, SOCIAL, TEXT, ClauseSplitter
from assistant.suggest.matcher import Matcher
from assistant.suggest.textnorm import Analysis, NormalizationData, Normalizer
from assistant.suggest.vocabulary import ClauseSpec

SPEC = ClauseSpec(
    cards=(r"订单号\s*:\s*[0-9]+", r"(?<![0-9])[0-9]{10,}(?![0-9])"),
    openers=("你好", "在吗", "好的", "请问", "我想问一下"),
    closers=("谢谢", "谢谢亲"),
    social=("greeting", "thanks_bye"),
    intensifiers=("真的", "很", "非常", "呀"),
)
SOCIAL_WORDS = {"你好", "谢谢", "好的", "嗯嗯", "在吗", "收到"}


def social(analysis: Analysis) -> bool:
    return analysis.compact in SOCIAL_WORDS


@pytest.fixture(scope="module")
def splitter() -> ClauseSplitter:
    return ClauseSplitter(SPEC, Normalizer(), social)


def kinds(splitter: ClauseSplitter, text: str) -> list[tuple[str, str]]:
    return [(c.text, c.kind) for c in splitter.split(text).clauses]


def test_punctuation_and_spaces_end_clauses(splitter: ClauseSplitter) -> None:
    assert kinds(splitter, "裙子起球吗？会不会掉色 能机洗吗") == [
        ("裙子起球吗?", TEXT), ("会不会掉色", TEXT), ("能机洗吗", TEXT),
    ]  # fmt: skip


def test_numbers_and_latin_words_are_not_cut(splitter: ClauseSplitter) -> None:
    assert kinds(splitter, "买三件8.5折吗") == [("买三件8.5折吗", TEXT)]
    assert kinds(splitter, "iphone 12 pro有货吗") == [("iphone 12 pro有货吗", TEXT)]


def test_a_greeting_glued_to_the_question_is_split_off(splitter: ClauseSplitter) -> None:
    message = splitter.split("你好我的包裹明天能到吗")
    assert [(c.text, c.kind) for c in message.clauses] == [("你好", SOCIAL), ("我的包裹明天能到吗", TEXT)]
    assert message.focus == "我的包裹明天能到吗"


def test_openers_of_several_words_and_closers_are_split_off(splitter: ClauseSplitter) -> None:
    message = splitter.split("我想问一下发票怎么开谢谢亲")
    assert message.focus == "发票怎么开"
    assert [c.kind for c in message.clauses] == [SOCIAL, TEXT, SOCIAL]


def test_a_social_clause_beside_a_question_does_not_decide(splitter: ClauseSplitter) -> None:
    message = splitter.split("谢谢，那赠品呢？")
    assert message.focus == "那赠品呢?"
    assert not message.social_only


def test_a_message_that_only_thanks_keeps_all_of_it(splitter: ClauseSplitter) -> None:
    message = splitter.split("好的，谢谢")
    assert message.social_only
    assert message.focus == "好的，谢谢"


def test_intensifiers_beside_a_social_word_are_part_of_it(splitter: ClauseSplitter) -> None:
    message = splitter.split("真的很谢谢")
    assert [c.kind for c in message.clauses] == [SOCIAL, SOCIAL]
    assert message.social_only
    assert splitter.split("你好呀").social_only


def test_intensifiers_with_more_words_or_alone_are_still_text(splitter: ClauseSplitter) -> None:
    assert kinds(splitter, "真的很好用谢谢") == [("真的很好用", TEXT), ("谢谢", SOCIAL)]
    assert kinds(splitter, "真的吗") == [("真的吗", TEXT)]


def test_a_single_clause_is_the_focus_without_asking_whether_it_is_social() -> None:
    asked: list[str] = []

    def record(analysis: Analysis) -> bool:
        asked.append(analysis.compact)
        return True

    message = ClauseSplitter(SPEC, Normalizer(), record).split("收到")
    assert message.focus == "收到" and asked == []


def test_fillers_among_the_opening_words_are_split_off_with_them() -> None:
    fillers = NormalizationData(fillers=frozenset({"就是", "那个", "呃", "然后"}))
    splitter = ClauseSplitter(SPEC, Normalizer(fillers), social)
    message = splitter.split("呃那个你好就是我想问一下然后这双鞋能退吗")
    assert [(c.text, c.kind) for c in message.clauses] == [
        ("呃那个你好就是我想问一下然后", SOCIAL), ("这双鞋能退吗", TEXT),
    ]  # fmt: skip
    assert message.focus == "这双鞋能退吗"
    assert kinds(splitter, "能退吗就是谢谢") == [("能退吗", TEXT), ("就是谢谢", SOCIAL)]
    # A filler with no social word beside it stays in its clause; a clause of fillers alone says nothing.
    assert kinds(splitter, "就是这个颜色还有吗") == [("就是这个颜色还有吗", TEXT)]
    assert splitter.split("呃 那个 这个颜色还有吗").focus == "这个颜色还有吗"
    assert kinds(splitter, "这个颜色还有吗 呃") == [("这个颜色还有吗", TEXT), ("呃", PAUSE)]  # no greeting or thanks
    # Openers that are a whole clause are social, however the segmenter cuts them.
    assert kinds(splitter, "我想问一下 在吗") == [("我想问一下", SOCIAL), ("在吗", SOCIAL)]


def test_shipped_library_reads_a_question_after_spoken_fillers(shipped_matcher: Matcher) -> None:
    for text, intent in (
        ("嗯就是我想问一下你们这个包是不是正品啊", "authenticity"),
        ("嗯然后那个我想问下你们家的面膜是不是正品", "authenticity"),
        ("嗯就是我想问一下这个鞋子什么时候发货", "shipping_time"),
        ("嗯嗯 就是 我想咨询一下 这个裤子会不会掉色", "product_info"),
    ):
        first = shipped_matcher.suggest(text)[0]
        assert first.intent == intent, text
        assert "想问" not in first.evidence, text
    # Spoken fillers around the question ("嗯" mid-sentence included) neither greet nor thank.
    found = shipped_matcher.suggest("嗯那个就是我想问一下就是这个裤子嗯多久能到")
    assert found[0].intent in {"logistics", "shipping_time"}
    assert "thanks_bye" not in {s.intent for s in found}


def test_a_pasted_order_card_is_context_not_the_question(splitter: ClauseSplitter) -> None:
    message = splitter.split("订单号：1234567 这个怎么还没发货")
    assert message.has_card
    assert message.focus == "这个怎么还没发货"
    assert (("", CARD)) in kinds(splitter, "订单号：1234567 这个怎么还没发货")


def test_a_long_number_is_taken_as_a_pasted_order_number(splitter: ClauseSplitter) -> None:
    message = splitter.split("3344556677889900 退款了吗")
    assert message.has_card and message.focus == "退款了吗"


def test_the_fields_of_a_pasted_order_card_are_cut_out_with_it(shipped_matcher: Matcher) -> None:
    card = "订单号：3345678901234567 支付时间：2026-11-30 09:12:45 商品总价：¥129.00 运费：¥0.00 实付款：¥129.00 交易状态：卖家已发货"
    alone = shipped_matcher.read(card).message
    assert alone.has_card and alone.social_only
    assert shipped_matcher.suggest(card) == []
    asked = shipped_matcher.read(card + " 怎么还没到").message
    assert asked.focus == "怎么还没到"


def test_a_link_is_cut_out_however_its_slashes_fold(shipped_matcher: Matcher) -> None:
    for link in ("https://detail.tmall.com/item.htm?id=612345678", "m.tb.cn/h.5zKqWb"):
        message = shipped_matcher.read(link).message  # an item shown alone: what the buyer wants to know is asked
        assert message.has_card and message.focus == ITEM_SHOWN, link
        assert shipped_matcher.suggest(link)[0].code == "hy7", link
        assert shipped_matcher.read(f"{link} 这个什么时候发货").message.focus == "这个什么时候发货", link


def test_a_pasted_listing_is_cut_out_with_its_title(shipped_matcher: Matcher) -> None:
    for listing in (
        "【店长推荐】加厚羽绒服女中长款 ￥399.00 2万+人付款",
        "纯棉短袖T恤男 宽松 ¥59 已售3000+件",
        "真丝睡衣套装 ¥268.00",
    ):
        message = shipped_matcher.read(listing).message
        assert message.has_card and message.focus == ITEM_SHOWN, listing  # its title is not read
        assert shipped_matcher.suggest(listing)[0].code == "hy7", listing
        assert shipped_matcher.read(f"{listing} 这个能便宜点吗").message.focus == "这个能便宜点吗", listing
    # A price put in a question is part of it.
    assert shipped_matcher.read("能便宜到¥80吗").message.focus == "能便宜到¥80吗"


def test_emoticon_and_placeholder_codes_are_dropped(splitter: ClauseSplitter) -> None:
    assert splitter.split("[微笑]发货了吗[数字x]").focus == "发货了吗"


def test_punctuation_alone_is_still_what_was_said(splitter: ClauseSplitter) -> None:
    assert splitter.split("？？？").focus == "?"
    assert splitter.split("").focus == ""


def test_shipped_library_reads_a_greeting_and_a_question_by_the_question(shipped_matcher: Matcher) -> None:
    for text, intent in (
        ("你好，我买的耳机什么时候发货", "shipping_time"),
        ("在吗在吗 发票怎么开", "invoice"),
        ("谢谢你 那赠品什么时候寄", "gift"),
    ):
        assert shipped_matcher.suggest(text)[0].intent == intent, text


def test_a_greeting_before_and_thanks_after_the_question_are_told_apart(shipped_matcher: Matcher) -> None:
    before = set(shipped_matcher.read("你好，发票怎么开").features.names)
    after = set(shipped_matcher.read("发票怎么开 谢谢").features.names)
    alone = set(shipped_matcher.read("发票怎么开").features.names)
    assert "xopener" in before and "xcloser" not in before
    assert "xcloser" in after and "xopener" not in after
    assert not alone & {"xopener", "xcloser"}


def test_a_social_word_inside_an_excluded_longer_word_is_not_split_off() -> None:
    spec = ClauseSpec(openers=("你好",), closers=("谢了",))
    splitter = ClauseSplitter(spec, Normalizer(), social, (), {"谢了": ("花都谢了",), "你好": ("你好意思",)})
    for text in ("等得花都谢了", "你好意思说"):
        assert [(c.text, c.kind) for c in splitter.split(text).clauses] == [(text, TEXT)], text
    assert [(c.text, c.kind) for c in splitter.split("知道了谢了").clauses] == [("知道了", TEXT), ("谢了", SOCIAL)]


def test_that_typed_for_which_asks_which_where_nothing_else_asks() -> None:
    which, judgements = ("那个", "那种", "那款"), ("好看", "好", "合适")
    splitter = ClauseSplitter(SPEC, Normalizer(), social, ("吗", "?"), None, which, judgements)
    assert splitter.split("那个颜色好看").focus == "哪个颜色好看"  # opens with it, ends in a judgement
    assert splitter.split("那款比较好").focus == "哪款比较好"
    assert splitter.split("请问 充电用那种线").focus == "充电用哪种线"  # after an asking opener
    assert splitter.split("那个颜色有货吗").focus == "那个颜色有货吗"  # a marker: it points at one
    assert splitter.split("那个不好").focus == "那个不好"  # a verdict
    assert splitter.split("那个我看了挺好").focus == "那个我看了挺好"  # a pronoun after it: it points
    assert splitter.split("充电用那种线").focus == "充电用那种线"  # no opener asking, no judgement
