"""Size advice from the size a buyer usually wears (平时穿M), where the item says how its sizes run."""

from __future__ import annotations

import pytest

from assistant.catalog import usual
from assistant.catalog.answers import ASK_FOOT, SIZE, answers
from assistant.catalog.sizing import SizeChart, SizeRow, parse_range
from assistant.catalog.store import Item

CLOTHES = SizeChart(
    rows=tuple(
        SizeRow(s, parse_range(h), parse_range(w))
        for s, h, w in [("M", "165-170", "110-125"), ("L", "170-175", "125-140"), ("XL", "175-180", "140-160"), ("XXL", "180-185", "160-180")]
    )
)  # fmt: skip
SHOES = SizeChart(rows=tuple(SizeRow(s, None, None, (("脚长(mm)", f),)) for s, f in [("40", "250"), ("41", "255"), ("42", "260")]))  # fmt: skip


def coat(runs: str | None) -> Item:
    attrs = (("面料", "锦纶"),) + ((("尺码偏大偏小", runs),) if runs is not None else ())
    return Item(id="800000000030", title="男士加厚羽绒服", attrs=attrs, chart=CLOTHES)


def said(item: Item, text: str) -> list[tuple[str, str, str]]:
    return [(a.kind, a.values["measures"], a.values.get("size", "")) for a in answers(item, text)]


@pytest.mark.parametrize(
    ("runs", "text", "size"),
    [
        ("偏小一码", "平时穿M", "L码"),
        ("偏小一码", "我一般穿L", "XL码"),
        ("偏小一码", "平时穿xl码 这件拿多大", "XXL码"),
        ("偏大一码，建议拍小一码", "平时穿L", "M码"),
        ("尺码标准", "我一般穿L", "L码"),
    ],
)
def test_a_usual_size_follows_how_the_item_runs(runs: str, text: str, size: str) -> None:
    (found,) = answers(coat(runs), text)
    assert (found.kind, found.values["size"]) == (SIZE, size)
    assert found.facts[1].name == "尺码偏大偏小" and found.facts[1].value == runs


@pytest.mark.parametrize("runs", [None, "偏小", "偏大半码"])
def test_a_usual_size_without_how_much_the_item_runs_is_no_advice(runs: str | None) -> None:
    assert said(coat(runs), "平时穿M") == []  # the library's phrase asks for the measures


def test_measures_win_over_the_usual_size() -> None:
    assert said(coat("偏小一码"), "平时穿M 我175 140斤") == [(SIZE, "175cm/140斤", "XL码")]


def test_a_usual_size_the_chart_has_not_is_no_advice() -> None:
    assert said(coat("偏小一码"), "平时穿XXL") == []  # one size up is beyond the chart


def test_a_shoes_usual_size_follows_how_it_runs_and_a_foot_length_wins() -> None:
    boots = Item(id="800000000031", title="男士马丁靴", attrs=(("尺码偏大偏小", "偏大一码"),), chart=SHOES)
    assert said(boots, "平时穿41码 拿几码") == [(SIZE, "平时穿41码", "40码")]
    assert said(boots, "脚长26 平时穿41码") == [(SIZE, "脚长26cm", "42码")]
    flats = Item(id="800000000032", title="女士单鞋", attrs=(), chart=SHOES)
    assert [a.kind for a in answers(flats, "平时穿41码 拿几码")] == [ASK_FOOT]


def test_worn_reads_the_newest_size_said() -> None:
    assert usual.worn(["平时穿M", "不对 我一般穿XXL"]) == "2XL"
    assert usual.worn(["一般多久发货"]) is None


def test_a_charts_note_of_how_it_runs_stands_for_the_attribute() -> None:
    # 偏小一码，建议拍大一码 written under the chart (not as an attribute) gave 平时穿M and 会不会偏小 nothing
    noted = SizeChart(rows=CLOTHES.rows, notes=("偏小一码，建议拍大一码", "以上数据为手工测量，误差1-3cm"))
    jacket = Item(id="800000000033", title="男士夹克", attrs=(("面料", "锦纶"),), chart=noted)
    (size,) = answers(jacket, "平时穿M")
    assert (size.values["size"], size.facts[1].value) == ("L码", "偏小一码，建议拍大一码")
    assert ("尺码表备注", "以上数据为手工测量，误差1-3cm") in [(f.name, f.value) for f in size.facts]
    (runs,) = answers(jacket, "会不会偏小")
    assert [(f.name, f.value) for f in runs.facts] == [("尺码偏大偏小", "偏小一码，建议拍大一码")]
    (body,) = answers(jacket, "我172 130斤穿什么码")
    assert [f.value for f in body.facts if f.name == "尺码表备注"] == list(noted.notes)  # shown to the agent
    own = Item(id="800000000034", title="男士夹克", attrs=(("尺码偏大偏小", "尺码标准"),), chart=noted)
    assert said(own, "平时穿M") == [(SIZE, "平时穿M码", "M码")]  # the item's own attribute wins
    plain = SizeChart(rows=CLOTHES.rows, notes=("身高体重仅供参考",))
    assert said(Item(id="800000000035", title="男士夹克", attrs=(), chart=plain), "平时穿M") == []


@pytest.mark.parametrize(
    "text",
    [
        "需要拍大吗",
        "要不要拍大",
        "需不需要拍大",
        "偏码吗",
        "码偏吗",
        "尺码偏不偏",
        "码数正吗",
        "尺码正吗",
        "码子正不正",
    ],
)
def test_buyers_ways_of_asking_whether_to_size_up_get_how_the_item_runs(text: str) -> None:
    # each got the library's phrase, the item's 偏小一码 left unsaid
    (runs,) = answers(coat("偏小一码"), text)
    assert [(f.name, f.value) for f in runs.facts] == [("尺码偏大偏小", "偏小一码")]
    assert answers(coat(None), text) == []  # an item that does not say how it runs: nothing guessed


def test_a_question_after_sizing_up_asks_no_fit() -> None:
    assert answers(coat("偏小一码"), "拍大了怎么办") == []


@pytest.mark.parametrize(
    "text", ["按平时的码拍就行吗", "正常码买就可以吧", "按平常尺码拍没问题吧", "平时码数拍可以不", "拍大一码就行吗"]
)
def test_whether_the_usual_size_will_do_is_answered_by_how_the_item_runs(text: str) -> None:
    # 按平时的码拍就行吗 got the library's phrase though the item says how it runs
    (found,) = answers(coat("偏小一码"), text)
    assert [(f.name, f.value) for f in found.facts] == [("尺码偏大偏小", "偏小一码")]


def test_whether_the_usual_size_will_do_is_not_guessed_where_the_item_does_not_say() -> None:
    assert said(coat(None), "按平时的码拍就行吗") == []
    assert answers(coat("偏小一码"), "平时的码有货吗") == []  # asks stock, not fit
