"""Text that leaves the service for spreadsheets and terminals: CSV (and .xlsx) cells that cannot run as
formulas, and terminal text without control characters. Every CSV the project writes goes through
`CsvWriter`; every terminal line built from logged data goes through `terminal`.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterable
from typing import Any, TextIO

# A cell starting with one of these is a formula (or becomes one) in Excel, LibreOffice and Sheets;
# full-width forms too, which some locales accept. Such cells get a leading apostrophe.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")
# C0 and C1 controls (ESC among them) and bidirectional overrides: they drive or disguise a terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_LINE_BREAKS = re.compile(r"[\t\n]")
# "\r\n" (Windows clients) and a lone "\r" (old Mac clients) are line breaks a customer typed: shown as
# one, not as "?". Made "\n" before the controls are replaced, a CR can no longer move the cursor back.
_CARRIAGE_RETURNS = re.compile(r"\r\n?")


def cell(value: Any) -> Any:
    """A value as a spreadsheet may safely read it: a text that would start a formula gets a leading `'`."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class CsvWriter:
    """`csv.writer` whose cells are neutralized (`cell`) and whose fields with a line break are quoted.

    Python's writer quotes a field holding "\\r" only when "\\r" is in the line terminator; a bare CR left
    unquoted starts a new row in a spreadsheet. Rows with one are written with every field quoted.
    """

    def __init__(self, out: TextIO, *, lineterminator: str = "\n") -> None:
        self._plain = csv.writer(out, lineterminator=lineterminator)
        self._quoted = csv.writer(out, lineterminator=lineterminator, quoting=csv.QUOTE_ALL)

    def writerow(self, row: Iterable[Any]) -> None:
        cells = [cell(v) for v in row]
        breaks = any(isinstance(v, str) and "\r" in v for v in cells)
        (self._quoted if breaks else self._plain).writerow(cells)

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def terminal(text: str, *, single_line: bool = False) -> str:
    """`text` with control characters shown as "?" (and tabs and newlines as spaces when `single_line`)."""
    text = _CONTROL.sub("?", _CARRIAGE_RETURNS.sub("\n", text))
    return _LINE_BREAKS.sub(" ", text) if single_line else text


def display_width(text: str) -> int:
    """Terminal columns: CJK wide and fullwidth characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
