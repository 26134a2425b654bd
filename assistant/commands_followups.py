"""`assistant followups list` and `assistant followups timers`: what the follow-ups did and what is pending."""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from typing import Any

from assistant import store
from assistant.clock import local_time
from assistant.config import Config
from assistant.followups import store as followup_store
from assistant.hookspecs import FOLLOWUP_STATES


def register(sub: Any) -> None:
    """Add the `followups` subcommand."""
    from assistant.cli import add_common

    parser = sub.add_parser("followups", help="idle follow-ups: recent ones and pending timers")
    commands = parser.add_subparsers(dest="followups_command", required=True, metavar="ACTION")
    listing = commands.add_parser("list", help="the latest follow-ups, newest first")
    add_common(listing)
    listing.add_argument("--state", choices=FOLLOWUP_STATES, default=None, help="only follow-ups in this state")
    listing.add_argument("--shop", default=None, help="only this shop")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (default: 50)")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(func=run_list)
    timers = commands.add_parser("timers", help="armed timers, soonest first")
    add_common(timers)
    timers.add_argument("--limit", type=int, default=50, help="at most this many (default: 50)")
    timers.set_defaults(func=run_timers)


def _open(args: argparse.Namespace) -> tuple[Config, sqlite3.Connection] | None:
    from assistant.cli import config_from_args, db_path

    config = config_from_args(args)
    path = db_path(config)
    if not path.exists():
        print(f"assistant: no database at {path}", file=sys.stderr)
        return None
    conn = store.connect(path, readonly=True)
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'followups'").fetchone() is None:
        print("assistant: no follow-ups yet (the service has not run on this database)", file=sys.stderr)
        conn.close()
        return None
    return config, conn


def run_list(args: argparse.Namespace) -> int:
    opened = _open(args)
    if opened is None:
        return 1
    config, conn = opened
    with conn:
        rows = followup_store.list_followups(conn, state=args.state, shop=args.shop, limit=args.limit)
    if args.json:
        for f in rows:
            print(json.dumps(f.to_json(), ensure_ascii=False))
        return 0
    for f in rows:
        when = _local(config, f.fired_ms)
        error = f"  ({f.last_error})" if f.last_error and f.state != "sent" else ""
        print(f"{when}  {f.state:<9} {f.kind:<16} {f.shop}/{f.conversation}  x{f.attempts}  {f.text}{error}")
    if not rows:
        print("no follow-ups", file=sys.stderr)
    return 0


def run_timers(args: argparse.Namespace) -> int:
    opened = _open(args)
    if opened is None:
        return 1
    config, conn = opened
    with conn:
        timers = sorted(followup_store.armed_timers(conn), key=lambda t: t.due_ms)
    for t in timers[: args.limit]:
        print(f"due {_local(config, t.due_ms)}  {t.shop}/{t.conversation}  agent {t.agent or '-'}  fired {t.fired}")
    print(f"{len(timers)} armed timer(s)", file=sys.stderr)
    return 0


def _local(config: Config, ms: int) -> str:
    return local_time(ms, config.tz).strftime("%Y-%m-%d %H:%M:%S")
