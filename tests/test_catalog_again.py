"""这件呢 after a question about another item: the question asked again of the item the conversation is now about."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from assistant import store
from assistant.catalog.again import asks_again
from assistant.catalog.answers import FACT, NOT_TOLD, SIZE, answers
from assistant.catalog.importer import import_files
from assistant.catalog.sizing import SizeChart, SizeRow, parse_range
from assistant.catalog.store import Item
from assistant.config import Config
from tests.catalog_data import say, top, write_csv
from tests.helpers import make_app

LINK = "https://item.taobao.com/item.htm?id=800000000031"


def row(size: str, height: str, weight: str) -> SizeRow:
    return SizeRow(size, parse_range(height), parse_range(weight))


MENS_TEE = Item(
    id="800000000031",
    title="男士纯棉短袖T恤",
    attrs=(("面料", "精梳棉"), ("产地", "广东广州")),
    chart=SizeChart(
        rows=(row("M", "165-170", "110-125"), row("L", "170-175", "125-140"), row("XL", "175-180", "140-160"))
    ),
)


@pytest.mark.parametrize("text", ["这件呢", "那这款呢？", "这个呢", f"{LINK} 这件呢", "还有这条的话呢", "这款怎么样"])
def test_a_message_pointing_at_the_item_alone_asks_again(text: str) -> None:
    assert asks_again(text)


@pytest.mark.parametrize("text", ["这件有货吗", "这件多少钱呢", "这两件呢", LINK, "呢", "这件不错 165 110斤呢"])
def test_a_message_saying_more_asks_its_own_question(text: str) -> None:
    assert not asks_again(text)


def test_this_one_after_a_size_question_gets_this_items_size() -> None:
    # got nothing: 这件呢 asked no size and gave no measure, though the buyer had asked one of another item
    found = answers(MENS_TEE, f"{LINK} 这件呢", ["170 130斤穿什么码", "我其实135斤"])
    assert [(a.kind, a.values.get("size")) for a in found] == [(SIZE, "L码")]
    assert found[0].values["measures"] == "170cm/135斤"  # the newest measures, as the conversation gave them


def test_this_one_after_a_fact_question_gets_this_items_fact() -> None:
    found = answers(MENS_TEE, "那这件呢", ["什么面料", "好的"])
    assert [(a.kind, [f.name for f in a.facts]) for a in found] == [(FACT, ["面料"])]


def test_this_one_without_a_question_before_it_gets_nothing() -> None:
    assert answers(MENS_TEE, "这件呢", ["在吗", "你好"]) == []
    assert answers(MENS_TEE, "这件呢") == []


async def test_this_one_over_the_webhook_answers_of_the_item_just_linked(
    aiohttp_client: Any, config: Config, tmp_path: Path, db_path: store.Location
) -> None:
    women, men = "800000000032", "800000000033"
    items = [(women, "女士短袖T恤", "95%棉 5%氨纶"), (men, "男士短袖T恤", "精梳棉")]
    conn = store.connect(db_path)
    try:
        assert import_files(conn, [write_csv(tmp_path / "items.csv", ("商品ID", "标题", "面料"), items)]).written
    finally:
        conn.close()
    client = await aiohttp_client(make_app(config))
    first = await say(client, f"https://item.taobao.com/item.htm?id={women} 什么面料", "two")
    assert top(first)["text"] == "亲，这款面料是95%棉 5%氨纶哦~"
    # the library's phrases came: 这件呢 named no fact
    body = await say(client, f"https://item.taobao.com/item.htm?id={men} 这件呢", "two")
    assert top(body)["text"] == "亲，这款面料是精梳棉哦~"
    assert body["item"]["id"] == men


def test_a_fill_asked_before_is_asked_again_of_the_next_jacket() -> None:
    # 鸭绒还是鹅绒 of one jacket, then 这件呢 with another linked, got nothing: the fill was no fact asked
    unsaid = Item(id="800000000032", title="女士轻薄羽绒服", attrs=(("含绒量", "90%"),))
    said = Item(id="800000000033", title="男士羽绒服", attrs=(("含绒量", "90%白鸭绒"),))
    assert [a.kind for a in answers(unsaid, "这件呢", ["鸭绒还是鹅绒"])] == [NOT_TOLD]
    assert [(a.kind, a.values["facts"]) for a in answers(said, "这件呢", ["鸭绒还是鹅绒"])] == [
        (FACT, "含绒量是90%白鸭绒")
    ]
