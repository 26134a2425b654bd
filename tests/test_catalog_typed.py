"""Measures as a pinyin keyboard mistypes them: 斤 typed as 近, 金 or jin."""

from __future__ import annotations

import pytest

from assistant.catalog import measures


@pytest.mark.parametrize("text", ["165 110近", "165 110金", "165 110jin", "身高165 体重110近 穿几码"])
def test_a_mistyped_jin_is_a_weight(text: str) -> None:
    assert measures.combine([text]) == measures.Body(165, 110)


@pytest.mark.parametrize("text", ["165 110近视", "金额110", "110金币"])
def test_the_same_characters_in_a_word_are_no_unit(text: str) -> None:
    assert measures.parse(text) is None
