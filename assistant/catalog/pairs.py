"""Two sizes of one item compared (M和L差多少, 41跟42差别大吗): each size's row of the item's chart (pure).

The answer is the chart's own figures for the two sizes, side by side, as facts named by the size: the agent (and
the buyer) read the difference from them. Nothing is computed that the chart does not give.
"""

from __future__ import annotations

import re
import unicodedata

from assistant.catalog.sizing import SizeChart, SizeRow, size_name
from assistant.catalog.usual import label

# A size as buyers write it: S, M, XL, 2XL, XXL, 38, 110, 75B; 码 or 号 after it.
_SIZE = r"(?<![0-9a-z])([0-9]{2,3}[a-g]{0,2}|[2-6]?x{0,4}[sml])(?![0-9a-z])\s*(?:码|号)?"
_PAIR = re.compile(rf"{_SIZE}\s*(?:和|跟|与|同|比|对比|、|/|还是)\s*{_SIZE}")
# What asks how the two differ (哪个好 asks which to take: the size advice's)
_DIFFER = ("差多少", "差几", "差多", "差别", "区别", "差距", "不同", "不一样", "相差", "大多少", "小多少", "长多少", "宽多少")  # fmt: skip
_UNIT = re.compile(r"^(.+?)\s*[(（]\s*(cm|厘米|mm|毫米|斤|kg|公斤)\s*[)）]$", re.IGNORECASE)


def asked(chart: SizeChart | None, text: str) -> tuple[SizeRow, SizeRow] | None:
    """The chart's rows of the two sizes a message asks the difference of, in the message's order; None when it
    names no two sizes of the chart or asks nothing of how they differ."""
    if chart is None or not isinstance(text, str):
        return None
    work = unicodedata.normalize("NFKC", text[:200]).lower()
    match = _PAIR.search(work)
    if match is None or not any(word in work[match.end() :] for word in _DIFFER):
        return None
    rows = {label(row.size): row for row in chart.rows}
    first, second = rows.get(label(match.group(1))), rows.get(label(match.group(2)))
    if first is None or second is None or first is second:
        return None
    return first, second


# One size's measure asked (42码脚长多少, L码的衣长是多少, M码适合多高): that size's row, as for two sizes. The measure
# is a word of the chart's (身高, 体重, 脚长, a column's header) with a value asked, or how tall or heavy the size fits;
# a size after 穿 is the one the buyer wears (平时穿M 腰围多少 asks the item's waist of no size).
_MEASURE_WORDS = ("身高", "体重", "脚长")
_ONE = re.compile(
    rf"{_SIZE}\s*的?\s*(?:(?:适合|适用|对应|能穿)?\s*(?:多高|多重|多少斤|几斤|多大体重|多大身高)"
    r"|([\u4e00-\u9fff]{2,4}?)\s*(?:是|有|大概|一般)?\s*(?:多少|多长|多宽|多大|几))"
)


def asked_one(chart: SizeChart | None, text: str) -> SizeRow | None:
    """The chart's row of the one size a message asks a measure of (42码脚长多少); None otherwise."""
    if chart is None or not isinstance(text, str):
        return None
    work = unicodedata.normalize("NFKC", text[:200]).lower()
    match = _ONE.search(work)
    if match is None or work[: match.start()].rstrip().endswith("穿"):
        return None
    word = match.group(2)
    if word is not None:
        headers = {
            _UNIT.sub(r"\1", unicodedata.normalize("NFKC", h).strip()) for row in chart.rows for h, _ in row.measures
        }
        if not any(word.startswith(w) or w.startswith(word) for w in (*_MEASURE_WORDS, *headers) if w):
            return None
    wanted = label(match.group(1))
    return next((row for row in chart.rows if label(row.size) == wanted), None)


def rest(text: str) -> str:
    """The message without the two sizes compared (75B和75C差多少 names no size the buyer wears)."""
    work = unicodedata.normalize("NFKC", text[:200]).lower()
    return _PAIR.sub(" ", work, count=1)


def rest_one(text: str) -> str:
    """The message without the size whose measure it asks (75B下胸围多少 names no size the buyer wears)."""
    work = unicodedata.normalize("NFKC", text[:200]).lower()
    return _ONE.sub(" ", work, count=1)


def figures(row: SizeRow) -> str:
    """What the chart gives of one size, as an answer says it: 身高157-162cm，体重95-105斤，胸围100cm."""
    parts = [f"身高{row.height.with_unit('cm')}"] if row.height is not None else []
    parts += [f"体重{row.weight.with_unit('斤')}"] if row.weight is not None else []
    for header, value in row.measures:
        if not value.strip():
            continue
        unit = _UNIT.match(unicodedata.normalize("NFKC", header).strip())
        parts.append(f"{unit.group(1)}{value}{unit.group(2)}" if unit else f"{header}{value}")
    return "，".join(parts)


def named(row: SizeRow) -> str:
    """A size as its fact is named: M码, 41码; a bra's 75B and 均码 as written."""
    return row.size if _BRA.fullmatch(row.size) else size_name(row.size)


_BRA = re.compile(r"[0-9]{2,3}[a-gA-G]{1,2}")
