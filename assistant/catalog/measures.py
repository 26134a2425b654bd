"""Height and weight read from buyers' messages the way they write them (a pure parser).

Forms read: 165, 165cm, 165公分, 165厘米, 1米65, 1m65, 1.65m, 1.65米, 一米六五, 身高165; 110斤, 一百一十斤,
55kg, 55公斤, 55千克, 130磅, 130lb, 体重110; feet and inches 五尺三, 5尺3, 5'3" (160 cm). The rules for numbers written without a unit are in docs/catalog.md.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from assistant.catalog.numerals import to_digits

HEIGHT_CM = (50.0, 230.0)  # a height written with its unit is believed in this range (children's clothes too)
WEIGHT_JIN = (10.0, 500.0)
BARE_HEIGHT = (130.0, 210.0)  # a number without a unit reads as a height in this range ...
BARE_WEIGHT = (30.0, 300.0)  # ... and as a weight in this one
KG_BELOW = 70.0  # with no height known, a weight without its unit under 70 is in kilograms, else in 斤
TYPICAL_BMI = 21.0  # with a height known, the unit that gives the more typical body wins
# A number "and some" with no unit (三十多, 四十几) is a weight only where, in kilograms, it makes a body of the
# height given (一米六五 五十多); 一米六 三十多 would be a body-mass index under 12: buyers give their age so.
ROUGH_MIN_BMI = 15.0
NEAR_CHART = 0.1  # a bare number this share beyond the chart's 身高 still reads as a height (a 78 cm baby, 80-130)
PARSE_CACHE = 50_000  # earlier messages are read again for every new message of the conversation
LONG_PARSE_CACHE = 500  # heads longer than CACHED_TEXT_CHARS, fewer: each key keeps up to 500 characters
CACHED_TEXT_CHARS = 64

_D = "[0-9０-９]"
_NUM = rf"{_D}{{2,3}}(?:\.{_D}{{1,2}})?"
_RANGE = rf"(?:({_NUM})\s*[-~～到至]\s*)?"
_APPROX = r"(?:多|来|几|左右|出头)?"  # 120几斤 (一百二十几斤) as 120多斤
# 1米65, 一米六: the digits after 米 are centimetres unless a weight's unit follows them (一米 三十斤 is 1 米 and 30 斤).
_METERS_SPLIT = re.compile(
    rf"(?<![0-9０-９.])([12１２])\s*(?:米|m)\s*({_D}{{1,2}})(?![0-9０-９])(?!\s*{_APPROX}\s*(?:斤|kg|公斤|千克|磅|lb))"
)
# 宝宝一米: 100 cm (read after _METERS_SPLIT: digits still after 米 are a weight's, 一米三十斤); 一米多 is unsure.
_METERS_WHOLE = re.compile(r"(?<![0-9０-９.])([12１２])\s*米(?![多.])")
_METERS = re.compile(rf"(?<![0-9０-９.])([12１２]\.{_D}{{1,2}})\s*(?:米|m)(?![a-z])")
_CM = re.compile(rf"{_RANGE}({_NUM})\s*{_APPROX}\s*(?:cm|厘米|公分)")
# 近, 金 and jin are 斤 as a pinyin keyboard mistypes it (165 110近), where no word goes on after them.
_WEIGHT = re.compile(
    rf"{_RANGE}({_NUM})\s*{_APPROX}\s*(斤|kg|公斤|千克|磅|lbs|lb|jin|近(?![\u4e00-\u9fff])|金(?![\u4e00-\u9fff]))(?![a-z])"
)
JIN_PER = {
    "斤": 1.0,
    "jin": 1.0,
    "近": 1.0,
    "金": 1.0,
    "kg": 2.0,
    "公斤": 2.0,
    "千克": 2.0,
    "磅": 0.9072,
    "lbs": 0.9072,
    "lb": 0.9072,
}  # 1 lb = 0.4536 kg
_SAYS = r"\s*(?:是|有|为|:|约|大概|差不多|将近)?\s*"
# A body measure other than height and weight, with its number and unit (腰围70cm, 臀围95, 腰围2尺2, 腰二尺一,
# 胸围86-90): read before anything else and set aside, so its number is never taken for a height or weight. The 寸
# after a 尺 is one digit (2尺2): 腰围2.2尺 160 is a waist and a height.
_AMOUNT = rf"{_D}+(?:\.{_D}+)?"
# 高腰, 收腰, 包臀, 抹胸 … are the goods' cut: 收腰 160 100斤 is a height and a weight.
GOODS_CUT = "高低中收紧抹裹提包"
_BODY_MEASURE = re.compile(
    rf"(?:胸围|腰围|臀围|肩宽|袖长|衣长|裤长|脚长|(?<![{GOODS_CUT}])[腰胸臀]){_SAYS}{_AMOUNT}"
    rf"(?:\s*[-~～到至]\s*{_AMOUNT})?\s*(?:尺\s*(?:{_D}(?![0-9０-９.])\s*寸?)?|寸|cm|厘米|公分|码)?"
    # the number before its word: 两尺二的腰, 2尺2腰围, 68的腰 (a 尺 or a 的 between: 165 腰粗 is a height)
    rf"|{_AMOUNT}\s*(?:尺\s*(?:{_AMOUNT}\s*寸?)?\s*的?|(?:cm|厘米|公分)?\s*的)\s*(?:腰围|臀围|胸围|腰)"
    # a 市尺 figure alone (2尺2, 两尺二): a waist as buyers give it (girths.py), no height (a height in feet is 4-6)
    rf"|(?<![0-9０-９.])[1-3１-３]\s*尺(?!码)\s*(?:{_D}(?![0-9０-９.])\s*寸?)?"
)
# Two sizes the buyer chooses between (穿90还是100, 拿110或者120): sizes, though a child's are numbered by height.
_SIZE_CHOICE = re.compile(
    rf"(?:穿|拿|选|买|要)\s*{_D}{{2,3}}\s*(?:码|号)?\s*(?:还是|或者|或|和|跟)\s*{_D}{{2,3}}(?![0-9０-９.])"
)
# A height in feet and inches as buyers in the south write it (五尺三, 5尺3, 5'3", 5ft3): 尺 of a height is a foot
# there (五尺三 is 160 cm), while 尺 of a waist is a 市尺 (两尺二的腰, set aside above). Only 4 to 6 feet: 2尺2 is
# no height.
_FEET = re.compile(
    rf"(?<![0-9０-９.])([4-6４-６])\s*(?:尺|呎|英尺|feet|foot|ft|'|’|′)\s*"
    rf"(?:(1[01]|{_D}|十)(?![0-9０-９.])\s*(?:寸|吋|英寸|inches|inch|in(?![a-z])|\"|”|″|''|’’)?|(?![0-9０-９.]))"
)
# The same with a decimal point (5.8尺 is 5 feet 8 inches, 5.10尺 5 feet 10: the digits after the point are inches, as
# 五尺八 says it; nobody gives a height in tenths of a foot). 2.2尺 is a waist (above).
_FEET_DOTTED = re.compile(rf"(?<![0-9０-９.])([4-6４-６])[.．](1[01]|{_D})(?![0-9０-９.])\s*(?:尺|呎|英尺)(?!码)")
CM_PER_FOOT = 30.48
CM_PER_INCH = 2.54
# The number before its word (165的身高 110的体重, 我165身高): with 的 always that word's; without it only where no
# number follows the word (身高165体重110 gives each word the number after it).
_WORD_AFTER = re.compile(rf"(?<![0-9０-９.])({_D}{{2,3}}(?:\.{_D}{{1,2}})?)\s*(?:(的)\s*)?(身高|个子|个头|体重)")
_NUMBER_NEXT = re.compile(rf"{_SAYS}[0-9０-９\ue000]")  # a number, or one a unit already read
_HEIGHT_WORD = re.compile(rf"(?:身高|个子|个头|高){_SAYS}({_D}{{1,3}}(?:\.{_D}{{1,2}})?)(?![0-9０-９a-z%])")
_WEIGHT_WORD = re.compile(rf"(?:体重|重){_SAYS}({_NUM})(?![0-9０-９a-z%])")
# Numbers the buyer typed with no unit; a neighbour that makes them something else (a size, a price, a count,
# a date, a body measure other than height and weight) is excluded below.
_BARE = re.compile(r"(?<![0-9a-z.%¥$#:])([0-9]{1,3}(?:\.[0-9]{1,2})?)(?![0-9a-z%.:])")
_ROUGH = re.compile(r"\s*(?:多|几|来)")  # 三十多, 四十几: a number said roughly
_NOT_AFTER = re.compile(  # 100多块, 五十多岁, 三十几件: "and some" before the unit too
    r"\s*(?:多|来|几|余)?\s*(?:码|号|元|块|钱|件|个|条|双|套|包|瓶|盒|岁|月|天|年|周|日|点|分|秒|折|度|寸|尺|次|单|g|ml|w|%|\+|以上|以下|多少钱|买的|入手|的?鞋|后(?![天面边]))"
)
# A number right after the goods (这件99, 这款128) is what they cost: a body is never "this one".
_THIS = ("这件", "这款", "这个", "这条", "这双", "这套", "这种", "那件", "那款", "一件")
_NOT_BEFORE = ("胸围", "腰围", "臀围", "肩宽", "袖长", "衣长", "裤长", "脚长", "腰", "胸", "臀", "价", "价格", "价钱", "钱", "花了", "付了", "第", "满", "减", "送", "穿", *_THIS)  # fmt: skip
TAKEN = "\ue000"  # stands in for text a pattern has read, so that no later pattern reads it again
# What a message may hold besides its numbers and still be "just the measures" ("165 110", "我165的").
_FILLER = re.compile(r"[\ue000\s,，。.、/\\|*x×+~～\-:：;；!！?？我的是亲呢吧啊呀哈哦嗯哟了左右差不多几大概男女生士]")
# 会不会大, 偏小吗: whether a size will fit, asked with the measures (163 98 会不会大)
_SIZE_CUES = ("码", "尺码", "尺寸", "穿", "身高", "体重", "多大", "大小", "合适", "号", "偏大", "偏小", "会不会大", "会不会小", "会大吗", "会小吗", "会不会紧", "会紧吗")  # fmt: skip
_SIZE_LABEL = re.compile(r"(?<![a-z0-9])(?:x{0,3}s|m|x{0,4}l|[2-6]xl)(?![a-z])")  # M还是L, 160 100 M会小吗


@dataclass(frozen=True)
class Measurement:
    """What one message says about the buyer's body; every field optional."""

    height_cm: float | None = None
    weight_jin: float | None = None
    bare_weight: float | None = None  # a weight written without its unit: 斤 or kg, decided with the height
    lone: float | None = None  # the message is one bare number; what it measures depends on what came before
    rough: bool = False  # that number is said roughly (三十多): no weight of a body `too_light` for the height


@dataclass(frozen=True)
class Spans:
    """What the item's size chart covers: its 身高 (cm) and 体重 (斤) from smallest to largest, None when unused.

    A number written without a unit that only one of them holds is that measure (a child's 105 is a height
    on a chart of 80-140 cm and 20-70 斤); a weight counts as held in 斤 or in kg.
    """

    height: tuple[float, float] | None = None
    weight: tuple[float, float] | None = None

    def kind(self, value: float) -> str | None:
        """HEIGHT or WEIGHT when the chart tells which measure `value` is; None when it does not."""
        near = (self.height[0] * (1 - NEAR_CHART), self.height[1] * (1 + NEAR_CHART)) if self.height else None
        tall = near is not None and _inside(value, near) and _inside(value, HEIGHT_CM)
        heavy = (
            self.weight is not None
            and (_inside(value, self.weight) or _inside(value * 2, self.weight))
            and value <= BARE_WEIGHT[1]
        )
        if tall and not heavy:
            return HEIGHT
        if heavy and not tall:
            return WEIGHT
        return None


NO_SPANS = Spans()
HEIGHT = "height"
WEIGHT = "weight"


@dataclass(frozen=True)
class Body:
    """The buyer's height (cm) and weight (斤) as far as the conversation tells them."""

    height_cm: float | None = None
    weight_jin: float | None = None


def parse(text: str, spans: Spans = NO_SPANS, *, about: bool = False) -> Measurement | None:
    """The height and weight one message gives, or None when it gives neither (never raises on any text).

    `spans` are the item's chart's: they tell what a number without a unit measures, where they can. `about`:
    the text is part of a message about size (numbers without a unit are read as in one, see `about_size`).
    """
    if not isinstance(text, str) or not text:
        return None
    head = text[:500]
    return _parse(head, spans, about) if len(head) <= CACHED_TEXT_CHARS else _parse_long(head, spans, about)


def about_size(text: str) -> bool:
    """Whether a message speaks of size (码, 穿, 身高 …), so that its numbers without a unit may be measures."""
    if not isinstance(text, str):
        return False
    work = unicodedata.normalize("NFKC", text[:500]).lower()
    return any(cue in work for cue in _SIZE_CUES) or _SIZE_LABEL.search(work) is not None


@lru_cache(maxsize=PARSE_CACHE)
def _parse(text: str, spans: Spans, about: bool = False) -> Measurement | None:
    work = to_digits(unicodedata.normalize("NFKC", text).lower()).replace("上下", "左右")  # 165上下: about 165
    about_size = about or any(cue in work for cue in _SIZE_CUES) or _SIZE_LABEL.search(work) is not None
    height: float | None = None
    weight: float | None = None
    bare_weight: float | None = None
    marked = False

    def take(match: re.Match[str]) -> None:
        nonlocal work
        start, end = match.span()
        work = work[:start] + TAKEN * (end - start) + work[end:]

    for match in _BODY_MEASURE.finditer(work):
        take(match)
        marked = True  # a measure given with its word or unit: the message is about the body (我175 腰围2尺2)
    for match in _SIZE_CHOICE.finditer(work):
        take(match)  # 穿90还是100: two sizes to choose from, not a height
    for match in (*_FEET_DOTTED.finditer(work), *_FEET.finditer(work)):
        inches = 10.0 if match.group(2) == "十" else _number(match.group(2)) if match.group(2) else 0.0
        cm = float(round(_number(match.group(1)) * CM_PER_FOOT + inches * CM_PER_INCH))
        take(match)
        marked = True
        height = height if height is not None else _within(cm, HEIGHT_CM)
    for match in _METERS_SPLIT.finditer(work):
        rest = match.group(2)
        if len(rest) == 2 and _ROUGH.match(work, match.end()):
            continue  # 一米 三十多: 1 米 and a rough number (a child's weight), never 1米30多 (一米六多 is 160)
        cm = _number(match.group(1)) * 100 + _number(rest) * (10 if len(rest) == 1 else 1)
        take(match)
        marked = True
        height = height if height is not None else _within(cm, HEIGHT_CM)
    for match in _METERS_WHOLE.finditer(work):
        take(match)
        marked = True
        height = height if height is not None else _within(_number(match.group(1)) * 100, HEIGHT_CM)
    for match in _METERS.finditer(work):
        take(match)
        marked = True
        height = height if height is not None else _within(_number(match.group(1)) * 100, HEIGHT_CM)
    for match in _CM.finditer(work):
        take(match)
        marked = True
        height = height if height is not None else _within(_middle(match.group(1), match.group(2)), HEIGHT_CM)
    for match in _WEIGHT.finditer(work):
        take(match)
        marked = True
        value = round(_middle(match.group(1), match.group(2)) * JIN_PER[match.group(3)], 1)
        weight = weight if weight is not None else _within(value, WEIGHT_JIN)
    for match in _WORD_AFTER.finditer(work):
        if match.group(2) is None and _NUMBER_NEXT.match(work, match.end()):
            continue  # 身高165体重110: this number is the 身高's, read below
        take(match)
        marked = True
        value = _number(match.group(1))
        if match.group(3) == "体重":
            if weight is None and bare_weight is None:
                bare_weight = value if spans.kind(value) == WEIGHT else _within(value, BARE_WEIGHT)
        elif height is None:
            height = _within(value, HEIGHT_CM)
    for match in _HEIGHT_WORD.finditer(work):
        take(match)
        marked = True
        value = _number(match.group(1))
        value = value * 100 if value < 3 else value
        height = height if height is not None else _within(value, HEIGHT_CM)
    for match in _WEIGHT_WORD.finditer(work):
        take(match)
        marked = True
        if weight is None and bare_weight is None:
            value = _number(match.group(1))
            bare_weight = value if spans.kind(value) == WEIGHT else _within(value, BARE_WEIGHT)
    bare = [m for m in _BARE.finditer(work) if _plain_number(work, m)]
    only_numbers = not _FILLER.sub("", _BARE.sub("", work))
    if bare and only_numbers and len(bare) == 1 and height is None and weight is None and bare_weight is None:
        value = _number(bare[0].group(1))
        if value < 3:
            return _measurement(height=_within(value * 100, HEIGHT_CM))
        known = spans.kind(value) is not None or _inside(value, BARE_HEIGHT) or _inside(value, BARE_WEIGHT)
        rough = _ROUGH.match(work, bare[0].end()) is not None
        return Measurement(lone=value, rough=rough) if known else None
    if bare and (only_numbers or marked or about_size):
        for match in bare:
            value = _number(match.group(1))
            kind = spans.kind(value)
            if (
                kind == WEIGHT
                and (weight is not None or bare_weight is not None)
                or kind == HEIGHT
                and height is not None
            ):
                kind = None  # the chart's guess is taken (145 70斤 beside 150-175 cm, 80-150 斤): the adult rule tells
            if height is None and value < 3:
                height = _within(value * 100, HEIGHT_CM)
            elif height is None and (kind == HEIGHT or kind is None and _inside(value, BARE_HEIGHT)):
                height = value
            elif (
                weight is None
                and bare_weight is None
                and (kind == WEIGHT or kind is None and _inside(value, BARE_WEIGHT))
                and not (_ROUGH.match(work, match.end()) and too_light(value, height))
            ):
                bare_weight = value
    return _measurement(height=height, weight=weight, bare_weight=bare_weight)


def chooses_size(text: str) -> bool:
    """Whether a message asks which of two sizes to take, numbered (穿90还是100): a size question."""
    if not isinstance(text, str) or not any(word in text for word in ("还是", "或", "和", "跟")):
        return False
    return _SIZE_CHOICE.search(to_digits(unicodedata.normalize("NFKC", text[:500]).lower())) is not None


def combine(texts: Iterable[str], spans: Spans = NO_SPANS, cued: Sequence[bool] = ()) -> Body:
    """The buyer's body from their messages, oldest first: the newest value of each measure wins.

    A number without a unit is the measure the item's chart (`spans`) tells; where it does not, a message
    that is one bare number ("140") completes what is missing: after a height it is the weight, after a
    weight the height; otherwise its range decides (docs/catalog.md). `cued[i]`: the i-th text is part of a
    message about size (`parse`'s `about`).
    """
    height: float | None = None
    weight: float | None = None
    weight_bare = False
    for n, text in enumerate(texts):
        m = parse(text, spans, about=n < len(cued) and cued[n])
        if m is None:
            continue
        if m.lone is not None:
            kind = spans.kind(m.lone)
            if kind == HEIGHT:
                height = m.lone
            elif kind == WEIGHT:
                weight, weight_bare = m.lone, True
            elif m.rough and too_light(m.lone, height):
                continue  # 一米六, then 三十多: an age, not a weight
            elif height is not None and weight is None and _inside(m.lone, BARE_WEIGHT):
                weight, weight_bare = m.lone, True
            elif weight is not None and height is None and _inside(m.lone, BARE_HEIGHT):
                height = m.lone
            elif _inside(m.lone, BARE_HEIGHT):
                height = m.lone
            else:
                weight, weight_bare = m.lone, True
            continue
        if m.height_cm is not None:
            height = m.height_cm
        if m.weight_jin is not None:
            weight, weight_bare = m.weight_jin, False
        elif m.bare_weight is not None:
            weight, weight_bare = m.bare_weight, True
    if weight is not None and weight_bare:
        weight = resolve_weight(weight, height)
    return Body(height_cm=height, weight_jin=weight)


def too_light(value: float, height_cm: float | None) -> bool:
    """Whether a number without its unit is too light, even in kilograms, for the body of a height (30 at 160 cm)."""
    return height_cm is not None and value / (height_cm / 100) ** 2 < ROUGH_MIN_BMI


def resolve_weight(value: float, height_cm: float | None) -> float:
    """A weight written without its unit, in 斤: kilograms or 斤, whichever fits the height better."""
    if height_cm is None:
        return value * 2 if value < KG_BELOW else value
    square = (height_cm / 100) ** 2
    as_jin = abs(value / 2 / square - TYPICAL_BMI)
    as_kg = abs(value / square - TYPICAL_BMI)
    return value * 2 if as_kg < as_jin else value


_parse_long = lru_cache(maxsize=LONG_PARSE_CACHE)(_parse.__wrapped__)


def _measurement(
    *, height: float | None = None, weight: float | None = None, bare_weight: float | None = None
) -> Measurement | None:
    if height is None and weight is None and bare_weight is None:
        return None
    return Measurement(height_cm=height, weight_jin=weight, bare_weight=bare_weight)


def _plain_number(work: str, match: re.Match[str]) -> bool:
    """A bare number that is not a size, price, count, date or another body measure."""
    value = float(match.group(1))
    metres = "." in match.group(1) and 1.3 <= value <= 2.1  # 1.65 is a height in metres; a bare 2 is not
    if value < 10 and not metres:  # single digits are counts
        return False
    if _NOT_AFTER.match(work, match.end()):
        return False
    before = work[max(0, match.start() - 3) : match.start()].rstrip()
    if before.endswith(("腰", "胸", "臀")) and before[-2:-1] and before[-2] in GOODS_CUT:
        return True  # 收腰 160: the cut of the goods, not a waist
    return not before.endswith(_NOT_BEFORE)


def _number(text: str) -> float:
    return float(unicodedata.normalize("NFKC", text))


def _middle(low: str | None, high: str) -> float:
    """A single value, or the middle of a range written "110-120"."""
    top = _number(high)
    return (top + _number(low)) / 2 if low else top


def _inside(value: float, bounds: tuple[float, float]) -> bool:
    return bounds[0] <= value <= bounds[1]


def _within(value: float, bounds: tuple[float, float]) -> float | None:
    return value if _inside(value, bounds) else None
