"""Facts asked of an item as buyers of shoes, cosmetics, food and clothes ask them (pure: `asked_facts`)."""

from __future__ import annotations

import pytest

from assistant.catalog.answers import Fact, asked_facts
from assistant.catalog.store import Item

SHOE = Item(
    id="800000000020",
    title="男士真皮休闲鞋",
    attrs=(("鞋面材质", "头层牛皮"), ("内里材质", "猪皮"), ("鞋底材质", "橡胶"), ("产地", "福建莆田")),
)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        # a shoe's 鞋面材质, 内里材质, 鞋底材质 answered nothing: none is a header the 材质 words knew
        ("什么材质的", ["鞋面材质", "内里材质", "鞋底材质"]),
        ("鞋面什么材质", ["鞋面材质"]),
        ("鞋底是什么材质", ["鞋底材质"]),
        ("鞋底材质呢", ["鞋底材质"]),
        ("哪里产的", ["产地"]),
    ],
)
def test_a_column_named_for_part_of_the_item_answers_its_aspect(text: str, names: list[str]) -> None:
    assert [f.name for f in asked_facts(SHOE, text)] == names


def test_the_aspects_own_column_answers_before_a_part_of_it() -> None:
    coat = Item(
        id="800000000021", title="羊毛大衣", attrs=(("面料", "80%羊毛"), ("外套面料", "羊毛"), ("里料", "涤纶"))
    )
    assert asked_facts(coat, "什么面料") == [Fact("面料", "80%羊毛")]
    assert asked_facts(coat, "里料是什么") == [Fact("里料", "涤纶")]
