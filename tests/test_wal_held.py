"""A read of the SQLite log that never ends (an sqlite3 shell left inside a transaction, in another process) while
the -wal is folded apart (assistant/logfile/apart.py): the folder's tries back off, the read is said once with the
process that holds it, and /readyz shows it until it ends; once it ends, the -wal is folded back."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from assistant import logfile, store
from assistant.clock import FakeClock
from assistant.logfile import apart, readers
from tests.helpers import eventually

Client = TestClient  # type: ignore[type-arg]

HOLD = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN")
conn.execute("SELECT count(*) FROM big").fetchone()
print("held", flush=True)
sys.stdin.read()  # until the test closes it: a read that never ends
"""


@contextmanager
def a_read_held_by_another_process(db: Path) -> Iterator[subprocess.Popen[str]]:
    with subprocess.Popen(
        [sys.executable, "-c", HOLD, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
            yield holder
        finally:
            holder.kill()


class Steps:
    """The folder's pause on a fake clock: each wait records the pause asked for, moves the clock by it and returns
    once the test lets the next try run (`go`)."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.pauses: list[float] = []
        self._go = threading.Semaphore(0)
        self.stop = False

    def wait(self, pause: float) -> bool:
        self.pauses.append(pause)
        self.clock.advance(pause)
        self._go.acquire()
        return self.stop

    def go(self, tries: int = 1) -> None:
        for _ in range(tries):
            self._go.release()


def write(conn: sqlite3.Connection, rows: int) -> None:
    for _ in range(rows):
        conn.execute("INSERT INTO big (text) VALUES (?)", ("详" * 4000,))


def folds_into(db: Path) -> Callable[[Callable[[], None]], bool]:
    def fold(checkpoint: Callable[[], None]) -> bool:
        checkpoint()
        return True

    return fold


async def test_a_read_that_never_ends_backs_the_folder_off_and_is_said_once_with_its_process(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Before, the folder tried a checkpoint every 0.1 s for as long as the read lasted (36,000 an hour, 5.4 s of CPU
    # an hour at 100 commits/s), and nothing named the process holding the read.
    db = tmp_path / "log.db"
    with closing(store.connect(db)) as conn:
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute("CREATE TABLE big (text TEXT)")
        write(conn, 1)
        caplog.set_level(logging.WARNING, "assistant.logfile")
        clock = FakeClock()
        steps = Steps(clock)
        with a_read_held_by_another_process(db) as holder:
            write(conn, 200)  # past the read's snapshot: never folded while it holds
            assert [pid for pid, _ in readers.holders(db)] == [holder.pid]
            folder = apart.Folder(db, folds_into(db), now=lambda: clock.now_ms() / 1000, wait=steps.wait)
            try:
                await eventually(lambda: len(steps.pauses) == 1)
                steps.go(11)
                await eventually(lambda: len(steps.pauses) == 12)
                # Each try folded nothing new: the pause doubles from 0.1 s up to 5 s.
                assert steps.pauses[:7] == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, apart.PAUSE_MAX_S]
                assert steps.pauses[7:] == [apart.PAUSE_MAX_S] * 5
                assert folder.held is None and logfile.WalGrowth(db).read is None  # 31.3 s held: not said yet
                said = [m for m in caplog.messages if "has held the log's snapshot" in m]
                assert said == []
                assert folder.read_since is not None  # the read is timed from the folder's first try it held
                tries = int((apart.HELD_WARN_S - clock.now_ms() / 1000 + folder.read_since) / apart.PAUSE_MAX_S) + 2
                steps.go(tries)
                await eventually(lambda: len(steps.pauses) == 12 + tries)
                said = [m for m in caplog.messages if "has held the log's snapshot" in m]
                assert len(said) == 1 and f"process {holder.pid} (python" in said[0], caplog.messages
                assert "at least 5 minutes" in said[0]
                assert logfile.WalGrowth(db).read == folder.held and folder.held is not None  # /readyz's words
                steps.go(20)  # ten minutes more of the same read: said once
                await eventually(lambda: len(steps.pauses) == 32 + tries)
                assert len([m for m in caplog.messages if "has held the log's snapshot" in m]) == 1
                assert "at least 7 minutes" in folder.held
                assert not folder.folded
            except BaseException:
                steps.stop = True
                steps.go(1000)
                raise
        # The read ended: the next try folds it all back, and the thread ends.
        write(conn, 1)
        steps.go(1)
        await eventually(lambda: folder.over, timeout=30.0)
    assert folder.folded and folder.held is None and logfile.WalGrowth(db).read is None
    assert [m for m in caplog.messages if "the read that held the log's -wal" in m]
    with closing(sqlite3.connect(db)) as check:
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert check.execute("SELECT count(*) FROM big").fetchone()[0] == 202


async def test_a_try_that_folds_more_brings_the_pause_back_to_its_shortest(tmp_path: Path) -> None:
    # The read ends while the pause is long and another read holds a later snapshot: the next try folds up to that one
    # and the pause after it is the shortest again, then doubles anew.
    db = tmp_path / "log.db"
    with closing(store.connect(db)) as conn:
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute("CREATE TABLE big (text TEXT)")
        write(conn, 1)
        clock = FakeClock()
        steps = Steps(clock)
        with a_read_held_by_another_process(db) as first:
            write(conn, 50)
            folder = apart.Folder(db, folds_into(db), now=lambda: clock.now_ms() / 1000, wait=steps.wait)
            try:
                steps.go(4)
                await eventually(lambda: len(steps.pauses) == 5)
                with a_read_held_by_another_process(db):  # a later snapshot: the 50 rows are before it
                    write(conn, 50)
                    first.kill()
                    first.wait()
                    steps.go(2)
                    await eventually(lambda: len(steps.pauses) == 7)
            finally:
                steps.stop = True
                steps.go(1000)
                folder.close()
    assert steps.pauses[:5] == [0.1, 0.2, 0.4, 0.8, 1.6]
    assert steps.pauses[5:] == [apart.PAUSE_S, 0.2]  # folded more: the shortest pause, then doubling anew
    assert not folder.folded


async def run_until(steps: Steps, seconds: float) -> None:
    """Let the folder try, one try at a time, until the clock reads `seconds`."""
    while steps.clock.now_ms() / 1000 < seconds:
        tried = tries(steps, len(steps.pauses) + 1)
        steps.go(1)
        await eventually(tried)


def tries(steps: Steps, n: int) -> Callable[[], bool]:
    """Whether the folder has tried `n` times (waited after each)."""
    return lambda: len(steps.pauses) == n


async def test_a_read_begun_after_the_folder_started_is_timed_from_its_own_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Found: a read was timed from the folder's start (when 16 MB had piled up): a read begun four minutes into a
    # folder that an earlier read kept running was said to have held the log's snapshot for 5 minutes after one.
    db = tmp_path / "log.db"
    caplog.set_level(logging.WARNING, "assistant.logfile")
    with closing(store.connect(db)) as conn:
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute("CREATE TABLE big (text TEXT)")
        write(conn, 1)
        clock = FakeClock()
        steps = Steps(clock)
        with a_read_held_by_another_process(db) as first:
            write(conn, 50)
            folder = apart.Folder(db, folds_into(db), now=lambda: clock.now_ms() / 1000, wait=steps.wait)
            try:
                start = clock.now_ms() / 1000
                await eventually(lambda: len(steps.pauses) == 1)
                await run_until(steps, start + 240)  # the first read holds it four minutes
                with a_read_held_by_another_process(db) as second:  # a later snapshot: the 50 rows are before it
                    write(conn, 50)
                    first.kill()
                    first.wait()
                    begun = clock.now_ms() / 1000
                    await run_until(steps, begun + 1)  # the next try folds up to the second read: it holds since
                    assert folder.read_since is not None and begun <= folder.read_since <= begun + 1
                    await run_until(steps, start + 420)  # seven minutes into the folder, three into the second read
                    assert folder.held is None and logfile.WalGrowth(db).read is None
                    assert not [m for m in caplog.messages if "has held the log's snapshot" in m]
                    await run_until(steps, folder.read_since + apart.HELD_WARN_S + apart.PAUSE_MAX_S)
                    said = [m for m in caplog.messages if "has held the log's snapshot" in m]
                    assert len(said) == 1 and f"process {second.pid} (python" in said[0], caplog.messages
                    assert "at least 5 minutes" in said[0] and logfile.WalGrowth(db).read == folder.held
            finally:
                steps.stop = True
                steps.go(1000)
                folder.close()
    assert not folder.folded


async def test_readyz_shows_what_the_folder_says_of_a_read_held_long(
    client: Client, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    said = "a read has held the log's snapshot for at least 5 minutes (process 4242 (sqlite3)): …"
    monkeypatch.setattr(apart, "held", lambda path: said if path == Path(str(db_path)) else None)
    ready = await client.get("/readyz")
    assert ready.status == 200 and (await ready.json())["log_wal_read"] == said  # writes go through
    monkeypatch.setattr(apart, "held", lambda path: None)
    assert "log_wal_read" not in await (await client.get("/readyz")).json()
