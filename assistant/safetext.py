"""Text that leaves the service for spreadsheets and terminals: CSV (and .xlsx) cells that cannot run as
formulas, and terminal text without control characters. Every CSV the project writes goes through
`CsvWriter`, every supervisors' workbook through `write_workbook`; every terminal line built from logged
data goes through `terminal`.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO, TextIO

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


# ---- workbooks (.xlsx) ---------------------------------------------------------------------------

# What XML 1.0 cannot hold (openpyxl refuses a cell with one): C0 controls but tab and line breaks.
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
MAX_CELL_CHARS = 32_767  # Excel's limit
MAX_SHEET_ROWS = 1_048_576


@dataclass(frozen=True)
class Column:
    """A workbook column: its heading and width (in characters; a CJK character takes about two)."""

    heading: str
    width: float = 12
    number_format: str | None = None  # e.g. "0.0%" for a rate kept as a fraction


def write_workbook(title: str, columns: Sequence[Column], rows: Iterable[Sequence[Any]], out: BinaryIO) -> int:
    """Write `rows` as an .xlsx workbook to `out`; returns the number of rows.

    Texts are text cells: a buyer's "=1+1" or an order number of 19 digits reads as typed, never as a
    formula or a rounded number (the reason supervisors get a workbook and not only the CSV). Numbers
    and datetimes stay numbers, so a column sorts and sums. The heading row is bold and frozen, with
    filters; past Excel's 1,048,576 rows the rows go on in a second sheet ("title 2").
    """
    from openpyxl import Workbook  # ~0.2 s of imports: only when a workbook is written
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    bold = Font(bold=True)
    formats = [c.number_format for c in columns]
    last = get_column_letter(max(1, len(columns)))

    def new_sheet(number: int) -> Any:
        sheet = book.create_sheet(title if number == 1 else f"{title} {number}")
        sheet.freeze_panes = "A2"
        for i, column in enumerate(columns, start=1):
            sheet.column_dimensions[get_column_letter(i)].width = column.width
        heading = []
        for column in columns:
            head = WriteOnlyCell(sheet, value=column.heading)
            head.font = bold
            heading.append(head)
        sheet.append(heading)
        return sheet

    def text_cell(sheet: Any, value: str) -> Any:
        made = WriteOnlyCell(sheet, value=_NOT_XML.sub("?", value)[:MAX_CELL_CHARS])
        made.data_type = "s"  # openpyxl would take a text starting with "=" as a formula
        return made

    sheets = [new_sheet(1)]
    in_sheet = count = 0
    for row in rows:
        if in_sheet == MAX_SHEET_ROWS - 1:
            sheets.append(new_sheet(len(sheets) + 1))
            in_sheet = 0
        sheet = sheets[-1]
        cells: list[Any] = []
        for i, value in enumerate(row):
            if isinstance(value, str):
                cells.append(text_cell(sheet, value))
            elif isinstance(value, (int, float, datetime)) and not isinstance(value, bool):
                made = WriteOnlyCell(sheet, value=value)
                if i < len(formats) and formats[i]:
                    made.number_format = formats[i]
                cells.append(made)
            elif value is None:
                cells.append(None)
            else:
                cells.append(text_cell(sheet, str(value)))
        sheet.append(cells)
        in_sheet += 1
        count += 1
    for i, sheet in enumerate(sheets):
        rows_in = in_sheet if i == len(sheets) - 1 else MAX_SHEET_ROWS - 1
        sheet.auto_filter.ref = f"A1:{last}{rows_in + 1}"
    book.save(out)
    return count
