"""Facts asked of an item as buyers of shoes, cosmetics, food and clothes ask them (pure: `asked_facts`)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.catalog.answers import FACT, NOT_TOLD, Fact, answers, asked_facts
from assistant.catalog.aspects import ASPECTS, held
from assistant.catalog.compare import compared
from assistant.catalog.store import Item
from assistant.config import CatalogConfig
from assistant.suggest.item_answers import compile_templates

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


CREAM = Item(
    id="800000000022",
    title="玻尿酸保湿面霜 50g",
    attrs=(("成分", "水、甘油、透明质酸钠"), ("适合肤质", "干性、混合性"), ("发货地", "上海")),
)
JERKY = Item(
    id="800000000023",
    title="五香牛肉干",
    attrs=(("配料表", "牛肉、食盐、白砂糖"), ("生产日期", "2026年11月"), ("储存方式", "阴凉干燥处")),
)
COAT = Item(
    id="800000000024",
    title="女士羊毛大衣",
    attrs=(("面料", "80%羊毛 20%锦纶"), ("适用季节", "冬季"), ("是否起球", "否"), ("掉色", "不掉色"), ("透", "不透")),
)


@pytest.mark.parametrize(
    ("item", "text", "said"),
    [
        # each got nothing: the item had the fact, but no word of the question was known to ask for it
        (CREAM, "含不含酒精", ["成分"]),
        (CREAM, "有没有添加香精", ["成分"]),
        (CREAM, "有酒精吗", ["成分"]),
        (CREAM, "油皮能用吗", ["适合肤质"]),
        (CREAM, "适合什么肤质", ["适合肤质"]),
        (CREAM, "从哪里发货", ["发货地"]),
        (JERKY, "配料有哪些", ["配料表"]),
        (JERKY, "含不含糖", ["配料表"]),
        (JERKY, "有没有防腐剂", ["配料表"]),
        (JERKY, "什么时候生产的", ["生产日期"]),
        (JERKY, "怎么保存", ["储存方式"]),
        (COAT, "是羊毛的吗", ["面料"]),
        (COAT, "含不含羊毛", ["面料"]),
        (COAT, "会起球吗", ["是否起球"]),
        (COAT, "会不会掉色", ["掉色"]),
        (COAT, "透不透", ["透"]),
        (COAT, "冬天能穿吗", ["适用季节"]),
    ],
)
def test_buyers_questions_find_the_fact_that_answers_them(item: Item, text: str, said: list[str]) -> None:
    assert [f.name for f in asked_facts(item, text)] == said


TEE = Item(
    id="800000000027",
    title="女士纯棉短袖T恤",
    attrs=(("面料", "100%棉"), ("厚薄", "薄款"), ("弹力", "无弹力"), ("洗涤方式", "可机洗"), ("产地", "广东佛山")),
)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        # each got nothing, though the item's fact answers it
        ("弹力大吗", ["弹力"]),  # how much of the fact
        ("含棉量高吗", ["面料"]),
        ("棉含量多少", ["面料"]),
        ("厚实吗", ["厚薄"]),
        ("哪个厚", ["厚薄"]),
        ("可以机洗不", ["洗涤方式"]),  # a yes/no question closing with 不
        ("有弹力没", ["弹力"]),
        ("是国产的吗", ["产地"]),
    ],
)
def test_buyers_other_ways_of_asking_find_the_fact(text: str, said: list[str]) -> None:
    assert [f.name for f in asked_facts(TEE, text)] == said


@pytest.mark.parametrize("text", ["面料舒服吗", "国产的多少钱", "进口的多少钱", "这件不错", "买了不"])
def test_words_of_a_fact_in_another_question_still_ask_nothing(text: str) -> None:
    assert asked_facts(TEE, text) == []


@pytest.mark.parametrize(
    ("item", "text"),
    [
        (COAT, "羊毛的多少钱"),  # a material word outside a yes/no question about it: a price question
        (COAT, "冬天快到了"),
        (JERKY, "糖果多少钱"),
        (CREAM, "这个酒精棉片多少钱"),
        (CREAM, "从哪里退货"),
        (CREAM, "发货了吗"),
        (COAT, "不锈钢的会生锈吗"),
    ],
)
def test_words_of_a_fact_outside_a_question_about_it_ask_nothing(item: Item, text: str) -> None:
    assert asked_facts(item, text) == []


BAG = Item(
    id="800000000025", title="帆布托特包", attrs=(("尺寸", "长40cm 宽12cm 高32cm"), ("材质", "帆布"), ("容量", "约15L"))
)
CUP = Item(
    id="800000000026", title="保温杯 500ml", attrs=(("容量", "500ml"), ("材质", "316不锈钢"), ("保温时长", "12小时"))
)


@pytest.mark.parametrize(
    ("item", "text", "said"),
    [
        # each got nothing, though the item's column answers it
        (BAG, "有多大", ["尺寸"]),
        (BAG, "包多宽", ["尺寸"]),
        (BAG, "能装多少", ["容量"]),
        (BAG, "是帆布的吗", ["材质"]),
        (CUP, "能装多少水", ["容量"]),
        (CUP, "保温多久", ["保温时长"]),
        (CUP, "能保温几个小时", ["保温时长"]),
        (CUP, "是316的吗", ["材质"]),
    ],
)
def test_a_goods_size_capacity_and_columns_of_its_own_are_found(item: Item, text: str, said: list[str]) -> None:
    assert [f.name for f in asked_facts(item, text)] == said


def test_a_columns_stem_beside_another_word_asks_nothing() -> None:
    assert asked_facts(CUP, "保温杯什么颜色") == []
    assert asked_facts(CUP, "杯子多重") == []  # no 重量: nothing invented


def test_a_value_that_answers_its_column_says_itself() -> None:
    found = answers(COAT, "会起球吗 掉色吗")
    assert [a.values["facts"] for a in found] == ["不起球，不掉色"]


DOWN_COAT = Item(id="800000000050", title="男士连帽羽绒服", attrs=(("面料", "锦纶"), ("含绒量", "90%白鸭绒")))
DOWN_UNSAID = Item(id="800000000051", title="女士轻薄羽绒服", attrs=(("面料", "锦纶"), ("含绒量", "90%")))
PADDED = Item(id="800000000052", title="男士加厚棉服", attrs=(("填充物", "聚酯纤维"),))


@pytest.mark.parametrize("text", ["鸭绒还是鹅绒", "是白鸭绒吗", "是鹅绒的吗", "里面填充的是什么", "是羽绒的吗"])
def test_the_fill_asked_is_answered_by_the_fact_that_says_it(text: str) -> None:
    # each got the library's phrase: 含绒量 was found by its own name alone
    (found,) = answers(DOWN_COAT, text)
    assert (found.kind, [(f.name, f.value) for f in found.facts]) == (FACT, [("含绒量", "90%白鸭绒")])
    (padded,) = answers(PADDED, text)
    assert (padded.kind, padded.values["facts"]) == (FACT, "填充物是聚酯纤维")  # no down at all: that says it too


@pytest.mark.parametrize(
    ("text", "asked"),
    [("鸭绒还是鹅绒", "是鸭绒还是鹅绒"), ("是白鸭绒吗", "是不是白鸭绒"), ("里面填充的是什么", "填充的是什么")],
)
def test_a_fill_the_fact_does_not_say_is_not_guessed(text: str, asked: str) -> None:
    (found,) = answers(DOWN_UNSAID, text)
    assert (found.kind, found.values["asked"], found.values["facts"]) == (NOT_TOLD, asked, "含绒量是90%")
    said = compile_templates(CatalogConfig())["not_told"].render({**found.values, "item": {}})
    assert said == f"亲，这款含绒量是90%，商品信息里没有写{asked}，我帮您确认一下再回复您哦~"


@pytest.mark.parametrize("text", ["含绒量多少", "鸭绒的多少钱", "羽绒服什么时候发货"])
def test_the_fill_is_not_asked_where_the_column_is_named_or_no_fill_is_asked(text: str) -> None:
    assert [a.kind for a in answers(DOWN_UNSAID, text)] in ([FACT], [])
    assert all(a.kind != NOT_TOLD for a in answers(DOWN_UNSAID, text))
    assert answers(Item(id="800000000053", title="纯棉T恤", attrs=(("面料", "棉"),)), "鸭绒还是鹅绒") == []


CARDIGAN = Item(
    id="800000000054",
    title="女士针织开衫",
    attrs=(("面料", "雪纺"), ("起球", "轻微起球"), ("钢圈", "无钢圈"), ("适用年龄", "0-6岁")),
)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        # each got the library's phrase: the words were not the fact's
        ("会起毛球吗", ["起球"]),
        ("是无钢圈的吧", ["钢圈"]),
        ("三岁宝宝能穿吗", ["适用年龄"]),
        ("八个月的宝宝可以穿吗", ["适用年龄"]),
        ("是雪纺的吗", ["面料"]),
        ("宝宝3岁穿几码", []),  # a size asked, not the age the item fits
        ("开衫掉毛吗", []),
    ],
)
def test_buyers_words_for_a_fact_of_clothes_ask_it(text: str, names: list[str]) -> None:
    assert [f.name for f in asked_facts(CARDIGAN, text)] == names


def test_a_fill_asked_with_a_materials_word_is_not_the_shells_material() -> None:
    # 里面是棉花吗 got 面料是锦纶 as well: the 棉 of 棉花 is a material the 面料 is asked with
    coat = Item(id="800000000055", title="男士加厚棉服", attrs=(("面料", "锦纶"), ("填充物", "聚酯纤维")))
    assert [f.name for a in answers(coat, "里面是棉花吗") for f in a.facts] == ["填充物"]
    assert [f.name for a in answers(coat, "面料和填充物是什么") for f in a.facts] == ["面料", "填充物"]


def test_two_items_asked_whether_a_fact_is_the_same_compare_it() -> None:
    # 这两件面料一样吗 got nothing: 一样吗 after 面料 was not a question about it
    other = Item(id="800000000056", title="男士纯棉T恤", attrs=(("面料", "精梳棉"),))
    (found,) = compared([DOWN_COAT, other], "这两件面料一样吗")
    assert found.values["answers"] == "第一款面料是锦纶；第二款面料是精梳棉"


SHIRT = Item(
    id="800000000057",
    title="女士纯棉衬衫",
    attrs=(("面料", "棉"), ("缩水", "已预缩"), ("色差", "实物拍摄，略有色差"), ("颜色", "白色、蓝色")),
)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        # each got the library's phrase: 缩 alone and the photo's colour were no words of the fact
        ("洗了会缩吗", ["缩水"]),
        ("会不会缩", ["缩水"]),
        ("跟图片颜色一样吗", ["色差"]),
        ("实物和图片一样吗", ["色差"]),
        ("颜色正不正", ["色差"]),
        ("图片颜色好看吗", []),  # asks a liking, not whether it is the photo's
        ("有什么颜色", ["颜色"]),
    ],
)
def test_shrinking_and_the_photos_colour_are_asked_as_buyers_say_them(text: str, names: list[str]) -> None:
    assert [f.name for f in asked_facts(SHIRT, text)] == names


_HEADERS = sorted(
    {h for a in ASPECTS for h in (*a.headers, *a.fallback)} | {"鞋面材质", "是否起球", "保温时长", "货号"}
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_HEADERS) | st.text(alphabet="材质面料是否鞋底产地", max_size=5), max_size=12))
def test_the_aspects_columns_hold_are_worked_out_once_as_part_says(keys: list[str]) -> None:
    # `held` is what asked_facts read from `Aspect.part` for every aspect and column of every message
    expected = []
    for aspect in ASPECTS:
        own = tuple((i, p) for i, key in enumerate(keys) if (p := aspect.part(key)) is not None)
        if not own and aspect.fallback:
            own = tuple((i, p) for i, key in enumerate(keys) if (p := aspect.part(key, fallback=True)) is not None)
        if own:
            expected.append((aspect, own))
    assert held(tuple(keys)) == tuple(expected)
