"""Tables from files: CSV (UTF-8, UTF-8 with BOM, GBK/GB18030) and XLSX (every sheet), rows numbered as in the file."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from assistant.i18n import _, os_reason
from assistant.safetext import decode_saved_text


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
    """The tables of a .csv file (one) or an .xlsx workbook (one per non-empty sheet)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _table(path.name, _csv_rows(path))
    if suffix == ".xlsx":
        return _workbook(path)
    raise FileError(_("expected a .csv or .xlsx file"))


def _csv_rows(path: Path) -> list[list[str]]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FileError(_("cannot read: %(reason)s", reason=os_reason(exc))) from None
    found = decode_saved_text(raw)
    if found is None:
        raise FileError(_("not UTF-8 or GBK text"))
    text = found[0]
    first = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first and "," not in first else ","  # a spreadsheet saved as tab-separated text
    try:
        return [
            [cell.strip() for cell in row] for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        ]
    except csv.Error as exc:
        raise FileError(_("not a readable CSV file: %(reason)s", reason=exc)) from None


def _workbook(path: Path) -> list[Table]:
    from openpyxl import load_workbook  # ~0.2 s of imports: only when a workbook is read

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except OSError as exc:  # a missing or unreadable file, not a broken workbook: say which, not the errno text
        raise FileError(_("cannot read: %(reason)s", reason=os_reason(exc))) from None
    except Exception as exc:  # openpyxl raises many kinds (zip, XML, key errors) for a file that is no workbook
        raise FileError(_("cannot open as .xlsx: %(reason)s", reason=exc)) from None
    try:
        tables: list[Table] = []
        for sheet in book.worksheets:
            rows = [[_cell(v) for v in row] for row in sheet.iter_rows(values_only=True)]
            tables += _table(f"{path.name}:{sheet.title}", rows)
        return tables
    finally:
        book.close()


def _cell(value: Any) -> str:
    """A spreadsheet value as the text a person sees: 6123456789 not 6123456789.0."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    return str(value).strip()


def _table(source: str, rows: list[list[str]]) -> list[Table]:
    """The first non-empty row is the header; empty rows are dropped (numbers stay those of the file)."""
    numbered = [(n, tuple(row)) for n, row in enumerate(rows, 1) if any(cell for cell in row)]
    if not numbered:
        return []
    (header_row, header), *data = numbered
    return [Table(source=source, header=header, header_row=header_row, rows=tuple(data))]
