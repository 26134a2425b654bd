"""Tables from files: CSV (UTF-8, UTF-8 with BOM, GBK/GB18030) and XLSX (every sheet), rows numbered as in the file."""

from __future__ import annotations

import csv
import io
import itertools
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from assistant.i18n import _, os_reason
from assistant.safetext import decode_saved_text

# The top rows a table's header may be in: title rows above it (a shop's name, an export's date), then it.
HEADER_ROWS = 11


class FileError(Exception):
    """A file that cannot be read as a table at all (type, encoding, a broken workbook); says why, not which."""


@dataclass(frozen=True)
class Table:
    """One table: where it is (`file` or `file:sheet`), its header and its data rows with their row numbers."""

    source: str
    header: tuple[str, ...]
    header_row: int
    rows: tuple[tuple[int, tuple[str, ...]], ...]


def read_tables(path: Path) -> list[Table]:
    """The tables of a .csv or .txt file (one) or an .xlsx workbook (one per non-empty sheet)."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt", ".tsv"):  # Excel saves 文本文件(制表符分隔) and Unicode 文本 as .txt
        return _table(path.name, _csv_rows(path))
    if suffix == ".xlsx":
        return _workbook(path)
    raise FileError(_("expected a .csv, .txt or .xlsx file"))


def _csv_rows(path: Path) -> list[list[str]]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FileError(_("cannot read: %(reason)s", reason=os_reason(exc))) from None
    found = decode_saved_text(raw)
    if found is None:
        raise FileError(_("not UTF-8 or GBK text"))
    text = found[0]
    delimiter = _delimiter(text)
    try:
        return [
            [cell.strip() for cell in row] for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        ]
    except csv.Error as exc:
        raise FileError(_("not a readable CSV file: %(reason)s", reason=exc)) from None


def _delimiter(text: str) -> str:
    """Comma or tab (a spreadsheet saved as tab-separated text): whichever splits the top rows, where the header
    is, into more filled cells. The first line alone misled: a title row above the header (【XX旗舰店】尺码表，单位
    cm/斤, or a title with no separator at all) made a tab-separated chart read as one column."""
    widths: dict[str, int] = {}
    for delimiter in (",", "\t"):
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        widest = 0
        try:
            for row in itertools.islice((r for r in reader if any(c.strip() for c in r)), HEADER_ROWS):
                widest = max(widest, sum(1 for c in row if c.strip()))
        except csv.Error:  # read below, with the delimiter chosen, to say what is wrong
            pass
        widths[delimiter] = widest
    if widths["\t"] != widths[","]:
        return "\t" if widths["\t"] > widths[","] else ","
    first = text.split("\n", 1)[0]
    return "\t" if "\t" in first and "," not in first else ","


def _workbook(path: Path) -> list[Table]:
    from openpyxl import load_workbook  # ~0.2 s of imports: only when a workbook is read

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except OSError as exc:  # a missing or unreadable file, not a broken workbook: say which, not the errno text
        raise FileError(_("cannot read: %(reason)s", reason=os_reason(exc))) from None
    except Exception as exc:  # openpyxl raises many kinds (zip, XML, key errors) for a file that is no workbook
        raise FileError(_("cannot open as .xlsx: %(reason)s", reason=exc)) from None
    try:
        merged = merged_cells(path)
        tables: list[Table] = []
        for sheet in book.worksheets:
            rows = [[_cell(v) for v in row] for row in sheet.iter_rows(values_only=True)]
            fill_down(rows, merged.get(sheet.title, ()))
            tables += _table(f"{path.name}:{sheet.title}", rows)
        return tables
    finally:
        book.close()


_MERGE = re.compile(rb"<(?:\w+:)?mergeCell\s[^>]*?ref=\"([A-Z]+[0-9]+:[A-Z]+[0-9]+)\"")
_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


def merged_cells(path: Path) -> dict[str, list[str]]:
    """Each sheet's merged ranges (A3:A8), by sheet title: openpyxl's read-only sheets do not give them."""
    from xml.etree import ElementTree

    try:
        with zipfile.ZipFile(path) as archive:
            book = ElementTree.fromstring(archive.read("xl/workbook.xml"))
            rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
            targets = {r.get("Id"): r.get("Target", "") for r in rels}
            found: dict[str, list[str]] = {}
            for sheet in book.findall(".//{*}sheet"):
                target = targets.get(sheet.get(_REL), "")
                name = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
                if name in archive.namelist():
                    refs = _MERGE.findall(archive.read(name))
                    found[sheet.get("name", "")] = [ref.decode() for ref in refs]
            return found
    except (OSError, KeyError, zipfile.BadZipFile, ElementTree.ParseError):  # openpyxl has read it: no merges then
        return {}


def fill_down(rows: list[list[str]], ranges: Sequence[str]) -> None:
    """A cell merged down several rows (A3:A8, one 尺码表 name for a whole chart) reads its value in every row."""
    from openpyxl.utils.cell import range_boundaries

    for ref in ranges:
        first_col, first_row, _last_col, last_row = range_boundaries(ref)
        assert first_col is not None and first_row is not None and last_row is not None
        column, top = first_col - 1, first_row - 1
        if last_row == first_row or top >= len(rows) or column >= len(rows[top]) or not rows[top][column]:
            continue
        for below in rows[top + 1 : last_row]:
            below.extend([""] * (column + 1 - len(below)))
            below[column] = below[column] or rows[top][column]


def _cell(value: Any) -> str:
    """A spreadsheet value as the text a person sees: 6123456789 not 6123456789.0; dates and times as a sheet
    shows them, not Python's ISO form (buyers were told 生产日期是2026-05-01T08:30:00, 保质期是12:00:00)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):  # a typed date too: Excel keeps every date as a date and time
        day = value.date().isoformat()
        return day if value.time() == time() else f"{day} {_clock(value.hour, value.minute, value.second)}"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return _clock(value.hour, value.minute, value.second)
    if isinstance(value, timedelta):  # a duration cell ([h]:mm): 36:00, not "1 day, 12:00:00"
        seconds = round(abs(value.total_seconds()))
        sign = "-" if value < timedelta() else ""
        return sign + _clock(seconds // 3600, seconds // 60 % 60, seconds % 60)
    return str(value).strip()


def _clock(hours: int, minutes: int, seconds: int) -> str:
    """08:30, or 08:30:15 when the seconds are not zero."""
    return f"{hours:02d}:{minutes:02d}" + (f":{seconds:02d}" if seconds else "")


def _table(source: str, rows: list[list[str]]) -> list[Table]:
    """The first non-empty row is the header; empty rows are dropped (numbers stay those of the file)."""
    numbered = [(n, tuple(row)) for n, row in enumerate(rows, 1) if any(cell for cell in row)]
    if not numbered:
        return []
    (header_row, header), *data = numbered
    return [Table(source=source, header=header, header_row=header_row, rows=tuple(data))]
