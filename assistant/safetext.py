"""Text that leaves the service for spreadsheets and terminals: CSV (and .xlsx) cells that cannot run as
formulas, and terminal text without control characters. Every CSV the project writes goes through
`CsvWriter`, every supervisors' workbook through `write_workbook`; every terminal line built from logged
data goes through `terminal`. And the text files spreadsheets and Notepad save, read (`decode_saved_text`).
"""

from __future__ import annotations

import codecs
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


# As spreadsheets and Notepad save text in China: UTF-8 with or without a byte-order mark, or GBK, read as its
# superset GB18030.
SAVED_TEXT_ENCODINGS = ("utf-8-sig", "gb18030")


def decode_saved_text(raw: bytes) -> tuple[str, str] | None:
    """A saved text file's text and the encoding it was read in (SAVED_TEXT_ENCODINGS, or UTF-16 after its byte-order
    mark: Excel's "Unicode 文本", tab-separated), or None when none."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            return None
    for encoding in SAVED_TEXT_ENCODINGS:
        try:
            return raw.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    return None


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


def format_table(
    rows: Sequence[Sequence[str]], max_width: int = 60, *, right: Iterable[int] = (), rule: bool = True
) -> str:
    """A plain table whose columns line up for CJK text (wide characters count double): columns `right`
    aligned right (figures), a rule under the first row when `rule`."""
    cells = [[clip(terminal(c, single_line=True), max_width) for c in row] for row in rows]
    widths = [max(display_width(row[i]) for row in cells) for i in range(len(cells[0]))]
    on_right = set(right)
    lines = []
    for n, row in enumerate(cells):
        padded = [
            " " * (w - display_width(c)) + c if i in on_right else c + " " * (w - display_width(c))
            for i, (c, w) in enumerate(zip(row, widths))
        ]
        lines.append("  ".join(padded).rstrip())
        if n == 0 and rule:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def clip(text: str, limit: int) -> str:
    """`text` on one line, cut to `limit` columns with "…"."""
    text = " ".join(text.split())
    if display_width(text) <= limit:
        return text
    out = ""
    for ch in text:
        if display_width(out + ch) > limit - 1:
            break
        out += ch
    return out + "…"


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


@dataclass(frozen=True)
class Sheet:
    """One sheet of a workbook: its title, columns and rows."""

    title: str
    columns: Sequence[Column]
    rows: Iterable[Sequence[Any]]


def write_workbook(title: str, columns: Sequence[Column], rows: Iterable[Sequence[Any]], out: BinaryIO) -> int:
    """Write `rows` as a one-sheet .xlsx workbook to `out`; returns the number of rows (see `write_sheets`)."""
    return write_sheets([Sheet(title, columns, rows)], out)[0]


def _print_setup(sheet: Any) -> None:
    """What a supervisor expects when printing a sheet: the day's 31 columns ran over many A4 pages, the pages
    after the first without a heading."""
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = "9"  # A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0  # as many pages down as the rows take
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_title_rows = "1:1"
    sheet.print_options.gridLines = True  # cells without borders: the lines tell one row from the next on paper
    sheet.oddFooter.center.text = "&P / &N"


def write_sheets(sheets: Sequence[Sheet], out: BinaryIO) -> list[int]:
    """Write each sheet's rows into one .xlsx workbook; returns each sheet's number of rows.

    Texts are text cells: a buyer's "=1+1" or an order number of 19 digits reads as typed, never as a
    formula or a rounded number (the reason supervisors get a workbook and not only the CSV). Numbers
    and datetimes stay numbers, so a column sorts and sums. The heading row is bold and frozen, with
    filters; past Excel's 1,048,576 rows the rows go on in a next sheet ("title 2"). Printed, each sheet
    is landscape A4, one page wide, the heading row on every page and the page number at the foot (`_print_setup`).
    """
    from openpyxl import Workbook  # ~0.2 s of imports: only when a workbook is written
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    bold = Font(bold=True)

    def new_sheet(sheet: Sheet, number: int) -> Any:
        made = book.create_sheet(sheet.title if number == 1 else f"{sheet.title} {number}")
        made.freeze_panes = "A2"
        _print_setup(made)
        for i, column in enumerate(sheet.columns, start=1):
            made.column_dimensions[get_column_letter(i)].width = column.width
        heading = []
        for column in sheet.columns:
            head = WriteOnlyCell(made, value=column.heading)
            head.font = bold
            heading.append(head)
        made.append(heading)
        return made

    counts = []
    for sheet in sheets:
        formats = [c.number_format for c in sheet.columns]
        last = get_column_letter(max(1, len(sheet.columns)))
        parts = [new_sheet(sheet, 1)]
        in_part = count = 0
        for row in sheet.rows:
            if in_part == MAX_SHEET_ROWS - 1:
                parts.append(new_sheet(sheet, len(parts) + 1))
                in_part = 0
            part = parts[-1]
            cells: list[Any] = []
            # A plain value goes in as it is (a text stays a text cell); a cell object only for a text that would
            # start a formula and for a number with a format.
            for i, value in enumerate(row):
                if isinstance(value, str):
                    text = (_NOT_XML.sub("?", value) if _NOT_XML.search(value) else value)[:MAX_CELL_CHARS]
                    if text.startswith("="):
                        made = WriteOnlyCell(part, value=text)
                        made.data_type = "s"  # openpyxl would take it as a formula
                        cells.append(made)
                    else:
                        cells.append(text)
                elif isinstance(value, (int, float)) and not isinstance(value, bool) and formats[i]:
                    made = WriteOnlyCell(part, value=value)
                    made.number_format = formats[i]
                    cells.append(made)
                elif isinstance(value, (int, float, datetime)) and not isinstance(value, bool) or value is None:
                    cells.append(value)
                else:
                    cells.append(str(value))
            part.append(cells)
            in_part += 1
            count += 1
        for i, part in enumerate(parts):
            rows_in = in_part if i == len(parts) - 1 else MAX_SHEET_ROWS - 1
            part.auto_filter.ref = f"A1:{last}{rows_in + 1}"
        counts.append(count)
    book.save(out)
    return counts
