"""Who holds a read of the SQLite log: the processes with a read lock on one of its -shm's read marks (Linux).

A connection reading the log in WAL mode holds a shared lock on one of the -shm's five read-mark bytes
(`WAL_READ_LOCK(1..4)`, bytes 124-127 of the unix VFS's locks at 120; 123 is read mark 0, a read of the file alone)
for as long as its transaction lasts, and the kernel lists every such lock with its process in /proc/locks. SQLite
takes one lock per process whatever its number of connections, so a process is named once."""

from __future__ import annotations

import os
from pathlib import Path

_READ_MARKS = range(123, 128)  # WAL_READ_LOCK(0..4): the unix VFS's shm locks begin at byte 120, the read marks at 3


def holders(path: Path, locks: str = "/proc/locks") -> list[tuple[int, str]]:
    """(pid, command name) of each process holding a read of the log at `path` now; [] when unknown (not Linux)."""
    try:
        info = os.stat(f"{path}-shm")
        lines = Path(locks).read_text("ascii", errors="replace").splitlines()
    except OSError:
        return []
    shm = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    pids: list[int] = []
    for line in lines:
        fields = line.split()
        if "->" in fields:  # a lock waited for, listed under the one it waits on
            continue
        try:
            pid, where, start = int(fields[4]), fields[5], int(fields[6])
        except (IndexError, ValueError):
            continue
        if where == shm and start in _READ_MARKS and fields[3] == "READ" and pid not in pids:
            pids.append(pid)
    return [(pid, _command(pid)) for pid in pids]


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text("utf-8", errors="replace").strip()
    except OSError:
        return "?"


def described(path: Path) -> str:
    """The holders of a read of the log at `path` in words for its log line, this process's own told apart."""
    found = holders(path)
    if not found:
        return "a read of another connection (its process not known here)"
    own = os.getpid()
    return ", ".join(
        f"this service's own read (process {pid})" if pid == own else f"process {pid} ({name})" for pid, name in found
    )
