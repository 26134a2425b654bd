"""Size charts and the size rule: which row of an item's chart fits a buyer's height and weight."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

_SIMPLE = re.compile(r"(\d{1,3}(?:\.\d+)?)-(\d{1,3}(?:\.\d+)?)")
_UNIT = r"(?:cm|厘米|公分|斤|kg|公斤|m|米)?"
_METRE = re.compile(r"(?<![ck厘])m|(?<!厘)米")
METRES_BELOW = 3.0  # a height whose numbers are all under this is in metres (1.60-1.65m, 1.6-1.65)
_RANGE = re.compile(
    rf"^\s*(\d+(?:\.\d+)?)\s*{_UNIT}\s*(?:[-~～—–至到]|以上|以下)?\s*(\d+(?:\.\d+)?)?\s*{_UNIT}\s*(?:以上|以下)?\s*$"
)

_DASHES = str.maketrans({"\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2015": "-", "\u2212": "-"})
_BELOW_WORDS = re.compile(r"(?:及以下|以内|及以内)$")  # 100斤以内: at most 100
_ABOVE_WORDS = re.compile(r"及以上$")
_SIGN = re.compile(r"^(≤|<=|<|≥|>=|>)\s*(.+)$")


@dataclass(frozen=True)
class Range:
    """Inclusive bounds; an open end (160以下, 180以上) is infinite."""

    low: float
    high: float

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high

    def __str__(self) -> str:
        return self.with_unit("")

    def with_unit(self, unit: str) -> str:
        """The range as a chart writes it, the unit after the numbers: 158-165cm, 155cm以下, 120斤以上."""
        if math.isinf(self.low):
            return f"{_num(self.high)}{unit}以下"
        if math.isinf(self.high):
            return f"{_num(self.low)}{unit}以上"
        return f"{_num(self.low) if self.low == self.high else f'{_num(self.low)}-{_num(self.high)}'}{unit}"


@dataclass(frozen=True)
class SizeRow:
    """One size of a chart: its label, height range (cm), weight range (斤) and other measures as written."""

    size: str
    height: Range | None
    weight: Range | None
    measures: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SizeChart:
    """An item's sizes, from small to large."""

    rows: tuple[SizeRow, ...]
    name: str = ""  # a shared chart's name (the 尺码表 column); "" for an item's own chart
    notes: tuple[str, ...] = ()  # the chart's own notes, as written under it (偏小一码，建议拍大一码; 误差1-3cm)

    @property
    def uses_height(self) -> bool:
        return any(r.height is not None for r in self.rows)

    @property
    def uses_weight(self) -> bool:
        return any(r.weight is not None for r in self.rows)


# A size written as its 号型 (GB/T 1335): 160/84A is made for a body 160 cm tall with an 84 cm chest; children's
# 110/56 has no letter. The 号 fits heights within HAO_SPAN cm of it (160: 158-162).
HAO_HEADER = "号型"  # a chart's column of each size's 号型 beside S, M, L
_HAO = re.compile(r"(\d{2,3})\s*/\s*(\d{2,3})\s*[YABC]?")
HAO_SPAN = 2.0


def hao_height(size: str) -> Range | None:
    """The heights a 号型 size is made for (160/84A: 158-162 cm); None when the size is no 号型."""
    found = _HAO.fullmatch(unicodedata.normalize("NFKC", size).strip().upper())
    if found is None or not 50 <= int(found.group(1)) <= 200:
        return None
    hao = float(found.group(1))
    return Range(hao - HAO_SPAN, hao + HAO_SPAN)


def hao_girth(size: str) -> float | None:
    """The 型 of a 号型 size: the body's chest of a top, its waist of trousers or a skirt (160/84A: 84 cm); None
    when the size is no 号型."""
    found = _HAO.fullmatch(unicodedata.normalize("NFKC", size).strip().upper())
    if found is None or not 50 <= int(found.group(1)) <= 200:
        return None
    return float(found.group(2))


def parse_range(cell: str, *, kg_to_jin: bool = False, metres: bool = False) -> Range | None:
    """A chart cell such as 158-165, 158~165cm, 95-110斤, 165, 160以下, 180以上; None when it is none of these.

    With `kg_to_jin`, a cell written in kg or 公斤 (50-55kg) is turned into 斤. With `metres` (a 身高 cell),
    one in metres (1.60-1.65m, 1.6-1.65) is turned into cm; without it a cell in metres is no range.
    """
    return _parse_range(cell, kg_to_jin, metres)


@lru_cache(maxsize=4096)  # a catalog's charts repeat the same few cells thousands of times
def _parse_range(cell: str, kg_to_jin: bool, metres: bool) -> Range | None:
    simple = _SIMPLE.fullmatch(cell)
    if simple is not None:  # the common 158-165: no need for the general form
        low, high = float(simple.group(1)), float(simple.group(2))
        found: Range | None = Range(low, high) if low <= high else None
        return _in_cm(found) if metres and found is not None and high < METRES_BELOW else found
    text = _spelled(unicodedata.normalize("NFKC", cell).strip().lower())
    match = _RANGE.match(text)
    if match is None:
        return None
    found = _parse_bounds(text, match)
    if found is None:
        return None
    ends = [v for v in (found.low, found.high) if not math.isinf(v)]
    if _METRE.search(text) or (metres and max(ends) < METRES_BELOW):
        return _in_cm(found) if metres and max(ends) < METRES_BELOW else None
    if kg_to_jin and ("kg" in text or "公斤" in text):
        return Range(found.low * 2, found.high * 2)
    return found


def _spelled(text: str) -> str:
    """An open end or a dash as charts also write them, in the form `_RANGE` reads: ≤160 and 100斤以内 are 160以下
    and 100斤以下, ≥180 and 180+ are 180以上, 160―165 and 160‐165 are 160-165."""
    text = text.translate(_DASHES)
    text = _BELOW_WORDS.sub("以下", _ABOVE_WORDS.sub("以上", text))
    if (sign := _SIGN.match(text)) is not None:
        return sign.group(2) + ("以下" if sign.group(1).startswith(("≤", "<")) else "以上")
    return text[:-1].rstrip() + "以上" if text.endswith("+") else text


def _in_cm(metres: Range) -> Range:
    return Range(round(metres.low * 100, 1), round(metres.high * 100, 1))


def _parse_bounds(text: str, match: re.Match[str]) -> Range | None:
    low, high = float(match.group(1)), match.group(2)
    if "以下" in text:
        return Range(-math.inf, low) if high is None else None
    if "以上" in text:
        return Range(low, math.inf) if high is None else None
    if high is None:
        if re.search(r"[-~～—–至到]", text):
            return None  # "158-" lost its upper bound
        return Range(low, low)
    top = float(high)
    return Range(low, top) if low <= top else None


# A height this far beyond the chart's 身高 is left to the weight (charts' heights are rough, a row is about 5 cm);
# farther, no size of the chart is cut for the buyer.
HEIGHT_SLACK_CM = 5.0
TYPICAL_BMI = 21.0  # as for a buyer's weight without its unit (measures.resolve_weight)


def in_kilograms(pairs: Sequence[tuple[Range, Range]]) -> bool:
    """Whether a chart's weights written without any unit are kilograms: the (height, weight) ranges of its
    rows make a more ordinary body (body-mass index nearer 21) read in kg than in 斤."""
    as_kg = as_jin = 0.0
    for height, weight in pairs:
        metres, value = _middle(height) / 100, _middle(weight)
        if metres <= 0:
            continue
        as_kg += abs(value / metres**2 - TYPICAL_BMI)
        as_jin += abs(value / 2 / metres**2 - TYPICAL_BMI)
    return as_kg < as_jin


def _middle(rng: Range) -> float:
    ends = [v for v in (rng.low, rng.high) if not math.isinf(v)]
    return sum(ends) / len(ends)


def order(rows: Sequence[SizeRow]) -> tuple[SizeRow, ...]:
    """Rows from small to large, by the measures every row gives: weight, then height (the file's order otherwise).

    A measure some rows leave blank does not order them: a blank is no value, not the smallest one.
    """
    by = [m for m in ("weight", "height") if all(getattr(r, m) is not None for r in rows)]

    def key(item: tuple[int, SizeRow]) -> tuple[float, ...]:
        position, row = item
        return (*(getattr(row, m).low for m in by), position)

    return tuple(row for _, row in sorted(enumerate(rows), key=key))


def choose(chart: SizeChart, height_cm: float | None, weight_jin: float | None) -> SizeRow | None:
    """The size for a buyer, by the rule of docs/catalog.md; None when the chart cannot say.

    The row where both measures hold; when they point to different rows, the weight decides; a value on a
    boundary two rows share, or in the gap between two rows, takes the larger size. A row that leaves a
    measure blank is judged on its other measure alone: it holds any value between its neighbours' ranges.
    A height more than HEIGHT_SLACK_CM beyond every row, or beyond a chart of one size, fits no size.
    """
    rows = chart.rows
    heights = _fitting(rows, height_cm, "height") if chart.uses_height else None
    weights = _fitting(rows, weight_jin, "weight") if chart.uses_weight else None
    if len(rows) == 1 and height_cm is not None and heights == []:
        return None  # one size (均码): its 身高 is the whole of it, a height beyond it fits no better than a weight
    if heights == [] and height_cm is not None and _beyond(rows, height_cm) > HEIGHT_SLACK_CM:
        return None  # 190 cm on a chart up to 177: its largest size is cut for someone shorter, say so
    if heights is not None and weights is not None:
        both = [i for i in heights if i in weights]
        if both:
            return rows[max(both)]
        return rows[max(weights)] if weights else None
    if weights:
        return rows[max(weights)]
    if heights and weights is None:
        return rows[max(heights)]
    return None


def ruled_out(chart: SizeChart, height_cm: float | None, weight_jin: float | None) -> bool:
    """Whether the measures known already fit no size, whatever the missing one is: a weight beyond every row
    (130斤 on a 均码 of 80-120), or a height beyond a chart of one size or more than HEIGHT_SLACK_CM beyond all."""
    rows = chart.rows
    if chart.uses_weight and weight_jin is not None and not _fitting(rows, weight_jin, "weight"):
        return True
    if not chart.uses_height or height_cm is None or _fitting(rows, height_cm, "height"):
        return False
    return len(rows) == 1 or _beyond(rows, height_cm) > HEIGHT_SLACK_CM


def _beyond(rows: Sequence[SizeRow], height_cm: float) -> float:
    """How far (cm) a height lies beyond every row's 身高: below the smallest or above the largest; 0 within."""
    ranges = [r.height for r in rows if r.height is not None]
    if not ranges:
        return 0.0
    return max(0.0, min(r.low for r in ranges) - height_cm, height_cm - max(r.high for r in ranges))


def _fitting(rows: Sequence[SizeRow], value: float | None, measure: str) -> list[int]:
    """Positions of the rows whose range of `measure` holds `value` (in a gap: the next larger row).

    A row without that measure holds the values strictly between its own neighbours that give one (M 90-105,
    L blank, XL 120-135: L holds 105 to 120), so a blank cell never makes the advice jump over its size, and
    never takes a value its neighbour's range holds.
    """
    if value is None:
        return []
    ranges = [(i, getattr(r, measure)) for i, r in enumerate(rows) if getattr(r, measure) is not None]
    if not ranges:
        return []
    blank = [i for i, r in enumerate(rows) if getattr(r, measure) is None and _between(ranges, i, value)]
    inside = [i for i, rng in ranges if value in rng]
    if inside or blank:
        return sorted({*inside, *blank})
    larger = [(rng.low, i) for i, rng in ranges if rng.low > value]
    if larger and min(r.low for _, r in ranges) < value:
        return [min(larger)[1]]
    return []


def _between(ranges: Sequence[tuple[int, Range]], position: int, value: float) -> bool:
    """Whether `value` lies strictly between the ranges of the nearest rows below and above `position`."""
    below = max(((i, rng) for i, rng in ranges if i < position), default=None, key=lambda pair: pair[0])
    above = min(((i, rng) for i, rng in ranges if i > position), default=None, key=lambda pair: pair[0])
    low = below[1].high if below is not None else -math.inf
    high = above[1].low if above is not None else math.inf
    return low < value < high


def size_name(label: str) -> str:
    """How an answer names a size: letters and digits get 码 (L码, 38码); 均码, 160/84A stay as written."""
    return f"{label}码" if re.fullmatch(r"[0-9a-zA-Z]+", label) else label


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
