"""Size advice over the webhook for charts other than an adult's T-shirt: children's, weight-only, one size."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from assistant import store
from assistant.catalog.answers import ASK_HEIGHT, ASK_WEIGHT, NO_SIZE, Fact, answers, size_answer
from assistant.catalog.importer import import_files
from assistant.catalog.sizing import SizeChart, SizeRow, parse_range
from assistant.catalog.store import Item
from assistant.config import Config
from tests.catalog_data import say, top, write_csv
from tests.helpers import make_app

Client = TestClient  # type: ignore[type-arg]
KIDS = "700000000301"  # a hoodie naming the shared chart 童装码: 80-140 cm, 10-35 kg (20-70 斤)
BRIEFS = "700000000402"  # underwear with a chart of 体重 alone
BRA = "700000000401"  # a bra: sizes 75B, 80B (its 体重 is not what a bra is chosen by)
DRESS = "700000000302"  # a dress with a chart of 身高 alone
KIDS_CHART = [
    ("童装码", "90", "80-90", "10-13"),
    ("童装码", "100", "90-100", "13-16"),
    ("童装码", "110", "100-110", "16-19"),
    ("童装码", "120", "110-120", "19-23"),
    ("童装码", "130", "120-130", "23-28"),
    ("童装码", "140", "130-140", "28-35"),
]


async def serving(aiohttp_client: Any, config: Config, db_path: store.Location, files: list[Path]) -> Client:
    """The service over a catalog imported from `files`."""
    conn = store.connect(db_path)
    try:
        assert import_files(conn, files).written
    finally:
        conn.close()
    return await aiohttp_client(make_app(config))  # type: ignore[no-any-return]


@pytest.fixture
async def shop(aiohttp_client: Any, config: Config, tmp_path: Path, db_path: store.Location) -> Client:
    """The service with a children's, an underwear, a bra and a dress chart imported."""
    items = [
        (KIDS, "男童加绒卫衣", "童装码"),
        (BRIEFS, "纯棉女士内裤", "内裤码"),
        (BRA, "无钢圈文胸", ""),
        (DRESS, "女童连衣裙", ""),
    ]
    files = [
        write_csv(tmp_path / "items.csv", ("商品ID", "标题", "尺码表"), items),
        write_csv(tmp_path / "kids.csv", ("尺码表", "尺码", "参考身高(cm)", "参考体重(kg)"), KIDS_CHART),
        write_csv(tmp_path / "briefs.csv", ("尺码表", "尺码", "体重"), [("内裤码", "M", "80-100斤"), ("内裤码", "L", "100-115斤")]),
        write_csv(
            tmp_path / "bra.csv",
            ("商品ID", "尺码", "下胸围", "体重"),
            [(BRA, "75B", "73-77", "90-105斤"), (BRA, "80B", "78-82", "100-120斤")],
        ),
        write_csv(tmp_path / "dress.csv", ("商品ID", "尺码", "身高"), [(DRESS, "100", "90-100"), (DRESS, "110", "100-110")]),
    ]  # fmt: skip
    return await serving(aiohttp_client, config, db_path, files)


async def test_childs_height_without_its_unit_is_read_by_the_chart(shop: Client) -> None:
    # 孩子105 穿多大 got "105斤收到啦~ 麻烦再告诉我您的身高", and the height was asked again after 体重36斤
    first = await say(shop, "宝宝105 穿多大", "kid", item=KIDS)
    assert top(first)["phrase_id"] == "catalog.ask_weight"
    assert top(first)["text"].startswith("亲，105cm收到啦~")
    assert top(await say(shop, "体重36斤", "kid"))["text"] == "亲，105cm/36斤建议拿110码哦~"
    body = await say(shop, "孩子110 38斤穿几码", "kid2", item=KIDS)
    assert top(body)["text"] == "亲，110cm/38斤建议拿120码哦~"


async def test_nothing_read_is_not_acknowledged(shop: Client) -> None:
    # 内裤什么码 got "亲，收到啦~ 麻烦再告诉我您的体重" with nothing received (a bra's sizes: test_catalog_bra.py)
    for n, (text, item) in enumerate([("内裤什么码", BRIEFS), ("这款文胸拿什么码", BRA)]):
        body = await say(shop, text, f"none-{n}", item=item)
        assert all("收到啦" not in s["text"] for s in body["suggestions"]), (text, body["suggestions"])
        assert all(not s["phrase_id"].startswith("catalog.") for s in body["suggestions"]), text
    assert top(await say(shop, "80斤穿什么码", "briefs", item=BRIEFS))["text"] == "亲，80斤建议拿M码哦~"


async def test_a_measure_the_chart_does_not_use_is_acknowledged_as_given(shop: Client) -> None:
    # 孩子40斤穿多大 on a chart of 身高 alone got "亲，收到啦~ 麻烦再告诉我您的身高", the 40斤 unsaid
    body = await say(shop, "孩子40斤穿多大", "dress", item=DRESS)
    assert top(body)["phrase_id"] == "catalog.ask_height"
    assert top(body)["text"].startswith("亲，40斤收到啦~")
    assert body["item"]["facts"] == [{"name": "体重", "value": "40斤"}]
    assert top(await say(shop, "我165穿什么码", "briefs-h", item=BRIEFS))["text"].startswith("亲，165cm收到啦~")


async def test_the_missing_measure_is_asked_of_whoever_wears_it(shop: Client) -> None:
    # A parent buying for a child, or a buyer for their husband, was asked for 您的身高 / 您的体重.
    kid = await say(shop, "宝宝105 穿多大", "w-kid", item=KIDS)
    assert "麻烦再告诉我宝宝的体重" in top(kid)["text"]
    dress = await say(shop, "40斤穿多大", "w-dress", item=DRESS)  # a children's chart: no one named
    assert "麻烦再告诉我宝宝的身高" in top(dress)["text"]
    husband = await say(shop, "给我老公买 他80斤 穿什么码", "w-he", item=BRIEFS)
    assert top(husband)["text"] == "亲，80斤建议拿M码哦~"
    mine = await say(shop, "我165穿什么码 其他颜色有吗", "w-me", item=BRIEFS)
    assert "麻烦再告诉我您的体重" in top(mine)["text"]
    mum = await say(shop, "帮我妈妈看看 她165穿什么码", "w-she", item=BRIEFS)
    assert "麻烦再告诉我她的体重" in top(mum)["text"]


async def test_one_size_says_a_height_beyond_it_has_no_size(
    aiohttp_client: Any, config: Config, tmp_path: Path, db_path: store.Location
) -> None:
    # 180 100 got "亲，180cm/100斤建议拿均码哦~" beside the facts' 均码（身高155-170cm，体重90-130斤）
    files = [
        write_csv(tmp_path / "items.csv", ("商品ID", "标题"), [("800000000005", "均码T恤")]),
        write_csv(tmp_path / "one.csv", ("商品ID", "尺码", "身高", "体重"), [("800000000005", "均码", "155-170", "90-130")]),
    ]  # fmt: skip
    client = await serving(aiohttp_client, config, db_path, files)
    body = await say(client, "180 100斤穿什么码", "tall", item="800000000005")
    assert top(body)["phrase_id"] == "catalog.no_size"
    assert top(body)["text"].startswith("亲，180cm/100斤超出了这款尺码表的范围（身高155-170cm，体重90-130斤）")
    assert (
        top(await say(client, "165 100斤穿什么码", "fits", item="800000000005"))["text"]
        == "亲，165cm/100斤建议拿均码哦~"
    )


@pytest.mark.parametrize(
    ("text", "measures"),
    [("我130斤能穿吗", "130斤"), ("身高178能穿吗", "178cm")],  # each asked for the other measure, which cannot help
)
def test_one_measure_beyond_every_size_says_so_without_asking_the_other(text: str, measures: str) -> None:
    one = SizeChart(rows=(SizeRow("均码", parse_range("155-170"), parse_range("80-120")),))
    found = answers(Item(id="800000000006", title="雪纺连衣裙", attrs=(), chart=one), text)
    assert [(a.kind, a.values["measures"]) for a in found] == [(NO_SIZE, measures)]
    assert found[0].values["span"] == "身高155-170cm，体重80-120斤"


def test_one_measure_beyond_a_chart_of_several_sizes_says_so_too() -> None:
    rows = (
        SizeRow("M", parse_range("157-162"), parse_range("95-105")),
        SizeRow("L", parse_range("162-167"), parse_range("105-118")),
    )
    item = Item(id="800000000007", title="短袖T恤", attrs=(), chart=SizeChart(rows=rows))
    assert [a.kind for a in answers(item, "180斤穿什么码")] == [NO_SIZE]
    assert [a.kind for a in answers(item, "我180穿什么码")] == [NO_SIZE]  # 13 cm beyond the chart
    assert [a.kind for a in answers(item, "我170穿什么码")] == [ASK_WEIGHT]  # 3 cm: the weight may still decide
    assert [a.kind for a in answers(item, "100斤穿什么码")] == [ASK_HEIGHT]


def test_facts_of_an_open_ended_size_put_the_unit_before_its_end() -> None:
    # the facts read S（身高155以下cm，体重90以下斤）
    rows = (
        SizeRow("S", parse_range("155cm以下"), parse_range("90斤以下")),
        SizeRow("M", parse_range("155-160"), parse_range("90-105")),
        SizeRow("XL", parse_range("165以上"), parse_range("105以上")),
    )
    item = Item(id="800000000004", title="女装D", attrs=(), chart=SizeChart(rows=rows))
    small = size_answer(item, "150 85斤穿什么码")
    assert small is not None and small.facts[-1] == Fact("尺码", "S（身高155cm以下，体重90斤以下）")
    large = size_answer(item, "170 120斤穿什么码")
    assert large is not None and large.facts[-1] == Fact("尺码", "XL（身高165cm以上，体重105斤以上）")
