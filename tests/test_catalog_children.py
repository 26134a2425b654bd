"""Children's sizes in the words parents write: 一米 and a rough weight, and a chart's optional 年龄 column."""

from __future__ import annotations

from assistant.catalog import measures
from assistant.catalog.answers import ASK_WEIGHT, SIZE, Answer, answers
from assistant.catalog.sizing import SizeChart, SizeRow, parse_range
from assistant.catalog.store import Item


def item(title: str, rows: list[tuple[str, str, str, tuple[tuple[str, str], ...]]]) -> Item:
    sizes = tuple(SizeRow(s, parse_range(h) if h else None, parse_range(w) if w else None, m) for s, h, w, m in rows)
    return Item(id="800000000030", title=title, attrs=(), chart=SizeChart(rows=sizes))


# A children's chart by height and weight (斤).
HOODIE = item(
    "儿童连帽卫衣",
    [
        ("90", "80-90", "20-26", ()),
        ("100", "90-100", "26-32", ()),
        ("110", "100-110", "32-38", ()),
        ("120", "110-120", "38-46", ()),
        ("130", "120-130", "46-56", ()),
    ],
)


def sizes(found: list[Answer]) -> list[tuple[str, str, str]]:
    return [(a.kind, a.values["measures"], a.values.get("size", "")) for a in found]


def test_one_metre_and_a_rough_number_are_a_height_and_a_weight() -> None:
    # 一米 is 100 cm; 三十多 after it is a child's weight in 斤 (15 kg at 1 m), never 1米30
    assert measures.combine(["宝宝一米 三十多"]) == measures.Body(100, 30)
    assert measures.combine(["宝宝一米三十多 穿几码"]) == measures.Body(100, 30)
    assert sizes(answers(HOODIE, "宝宝一米 三十多 穿几码")) == [(SIZE, "100cm/30斤", "100码")]


def test_one_metre_and_some_is_still_a_height_in_centimetres() -> None:
    assert measures.combine(["一米六多"]) == measures.Body(160, None)
    assert measures.combine(["1米65"]) == measures.Body(165, None)
    assert sizes(answers(HOODIE, "一米二 穿多大")) == [(ASK_WEIGHT, "120cm", "")]
