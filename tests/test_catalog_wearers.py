"""Whose body the buyer's numbers measure: two people in one message, or one after another, are read apart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from assistant import store
from assistant.catalog import wearers
from assistant.catalog.answers import ASK_WEIGHT, SIZE, answers, size_answers
from assistant.catalog.importer import import_files
from assistant.catalog.measures import Body, Spans
from assistant.catalog.sizing import SizeChart, SizeRow, parse_range
from assistant.catalog.store import Item
from assistant.config import Config
from tests.catalog_data import TSHIRT, say, tshirt_files
from tests.helpers import make_app

Client = TestClient  # type: ignore[type-arg]


def chart_item(rows: list[tuple[str, str, str]]) -> Item:
    sizes = tuple(SizeRow(size, parse_range(h), parse_range(w)) for size, h, w in rows)
    return Item(id="800000000010", title="女士短袖T恤", attrs=(), chart=SizeChart(rows=sizes))


ADULT = chart_item([("M", "155-160", "90-100"), ("L", "160-165", "100-115"), ("2XL", "170-180", "130-150")])
KIDS = chart_item([("90", "80-90", "20-26"), ("100", "90-100", "26-32")])


def said(answers: list[Any]) -> list[tuple[str, str, str]]:
    return [(a.kind, a.values["measures"], a.values.get("size", "")) for a in answers]


@pytest.mark.parametrize(
    "text",
    [
        "我160 100斤，我老公175 140斤穿什么码",  # got only 160cm/100斤建议拿L码: the husband's size unsaid
        "我和我老公，我160 100斤，他175 140斤，分别穿什么码",
        "我160，100斤，老公175，140斤 穿几码",
    ],
)
def test_two_people_in_one_message_get_a_size_each(text: str) -> None:
    assert said(size_answers(ADULT, text)) == [(SIZE, "160cm/100斤", "L码"), (SIZE, "175cm/140斤", "2XL码")]


def test_one_persons_weight_never_completes_anothers_height() -> None:
    # 宝宝105 36斤, then 我自己穿什么码 我160 got "160cm/36斤超出了这款尺码表的范围": the child's weight
    found = size_answers(ADULT, "我自己穿什么码 我160", ["宝宝105 36斤穿什么码"])
    assert said(found) == [(ASK_WEIGHT, "160cm", "")]
    assert found[0].values["wearer"] == "您"


def test_a_size_is_not_advised_to_someone_the_measures_are_not_of() -> None:
    # 我160 100斤, then 我老公穿什么码 got "160cm/100斤建议拿L码" as the husband's size
    assert size_answers(ADULT, "我老公穿什么码", ["我160 100斤"]) == []
    asked = size_answers(ADULT, "他175穿什么码", ["我160 100斤", "我老公穿什么码"])
    assert said(asked) == [(ASK_WEIGHT, "175cm", "")] and asked[0].values["wearer"] == "他"


def test_measures_of_one_person_over_several_messages_still_combine() -> None:
    assert said(size_answers(ADULT, "140斤", ["我老公175 穿什么码"])) == [(SIZE, "175cm/140斤", "2XL码")]
    assert said(size_answers(ADULT, "100斤", ["我160穿什么码", "好的"])) == [(SIZE, "160cm/100斤", "L码")]
    # on a children's chart, numbers before the child is named are the child's
    assert said(size_answers(KIDS, "宝宝30斤", ["90cm穿多大"])) == [(SIZE, "90cm/30斤", "100码")]


def test_split_names_each_part_by_the_person_it_speaks_of() -> None:
    assert wearers.split("我160 100斤，老公175") == [(None, ""), (wearers.SELF, "160 100斤，"), (wearers.HE, "175")]
    assert wearers.split("我想问下其他颜色") == [(None, "我想问下其他颜色")]
    people = wearers.people(["宝宝90 26斤", "我妈155 120斤穿什么码"], Spans(), wearers.SELF)
    assert people == [wearers.Person(wearers.SHE, Body(155, 120))]


async def test_two_people_get_a_size_each_over_the_webhook(
    aiohttp_client: Any, config: Config, tmp_path: Path, db_path: store.Location
) -> None:
    conn = store.connect(db_path)
    try:
        assert import_files(conn, tshirt_files(tmp_path)).written
    finally:
        conn.close()
    client = await aiohttp_client(make_app(config))
    body = await say(client, "我160 100斤，我男朋友175 130斤，各拿什么码", "two", item=TSHIRT)
    texts = [s["text"] for s in body["suggestions"][:2]]
    assert texts == ["亲，160cm/100斤建议拿M码哦~", "亲，175cm/130斤建议拿XL码哦~"]


def test_someone_named_with_a_number_goes_on_about_size() -> None:
    # 给我女儿买 她155 85斤, then 那我自己呢 我165 got nothing: the message says no 码
    found = answers(ADULT, "那我自己呢 我165", ["给我女儿买 她155 85斤"])
    assert said(found) == [(ASK_WEIGHT, "165cm", "")] and found[0].values["wearer"] == "您"
    assert answers(ADULT, "这件99能便宜点吗", ["我160 100斤"]) == []  # no one named: a price
    assert answers(ADULT, "那我自己呢 我165", []) == []  # nothing about size before
