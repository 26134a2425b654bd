"""`assistant report` (the supervisors' KPI report) and `assistant simulate` (a synthetic day for demos)."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from datetime import date
from pathlib import Path
from typing import Any

from assistant import schema, store
from assistant.cli import add_common, config_from_args, db_path
from assistant.clock import yesterday
from assistant.config import Config
from assistant.kpi import metrics, report

MAX_RANGE_DAYS = 366


def register(subparsers: Any) -> None:
    """Add the `report` and `simulate` subcommands."""
    rep = subparsers.add_parser(
        "report",
        help="KPI report of a day or a range: table, csv, json or html",
        description="Per-agent KPIs (docs/kpi.md) of a local day (default: yesterday) or of --from/--to summed.",
    )
    add_common(rep)
    rep.add_argument("--date", type=_day, help="the day, YYYY-MM-DD (default: yesterday in the shop's timezone)")
    rep.add_argument("--from", dest="first", type=_day, metavar="D", help="first day of a range")
    rep.add_argument("--to", dest="last", type=_day, metavar="D", help="last day of a range (inclusive)")
    rep.add_argument("--shop", help="one shop (default: every shop with messages in the period)")
    rep.add_argument("--format", choices=report.FORMATS, default="table", help="output format (default: table)")
    rep.add_argument("--out", type=Path, help="write to this file instead of stdout")
    rep.set_defaults(func=run_report)

    sim = subparsers.add_parser(
        "simulate",
        help="fill the database with a realistic synthetic day",
        description="Log a synthetic day of chats, orders and follow-ups (for the demo and the benchmark).",
    )
    add_common(sim)
    sim.add_argument("--day", type=_day, required=True, help="the day to simulate, YYYY-MM-DD")
    sim.add_argument("--agents", type=_positive, required=True, help="number of agents")
    sim.add_argument("--customers", type=_positive, required=True, help="number of customers who write that day")
    sim.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    sim.add_argument("--shop", default="demo", help="shop name (default: demo)")
    sim.set_defaults(func=run_simulate)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {text!r}") from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def period(config: Config, day: date | None, first: date | None, last: date | None) -> tuple[date, date]:
    """The days a report covers: --date, or --from/--to, or yesterday in the shop's timezone."""
    if day is not None and (first is not None or last is not None):
        raise ValueError("--date: give either --date or --from/--to")
    if (first is None) != (last is None):
        raise ValueError("--from/--to: a range needs both")
    if first is not None and last is not None:
        if last < first:
            raise ValueError(f"--to: {last} is before --from {first}")
        if (last - first).days >= MAX_RANGE_DAYS:
            raise ValueError(f"--to: a range covers at most {MAX_RANGE_DAYS} days")
        return first, last
    if day is None:
        day = yesterday(config.tz)
    return day, day


def prepare(path: Path) -> None:
    """Apply pending migrations (the KPI indexes) when the database is writable; read-only is fine too."""
    try:
        conn = store.connect(path)
        try:
            schema.migrate(conn)
        finally:
            conn.close()
    except sqlite3.OperationalError as exc:
        print(f"assistant: could not migrate {path} ({exc}); the report may be slow", file=sys.stderr)


def run_report(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    metrics.check_kpi_config(config.kpi)
    try:
        first, last = period(config, args.date, args.first, args.last)
    except ValueError as exc:
        print(f"assistant: {exc}", file=sys.stderr)
        return 2
    path = db_path(config)
    if not path.exists():
        print(f"assistant: no database at {path}", file=sys.stderr)
        return 1
    prepare(path)
    reports = metrics.build_reports(
        lambda: store.connect(path, readonly=True), config, first, last, shop=args.shop, parallel=True
    )
    if not reports:
        print(f"assistant: no messages between {first} and {last}", file=sys.stderr)
    text = report.render(reports, args.format, config=config)
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


def run_simulate(args: argparse.Namespace) -> int:
    from assistant.kpi.simulate import simulate

    config = config_from_args(args)
    try:
        result = simulate(
            db_path(config),
            args.day,
            args.agents,
            args.customers,
            args.seed,
            shop=args.shop,
            timezone=config.shop.timezone,
        )
    except ValueError as exc:
        print(f"assistant: {exc}", file=sys.stderr)
        return 1
    print(
        f"simulated {result.shop} {result.day}: {result.customers} customers, {result.agents} agents,"
        f" {result.messages} messages, {result.orders} orders ({result.payments} paid),"
        f" {result.events} events in {result.seconds:.1f} s"
    )
    return 0

