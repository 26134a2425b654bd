"""Shoes: a size chart by 脚长 imported as a shop writes it, and the size for the buyer's foot length."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from assistant import store
from assistant.catalog import feet
from assistant.catalog.answers import ASK_FOOT, NO_SIZE, SIZE, answers
from assistant.catalog.importer import import_files
from assistant.catalog.sizing import Range, SizeChart, SizeRow
from assistant.catalog.store import Item
from assistant.cli import main
from assistant.config import Config
from tests.catalog_data import say, top, write_csv
from tests.helpers import make_app

Client = TestClient  # type: ignore[type-arg]
SHOE = "800000000030"
CM_ROWS = [("38", "23.5-24"), ("39", "24-24.5"), ("40", "24.5-25"), ("41", "25-25.5")]


def shoe(rows: list[tuple[str, str]], header: str = "脚长") -> Item:
    sizes = tuple(SizeRow(size, None, None, ((header, cell),)) for size, cell in rows)
    return Item(id=SHOE, title="男士休闲板鞋", attrs=(), chart=SizeChart(rows=sizes))


@pytest.mark.parametrize(
    ("text", "mm"),
    [
        ("脚长24.5", 245), ("脚长245mm", 245), ("脚长是25.2厘米 拿几码", 252), ("脚长 23cm", 230), ("脚长二十三", 230),
        ("脚长26点5", 265), ("脚长是二十三点五", 235), ("脚长23点5厘米", 235),
        ("脚长230", 230), ("我脚长大概24", 240), ("脚长5", None), ("脚长999", None), ("38码", None), ("165 110斤", None),
    ],
)  # fmt: skip
def test_foot_length_is_read_in_every_unit(text: str, mm: float | None) -> None:
    assert feet.parse(text) == mm


def test_a_chart_by_foot_length_in_cm_or_mm_is_a_shoes() -> None:
    chart = feet.shoe_chart(shoe([("39", "240-245mm"), ("38", "235")]).chart)  # type: ignore[arg-type]
    assert chart is not None and [(r.size, r.height) for r in chart.rows] == [
        ("38", Range(235, 235)),
        ("39", Range(240, 245)),
    ]
    assert feet.shoe_chart(shoe([("38", "235")], "脚长(mm)").chart) is not None  # type: ignore[arg-type]
    assert feet.shoe_chart(shoe([("M", "88-92")], "胸围").chart) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rows", "text", "kind", "size"),
    [
        (CM_ROWS, "脚长24.2穿多大", SIZE, "39码"),
        (CM_ROWS, "脚长24.5穿多大", SIZE, "40码"),  # on the boundary of two sizes: the larger
        (CM_ROWS, "脚长28 穿什么码", NO_SIZE, ""),
        (CM_ROWS, "脚长22穿几码", NO_SIZE, ""),
        ([("36", "230"), ("37", "235"), ("38", "240")], "脚长23.2穿几码", SIZE, "37码"),  # between two: the larger
        (CM_ROWS, "平时穿40码 这款拿几码", ASK_FOOT, ""),  # the size worn elsewhere tells no foot length
        (CM_ROWS, "165 110斤穿什么码", ASK_FOOT, ""),
        (CM_ROWS, "平时穿40", ASK_FOOT, ""),  # got nothing: the size worn alone asked no size (穿几码)
        (CM_ROWS, "我一般穿39码的", ASK_FOOT, ""),
    ],
)
def test_a_shoes_size_is_read_from_the_foot_length(
    rows: list[tuple[str, str]], text: str, kind: str, size: str
) -> None:
    found = answers(shoe(rows), text)
    assert [(a.kind, a.values.get("size", "")) for a in found] == [(kind, size)]


def test_a_question_that_asks_no_size_gets_no_request_for_the_foot() -> None:
    assert answers(shoe(CM_ROWS), "38码有货吗") == []


async def test_shoe_sizes_over_the_webhook(
    aiohttp_client: Any, config: Config, tmp_path: Path, db_path: store.Location
) -> None:
    files = [
        write_csv(tmp_path / "items.csv", ("商品ID", "标题"), [(SHOE, "男士休闲板鞋")]),
        write_csv(tmp_path / "shoes.csv", ("商品ID", "尺码", "参考脚长(cm)"), [(SHOE, s, f) for s, f in CM_ROWS]),
    ]
    conn = store.connect(db_path)
    try:
        assert import_files(conn, files).written
    finally:
        conn.close()
    client = await aiohttp_client(make_app(config))
    # the library's phrase asked a shoe buyer for their height and weight
    asked = await say(client, "平时穿40码 这款拿几码", "shoe", item=SHOE)
    assert top(asked)["phrase_id"] == "catalog.ask_foot" and "脚长" in top(asked)["text"]
    body = await say(client, "脚长24.2", "shoe")
    assert top(body)["text"] == "亲，脚长24.2cm建议拿39码哦~"
    assert body["item"]["facts"] == [
        {"name": "脚长", "value": "24.2cm"},
        {"name": "尺码", "value": "39（脚长240-245mm）"},
    ]


def test_catalog_show_gives_a_shoes_chart_without_empty_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 尺码  身高(cm)  体重(斤)  脚长(cm): two empty columns before the one the chart has
    files = [
        write_csv(tmp_path / "items.csv", ("商品ID", "标题"), [(SHOE, "男士休闲板鞋")]),
        write_csv(tmp_path / "shoes.csv", ("商品ID", "尺码", "脚长(cm)"), [(SHOE, s, f) for s, f in CM_ROWS]),
    ]
    db = tmp_path / "catalog.db"
    assert main(["catalog", "import", *map(str, files), "--db", str(db)]) == 0
    capsys.readouterr()
    assert main(["catalog", "show", SHOE, "--db", str(db)]) == 0
    chart = capsys.readouterr().out.split("\n\n", 1)[1].splitlines()
    assert chart[0].split() == ["尺码", "脚长(cm)"] and chart[2].split() == ["38", "23.5-24"]


WIDE_NOTE = "脚宽、脚背高的亲建议拍大一码"


def noted_shoe(notes: tuple[str, ...] = (), attrs: tuple[tuple[str, str], ...] = ()) -> Item:
    plain = shoe(CM_ROWS)
    assert plain.chart is not None
    return Item(id=SHOE, title=plain.title, attrs=attrs, chart=SizeChart(plain.chart.rows, notes=notes))


@pytest.mark.parametrize(
    ("item", "text", "size", "facts"),
    [
        # the shop's advice for wide feet was not applied: the size by 脚长 alone (39码)
        (noted_shoe((WIDE_NOTE,)), "脚长24.2 脚宽 穿几码", "40码", [("脚型", "脚宽"), ("尺码", "40（脚长245-250mm）")]),
        (noted_shoe((WIDE_NOTE,)), "高脚背 脚长24.2", "40码", [("脚型", "高脚背"), ("尺码", "40（脚长245-250mm）")]),
        (
            noted_shoe(attrs=(("穿着建议", "脚背高的建议选大一码"),)),
            "我脚比较宽 脚长24.2",
            "40码",
            [("脚型", "脚比较宽"), ("穿着建议", "脚背高的建议选大一码"), ("尺码", "40（脚长245-250mm）")],
        ),
        (noted_shoe((WIDE_NOTE,)), "脚长24.2 穿几码", "39码", [("尺码", "39（脚长240-245mm）")]),  # no wide foot said
        # no advice of the shop's: the size by 脚长, and the agent is told the chart has no width
        (noted_shoe(), "宽脚 脚长24.2", "39码", [("脚型", "宽脚（尺码表只有脚长，没有写宽脚怎么选）"), ("尺码", "39（脚长240-245mm）")]),
        (noted_shoe((WIDE_NOTE,)), "脚长25.2 脚宽", "41码", [("脚型", "脚宽"), ("尺码", "41（脚长250-255mm）")]),  # none larger
    ],
)  # fmt: skip
def test_a_wide_foot_takes_the_shops_advice_for_it_and_no_guess(
    item: Item, text: str, size: str, facts: list[tuple[str, str]]
) -> None:
    (found,) = answers(item, text)
    assert found.kind == SIZE and found.values["size"] == size
    assert [(f.name, f.value) for f in found.facts if f.name not in ("脚长", "尺码表备注")] == facts


def test_a_note_for_wide_feet_is_not_how_the_sizes_run() -> None:
    # the note was read as the item's 尺码偏大偏小: 平时穿39 got 40码 for every foot, 会不会偏小 the note
    item = noted_shoe((WIDE_NOTE,))
    assert [a.kind for a in answers(item, "平时穿39")] == [ASK_FOOT]
    assert answers(item, "会不会偏小") == []
    runs_small = noted_shoe(("偏小一码，建议拍大一码",))
    assert [a.values.get("size") for a in answers(runs_small, "平时穿39")] == ["40码"]
