"""`assistant report` (the supervisors' KPI report) and `assistant simulate` (a synthetic day for demos)."""

from __future__ import annotations

import sqlite3
import sys
from contextlib import closing
from datetime import date
from pathlib import Path

import click

from assistant import store, upgrade
from assistant.cli.common import (
    DAY,
    NAME,
    common_options,
    db_path,
    load,
    nothing_found,
    refuses_log,
    stdout_starts_a_file,
)
from assistant.clock import yesterday
from assistant.config import Config
from assistant.daylog.archive import archived_in, missing_files
from assistant.i18n import N_, _
from assistant.kpi import metrics, report, window

MAX_RANGE_DAYS = 366


def period(config: Config, day: date | None, first: date | None, last: date | None) -> tuple[date, date]:
    """The days a report covers: --date, or --from/--to, or yesterday in the shop's timezone."""
    if day is not None and (first is not None or last is not None):
        raise ValueError(_("--date: give either --date or --from/--to"))
    if (first is None) != (last is None):
        raise ValueError(_("--from/--to: a range needs both"))
    if first is not None and last is not None:
        if last < first:
            raise ValueError(_("--to: %(last)s is before --from %(first)s", last=last, first=first))
        if (last - first).days >= MAX_RANGE_DAYS:
            raise ValueError(_("--to: a range covers at most %(n)s days", n=MAX_RANGE_DAYS))
        return first, last
    if day is None:
        day = yesterday(config.tz)
    return day, day


def _knows(path: store.Location, shop: str) -> bool:
    """Whether the log holds an event of `shop` (a shop whose log holds orders, payments or refunds and no chat
    message yet is reported as the report without --shop finds it)."""
    with closing(store.connect(path, readonly=True)) as conn:
        if not store.has_table(conn, "events"):
            return False
        return conn.execute("SELECT 1 FROM events WHERE shop = ? LIMIT 1", (shop,)).fetchone() is not None


def prepare(path: store.Location) -> None:
    """Apply pending migrations (the KPI indexes) when the database is writable and no service holds it (a service
    running with migrations pending refuses: upgrade.SchemaError); read-only is fine too."""
    try:
        conn = store.connect(path)
        try:
            upgrade.migrate_for_command(conn, path)
        finally:
            conn.close()
    except sqlite3.OperationalError as exc:
        print(_("assistant: could not migrate %(path)s (%(reason)s); the report may be slow", path=path, reason=exc), file=sys.stderr)  # fmt: skip


REPORT_FORMATS = (*report.FORMATS, "xlsx")


def _format_of(out: Path | None) -> str:
    suffix = out.suffix.lower().lstrip(".") if out is not None else ""
    return suffix if suffix in REPORT_FORMATS and suffix != "table" else "table"


@click.command(
    "report",
    short_help=N_("KPI report of a day or a range: table, csv, json, html, xlsx"),
    help=N_("Per-agent KPIs (docs/kpi.md) of a local day (default: yesterday) or of --from/--to summed."),
)
@common_options
@click.option("--date", "day", type=DAY, default=None, help=N_("the day (default: yesterday in the shop's timezone)"))
@click.option("--from", "first", type=DAY, default=None, help=N_("first day of a range"))
@click.option("--to", "last", type=DAY, default=None, help=N_("last day of a range (inclusive)"))
@click.option(
    "--shop",
    type=NAME,
    default=None,
    help=N_("one shop (default: every shop with messages, orders or refunds in the period)"),
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(REPORT_FORMATS),
    default=None,
    help=N_("output format (default: by --out's suffix, .html .csv .json .xlsx; else table)"),
)
@click.option("--out", type=click.Path(path_type=Path), default=None, help=N_("write to this file instead of stdout"))
def report_command(
    config_path: Path,
    db: Path | None,
    day: date | None,
    first: date | None,
    last: date | None,
    shop: str | None,
    fmt: str | None,
    out: Path | None,
) -> int:
    config = load(config_path, db)
    # `--out r.html` alone wrote the text table into r.html: the file's suffix says what it should hold.
    fmt = fmt or _format_of(out)
    metrics.check_kpi_config(config.kpi)
    try:
        first, last = period(config, day, first, last)
    except ValueError as exc:
        print(_("assistant: %(error)s", error=exc), file=sys.stderr)
        return 2
    path = db_path(config)
    if refuses_log(path):
        return 1
    prepare(path)
    changes = window.notice(path, config, first, store.now_ms())
    warnings = window.warnings(changes, config.ui.language, config.tz)
    for said in warnings:  # last week's printed figures differ
        print(_("assistant: %(error)s", error=said), file=sys.stderr)
    reports = []
    if shop is None or _knows(path, shop):  # a typo in --shop printed a report of zeros
        try:
            reports = metrics.build_reports(report.reader(config, path), config, first, last, shop=shop, parallel=True)
        except sqlite3.OperationalError as exc:
            if not report.timed_out(exc):
                raise
            print(_("assistant: %(error)s", error=_(report.TIMED_OUT, s=f"{config.store.report_timeout_s:g}")), file=sys.stderr)  # fmt: skip
            return 1
    if not reports:
        print(nothing_found(config, path, first, last, shop), file=sys.stderr)
    missing = missing_files(config, path, first, last, shop)
    if missing:  # a restore without the archive directory: a report of zeros said nothing
        files = ", ".join(str(each) for each in missing)
        print(_("assistant: archived, but the file is missing (restore [store] archive_dir from the backup): %(files)s", files=files), file=sys.stderr)  # fmt: skip
    archived = archived_in(config, first, last, shop)
    if archived:  # a month's commission run over archived days was short without a word
        days = ", ".join(day.isoformat() for day in archived)
        print(_("assistant: archived, not in the report: %(days)s (`assistant log --date` reads them)", days=days), file=sys.stderr)  # fmt: skip
    asked = metrics.period_text(first, last)
    if fmt == "xlsx":
        return _write_workbook(reports, out, config.ui.language, asked, warnings)
    # In a file: no dead links, and the window's changes in the file itself (a page mailed on had lost them).
    text = report.render(reports, fmt, config=config, log_links=False, period=asked, window_changes=changes)
    if out is None:
        sys.stdout.write(("\ufeff" if fmt == "csv" and stdout_starts_a_file() else "") + text)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        # Excel opens a UTF-8 CSV as Chinese only with a byte-order mark (as `assistant log` writes it).
        out.write_text(text, encoding="utf-8-sig" if fmt == "csv" else "utf-8")
        print(_("wrote %(path)s", path=out), file=sys.stderr)
    return 0


def _write_workbook(
    reports: list[metrics.ShopReport], out: Path | None, language: str, period: str, warnings: list[str]
) -> int:
    if out is None:
        if sys.stdout.isatty():
            print(_("assistant: a workbook is not for the terminal: give --out FILE.xlsx"), file=sys.stderr)
            return 2
        report.render_xlsx(reports, sys.stdout.buffer, language, period=period, window_change=warnings)
        sys.stdout.buffer.flush()
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as f:
        report.render_xlsx(reports, f, language, period=period, window_change=warnings)
    print(_("wrote %(path)s", path=out), file=sys.stderr)
    return 0


@click.command(
    "simulate",
    short_help=N_("fill the database with a realistic synthetic day"),
    help=N_("Log a synthetic day of chats, orders and follow-ups (for the demo and the benchmark)."),
)
@common_options
@click.option("--day", type=DAY, required=True, help=N_("the day to simulate"))
@click.option("--agents", type=click.IntRange(min=1), required=True, help=N_("number of agents"))
@click.option(
    "--customers", type=click.IntRange(min=1), required=True, help=N_("number of customers who write that day")
)
@click.option("--seed", type=int, default=0, show_default=True, help=N_("random seed"))
@click.option("--shop", type=NAME, default="demo", show_default=True, help=N_("shop name"))
def simulate_command(
    config_path: Path, db: Path | None, day: date, agents: int, customers: int, seed: int, shop: str
) -> int:
    from assistant.kpi.simulate import simulate
    from assistant.suggest.engine import load_matcher
    from assistant.suggest.phrases import LibraryError

    config = load(config_path, db)
    try:
        matcher = load_matcher(config)  # the day runs the configured library
    except LibraryError as exc:
        print(_("assistant: the phrase library has problems: %(first)s", first=exc.problems[0]), file=sys.stderr)
        return 1
    try:
        result = simulate(
            db_path(config), day, agents, customers, seed, shop=shop, timezone=config.shop.timezone, matcher=matcher
        )
    except ValueError as exc:
        print(f"assistant: {exc}", file=sys.stderr)
        return 1
    print(
        _(
            "simulated %(shop)s %(day)s: %(customers)s customers, %(agents)s agents, %(messages)s messages,"
            " %(orders)s orders (%(payments)s paid), %(events)s events in %(seconds)s s",
            shop=result.shop,
            day=result.day,
            customers=result.customers,
            agents=result.agents,
            messages=result.messages,
            orders=result.orders,
            payments=result.payments,
            events=result.events,
            seconds=f"{result.seconds:.1f}",
        )
    )
    return 0
