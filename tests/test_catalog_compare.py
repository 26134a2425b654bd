"""A message comparing items (two links, 这两款哪个…): each item's fact or size, said item by item, or nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from assistant import store
from assistant.catalog.compare import COMPARE, compared, speaks_of_two
from assistant.catalog.sizing import SizeChart, SizeRow, parse_range
from assistant.catalog.store import Item
from assistant.config import Config
from tests.catalog_data import HOODIE, TSHIRT, say, top
from tests.helpers import make_app
from tests.test_catalog_answers import catalog_db

Client = TestClient  # type: ignore[type-arg]
LINKS = f"https://item.taobao.com/item.htm?id={TSHIRT} 和 https://item.taobao.com/item.htm?id={HOODIE}"


@pytest.fixture
async def shop(aiohttp_client: Any, config: Config, tmp_path: Path, db_path: store.Location) -> Client:
    """The service with the T-shirt and the hoodie imported."""
    catalog_db(tmp_path, db_path)
    return await aiohttp_client(make_app(config))  # type: ignore[no-any-return]


async def test_two_linked_items_get_each_ones_fact(shop: Client) -> None:
    # "A和B哪个是纯棉" got nothing: each item's 面料, said of each, lets the agent answer the comparison
    body = await say(shop, f"{LINKS} 哪个面料好 什么面料", "compare")
    assert top(body)["phrase_id"] == "catalog.compare" and top(body)["intent"] == "product_info"
    assert top(body)["text"] == "亲，第一款面料是95%棉 5%氨纶；第二款面料是80%棉 20%聚酯纤维哦~"
    assert [f["name"] for f in top(body)["facts"]] == ["第一款面料", "第二款面料"]
    later = await say(shop, "这件什么面料", "compare")  # the last item linked is the conversation's
    assert top(later)["text"] == "亲，这款面料是80%棉 20%聚酯纤维哦~"


async def test_two_linked_items_get_each_ones_size(shop: Client) -> None:
    body = await say(shop, f"{LINKS} 165 110斤 这两款各穿什么码", "compare-size")
    assert top(body)["phrase_id"] == "catalog.compare" and top(body)["intent"] == "size_advice"
    assert top(body)["text"] == "亲，按165cm/110斤，第一款建议拿L码，第二款建议拿M码哦~"


async def test_a_fact_only_one_item_has_gets_no_answer(shop: Client) -> None:
    body = await say(shop, f"{LINKS} 哪个版型宽松 什么版型", "compare-one")  # only the T-shirt has a 版型
    assert all(not s["phrase_id"].startswith("catalog.") for s in body["suggestions"]), body["suggestions"]


async def test_these_two_after_two_links_compares_them(shop: Client) -> None:
    await say(shop, f"https://item.taobao.com/item.htm?id={TSHIRT}", "both")
    await say(shop, f"https://item.taobao.com/item.htm?id={HOODIE}", "both")
    body = await say(shop, "这两款哪个面料好 什么面料", "both")
    assert top(body)["text"] == "亲，第一款面料是95%棉 5%氨纶；第二款面料是80%棉 20%聚酯纤维哦~"


async def test_these_two_with_one_item_known_answers_of_it_and_asks_for_the_other(shop: Client) -> None:
    await say(shop, f"https://item.taobao.com/item.htm?id={HOODIE}", "one")
    body = await say(shop, "这两款哪个面料好 什么面料", "one")
    assert top(body)["phrase_id"] == "catalog.compare" and top(body)["intent"] == "product_info"
    assert top(body)["text"] == "亲，这款面料是80%棉 20%聚酯纤维；您说的另一款是哪一件呢？发下链接我帮您对比哦~"
    assert [f["name"] for f in top(body)["facts"]] == ["面料"]
    sized = await say(shop, "这两件165 110斤各穿什么码", "one")
    assert top(sized)["text"] == "亲，按165cm/110斤，这款建议拿M码；您说的另一款是哪一件呢？发下链接我帮您对比哦~"


async def test_these_two_with_one_item_linked_now_and_one_before_compares_them(shop: Client) -> None:
    await say(shop, f"https://item.taobao.com/item.htm?id={TSHIRT}", "now")
    body = await say(shop, f"https://item.taobao.com/item.htm?id={HOODIE} 这两款哪个面料好 什么面料", "now")
    assert top(body)["text"] == "亲，第一款面料是95%棉 5%氨纶；第二款面料是80%棉 20%聚酯纤维哦~"


async def test_these_two_with_one_item_known_and_no_fact_asked_asks_for_the_other(shop: Client) -> None:
    await say(shop, f"https://item.taobao.com/item.htm?id={HOODIE}", "which")
    body = await say(shop, "这两件哪个好", "which")
    assert top(body)["text"] == "亲，您说的另一款是哪一件呢？发下链接我帮您对比哦~"
    bundled = await say(shop, "这两件一起买能便宜吗", "which")  # no comparison asked: the library answers
    assert all(not s["phrase_id"].startswith("catalog.") for s in bundled["suggestions"]), bundled["suggestions"]


def test_compared_sizes_need_every_chart_to_give_one() -> None:
    def item(rows: list[tuple[str, str, str]]) -> Item:
        chart = SizeChart(tuple(SizeRow(s, parse_range(h), parse_range(w)) for s, h, w in rows))
        return Item(id="800000000040", title="女士T恤", attrs=(), chart=chart)

    small = item([("S", "150-155", "80-90"), ("M", "155-160", "90-100")])
    large = item([("L", "160-170", "100-130")])
    assert compared([small, large], "这两款 150 85斤穿什么码") == []  # the second has no size for them
    (found,) = compared([small, small], "这两款 150 85斤穿什么码")
    assert found.kind == COMPARE and found.values["answers"] == "按150cm/85斤，第一款建议拿S码，第二款建议拿S码"


def test_speaks_of_two() -> None:
    assert speaks_of_two("这两款哪个好") and speaks_of_two("这俩有啥区别") and speaks_of_two("两件一起拍")
    assert not speaks_of_two("这款什么面料") and not speaks_of_two("拿两个码试试")
