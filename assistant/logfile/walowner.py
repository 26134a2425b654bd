"""Which database file the log's -wal belongs to: the file as the writer last saw it, recorded beside the log
(`<db>-walowner`) whenever a checkpoint changes it, and checked at a start before SQLite opens the file.

A backup copied over the live file (`cp backup.db assistant.db`, or moved in its place) and then a kill before the
writer's next commit, which would have found it (`Watch`): the next open applied the old file's -wal to the backup
(a log of 30 events came back with 330, a mix of both files). The -wal says nothing of the file it was written on;
the record does: the file's size, time and header as last seen, and the checkpoints the -shm had marked by then."""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

SUFFIX = "-walowner"
_MAGIC = b"walown2\n"
_LAYOUT = struct.Struct(">8s16sqq16s100s")  # magic, boot id, size, mtime_ns, checkpoint marks, header
_WAL_MAGIC = (0x377F0682, 0x377F0683)
# Where the -shm file (SQLite's WAL index) says what checkpoints did: the WAL's salts (new at each restart of the WAL,
# offset 32 of the index header), nBackfill (the frames copied into the database file, offset 96, set once they are)
# and nBackfillAttempted (offset 128, set before the first page is copied: a checkpoint killed half-way wrote the file
# and left nBackfill as it was).
_SALTS = slice(32, 40)
_BACKFILLED = slice(96, 100)
_ATTEMPTED = slice(128, 132)
SHM_BYTES = 132


def _boot() -> bytes:
    """This boot of the machine (a -shm survives only the death of a process, not a power loss)."""
    try:
        return bytes.fromhex(Path("/proc/sys/kernel/random/boot_id").read_text("ascii").strip().replace("-", ""))
    except (OSError, ValueError):
        return bytes(16)


BOOT = _boot()


def marks(shm: bytes) -> bytes:
    """The checkpoint marks in the -shm's first bytes: they change with every checkpoint begun and WAL restart."""
    return shm[_SALTS] + shm[_BACKFILLED] + shm[_ATTEMPTED]


def record(path: Path, info: os.stat_result, head: bytes, checkpoints: bytes) -> None:
    """Write down the database file as the writer sees it: `info` and `head` read after `checkpoints` (a checkpoint
    between the two reads shows in the file, never only in the marks). Rare: only when a checkpoint changed them."""
    data = _LAYOUT.pack(_MAGIC, BOOT, info.st_size, info.st_mtime_ns, checkpoints, head)
    fd = os.open(f"{path}{SUFFIX}", os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.pwrite(fd, data, 0)  # one write of a fixed size: a kill leaves the record before or after it
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Recorded:
    """The file as the writer last wrote it down."""

    size: int
    mtime_ns: int
    checkpoints: bytes
    head: bytes


def recorded(path: Path) -> Recorded | None:
    """The record beside `path`, or None (none, unreadable, or of another boot: the -shm may not have survived)."""
    try:
        data = Path(f"{path}{SUFFIX}").read_bytes()
        magic, boot, size, mtime_ns, checkpoints, head = _LAYOUT.unpack(data[: _LAYOUT.size])
    except (OSError, struct.error):
        return None
    if magic != _MAGIC or boot != BOOT:
        return None
    return Recorded(size, mtime_ns, checkpoints, head)


def _read(name: str, size: int) -> bytes:
    try:
        with open(name, "rb") as f:
            return f.read(size)
    except FileNotFoundError:
        return b""


def wal_has_frames(wal: bytes) -> bool:
    """Whether a -wal's first bytes (its header and the first frame's) hold a frame SQLite would apply."""
    if len(wal) < 56:
        return False
    magic = struct.unpack(">I", wal[:4])[0]
    return magic in _WAL_MAGIC and wal[16:24] == wal[40:48]  # the first frame carries the header's salts


def foreign_wal(path: Path) -> bool:
    """Whether the -wal beside `path` was written on another file than the one now at `path` (before any open).

    The file changed since the writer last saw it (size, time) and no checkpoint is marked in the -shm since: in WAL
    mode only a checkpoint writes the database file, so something else wrote it. A change of its time alone (a
    `touch`: the same size and header) is not one, as for `Watch`. Unknown (no record, none of this boot, no -shm, no
    frame in the -wal): False, as before."""
    if not wal_has_frames(_read(f"{path}-wal", 56)):
        return False
    seen = recorded(path)
    if seen is None:
        return False
    before = _read(f"{path}-shm", SHM_BYTES)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return False
    head = _read(str(path), 100)
    after = _read(f"{path}-shm", SHM_BYTES)  # another process's checkpoint between the reads: its mark shows by now
    if len(before) < SHM_BYTES or marks(before) != seen.checkpoints or marks(after) != seen.checkpoints:
        return False
    if (info.st_size, info.st_mtime_ns) == (seen.size, seen.mtime_ns):
        return False
    return info.st_size != seen.size or head != seen.head
