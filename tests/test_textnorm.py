"""Normalization and segmentation of chat text."""

from __future__ import annotations

from assistant.suggest.textnorm import NormalizationData, Normalizer, char_ngrams, fold, normalize, segment

DATA = NormalizationData(
    synonyms={"zfb": "支付宝", "hb": "花呗", "咋": "怎么", "木有": "没有", "👍": "好的"},
    traditional={"發": "发", "貨": "货", "這": "这", "個": "个", "嗎": "吗"},
    protected=frozenset({"花呗", "人呢"}),
)


def test_fold_turns_full_width_into_half_width_lower_case() -> None:
    assert fold("ＡＢＣ１２３ＸＬ") == "abc123xl"


def test_fold_collapses_repeated_punctuation() -> None:
    assert fold("发货了吗？？？！！！。。。") == "发货了吗?!。"


def test_fold_strips_emoji_and_control_characters() -> None:
    assert fold("好的😊👍\u200b\x00\x07❤️亲") == "好的亲"


def test_fold_collapses_whitespace() -> None:
    assert fold("  在吗 \t\n 亲  ") == "在吗 亲"


def test_normalize_drops_fillers_and_punctuation() -> None:
    assert normalize("亲，这个什么时候发货呀？") == "这个什么时候发货"


def test_normalize_keeps_a_message_that_is_only_filler() -> None:
    assert normalize("亲？") == "亲"


def test_normalize_of_nothing_is_empty() -> None:
    assert normalize("") == ""
    assert normalize("😀😀 ！！") == ""


def test_normalizer_applies_synonyms() -> None:
    n = Normalizer(DATA)
    assert n.normalize("zfb能付吗") == "支付宝能付吗"
    assert n.normalize("咋还木有发货") == "怎么还没有发货"


def test_ascii_synonyms_need_word_boundaries() -> None:
    n = Normalizer(DATA)
    assert n.fold("hbo 可以hb吗") == "hbo 可以花呗吗"


def test_a_synonyms_latin_edge_needs_a_word_boundary() -> None:
    n = Normalizer(NormalizationData(synonyms={"by吗": "包邮吗", "能fh": "能发货", "7天": "七天", "hb": "花呗"}))
    assert n.fold("这款by吗 今天能fh吗 7天无理由") == "这款包邮吗 今天能发货吗 七天无理由"
    # by吗 inside baby吗, 能fh before more letters, the 7 of 17天: no synonym
    assert n.fold("适合baby吗 能fhx 等了17天") == "适合baby吗 能fhx 等了17天"
    assert n.fold("hbo 适合baby吗 可以hb吗") == "hbo 适合baby吗 可以花呗吗"  # the same when hbo sends it to the regex


def test_emoji_synonym_applies_before_emoji_are_stripped() -> None:
    assert Normalizer(DATA).normalize("👍") == "好的"


def test_traditional_characters_become_simplified() -> None:
    assert Normalizer(DATA).normalize("這個發貨嗎") == "这个发货吗"


def test_protected_word_keeps_its_filler_character() -> None:
    n = Normalizer(DATA)
    assert "花呗" in n.normalize("能用花呗吗")
    assert n.normalize("人呢") == "人呢"
    assert n.normalize("便宜点吧") == "便宜点"


def test_tokens_are_segmented_words() -> None:
    assert segment("这个什么时候发货") == ["这个", "什么", "时候", "发货"]


def test_segment_of_empty_text_is_empty() -> None:
    assert segment("") == []


def test_char_ngrams() -> None:
    assert list(char_ngrams("发货了发货")) == ["发货", "货了", "了发"]  # first seen first, each once
    assert list(char_ngrams("发")) == ["发"]
    assert list(char_ngrams("")) == []


def test_normalizer_survives_lone_surrogates_and_long_text() -> None:
    n = Normalizer(DATA)
    assert n.normalize("\ud800发货\udfff") == "发货"
    assert len(n.normalize("发货" * 5000)) == 10000


def test_shipped_vocabulary_folds_colloquial_forms() -> None:
    from pathlib import Path

    from assistant.suggest.phrases import Library

    shipped = Normalizer(Library.load(Path(__file__).resolve().parent.parent / "phrases").normalization)
    assert shipped.normalize("咋整") == shipped.normalize("怎么办")
    assert "什么时候" in shipped.normalize("嘛时候发货")
    assert "退款" in shipped.normalize("退欵")
