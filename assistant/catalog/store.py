"""The catalog's SQL: items with their attributes, size charts (an item's own, or shared by name), and reads."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from assistant import pg, store
from assistant.catalog.sizing import Range, SizeChart, SizeRow
from assistant.ground.bounded import Bounded
from assistant.i18n import _

OWN = "item"  # a chart that belongs to one item (its 商品ID)
SHARED = "shared"  # a chart several items name in their 尺码表 column


@dataclass(frozen=True)
class Item:
    """An item of the catalog: its id, title, attributes in the file's column order, and its size chart."""

    id: str
    title: str
    attrs: tuple[tuple[str, str], ...]
    chart: SizeChart | None = None
    chart_name: str | None = None  # the shared chart it names, whether imported or not

    def attr(self, name: str) -> str | None:
        return next((value for key, value in self.attrs if key == name), None)


@dataclass(frozen=True)
class ItemRecord:
    """An item as imported: where it came from."""

    item: Item
    source: str


@dataclass(frozen=True)
class ChartRecord:
    """A size chart as imported: whose it is (`kind` OWN or SHARED, `owner` item id or chart name), rows in order."""

    kind: str
    owner: str
    rows: tuple[SizeRow, ...]
    source: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Summary:
    """A line of `catalog list`."""

    id: str
    title: str
    attributes: int
    chart: str  # "own (5 sizes)", "shared 男T恤 (5 sizes)", "shared 男T恤 (not imported)", or ""


def write(
    conn: sqlite3.Connection, items: Sequence[ItemRecord], charts: Sequence[ChartRecord], files: Sequence[str]
) -> None:
    """Replace the given items and charts, each whole, and log the import (call inside one transaction)."""
    now = store.now_ms()
    sizes = sum(len(c.rows) for c in charts)
    conn.execute(
        "INSERT INTO catalog_imports (imported_ms, files, items, charts, sizes) VALUES (?, ?, ?, ?, ?)",
        (now, json.dumps(list(files), ensure_ascii=False), len(items), len(charts), sizes),
    )
    conn.executemany("DELETE FROM catalog_items WHERE item_id = ?", [(r.item.id,) for r in items])
    conn.executemany(
        "INSERT INTO catalog_items (item_id, title, attrs, size_chart, source, imported_ms) VALUES (?, ?, ?, ?, ?, ?)",
        [(r.item.id, r.item.title, _pairs(r.item.attrs), r.item.chart_name, r.source, now) for r in items],
    )
    conn.executemany("DELETE FROM catalog_sizes WHERE kind = ? AND owner = ?", [(c.kind, c.owner) for c in charts])
    conn.executemany(
        "INSERT INTO catalog_sizes (kind, owner, position, size, height_low, height_high, weight_low, weight_high,"
        " measures, source, imported_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                c.kind,
                c.owner,
                n,
                row.size,
                *_bounds(row.height),
                *_bounds(row.weight),
                _pairs(row.measures),
                c.source,
                now,
            )
            for c in charts
            for n, row in enumerate(c.rows)
        ],
    )
    conn.executemany("DELETE FROM catalog_notes WHERE kind = ? AND owner = ?", [(c.kind, c.owner) for c in charts])
    conn.executemany(
        "INSERT INTO catalog_notes (kind, owner, position, note, source, imported_ms) VALUES (?, ?, ?, ?, ?, ?)",
        [(c.kind, c.owner, n, text, c.source, now) for c in charts for n, text in enumerate(c.notes)],
    )


def read_item(conn: sqlite3.Connection, item_id: str, shared: dict[str, SizeChart | None] | None = None) -> Item | None:
    """One item with its chart (its own chart first, else the shared one it names), or None.

    `shared` keeps shared charts already read (many items name the same one).
    """
    row = conn.execute(
        "SELECT item_id, title, attrs, size_chart FROM catalog_items WHERE item_id = ?", (item_id,)
    ).fetchone()
    if row is None:
        return None
    chart = _chart(conn, OWN, row[0])
    name = row[3]
    if chart is None and name:
        if shared is None:
            chart = _chart(conn, SHARED, name)
        else:
            if name not in shared:
                shared[name] = _chart(conn, SHARED, name)
            chart = shared[name]
    return Item(id=row[0], title=row[1], attrs=_unpairs(row[2]), chart=chart, chart_name=name)


def shared_charts(conn: sqlite3.Connection, names: Iterable[str]) -> set[str]:
    """Which of these shared chart names are in the catalog."""
    wanted = sorted(set(names))
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        marks = ",".join("?" * len(chunk))
        sql = f"SELECT DISTINCT owner FROM catalog_sizes WHERE kind = '{SHARED}' AND owner IN ({marks})"
        found.update(r[0] for r in conn.execute(sql, chunk))
    return found


def existing_items(conn: sqlite3.Connection, ids: Iterable[str]) -> int:
    """How many of these item ids the catalog already holds."""
    return len(known_items(conn, ids))


def known_items(conn: sqlite3.Connection, ids: Iterable[str]) -> set[str]:
    """Which of these item ids the catalog holds."""
    wanted = sorted(set(ids))
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        marks = ",".join("?" * len(chunk))
        found.update(r[0] for r in conn.execute(f"SELECT item_id FROM catalog_items WHERE item_id IN ({marks})", chunk))
    return found


def summaries(conn: sqlite3.Connection, *, limit: int, offset: int = 0, query: str = "") -> tuple[int, list[Summary]]:
    """(total matching, one page of items) ordered by id; `query` matches ids and titles."""
    where, params = "", []
    if query:
        where = " WHERE i.item_id = ? OR instr(i.title, ?) > 0"
        params = [query, query]
    total = conn.execute(f"SELECT count(*) FROM catalog_items i{where}", params).fetchone()[0]
    rows = conn.execute(
        "SELECT i.item_id, i.title, json_array_length(i.attrs), i.size_chart,"
        f" (SELECT count(*) FROM catalog_sizes s WHERE s.kind = '{OWN}' AND s.owner = i.item_id),"
        f" (SELECT count(*) FROM catalog_sizes s WHERE s.kind = '{SHARED}' AND s.owner = i.size_chart)"
        f" FROM catalog_items i{where} ORDER BY i.item_id LIMIT ? OFFSET ?",
        [*params, limit, offset],
    ).fetchall()
    out = []
    for item_id, title, attributes, chart_name, own, shared in rows:
        if own:
            chart = _("own (%(n)s sizes)", n=own)
        elif chart_name:
            chart = (
                _("shared %(name)s (%(n)s sizes)", name=chart_name, n=shared)
                if shared
                else _("shared %(name)s (not imported)", name=chart_name)
            )
        else:
            chart = ""
        out.append(Summary(item_id, title, attributes, chart))
    return total, out


# On PostgreSQL the import log is looked at once a second at most: each look is a round trip on the event loop,
# and a customer message's answer asked for its item three times (its title, its facts, its card).
PG_IMPORT_CHECK_S = 1.0


class Catalog:
    """Reads items for the running service on its own read-only connection (the CLI writes).

    Items read are kept (up to `capacity`) until the next import: a look at the import log tells, at each call on
    SQLite, at most every PG_IMPORT_CHECK_S on PostgreSQL (`clock`: monotonic seconds).
    """

    def __init__(
        self, db_path: store.Location, *, capacity: int = 4096, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.db_path = db_path
        self.capacity = capacity
        self._conn: sqlite3.Connection | None = None
        self._items: Bounded[str, Item | None] = Bounded(capacity, on_read=True)  # least recently read go first
        self._shared: dict[str, SizeChart | None] = {}
        self._version: int | None = None
        self._clock = clock
        self._check_every_s = PG_IMPORT_CHECK_S if isinstance(db_path, pg.Location) else 0.0
        self._checked: float | None = None  # when the import log was last looked at

    def item(self, item_id: str) -> Item | None:
        """The item, or None when it is not in the catalog (or there is no database yet)."""
        try:
            if self._conn is None:
                self._conn = store.connect(self.db_path, readonly=True)
            now = self._clock()
            if self._checked is None or now - self._checked >= self._check_every_s:
                version = self._conn.execute("SELECT max(id) FROM catalog_imports").fetchone()[0]
                self._checked = now
                if version != self._version:
                    self._items.clear()
                    self._shared.clear()
                    self._version = version
            if item_id in self._items:  # an item not in the catalog is kept too (None)
                return self._items.get(item_id)
            found = read_item(self._conn, item_id, self._shared)
        except sqlite3.OperationalError:  # no database or no catalog tables yet: nothing is known
            return None
        self._items.put(item_id, found)
        return found

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _chart(conn: sqlite3.Connection, kind: str, owner: str) -> SizeChart | None:
    found = conn.execute(
        "SELECT position, size, height_low, height_high, weight_low, weight_high, measures FROM catalog_sizes"
        " WHERE kind = ? AND owner = ? ORDER BY position",
        (kind, owner),
    ).fetchall()
    rows = [r[1:] for r in found]
    notes = tuple(
        r[0]
        for r in conn.execute(
            "SELECT note FROM catalog_notes WHERE kind = ? AND owner = ? ORDER BY position", (kind, owner)
        ).fetchall()
    )
    if not rows:
        return None
    sizes = tuple(
        SizeRow(
            size=r[0],
            height=_range(r[1], r[2]),
            weight=_range(r[3], r[4]),
            measures=_unpairs(r[5]) if r[5] != "[]" else (),
        )
        for r in rows
    )
    return SizeChart(rows=sizes, name=owner if kind == SHARED else "", notes=notes)


def _bounds(rng: Range | None) -> tuple[float | None, float | None]:
    # SQLite keeps REAL infinities; open ends (160以下, 180以上) are stored as such.
    return (None, None) if rng is None else (rng.low, rng.high)


def _range(low: float | None, high: float | None) -> Range | None:
    if low is None or high is None:
        return None
    return Range(float(low), float(high))


@lru_cache(maxsize=4096)  # sizes of many charts carry the same measures
def _pairs(pairs: tuple[tuple[str, str], ...]) -> str:
    return json.dumps([list(p) for p in pairs], ensure_ascii=False, separators=(",", ":"))


def _unpairs(text: str) -> tuple[tuple[str, str], ...]:
    return tuple((str(k), str(v)) for k, v in json.loads(text))
