"""The SQLite log's -wal folded back apart from the writer's commits once a long read let it grow
(assistant/logfile/apart.py): the commits go on while it is folded, the record beside the log stays true across a
kill during a fold, and the steady state never starts the folder."""

from __future__ import annotations

import sqlite3
import sys
import threading
from contextlib import closing
from pathlib import Path

import aiohttp
import pytest

from assistant.logfile import apart, walowner
from assistant.writer import Writer
from tests.helpers import ROOT, body_of, eventually, make_event
from tests.service import Service

ROW = "详" * 4000  # 12 kB a row: the -wal grows fast
PAGES_PAST = (apart.FRAMES + 1000) * 4096  # the -wal's bytes past the pages that wake a folder (4 kB pages)


def folding(db: Path) -> bool:
    """A checkpoint is folding the -wal back now: the -shm marks its attempt (nBackfillAttempted) before it copies
    the first page, and what it copied (nBackfill) once it is done."""
    with open(f"{db}-shm", "rb") as f:
        shm = f.read(walowner.SHM_BYTES)
    attempted, backfilled = (int.from_bytes(shm[i : i + 4], sys.byteorder) for i in (128, 96))
    return attempted > backfilled


def folders() -> int:
    return sum(thread.name == "sqlite-folder" for thread in threading.enumerate())


def add(conn: sqlite3.Connection) -> None:
    conn.execute("INSERT INTO big (text) VALUES (?)", (ROW,))


def autocheckpoint(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0])


def hold_a_read(db: Path) -> sqlite3.Connection:
    """Another process's read of the log over its snapshot (a report over a big day): no checkpoint passes it."""
    reader = sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM sqlite_master").fetchone()
    return reader


async def test_commits_go_through_while_the_wal_a_long_read_let_grow_is_folded_back(tmp_path: Path) -> None:
    # Before, SQLite's automatic checkpoint folded it back inside the writer's first commit after the read: the events
    # behind that commit waited for all of it (up to 1.4 s after a read of 2 minutes at 200 events/s,
    # bench/bench_wal.py), and no commit could end while a fold of the log was under way.
    db = tmp_path / "log.db"
    writer = Writer(db)
    writer.prepare(lambda conn: conn.execute("CREATE TABLE big (text TEXT)"))
    try:
        await writer.submit(add)
        with closing(hold_a_read(db)) as reader:
            while Path(f"{db}-wal").stat().st_size < 3 * PAGES_PAST:
                await writer.submit(add)
            woken = folders(), await writer.submit(autocheckpoint)  # while the read holds
            reader.execute("COMMIT")
        during = 0

        async def committed_during_a_fold() -> bool:
            nonlocal during
            await writer.submit(add)
            during += folding(db)  # after the commit: the fold began before it ended, and is not over
            return during >= 3

        await eventually(committed_during_a_fold, timeout=60.0, interval=0.0)
        assert woken == (1, 0)  # a folder's thread, and the writer's connection checkpointing nothing
        await eventually(lambda: folders() == 0, timeout=60.0)
        # The writer's next commit gives its connection SQLite's own checkpoint back and starts the -wal over.
        await writer.submit(add)
        assert await writer.submit(autocheckpoint) == apart.AUTOCHECKPOINT
        assert Path(f"{db}-wal").stat().st_size <= 64 * 1024 * 1024 and not folding(db)
    finally:
        await writer.close()
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert not Path(f"{db}-wal").exists() or Path(f"{db}-wal").stat().st_size == 0  # the stop's own fold


async def test_the_steady_state_never_starts_the_folder(tmp_path: Path) -> None:
    # SQLite's own checkpoint folds the -wal back at every 1,000 pages inside a commit: no thread, no lock, nothing
    # beside the note of the -shm the overwrite check reads anyway (a checkpointer doing every checkpoint cost every
    # logged event 1.18-1.24x the server's CPU).
    db = tmp_path / "log.db"
    writer = Writer(db)
    writer.prepare(lambda conn: conn.execute("CREATE TABLE big (text TEXT)"))
    written = 0
    seen = 0
    try:
        while written < 2 * PAGES_PAST:  # twice the -wal's pages that wake a folder, all folded back
            await writer.submit(add)
            written += len(ROW) * 3
            seen = max(seen, folders())
        assert await writer.submit(autocheckpoint) == apart.AUTOCHECKPOINT
    finally:
        await writer.close()
    assert seen == 0
    assert written > apart.FRAMES * 4096


async def test_the_writer_opening_its_connection_again_mid_fold_keeps_the_one_folder_and_its_lock(
    tmp_path: Path,
) -> None:
    # A failed group whose ROLLBACK fails too makes the writer open its connection again. Before, the writer then
    # watched the same files with a new watch: its next commit started a second folder beside the first (two threads
    # folding, each under a lock of its own, so a look or a record of one could catch the other's fold half-way),
    # its new connection checkpointed inside its first commit meanwhile, and the stop ended only the second folder.
    db = tmp_path / "log.db"
    writer = Writer(db)
    writer.prepare(lambda conn: conn.execute("CREATE TABLE big (text TEXT)"))
    failing = threading.Event()

    def refuse_ending(action: int, what: str | None, *_: str | None) -> int:
        ending = action == sqlite3.SQLITE_TRANSACTION and what in ("COMMIT", "ROLLBACK")
        return sqlite3.SQLITE_DENY if ending and failing.is_set() else sqlite3.SQLITE_OK

    def fails_to_end(conn: sqlite3.Connection) -> None:  # an I/O fault its COMMIT and ROLLBACK both meet
        add(conn)
        conn.set_authorizer(refuse_ending)
        failing.set()

    rows = 0
    try:
        with closing(hold_a_read(db)) as reader:
            while folders() == 0:
                await writer.submit(add)
                rows += 1
            with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
                await writer.submit(fails_to_end)
            failing.clear()
            reopened = await writer.submit(autocheckpoint)  # the new connection's first group
            for _ in range(20):
                await writer.submit(add)
                rows += 1
            during = folders(), await writer.submit(autocheckpoint)
            reader.execute("COMMIT")
        await eventually(lambda: folders() == 0, timeout=60.0)
        await writer.submit(add)
        rows += 1
        after = await writer.submit(autocheckpoint)
        assert Path(f"{db}-wal").stat().st_size <= 64 * 1024 * 1024
    finally:
        await writer.close()
        left = folders()
    assert reopened == 0 and during == (1, 0)  # one folder, the writer's connection checkpointing nothing meanwhile
    assert after == apart.AUTOCHECKPOINT and left == 0
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM big").fetchone()[0] == rows  # nothing of the failed group
    assert not walowner.foreign_wal(db)


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
            assert await post(session, service.url, f"a{n}") == 200
            acked.add(f"a{n}")
            await eventually(lambda: folding(db), timeout=30.0, interval=0.0)
            service.kill()
    finally:
        service.stop()
    assert folding(db)  # killed half-way through the fold: the file written, the -shm says a fold was begun
    assert "not folded back (a long read): folded apart" in service.log.read_text()  # the fold was the folder's
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
    assert not Path(f"{db}-wal").exists() or Path(f"{db}-wal").stat().st_size == 0  # the stop folded it all back
