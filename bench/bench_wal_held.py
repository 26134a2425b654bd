"""A read of the SQLite log that never ends, while the writer commits: what the thread folding the -wal back costs.

    python -m bench.bench_wal_held        (BENCH_WINDOW_S=60, BENCH_RATE=100 commits/s)

Another process opens a read transaction on the log and keeps it (an sqlite3 shell left inside one); the writer
commits rows of 12 kB until a folder starts (assistant/logfile/apart.py), then one row of about 1 kB per commit
(an event's) at BENCH_RATE for BENCH_WINDOW_S. Printed: the folder thread's CPU over the window (and per hour), its
checkpoints, the writer thread's CPU per commit, and the -wal's growth per commit (and per hour). The threads' CPU
is read from /proc (Linux), in the kernel's ticks. Run from another checkout's folder to measure its code.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from assistant.writer import Writer

WINDOW_S = float(os.environ.get("BENCH_WINDOW_S", "60"))
RATE = float(os.environ.get("BENCH_RATE", "100"))
TICK = os.sysconf("SC_CLK_TCK")
HOLD = (
    "import sqlite3, sys, time\n"
    "conn = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
    "conn.execute('BEGIN')\n"
    "conn.execute('SELECT count(*) FROM big').fetchone()\n"
    "print('held', flush=True)\n"
    "sys.stdin.read()\n"
)


def thread_cpu_s(native_id: int | None) -> float:
    """A thread's CPU time (user and system) so far; 0 once it has ended."""
    try:
        fields = Path(f"/proc/self/task/{native_id}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def native_id(name: str) -> int | None:
    return next((t.native_id for t in threading.enumerate() if t.name == name), None)


async def run(db: Path) -> None:
    writer = Writer(db)
    writer.prepare(lambda conn: conn.execute("CREATE TABLE big (text TEXT)"))
    await writer.submit(lambda conn: conn.execute("INSERT INTO big VALUES ('x')"))
    with subprocess.Popen(
        [sys.executable, "-c", HOLD, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
            big, row = "详" * 4000, "问" * 300
            while native_id("sqlite-folder") is None:
                await writer.submit(lambda conn: conn.execute("INSERT INTO big VALUES (?)", (big,)))
            folder_id, writer_id = native_id("sqlite-folder"), native_id("sqlite-writer")
            folder_s, writer_s = thread_cpu_s(folder_id), thread_cpu_s(writer_id)
            wal, started, n = Path(f"{db}-wal").stat().st_size, time.monotonic(), 0
            while time.monotonic() - started < WINDOW_S:
                await writer.submit(lambda conn: conn.execute("INSERT INTO big VALUES (?)", (row,)))
                n += 1
                await asyncio.sleep(max(0.0, started + n / RATE - time.monotonic()))
            elapsed = time.monotonic() - started
            folder_s, writer_s = thread_cpu_s(folder_id) - folder_s, thread_cpu_s(writer_id) - writer_s
            grown = Path(f"{db}-wal").stat().st_size - wal
            folder = writer._watch.folder if writer._watch is not None else None
            print(
                f"commits {n} in {elapsed:.0f} s; folder thread: {folder_s:.2f} s of CPU ({folder_s / elapsed * 3600:.1f}"
                f" s an hour), {getattr(folder, 'checkpoints', '?')} checkpoints; writer thread: {writer_s / n * 1e6:.0f}"
                f" us of CPU a commit; -wal: {grown / n:.0f} bytes a commit ({grown / elapsed * 3600 / 1e6:.0f} MB an hour)"
            )
        finally:
            holder.kill()
    await writer.close()


def main() -> None:
    print(f"load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(Path(folder) / "log.db"))


if __name__ == "__main__":
    main()
