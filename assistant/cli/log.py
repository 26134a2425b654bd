"""`assistant log` (the daily log of one day) and `assistant archive` (retention)."""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import stat
import sys
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any, TextIO

import click

from assistant import store
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
from assistant.daylog import formats, orphan_names, orphan_rows
from assistant.daylog.archive import ArchiveError, ShopDay, archive, archive_root
from assistant.daylog.export import export, export_workbook
from assistant.daylog.query import DayQuery
from assistant.i18n import N_, _, ngettext, os_reason
from assistant.signing import same_secret

log = logging.getLogger(__name__)
TOKEN_ENV = "ASSISTANT_TOKEN"  # (named in the options' help too) where `assistant log --unmasked` looks for the admin token when --token is not given


LOG_FORMATS = (*formats.FORMATS, "xlsx")


@click.command("log", help=N_("the supervisors' daily log of one day (text, jsonl, csv, xlsx)"))
@common_options
@click.option(
    "--date", "day", type=DAY, default=None, help=N_("the local day (default: yesterday in the shop's timezone)")
)
@click.option("--shop", type=NAME, default=None, help=N_("only this shop"))
@click.option("--agent", type=NAME, default=None, help=N_("only conversations this agent took part in"))
@click.option("--conversation", default=None, help=N_("only this conversation"))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(LOG_FORMATS),
    default=None,
    help=N_("output format (default: by --out's suffix, .jsonl .csv .xlsx; else text)"),
)
@click.option(
    "--out", type=click.Path(path_type=Path), default=None, help=N_("write to this file instead of standard output")
)
@click.option(
    "--unmasked",
    is_flag=True,
    help=N_(
        "show phone, ID and card numbers, e-mail and addresses as typed: needs the admin token"
        " (--token or $ASSISTANT_TOKEN) or --out to a file you own"
    ),
)
@click.option("--token", default=None, help=N_("the admin token (prefer $ASSISTANT_TOKEN: arguments show in ps)"))
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help=N_("worker processes (default: one per CPU, up to 4, for days over 200,000 events)"),
)
def log_command(
    config_path: Path,
    db: Path | None,
    day: date | None,
    shop: str | None,
    agent: str | None,
    conversation: str | None,
    fmt: str | None,
    out: Path | None,
    unmasked: bool,
    token: str | None,
    jobs: int | None,
) -> int:
    config = load(config_path, db)
    fmt = fmt or _format_of(out)
    return run_log(
        config,
        db_path(config),
        DayQuery(day or yesterday(config.tz), shop=shop, agent=agent, conversation=conversation),
        fmt,
        out,
        unmasked=unmasked,
        token=token,
        jobs=jobs,
    )


@click.command(
    "archive",
    short_help=N_("archive days older than retention_days"),
    help=N_("move days older than [store] retention_days into compressed files"),
)
@common_options
@click.option("--dry-run", is_flag=True, help=N_("list what would be archived; change nothing"))
# Test hook: announce each step on stderr and stop (sleep) after the N-th occurrence of STEP,
# so that a test can kill the run exactly there.
@click.option("--pause-after", metavar="STEP[:N]", default=None, hidden=True)
def archive_command(config_path: Path, db: Path | None, dry_run: bool, pause_after: str | None) -> int:
    config = load(config_path, db)
    return run_archive(config, db_path(config), dry_run=dry_run, pause_after=pause_after)


def _format_of(out: Path | None) -> str:
    suffix = out.suffix.lower().lstrip(".") if out is not None else ""
    return suffix if suffix in LOG_FORMATS else "text"


def _wording(config: Config) -> formats.Wording:
    """The text log's language, with the library's names of intents and customer types when it loads."""
    from assistant.suggest.phrases import Library, LibraryError

    try:
        library = Library.load(
            config.phrase_dirs(),
            include_demo=config.phrases.include_demo,
            skip=config.qa_rule_files(),
            shops=config.shop_phrase_dirs(),
        )
    except LibraryError:  # the log is still worth reading with ids
        return formats.Wording(config.ui.language)
    return formats.wording_of(library, config.ui.language)


def run_log(
    config: Config,
    db: store.Location,
    query: DayQuery,
    fmt: str,
    out_path: Path | None,
    *,
    unmasked: bool,
    token: str | None,
    jobs: int | None,
) -> int:
    """Write one day's log; exit status."""
    if refuses_log(db):
        return 1
    mask = config.privacy.mask
    if unmasked and mask:
        refusal = unmasked_refusal(config, token or os.environ.get(TOKEN_ENV), out_path)
        if refusal:
            print(_("assistant: --unmasked refused: %(reason)s", reason=refusal), file=sys.stderr)
            return 2
        mask = False
    query = dataclasses.replace(query, mask=mask)
    if fmt == "xlsx" and out_path is None and sys.stdout.isatty():
        print(_("assistant: a workbook is not for the terminal: give --out FILE.xlsx"), file=sys.stderr)
        return 2
    out, close = _output(out_path, fmt, private=not mask)
    try:
        color = fmt == "text" and out_path is None and _color_terminal()
        wording = _wording(config) if fmt in ("text", "xlsx") else None
        if fmt == "xlsx":
            out.flush()
            count = export_workbook(config, db, query, out.buffer, wording)
        else:
            count = export(config, db, query, fmt, out, color=color, jobs=jobs, wording=wording)
        out.flush()
    except BrokenPipeError:  # `assistant log … | head`: stop quietly, and keep Python's exit flush quiet too
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except ArchiveError as exc:
        print(f"assistant: {exc}", file=sys.stderr)
        return 1
    finally:
        try:
            close()
        except BrokenPipeError:
            pass
    if count == 0:  # an empty output says nothing by itself: was it the day, the filter, a typo?
        if query.agent is not None or query.conversation is not None:
            line = _("assistant: no conversation on %(day)s matches --agent or --conversation", day=query.day)
        else:
            line = nothing_found(config, db, query.day, query.day, query.shop)
        print(line, file=sys.stderr)
    if out_path is not None:
        print(ngettext("%(num)d item written to %(path)s", "%(num)d items written to %(path)s", count, path=out_path), file=sys.stderr)  # fmt: skip
    return 0


def unmasked_refusal(config: Config, token: str | None, out: Path | None) -> str | None:
    """Why unmasked output is not allowed here, or None when it is (admin token, or a file the operator owns)."""
    admin = config.secret(config.auth.admin_token_env)
    if token and admin and same_secret(token, admin):
        return None
    if out is not None:
        problem = _not_owned(out)
        if problem is None:
            return None
        return problem
    if token:
        return _("the token is not the admin token")
    return _("give the admin token (--token or $%(env)s) or --out FILE in a directory you own", env=TOKEN_ENV)


def _not_owned(path: Path) -> str | None:
    """Why `path` is not a local file of the current user, or None."""
    parent = path.absolute().parent.resolve()
    try:
        info = parent.stat()
    except OSError as exc:
        return f"{parent}: {os_reason(exc)}"  # in the command's language, as other commands say it
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        return _("%(path)s is not a directory you own", path=parent)
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return _("%(path)s is writable by others", path=parent)
    try:
        existing = path.lstat()
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(existing.st_mode) or existing.st_uid != os.getuid():
        return _("%(path)s exists and is not a regular file you own", path=path)
    return None


def _output(path: Path | None, fmt: str, *, private: bool) -> tuple[TextIO, Any]:
    """The stream to write to and how to close it; unmasked files are created 0600, never through a symlink."""
    if path is None:
        # `> day.csv` gets the byte-order mark as --out does; a pipe or a terminal does not.
        encoding = "utf-8-sig" if fmt == "csv" and stdout_starts_a_file() else "utf-8"
        stream = io.TextIOWrapper(sys.stdout.buffer, encoding=encoding, newline="", write_through=False)
        return stream, stream.detach
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | (os.O_NOFOLLOW if private else 0)
    fd = os.open(path, flags, 0o600 if private else 0o644)
    if private:
        os.fchmod(fd, 0o600)
    # Excel opens a UTF-8 CSV as Chinese only with a byte-order mark.
    encoding = "utf-8-sig" if fmt == "csv" else "utf-8"
    handle = open(fd, "w", encoding=encoding, newline="")
    return handle, handle.close


def _color_terminal() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def run_archive(
    config: Config, db: store.Location, *, dry_run: bool, pause_after: str | None, now: datetime | None = None
) -> int:
    """Archive old days (those before `now`'s retention period); exit status."""
    if refuses_log(db):
        return 1
    pause_step, _sep, nth = (pause_after or "").partition(":")
    seen: dict[str, int] = {}

    def on_step(step: str, shop_day: ShopDay) -> None:
        if not pause_step:
            log.debug("archive %s: %s", shop_day, step)
            return
        print(f"archive-step {step} {shop_day.shop} {shop_day.day.isoformat()}", file=sys.stderr, flush=True)
        seen[step] = seen.get(step, 0) + 1
        if step == pause_step and seen[step] == int(nth or 1):
            time.sleep(3600)

    try:
        outcome = archive(config, db, now, dry_run=dry_run, on_step=on_step)
        taken = orphan_names.take(config, db, dry_run=dry_run)  # after the days: their names went with them
        cleared = orphan_rows.clear(config, db, now, dry_run=dry_run)  # after the days: theirs went with them
    except ArchiveError as exc:
        print(_("assistant: archive stopped: %(reason)s", reason=exc), file=sys.stderr)
        return 1
    rows = sum(n for _, n in outcome.days)
    if dry_run:
        for shop_day, n in outcome.days:
            print(f"{shop_day.day.isoformat()}  {shop_day.shop}  " + ngettext("%(num)d row", "%(num)d rows", n))
        print(
            _(
                "%(days)d shop-days (%(rows)d rows) older than %(keep)d days would be archived",
                days=len(outcome.days),
                rows=rows,
                keep=config.store.retention_days,
            )
        )
        if taken.left:
            print(
                ngettext(
                    "%(num)d buyer's name with no message left in the database would move into the archive",
                    "%(num)d buyers' names with no message left in the database would move into the archive",
                    taken.left,
                )
            )
        _say_cleared(cleared, dry_run=True)
        return 0
    _say_taken(config, taken)
    _say_cleared(cleared, dry_run=False)
    print(
        _(
            "archived %(days)d shop-days (%(rows)d rows deleted, %(files)d files written) into %(path)s",
            days=len(outcome.days),
            rows=rows,
            files=outcome.written,
            path=archive_root(config),
        )
    )
    return 0


def _say_taken(config: Config, taken: orphan_names.Taken) -> None:
    """What became of the names an earlier release left in the database (orphan_names.py)."""
    placed = sum(taken.placed.values())
    if placed or taken.dropped:
        print(
            _(
                "names left by an earlier release: %(placed)d moved into %(files)d archive files, %(dropped)d deleted"
                " (nothing else of those buyers is kept)",
                placed=placed,
                files=len(taken.placed),
                dropped=taken.dropped,
            )
        )
    for shop, reason in taken.kept.items():
        message = _(
            "the names of %(shop)s's buyers with no message left stay in the database: %(reason)s",
            shop=shop,
            reason=reason,
        )
        print(_("assistant: %(reason)s", reason=message), file=sys.stderr)


def _say_cleared(cleared: orphan_rows.Cleared, *, dry_run: bool) -> None:
    """The rows an earlier release's archive left that the run deleted (orphan_rows.py), if any."""
    if cleared.chatwoot:
        told = (
            N_(
                "Chatwoot rows of conversations archived by an earlier release that would be deleted: %(statuses)d"
                " statuses, %(inboxes)d inboxes, %(followups)d follow-up message ids"
            )
            if dry_run
            else N_(
                "Chatwoot rows of conversations archived by an earlier release deleted: %(statuses)d statuses,"
                " %(inboxes)d inboxes, %(followups)d follow-up message ids"
            )
        )
        print(_(told, statuses=cleared.statuses, inboxes=cleared.inboxes, followups=cleared.followups))
    if cleared.alerts:
        alerts = (
            N_("Quality alerts of messages archived by an earlier release that would be deleted: %(alerts)d")
            if dry_run
            else N_("Quality alerts of messages archived by an earlier release deleted: %(alerts)d")
        )
        print(_(alerts, alerts=cleared.alerts))
    if cleared.timers:
        timers = (
            N_("Follow-up timers of conversations archived by an earlier release that would be deleted: %(timers)d")
            if dry_run
            else N_("Follow-up timers of conversations archived by an earlier release deleted: %(timers)d")
        )
        print(_(timers, timers=cleared.timers))
