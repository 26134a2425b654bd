"""What the catalog can answer in a message about an item: its facts, and a size from its chart (pure).

The wording is not here: an `Answer` carries the values its template fills in (config `[catalog]`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from assistant.catalog import measures
from assistant.catalog.sizing import choose, size_name
from assistant.catalog.store import Item

FACT = "fact"
SIZE = "size"
ASK_HEIGHT = "ask_height"
ASK_WEIGHT = "ask_weight"


@dataclass(frozen=True)
class Aspect:
    """One kind of fact: the attribute names (column headers) that hold it and the words buyers ask it with."""

    headers: tuple[str, ...]
    asks: tuple[str, ...]


# An attribute is asked about when the message names its column header, or a word of the aspect that header
# belongs to: 什么料子 finds 面料 as well as 材质 (docs/catalog.md lists them).
ASPECTS: tuple[Aspect, ...] = (
    Aspect(
        ("材质", "面料", "成分", "材料", "面料成分", "主面料", "材质成分", "填充物"),
        ("材质", "面料", "成分", "材料", "布料", "料子", "什么料", "啥料", "含棉", "纯棉吗", "棉的吗", "什么做的"),
    ),
    Aspect(
        ("产地", "原产地", "生产地", "产区", "发源地"),
        ("产地", "哪里产", "哪产", "哪里生产", "哪生产", "哪里做的", "哪做的", "国产吗", "进口吗", "原产", "哪里的货"),
    ),
    Aspect(
        ("保质期", "有效期", "保存期"),
        ("保质期", "保质多久", "有效期", "过期", "放多久", "保存多久", "能放几天", "放几天", "保存期"),
    ),
    Aspect(
        ("适用年龄", "适合年龄", "年龄段", "适用年龄段"),
        ("几岁", "多大孩子", "多大的孩子", "多大宝宝", "年龄", "多大的宝宝"),
    ),
    Aspect(("品牌",), ("品牌", "什么牌子", "哪个牌子", "牌子")),
    Aspect(("厚薄", "厚度"), ("厚不厚", "薄不薄", "厚吗", "薄吗", "厚度", "厚薄")),
    Aspect(("弹力", "弹性"), ("弹力", "弹性", "有弹", "弹不弹")),
    Aspect(("适用季节", "季节"), ("季节", "什么时候穿", "春秋", "夏天穿", "冬天穿", "四季")),
    Aspect(("版型",), ("版型", "宽松吗", "修身吗", "宽不宽松", "修不修身")),
    Aspect(("颜色", "颜色分类"), ("什么颜色", "几个颜色", "几种颜色", "哪些颜色", "有什么颜色", "几个色")),
    Aspect(("重量", "净重", "净含量"), ("多重", "重量", "净含量", "几克", "多少克")),
    Aspect(("洗涤", "洗涤方式", "洗涤说明"), ("怎么洗", "机洗", "水洗", "怎么清洗", "能洗吗", "干洗")),
)
QUESTION_MARKS = ("吗", "么", "嘛", "什么", "啥", "哪", "几", "多少", "多久", "多大", "怎么", "怎样", "如何", "是不是", "有没有", "?", "呢")  # fmt: skip
_A_NOT_A = re.compile(r"(.)不\1")  # 厚不厚, 起不起球
SIZE_WORDS = ("码", "多大", "尺寸", "大小", "合身", "穿什么", "穿多", "穿哪", "能穿", "选哪")
_PUNCTUATION = " \t\n,，.。!！?？~～、:："


@dataclass(frozen=True)
class Fact:
    """A fact shown with an answer: a name and its value as the catalog (or the buyer) gives it."""

    name: str
    value: str


@dataclass(frozen=True)
class Answer:
    """One answer the catalog can give: its kind, its intent, the values of its template and the facts used."""

    kind: str
    intent: str
    values: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    facts: tuple[Fact, ...] = ()
    trigger: str = ""


def answers(item: Item, text: str, earlier: Sequence[str] = (), *, intent: str | None = None) -> list[Answer]:
    """The answers for a buyer's message about `item` (size first, then facts); [] when the catalog has none.

    `earlier` are the buyer's earlier messages, oldest first; `intent` is what the matcher made of the message.
    """
    found: list[Answer] = []
    if item.chart is not None and is_size_question(text, intent):
        size = size_answer(item, text, earlier)
        if size is not None:
            found.append(size)
    facts = asked_facts(item, text)
    if facts:
        said = "，".join(f"{f.name}是{f.value}" for f in facts)
        values = {"facts": said, "name": facts[0].name, "value": facts[0].value}
        trigger = "、".join(f.name for f in facts)
        found.append(Answer(FACT, "product_info", MappingProxyType(values), tuple(facts), trigger))
    return found


def asked_facts(item: Item, text: str) -> list[Fact]:
    """The item's attributes a message asks about, in the item's column order."""
    if not item.attrs or not isinstance(text, str):
        return []
    folded = _fold(text)
    if not folded:
        return []
    attrs = [(name, value, _fold(name)) for name, value in item.attrs]
    asked: list[Fact] = []
    covered: set[str] = set()  # folded names of attributes an aspect of the message already considered
    for aspect in ASPECTS:
        held = [(name, value, key) for name, value, key in attrs if key in aspect.headers]
        if not held or not any(word in folded for word in aspect.asks):
            continue
        named = [(name, value, key) for name, value, key in held if key in folded]
        asked += [Fact(name, value) for name, value, _ in named or held[:1]]
        covered.update(key for _, _, key in held)
    for name, value, key in attrs:
        if len(key) >= 2 and key in folded and key not in covered and all(f.name != name for f in asked):
            asked.append(Fact(name, value))
    if not asked or not _is_question(folded, asked):
        return []
    order = {name: i for i, (name, _) in enumerate(item.attrs)}
    return sorted(asked, key=lambda f: order.get(f.name, 0))


def is_size_question(text: str, intent: str | None = None) -> bool:
    """A message about the buyer's size: the matcher says so, it gives a height or weight, or it asks a size."""
    if intent == "size_advice":
        return True
    if measures.parse(text) is not None:
        return True
    folded = _fold(text)
    return any(word in folded for word in SIZE_WORDS)


def size_answer(item: Item, text: str, earlier: Sequence[str] = ()) -> Answer | None:
    """The size from the item's chart, or a request for the measure still missing; None when neither fits.

    None also when the buyer has given neither measure (the library's phrase asks for both) or when the
    chart has no size for them.
    """
    chart = item.chart
    if chart is None:
        return None
    body = measures.combine([*earlier, text])
    need_height = chart.uses_height and body.height_cm is None
    need_weight = chart.uses_weight and body.weight_jin is None
    known = [
        *([Fact("身高", f"{_num(body.height_cm)}cm")] if body.height_cm is not None and chart.uses_height else []),
        *([Fact("体重", f"{_num(body.weight_jin)}斤")] if body.weight_jin is not None and chart.uses_weight else []),
    ]
    values = {
        "height": _num(body.height_cm) if body.height_cm is not None else "",
        "weight": _num(body.weight_jin) if body.weight_jin is not None else "",
        "measures": "/".join(f.value for f in known),
    }
    if need_height and need_weight:
        return None
    if need_height or need_weight:
        kind = ASK_HEIGHT if need_height else ASK_WEIGHT
        return Answer(kind, "size_advice", MappingProxyType(values), tuple(known), values["measures"])
    row = choose(chart, body.height_cm, body.weight_jin)
    if row is None:
        return None
    ranges = "，".join(
        part
        for part in (
            f"身高{row.height}cm" if row.height is not None else "",
            f"体重{row.weight}斤" if row.weight is not None else "",
        )
        if part
    )
    values.update(size=size_name(row.size), size_label=row.size)
    facts = (*known, Fact("尺码", f"{row.size}（{ranges}）" if ranges else row.size))
    return Answer(SIZE, "size_advice", MappingProxyType(values), facts, values["measures"])


def _is_question(folded: str, asked: Sequence[Fact]) -> bool:
    """A question word, or a message that is nothing but the attribute's name ("面料？")."""
    if any(mark in folded for mark in QUESTION_MARKS) or _A_NOT_A.search(folded):
        return True
    bare = folded.strip(_PUNCTUATION)
    return any(bare in (_fold(f.name), "这款" + _fold(f.name), "这件" + _fold(f.name)) for f in asked)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower().strip()


def _num(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}".rstrip("0").rstrip(".")
