"""Importing item lists and size charts: every row checked, bad rows reported by number, all or nothing."""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from assistant import upgrade
from assistant.catalog import store
from assistant.catalog.ages import age_range, in_months, is_age_header
from assistant.catalog.bra import bra_size
from assistant.catalog.feet import foot_range, is_foot_header
from assistant.catalog.layout import TITLE_ROWS, below_title, clean, named, note, split
from assistant.catalog.sizing import HAO_HEADER, Range, SizeRow, hao_height, order, parse_range
from assistant.catalog.store import OWN, SHARED, ChartRecord, Item, ItemRecord
from assistant.catalog.tables import FileError, Table, read_tables
from assistant.catalog.units import WEIGHT_UNIT, UnitGuess, unit_guess
from assistant.i18n import _, ngettext

MAX_ID_CHARS = 200  # as for event ids: an item id travels in events
MAX_VALUE_CHARS = 1000
NAMED_ITEMS = 3  # a warning names this many items, then counts the others
_KG = re.compile(r"kg|公斤")
_NOT_IN_ID = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")  # spaces and control characters
# What Excel makes of a long number it was not told is text: 6.00000E+11 (the digits are lost) or, saved from
# a number cell, 600000000011.0 (nothing lost: the id it was).
_SCIENTIFIC = re.compile(r"[+-]?\d+(?:\.\d*)?[eE][+-]?\d+")
_FLOAT_ZERO = re.compile(r"(\d+)\.0+")
# How exports force a cell to stay text, which Excel shows without the marks: ="652301119401", '652301119402.
_AS_TEXT = re.compile(r"=\s*\"(.*)\"|'(.*)", re.DOTALL)


@dataclass(frozen=True)
class Problem:
    """A row (or a whole table) that cannot be imported, and why."""

    source: str
    row: int | None
    message: str
    column: int | None = None  # the cell's column (0 is A), when one cell is the problem

    def __str__(self) -> str:
        where = at(self.source, self.row, self.column) if self.row else self.source
        return _("%(where)s: %(problem)s", where=where, problem=self.message)


@dataclass(frozen=True)
class BlankMeasure:
    """A chart that gives a measure for some sizes and leaves it blank for others (a warning, not a problem)."""

    owner: str  # as a message names it: 商品 600000000001, 尺码表 卫衣尺码
    measure: str  # 身高 or 体重, the column
    sizes: tuple[str, ...]  # the sizes without it

    def __str__(self) -> str:
        other = "身高" if self.measure == "体重" else "体重"
        return _(
            "warning: %(owner)s has no %(measure)s for %(sizes)s although its other sizes have one: advice judges"
            " those sizes by %(other)s alone",
            owner=self.owner,
            measure=self.measure,
            sizes="、".join(self.sizes),
            other=other,
        )


@dataclass(frozen=True)
class MissingChart:
    """A shared chart items name that the catalog does not hold, and those items (a warning, once per chart)."""

    name: str
    items: tuple[str, ...]

    def __str__(self) -> str:
        named = "、".join(self.items[:NAMED_ITEMS])
        more = len(self.items) - NAMED_ITEMS
        if more > 0:
            named += ngettext(" and %(num)d more item", " and %(num)d more items", more)
        return _(
            "warning: size chart %(name)s is not imported, but items name it: %(items)s",
            name=repr(self.name),
            items=named,
        )


@dataclass
class Parsed:
    """Everything read from the files: what can be imported and what cannot."""

    items: list[ItemRecord] = field(default_factory=list)
    charts: list[ChartRecord] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    blanks: list[BlankMeasure] = field(default_factory=list)
    guesses: list[UnitGuess] = field(default_factory=list)
    notes: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # each chart's notes (偏小一码…)


@dataclass(frozen=True)
class Report:
    """What an import did (or, with problems and no `skip_bad`, would have done: nothing was written)."""

    items: int
    replaced: int
    charts: int
    sizes: int
    problems: tuple[Problem, ...]
    written: bool
    missing_charts: tuple[MissingChart, ...] = ()  # shared charts items name that the catalog does not hold
    orphan_charts: tuple[str, ...] = ()  # item ids with a size chart but no item in the catalog (yet)
    blank_measures: tuple[BlankMeasure, ...] = ()  # charts with 身高 or 体重 on some rows only
    unit_guesses: tuple[UnitGuess, ...] = ()  # 体重 columns without a unit anywhere
    imported: tuple[Item, ...] = ()  # the items written


def import_files(conn: sqlite3.Connection, paths: Sequence[Path], *, skip_bad: bool = False) -> Report:
    """Read every file, then write all of it in one transaction; any problem writes nothing unless `skip_bad`.

    With `skip_bad`, a bad item row is left out, and so is a whole size chart with any bad row: an item is
    never half-imported. Re-importing an item replaces its row; re-importing a chart replaces all its sizes.
    """
    parsed = parse_files(paths)
    items, charts = parsed.items, parsed.charts
    upgrade.migrate(conn, repair=False)  # the command migrated first (upgrade.migrate_for_command)
    if parsed.problems and not skip_bad:
        problems, blanks, guesses = tuple(parsed.problems), tuple(parsed.blanks), tuple(parsed.guesses)
        return Report(
            len(items), 0, len(charts), _sizes(charts), problems, False, blank_measures=blanks, unit_guesses=guesses
        )
    conn.execute("BEGIN IMMEDIATE")
    try:
        replaced = store.existing_items(conn, (r.item.id for r in items))
        store.write(conn, items, charts, [p.name for p in paths])
        naming: dict[str, list[str]] = {}  # shared chart: the items that name it, in the files' order
        for r in items:
            if r.item.chart_name:
                naming.setdefault(r.item.chart_name, []).append(r.item.id)
        absent = naming.keys() - store.shared_charts(conn, naming)
        missing = [MissingChart(name, tuple(naming[name])) for name in sorted(absent)]
        owners = [c.owner for c in charts if c.kind == OWN]
        orphans = sorted(set(owners) - store.known_items(conn, owners))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    problems, blanks, guesses = tuple(parsed.problems), tuple(parsed.blanks), tuple(parsed.guesses)
    return Report(
        len(items),
        replaced,
        len(charts),
        _sizes(charts),
        problems,
        True,
        (*missing,),
        (*orphans,),
        blanks,
        guesses,
        tuple(r.item for r in items),
    )


def parse_files(paths: Sequence[Path]) -> Parsed:
    """Read and check every table of every file."""
    parsed = Parsed()
    seen_items: dict[str, tuple[str, int]] = {}
    chart_rows: dict[tuple[str, str], list[tuple[int, SizeRow]]] = {}
    chart_source: dict[tuple[str, str], tuple[str, int]] = {}
    bad_charts: set[tuple[str, str]] = set()
    for path in paths:
        try:
            tables = read_tables(path)
        except FileError as exc:
            parsed.problems.append(Problem(path.name, None, str(exc)))
            continue
        if not tables:
            parsed.problems.append(Problem(path.name, None, _("no rows")))
        for table in (below_title(part) for whole in tables for part in split(whole)):
            columns = _columns(table, parsed.problems)
            if columns is None:
                continue
            if "title" in columns:
                _items(table, columns, seen_items, parsed)
            else:
                _chart_rows(table, columns, chart_rows, chart_source, bad_charts, parsed)
    for key, rows in chart_rows.items():
        if key not in bad_charts:
            kind, owner = key
            sizes = order([r for _, r in rows])
            notes = tuple(dict.fromkeys(parsed.notes.get(key, ())))
            parsed.charts.append(ChartRecord(kind, owner, sizes, _stored_where(*chart_source[key]), notes))
            for measure, name in (("height", "身高"), ("weight", "体重")):
                blank = [r.size for r in sizes if getattr(r, measure) is None]
                if 0 < len(blank) < len(sizes):
                    parsed.blanks.append(BlankMeasure(_owner_name(key), name, tuple(blank)))
    return parsed


def _columns(table: Table, problems: list[Problem]) -> dict[str, int] | None:
    """Which column is which; None (and a problem) for a table that is neither an item list nor a size chart."""
    cleaned = [clean(h) for h in table.header]
    names = [unicodedata.normalize("NFKC", h).strip() for h in table.header]
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if not name:
            if any(i < len(cells) and cells[i] for _, cells in table.rows):
                if len(named(cleaned)) < 2:  # not a header with a blank column: no header at all
                    reason = _(
                        "no header found in the first %(n)s rows: an item list's header names 商品ID and 标题; a"
                        " size chart's names 尺码, 身高 and/or 体重, and 商品ID or 尺码表",
                        n=TITLE_ROWS + 1,
                    )
                    problems.append(Problem(table.source, table.header_row, reason))
                    return None
                problems.append(
                    Problem(table.source, table.header_row, _("column %(n)s has values but no header", n=i + 1))
                )
                return None
            continue
        if name in seen:
            problems.append(
                Problem(table.source, table.header_row, _("column %(name)s appears twice", name=repr(name)), i)
            )
            return None
        seen[name] = i
    columns = named(cleaned)
    if "title" in columns:
        if "id" not in columns:
            problems.append(Problem(table.source, table.header_row, _("an item list needs a 商品ID column")))
            return None
        return columns
    shoes = any(is_foot_header(h) for h in table.header)
    if "size" in columns and (
        "height" in columns
        or "weight" in columns
        or shoes
        or _bra_sizes(table, columns["size"])
        or _hao_sizes(table, _hao_column(table, columns))
    ):
        if ("id" in columns) == ("chart" in columns):
            problems.append(
                Problem(
                    table.source,
                    table.header_row,
                    _(
                        "a size chart has a 商品ID column (one chart per item) or a 尺码表 column (charts shared"
                        " by name), one of the two"
                    ),
                )
            )
            return None
        return columns
    if ("height" in columns or "weight" in columns) and ("id" in columns or "chart" in columns):
        reason = _("a size chart needs a 尺码 column (also 码数 or size): one row per size, its name in that column")
        problems.append(Problem(table.source, table.header_row, reason))
        return None
    if "size" in columns:
        reason = _(
            "a size chart needs a 身高, 体重 or 脚长 column: size advice reads height and weight (shoes: 脚长), so a"
            " chart by other measures alone is not supported"
        )
        problems.append(Problem(table.source, table.header_row, reason))
        return None
    reason = _(
        "neither an item list (商品ID, 标题, attribute columns) nor a size chart (商品ID or 尺码表, 尺码,"
        " 身高 and/or 体重)"
    )
    problems.append(Problem(table.source, table.header_row, reason))
    return None


def _hao_column(table: Table, columns: Mapping[str, int]) -> int:
    """The column that gives each size's 号型: a 号型 column (S, M, L beside 160/84A), else the 尺码 itself."""
    return next((i for i, h in enumerate(table.header) if clean(h) == HAO_HEADER), columns["size"])


def _hao_sizes(table: Table, at: int) -> bool:
    """Whether every size of a table is a 号型 (160/84A): a chart without 身高 reads its heights from them."""
    sizes = [cells[at] for _, cells in table.rows if at < len(cells) and cells[at]]
    return bool(sizes) and all(hao_height(size) is not None for size in sizes)


def _bra_sizes(table: Table, at: int) -> bool:
    """Whether every size of a table is a bra size (75B, 80C): a bra's chart needs no 身高 or 体重."""
    sizes = [cells[at] for _, cells in table.rows if at < len(cells) and cells[at]]
    return bool(sizes) and all(bra_size(size) is not None for size in sizes)


def _items(table: Table, columns: Mapping[str, int], seen: dict[str, tuple[str, int]], parsed: Parsed) -> None:
    known = {columns[key] for key in ("id", "title", "chart") if key in columns}  # any other column is a fact
    attributes = [(i, unicodedata.normalize("NFKC", h).strip()) for i, h in enumerate(table.header) if i not in known]
    attributes = [(i, name) for i, name in attributes if name]
    width = len(table.header)
    for number, row in table.rows:
        cells = _padded(row, width, table.source, number, parsed.problems)
        if cells is None:
            continue
        item_id = _item_id(cells[columns["id"]], table.source, number, parsed.problems, columns["id"])
        if item_id is None:
            continue
        title = cells[columns["title"]]
        if not title:
            reason = _("标题 is empty (商品ID %(id)s)", id=item_id)
            parsed.problems.append(Problem(table.source, number, reason, columns["title"]))
            continue
        if item_id in seen:
            parsed.problems.append(
                Problem(
                    table.source,
                    number,
                    _("商品ID %(id)s is already given at %(where)s", id=item_id, where=at(*seen[item_id])),
                    columns["id"],
                )
            )
            continue
        attrs = [(name, cells[i]) for i, name in attributes if cells[i]]
        too_long = [name for name, value in attrs if len(value) > MAX_VALUE_CHARS]
        if too_long:
            reason = _("%(name)s is longer than %(n)s characters", name=too_long[0], n=MAX_VALUE_CHARS)
            column = next(i for i, name in attributes if name == too_long[0])
            parsed.problems.append(Problem(table.source, number, reason, column))
            continue
        named = cells[columns["chart"]] if "chart" in columns else ""
        where = (table.source, number, parsed.problems, columns.get("chart", 0))
        chart_name = _unexcel(named, "尺码表", *where) if named else None
        if named and chart_name is None:
            continue
        seen[item_id] = (table.source, number)
        item = Item(id=item_id, title=title, attrs=tuple(attrs), chart_name=chart_name)
        parsed.items.append(ItemRecord(item, _stored_where(table.source, number)))


def _chart_rows(
    table: Table,
    columns: Mapping[str, int],
    charts: dict[tuple[str, str], list[tuple[int, SizeRow]]],
    sources: dict[tuple[str, str], tuple[str, int]],
    bad: set[tuple[str, str]],
    parsed: Parsed,
) -> None:
    problems = parsed.problems
    known = set(columns.values())
    measures = [(i, unicodedata.normalize("NFKC", h).strip()) for i, h in enumerate(table.header) if i not in known]
    measures = [(i, name) for i, name in measures if name]
    weight_in_kg = "weight" in columns and _KG.search(table.header[columns["weight"]].lower()) is not None
    guess = unit_guess(table, columns)
    if guess is not None:
        parsed.guesses.append(guess)
        weight_in_kg = guess.kg
    hao: int | None = _hao_column(table, columns)  # without a 身高 column, 160/84A gives the height: 158-162
    if "height" in columns or not _hao_sizes(table, hao or 0):
        hao = None
    width = len(table.header)
    owned = columns["id"] if "id" in columns else columns["chart"]
    above = ""  # the owner cell of the row above: blank below it is how a CSV keeps a cell merged down
    owners: set[str] | None = None  # the names the table's rows give: a lone one is no note
    notes: list[str] = []  # rows of one sentence (偏小一码，建议拍大一码): notes of the table's charts
    keys: list[tuple[str, str]] = []
    for number, row in table.rows:
        if len(row) - row.count("") == 1:  # a size's row fills more: only these can be notes
            if owners is None:
                # names of sizes' rows (a note in the 商品ID column would otherwise be a name it gives itself)
                owners = {
                    r[owned].strip() for _, r in table.rows if owned < len(r) and r[owned] and r.count("") < len(r) - 1
                }
            said = note(row, owners)
            if said is not None:
                notes.append(said)
                continue
        cells = _padded(row, width, table.source, number, problems)
        if cells is None:
            continue
        if not cells[owned] and above:  # most often merged down the chart's rows: a .csv keeps the first row's
            reason = _("%(column)s is empty (the row above has %(above)s): a cell merged down the chart's rows? A .csv keeps a merged cell's value in its first row only: write it in every row, or import the .xlsx", column=table.header[owned], above=repr(above))  # fmt: skip
            problems.append(Problem(table.source, number, reason, owned))
            continue
        above = cells[owned]
        if "id" in columns:
            owner = _item_id(cells[owned], table.source, number, problems, owned)
            if owner is None:
                continue
            key = (OWN, owner)
        else:
            name = cells[columns["chart"]]
            if not name:
                problems.append(Problem(table.source, number, _("尺码表 is empty"), owned))
                continue
            shared = _unexcel(name, "尺码表", table.source, number, problems, owned)
            if shared is None:
                continue
            key = (SHARED, shared)
        if key in sources and sources[key][0] != table.source:
            problems.append(
                Problem(
                    table.source,
                    number,
                    _("%(owner)s already has sizes in %(where)s", owner=_owner_name(key), where=at(*sources[key])),
                    owned,
                )
            )
            bad.add(key)
            continue
        sources.setdefault(key, (table.source, number))
        keys.append(key)
        size = _size_row(cells, columns, measures, (weight_in_kg, hao), table.source, number, problems)
        if size is None:
            bad.add(key)
            continue
        sizes = charts.setdefault(key, [])
        if any(r.size == size.size for _, r in sizes):
            problems.append(
                Problem(
                    table.source,
                    number,
                    _("size %(size)s is given twice for %(owner)s", size=size.size, owner=_owner_name(key)),
                    columns["size"],
                )
            )
            bad.add(key)
            continue
        sizes.append((number, size))
    for key in dict.fromkeys(keys):
        parsed.notes.setdefault(key, []).extend(notes)


def _size_row(
    cells: Sequence[str],
    columns: Mapping[str, int],
    measures: Sequence[tuple[int, str]],
    read: tuple[bool, int | None],  # the weight column in kg; the column of the 号型 that gives the height
    source: str,
    number: int,
    problems: list[Problem],
) -> SizeRow | None:
    size = cells[columns["size"]]
    if not size:
        problems.append(Problem(source, number, _("尺码 is empty"), columns["size"]))
        return None
    weight_in_kg, hao = read
    height = hao_height(cells[hao]) if hao is not None else None
    weight = None
    if "height" in columns and cells[columns["height"]]:
        height = parse_range(cells[columns["height"]], metres=True)
        if height is None:
            problems.append(
                Problem(
                    source,
                    number,
                    _("身高 %(value)s is not a range such as 158-165", value=repr(cells[columns["height"]])),
                    columns["height"],
                )
            )
            return None
    if "weight" in columns and cells[columns["weight"]]:
        cell = cells[columns["weight"]]
        weight = parse_range(cell, kg_to_jin=True)
        if weight is None:
            problems.append(
                Problem(
                    source,
                    number,
                    _("体重 %(value)s is not a range such as 95-110", value=repr(cell)),
                    columns["weight"],
                )
            )
            return None
        if weight_in_kg and not WEIGHT_UNIT.search(cell.lower()):
            weight = Range(weight.low * 2, weight.high * 2)  # the header says kg; the cell gives no unit
    at_foot, foot = next(((i, cells[i]) for i, name in measures if is_foot_header(name) and cells[i]), (0, ""))
    if height is None and weight is None and foot and foot_range(foot) is None:
        reason = _("脚长 %(value)s is not a length such as 24.5 or 240-245", value=repr(foot))
        problems.append(Problem(source, number, reason, at_foot))
        return None
    at_age, named = next(((i, name) for i, name in measures if is_age_header(name) and cells[i]), (0, ""))
    if named and age_range(cells[at_age], months=in_months(named)) is None:
        reason = _("年龄 %(value)s is not an age such as 3岁, 2-3岁 or 6-12个月", value=repr(cells[at_age]))
        problems.append(Problem(source, number, reason, at_age))
        return None
    if height is None and weight is None and not foot and bra_size(size) is None:  # a bra's 75B is its own measure
        reason = _(
            "size %(size)s has neither 身高, 体重 nor 脚长: every size needs one of them (advice reads height and"
            " weight, or a shoe's 脚长; other measures are only shown)",
            size=size,
        )
        problems.append(Problem(source, number, reason))  # the text names the columns: 身高, 体重 and 脚长
        return None
    extra = tuple((name, cells[i]) for i, name in measures if cells[i])
    return SizeRow(size=size, height=height, weight=weight, measures=extra)


def _item_id(value: str, source: str, number: int, problems: list[Problem], column: int) -> str | None:
    if not value:
        problems.append(Problem(source, number, _("商品ID is empty"), column))
        return None
    read = _unexcel(value, "商品ID", source, number, problems, column)
    if read is None:
        return None
    value = read
    if len(value) > MAX_ID_CHARS or _NOT_IN_ID.search(value):
        problems.append(
            Problem(
                source,
                number,
                _(
                    "商品ID %(value)s is not an item id (no spaces or control characters, ≤ 200 characters)",
                    value=repr(value[:40]),
                ),
                column,
            )
        )
        return None
    return value


def _unexcel(value: str, column: str, source: str, number: int, problems: list[Problem], cell: int) -> str | None:
    """An id as Excel shows it: ="600000000011", '600000000011 and 600000000011.0 are 600000000011; None (and a
    problem) for 6.00000E+11, whose digits are lost."""
    value = value.strip()
    as_text = _AS_TEXT.fullmatch(value)
    if as_text is not None:
        value = (as_text.group(1) if as_text.group(1) is not None else as_text.group(2)).strip()
    if _SCIENTIFIC.fullmatch(value):
        problems.append(
            Problem(
                source,
                number,
                _(
                    "%(column)s %(value)s was turned by Excel into a number in scientific notation, and its digits"
                    " are lost: format the %(column)s column as text and export the file again",
                    column=column,
                    value=repr(value),
                ),
                cell,
            )
        )
        return None
    whole = _FLOAT_ZERO.fullmatch(value)
    return whole.group(1) if whole else value


def _stored_where(source: str, number: int) -> str:
    """Where a row came from as the catalog stores it: the same in every language, unlike `at`."""
    return f"{source} row {number}"


def at(source: str, number: int | None, column: int | None = None) -> str:
    """A row of a file as a problem names it (`items.csv 第 3 行`), or a cell (`items.csv 第 3 行 B 列`)."""
    if column is None:
        return _("%(source)s row %(n)s", source=source, n=number)
    return _("%(source)s row %(n)s, column %(column)s", source=source, n=number, column=letter(column))


def letter(column: int) -> str:
    """A column as a spreadsheet names it: 0 is A, 25 Z, 26 AA."""
    name = ""
    column += 1
    while column:
        column, rest = divmod(column - 1, 26)
        name = chr(ord("A") + rest) + name
    return name


def _owner_name(key: tuple[str, str]) -> str:
    kind, owner = key
    return _("item %(id)s", id=owner) if kind == OWN else _("size chart %(name)s", name=owner)


def _padded(row: Sequence[str], width: int, source: str, number: int, problems: list[Problem]) -> Sequence[str] | None:
    """The row's cells, one per header column; None (and a problem) when it has values beyond the header."""
    if len(row) == width:
        return row
    if len(row) < width:
        return (*row, *([""] * (width - len(row))))
    if any(row[width:]):
        beyond = next(i for i in range(width, len(row)) if row[i])
        problems.append(Problem(source, number, _("values beyond the header's %(n)s columns", n=width), beyond))
        return None
    return row[:width]


def _sizes(charts: Sequence[ChartRecord]) -> int:
    return sum(len(c.rows) for c in charts)
