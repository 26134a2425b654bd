"""A bra's size advice: from under- and over-bust, the size the buyer wears (75B, 34B) or a cup with the band."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from assistant import store
from assistant.catalog import bra
from assistant.catalog.answers import ASK_OVER_BUST, ASK_UNDER_BUST, NO_SIZE, SIZE, answers, bra_answer
from assistant.catalog.importer import import_files, parse_files
from assistant.catalog.sizing import SizeChart, SizeRow
from assistant.catalog.store import Item
from assistant.config import Config
from tests.catalog_data import say, top, write_csv
from tests.helpers import make_app

Client = TestClient  # type: ignore[type-arg]
BRA = "700000000501"
SIZES = ("70A", "70B", "75A", "75B", "75C", "80B", "80C", "85C")
CHART = SizeChart(rows=tuple(SizeRow(size, None, None) for size in SIZES))


def item(title: str = "无钢圈聚拢文胸", chart: SizeChart = CHART) -> Item:
    return Item(id=BRA, title=title, attrs=(), chart=chart)


@pytest.mark.parametrize(
    ("under", "over", "size"),
    [(75, 90, (75, "C")), (75, 85, (75, "A")), (73, 85.5, (75, "B")), (72.5, 85, (75, "B")), (72, 84.5, (70, "B")),
     (80, 97.5, (80, "D")), (80, 100, (80, "E")), (70, 75, None), (75, 110, None)],
)  # fmt: skip
def test_size_from_bust_rounds_the_band_and_reads_the_cup_from_the_difference(
    under: float, over: float, size: tuple[int, str] | None
) -> None:
    assert bra.from_bust(under, over) == size


def test_bra_size_reads_cm_and_inch_bands_and_nothing_else() -> None:
    assert [bra.bra_size(s) for s in ("75B", "75 b", "34B", "８０Ｃ", "70AA")] == [
        (75, "B"), (75, "B"), (75, "B"), (80, "C"), (70, "AA")
    ]  # fmt: skip
    assert [bra.bra_size(s) for s in ("L", "160/84A", "100g", "77B", "75Z", "XL")] == [None] * 6


@pytest.mark.parametrize(
    ("texts", "kind", "text_size"),
    [
        (["下胸围75 上胸围90 穿什么码"], SIZE, "75C"),
        (["下胸围73cm", "上胸围是88"], SIZE, "75C"),
        (["平时穿75B，这款拿什么码"], SIZE, "75B"),
        (["我平时穿34B的"], SIZE, "75B"),
        (["下胸围70 B杯"], SIZE, "70B"),
        (["下围75 上围90"], SIZE, "75C"),  # the short words buyers write were no bust: the library's phrase
        (["下胸73 上胸88 穿几码"], SIZE, "75C"),
        (["胸下围72.5", "上围是85"], SIZE, "75B"),
        (["平时穿75/B 这款拿什么码"], SIZE, "75B"),  # a slash between band and cup was no size: nothing
        (["我一般穿80/c的"], SIZE, "80C"),
        (["34/B穿哪个码"], SIZE, "75B"),
        (["平时穿90C"], NO_SIZE, ""),
        (["下胸围85 上胸围110"], NO_SIZE, ""),
    ],
)
def test_bra_answer_gives_the_charts_size(texts: list[str], kind: str, text_size: str) -> None:
    answer = bra_answer(item(), texts)
    assert answer is not None and answer.kind == kind
    assert answer.values.get("size", "") == text_size


def test_bra_answer_asks_for_what_is_missing_and_invents_nothing() -> None:
    under = bra_answer(item(), ["下胸围75 穿什么码"])
    assert under is not None and under.kind == ASK_OVER_BUST and under.values["measures"] == "下胸围75cm"
    for text in ("B杯穿什么码", "上胸围88"):
        asked = bra_answer(item(), [text])
        assert asked is not None and asked.kind == ASK_UNDER_BUST
    assert bra_answer(item(), ["这款文胸拿什么码"]) is None  # nothing said: the library's phrase asks for both


def test_bra_advice_only_for_a_bra_with_a_bra_chart() -> None:
    tee = SizeChart(rows=(SizeRow("M", None, None), SizeRow("L", None, None)))
    assert answers(item(chart=tee), "平时穿75B，这款拿什么码") == []
    # a bra chart on goods that are no bra: no advice (it once said the buyer was beyond a chart of nothing)
    assert answers(item(title="保暖内衣套装"), "下胸围75 上胸围90 穿什么码") == []
    assert [a.kind for a in answers(item(), "下胸围75 上胸围90")] == [SIZE]


def test_a_chart_of_bra_sizes_imports_without_height_or_weight(tmp_path: Path) -> None:
    # refused: "a size chart needs a 身高 or 体重 column"
    rows = [(BRA, size, "73-77", "83-87") for size in ("75A", "75B")]
    path = write_csv(tmp_path / "bra.csv", ("商品ID", "尺码", "下胸围", "上胸围"), rows)
    parsed = parse_files([path])
    assert parsed.problems == []
    assert [r.size for r in parsed.charts[0].rows] == ["75A", "75B"]
    clothes = write_csv(tmp_path / "tee.csv", ("商品ID", "尺码", "胸围"), [("1", "M", "96"), ("1", "L", "100")])
    assert parse_files([clothes]).problems  # still refused: M and L are no bra sizes


@pytest.fixture
async def shop(aiohttp_client: Any, config: Config, tmp_path: Path, db_path: store.Location) -> Client:
    files = [
        write_csv(tmp_path / "items.csv", ("商品ID", "标题"), [(BRA, "无钢圈聚拢文胸")]),
        write_csv(
            tmp_path / "bra.csv",
            ("商品ID", "尺码", "下胸围", "上胸围"),
            [(BRA, "75B", "73-77", "85.5-88.5"), (BRA, "75C", "73-77", "88-91"), (BRA, "80B", "78-82", "90.5-93.5")],
        ),
    ]
    conn = store.connect(db_path)
    try:
        assert import_files(conn, files).written
    finally:
        conn.close()
    return await aiohttp_client(make_app(config))  # type: ignore[no-any-return]


async def test_bra_advice_over_the_webhook(shop: Client) -> None:
    # 下胸围75 上胸围87 and 平时穿75B got the library's generic size phrase: bra sizes had no advice
    first = await say(shop, "下胸围75 穿什么码", "b1", item=BRA)
    assert top(first)["phrase_id"] == "catalog.ask_over_bust"
    assert top(first)["text"].startswith("亲，下胸围75cm收到啦~ 麻烦再告诉我您的上胸围")
    assert top(await say(shop, "上胸围90", "b1"))["text"] == "亲，下胸围75cm/上胸围90cm建议拿75C哦~"
    worn = await say(shop, "平时穿34B，这款拿什么码", "b2", item=BRA)
    assert top(worn)["text"] == "亲，34B建议拿75B哦~"
    assert worn["item"]["facts"][-1] == {"name": "尺码", "value": "75B（下胸围73-77，上胸围85.5-88.5）"}
    beyond = await say(shop, "平时穿85D", "b3", item=BRA)
    assert top(beyond)["phrase_id"] == "catalog.no_size" and "75B、75C、80B" in top(beyond)["text"]
