"""Children's sizes in the words parents write: 一米 and a rough weight, and a chart's optional 年龄 column."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from assistant import store
from assistant.catalog import ages, measures
from assistant.catalog.answers import ASK_WEIGHT, NO_SIZE, SIZE, Answer, answers
from assistant.catalog.importer import import_files
from assistant.catalog.sizing import SizeChart, SizeRow, parse_range
from assistant.catalog.store import Item, read_item
from tests.catalog_data import write_csv


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


KIDS_ITEM = "800000000031"
AGE_HEADER = ("尺码表", "尺码", "身高(cm)", "参考年龄")
AGE_CHART = [
    ("童装年龄", "90", "80-90", "1-2岁"),
    ("童装年龄", "100", "90-100", "2-3岁"),
    ("童装年龄", "110", "100-110", "3-4岁"),
    ("童装年龄", "120", "110-120", "5-6岁"),
    ("童装年龄", "130", "120-130", "7-8岁"),
]


def imported(tmp_path: Path, header: Sequence[str], chart: Sequence[Sequence[str]]) -> Item:
    """The hoodie as the service reads it after a real import of its item row and its shared chart."""
    items = write_csv(tmp_path / "items.csv", ("商品ID", "标题", "尺码表"), [(KIDS_ITEM, "儿童连帽卫衣", "童装年龄")])
    sizes = write_csv(tmp_path / "sizes.csv", header, chart)
    conn = store.connect(tmp_path / "catalog.db")
    try:
        assert import_files(conn, [items, sizes]).written
        found = read_item(conn, KIDS_ITEM)
    finally:
        conn.close()
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("宝宝3岁穿几码", [(SIZE, "3岁", "110码")]),  # 3 is where 2-3 and 3-4 meet: the older
        ("孩子两岁半 穿哪个码", [(SIZE, "2岁半", "100码")]),
        ("宝宝十八个月穿多大", [(SIZE, "18个月", "90码")]),
        ("女儿6岁半穿几码", [(SIZE, "6岁半", "130码")]),  # between 5-6 and 7-8: the older
        ("宝宝10岁穿几码", [(NO_SIZE, "10岁", "")]),
        ("宝宝3岁 身高105穿几码", [(SIZE, "105cm", "110码")]),  # a height, when given, wins
        ("我30岁 穿几码", []),  # no child's age
    ],
)
def test_an_age_alone_is_sized_by_the_charts_age_column(
    tmp_path: Path, text: str, expected: list[tuple[str, str, str]]
) -> None:
    assert sizes(answers(imported(tmp_path, AGE_HEADER, AGE_CHART), text)) == expected


@pytest.mark.parametrize(
    ("earlier", "text", "expected"),
    [
        # a child's age with no word of size was no size question: nothing, though the chart gives ages
        ([], "宝宝3周岁半", [(SIZE, "3周岁半", "110码")]),
        ([], "孩子两周岁", [(SIZE, "2周岁", "100码")]),
        (["宝宝穿什么码"], "4周岁", [(SIZE, "4周岁", "110码")]),
        ([], "宝宝18个月", [(SIZE, "18个月", "90码")]),
        ([], "我妈妈65周岁", []),  # no child's age
    ],
)
def test_a_childs_age_alone_asks_the_size_of_a_chart_by_age(
    tmp_path: Path, earlier: list[str], text: str, expected: list[tuple[str, str, str]]
) -> None:
    assert sizes(answers(imported(tmp_path, AGE_HEADER, AGE_CHART), text, earlier)) == expected


def test_a_childs_age_alone_asks_nothing_of_a_chart_without_ages(tmp_path: Path) -> None:
    assert answers(imported(tmp_path, AGE_HEADER[:3], [row[:3] for row in AGE_CHART]), "宝宝3周岁半") == []


def test_an_age_answer_shows_the_rows_ages_and_beyond_the_chart_its_span(tmp_path: Path) -> None:
    kids = imported(tmp_path, AGE_HEADER, AGE_CHART)
    (found,) = answers(kids, "宝宝三岁穿几码")
    assert [(f.name, f.value) for f in found.facts] == [("年龄", "3岁"), ("尺码", "110（年龄3-4岁）")]
    (beyond,) = answers(kids, "宝宝半岁穿多大")
    assert beyond.kind == NO_SIZE and beyond.values["span"] == "年龄1-8岁"


def test_a_chart_without_ages_never_guesses_from_an_age(tmp_path: Path) -> None:
    chart = [row[:3] for row in AGE_CHART]
    assert answers(imported(tmp_path, AGE_HEADER[:3], chart), "宝宝3岁穿几码") == []


def test_a_cell_that_is_no_age_is_refused_at_import(tmp_path: Path) -> None:
    sizes = write_csv(tmp_path / "sizes.csv", AGE_HEADER, [*AGE_CHART[:2], ("童装年龄", "110", "100-110", "大童")])
    conn = store.connect(tmp_path / "catalog.db")
    try:
        result = import_files(conn, [sizes])
    finally:
        conn.close()
    assert not result.written
    assert [(p.row, p.column, "年龄 '大童'" in p.message) for p in result.problems] == [(4, 3, True)]


@pytest.mark.parametrize(
    ("cell", "header", "months"),
    [
        ("3岁", "年龄", (36, 36)),
        ("2-3", "年龄(岁)", (24, 36)),
        ("6-12个月", "参考年龄", (6, 12)),
        ("6-12", "月龄", (6, 12)),
        ("3-4Y", "年龄", (36, 48)),
        ("18M", "年龄", (18, 18)),
    ],
)
def test_chart_ages_read_years_and_months(cell: str, header: str, months: tuple[float, float]) -> None:
    assert ages.is_age_header(header)
    found = ages.age_range(cell, months=ages.in_months(header))
    assert found is not None and (found.low, found.high) == months


@pytest.mark.parametrize(
    ("text", "months"),
    [("女儿十岁", 120), ("宝宝十个月", 10), ("十一岁", 132), ("两岁3个月", 27), ("半岁", 6), ("她二十岁", None)],
)
def test_a_childs_age_in_the_buyers_words(text: str, months: float | None) -> None:
    found = ages.parse(text)
    assert (found.months if found is not None else None) == months
