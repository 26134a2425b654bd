"""Children's clothes by age: a chart's optional 年龄 column and the child's age in the buyer's words (pure).

A chart cell gives an age or a range of ages in years or months (3岁, 2-3岁, 3-4Y, 6-12个月, 18M; a cell without
a unit takes its header's: 月龄 and 年龄(月) are months, any other is years). The buyer's age is read where it
says 岁 or 个月 (3岁, 三岁半, 两岁3个月, 十八个月, 半岁). Ages are kept in months. A chart without the column, or a
buyer who gives no age, gives nothing: an age is never turned into a height by a guess (docs/catalog.md).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.catalog.numerals import to_digits
from assistant.catalog.sizing import Range, SizeChart, SizeRow, choose, parse_range

AGE_HEADER = "年龄"
CHILD_MONTHS = (0.0, 216.0)  # a buyer's age is read up to 18 years: 我30岁 on a children's chart is no child's
_HEADER_NOISE = re.compile(r"[\s()（）\[\]【】:：/_\-]|单位|参考|适合|建议|适用|推荐|对应|范围|段|岁|个月|月|years?|y")
_MONTH_UNIT = re.compile(r"个月|月|(?<![a-z])m(?:onths?)?(?![a-z])")
_YEAR_UNIT = re.compile(r"周岁|岁|(?<![a-z])y(?:ears?|rs?)?(?![a-z])")
_D = "[0-9]"
# 两岁3个月, 3岁半, 3岁, 18个月, 半岁: the child's age (3岁多 is read as 3岁).
_AGE = re.compile(
    rf"(?<![0-9.])(?:({_D}{{1,2}}(?:\.{_D})?)\s*周?岁\s*(?:(半)|(?:零|又)?\s*({_D}{{1,2}})\s*个?月)?"
    rf"|({_D}{{1,2}})\s*个\s*(半)?\s*月|(半)\s*岁)"
)

_TEN = re.compile(r"(?<![0-9])十(?=\s*(?:周?岁|个\s*半?\s*月))")


@dataclass(frozen=True)
class Age:
    """A child's age the buyer gave: in months, and as they wrote it for the answer (3岁, 18个月)."""

    months: float
    said: str


def is_age_header(name: str) -> bool:
    """Whether a chart's column gives each size's age (年龄, 参考年龄, 适合年龄(岁), 月龄, 年龄段)."""
    key = unicodedata.normalize("NFKC", name).lower()
    return "月龄" in key or _HEADER_NOISE.sub("", key) == AGE_HEADER


def in_months(header: str) -> bool:
    """Whether an age column gives months when its cells name no unit (月龄, 年龄(月))."""
    key = unicodedata.normalize("NFKC", header).lower()
    return "月龄" in key or (_MONTH_UNIT.search(key) is not None and _YEAR_UNIT.search(key) is None)


def age_range(cell: str, *, months: bool = False) -> Range | None:
    """A chart's age cell in months (3岁: 36; 2-3岁: 24-36; 6-12个月: 6-12); None when it is no age.

    `months`: the column's header says its cells are months (月龄, 年龄(月)).
    """
    text = unicodedata.normalize("NFKC", cell).strip().lower()
    monthly = _MONTH_UNIT.search(text) is not None or (months and _YEAR_UNIT.search(text) is None)
    found = parse_range(_YEAR_UNIT.sub("", _MONTH_UNIT.sub("", text)))
    if found is None or found.low < 0:
        return None
    return found if monthly else Range(found.low * 12, found.high * 12)


def age_chart(chart: SizeChart) -> SizeChart | None:
    """The chart with each size's age (months) as its range, youngest first, when every size gives one; else None."""
    rows = []
    for row in chart.rows:
        column = next(((name, value) for name, value in row.measures if is_age_header(name)), None)
        ages = age_range(column[1], months=in_months(column[0])) if column else None
        if ages is None:
            return None
        rows.append(SizeRow(row.size, ages, None, row.measures))
    if not rows:
        return None
    return SizeChart(tuple(sorted(rows, key=lambda r: r.height.low if r.height else 0.0)), chart.name)


def told(chart: SizeChart | None) -> bool:
    """Whether a chart gives each size's age: a child's age alone (宝宝3周岁半) asks its size then."""
    return chart is not None and age_chart(chart) is not None


def parse(text: str) -> Age | None:
    """The child's age one message gives (the last it names), or None (never raises on any text)."""
    if not isinstance(text, str) or not text:
        return None
    work = unicodedata.normalize("NFKC", to_digits(unicodedata.normalize("NFKC", text[:500]).lower()))
    work = _TEN.sub("10", work)  # 十岁: a lone 十 is left a word by to_digits (十分), but not before an age's unit
    found = None
    for match in _AGE.finditer(work):
        years, half, extra, count, half_month, half_year = match.groups()
        if years is not None:
            months = float(years) * 12 + (6 if half else float(extra) if extra else 0.0)
        elif count is not None:
            months = float(count) + (0.5 if half_month else 0.0)
        else:
            months = 6.0 if half_year else 0.0
        if CHILD_MONTHS[0] < months <= CHILD_MONTHS[1]:
            found = Age(months, match.group(0).replace(" ", ""))
    return found


def combine(texts: Sequence[str]) -> Age | None:
    """The child's age from the buyer's messages, oldest first: the newest wins."""
    found = None
    for text in texts:
        found = parse(text) or found
    return found


def fit(chart: SizeChart, texts: Sequence[str]) -> tuple[Age, SizeRow | None, Range] | None:
    """The child's age, the size of the chart's 年龄 column that holds it (None: no size does) and the chart's
    ages; None when the chart has no such column or the buyer gave no age. A size on a boundary two sizes share,
    or in a gap between them, is the older one (children grow), as the size rule does."""
    ages = age_chart(chart)
    age = combine(texts) if ages is not None else None
    if ages is None or age is None:
        return None
    row = choose(ages, age.months, None)
    found = next((r for r in chart.rows if row is not None and r.size == row.size), None)
    ranges = [r.height for r in ages.rows if r.height is not None]
    return age, found, Range(min(r.low for r in ranges), max(r.high for r in ranges))


def said(months: Range) -> str:
    """Ages as an answer writes them: 0-6岁, 6-18个月 (months when any end is not a whole year)."""
    ends = [v for v in (months.low, months.high) if abs(v) != float("inf")]
    if all(v % 12 == 0 for v in ends):
        return Range(months.low / 12, months.high / 12).with_unit("岁")
    return months.with_unit("个月")
