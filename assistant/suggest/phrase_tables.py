"""Qianniu-style tables as files: reading .csv/.txt (UTF-8 with or without BOM, GBK; commas or tabs) and .xlsx,
finding the header row, and writing .csv/.xlsx."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from assistant.catalog.tables import fill_down, merged_cells
from assistant.i18n import _
from assistant.safetext import FORMULA_STARTS, CsvWriter, decode_saved_text

COLUMNS = ("分组", "快捷编码", "快捷短语")
# Header spellings seen in exports of Qianniu and similar tools, by the column they mean.
HEADER_ALIASES: Mapping[str, tuple[str, ...]] = {
    "group": ("分组", "分组名", "分组名称", "类目", "分类", "类别", "group", "category"),
    "code": ("快捷编码", "编码", "快捷键", "快捷码", "短语编码", "编号", "code", "shortcut", "key"),
    "text": ("快捷短语", "短语", "短语内容", "内容", "回复", "回复内容", "话术", "文本", "text", "phrase", "content"),
    "image": ("图片", "图片链接", "图片地址", "图像", "image", "picture", "img", "pic"),  # read only to say so
}


class TableError(Exception):
    """The file is not a table we can read (wrong type, no recognizable header)."""


TEXT_SUFFIXES = (".csv", ".txt", ".tsv")  # Excel saves 文本文件(制表符分隔) as .txt
DELIMITERS = (",", "\t")


def read_table(path: Path) -> list[list[str]]:
    """All rows of a .csv/.txt (comma- or tab-separated; UTF-8 with or without BOM, or GB18030) or .xlsx file
    (the first sheet with a header and a row under it), as strings."""
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        raw = path.read_bytes()
        found = decode_saved_text(raw)
        if found is None:
            raise TableError(_undecodable(path.name, raw))
        text, encoding = found
        rows = split_text(text)
        if encoding == "gb18030" and _garbled(text) and not _has_header(rows):
            raise TableError(_("%(file)s: not UTF-8 or GBK text (Big5 or another encoding?): save it as UTF-8", file=path.name))  # fmt: skip
        return rows
    if suffix == ".xlsx":
        from openpyxl import load_workbook

        try:
            book = load_workbook(path, read_only=True, data_only=True)
        except OSError:
            raise  # a missing or unreadable file, not a broken workbook: the command line names it
        except Exception as exc:
            raise TableError(_("%(file)s: cannot open as .xlsx: %(error)s", file=path.name, error=exc)) from None
        try:  # the first sheet with a header: a workbook may open on a sheet of instructions (说明)
            sheets = [
                [["" if v is None else _clean(str(v)) for v in row] for row in sheet.iter_rows(values_only=True)]
                for sheet in book.worksheets
            ]
            names = [sheet.title for sheet in book.worksheets]
        finally:
            book.close()
        merged = merged_cells(path)  # a 分组 merged down its phrases (催付 over A2:A4) is each row's group
        for name, rows in zip(names, sheets, strict=True):
            fill_down(rows, merged.get(name, ()))
        # A sheet of instructions whose one line names the phrase column (这是千牛导出的快捷短语) reads as a
        # one-column table with no phrase: taken first, the export's own sheet was never read and nothing imported.
        headed = [rows for rows in sheets if _has_header(rows)]
        for rows in headed:
            if _has_rows(rows):
                return rows
        if headed:
            return headed[0]
        raise TableError(
            _(
                "%(file)s: no sheet has a header with a phrase column (sheets read: %(sheets)s; a phrase column is "
                "one of: %(names)s…)",
                file=path.name,
                sheets="、".join(names),
                names="、".join(HEADER_ALIASES["text"][:6]),
            )
        )
    raise TableError(_("%(file)s: expected a .xlsx, .csv or .txt file", file=path.name))


def _undecodable(name: str, raw: bytes) -> str:
    """Why a text table cannot be read, with the line where UTF-8 fails when lines before it read as UTF-8 (a
    table pasted together from two programs' files): in a 20,000-row export, the line to open."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        if line > 1:
            return _("%(file)s: not UTF-8 or GBK text: line %(line)s is the first that is not UTF-8 (lines in two encodings?): save the table as UTF-8", file=name, line=line)  # fmt: skip
    return _("%(file)s: not UTF-8 or GBK text", file=name)


def split_text(text: str) -> list[list[str]]:
    """The rows of a delimited text, split at commas or at tabs: whichever finds the wider header."""
    best: list[list[str]] | None = None
    best_width = -2
    error: csv.Error | None = None
    for delimiter in DELIMITERS:
        try:
            rows = [[_clean(c) for c in row] for row in csv.reader(io.StringIO(text), delimiter=delimiter)]
        except csv.Error as exc:  # e.g. a line break inside a cell the other delimiter quotes
            error = exc
            continue
        try:
            at = find_header(rows)
        except TableError:
            width = -1  # a one-column header over delimited rows: the other delimiter may read it
        else:
            width = 0 if at is None else len(map_header(rows[at]))
        if width > best_width:
            best, best_width = rows, width
    if best is None:
        raise TableError(_("cannot read as comma- or tab-separated text: %(error)s", error=error))
    return best


def _has_header(rows: Sequence[Sequence[str]]) -> bool:
    try:
        return find_header(rows) is not None
    except TableError:
        return True  # a header, refused for another reason


def _has_rows(rows: Sequence[Sequence[str]]) -> bool:
    """Whether a table with a header has a filled row below it."""
    try:
        at = find_header(rows)
    except TableError:
        return True
    return at is not None and any(c.strip() for row in rows[at + 1 :] for c in row)


def _garbled(text: str) -> bool:
    """Whether text read as GBK is another encoding's bytes (Big5, Shift-JIS …): GBK maps most of them to its
    user-defined area, kana, Greek and Cyrillic, which a Chinese phrase table hardly holds."""
    wide = [c for c in text if ord(c) > 0x7F]
    odd = sum(1 for c in wide if "\ue000" <= c <= "\uf8ff" or "\u0370" <= c <= "\u04ff" or "\u3040" <= c <= "\u30ff")
    return odd > 0.05 * len(wide)


def _clean(value: str) -> str:
    """A cell as text: stripped, its line breaks "\\n" (a CSV cell keeps Excel's "\\r\\n", an .xlsx one has "\\n"),
    without the `'` a CSV export puts before a text that would start a formula (`'+1元换购` is `+1元换购`)."""
    if value.startswith("'") and value[1:].startswith(FORMULA_STARTS):
        value = value[1:]
    return value.replace("\r\n", "\n").replace("\r", "\n").strip()


def map_header(header: Sequence[str]) -> dict[str, int]:
    """Column index of `group`, `code` and `text` in a header row; headers are matched loosely."""
    found: dict[str, int] = {}
    cleaned = [re.sub(r"[\s*:：()（）\[\]]", "", h).lower() for h in header]
    for column, aliases in HEADER_ALIASES.items():
        for alias in aliases:  # exact spellings first, then headers that contain one
            hits = [i for i, h in enumerate(cleaned) if h == alias.lower() and i not in found.values()]
            if not hits:
                hits = [i for i, h in enumerate(cleaned) if alias.lower() in h and i not in found.values()]
            if hits:
                found[column] = hits[0]
                break
    return found


def find_header(rows: Sequence[Sequence[str]]) -> int | None:
    """The header row, below any title rows: the first naming the phrase column and another one (a title such
    as "快捷短语导出" names at most one) or naming it exactly beside columns of its own (内容,备注), or the phrase
    column alone in a one-column table (TableError when that table's rows hold tabs or commas)."""

    def filled(row: Sequence[str]) -> int:
        return sum(1 for c in row if c.strip())

    for i, row in enumerate(rows):
        columns = map_header(row)
        if "text" not in columns:
            continue
        if filled(row) >= 2 and (len(columns) >= 2 or _names_exactly(row[columns["text"]])):
            return i
        if filled(row) == 1 and all(filled(r) <= 1 for r in rows[i + 1 :]):
            _check_one_column(rows, i)
            return i
    return None


def _names_exactly(name: str) -> bool:
    """Whether a header cell is exactly a name of the phrase column (内容, not a title such as 快捷短语导出)."""
    return re.sub(r"[\s*:：()（）\[\]]", "", name).lower() in {a.lower() for a in HEADER_ALIASES["text"]}


def _check_one_column(rows: Sequence[Sequence[str]], at: int) -> None:
    """Refuse a one-column header whose rows hold tabs or commas: columns the file's reading did not split."""
    for n, row in enumerate(rows[at + 1 :], at + 2):
        if any("\t" in c or "," in c for c in row):
            raise TableError(
                _(
                    "row %(header)s looks like a one-column header, but row %(row)s holds tabs or commas: columns "
                    "that were not split; save the table as .xlsx, or as a comma- or tab-separated .csv",
                    header=at + 1,
                    row=n,
                )
            )


def write_table(rows: Iterable[Sequence[str]], path: Path) -> None:
    """Write rows as .csv (UTF-8 with BOM, so Excel reads the Chinese) or .xlsx."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open("w", encoding="utf-8-sig", newline="") as f:
            CsvWriter(f, lineterminator="\r\n").writerows(rows)
    elif suffix == ".xlsx":
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.title = "快捷短语"
        # Rows counted here: `sheet.max_row` goes through every cell written so far (20,000 phrases: 50 s).
        for n, row in enumerate(rows, 1):
            sheet.append(list(row))
            for column, value in enumerate(row, 1):  # a text cell that Excel shows as it is and never evaluates,
                if isinstance(value, str) and value.startswith(FORMULA_STARTS):
                    written = sheet.cell(row=n, column=column)
                    written.data_type, written.quotePrefix = "s", True  # as typing '= in Excel makes it
        book.save(path)
    else:
        raise TableError(_("%(file)s: expected a .csv or .xlsx file", file=path.name))
