"""A backup copied over the live SQLite file in place (`cp backup.db assistant.db`, the same inode) while the service
runs: refused, never mixed with the -wal of the file before, at once or after a restart."""

from __future__ import annotations

import os
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import aiohttp
import pytest

from assistant import logfile, store, upgrade
from assistant.events import parse_event
from tests.helpers import ROOT, body_of, make_event
from tests.service import Service


async def post(url: str, event_id: str) -> int:
    async with aiohttp.ClientSession() as session:
        event = make_event(id=event_id, text="什么时候发货" + "详" * 300)
        async with session.post(f"{url}/v1/events", data=body_of(event)) as resp:
            return resp.status


def ids(db: Path) -> set[str]:
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return {row[0] for row in conn.execute("SELECT id FROM events")}


@pytest.mark.parametrize("stop", ["terminate", "kill"])
async def test_a_backup_copied_over_the_live_file_is_refused_and_its_wal_never_applied_to_it(
    tmp_path: Path, stop: str
) -> None:
    db = tmp_path / "assistant.db"
    service = Service(ROOT / "config.toml", db, log_dir=tmp_path)
    await service.start()
    try:
        for n in range(30):  # a commit each
            assert await post(service.url, f"a{n}") == 200
        backup = tmp_path / "backup.db"
        logfile.backup(db, backup)
        for n in range(300):  # past a checkpoint, and commits in the -wal after it
            assert await post(service.url, f"b{n}") == 200
        inode = db.stat().st_ino
        shutil.copyfile(backup, db)  # cp backup.db assistant.db under the running service
        assert db.stat().st_ino == inode
        # Before, events went on into the -wal of the file before (or met 'malformed'), /readyz said ready, and the
        # checkpoints, the last one at stop, copied that -wal into the backup: a damaged file.
        assert await post(service.url, "c0") == 503
        async with aiohttp.ClientSession() as session, session.get(f"{service.url}/readyz") as resp:
            assert resp.status == 503
            assert "overwritten in place" in await resp.text()
        if stop == "kill":
            service.kill()
        else:
            assert service.terminate() == 0
    finally:
        service.stop()
    assert ids(db) == {f"a{n}" for n in range(30)}  # the backup, whole: nothing of the -wal applied to it
    assert [p.name.split(".overwritten-")[0] for p in tmp_path.glob("assistant.db-wal.overwritten-*")] == [
        "assistant.db-wal"
    ]
    again = Service(ROOT / "config.toml", db, log_dir=tmp_path)
    await again.start()
    try:
        assert await post(again.url, "d0") == 200
        assert again.terminate() == 0
    finally:
        again.stop()
    assert ids(db) == {f"a{n}" for n in range(30)} | {"d0"}


def test_watch_tells_a_file_copied_over_from_one_touched_or_written_by_a_checkpoint(tmp_path: Path) -> None:
    db = tmp_path / "assistant.db"
    conn = store.connect(db)
    upgrade.migrate(conn)

    def log_events(into: sqlite3.Connection, prefix: str, n: int) -> None:
        batch = [parse_event(make_event(id=f"{prefix}{i}", text="详" * 300), max_text_chars=5000) for i in range(n)]
        with store.transaction(into):
            store.insert_events(into, [(event, None) for event in batch])

    log_events(conn, "a", 50)
    backup = tmp_path / "backup.db"
    logfile.backup(db, backup)
    log_events(conn, "b", 500)
    conn.execute("PRAGMA wal_checkpoint")
    watch = logfile.Watch(db)
    with closing(store.connect(db)) as shell:  # another connection's commit and checkpoint: marked in the -shm
        log_events(shell, "c", 500)
        shell.execute("PRAGMA wal_checkpoint")
    assert not watch.overwritten()
    info = db.stat()
    os.utime(db, ns=(info.st_atime_ns, info.st_mtime_ns + 10**9))  # a touch: its time alone
    assert not watch.overwritten()  # the -wal set aside would have taken its commits out of the log
    shutil.copyfile(backup, db)
    assert watch.overwritten()
    conn.close()
