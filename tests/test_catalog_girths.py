"""Size advice from a bust, waist or hip the item's chart has a column of (胸围88, 腰围2尺1, 臀围95)."""

from __future__ import annotations

import pytest

from assistant.catalog import girths
from assistant.catalog.answers import NO_SIZE, SIZE, SIZE_CONFLICT, Answer, answers
from assistant.catalog.sizing import SizeChart, SizeRow, parse_range
from assistant.catalog.store import Item
from assistant.config import CatalogConfig
from assistant.suggest.item_answers import compile_templates


def item(title: str, rows: list[tuple[str, str, str, tuple[tuple[str, str], ...]]]) -> Item:
    sizes = tuple(SizeRow(s, parse_range(h) if h else None, parse_range(w) if w else None, m) for s, h, w, m in rows)
    return Item(id="800000000020", title=title, attrs=(), chart=SizeChart(rows=sizes))


# Body girths as ranges: the size whose range holds the buyer's.
DRESS = item(
    "女士收腰连衣裙",
    [
        ("S", "150-155", "80-90", (("胸围(cm)", "78-82"), ("腰围(cm)", "60-64"))),
        ("M", "155-160", "90-100", (("胸围(cm)", "82-86"), ("腰围(cm)", "64-68"))),
        ("L", "160-165", "100-115", (("胸围(cm)", "86-90"), ("腰围(cm)", "68-72"))),
        ("XL", "165-170", "115-130", (("胸围(cm)", "90-96"), ("腰围(cm)", "72-78"))),
    ],
)
# The garment's own measures (one value a size): the smallest that goes round the buyer.
JEANS = item(
    "女士高腰牛仔裤",
    [
        ("27", "", "95-105", (("腰围", "67"), ("臀围", "91"))),
        ("28", "", "105-115", (("腰围", "70"), ("臀围", "94"))),
        ("29", "", "115-125", (("腰围", "73"), ("臀围", "97"))),
    ],
)


def sizes(found: list[Answer]) -> list[tuple[str, str, str]]:
    return [(a.kind, a.values["measures"], a.values.get("size", "")) for a in found]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("胸围88", [girths.Girth("胸围", 88)]),
        ("腰围2尺1", [girths.Girth("腰围", 70)]),
        ("腰二尺一", [girths.Girth("腰围", 70)]),
        ("腰围2.1尺", [girths.Girth("腰围", 70)]),
        ("腰围70cm 臀围95公分", [girths.Girth("腰围", 70), girths.Girth("臀围", 95)]),
        ("下胸围75 上胸围90", []),  # a bra's measures (bra.py)
        ("腰围28寸", []),  # inches or 市寸: not guessed
        ("胸围8", []),
        ("高腰 150 100斤", []),  # the goods' 高腰, not a waist
        ("腰70 臀九十五", [girths.Girth("腰围", 70), girths.Girth("臀围", 95)]),
        # the number before its word was not read (两尺二的腰), or the word's next number taken (的腰 160: 160 cm)
        ("两尺二的腰", [girths.Girth("腰围", 73.3)]),
        ("二尺二的腰 160穿几码", [girths.Girth("腰围", 73.3)]),
        ("2尺2腰", [girths.Girth("腰围", 73.3)]),
        ("两尺一腰围", [girths.Girth("腰围", 70)]),
        ("68的腰", [girths.Girth("腰围", 68)]),
    ],
)
def test_girths_parse_units_buyers_write(text: str, said: list[girths.Girth]) -> None:
    assert girths.parse(text) == said


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("胸围88", [(SIZE, "胸围88cm", "L码")]),
        ("胸围86穿什么码", [(SIZE, "胸围86cm", "L码")]),  # a boundary two sizes share: the larger
        ("腰围2尺1", [(SIZE, "腰围70cm", "L码")]),
        ("腰围70cm", [(SIZE, "腰围70cm", "L码")]),
        ("胸围88 我160 穿几码", [(SIZE, "胸围88cm", "L码")]),  # the girth answers: no need to ask the weight
        ("胸围88 160 100斤", [(SIZE, "160cm/100斤/胸围88cm", "L码")]),
    ],
)
def test_a_girth_alone_gets_the_size_of_its_column(text: str, expected: list[tuple[str, str, str]]) -> None:
    assert sizes(answers(DRESS, text)) == expected


def test_a_girth_beyond_the_chart_gets_no_size() -> None:
    (found,) = answers(DRESS, "胸围100")
    assert found.kind == NO_SIZE and "胸围78-96cm" in found.values["span"]


def test_a_girth_the_chart_lacks_is_left_to_the_library() -> None:
    assert answers(DRESS, "臀围95") == []


def test_garment_measures_give_the_smallest_size_that_goes_round() -> None:
    assert sizes(answers(JEANS, "腰围2尺1")) == [(SIZE, "腰围70cm", "28码")]
    assert sizes(answers(JEANS, "臀围92")) == [(SIZE, "臀围92cm", "29码")]  # a hip needs room: 92+4 is over 94
    assert sizes(answers(JEANS, "腰围68 臀围90")) == [(SIZE, "腰围68cm/臀围90cm", "28码")]  # the larger of the two


def test_height_and_weight_against_a_girth_name_both_and_advise_the_larger() -> None:
    (found,) = answers(DRESS, "胸围94 160 100斤")
    assert found.kind == SIZE_CONFLICT
    wanted = {"by_body": "L码", "by_girth": "XL码", "size": "XL码", "girth": "胸围94cm"}
    assert {key: found.values[key] for key in wanted} == wanted
    text = compile_templates(CatalogConfig())["size_conflict"].render({**found.values, "item": {}})
    assert text == "亲，按160cm/100斤是L码，按胸围94cm是XL码，建议拿大的XL码，穿着不会紧哦~"
    assert [f.name for f in found.facts] == ["身高", "体重", "尺码", "胸围", "按胸围"]


def test_weight_against_a_garment_waist_advises_the_larger() -> None:
    (found,) = answers(JEANS, "120斤 腰围2尺1")
    assert (found.kind, found.values["by_body"], found.values["by_girth"], found.values["size"]) == (
        SIZE_CONFLICT,
        "29码",
        "28码",
        "29码",
    )


# Trousers charted by height and waist, as shops chart them.
TROUSERS = item(
    "男士休闲直筒长裤",
    [
        ("S", "160-165", "", (("腰围(cm)", "66-70"),)),
        ("M", "165-170", "", (("腰围(cm)", "70-74"),)),
        ("L", "170-175", "", (("腰围(cm)", "74-78"),)),
    ],
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("两尺二", [(SIZE, "腰围73.3cm", "M码")]),
        ("2尺2 穿几码", [(SIZE, "腰围73.3cm", "M码")]),
        ("二尺一", [(SIZE, "腰围70cm", "M码")]),  # a boundary two sizes share: the larger
        ("2.3尺", [(SIZE, "腰围76.7cm", "L码")]),
        ("一米七 两尺三 穿多大", [(SIZE, "170cm/腰围76.7cm", "L码")]),
        ("裤长三尺一 穿几码", []),  # a length, not a waist
        ("5尺5 穿几码", [(SIZE, "165cm", "M码")]),  # 4 to 6 尺 is a height in feet
    ],
)
def test_a_chi_number_alone_is_the_waist_of_trousers(text: str, expected: list[tuple[str, str, str]]) -> None:
    assert sizes(answers(TROUSERS, text)) == expected


def test_a_chi_number_alone_is_no_girth_of_a_top() -> None:
    assert girths.parse("两尺二", bottom=False) == []
    assert girths.parse("两尺二", bottom=True) == [girths.Girth("腰围", 73.3)]
    assert sizes(answers(DRESS, "两尺二 穿几码")) == []


@pytest.mark.parametrize(
    "text",
    ["裤长三尺一 腰围多少", "裤长 三尺一 腰围是多少", "衣长2尺2的腰围多大", "裤长是3尺1 腰多大"],
)
def test_a_number_of_another_measure_is_never_the_waist(text: str) -> None:
    assert girths.parse(text, bottom=True) == []
    assert sizes(answers(TROUSERS, text)) == []


def test_a_waist_after_another_measure_is_still_read() -> None:
    assert girths.parse("裤长三尺一 腰围二尺二", bottom=True) == [girths.Girth("腰围", 73.3)]


@pytest.mark.parametrize("text", ["我175 2尺2", "175 两尺二", "身高175 腰围2尺2", "腰围2尺2 175"])
def test_a_height_and_a_waist_both_count(text: str) -> None:
    (found,) = answers(TROUSERS, text)
    wanted = {"measures": "175cm", "by_body": "L码", "girth": "腰围73.3cm", "by_girth": "M码", "size": "L码"}
    assert found.kind == SIZE_CONFLICT
    assert {key: found.values[key] for key in wanted} == wanted
