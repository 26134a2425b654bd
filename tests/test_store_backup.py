"""`assistant store backup`: a copy of the SQLite log taken while the service writes to it, and one the disk cuts short."""

from __future__ import annotations

import asyncio
import resource
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

from aiohttp.test_utils import TestClient

from assistant import store, upgrade
from assistant.events import parse_event
from tests.helpers import ROOT, body_of, eventually, make_event

Client = TestClient  # type: ignore[type-arg]


def backup(source: Path, target: Path, *, file_limit: int | None = None) -> subprocess.CompletedProcess[str]:
    """`assistant store backup` in a process of its own; `file_limit`: no file it writes may grow past so many bytes
    (its disk is full there)."""

    def limited() -> None:
        if file_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))

    return subprocess.run(
        [sys.executable, "-m", "assistant", "store", "backup", "--from", str(source), str(target)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=limited,
    )


async def test_store_backup_taken_under_traffic_holds_every_event_acknowledged_before_it(
    client: Client, db_path: Path, tmp_path: Path
) -> None:
    acknowledged: list[str] = []
    stopping = asyncio.Event()

    async def traffic() -> None:
        n = 0
        while not stopping.is_set():
            n += 1
            event = make_event(id=f"t{n}", text=f"第{n}条 什么时候发货" + "详" * 300)
            resp = await client.post("/v1/events", data=body_of(event))
            assert resp.status == 200
            acknowledged.append(event["id"])

    writing = asyncio.create_task(traffic())
    await eventually(lambda: len(acknowledged) >= 200, timeout=60)
    before = list(acknowledged)
    target = tmp_path / "backups" / "assistant-backup.db"
    target.parent.mkdir()
    done = await asyncio.to_thread(backup, db_path, target)  # the service goes on taking events meanwhile
    stopping.set()
    await writing
    assert done.returncode == 0, done.stderr
    assert str(target) in done.stdout
    with closing(sqlite3.connect(target)) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        ids = {row[0] for row in copy.execute("SELECT id FROM events")}
        assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one file: no -wal to carry with it
    assert set(before) <= ids
    assert target.stat().st_mode & 0o777 == 0o600  # the raw chats
    again = await asyncio.to_thread(backup, db_path, target)
    assert again.returncode == 1 and "已存在" in again.stderr  # never over an existing file
    with closing(sqlite3.connect(target)) as copy:
        assert {row[0] for row in copy.execute("SELECT id FROM events")} == ids


def test_store_backup_cut_short_by_a_full_disk_leaves_nothing_and_the_log_as_it_was(tmp_path: Path) -> None:
    db = tmp_path / "assistant.db"
    conn = store.connect(db)
    upgrade.migrate(conn)
    events = [parse_event(make_event(id=f"e{i}", text="详" * 500), max_text_chars=5000) for i in range(2000)]
    with store.transaction(conn):
        store.insert_events(conn, [(event, None) for event in events])
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    before = db.read_bytes()
    target = tmp_path / "backup.db"
    done = backup(db, target, file_limit=len(before) // 2)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"没有写出备份 {target}" in done.stderr and "Traceback" not in done.stderr
    assert not target.exists() and not (tmp_path / ".backup.db.partial").exists()
    assert db.read_bytes() == before
