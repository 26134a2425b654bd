"""How shops lay their tables out: title rows above the header, a header of two rows under merged cells, several
tables in one sheet or file (a blank row between), and notes of a chart's own (偏小一码，建议拍大一码) (pure)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Sequence

from assistant.catalog.tables import HEADER_ROWS, Table

TITLE_ROWS = HEADER_ROWS - 1  # rows a table may have above its header (a shop's name, an export's title and date)
# Header spellings, by the column they mean (compared without spaces, brackets and units, lower case).
ID_HEADERS = ("商品id", "宝贝id", "item_id", "itemid")
TITLE_HEADERS = ("标题", "商品标题", "宝贝标题", "商品名称", "title")
CHART_HEADERS = ("尺码表", "size_chart", "sizechart")
SIZE_HEADERS = ("尺码", "size", "码数")
HEIGHT_HEADERS = ("身高", "height")
WEIGHT_HEADERS = ("体重", "weight")
_HEADER_NOISE = re.compile(
    r"[\s()（）\[\]【】{}<>《》:：/\\|_\-—–~～、,，.。]|单位|cm|厘米|公分|斤|kg|公斤|千克|米|(?<![a-z])m(?![a-z])"
)
# Words charts put around 身高 and 体重 (参考身高, 建议体重, 适合身高, 体重范围): still that column.
_MEASURE_WORDS = re.compile(r"^(?:参考|建议|适合|推荐|适用|对应)|(?:范围|区间)$")
# A note under a chart reads as a sentence or says what notes say; a lone short name (男款T恤) is no note.
_NOTE_WORDS = re.compile(r"偏大|偏小|拍大|拍小|误差|仅供参考|参考|测量|平铺|建议|注|说明|提示|以上|如有")
_SENTENCE = re.compile(r"[，。；;！!：:,]")
NOTE_CHARS = 6  # a lone cell at least this long (with a Chinese character) is a sentence, a note


def clean(header: str) -> str:
    """A header cell as compared with the spellings above: 身高(cm) is 身高."""
    return _HEADER_NOISE.sub("", unicodedata.normalize("NFKC", header).lower())


def named(cleaned: Sequence[str]) -> dict[str, int]:
    """The columns a header names, by what they are (id, title, chart, size, height, weight)."""
    columns: dict[str, int] = {}
    for key, aliases in (
        ("id", ID_HEADERS), ("title", TITLE_HEADERS), ("chart", CHART_HEADERS), ("size", SIZE_HEADERS),
        ("height", HEIGHT_HEADERS), ("weight", WEIGHT_HEADERS),
    ):  # fmt: skip
        hit = next((i for i, h in enumerate(cleaned) if h in aliases), None)
        if hit is None and key in ("height", "weight"):
            hit = next((i for i, h in enumerate(cleaned) if _MEASURE_WORDS.sub("", h) in aliases), None)
        if hit is not None:
            columns[key] = hit
    return columns


def _is_header(cells: Sequence[str]) -> bool:
    return len(named([clean(c) for c in cells])) >= 2


def split(table: Table) -> list[Table]:
    """The tables a sheet holds: after a blank row, rows with a header of their own (an item list, then a blank
    row and a size chart) are another table; without one (a blank row inside a chart, a note) they go on."""
    rows = ((table.header_row, table.header), *table.rows)
    starts = [0]
    for at in range(1, len(rows)):
        if rows[at][0] == rows[at - 1][0] + 1:
            continue
        ahead = rows[at : at + TITLE_ROWS + 1]
        gap = next((i for i in range(1, len(ahead)) if ahead[i][0] > ahead[i - 1][0] + 1), len(ahead))
        current = rows[starts[-1] : min(at, starts[-1] + TITLE_ROWS + 1)]
        if any(_is_header(cells) for _, cells in current) and any(_is_header(cells) for _, cells in ahead[:gap]):
            starts.append(at)
    parts = [rows[a:b] for a, b in zip(starts, [*starts[1:], len(rows)], strict=True)]
    return [Table(table.source, part[0][1], part[0][0], part[1:]) for part in parts]


def below_title(table: Table) -> Table:
    """The table from its header: title rows above it (【XX旗舰店】尺码表, 宝贝列表导出 2026-12-05) are skipped.

    The header is the first of the top rows that names two of the columns the catalog knows; when none does,
    the first row stays the header (and `importer._columns` says what is wrong with it). A second header row
    under it (身高(cm) and 体重(斤) under a merged 参考身高体重) is read with it: `_two_rows`.
    """
    rows = ((table.header_row, table.header), *table.rows)
    for at, (number, cells) in enumerate(rows[: TITLE_ROWS + 1]):
        if _is_header(cells):
            return _two_rows(Table(table.source, cells, number, rows[at + 1 :]) if at else table)
    return table


def _two_rows(table: Table) -> Table:
    """A header of two rows, as shops draw one with merged cells: 商品ID and 尺码 merged down both rows,
    参考身高体重 merged across 身高(cm) and 体重(斤) below it. The row below is the header's second row when its
    cells under the columns the header names are blank or repeat the header (a cell merged down): a size's row
    names its size there, and it names a column the header did not or fills one the header left blank (the rest
    of a cell merged across). Each column is then named by its lower cell, else its upper one."""
    if not table.rows:
        return table
    number, below = table.rows[0]
    header = table.header
    known = named([clean(c) for c in header]).values()
    if not any(below) or any(i < len(below) and below[i] and below[i] != header[i] for i in known):
        return table
    width = max(len(header), len(below))
    upper, lower = (*header, *[""] * (width - len(header))), (*below, *[""] * (width - len(below)))
    merged = tuple(low or up for up, low in zip(upper, lower, strict=True))
    fills = any(low and not up for up, low in zip(upper, lower, strict=True))  # under a merged cell's blank part
    if not fills and len(named([clean(c) for c in merged])) <= len(known):
        return table  # the row below names no column the header did not: it is no part of the header
    return Table(table.source, merged, table.header_row, table.rows[1:])


def note(cells: Sequence[str], owners: Collection[str]) -> str | None:
    """The note a row of a chart is (偏小一码，建议拍大一码; 以上数据为手工测量，误差1-3cm): a row of one filled cell that
    reads as a note, not a chart's or an item's name (`owners`: the names the table's rows give); else None."""
    filled = [c for c in cells if c]
    if len(filled) != 1:
        return None
    text = unicodedata.normalize("NFKC", filled[0]).strip()
    if text in owners or not re.search(r"[\u4e00-\u9fff]", text):
        return None
    if _NOTE_WORDS.search(text) or _SENTENCE.search(text) or len(text) >= NOTE_CHARS:
        return filled[0].strip()
    return None
