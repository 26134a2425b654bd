"""The size a buyer usually wears (平时穿M, 我一般穿L, 平时穿38码) and how an item runs (偏小一码, 标准) (pure).

A usual size says the item's size only where the item says how its sizes run against the usual ones: an
attribute such as 尺码偏大偏小 (偏小一码: one size up; 偏大一码: one down; 标准, 正码: the same). Where it says
nothing, or says 偏小 without how much, the usual size is no advice: cuts differ between shops (docs/catalog.md).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache

from assistant.catalog import widths
from assistant.catalog.aspects import ASPECTS
from assistant.catalog.sizing import SizeChart, SizeRow
from assistant.catalog.store import Item

_WORN = re.compile(
    r"(?:平时|平常|日常|一般|通常|经常|习惯|基本|都是|都)(?:都|也|是)?(?:穿|买|拿|选)(?:的)?(?:是)?\s*"
    r"(x{0,4}s|m|x{0,4}l|[2-6]xl|\d{2,3})(?![a-z\d])\s*(?:码|号)?"
)
_COUNTS = {"一": 1, "1": 1, "两": 2, "二": 2, "2": 2}
_SHIFT = re.compile(r"(偏大|偏小|大|小)\s*(一|1|两|二|2|半)\s*(?:个)?\s*(?:码|号)")
_TAKE = re.compile(r"(?:拍|拿|选|买)\s*(大|小)\s*(一|1|两|二|2|半)\s*(?:个)?\s*(?:码|号)")
TOLD_CACHE = 4096  # items with a chart: as many as the catalog store keeps read (its capacity)
_TRUE = ("标准", "正码", "正常", "偏差不大", "尺码准", "码数准", "合适")
_RUNS_HEADERS = next(a.headers for a in ASPECTS if "尺码偏大偏小" in a.headers)
RUNS = "尺码偏大偏小"  # the attribute a chart's note of how its sizes run stands for
_RUNS_SAID = re.compile(
    r"偏大|偏小|拍大|拍小|[大小][一1两二2半]\s*[个]?\s*[码号]|正码|标准码|尺码标准|码数标准|尺码正常|码数正常"
)


def told(item: Item) -> tuple[tuple[str, str], ...]:
    """The item's attributes, with its chart's note of how its sizes run (偏小一码，建议拍大一码 under the chart) as
    尺码偏大偏小 when no attribute says it: a shop writes it in either place."""
    chart = item.chart
    return item.attrs if chart is None else _told(item.attrs, chart.notes)


@lru_cache(maxsize=TOLD_CACHE)
def _told(attrs: tuple[tuple[str, str], ...], notes: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """`told` of an item with a chart, worked out once per item (asked up to three times a message, its column names
    normalized each time)."""
    if any(unicodedata.normalize("NFKC", n).strip() in _RUNS_HEADERS for n, _ in attrs):
        return attrs
    # 脚宽、脚背高的亲建议拍大一码 says how to size wide feet, not how the sizes run (widths.py)
    said = next(
        (n for n in notes if _RUNS_SAID.search(unicodedata.normalize("NFKC", n)) and not widths.names_width(n)),
        None,
    )
    return attrs if said is None else (*attrs, (RUNS, said))


def worn(texts: Iterable[str]) -> str | None:
    """The size the buyer says they usually wear (M, 2XL, 38), the newest said; None when none is."""
    found: str | None = None
    for text in texts:
        if not isinstance(text, str):
            continue
        matches = list(_WORN.finditer(unicodedata.normalize("NFKC", text[:500]).lower()))
        if matches:
            found = label(matches[-1].group(1))
    return found


def runs(attrs: Sequence[tuple[str, str]]) -> tuple[str, str, int] | None:
    """How the item's sizes run against the usual ones: (its column, its value, sizes to move: +1 one larger);
    None when the item does not say, or does not say by how much (偏小, 偏大半码)."""
    for name, value in attrs:
        if unicodedata.normalize("NFKC", name).strip() not in _RUNS_HEADERS:
            continue
        said = unicodedata.normalize("NFKC", value)
        found = _TAKE.search(said) or _SHIFT.search(said)
        if found is not None:
            if found.group(2) == "半":
                return None
            step = _COUNTS[found.group(2)]
            return name, value, step if found.group(1).endswith("小") == (found.re is _SHIFT) else -step
        if any(word in said for word in _TRUE) and "偏" not in said:
            return name, value, 0
    return None


def shifted(chart: SizeChart, usual: str, step: int) -> SizeRow | None:
    """The chart's size `step` sizes from the usual one (the chart's order, small to large); None when the chart
    has no such size."""
    labels = [label(unicodedata.normalize("NFKC", row.size).lower()) for row in chart.rows]
    if usual not in labels:
        return None
    at = labels.index(usual) + step
    return chart.rows[at] if 0 <= at < len(chart.rows) else None


def label(size: str) -> str:
    """A size as compared: XXL and 2XL alike, 38码 as 38."""
    size = size.strip().removesuffix("码").upper()
    run = re.fullmatch(r"(X{2,6})(S|L)", size)
    return f"{len(run.group(1))}X{run.group(2)}" if run else size
