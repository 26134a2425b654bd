"""Shoes: a size chart by 脚长 and the buyer's foot length, both in millimetres (pure).

A chart cell is written in cm or mm (23.5, 23-23.5cm, 235, 230-235mm: a length under 40 is in cm); so is the
buyer's 脚长24.5, 脚长245mm, 脚长是24.5厘米. A shoe's chart gives a 脚长 for every size and no 身高 or 体重.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from assistant.catalog.numerals import to_digits
from assistant.catalog.sizing import Range, SizeChart, SizeRow, parse_range

FOOT_MM = (90.0, 330.0)  # a foot length believed: a toddler's 9 cm to 33 cm
CM_BELOW = 40.0  # a length under this is in cm (24.5), else in mm (245)
_D = "[0-9０-９]"
_FOOT = re.compile(
    rf"(?:脚长|脚的长度|脚掌长|脚掌长度)\s*(?:是|有|为|:|约|大概|差不多)?\s*({_D}{{2,3}}(?:\.{_D}{{1,2}})?)"
    r"\s*(mm|毫米|cm|厘米|公分)?"
)
_UNIT = re.compile(r"mm|毫米|cm|厘米|公分")
_MM = re.compile(r"mm|毫米")
_HEADER_NOISE = re.compile(r"[\s()（）\[\]【】:：/_\-]|单位|mm|毫米|cm|厘米|公分|参考|适合|建议|对应|范围")
FOOT_HEADER = "脚长"


def is_foot_header(name: str) -> bool:
    """Whether a chart's column is its 脚长 (脚长(cm), 参考脚长/mm, 脚长范围)."""
    return _HEADER_NOISE.sub("", unicodedata.normalize("NFKC", name).lower()) == FOOT_HEADER


def foot_range(cell: str, *, mm: bool = False) -> Range | None:
    """A chart's 脚长 cell in millimetres (23.5, 23-23.5cm, 235, 230-235mm); None when it is no length.

    `mm`: the column's header says its cells are millimetres.
    """
    text = unicodedata.normalize("NFKC", cell).strip().lower()
    in_mm = mm or _MM.search(text) is not None
    found = parse_range(_UNIT.sub("", text))
    if found is None:
        return None
    ends = [v for v in (found.low, found.high) if abs(v) != float("inf")]
    if not in_mm and ends and max(ends) < CM_BELOW:
        found = Range(found.low * 10, found.high * 10)
    return found


def shoe_chart(chart: SizeChart) -> SizeChart | None:
    """The chart with each size's 脚长 (mm) as its range, smallest first, when it is a shoe's; else None."""
    if chart.uses_height or chart.uses_weight or not chart.rows:
        return None
    rows = []
    for row in chart.rows:
        column = next(((name, value) for name, value in row.measures if is_foot_header(name)), None)
        length = foot_range(column[1], mm=_MM.search(column[0].lower()) is not None) if column else None
        if length is None:
            return None
        rows.append(SizeRow(row.size, length, None, row.measures))
    return SizeChart(tuple(sorted(rows, key=lambda r: r.height.low if r.height else 0.0)), chart.name)


def parse(text: str) -> float | None:
    """The foot length (mm) one message gives (the last it names), or None (never raises on any text)."""
    if not isinstance(text, str) or not text:
        return None
    work = to_digits(unicodedata.normalize("NFKC", text[:500]).lower())
    found = None
    for match in _FOOT.finditer(work):
        value = float(unicodedata.normalize("NFKC", match.group(1)))
        unit = match.group(2) or ""
        mm = value if _MM.fullmatch(unit) or (not unit and value >= CM_BELOW) else value * 10
        found = mm if FOOT_MM[0] <= mm <= FOOT_MM[1] else found
    return found


def combine(texts: Sequence[str]) -> float | None:
    """The buyer's foot length (mm) from their messages, oldest first: the newest wins."""
    found = None
    for text in texts:
        length = parse(text)
        found = length if length is not None else found
    return found
