"""The SQLite log's file as an operator handles it: a backup taken while the service writes (`assistant store
backup`)."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from assistant import store
from assistant.i18n import _


class BackupError(RuntimeError):
    """The backup cannot be taken (the message says why); nothing was written at its path."""


@dataclass(frozen=True)
class Backup:
    """A backup written: where, how many events it holds, its size in bytes."""

    path: Path
    events: int
    size: int


def backup(source: Path, target: Path) -> Backup:
    """A consistent copy of the log at `source`, taken while a service may write to it, written to `target`.

    SQLite's backup API copies every page in one step, so in one read transaction: the copy is the log as of one
    commit, every event acknowledged before it began included (the sqlite3 shell's `.backup` copies 100 pages a
    step, and a commit of the service between two steps starts it over). The copy is written beside `target` under a
    temporary name, private (it holds the raw chats), made one file (no -wal), checked (`quick_check`), synced and
    then renamed: a copy cut short (a full disk, a kill) leaves nothing at `target`, and the log is only read.
    """
    if target.exists():
        raise BackupError(_("%(target)s exists: name a new file (a backup never replaces one)", target=target))
    if not source.exists():
        raise BackupError(_("no database at %(path)s", path=source))
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)  # left by a backup killed before
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        with closing(store.connect(source, readonly=True)) as log, closing(sqlite3.connect(partial)) as copy:
            log.backup(copy)  # pages=-1: all of them in one step
            copy.execute("PRAGMA journal_mode=DELETE")  # the copy is its file alone
            problem = copy.execute("PRAGMA quick_check").fetchone()[0]
            events = copy.execute("SELECT count(*) FROM events").fetchone()[0] if store.has_table(copy, "events") else 0
        if problem != "ok":
            raise BackupError(_("the copy of %(path)s does not check out (%(problem)s)", path=source, problem=problem))
        with open(partial, "rb") as written:
            os.fsync(written.fileno())
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    folder = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename itself survives a power loss
    finally:
        os.close(folder)
    return Backup(target, int(events), target.stat().st_size)
