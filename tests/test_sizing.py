"""The size rule over a chart, chart cells, and item links in messages."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant.catalog.links import item_in
from assistant.catalog.sizing import Range, SizeChart, SizeRow, choose, order, parse_range, size_name


def row(size: str, height: str | None, weight: str | None) -> SizeRow:
    return SizeRow(
        size=size,
        height=parse_range(height) if height else None,
        weight=parse_range(weight) if weight else None,
    )


TSHIRT = SizeChart(
    rows=(
        row("S", "150-158", "80-95"),
        row("M", "158-165", "95-110"),
        row("L", "165-172", "110-125"),
        row("XL", "172-178", "125-140"),
    )
)


def size(chart: SizeChart, height: float | None, weight: float | None) -> str | None:
    found = choose(chart, height, weight)
    return found.size if found else None


def test_choose_row_where_both_hold() -> None:
    assert size(TSHIRT, 155, 90) == "S"
    assert size(TSHIRT, 162, 100) == "M"
    assert size(TSHIRT, 175, 130) == "XL"


def test_choose_weight_decides_when_measures_disagree() -> None:
    assert size(TSHIRT, 160, 120) == "L"  # height says M, weight says L
    assert size(TSHIRT, 175, 100) == "M"  # height says XL, weight says M


def test_choose_shared_boundary_takes_larger_size() -> None:
    assert size(TSHIRT, 165, 110) == "L"  # both hold for M and for L
    assert size(TSHIRT, 158, 95) == "M"
    assert size(TSHIRT, 170, 110) == "L"  # weight on the M/L boundary, height in L
    assert size(TSHIRT, 160, 110) == "M"  # both hold only for M: the row where both hold wins


def test_choose_value_in_a_gap_takes_larger_size() -> None:
    chart = SizeChart(rows=(row("M", "160-165", "100-110"), row("L", "166-172", "111-125")))
    assert size(chart, 165.5, 110.5) == "L"


def test_choose_nothing_outside_the_chart() -> None:
    assert size(TSHIRT, 170, 200) is None  # heavier than any row: the chart cannot say
    assert size(TSHIRT, 182, 120) == "L"  # a little taller than any row: the weight decides
    assert size(TSHIRT, 190, 120) is None  # far taller: no size is cut for the buyer


def test_choose_one_size_only_within_its_height() -> None:
    # 180cm/100斤 was told 均码 beside the chart's 身高155-170
    one = SizeChart(rows=(row("均码", "155-170", "90-130"),))
    assert size(one, 180, 100) is None
    assert size(one, 150, 100) is None
    assert size(one, 160, 150) is None
    assert size(one, 165, 100) == "均码"
    assert size(SizeChart(rows=(row("均码", None, "90-130"),)), 180, 100) == "均码"  # no 身高 to be beyond


def test_choose_height_only_and_weight_only_charts() -> None:
    kids = SizeChart(rows=(row("100", "95-105", None), row("110", "105-115", None), row("120", "115-125", None)))
    assert size(kids, 108, None) == "110"
    assert size(kids, 115, 40) == "120"  # a weight the chart has no column for does not matter
    by_weight = SizeChart(rows=(row("M", None, "90-110"), row("L", None, "110-130")))
    assert size(by_weight, None, 100) == "M"


def test_choose_judges_a_row_with_a_blank_weight_on_its_height() -> None:
    chart = SizeChart(
        rows=order((row("XL", "170-180", "140-160"), row("L", "165-175", None), row("M", "160", "100-120")))
    )
    assert [r.size for r in chart.rows] == ["M", "L", "XL"]  # a blank weight is not the smallest one
    assert size(chart, 162, 122) == "L"  # not XL: L's weight is unknown, its height is the nearest
    assert size(chart, 168, 130) == "L"  # 168 is in L's heights only
    assert size(chart, 172, 150) == "XL"  # the weight holds in XL, and so does the height
    assert size(chart, 160, 110) == "M"  # both hold in M
    assert size(chart, 150, 200) is None  # heavier than any row, and no blank row above it


@pytest.mark.parametrize("smallest", [("150-155", "80-90"), ("155cm以下", "90斤以下")])
def test_choose_bounds_a_blank_weight_by_its_own_neighbours(smallest: tuple[str, str]) -> None:
    # 150cm/95斤 was L: L's blank weight "held" 95 because it lay between S and XL, though M's 90-105 holds it
    chart = SizeChart(
        rows=(
            row("S", *smallest),
            row("M", "155-160", "90-105"),
            row("L", "160-165", None),
            row("XL", "165-170", "120-135"),
        )
    )
    assert size(chart, 150, 95) == "M"  # the weight is in M: L can only hold 105 to 120
    assert size(chart, 150, 100) == "M"
    assert size(chart, 152, 100) == "M"
    assert size(chart, 170, 100) == "M"
    assert size(chart, 158, 100) == "M"
    assert size(chart, 150, 105) == "M"  # M's own bound, not L's
    assert size(chart, 150, 110) == "L"  # between M and XL: only L holds it
    assert size(chart, 173, 115) == "L"  # a height just beyond the chart leaves it to the weight
    assert size(chart, 147, 110) == "L"
    assert size(chart, 162, 125) == "XL"


def test_choose_gives_no_size_to_a_height_far_beyond_the_chart() -> None:
    # 190 cm / 140斤 on a chart up to 177 cm was its 2XL, cut for someone 13 cm shorter
    chart = SizeChart(
        rows=(row("M", "157-162", "95-105"), row("L", "162-167", "105-118"), row("2XL", "172-177", "132-150"))
    )
    assert size(chart, 190, 140) is None
    assert size(chart, 140, 100) is None
    assert size(chart, 182, 140) == "2XL"  # 5 cm: within a row's step
    assert size(chart, 152, 100) == "M"


def test_choose_open_ended_rows() -> None:
    chart = SizeChart(
        rows=(row("S", "160以下", "100以下"), row("M", "160-170", "100-120"), row("L", "170以上", "120以上"))
    )
    assert size(chart, 150, 90) == "S"
    assert size(chart, 185, 170) == "L"


def test_order_sorts_rows_small_to_large() -> None:
    shuffled = (TSHIRT.rows[2], TSHIRT.rows[0], TSHIRT.rows[3], TSHIRT.rows[1])
    assert [r.size for r in order(shuffled)] == ["S", "M", "L", "XL"]


@given(st.floats(145, 183), st.floats(75, 145))  # TSHIRT is 150-178 cm: within HEIGHT_SLACK_CM
def test_choose_result_holds_the_weight_when_any_row_does(height: float, weight: float) -> None:
    found = choose(TSHIRT, height, weight)
    holding = [r for r in TSHIRT.rows if r.weight is not None and weight in r.weight]
    if holding:
        assert found is not None and found.weight is not None and weight in found.weight
        assert found == holding[-1] or (found.height is not None and height in found.height)


@pytest.mark.parametrize(
    ("cell", "low", "high"),
    [
        ("158-165", 158, 165), ("158~165", 158, 165), ("158～165cm", 158, 165), ("158至165", 158, 165),
        ("95-110斤", 95, 110), ("95斤-110斤", 95, 110), ("１５８－１６５", 158, 165), ("165", 165, 165),
        ("160以下", -math.inf, 160), ("180以上", 180, math.inf), ("170cm以上", 170, math.inf),
    ],
)  # fmt: skip
def test_parse_range_reads_chart_cells(cell: str, low: float, high: float) -> None:
    assert parse_range(cell) == Range(low, high)


@pytest.mark.parametrize("cell", ["158-", "abc", "165-158", "", "158-165-172", "约160"])
def test_parse_range_refuses_what_is_not_a_range(cell: str) -> None:
    assert parse_range(cell) is None


@pytest.mark.parametrize(
    ("cell", "low", "high"),
    [
        ("≤160", -math.inf, 160), ("<=160cm", -math.inf, 160), ("＜160", -math.inf, 160),
        ("100斤以内", -math.inf, 100), ("100斤及以下", -math.inf, 100), ("≥180", 180, math.inf),
        (">180", 180, math.inf), ("180+", 180, math.inf), ("180cm+", 180, math.inf), ("180及以上", 180, math.inf),
        ("160―165", 160, 165), ("160‐165", 160, 165), ("160−165", 160, 165),
    ],
)  # fmt: skip
def test_parse_range_reads_open_ends_and_dashes_as_charts_also_write_them(cell: str, low: float, high: float) -> None:
    # Each was refused as "not a range such as 158-165", the whole chart with it.
    assert parse_range(cell) == Range(low, high)


def test_parse_range_reads_heights_in_metres() -> None:
    assert parse_range("1.60-1.65m", metres=True) == Range(160, 165)
    assert parse_range("1.6-1.65", metres=True) == Range(160, 165)
    assert parse_range("1.55米以下", metres=True) == Range(-math.inf, 155)
    assert parse_range("158-165厘米", metres=True) == Range(158, 165)
    assert parse_range("1.60-1.65m") is None  # not a height: a weight in metres is no range
    assert parse_range("160m", metres=True) is None


def test_range_with_unit_puts_the_unit_before_an_open_end() -> None:
    # the facts read 身高155以下cm，体重110以上斤
    assert Range(-math.inf, 155).with_unit("cm") == "155cm以下"
    assert Range(110, math.inf).with_unit("斤") == "110斤以上"
    assert Range(158, 165).with_unit("cm") == "158-165cm"
    assert Range(160, 160).with_unit("cm") == "160cm"


def test_parse_range_turns_kilograms_into_jin() -> None:
    assert parse_range("50-55kg", kg_to_jin=True) == Range(100, 110)
    assert parse_range("50-55公斤", kg_to_jin=True) == Range(100, 110)
    assert parse_range("100-110", kg_to_jin=True) == Range(100, 110)


def test_size_name() -> None:
    assert [size_name(s) for s in ("L", "2XL", "38", "均码", "160/84A")] == ["L码", "2XL码", "38码", "均码", "160/84A"]


@pytest.mark.parametrize(
    ("text", "item"),
    [
        ("https://item.taobao.com/item.htm?id=600000000001", "600000000001"),
        ("看看这个 item.taobao.com/item.htm?spm=a1z10.1&id=600000000002&ns=1", "600000000002"),
        ("https://detail.tmall.com/item.htm?id=600000000003&skuId=5000000000001", "600000000003"),
        ("https://detail.m.tmall.com/item.htm?id=600000000004", "600000000004"),
        ("https://h5.m.taobao.com/awp/core/detail.htm?id=600000000005", "600000000005"),
        ("https://a.m.taobao.com/i600000000006.htm", "600000000006"),
        ("先看 item.taobao.com/item.htm?id=111111111 再看 detail.tmall.com/item.htm?id=222222222", "222222222"),
    ],
)
def test_item_in_reads_taobao_and_tmall_links(text: str, item: str) -> None:
    assert item_in(text) == item


@pytest.mark.parametrize(
    "text",
    [
        "https://m.tb.cn/h.5abcDEF",  # a short link: left as it is
        "https://detail.tmall.com/item.htm?skuId=5000000000001",
        "https://example.com/item.htm?id=600000000001",
        "在吗",
    ],
)
def test_item_in_finds_no_item(text: str) -> None:
    assert item_in(text) is None
