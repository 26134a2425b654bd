"""Key words and cues found on the segmenter's word boundaries, with free substrings and exclusions."""

from __future__ import annotations

import re

import pytest

from assistant.suggest.keywords import KeywordSpotter, WordFinder, WordRules
from assistant.suggest.matcher import Matcher
from assistant.suggest.phrases import IntentSpec, LibraryError, WordSpec
from assistant.suggest.textnorm import Normalizer
from assistant.suggest.type_evidence import Cue, CueSpotter
from assistant.suggest.vocabulary import Problem, parse_words

NORMALIZER = Normalizer()


def finder(words: list[str], spec: WordSpec | None = None) -> WordFinder[str]:
    return WordFinder(((w, w) for w in words), NORMALIZER, WordRules(spec or WordSpec(), NORMALIZER))


def found(words: list[str], text: str, spec: WordSpec | None = None) -> list[str]:
    return [f.term.value for f in finder(words, spec).find(NORMALIZER.analyze(text))]


def test_inside_word_is_true_only_within_one_longer_word() -> None:
    analysis = NORMALIZER.analyze("订单号多少")  # 订单号 / 多少
    assert analysis.tokens[0] == "订单号"
    assert analysis.inside_word(1, 3)  # 单号
    assert not analysis.inside_word(0, 3)  # the whole word
    assert not analysis.inside_word(2, 4)  # 号多: across two words


def test_a_word_matches_as_a_word_of_the_message() -> None:
    assert found(["单号"], "快递单号发我一下") == ["单号"]


def test_a_word_inside_a_longer_word_does_not_match() -> None:
    assert found(["单号"], "咨询订单号:12345") == []
    assert found(["码"], "验证码收不到") == []


def test_a_word_spanning_several_words_matches() -> None:
    assert found(["什么时候发"], "什么时候发货") == ["什么时候发"]


def test_a_free_word_matches_inside_longer_words() -> None:
    assert found(["票"], "能开发票吗") == []
    assert found(["票"], "能开发票吗", WordSpec(free=("票",))) == ["票"]


def test_an_exclusion_stops_a_word_inside_the_longer_word_however_it_is_cut() -> None:
    spec = WordSpec(free=("喂",), exclusions={"喂": ("喂奶",)})
    assert found(["喂"], "宝宝喂奶用的", spec) == []
    assert found(["喂"], "喂 有人吗", spec) == ["喂"]


def test_an_exclusion_only_covers_the_places_it_occurs() -> None:
    spec = WordSpec(free=("单号",), exclusions={"单号": ("订单号",)})
    assert found(["单号"], "订单号123的快递单号是多少", spec) == ["单号"]
    assert found(["单号"], "订单号123", spec) == []


def test_a_number_slot_word_matches_anywhere() -> None:
    assert found(["少#块"], "少5块行不行") == ["少#块"]
    assert found(["#码"], "我要大一码") == ["#码"]


def test_an_exclusion_of_a_number_slot_word_stops_it_inside_an_idiom() -> None:
    spec = WordSpec(exclusions={"#码": ("两码事", "一码归一码")})
    assert found(["#码"], "这跟退款是两码事", spec) == []
    assert found(["#码"], "我们一码归一码", spec) == []
    assert found(["#码"], "要大两码吗", spec) == ["#码"]
    assert found(["#码"], "两码事 我穿大一码", spec) == ["#码"]  # a size beside the idiom still counts


def test_a_type_cue_with_a_number_slot_obeys_the_exclusions() -> None:
    cue = Cue("#码", "picky", 0.45, re.compile("[0-9一两三]+码"))
    spotter = CueSpotter([cue], {"#码": ("一码归一码",)})
    assert [c.text for _, _, c in spotter.hits(NORMALIZER.analyze("我要大一码"))] == ["#码"]
    assert spotter.hits(NORMALIZER.analyze("一码归一码")) == []


def test_words_are_found_in_the_order_given() -> None:
    assert found(["发货", "什么时候发"], "什么时候发货") == ["发货", "什么时候发"]


def test_keyword_spotter_ignores_a_key_word_inside_an_unrelated_word() -> None:
    intents = {
        "logistics": IntentSpec(id="logistics", label="物流", strong=("单号",)),
        "refund": IntentSpec(id="refund", label="退款", keywords=("退款",)),
    }
    spotter = KeywordSpotter(intents, NORMALIZER, WordSpec(exclusions={"单号": ("订单号",)}))
    scores, _ = spotter.scores(NORMALIZER.analyze("订单号:8812 我要退款"))
    assert set(scores) == {"refund"}
    scores, _ = spotter.scores(NORMALIZER.analyze("快递单号多少"))
    assert set(scores) == {"logistics"}


def test_the_presence_test_says_no_only_when_no_word_or_whole_form_of_the_intents_is_there() -> None:
    intents = {
        "thanks": IntentSpec(id="thanks", label="感谢", keywords=("谢谢",), whole=("好的",)),
        "discount": IntentSpec(id="discount", label="优惠", keywords=("满#减",)),
        "refund": IntentSpec(id="refund", label="退款", keywords=("退款",)),
    }
    spotter = KeywordSpotter(intents, NORMALIZER)
    thanks = spotter.presence_test(frozenset({"thanks"}))
    assert thanks(NORMALIZER.analyze("谢谢亲")) and thanks(NORMALIZER.analyze("好的。"))  # a word; a whole form
    assert not thanks(NORMALIZER.analyze("我要退款")) and not thanks(NORMALIZER.analyze("好的退款"))
    discount = spotter.presence_test(frozenset({"discount"}))
    assert discount(NORMALIZER.analyze("满300减多少")) and not discount(NORMALIZER.analyze("退款怎么办"))


def test_the_presence_test_never_misses_what_the_hits_find(shipped_matcher: Matcher) -> None:
    from bench.bench_matcher import _queries

    social = frozenset(shipped_matcher.library.clauses.social)
    present = shipped_matcher.keywords.presence_test(social)
    said_no = 0
    for text in _queries(600):
        analysis = shipped_matcher.normalizer.analyze(text)
        hits = {h.keyword.intent for h in shipped_matcher.keywords.hits(analysis)}
        scores, _ = shipped_matcher.keywords.scores(analysis)
        if hits & social or set(scores) & social:
            assert present(analysis), text
        said_no += not present(analysis)
    assert said_no > 300  # and it does rule most messages out


def test_words_table_is_validated() -> None:
    problems: list[Problem] = []
    spec = parse_words({"words": {"free": ["票"], "exclusions": {"单号": ["订单号", "运单"]}, "x": 1}}, problems)
    assert spec.free == ("票",)
    assert spec.exclusions == {"单号": ("订单号", "运单")}
    reasons = sorted(p.reason for p in problems)
    assert reasons == ["'单号'：'运单' 并不包含它", "未知的键 'x'"]


def test_an_exclusion_of_a_number_slot_word_must_hold_it_with_any_number() -> None:
    problems: list[Problem] = []
    spec = parse_words({"words": {"exclusions": {"#码": ["两码事", "号码"]}}}, problems)
    assert spec.exclusions == {"#码": ("两码事", "号码")}
    assert [p.reason for p in problems] == ["'#码'：'号码' 并不包含它"]


def test_a_library_with_a_bad_words_table_is_rejected() -> None:
    from assistant.suggest.phrases import Library

    with pytest.raises(LibraryError) as caught:
        Library.build([], {"words": {"free": "票"}})
    assert "intents.toml [words]：'free' 必须是字符串列表" in str(caught.value)


def test_shipped_size_patterns_read_a_size_letter_with_its_fit_but_not_a_model_name(shipped_matcher: Matcher) -> None:
    for text in ("L的偏紧吗", "以前一直拿XL", "2xl还是3xl", "s码有点小"):
        assert "size_advice" in shipped_matcher.keyword_scores(text), text
    for text in ("iphone 6s 大吗", "5m长的线", "m2芯片的够用吗"):
        assert "size_advice" not in shipped_matcher.keyword_scores(text), text
