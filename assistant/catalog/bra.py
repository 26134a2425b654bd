"""Bra sizes (75B, 80C, 34B): read from a chart's sizes and from buyers' messages, and the size that under- and
over-bust give, by the usual Chinese rule (a pure module; docs/catalog.md).

The band is the under-bust rounded to 5 cm (73-77 is 75; 72.5 takes the larger); the cup is the over-bust less
the under-bust: A about 10 cm, B 12.5, C 15, D 17.5, E 20, each 2.5 cm more than the last (a difference halfway
between two cups takes the larger). An inch band (32, 34, 36 …, as on cross-border labels) is the cm band it
stands for (34B is 75B).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from assistant.catalog.numerals import to_digits
from assistant.catalog.sizing import SizeChart, SizeRow

CUPS = ("AA", "A", "B", "C", "D", "E", "F", "G")
FIRST_CUP_CM = 7.5  # AA; each later cup 2.5 cm more
CUP_STEP_CM = 2.5
BANDS = (60, 110)  # cm bands believed, every 5 cm
INCH_BANDS = {30: 65, 32: 70, 34: 75, 36: 80, 38: 85, 40: 90, 42: 95, 44: 100}
UNDER_BUST_CM = (55.0, 120.0)  # a measure outside these is no bust measure (a price, a weight)
OVER_BUST_CM = (60.0, 150.0)
# Goods that are a bra, by their title; 保暖内衣 and 秋衣 are thermal underwear, 内衣裤 sets are not charted by cup.
BRA_WORDS = ("文胸", "胸罩", "乳罩", "内衣", "bra", "抹胸", "聚拢")
NOT_BRA_WORDS = ("保暖内衣", "秋衣", "男士", "男款")

_SAYS = r"\s*(?:是|有|为|:|约|大概|差不多)?\s*"
_NUMBER = r"([0-9]{2,3}(?:\.[0-9])?)"
# Buyers shorten them (下围70 上围85, 下胸70): on a bra's chart 下围 is the under-bust, not the hip of 三围.
_UNDER = re.compile(rf"(?:下胸围|胸下围|下围|下胸){_SAYS}{_NUMBER}\s*(?:cm|厘米|公分)?")
_OVER = re.compile(rf"(?<![下中])(?:上胸围|胸上围|上围|上胸|胸围){_SAYS}{_NUMBER}\s*(?:cm|厘米|公分)?")
# 75B, 80c, 34B, 75/B: a band and a cup; a lower-case g after a number is grams (100g), so G counts in capitals only.
_SIZE = re.compile(r"(?<![0-9A-Za-z.])([0-9]{2,3})\s*/?\s*(AA|aa|[A-Ga-f])(?![A-Za-z])")
_CUP = re.compile(r"(?<![0-9A-Za-z])(AA|aa|[A-Ga-g])\s*(?:罩杯|杯)")


@dataclass(frozen=True)
class Bust:
    """What the buyer's messages say of their bust; every field optional, the newest value of each wins."""

    under_cm: float | None = None
    over_cm: float | None = None
    size: tuple[int, str] | None = None  # a size the buyer wears (band in cm, cup)
    said: str = ""  # that size as written (34B)
    cup: str | None = None  # a cup alone (B杯)


def bra_size(label: str) -> tuple[int, str] | None:
    """A chart's or buyer's size label as (band in cm, cup): 75B, 75 B, 34B (75, B); None for any other label."""
    match = _SIZE.fullmatch(unicodedata.normalize("NFKC", label).strip())
    return _size(match.group(1), match.group(2)) if match else None


def _size(band_text: str, cup_text: str) -> tuple[int, str] | None:
    band, cup = int(band_text), cup_text.upper()
    band = INCH_BANDS.get(band, band)
    if not BANDS[0] <= band <= BANDS[1] or band % 5 or cup not in CUPS:
        return None
    return band, cup


def is_bra_chart(chart: SizeChart) -> bool:
    """Whether every size of a chart is a bra size (a chart of 75B, 80C …)."""
    return bool(chart.rows) and all(bra_size(row.size) is not None for row in chart.rows)


def is_bra(title: str) -> bool:
    """Whether an item's title says the goods are a bra (文胸, 内衣 …, not thermal underwear)."""
    folded = unicodedata.normalize("NFKC", title).lower()
    return any(w in folded for w in BRA_WORDS) and not any(w in folded for w in NOT_BRA_WORDS)


def from_bust(under_cm: float, over_cm: float) -> tuple[int, str] | None:
    """The size (band, cup) for an under- and over-bust in cm; None when the difference is no cup (or the band
    is beyond every band)."""
    band = band_of(under_cm)
    step = math.floor((over_cm - under_cm - FIRST_CUP_CM) / CUP_STEP_CM + 0.5)
    return (band, CUPS[step]) if band is not None and 0 <= step < len(CUPS) else None


def band_of(under_cm: float) -> int | None:
    """The band an under-bust makes (73 → 75); None beyond every band."""
    band = 5 * math.floor((under_cm + 2.5) / 5)
    return band if BANDS[0] <= band <= BANDS[1] else None


def find(chart: SizeChart, size: tuple[int, str]) -> SizeRow | None:
    """The chart's row of that size (a row written 34B is 75B)."""
    return next((row for row in chart.rows if bra_size(row.size) == size), None)


def parse(text: str) -> Bust | None:
    """What one message says of the buyer's bust, or None when it says nothing (never raises on any text)."""
    if not isinstance(text, str) or not text:
        return None
    return _parse(text[:500])


@lru_cache(maxsize=10_000)
def _parse(text: str) -> Bust | None:
    work = to_digits(unicodedata.normalize("NFKC", text))
    under = _first(_UNDER, work, UNDER_BUST_CM)
    over = _first(_OVER, work, OVER_BUST_CM)
    rest = _UNDER.sub(" ", _OVER.sub(" ", work))
    size = said = cup = None
    for match in _SIZE.finditer(rest):
        size = _size(match.group(1), match.group(2))
        if size is not None:
            said = match.group(0).replace(" ", "").upper()
            break
    found = _CUP.search(rest)
    if found is not None:
        cup = found.group(1).upper()
    if under is None and over is None and size is None and cup is None:
        return None
    return Bust(under, over, size, said or "", cup)


def combine(texts: Iterable[str]) -> Bust:
    """The buyer's bust from their messages, oldest first: the newest value of each field wins."""
    under = over = None
    size: tuple[int, str] | None = None
    said, cup = "", None
    for text in texts:
        bust = parse(text)
        if bust is None:
            continue
        under = bust.under_cm if bust.under_cm is not None else under
        over = bust.over_cm if bust.over_cm is not None else over
        if bust.size is not None:
            size, said = bust.size, bust.said
        cup = bust.cup if bust.cup is not None else cup
    return Bust(under, over, size, said, cup)


def labels(rows: Sequence[SizeRow]) -> str:
    """A bra chart's sizes as an answer lists them: 70A、75A、75B."""
    return "、".join(row.size for row in rows)


def _first(pattern: re.Pattern[str], text: str, bounds: tuple[float, float]) -> float | None:
    for match in pattern.finditer(text):
        value = float(match.group(1))
        if bounds[0] <= value <= bounds[1]:
            return value
    return None
