"""Two sizes of one item compared (M和L差多少): the chart's figures of each, never a size for the buyer."""

from __future__ import annotations

import pytest

from assistant.catalog import pairs
from assistant.catalog.answers import FACT, SIZE, answers
from assistant.catalog.sizing import SizeChart, SizeRow, parse_range
from assistant.catalog.store import Item
from assistant.config import CatalogConfig
from assistant.suggest.item_answers import compile_templates

TEE = Item(
    id="800000000060",
    title="女士纯棉T恤",
    attrs=(),
    chart=SizeChart(
        rows=tuple(
            SizeRow(s, parse_range(h), parse_range(w), (("胸围(cm)", c),))
            for s, h, w, c in [("M", "157-162", "95-105", "100"), ("L", "162-167", "105-118", "104"), ("XXL", "172-177", "132-150", "112")]
        )
    ),
)  # fmt: skip
SHOES = Item(
    id="800000000061",
    title="男士跑步鞋",
    attrs=(),
    chart=SizeChart(rows=tuple(SizeRow(s, None, None, (("脚长(mm)", f),)) for s, f in [("41", "255"), ("42", "260")])),
)


def test_two_sizes_compared_get_each_ones_figures_from_the_chart() -> None:
    # M和L差多少 got the library's phrase: the chart's two rows answer it
    (found,) = answers(TEE, "M和L差多少")
    assert found.kind == FACT
    assert [(f.name, f.value) for f in found.facts] == [
        ("M码", "身高157-162cm，体重95-105斤，胸围100cm"),
        ("L码", "身高162-167cm，体重105-118斤，胸围104cm"),
    ]
    text = compile_templates(CatalogConfig())["fact_answer"].render({**found.values, "item": {}})
    assert (
        text == "亲，这款M码是身高157-162cm，体重95-105斤，胸围100cm；L码是身高162-167cm，体重105-118斤，胸围104cm哦~"
    )


@pytest.mark.parametrize(
    ("item", "text", "names"),
    [
        (TEE, "L码跟2XL码区别大吗", ["L码", "XXL码"]),  # XXL and 2XL alike
        (TEE, "l和m差别大不大", ["L码", "M码"]),
        (SHOES, "41和42差多少", ["41码", "42码"]),
    ],
)
def test_sizes_compared_are_read_as_buyers_write_them(item: Item, text: str, names: list[str]) -> None:
    assert [f.name for a in answers(item, text) for f in a.facts] == names


@pytest.mark.parametrize("text", ["M和L哪个好", "M和S差多少", "M和M差多少", "买了M和L两件"])
def test_no_difference_asked_or_a_size_the_chart_lacks_compares_nothing(text: str) -> None:
    assert pairs.asked(TEE.chart, text) is None


def test_a_size_for_the_buyer_follows_the_two_compared() -> None:
    found = answers(TEE, "我160 100斤 M和L差多少")
    assert [a.kind for a in found] == [FACT, SIZE]
    assert found[1].values["size"] == "M码"


@pytest.mark.parametrize(
    ("item", "text", "name", "figures"),
    [
        (SHOES, "42码脚长多少", "42码", "脚长260mm"),
        (TEE, "M码适合多高", "M码", "身高157-162cm，体重95-105斤，胸围100cm"),
        (TEE, "L码的胸围是多少", "L码", "身高162-167cm，体重105-118斤，胸围104cm"),
        (TEE, "XXL码多少斤能穿", "XXL码", "身高172-177cm，体重132-150斤，胸围112cm"),
    ],
)
def test_one_sizes_measure_asked_gets_its_row(item: Item, text: str, name: str, figures: str) -> None:
    # 42码脚长多少 got nothing (a shoe's question with no foot length): the chart's row of the size answers it
    (found,) = answers(item, text)
    assert found.kind == FACT
    assert [(f.name, f.value) for f in found.facts] == [(name, figures)]


@pytest.mark.parametrize("text", ["M码有货吗", "M码多少钱", "平时穿M 胸围多少", "M码衣长多少"])
def test_a_size_named_without_a_measure_of_its_chart_asked_is_no_row(text: str) -> None:
    assert pairs.asked_one(TEE.chart, text) is None


def test_the_size_asked_about_is_not_the_size_worn() -> None:
    # the size's row, and the buyer's own size from their measures, not 平时穿M
    found = answers(TEE, "M码适合多高 我165 110斤")
    assert [(a.kind, a.values.get("size", "")) for a in found] == [(FACT, ""), (SIZE, "L码")]
