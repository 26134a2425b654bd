"""The unit of a size chart's 体重 column that names none: kilograms or 斤, judged by its rows' heights."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from assistant.catalog.sizing import in_kilograms, parse_range
from assistant.catalog.tables import Table
from assistant.i18n import _

KG_CHART_MAX = 100  # a chart's weights without a unit, all at most this and no 身高 to judge by, may be kg: warn
WEIGHT_UNIT = re.compile(r"kg|公斤|斤")  # a unit written in a cell wins over the header's


@dataclass(frozen=True)
class UnitGuess:
    """A 体重 column that gives no unit in its header or cells: the unit it was read in (a warning)."""

    source: str
    column: str
    kg: bool  # read as kg (its rows' heights say so); False: read as 斤 though its values could be kg

    def __str__(self) -> str:
        if self.kg:
            return _(
                "warning: %(source)s: column %(column)s gives no unit; with the heights of its rows its values are"
                " kilograms, so they were read as kg (write 体重(斤) in the header if they are 斤)",
                source=self.source,
                column=self.column,
            )
        return _(
            "warning: %(source)s: column %(column)s gives no unit and no 身高 to judge by; its values were read as"
            " 斤 (write 体重(kg) in the header if they are kilograms)",
            source=self.source,
            column=self.column,
        )


def unit_guess(table: Table, columns: Mapping[str, int]) -> UnitGuess | None:
    """The unit of a 体重 column that names none (header or cells), judged by its rows' heights; None when it
    names one, or when its values are plainly 斤 (any over 100, with no 身高 to judge by)."""
    if "weight" not in columns:
        return None
    at = columns["weight"]
    header = unicodedata.normalize("NFKC", table.header[at]).strip()
    cells = [row[at].lower() for _, row in table.rows if at < len(row) and row[at]]
    if WEIGHT_UNIT.search(header.lower()) or any(WEIGHT_UNIT.search(c) for c in cells):
        return None
    pairs = []
    for _number, row in table.rows:
        height_cell = row[columns["height"]] if "height" in columns and columns["height"] < len(row) else ""
        height = parse_range(height_cell, metres=True) if height_cell else None
        weight = parse_range(row[at]) if at < len(row) and row[at] else None
        if height is not None and weight is not None:
            pairs.append((height, weight))
    if pairs:
        return UnitGuess(table.source, header, True) if in_kilograms(pairs) else None
    weights = [w for w in (parse_range(c) for c in cells) if w is not None]
    ends = [v for w in weights for v in (w.low, w.high) if not math.isinf(v)]
    if ends and max(ends) <= KG_CHART_MAX:
        return UnitGuess(table.source, header, False)
    return None
