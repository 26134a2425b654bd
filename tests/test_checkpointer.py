"""The SQLite log's -wal folded back by a thread of its own (assistant/logfile/checkpointer.py): the writer's commits go
on while it folds a -wal a long read let grow, and the record beside the log stays true across a kill during a fold."""

from __future__ import annotations

import os
import sqlite3
import sys
from contextlib import closing
from pathlib import Path

import aiohttp
import pytest

from assistant import logfile
from assistant.logfile import walowner
from assistant.writer import Writer
from tests.helpers import ROOT, body_of, eventually, make_event
from tests.service import Service

ROW = "详" * 4000  # 12 kB a row: the -wal grows fast


def folding(db: Path) -> bool:
    """A checkpoint is folding the -wal back now: the -shm marks its attempt (nBackfillAttempted) before it copies
    the first page, and what it copied (nBackfill) once it is done."""
    with open(f"{db}-shm", "rb") as f:
        shm = f.read(walowner.SHM_BYTES)
    attempted, backfilled = (int.from_bytes(shm[i : i + 4], sys.byteorder) for i in (128, 96))
    return attempted > backfilled


def add(conn: sqlite3.Connection) -> None:
    conn.execute("INSERT INTO big (text) VALUES (?)", (ROW,))


def hold_a_read(db: Path) -> sqlite3.Connection:
    """Another process's read of the log over its snapshot (a report over a big day): no checkpoint passes it."""
    reader = sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM sqlite_master").fetchone()
    return reader


async def test_commits_go_through_while_the_wal_a_long_read_let_grow_is_folded_back(tmp_path: Path) -> None:
    # Before, SQLite's automatic checkpoint folded it back inside the writer's commit: the events behind that commit
    # waited for all of it (up to 1.4 s at 200 events/s after a read of 2 minutes, bench/bench_wal.py), and no
    # commit could end while a fold of the log was under way.
    db = tmp_path / "log.db"
    writer = Writer(db)
    writer.prepare(lambda conn: conn.execute("CREATE TABLE big (text TEXT)"))
    try:
        await writer.submit(add)
        with closing(hold_a_read(db)) as reader:
            while Path(f"{db}-wal").stat().st_size < 48 * 1024 * 1024:
                await writer.submit(add)
            reader.execute("COMMIT")
        during = 0

        async def committed_during_a_fold() -> bool:
            nonlocal during
            await writer.submit(add)
            during += folding(db)  # after the commit: the fold began before it ended, and is not over
            return during >= 3

        await eventually(committed_during_a_fold, timeout=60.0, interval=0.0)
        assert await eventually(lambda: Path(f"{db}-wal").stat().st_size <= 64 * 1024 * 1024 and not folding(db))
    finally:
        await writer.close()
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert not Path(f"{db}-wal").exists() or Path(f"{db}-wal").stat().st_size == 0  # the stop's own fold


async def post(session: aiohttp.ClientSession, url: str, event_id: str) -> int:
    async with session.post(f"{url}/v1/events", data=body_of(make_event(id=event_id, text=ROW[:3000]))) as resp:
        return resp.status


@pytest.mark.slow
async def test_the_record_beside_the_log_stays_true_across_a_kill_during_a_fold(tmp_path: Path) -> None:
    db = tmp_path / "assistant.db"
    service = Service(ROOT / "config.toml", db, log_dir=tmp_path)
    await service.start(timeout=120.0)
    acked: set[str] = set()
    try:
        async with aiohttp.ClientSession() as session:
            assert await post(session, service.url, "a0") == 200
            acked.add("a0")
            with closing(hold_a_read(db)) as reader:
                n = 0
                while Path(f"{db}-wal").stat().st_size < 64 * 1024 * 1024:
                    n += 1
                    assert await post(session, service.url, f"a{n}") == 200
                    acked.add(f"a{n}")
                reader.execute("COMMIT")
            n += 1
            assert await post(session, service.url, f"a{n}") == 200  # its commit wakes the checkpointer
            acked.add(f"a{n}")
            await eventually(lambda: folding(db), timeout=30.0, interval=0.0)
            service.kill()
    finally:
        service.stop()
    assert folding(db)  # killed half-way through the fold: the file written, the -shm says a fold was begun
    assert not walowner.foreign_wal(db)  # the record is still true: no refusal of the start
    again = Service(ROOT / "config.toml", db, log_dir=tmp_path)
    await again.start(timeout=120.0)
    try:
        async with aiohttp.ClientSession() as session:
            assert await post(session, again.url, "b0") == 200
        assert again.terminate() == 0
    finally:
        again.stop()
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert {row[0] for row in conn.execute("SELECT id FROM events")} == acked | {"b0"}
    assert not list(tmp_path.glob("*.overwritten-*"))
    assert logfile.look((str(db), f"{db}-wal", f"{db}-shm"))[2] == 0  # the stop folded it all back
    assert os.stat(db).st_size > 0
