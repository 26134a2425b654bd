"""What the catalog can answer in a message about an item: its facts, and a size from its chart (pure).

The wording is not here: an `Answer` carries the values its template fills in (config `[catalog]`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType

from assistant.catalog import again, ages, bra, feet, fill, girths, measures, pairs, usual, wearers, widths
from assistant.catalog.asking import A_NOT_A, PUNCTUATION, VALUE_MARKS, YES_NO_MARKS, about, ends_asking, fold
from assistant.catalog.aspects import ASPECTS, HELD_CACHE, WHETHER, Aspect
from assistant.catalog.aspects import held as held_by
from assistant.catalog.sizing import Range, SizeChart, SizeRow, choose, ruled_out, size_name
from assistant.catalog.store import Item

FACT = "fact"
SIZE = "size"
ASK_HEIGHT = "ask_height"
ASK_WEIGHT = "ask_weight"
NO_SIZE = "no_size"  # both measures known, and no row of the chart holds them
ASK_UNDER_BUST = "ask_under_bust"  # a bra: the cup or over-bust known, the under-bust (the band) missing
ASK_FOOT = "ask_foot"  # a shoe: the foot length missing
ASK_OVER_BUST = "ask_over_bust"  # a bra: the under-bust known, the over-bust (the cup) missing
SIZE_CONFLICT = "size_conflict"  # height and weight give one size, a girth of the chart another: the larger, and why
NOT_TOLD = "not_told"  # the item's fact of what was asked does not say it (含绒量 90%: 鸭绒还是鹅绒?): never guessed
# Whose measures the buyer gives, for asking the one still missing: the person named last, else a child on a
# children's chart (its tallest size at most CHILD_CHART_CM), else the buyer (wearers.py).
WEARER = {wearers.CHILD: "宝宝", wearers.HE: "他", wearers.SHE: "她", wearers.SELF: "您"}
YOU = "您"
CHILD_CHART_CM = 150.0


# A message asking which size to take (a shoe's chart then asks for the foot length): 38码有货吗 asks no size.
WHICH_SIZE = ("几码", "什么码", "哪个码", "哪码", "多少码", "多大码", "多大", "选码", "选哪", "穿多", "拿多", "买多", "穿哪", "码数怎么选", "尺码怎么选")  # fmt: skip
SIZE_WORDS = ("码", "多大", "尺寸", "大小", "合身", "穿什么", "穿多", "穿哪", "能穿", "选哪")


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


def intents_answered(answer: Answer) -> set[str]:
    """The matcher's intents whose question `answer` settles with the item's own facts (发货时间: shipping_time)."""
    if answer.kind == NO_SIZE:
        return {"size_advice"}  # the library's size phrases presume a size fits (按常规对应的码数选)
    if answer.kind != FACT:
        return set()
    names = {f.name for f in answer.facts}
    return {intent for aspect in ASPECTS if names.intersection(aspect.headers) for intent in aspect.intents}


def answers(item: Item, text: str, earlier: Sequence[str] = (), *, intent: str | None = None) -> list[Answer]:
    """The answers for a buyer's message about `item` (size first, then facts); [] when the catalog has none.

    `earlier` are the buyer's earlier messages, oldest first; `intent` is what the matcher made of the message.
    A message that is only 这件呢 asks the question before it again, of this item.
    """
    if earlier and again.asks_again(text):
        return _answers_again(item, earlier)
    return _answers(item, text, earlier, intent)


# What 这件呢 asks again of a size question: a size for the measures the conversation gave, read in their order.
SIZE_AGAIN = "穿什么码"


def _answers_again(item: Item, earlier: Sequence[str]) -> list[Answer]:
    """The answers to the newest of the last few earlier messages that asked a size or a fact of `item`."""
    for n in range(len(earlier) - 1, max(-1, len(earlier) - 1 - again.LOOKBACK), -1):
        if is_size_question(earlier[n]):
            return _answers(item, SIZE_AGAIN, earlier, None)
        if asked_facts(item, earlier[n]) or fill.asked(usual.told(item), earlier[n]) is not None:
            return _answers(item, earlier[n], (), None)
    return []


def _answers(item: Item, text: str, earlier: Sequence[str], intent: str | None) -> list[Answer]:
    found: list[Answer] = []
    pair = pairs.asked(item.chart, text)
    one = pairs.asked_one(item.chart, text) if pair is None else None  # 42码脚长多少: that size's row
    if pair is not None or one is not None:  # M和L差多少: the two rows of the chart, before any size for the buyer
        shown = tuple(Fact(pairs.named(row), pairs.figures(row)) for row in (pair or (one,)) if row is not None)
        values = {"facts": "；".join(spoken(f) for f in shown), "name": shown[0].name, "value": shown[0].value}
        found.append(Answer(FACT, "size_advice", MappingProxyType(values), shown, "、".join(f.name for f in shown)))
        text = pairs.rest(text) if pair is not None else pairs.rest_one(text)
    fitted = item.chart is not None and is_bra_item(item)
    sized = is_size_question(text, intent) or _measures_of_someone(text, earlier)
    sized = sized or girths.is_bottom(item.title) and bool(girths.parse(text, bottom=True))  # 两尺二 of trousers
    sized = sized or ages.parse(text) is not None and ages.told(item.chart)  # 宝宝3周岁半 on a chart by age
    if item.chart is not None and (sized or (fitted and bra.parse(text) is not None)):
        if fitted:
            found += [size for size in (bra_answer(item, [*earlier, text]),) if size is not None]
        else:
            found += size_answers(item, text, earlier, intent=intent)
        found = [noted(a, item.chart) for a in found]
    facts = asked_facts(item, text, intent)
    filled = fill.asked(usual.told(item), text)
    if filled is not None:
        facts = [f for f in facts if not fill.shell(f.name, text)]
    if filled is not None and filled.told:
        facts += [Fact(n, v) for n, v in filled.facts if all(f.name != n for f in facts)]
    elif filled is not None:
        said = "，".join(spoken(Fact(n, v)) for n, v in filled.facts)
        values = {"facts": said, "asked": filled.asked, "name": filled.facts[0][0], "value": filled.facts[0][1]}
        told = tuple(Fact(n, v) for n, v in filled.facts)
        found.append(Answer(NOT_TOLD, "product_info", MappingProxyType(values), told, filled.asked))
    if facts:
        said = "，".join(spoken(f) for f in facts)
        values = {"facts": said, "name": facts[0].name, "value": facts[0].value}
        trigger = "、".join(f.name for f in facts)
        found.append(Answer(FACT, "product_info", MappingProxyType(values), tuple(facts), trigger))
    return found


def noted(answer: Answer, chart: SizeChart) -> Answer:
    """A size answer with the chart's notes among its facts (以上数据为手工测量，误差1-3cm): the agent reads them
    before sending; a request for a measure or a chart without the buyer's size has none."""
    if answer.kind not in (SIZE, SIZE_CONFLICT) or not chart.notes:
        return answer
    shown = {f.value for f in answer.facts}
    extra = tuple(Fact(CHART_NOTE, n) for n in chart.notes if n not in shown)
    return Answer(answer.kind, answer.intent, answer.values, (*answer.facts, *extra), answer.trigger)


CHART_NOTE = "尺码表备注"


def spoken(fact: Fact) -> str:
    """A fact as an answer says it: 面料是95%棉; a value that names its column says itself (掉色 不掉色: 不掉色),
    and so does a yes or no to a 是否 column (是否起球 否: 不起球; 是: 起球)."""
    name = fact.name.removeprefix(WHETHER) or fact.name
    if name in fact.value:
        return fact.value
    if fact.name.startswith(WHETHER) and fact.value in _YES:
        return name
    if fact.name.startswith(WHETHER) and fact.value in _NO:
        return f"不{name}"
    return f"{fact.name}是{fact.value}"


_YES = ("是", "会", "有")
_NO = ("否", "不", "不会", "无", "没有")


def answerable(name: str) -> bool:
    """Whether an attribute (its column header) can be a fact the catalog answers with, its value word for word."""
    key = fold(name)
    return len(key) >= 2 or any(key in aspect.headers or key in aspect.fallback for aspect in ASPECTS)


def asked_facts(item: Item, text: str, intent: str | None = None) -> list[Fact]:
    """The item's attributes a message asks about, in the item's column order.

    `intent` is the matcher's reading of the message: an aspect's intent asks for its fact.
    """
    told = usual.told(item)
    if not told or not isinstance(text, str):
        return []
    folded = fold(text)
    if not folded:
        return []
    layout = _layout(tuple(name for name, _ in told))
    attrs = [(name, value, key) for (name, value), key in zip(told, layout.keys)]
    asked: list[Fact] = []
    words: list[str] = []  # the words of the message that named what was asked
    covered: set[str] = set()  # folded names of attributes an aspect of the message already considered
    by_intent = False
    for aspect, columns in layout.held:  # the aspects the item's columns hold (no other can be asked)
        held = [(*attrs[i], part) for i, part in columns]
        said = [word for word in (*aspect.asks, *(key for _, _, key, _ in held)) if word in folded]
        if any(f.name == name for f in asked for name, *_ in held):
            covered.update(key for _, _, key, _ in held)  # an earlier, narrower aspect answered (开封后保质期)
            continue
        claimed = [word for word in aspect.claims if word in folded and about(folded, word, suits=True)]
        if aspect.listed:
            claimed += [w for w in _LISTED.findall(folded) if any(w in fold(value) for _, value, _, _ in held)]
        meant = intent is not None and intent in aspect.intents
        if not held or not (meant or claimed or any(word in aspect.asks for word in said)):
            continue
        # The columns the message names (鞋底材质, or 鞋底 of it: 鞋底是什么材质), else the aspect's own header, else
        # every column of it (什么材质 of a shoe with 鞋面材质, 内里材质 and 鞋底材质).
        named = [h for h in held if h[2] in folded] or [h for h in held if h[3] and h[3] in folded]
        chosen = named or [h for h in held if not h[3]][:1] or held
        asked += [Fact(name, value) for name, value, _, _ in chosen if all(f.name != name for f in asked)]
        covered.update(key for _, _, key, _ in held)
        words += said
        by_intent = by_intent or meant or bool(claimed)  # a claim counts only where a yes/no question asks it
    for (name, value, key), stem in zip(attrs, layout.stems):
        if key in covered or any(f.name == name for f in asked):
            continue
        if len(key) >= 2 and key in folded and not any(key in word for word in words):  # 颜色 of 图片颜色: 色差's
            asked.append(Fact(name, value))
            words.append(key)
        elif stem is not None and (asking := stem.search(folded)):
            asked.append(Fact(name, value))
            words.append(asking.group(0))
    if not asked or not (by_intent or _is_question(folded, asked, words)):
        return []
    order = {name: i for i, (name, _) in enumerate(told)}
    return sorted(asked, key=lambda f: order.get(f.name, 0))


@dataclass(frozen=True)
class _Layout:
    """What an item's columns are, for reading questions of them: each header as it is matched (`fold`), the
    pattern asking for it by its stem (`_stem`: 保温多久 of 保温时长) and the aspects the columns hold."""

    keys: tuple[str, ...]
    stems: tuple[re.Pattern[str] | None, ...]
    held: tuple[tuple[Aspect, tuple[tuple[int, str], ...]], ...]


@lru_cache(maxsize=HELD_CACHE)
def _layout(names: tuple[str, ...]) -> _Layout:
    """The layout of columns with these headers: items share a few (every message about one asks it again)."""
    keys = tuple(fold(name) for name in names)
    stems = tuple(re.compile(re.escape(stem) + _STEM_ASKED) if (stem := _stem(key)) else None for key in keys)
    return _Layout(keys, stems, held_by(keys))


def _stem(key: str) -> str | None:
    """What a column is of, when its header ends with a word for a kind of value (保温 of 保温时长, 续航 of 续航时间)."""
    for suffix in _STEMMED:
        if key.endswith(suffix) and len(key) - len(suffix) >= 2:
            return key[: -len(suffix)]
    return None


# A column 保温时长 is asked by 保温多久, 能保温几个小时: its stem followed by a question for an amount or a way
# (保温杯什么颜色 asks no 保温时长: 杯 stands between).
# A yes/no question naming a thing the item's value may list: 有核桃吗, 含不含花生, 有没有加蔗糖.
_LISTED = re.compile(r"(?:有没有|含不含|含有|含|有|加了|添加了|添加|放了)([\u4e00-\u9fff]{2,6}?)(?:吗|么|嘛|\?)")
_STEMMED = ("时长", "时间", "方式", "方法", "范围", "长度", "宽度", "高度", "功率", "次数", "温度")
_STEM_ASKED = r"(?:要|能|可以|大概|一般|的)?(?:多|几|怎么|什么|啥|如何)"


def is_size_question(text: str, intent: str | None = None) -> bool:
    """A message about the buyer's size: the matcher says so, it gives a height or weight, or it asks a size."""
    if intent == "size_advice":
        return True
    if measures.parse(text) is not None or feet.parse(text) is not None:
        return True
    if girths.parse(text) or usual.worn([text]) is not None:
        return True
    if measures.chooses_size(text) or _measured_apart(text):  # 穿90还是100; 她165 110, 165 110 我老公175 140
        return True
    folded = fold(text)
    return any(word in folded for word in SIZE_WORDS)


def _measured_apart(text: str) -> bool:
    """Whether a message names someone and gives a height and weight in numbers alone after them (她165 110,
    165 110 我老公175 140): read as each person's measures, though no word of size is said."""
    parts = wearers.split(text)
    return len(parts) > 1 and any((m := measures.parse(part)) is not None and m.lone is None for _, part in parts)


def _measures_of_someone(text: str, earlier: Sequence[str]) -> bool:
    """A message naming someone with a number (那我自己呢 我165, 我老公175) in a conversation that gave measures
    before: it goes on about size, though it says no 码."""
    return (
        wearers.named_last([text]) is not None
        and measures.parse(text, about=True) is not None
        and any(measures.parse(t) is not None for t in earlier)
    )


def size_answer(item: Item, text: str, earlier: Sequence[str] = ()) -> Answer | None:
    """The first of `size_answers`, or None."""
    found = size_answers(item, text, earlier)
    return found[0] if found else None


def size_answers(item: Item, text: str, earlier: Sequence[str] = (), *, intent: str | None = None) -> list[Answer]:
    """For each person the message gives measures of (else the one the conversation speaks of), the size from the
    item's chart, or a request for the measure still missing; [] when nothing fits.

    Nothing for a person of whom neither measure is known (the library's phrase asks for both); a NO_SIZE
    answer when the chart has no size for them. A shoe's chart (by 脚长) reads the buyer's foot length.
    """
    chart = item.chart
    shoes = feet.shoe_chart(chart) if chart is not None else None
    if shoes is not None:
        shoe = shoe_answer(shoes, [*earlier, text], intent)
        if shoe is None or shoe.kind == ASK_FOOT:  # a foot length, when given, wins over the size worn
            shoe = usual_answer(item, shoes, [*earlier, text]) or shoe
        elif shoe.kind == SIZE and (wide := widths.said([*earlier, text])) is not None:
            shoe = _wide(shoe, item, shoes, wide)
        return [shoe] if shoe is not None else []
    if chart is None or not (chart.uses_height or chart.uses_weight):
        return []  # a chart by other measures (a bra's 75B on goods that are no bra): nothing to judge by
    default = wearers.CHILD if _is_childrens(chart) else wearers.SELF
    chart = girths.with_hao(chart, girths.hao_column(item.title))
    found = []
    texts = [*earlier, text]
    persons = wearers.people(texts, spans_of(chart), default)
    # Girths are read for a conversation about one person: who a 胸围 belongs to is not followed between people.
    bottom = girths.is_bottom(item.title)
    given = [g for g in girths.combine(texts, bottom=bottom) if girths.has(chart, g.name)] if len(persons) == 1 else []
    if len(persons) == 1 and persons[0].body.height_cm is None and chart.uses_height and not given:
        by_age = ages.fit(chart, texts)  # 宝宝3岁: the chart's 年龄 column, where it has one
        if by_age is not None:
            return [_age_answer(chart, *by_age)]
    for person in persons:
        answer = _person_size(chart, person, given)
        if answer is not None:
            found.append(answer)
    if not found:
        found += [a for a in (usual_answer(item, chart, texts),) if a is not None]
    return found


def usual_answer(item: Item, chart: SizeChart, texts: Sequence[str]) -> Answer | None:
    """The size for a buyer who says the size they usually wear (平时穿M), where the item says how it runs
    (尺码偏大偏小: 偏小一码); None otherwise (the library's phrase asks for the measures)."""
    worn = usual.worn(texts)
    runs = usual.runs(usual.told(item)) if worn is not None else None
    if worn is None or runs is None:
        return None
    row = usual.shifted(chart, worn, runs[2])
    if row is None:
        return None
    said = f"平时穿{size_name(worn)}"
    values = {"measures": said, "height": "", "weight": "", "size": size_name(row.size), "size_label": row.size}
    facts = (Fact("平时穿", worn), Fact(runs[0], runs[1]), Fact("尺码", row.size))
    return Answer(SIZE, "size_advice", MappingProxyType(values), facts, said)


def _wide(shoe: Answer, item: Item, chart: SizeChart, said: str) -> Answer:
    """A shoe's size by 脚长 for a wide foot or high instep (`said`: 脚宽): the shop's advice for such feet applied
    (脚宽建议拍大一码: one size up), else the same size with a fact telling the agent the chart has no width."""
    notes = [(CHART_NOTE, n) for n in (item.chart.notes if item.chart is not None else ())]
    told = widths.advice([*notes, *item.attrs])
    at = next(i for i, row in enumerate(chart.rows) if row.size == shoe.values["size_label"])
    if told is None or not at + told[2] < len(chart.rows):
        width = Fact("脚型", f"{said}（尺码表只有脚长，没有写{said}怎么选）" if told is None else said)
        return Answer(SIZE, shoe.intent, shoe.values, (*shoe.facts[:1], width, *shoe.facts[1:]), shoe.trigger)
    row = chart.rows[at + told[2]]
    length = f"（脚长{row.height.with_unit('mm')}）" if row.height is not None else ""
    measures = f"{shoe.values['measures']}/{said}"
    values = {**shoe.values, "measures": measures, "size": size_name(row.size), "size_label": row.size}
    shown = () if told[0] == CHART_NOTE else (Fact(told[0], told[1]),)  # a note is among the facts as every note
    facts = (shoe.facts[0], Fact("脚型", said), *shown, Fact("尺码", f"{row.size}{length}"))
    return Answer(SIZE, shoe.intent, MappingProxyType(values), facts, measures)


def _person_size(chart: SizeChart, person: wearers.Person, given: Sequence[girths.Girth] = ()) -> Answer | None:
    body = person.body
    need_height = chart.uses_height and body.height_cm is None
    need_weight = chart.uses_weight and body.weight_jin is None
    read = [
        *([Fact("身高", f"{_num(body.height_cm)}cm")] if body.height_cm is not None else []),
        *([Fact("体重", f"{_num(body.weight_jin)}斤")] if body.weight_jin is not None else []),
    ]
    known = [f for f in read if (chart.uses_height if f.name == "身高" else chart.uses_weight)]
    values = {
        "height": _num(body.height_cm) if body.height_cm is not None else "",
        "weight": _num(body.weight_jin) if body.weight_jin is not None else "",
        "measures": "/".join(f.value for f in known),
    }
    if given:
        by_girth = _girth_row(chart, given)
        said = "/".join(g.said for g in given)
        if need_height or need_weight:  # a girth the chart has is enough: no need to ask for the rest
            return _row_answer(chart, by_girth, said, [Fact(g.name, f"{g.cm:g}cm") for g in given], given)
        by_body = choose(chart, body.height_cm, body.weight_jin)
        girth_facts = [Fact(g.name, f"{g.cm:g}cm") for g in given]
        if by_body is None or by_girth is None or by_body == by_girth:
            both = "/".join(f.value for f in known) + "/" + said
            return _row_answer(chart, by_body and by_girth, both, [*known, *girth_facts], given)
        larger = max(by_body, by_girth, key=chart.rows.index)
        values.update(
            size=size_name(larger.size), size_label=larger.size, by_body=size_name(by_body.size),
            girth=said, by_girth=size_name(by_girth.size),
        )  # fmt: skip
        facts = (*known, Fact("尺码", by_body.size), *girth_facts, Fact(f"按{given[0].name}", by_girth.size))
        return Answer(SIZE_CONFLICT, "size_advice", MappingProxyType(values), facts, f"{values['measures']}/{said}")
    if need_height or need_weight:
        if not read or (need_height and need_weight):
            return None  # nothing to acknowledge: the library's phrase asks for the measures
        if ruled_out(chart, body.height_cm, body.weight_jin):  # 130斤 on a 均码 of 80-120: no height makes it fit
            return _no_size(chart, values, tuple(known))
        kind = ASK_HEIGHT if need_height else ASK_WEIGHT
        values["measures"] = "/".join(f.value for f in read)
        values["wearer"] = WEARER[person.who]
        return Answer(kind, "size_advice", MappingProxyType(values), tuple(read), values["measures"])
    row = choose(chart, body.height_cm, body.weight_jin)
    if row is None:
        return _no_size(chart, values, tuple(known))
    ranges = "，".join(
        part
        for part in (
            f"身高{row.height.with_unit('cm')}" if row.height is not None else "",
            f"体重{row.weight.with_unit('斤')}" if row.weight is not None else "",
        )
        if part
    )
    values.update(size=size_name(row.size), size_label=row.size)
    facts = (*known, Fact("尺码", f"{row.size}（{ranges}）" if ranges else row.size))
    return Answer(SIZE, "size_advice", MappingProxyType(values), facts, values["measures"])


def _age_answer(chart: SizeChart, age: ages.Age, row: SizeRow | None, held: Range) -> Answer:
    """SIZE for a child's age from the chart's 年龄 column (the row's ages among the facts); NO_SIZE beyond it."""
    values = {"measures": age.said, "height": "", "weight": ""}
    if row is None:
        values.update(span=f"年龄{ages.said(held)}", smallest=size_name(chart.rows[0].size))
        values.update(largest=size_name(chart.rows[-1].size))
        facts = (Fact("年龄", age.said), Fact("尺码", f"无（尺码表：{values['span']}）"))
        return Answer(NO_SIZE, "size_advice", MappingProxyType(values), facts, age.said)
    cell = next((v for h, v in row.measures if ages.is_age_header(h)), "")
    values.update(size=size_name(row.size), size_label=row.size)
    facts = (Fact("年龄", age.said), Fact("尺码", f"{row.size}（年龄{cell}）"))
    return Answer(SIZE, "size_advice", MappingProxyType(values), facts, age.said)


def _no_size(chart: SizeChart, values: dict[str, str], known: tuple[Fact, ...]) -> Answer:
    """NO_SIZE for the measures `known` (values: measures, height, weight): the chart's span, its ends."""
    values.update(span=span(chart), smallest=size_name(chart.rows[0].size), largest=size_name(chart.rows[-1].size))
    facts = (*known, Fact("尺码", f"无（尺码表：{values['span']}）"))
    return Answer(NO_SIZE, "size_advice", MappingProxyType(values), facts, values["measures"])


def _girth_row(chart: SizeChart, given: Sequence[girths.Girth]) -> SizeRow | None:
    """The size the buyer's girths give: the largest of each one's (a garment must go round every one of them);
    None when one of them has no size on the chart."""
    rows = [girths.fits(chart, g) for g in given]
    if any(row is None for row in rows):
        return None
    return max((row for row in rows if row is not None), key=chart.rows.index)


def _row_answer(
    chart: SizeChart, row: SizeRow | None, said: str, facts: Sequence[Fact], given: Sequence[girths.Girth]
) -> Answer:
    """SIZE with the chart's `row` for what the buyer `said`; NO_SIZE when it is None."""
    values = {"measures": said, "height": "", "weight": ""}
    if row is None:
        whole = "，".join(p for p in (span(chart), girths.span(chart, [g.name for g in given])) if p)
        values.update(span=whole, smallest=size_name(chart.rows[0].size), largest=size_name(chart.rows[-1].size))
        return Answer(
            NO_SIZE, "size_advice", MappingProxyType(values), (*facts, Fact("尺码", f"无（尺码表：{whole}）")), said
        )
    values.update(size=size_name(row.size), size_label=row.size)
    return Answer(SIZE, "size_advice", MappingProxyType(values), (*facts, Fact("尺码", row.size)), said)


def shoe_answer(chart: SizeChart, texts: Sequence[str], intent: str | None = None) -> Answer | None:
    """The size of a shoe's chart (`feet.shoe_chart`) for the buyer's foot length; without one, a request for it
    when the newest message asks which size or says the size worn (a height and weight, or 平时穿38码, tell no
    foot length)."""
    foot = feet.combine(texts)
    if foot is None:
        asks = intent == "size_advice" or any(word in fold(texts[-1]) for word in WHICH_SIZE)
        if not asks and usual.worn(texts[-1:]) is None:  # 平时穿44 asks as well: which size of this shoe is that
            return None
        values = {"measures": "", "wearer": wearer(chart, texts)}
        return Answer(ASK_FOOT, "size_advice", MappingProxyType(values))
    said = f"脚长{_num(foot / 10)}cm"
    values = {"measures": said, "height": "", "weight": ""}
    facts: tuple[Fact, ...] = (Fact("脚长", f"{_num(foot / 10)}cm"),)
    row = choose(chart, foot, None)
    if row is None:
        whole = _whole(chart, "height")
        values.update(span=f"脚长{whole.with_unit('mm')}" if whole else "", smallest=size_name(chart.rows[0].size))
        values.update(largest=size_name(chart.rows[-1].size))
        facts = (*facts, Fact("尺码", f"无（尺码表：{values['span']}）"))
        return Answer(NO_SIZE, "size_advice", MappingProxyType(values), facts, said)
    values.update(size=size_name(row.size), size_label=row.size)
    length = f"脚长{row.height.with_unit('mm')}" if row.height is not None else ""
    facts = (*facts, Fact("尺码", f"{row.size}（{length}）"))
    return Answer(SIZE, "size_advice", MappingProxyType(values), facts, said)


def is_bra_item(item: Item) -> bool:
    """Whether size advice for `item` is a bra's: its title says it is a bra and its chart's sizes are bra sizes."""
    return item.chart is not None and bra.is_bra(item.title) and bra.is_bra_chart(item.chart)


def bra_answer(item: Item, texts: Sequence[str]) -> Answer | None:
    """A bra's size from the buyer's under- and over-bust (or the size they wear, 75B or 34B, or a cup with the
    under-bust), when the chart has it; a request for the measure still missing; None when nothing was said."""
    chart = item.chart
    assert chart is not None
    bust = bra.combine(texts)
    read = [
        *([Fact("下胸围", f"{_num(bust.under_cm)}cm")] if bust.under_cm is not None else []),
        *([Fact("上胸围", f"{_num(bust.over_cm)}cm")] if bust.over_cm is not None else []),
    ]
    wanted: tuple[int, str] | None = None
    if bust.under_cm is not None and bust.over_cm is not None:
        wanted = bra.from_bust(bust.under_cm, bust.over_cm)
    elif bust.under_cm is not None and bust.cup is not None and bust.size is None:
        band = bra.band_of(bust.under_cm)
        wanted = (band, bust.cup) if band is not None else None
        read.append(Fact("罩杯", f"{bust.cup}杯"))
    elif bust.size is not None:
        wanted, read = bust.size, [Fact("平时穿", bust.said)]
    else:
        read += [Fact("罩杯", f"{bust.cup}杯")] if bust.cup is not None else []
        if not read:
            return None
        values = {"measures": _bust_said(read), "wearer": wearer(chart, texts)}
        kind = ASK_OVER_BUST if bust.under_cm is not None else ASK_UNDER_BUST
        return Answer(kind, "size_advice", MappingProxyType(values), tuple(read), values["measures"])
    values = {"measures": _bust_said(read), "height": "", "weight": ""}
    row = bra.find(chart, wanted) if wanted is not None else None
    if row is None:
        values.update(span=bra.labels(chart.rows), smallest=chart.rows[0].size, largest=chart.rows[-1].size)
        facts = (*read, Fact("尺码", f"无（尺码表：{values['span']}）"))
        return Answer(NO_SIZE, "size_advice", MappingProxyType(values), facts, values["measures"])
    shown = "，".join(f"{name}{value}" for name, value in row.measures)
    values.update(size=row.size, size_label=row.size)
    facts = (*read, Fact("尺码", f"{row.size}（{shown}）" if shown else row.size))
    return Answer(SIZE, "size_advice", MappingProxyType(values), facts, values["measures"])


def _bust_said(read: Sequence[Fact]) -> str:
    """What was read of a bust, as an answer repeats it: 下胸围75cm/上胸围90cm, 34B, 下胸围70cm/B杯."""
    return "/".join(f"{f.name}{f.value}" if f.name in ("下胸围", "上胸围") else f.value for f in read)


def wearer(chart: SizeChart, texts: Sequence[str]) -> str:
    """Who wears the size, as the question for a missing measure names them: 宝宝, 他, 她 or 您."""
    named = wearers.named_last(texts)
    if named is not None:
        return WEARER[named]
    return WEARER[wearers.CHILD] if _is_childrens(chart) else YOU


def _is_childrens(chart: SizeChart) -> bool:
    """A children's chart: its tallest size at most CHILD_CHART_CM."""
    height = _whole(chart, "height")
    return height is not None and height.high <= CHILD_CHART_CM


def span(chart: SizeChart) -> str:
    """What a chart covers, by the measures it uses: 身高150-185cm，体重80-160斤."""
    parts = []
    for measure, name, unit in (("height", "身高", "cm"), ("weight", "体重", "斤")):
        whole = _whole(chart, measure)
        if whole is not None:
            parts.append(f"{name}{whole.with_unit(unit)}")
    return "，".join(parts)


def spans_of(chart: SizeChart) -> measures.Spans:
    """The chart's 身高 and 体重 from its smallest to its largest size, to read numbers written without a unit."""
    height, weight = _whole(chart, "height"), _whole(chart, "weight")
    return measures.Spans(
        height=(height.low, height.high) if height is not None else None,
        weight=(weight.low, weight.high) if weight is not None else None,
    )


def _whole(chart: SizeChart, measure: str) -> Range | None:
    ranges = [getattr(r, measure) for r in chart.rows if getattr(r, measure) is not None]
    return Range(min(r.low for r in ranges), max(r.high for r in ranges)) if ranges else None


def _is_question(folded: str, asked: Sequence[Fact], words: Sequence[str]) -> bool:
    """A question the facts answer: it asks for a value, or asks yes or no about a word that named the fact,
    or it is nothing but the attribute's name ("面料？")."""
    if any(mark in folded for mark in VALUE_MARKS) or A_NOT_A.search(folded):
        return True
    asking = any(mark in folded for mark in YES_NO_MARKS) or ends_asking(folded) or folded.endswith("吧")
    if asking and any(about(folded, word) for word in words):
        return True
    bare = folded.strip(PUNCTUATION)
    return any(bare in (fold(f.name), "这款" + fold(f.name), "这件" + fold(f.name)) for f in asked)


def _num(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}".rstrip("0").rstrip(".")
