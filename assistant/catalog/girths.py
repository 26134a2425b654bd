"""A buyer's bust, waist and hip (胸围88, 腰围2尺1, 腰围70cm, 臀围95) and the size a chart's column of it gives (pure).

A chart's girth column is read as the body's measure when it gives ranges (胸围 84-88) or its header says so
(参考胸围, 适合腰围, 净胸围): the size whose range holds the buyer's girth, as the size rule reads a height. A
single value under a plain header (胸围 100) is the garment's own measure: the smallest size that measures at
least the buyer's girth and the ease a garment needs around it (docs/catalog.md).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from assistant.catalog.measures import GOODS_CUT
from assistant.catalog.numerals import to_digits
from assistant.catalog.sizing import HAO_HEADER, Range, SizeChart, SizeRow, choose, hao_girth, parse_range

BUST = "胸围"
WAIST = "腰围"
HIP = "臀围"
GIRTH_CM = (40.0, 160.0)  # a girth is believed in this range
CM_PER_CHI = 100 / 3  # 1 市尺 = 10 寸 = 33.3 cm: 2尺1 is 70 cm
# What a garment measures beyond the body it fits at the least: a top or a skirt must pass the bust and hip,
# trousers are sold by the waist they close at.
EASE_CM = {BUST: 4.0, WAIST: 0.0, HIP: 4.0}
_NAMES = {"胸围": BUST, "胸": BUST, "腰围": WAIST, "腰": WAIST, "臀围": HIP, "臀": HIP}
_SAYS = r"\s*(?:是|有|为|:|约|大概|差不多)?\s*"
# 下胸围 and 上胸围 are a bra's (bra.py); 2尺1 and 2.1尺 are 市尺; a lone 寸 (28寸) may be inches and is not read.
# 腰, 胸, 臀 alone not after a word of the goods' cut: 高腰 150, 包臀 160 are the goods and a height.
_GIRTH = re.compile(
    rf"(?<![上下])(?:(胸围|腰围|臀围){_SAYS}|(?<![{GOODS_CUT}])(腰|胸|臀){_SAYS})(\d+(?:\.\d+)?)\s*(?:(尺)\s*(\d)?(?![\d.])\s*寸?|(寸)|cm|厘米|公分)?"
)
# The number before its word (两尺二的腰, 2尺2腰围, 68的腰): a 尺 or a 的 between, as buyers write it.
_GIRTH_BEFORE = re.compile(
    r"(\d+(?:\.\d+)?)\s*(?:(尺)\s*(\d)?(?![\d.])\s*寸?\s*的?|(?:cm|厘米|公分)?\s*的)\s*(胸围|腰围|臀围|腰)"
)
# A 市尺 number with no word of a girth (两尺二, 2尺2, 2.1尺): on trousers and skirts buyers give their waist so, and
# no other measure of a body is 1 to 3 尺 (a height in feet is 4 to 6: measures.py); 裤长三尺一 is a length.
_BARE_CHI = re.compile(r"(?<![\d.长宽高肩袖])(?:([1-3])\s*尺(?!码)\s*(\d)?(?![\d.])\s*寸?|([1-3]\.\d)\s*尺(?!码))")
# A number right after another measure's word (裤长三尺一, 衣长是2尺2, 肩宽 40) is that measure's, never a girth's:
# 裤长三尺一 腰围多少 gives a length and asks the waist.
_BOUND = re.compile(r"(?:长|宽|高|肩|袖|围|身高|个子)\s*(?:是|有|为|:|约|大概|差不多)?\s*$")
_BODY_HEADER = ("参考", "适合", "建议", "适用", "推荐", "净", "身体", "人体")


@dataclass(frozen=True)
class Girth:
    """One girth the buyer gave: which (胸围, 腰围, 臀围) and how much, in cm."""

    name: str
    cm: float

    @property
    def said(self) -> str:
        return f"{self.name}{_num(self.cm)}cm"


def parse(text: str, *, bottom: bool = False) -> list[Girth]:
    """The girths one message gives, each once (the first of each), in cm; [] when none.

    `bottom`: the goods are trousers or a skirt (`is_bottom`), where a 市尺 number alone (两尺二) is the waist.
    """
    if not isinstance(text, str) or not text:
        return []
    work = unicodedata.normalize("NFKC", to_digits(unicodedata.normalize("NFKC", text[:500]).lower()))
    found: dict[str, float] = {}
    # 裤长3尺1 腰围: the number is the length's (裤长3尺1 腰围2尺2 is a waist of 2尺2)
    before = [m for m in _GIRTH_BEFORE.finditer(work) if not _bound(work, m.start())]
    for match in before:
        cm = _cm(_NAMES[match.group(4)], match.group(1), match.group(2), match.group(3))
        if cm is not None and _NAMES[match.group(4)] not in found:
            found[_NAMES[match.group(4)]] = cm
    for match in before:  # read: 两尺二的腰 160 is a waist and a height, not a waist of 160
        work = work[: match.start()] + " " * (match.end() - match.start()) + work[match.end() :]
    for match in _GIRTH.finditer(work):
        name = _NAMES[match.group(1) or match.group(2)]
        work = work[: match.start()] + " " * (match.end() - match.start()) + work[match.end() :]
        if match.group(6):
            continue
        cm = _cm(name, match.group(3), match.group(4), match.group(5))
        if cm is not None and name not in found:
            found[name] = cm
    bare = next((m for m in _BARE_CHI.finditer(work) if not _bound(work, m.start())), None)
    bare = bare if bottom and WAIST not in found else None
    if bare is not None:
        cm = _cm(WAIST, bare.group(1) or bare.group(3), "尺", bare.group(2))
        if cm is not None:
            found[WAIST] = cm
    return [Girth(name, cm) for name, cm in found.items()]


def _bound(work: str, start: int) -> bool:
    """Whether the number at `start` follows another measure's word (裤长 3尺1, 衣长是2尺2): that measure's."""
    return _BOUND.search(work, max(0, start - 8), start) is not None


def _cm(name: str, number: str, chi: str | None, cun: str | None) -> float | None:
    """A girth in cm from its number, and its 尺 and 寸 when written in 市尺 (2尺1); None beyond GIRTH_CM."""
    value = float(number)
    if chi:
        if "." in number and cun:
            return None
        cm = (value + (float(cun) / 10 if cun else 0.0)) * CM_PER_CHI
    elif name == WAIST and value < 5:
        cm = value * CM_PER_CHI  # 腰围2.1: 市尺
    else:
        cm = value
    return round(cm, 1) if GIRTH_CM[0] <= cm <= GIRTH_CM[1] else None


def combine(texts: Iterable[str], *, bottom: bool = False) -> list[Girth]:
    """The buyer's girths from their messages, oldest first: the newest value of each wins (`bottom` as `parse`)."""
    newest: dict[str, float] = {}
    for text in texts:
        newest.update((g.name, g.cm) for g in parse(text, bottom=bottom))
    return [Girth(name, cm) for name, cm in newest.items()]


def column(name: str) -> str | None:
    """Which girth a chart's column header gives (胸围, 参考胸围(cm), 成衣腰围), or None (下胸围 is a bra's)."""
    key = unicodedata.normalize("NFKC", name)
    for girth in (BUST, WAIST, HIP):
        if girth in key and not re.search(rf"[上下]{girth}", key):
            return girth
    return None


def fits(chart: SizeChart, girth: Girth) -> SizeRow | None:
    """The chart's size for one girth; None when the chart has no column of it or no size holds it."""
    body: list[SizeRow] = []
    garment: list[tuple[SizeRow, float]] = []
    for row in chart.rows:
        cell = next(((h, v) for h, v in row.measures if column(h) == girth.name), None)
        rng = parse_range(cell[1]) if cell is not None else None
        if cell is None or rng is None:
            body.append(SizeRow(row.size, None, None))
            continue
        if rng.low < rng.high or any(word in cell[0] for word in _BODY_HEADER):
            body.append(SizeRow(row.size, rng, None))
        else:
            garment.append((row, rng.low))
    if garment and len(garment) == len(chart.rows):
        need = girth.cm + EASE_CM[girth.name]
        return next((row for row, cm in garment if cm >= need), None)
    if garment or all(r.height is None for r in body):
        return None  # a column mixing the garment's measures with the body's, or none at all: nothing to judge
    found = choose(SizeChart(tuple(body)), girth.cm, None)
    return next((row for row in chart.rows if found is not None and row.size == found.size), None)


# GB/T 1335 gives trousers and skirts the waist as their 型 (160/68A), every other garment the chest (160/84A);
# a suit's pieces carry a 号型 each, so a title naming one is not read.
_BOTTOMS = re.compile(r"裤|(?<![连衣衬衫带毛卫恤])裙")
_EITHER = ("套装", "两件套", "三件套")


def is_bottom(title: str) -> bool:
    """Whether goods of `title` are trousers or a skirt (no suit): sold by the waist."""
    return hao_column(title) == WAIST


def hao_column(title: str) -> str | None:
    """Which girth the 型 of a 号型 size gives for goods of `title`: WAIST for trousers and skirts, else BUST; None
    for a suit (its pieces differ)."""
    if any(word in title for word in _EITHER):
        return None
    return WAIST if _BOTTOMS.search(title) else BUST


def with_hao(chart: SizeChart, name: str | None) -> SizeChart:
    """`chart` with the 型 of its 号型 sizes as the body's girth `name` (型 84 among 80, 84, 88: 胸围 82-86, half
    the step to each neighbour), when every size has a 号型 and no column gives that girth; else `chart` itself."""
    if name is None or has(chart, name):
        return chart
    types = [_hao_of(row) for row in chart.rows]
    known = sorted({t for t in types if t is not None})
    if len(known) != len(types) or not known:
        return chart
    steps = [b - a for a, b in zip(known, known[1:], strict=False)]
    half = min(steps) / 2 if steps else 2.0
    header = f"{HAO_HEADER}{name}"
    rows = tuple(
        SizeRow(row.size, row.height, row.weight, (*row.measures, (header, f"{_num(t - half)}-{_num(t + half)}")))
        for row, t in zip(chart.rows, types, strict=True)
        if t is not None
    )
    return SizeChart(rows, chart.name, chart.notes)


def _hao_of(row: SizeRow) -> float | None:
    """The 型 of a row: its 尺码's, else its 号型 column's (S, M, L beside 160/84A)."""
    found = hao_girth(row.size)
    if found is None:
        found = next((hao_girth(value) for header, value in row.measures if header == HAO_HEADER), None)
    return found


def has(chart: SizeChart, name: str) -> bool:
    """Whether the chart gives a column of girth `name`."""
    return any(column(h) == name for row in chart.rows for h, _ in row.measures)


def span(chart: SizeChart, names: Sequence[str]) -> str:
    """What the chart's girth columns cover, as written: 胸围84-100."""
    parts = []
    for name in names:
        ranges = [
            r for row in chart.rows for h, v in row.measures if column(h) == name and (r := parse_range(v)) is not None
        ]
        if ranges:
            parts.append(f"{name}{Range(min(r.low for r in ranges), max(r.high for r in ranges)).with_unit('cm')}")
    return "，".join(parts)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}".rstrip("0").rstrip(".")
