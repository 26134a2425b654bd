"""`assistant store copy`: a shop's SQLite log copied into an empty PostgreSQL database (docs/scaling.md); `assistant
store backup`: a copy of it taken while the service runs (docs/events.md)."""

from __future__ import annotations

import sqlite3
import sys
import time
from pathlib import Path

import click

from assistant import logfile, pg
from assistant.cli.common import config_option, load, log_problem
from assistant.cluster.move import MoveRefused, move
from assistant.i18n import N_, _, database_reason, os_reason

PROGRESS_EVERY = 100_000  # rows between two progress lines of one table


@click.group("store", help=N_("the log's database: back it up, move it from SQLite to PostgreSQL"))
def store_group() -> None:
    pass


@store_group.command(
    "copy",
    short_help=N_("copy the SQLite log into an empty PostgreSQL database"),
    help=N_(
        "Copy every table of the SQLite log into an empty PostgreSQL database, in one transaction. Stop the"
        " service first; then point [store] url at the database and start it."
    ),
)
@config_option
@click.option("--from", "source", type=click.Path(path_type=Path), default=None, help=N_("the SQLite file (default: [store] path)"))  # fmt: skip
@click.option("--to", "target", default=None, help=N_("postgresql://user@host:port/database (default: [store] url); the password from the variable [store] password_env names"))  # fmt: skip
def copy_command(config_path: Path, source: Path | None, target: str | None) -> int:
    config = load(config_path)
    path = source.resolve() if source is not None else config.resolve(config.store.path)
    url = target if target is not None else config.store.url
    if not url:
        return _refuse(_("name the PostgreSQL database with --to postgresql://user@host:port/database"))
    if not pg.is_url(url):
        return _refuse(_("%(key)s: expected postgresql://…, got %(value)s", key="--to", value=repr(url)))
    if pg.has_password(url):
        return _refuse(
            _(
                "%(key)s: no password here; write postgresql://user@host:port/database and set the password in the variable [store] password_env names",
                key="--to",
            )  # fmt: skip
        )
    location = pg.Location(url, config.secret(config.store.password_env), config.store.password_env)
    for each in (path, location):  # a missing file, another program's, a server down or refusing: said at once
        problem = log_problem(each)
        if problem is not None:
            print(problem, file=sys.stderr)
            return 1
    started = time.monotonic()
    try:
        copied = move(path, location, _progress)
    except MoveRefused as exc:
        return _refuse(str(exc))
    except sqlite3.Error as exc:
        return _refuse(_("the copy failed and %(target)s is as it was: %(reason)s", target=location, reason=exc))
    width = max(len(c.table) for c in copied)
    print(_("%(source)s → %(target)s, rows per table (SQLite, PostgreSQL):", source=path, target=location))
    for c in copied:
        print(f"  {c.table:<{width}}  {c.rows:>12,}  {c.counted:>12,}")
    rows = sum(c.rows for c in copied)
    seconds = f"{time.monotonic() - started:.1f}"
    print(_("copied %(rows)s rows of %(tables)s tables in %(seconds)s s", rows=f"{rows:,}", tables=len(copied), seconds=seconds))  # fmt: skip
    return 0


@store_group.command(
    "backup",
    short_help=N_("back up the SQLite log, while the service runs"),
    help=N_(
        "Write a consistent copy of the SQLite log to PATH, a new file, while the service may be writing to it:"
        " every event acknowledged before the backup began is in it. To restore it, stop the service, move the log"
        " and its -wal and -shm files aside, copy the backup to the log's path, run assistant followups skip-due, and"
        " start the service."
    ),
)
@config_option
@click.option("--from", "source", type=click.Path(path_type=Path), default=None, help=N_("the SQLite file (default: [store] path)"))  # fmt: skip
@click.argument("path", type=click.Path(path_type=Path))
def backup_command(config_path: Path, source: Path | None, path: Path) -> int:
    config = load(config_path)
    log = source.resolve() if source is not None else config.resolve(config.store.path)
    problem = log_problem(log)
    if problem is not None:
        print(problem, file=sys.stderr)
        return 1
    started = time.monotonic()
    try:
        done = logfile.backup(log, path)
    except logfile.BackupError as exc:
        return _refuse(str(exc))
    except sqlite3.Error as exc:  # a full disk: the copy is removed, the log only read
        return _refuse(_("no backup was written to %(path)s (%(reason)s); the log is as it was", path=path, reason=database_reason(exc)))  # fmt: skip
    except OSError as exc:
        return _refuse(_("no backup was written to %(path)s (%(reason)s); the log is as it was", path=path, reason=os_reason(exc)))  # fmt: skip
    seconds = f"{time.monotonic() - started:.1f}"
    print(_("%(source)s → %(target)s: %(events)s events, %(size)s MB, in %(seconds)s s", source=log, target=done.path, events=f"{done.events:,}", size=f"{done.size / 1_048_576:.1f}", seconds=seconds))  # fmt: skip
    return 0


def _progress(table: str, done: int, total: int) -> None:
    if done == total or (done and done % PROGRESS_EVERY == 0):
        print(_("%(table)s: %(done)s of %(total)s rows", table=table, done=f"{done:,}", total=f"{total:,}"), file=sys.stderr, flush=True)  # fmt: skip


def _refuse(line: str) -> int:
    print(_("assistant: %(reason)s", reason=line), file=sys.stderr)
    return 1
