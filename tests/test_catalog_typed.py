"""Measures as buyers type them: 斤 mistyped as 近, 金 or jin, 上下 for about, sizes chosen between, a person named."""

from __future__ import annotations

import pytest

from assistant.catalog import measures
from assistant.catalog.answers import SIZE, answers
from assistant.catalog.sizing import SizeChart, SizeRow, parse_range
from assistant.catalog.store import Item


@pytest.mark.parametrize("text", ["165 110近", "165 110金", "165 110jin", "身高165 体重110近 穿几码"])
def test_a_mistyped_jin_is_a_weight(text: str) -> None:
    assert measures.combine([text]) == measures.Body(165, 110)


@pytest.mark.parametrize("text", ["165 110近视", "金额110", "110金币"])
def test_the_same_characters_in_a_word_are_no_unit(text: str) -> None:
    assert measures.parse(text) is None


def test_about_said_as_shang_xia_is_about() -> None:
    assert measures.combine(["165上下 110上下"]) == measures.Body(165, 110)


def test_two_sizes_chosen_between_are_no_height() -> None:
    # 穿90还是100 read 100 as a child's height (100 cm), and the size from it
    assert measures.parse("宝宝105 穿110还是120", measures.Spans(height=(80, 130))) == measures.Measurement(105)
    assert measures.chooses_size("拿九十还是一百")
    assert not measures.chooses_size("一米六还是一米六五")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("她165 110", [(SIZE, "L码")]),
        ("165 110 我老公175 140", [(SIZE, "L码"), (SIZE, "2XL码")]),
        ("我老公123", []),  # one bare number: no body
    ],
)
def test_someone_named_with_a_height_and_weight_is_a_size_question(text: str, expected: list[tuple[str, str]]) -> None:
    # these got nothing: no word of size was said
    assert [(a.kind, a.values.get("size", "")) for a in answers(TEE, text)] == expected


TEE = Item(
    id="800000000070",
    title="女士纯棉T恤",
    attrs=(),
    chart=SizeChart(
        rows=tuple(
            SizeRow(s, parse_range(h), parse_range(w))
            for s, h, w in [("M", "157-162", "95-105"), ("L", "162-167", "105-118"), ("2XL", "172-177", "132-150")]
        )
    ),
)


@pytest.mark.parametrize(("text", "size"), [("163 98 偏瘦 会不会大", "M码"), ("165 110 会小吗", "L码")])
def test_whether_a_size_fits_asked_with_the_measures_is_a_size_question(text: str, size: str) -> None:
    # these got nothing: 会不会大 was no word of size, so the numbers were not read
    assert [(a.kind, a.values.get("size", "")) for a in answers(TEE, text)] == [(SIZE, size)]


def test_a_price_paid_is_no_weight() -> None:
    assert answers(TEE, "这件会不会大 我99买的") == []
    assert measures.combine(["165 110买什么码"]) == measures.Body(165, 110)
