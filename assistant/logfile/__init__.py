"""The SQLite log's file as an operator handles it: a backup taken while the service writes (`assistant store
backup`), a backup copied over it while the service runs (`Watch`), the room a VACUUM of it needs (`compact_room`)."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import struct
import sys
import threading
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from assistant import store
from assistant.i18n import _
from assistant.logfile import apart, walowner

log = logging.getLogger(__name__)


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


COMPACT_MARGIN_BYTES = 4 * 1024 * 1024  # beside the log's pages: the -wal of the transaction before the VACUUM


def sqlite_temp_dir() -> Path:
    """Where SQLite puts its temporary files, as its unix VFS chooses the folder (a VACUUM's copy of the whole log)."""
    for folder in (os.environ.get("SQLITE_TMPDIR"), os.environ.get("TMPDIR"), "/var/tmp", "/usr/tmp", "/tmp"):
        if folder and os.path.isdir(folder) and os.access(folder, os.W_OK | os.X_OK):
            return Path(folder)
    return Path(".")


def compact_room(path: Path, conn: sqlite3.Connection) -> str | None:
    """Why the log at `path` (open on `conn`) cannot be compacted now for lack of disk space, or None.

    A VACUUM writes every page in use twice: into a temporary copy (SQLite's temporary folder) and back into the log
    through its -wal file, which the checkpoint after it folds in (on a tmpfs, 8.3 MB of log took 16.3 MB at the
    peak with both on it, 8.2 MB with the copy elsewhere). A VACUUM that ran out of room failed after the rows were
    deleted: the erasure stopped there, half-done, saying only '数据库或磁盘已满'."""
    pages, free, size = (conn.execute(f"PRAGMA {name}").fetchone()[0] for name in ("page_count", "freelist_count", "page_size"))  # fmt: skip
    used = (int(pages) - int(free)) * int(size)
    temp = sqlite_temp_dir()
    needs: dict[int, tuple[Path, int]] = {}
    for folder, need in ((path.resolve().parent, used + COMPACT_MARGIN_BYTES), (temp.resolve(), used)):
        device = os.stat(folder).st_dev
        first, before = needs.get(device, (folder, 0))
        needs[device] = (first, before + need)
    for folder, need in needs.values():
        room = shutil.disk_usage(folder).free
        if room < need:
            return _(
                "%(folder)s has %(free)s MB free and the erasure needs about %(need)s MB there: it ends by compacting the log (VACUUM writes the %(size)s MB in use again, into the log's -wal file and into a temporary copy in %(temp)s), without which the free pages of the file still hold the buyer's rows archived before. Nothing was erased: make room and erase again (SQLITE_TMPDIR names another folder for the temporary copy)",
                folder=folder,
                free=f"{room / 1_048_576:.0f}",
                need=f"{need / 1_048_576:.0f}",
                size=f"{used / 1_048_576:.0f}",
                temp=temp,
            )  # fmt: skip
    return None


def identities(files: tuple[str, ...]) -> tuple[tuple[int, int] | None, ...]:
    """(device, inode) of the database file, its -wal and its -shm now (None for one that is not there)."""
    return tuple(map(store.file_identity, files))


Identities = tuple[tuple[int, int] | None, ...]


def look(files: tuple[str, ...]) -> tuple[Identities, os.stat_result | None, int]:
    """One stat of each of the database file, its -wal and its -shm (the writer's check before each COMMIT): their
    identities (`identities`), the database file's stat (`Watch.overwritten` reads its size and time from it, not
    from a stat of its own) and the -wal's size. One Python call where the three stats and the watch's own took
    eight a group."""
    found: list[os.stat_result | None] = []
    for name in files:
        try:
            found.append(os.stat(name))
        except FileNotFoundError:
            found.append(None)
    db, wal, shm = found
    return (
        (
            None if db is None else (db.st_dev, db.st_ino),
            None if wal is None else (wal.st_dev, wal.st_ino),
            None if shm is None else (shm.st_dev, shm.st_ino),
        ),
        db,
        0 if wal is None else wal.st_size,
    )


# A -wal file past this size is said (the log, /readyz): a read holds an old snapshot and the file grows with every
# commit meanwhile, 1.1 GB over a read of 2 minutes at 200 events/s (bench/bench_wal.py). The steady state is 16 MB,
# and once the reader is gone the file is cut back to the writer's WAL_LIMIT_BYTES (64 MB) within a commit or two.
WAL_WARN_BYTES = 256 * 1024 * 1024
WAL_SAY_EVERY_S = 60.0


class WalGrowth:
    """The size of the log's -wal file as the writer's check before each COMMIT saw it (`look`, `bytes`, set on the
    writer's thread), said on the event loop (`say`, when it passes `warn_bytes` and once a minute while it stays
    past it, then once it is back). Before, nothing said it: an export of a big day held the file's snapshot, the
    -wal grew by about 50 kB an event until the disk was full, and every event was then answered 503."""

    def __init__(self, path: Path, warn_bytes: int = WAL_WARN_BYTES) -> None:
        self.path = path
        self.bytes = 0
        self.warn_bytes = warn_bytes
        self.said = 0.0  # when the size was last said (0: it is not past warn_bytes)

    @property
    def warning(self) -> str | None:
        """What `/readyz` shows while the file is past `warn_bytes`, else None."""
        if self.bytes <= self.warn_bytes:
            return None
        return (
            f"the log's -wal file is {self.bytes / 1_048_576:.0f} MB (over {self.warn_bytes / 1_048_576:.0f} MB):"
            " a read holds an old snapshot of the log (a report or an export over a big day, an sqlite3 shell left in"
            " a transaction), and SQLite folds no commit back into the log until it ends; the file grows with every"
            " event meanwhile (about 50 kB each) and is cut back once the read is over: leave room on the disk, or"
            " end that read"
        )

    @property
    def read(self) -> str | None:
        """What `/readyz` shows while a read has held the -wal past `apart.HELD_WARN_S` (its holders), else None."""
        return apart.held(self.path)

    def say(self, now: float) -> None:
        """On the loop, after a group (called only while past `warn_bytes` or said before)."""
        warning = self.warning
        if warning is None:
            log.warning("the log's -wal file %s-wal is back to %.0f MB", self.path, self.bytes / 1_048_576)
            self.said = 0.0
        elif not self.said or now - self.said >= WAL_SAY_EVERY_S:
            log.warning("%s", warning)
            self.said = now


_FOLDED = struct.Struct(f"{'<' if sys.byteorder == 'little' else '>'}16xI76xI")  # mxFrame, nBackfill (the -shm's)

# Connections left open for good: closing the last connection of a file checkpoints its -wal into it, and into a
# file overwritten in place that damages the file put there.
_KEPT_OPEN: list[sqlite3.Connection] = []


class Watch:
    """Whether the SQLite file was written since the writer last looked by anything but a checkpoint: a backup copied
    over it in place (`cp backup.db assistant.db` keeps the inode, so the writer's check of the files' identities
    cannot see it). In WAL mode only a checkpoint writes the database file, and each one is marked in the -shm.

    Before, the service went on with the -wal of the file it had: readers met `database disk image is malformed`,
    `/readyz` said ready, and its checkpoints and the last one at stop copied that -wal into the backup, damaging it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.wal = Path(f"{path}-wal")
        self.aside: Path | None = None  # where the -wal went once the file was found overwritten
        # Descriptors kept for good (store._descriptor): closing one would drop SQLite's locks on the file. A new
        # connection's new -shm gets a new Watch (Writer._check_file).
        self._fd = store._descriptor(path)
        self._index = store._descriptor(Path(f"{path}-shm"))
        self._marks = self._checkpoints()  # read before the file: see walowner.record
        self._seen = self._file()
        self._head = os.pread(self._fd, 100, 0)  # the file's header as the last change left it
        self._record()
        # Folds the -wal back apart from the writer's commits after a long read let it grow (apart.py), or None.
        # While one runs, its folds hold the lock from their look at the file to their note of it; the writer never
        # waits for it: a look it finds held is left to the next commit, a note to the folder (`_again`, set before
        # the writer tries the lock).
        self.folder: apart.Folder | None = None
        self._lock = threading.Lock()
        self._again = False

    def _file(self) -> tuple[int, int]:
        info = os.fstat(self._fd)
        return info.st_size, info.st_mtime_ns

    def _checkpoints(self) -> bytes:
        return walowner.marks(os.pread(self._index, walowner.SHM_BYTES, 0))

    def _record(self, info: os.stat_result | None = None) -> None:
        """The file as seen now written down beside it, for the next start to check its -wal against (walowner)."""
        walowner.record(self.path, os.fstat(self._fd) if info is None else info, self._head, self._marks)

    def note(self, conn: sqlite3.Connection | None = None, held: bool = False) -> None:
        """After a commit of the writer on `conn` (its checkpoint may have written the file); `held`: under the lock,
        by the folder after its fold or by the writer while a folder runs (`_apart`)."""
        shm = os.pread(self._index, walowner.SHM_BYTES, 0)
        if not held:
            frames, folded = _FOLDED.unpack_from(shm)  # the -shm's mxFrame and nBackfill
            if self.folder is not None or frames - folded >= apart.FRAMES:  # a long read let the -wal grow
                self._apart(conn, frames - folded)
                return
        marks = walowner.marks(shm)  # before the file: walowner.record
        info = os.fstat(self._fd)
        changed = info.st_size != self._seen[0] or info.st_mtime_ns != self._seen[1]
        if changed:
            self._seen, self._head = (info.st_size, info.st_mtime_ns), os.pread(self._fd, 100, 0)
        if changed or marks != self._marks:  # a checkpoint or a restart of the WAL: a few times per 4,000 pages
            self._marks = marks
            self._record(info)

    def _apart(self, conn: sqlite3.Connection | None, unfolded: int) -> None:
        """The writer's note past `apart.FRAMES` pages not folded back, or while a folder runs: the writer's connection
        stops checkpointing and a `Folder` folds them apart; once it is over, the connection checkpoints again
        (SQLite's own checkpoint, inside the commit that passes `apart.AUTOCHECKPOINT` pages). Left to the folder while
        it holds the lock: it notes again after its fold."""
        if self.folder is None and conn is not None and self.aside is None:
            conn.execute("PRAGMA wal_autocheckpoint=0")  # before the folder's first checkpoint
            self.folder = apart.Folder(self.path, self.fold)
            log.info("the log's -wal holds %d pages not folded back (a long read): folded apart", unfolded)
        elif self.folder is not None and self.folder.over:
            if conn is not None:
                conn.execute(f"PRAGMA wal_autocheckpoint={apart.AUTOCHECKPOINT}")
            self.folder = None
        if self.folder is None:
            self.note(held=True)
            return
        self._again = True  # before the lock is tried: the folder releases it, then reads this
        if not self._lock.acquire(blocking=False):
            return
        self._again = False
        try:
            self.note(held=True)
        finally:
            self._lock.release()

    def overwritten(self, look: bool = True, info: os.stat_result | None = None) -> bool:
        """Whether the file was written by something else than a checkpoint since the last look (or `note`); with
        `look` False, only whether it was found so before. `info`: a stat of the file just taken (by its path: the
        writer's `look`, the same file as the descriptor's)."""
        if self.aside is not None or not look:
            return self.aside is not None
        now = self._file() if info is None else (info.st_size, info.st_mtime_ns)
        if now == self._seen:
            return False
        if self.folder is None:
            return self._changed(now)
        if not self._lock.acquire(blocking=False):
            return False  # the folder's fold writes the file now: looked at again at the next commit after it
        try:
            return self._changed(now)
        finally:
            self._lock.release()

    def fold(self, checkpoint: Callable[[], None]) -> bool:
        """On the folder's thread: `checkpoint()` run under the lock, after a look at the file (none into a file
        overwritten, or with its -wal set aside), and the file as it leaves it noted before the lock is released (and
        written down beside the log when it changed: walowner); False when it was not run."""
        with self._lock:
            if self.aside is not None or self._changed(self._file()):
                return False
            checkpoint()
            self.note(held=True)
        while self._again:  # a commit's note the lock turned away meanwhile
            with self._lock:
                self._again = False
                self.note(held=True)
        return True

    def opened(self, conn: sqlite3.Connection) -> sqlite3.Connection:
        """The writer's connection opened again (its recovery from a failed ROLLBACK): while a folder runs, it
        checkpoints nothing, as the one before (its checkpoint inside a commit would change the file outside the
        watch's lock, where a look or a record could catch a fold half-way)."""
        if self.folder is not None and not self.folder.over:
            conn.execute("PRAGMA wal_autocheckpoint=0")
        return conn

    def renewed(self, same: bool) -> Watch:
        """After the writer's connection was opened again: this watch when the -wal and -shm are the files it
        watches (`same`: another connection, a folder's or a reader's, kept them), else a watch of the new ones, this
        one's folder ended first. Two watches of the same files ran two folders at once, each under its own lock."""
        if same:
            return self
        self.close()
        return Watch(self.path)

    def close(self) -> None:
        """The service's stop: a folder running ends after its checkpoint (before the stop's own look and fold)."""
        if self.folder is not None:
            self.folder.close()

    def _changed(self, now: tuple[int, int]) -> bool:
        if now == self._seen:
            return False
        marks = self._checkpoints()
        head = os.pread(self._fd, 100, 0)
        # Another connection's checkpoint (an sqlite3 shell's), or the WAL restarted; or only its time changed (a
        # `touch`: the same size and header): setting the -wal aside then would take the commits it holds away.
        if marks != self._marks or (now[0] == self._seen[0] and head == self._head):
            self._seen, self._marks, self._head = now, marks, head
            self._record()
            return False
        return True

    def set_aside(self, conn: sqlite3.Connection) -> str:
        """Once overwritten: the -wal, which belongs to the file before, renamed so that no start applies it to this
        one (nothing deleted), and `conn` kept open for good (its close would checkpoint it); what was done."""
        if self.aside is None:
            self.aside = self.wal.with_name(f"{self.wal.name}.overwritten-{int(time.time())}")
            _KEPT_OPEN.append(conn)
            try:
                os.rename(self.wal, self.aside)
            except OSError as exc:
                log.error("the -wal of the overwritten log %s could not be moved aside: %s", self.path, exc)
        return (
            f"the database file {self.path} was overwritten in place while the service ran (a backup copied over it?):"
            f" its -wal, which belongs to the file before, is moved aside to {self.aside} so that no start applies it"
            " to this one, and nothing is written until the service restarts (events are answered 503 meanwhile);"
            " to restore a backup, stop the service first"
        )


def fold_back(conn: sqlite3.Connection, mode: str) -> bool:
    """Once a file changed: the commits the writer's own -wal (still open) holds copied into the database file it
    opened, where a kill lost them all (a file never checkpointed held not even the tables); True (done once)."""
    try:
        busy, frames, copied = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
    except sqlite3.Error as exc:
        log.error("the commits of the log's -wal file were not copied into the file opened: %s", exc)
        return True
    if busy or copied < frames:
        log.error("only %d of the %d pages of the log's -wal file were copied into the file opened", copied, frames)
    else:
        log.warning("the commits of the log's -wal file were copied into the file opened (%d pages)", copied)
    return True
