"""`assistant catalog import|list|show`: the product catalog (items, attributes, size charts) in the database."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from assistant import store, upgrade
from assistant.cli.common import common_options, db_path, fail, load, refuses_log
from assistant.config import Config, ConfigError
from assistant.i18n import N_, _, ngettext
from assistant.safetext import clip, format_table, terminal

if TYPE_CHECKING:
    from assistant.catalog.sizing import Range
    from assistant.catalog.store import Item


@click.group(
    "catalog",
    short_help=N_("the product catalog: import, list, show"),
    help=N_("import, list or show the product catalog (items, attributes, size charts)"),
)
def catalog() -> None:
    pass


@catalog.command(
    "import",
    short_help=N_("item lists and size charts into the catalog"),
    help=N_("read item lists and size charts (.csv or .txt: UTF-8, GBK or UTF-16; .xlsx); all or nothing"),
)
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--skip-bad", is_flag=True, help=N_("import the good rows; leave out bad items and charts with a bad row")
)
@common_options
def cmd_import(files: tuple[Path, ...], skip_bad: bool, config_path: Path, db: Path | None) -> int:
    """Import every file in one transaction; bad rows are listed by row number (nothing written unless --skip-bad)."""
    from assistant.catalog.importer import import_files

    config = load(config_path, db)
    path = db_path(config)
    if store.exists(path) and refuses_log(path):  # a new file becomes the log
        return 1
    conn = store.connect(path)
    try:
        upgrade.migrate_for_command(conn, path)
        report = import_files(conn, list(files), skip_bad=skip_bad)
    finally:
        conn.close()
    for problem in report.problems:
        print(terminal(str(problem), single_line=True), file=sys.stderr)
    if not report.written:
        fail(ngettext("%(num)d problem; nothing imported (fix it, or use --skip-bad)", "%(num)d problems; nothing imported (fix them, or use --skip-bad)", len(report.problems)))  # fmt: skip
        return 1
    n = len(report.problems)
    left_out = ngettext(", %(num)d problem left out", ", %(num)d problems left out", n) if n else ""
    print(
        _(
            "imported %(items)s items (%(replaced)s replaced), %(charts)s size charts with %(sizes)s sizes",
            items=report.items,
            replaced=report.replaced,
            charts=report.charts,
            sizes=report.sizes,
        )
        + left_out
    )
    for missing in report.missing_charts:
        print(terminal(str(missing)), file=sys.stderr)
    for item_id in report.orphan_charts:
        print(_("warning: item %(id)s has a size chart but is not in the catalog", id=item_id), file=sys.stderr)
    for blank in report.blank_measures:
        print(terminal(str(blank)), file=sys.stderr)
    for guess in report.unit_guesses:
        print(terminal(str(guess)), file=sys.stderr)
    if config.qa.enabled:
        _warn_of_flagged_values(config, report.imported)
    return 0


def _warn_of_flagged_values(config: Config, items: Sequence[Item]) -> None:
    """Name the attribute values the catalog would suggest and the quality inspection would flag."""
    from assistant.catalog.claims import flagged_values
    from assistant.qa.inspector import load_inspector
    from assistant.qa.rules import RulesError

    try:
        inspector = load_inspector(config)
    except (RulesError, ConfigError) as exc:
        reason = "; ".join(exc.problems) if isinstance(exc, RulesError) else str(exc)
        print(terminal(_("warning: attribute values not checked: %(reason)s", reason=reason)), file=sys.stderr)
        return
    for flagged in flagged_values(items, inspector):
        print(terminal(str(flagged), single_line=True), file=sys.stderr)


@catalog.command("list", help=N_("the catalog's items: id, title, attributes, size chart"))
@click.option("--query", "-q", default="", help=N_("only items with this id, or with this text in their title"))
@click.option(
    "--limit", type=click.IntRange(1, 10_000), default=50, show_default=True, help=N_("at most this many items")
)
@click.option("--offset", type=click.IntRange(0), default=0, help=N_("skip this many items first (the next page)"))
@common_options
def cmd_list(query: str, limit: int, offset: int, config_path: Path, db: Path | None) -> int:
    from assistant.catalog.store import summaries

    conn = _reader(config_path, db)
    if conn is None:
        return 1
    try:
        total, rows = summaries(conn, limit=limit, offset=offset, query=query)
    except sqlite3.OperationalError:  # a database from before the catalog: nothing imported yet
        total, rows = 0, []
    finally:
        conn.close()
    table = [["商品ID", "标题", "属性", "尺码表"]]
    table += [[r.id, clip(r.title, 30), str(r.attributes), r.chart] for r in rows]
    print(format_table(table))
    print(_("%(shown)s of %(total)s items", shown=len(rows), total=total))
    return 0


@catalog.command("show", help=N_("one item: title, attributes and size chart"))
@click.argument("item_id")
@common_options
def cmd_show(item_id: str, config_path: Path, db: Path | None) -> int:
    from assistant.catalog.store import read_item

    conn = _reader(config_path, db)
    if conn is None:
        return 1
    try:
        item = read_item(conn, item_id)
    except sqlite3.OperationalError:  # a database from before the catalog: nothing imported yet
        item = None
    finally:
        conn.close()
    if item is None:
        fail(_("item %(id)s is not in the catalog", id=repr(item_id)))
        return 1
    facts = [["商品ID", item.id], ["标题", item.title], *([name, value] for name, value in item.attrs)]
    if item.chart is None:
        note = _("%(name)s (not imported)", name=item.chart_name) if item.chart_name else _("none")
        print(format_table([["", ""], *facts, ["尺码表", note]], max_width=200).split("\n", 2)[2])
        return 0
    print(
        format_table([["", ""], *facts, ["尺码表", item.chart.name or _("its own")]], max_width=200).split("\n", 2)[2]
    )
    names = sorted({name for row in item.chart.rows for name, _ in row.measures})
    # kilograms were turned into 斤 on import; a chart without 身高 or 体重 (a shoe's, a bra's) shows no empty column
    uses = [(m, h) for m, h, used in (("height", "身高(cm)", item.chart.uses_height), ("weight", "体重(斤)", item.chart.uses_weight)) if used]  # fmt: skip
    table = [["尺码", *(header for _m, header in uses), *names]]
    for row in item.chart.rows:
        measures = dict(row.measures)
        ranges = [_range(getattr(row, m)) for m, _h in uses]
        table.append([row.size, *ranges, *(measures.get(n, "") for n in names)])
    print()
    print(format_table(table))
    for note in item.chart.notes:  # as written under the chart
        print(note)
    return 0


def _reader(config_path: Path, db: Path | None) -> sqlite3.Connection | None:
    path = db_path(load(config_path, db))
    if not store.exists(path):
        fail(_("no database at %(path)s; `assistant catalog import FILE` creates it", path=path))
        return None
    if refuses_log(path):
        return None
    return store.connect(path, readonly=True)


def _range(rng: Range | None) -> str:
    return "" if rng is None else str(rng)
