"""How the day's inspection reads a message's words: compacted once per text (a table lookup per character, not a
generator), to the same text as the character by character definition, so no finding changes."""

from __future__ import annotations

import unicodedata

from hypothesis import example, given
from hypothesis import strategies as st

from assistant.qa.review import _compact


def compacted_one_by_one(text: str) -> str:
    """The definition: NFKC, case folded, only letters and numbers (Unicode categories L… and N…) kept."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if unicodedata.category(ch)[0] in "LN")


@given(st.text(alphabet=st.characters(codec=None), max_size=40))
@example("亲，在的呢～有什么可以帮您？")
@example("ＶＸ：Ab_12 ① Ⅻ ß ﬁ \u200b😀")
@example("谢谢 亲\ud800")  # a lone surrogate, as a broken client sends one
def test_qa_review_compacts_as_the_definition_does(text: str) -> None:
    assert _compact(text) == compacted_one_by_one(text)


def test_qa_review_compacts_a_repeated_text_to_the_same_words() -> None:
    first = _compact("好的，谢谢亲！祝您生活愉快～")
    assert first == "好的谢谢亲祝您生活愉快"
    assert _compact("好的，谢谢亲！祝您生活愉快～") == first
