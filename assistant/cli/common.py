"""What every subcommand shares: `--config`/`--db`, loading the config once, day arguments, error lines."""

from __future__ import annotations

import functools
import os
import sqlite3
import stat
import sys
from collections.abc import Callable
from contextlib import closing
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar

import click

from assistant import i18n, pg, store
from assistant.clock import FIRST_YEAR, LAST_YEAR, parse_day
from assistant.config import Config, load_config
from assistant.events import clean_name, shows
from assistant.i18n import N_, _
from assistant.logfile import walowner

F = TypeVar("F", bound=Callable[..., Any])


def config_option(func: F) -> F:
    """`--config PATH`."""
    return click.option(
        "--config",
        "config_path",
        type=click.Path(path_type=Path),
        default=Path("config.toml"),
        show_default=True,
        help=N_("config file"),
    )(func)


def common_options(func: F) -> F:
    """`--config PATH` and `--db PATH`, taken by every subcommand (`store copy` names both stores instead)."""
    func = click.option(
        "--db",
        "db",
        type=str,
        default=None,
        help=N_("SQLite file, or postgresql://… URL (overrides [store] path / url)"),
    )(func)
    return config_option(func)


def load(config_path: Path | None, db: Path | str | None = None, **server: Any) -> Config:
    """The config named by --config (a missing default config.toml means built-in defaults), with overrides."""
    path = config_path
    defaults_only = path is not None and not path.exists() and path == Path("config.toml")
    if defaults_only:
        path = None
    overrides: dict[str, dict[str, object]] = {}
    if db is not None and pg.is_url(str(db)):
        overrides["store"] = {"url": str(db)}
    elif db is not None:
        overrides["store"] = {"path": str(Path(db).resolve()), "url": ""}
    if any(v is not None for v in server.values()):
        overrides["server"] = server
    config = load_config(path, overrides=overrides)
    i18n.use(config.ui.language)  # the command's text in the configured language
    if defaults_only:
        click.echo(
            _(
                "assistant: no config.toml in %(folder)s: running on the built-in defaults (--config names another file)",
                folder=Path.cwd(),
            ),
            err=True,
        )
    return config


def db_path(config: Config) -> store.Location:
    """The log the config points at: the SQLite file, or the PostgreSQL database of `[store] url`."""
    return config.location()


class Day(click.ParamType):
    """A local day written YYYY-MM-DD."""

    name = "YYYY-MM-DD"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> date:
        if isinstance(value, date):
            return value
        text = str(value)
        try:
            return parse_day(text)
        except ValueError:
            pass
        try:
            date.fromisoformat(text)
        except ValueError:
            self.fail(_("expected YYYY-MM-DD, got %(value)s", value=repr(text)), param, ctx)
        self.fail(
            _(
                "expected a day in the years %(first)s–%(last)s, got %(value)s",
                first=FIRST_YEAR,
                last=LAST_YEAR,
                value=text,
            ),
            param,
            ctx,
        )


DAY = Day()


class Name(click.ParamType):
    """A shop's (or agent's) name, read as events' names are (spaces around it and characters that show nothing
    left out: " GeekAcc" finds GeekAcc); not blank, as the webhook refuses an event whose shop is blank."""

    name = "TEXT"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = clean_name(str(value))
        if not shows(text):  # blank, or only fillers (ㅤ): no event names anyone so
            self.fail(_("must not be empty"), param, ctx)
        return text


NAME = Name()


def log_problem(path: store.Location) -> str | None:
    """Why `path` cannot be read as the assistant's log (missing, not SQLite, another program's database),
    or None. A PostgreSQL database is taken as it is (the service creates its tables there) once a connection
    to it opens: a server down or refusing is said in one line at once, as `serve` says it, where the pool's
    attempts printed a warning each and gave up after seconds."""
    if isinstance(path, pg.Location):
        try:
            pg.connect_direct(path).close()
        except sqlite3.Error as exc:
            problem = _("%(path)s: cannot open the database (%(reason)s)", path=path, reason=i18n.database_reason(exc))
            return _("assistant: %(reason)s", reason=problem)
        return None
    if not path.exists():
        return _("assistant: no database at %(path)s", path=path)
    if path.is_dir():  # SQLite's own words for it: "disk I/O error"
        return _("assistant: %(path)s is a directory: --db names the log's file (data/assistant.db)", path=path)
    # A file copied over the log after the service's last commit, then a kill: opening it (even to read) would take the
    # -wal of the file before as part of it, rebuild the -shm, and the next start could no longer tell (walowner).
    if walowner.foreign_wal(path):
        return _(
            "assistant: %(path)s changed since the service last wrote to it (a backup copied over it?), and %(path)s-wal beside it holds the commits of the file before: reading it now would mix the two logs. Nothing was opened; the service's start says what to do",
            path=path,
        )  # fmt: skip
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        return _("assistant: %(path)s is not a SQLite database (%(reason)s)", path=path, reason=exc)
    if tables and "events" not in tables:  # an empty file is a new log; someone else's tables are not ours
        return _("assistant: %(path)s is another program's database, not the assistant's log", path=path)
    return None


def refuses_log(path: store.Location) -> bool:
    """Say on stderr why `path` cannot be read as the log (`log_problem`); whether it was refused."""
    problem = log_problem(path)
    if problem is not None:
        print(problem, file=sys.stderr)
    return problem is not None


def nothing_found(config: Config, path: store.Location, first: date, last: date, shop: str | None) -> str:
    """The line for a day (or range) with nothing to show, naming the latest day with data when there is one."""
    from assistant.clock import day_bounds, local_day
    from assistant.kpi.logged import latest_message_ms, logged_shops

    tomorrow = local_day(store.now_ms(), config.tz) + timedelta(days=1)  # a future-stamped message is no such day
    with closing(store.connect(path, readonly=True)) as conn:
        logged = store.has_table(conn, "messages")
        shops = logged_shops(conn) if logged else []
        known = logged and (shop is None or shop in shops)
        newest = latest_message_ms(conn, shop, day_bounds(tomorrow, config.tz)[0]) if known else None
    if first == last:
        line = _("assistant: no messages on %(day)s", day=first)
    else:
        line = _("assistant: no messages between %(first)s and %(last)s", first=first, last=last)
    if shop is not None and shop not in shops and shops:
        return line + _("; the log has no shop %(shop)s (its shops: %(shops)s)", shop=shop, shops=", ".join(shops))
    if newest is None:
        return line + _(" (the log is empty)")
    return line + _("; the latest day with data is %(day)s", day=local_day(newest, config.tz))


def stdout_starts_a_file() -> bool:
    """Whether standard output is the start of a regular file (`> report.csv`): a CSV there gets the byte-order
    mark Excel needs to read UTF-8 as Chinese, as one written with --out does; a pipe or a terminal does not."""
    try:
        fd = sys.stdout.fileno()
        return stat.S_ISREG(os.fstat(fd).st_mode) and os.lseek(fd, 0, os.SEEK_CUR) == 0
    except (OSError, ValueError, AttributeError):  # a replaced stdout (tests, embedding) has no file behind it
        return False


def os_problem(exc: OSError) -> str:
    """One line for a file or port the command could not use."""
    reason = i18n.os_reason(exc)
    if exc.filename is not None:
        return f"{exc.filename}: {reason}"
    return reason


def replace_file(path: Path, write: Callable[[Path], object]) -> None:
    """Write `path` whole or not at all: `write` fills a file of the same name in a temporary directory beside it
    (a writer that goes by the name, and its errors, see the real one), which then replaces `path` in one rename;
    a failed or interrupted write leaves `path` as it was."""
    import shutil
    import tempfile

    try:  # the mode the file had (the service may run as another user), or a new file's
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        umask = os.umask(0o022)
        os.umask(umask)
        mode = 0o666 & ~umask
    try:
        folder = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    except OSError as exc:  # named by the file asked for, not by the temporary directory
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    try:
        tmp = folder / path.name
        write(tmp)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def fail(message: str) -> None:
    """One error line on stderr, prefixed with the program's name."""
    print(f"assistant: {message}", file=sys.stderr)


def exit_code(func: Callable[..., int | None]) -> Callable[..., int]:
    """A command whose return value is the process's exit status."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> int:
        return int(func(*args, **kwargs) or 0)

    return wrapper
