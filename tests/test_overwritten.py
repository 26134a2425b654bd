"""A backup copied over the live SQLite file in place (`cp backup.db assistant.db`, the same inode) while the service
runs: refused, never mixed with the -wal of the file before, at once or after a restart."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import aiohttp
import pytest

from assistant import logfile, store, upgrade
from assistant.events import parse_event
from assistant.logfile import walowner
from tests.helpers import ROOT, body_of, eventually, make_event
from tests.service import Service, free_port


async def post(url: str, event_id: str) -> int:
    async with aiohttp.ClientSession() as session:
        event = make_event(id=event_id, text="什么时候发货" + "详" * 300)
        async with session.post(f"{url}/v1/events", data=body_of(event)) as resp:
            return resp.status


async def past_a_checkpoint(url: str, db: Path) -> None:
    """Events logged one a commit until a checkpoint of the writer wrote the log's file (in WAL mode nothing else
    does), then commits in the -wal after it."""
    before = db.stat()
    n = 0
    while (db.stat().st_size, db.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns):
        assert n < 20_000, "no checkpoint"
        assert await post(url, f"b{n}") == 200
        n += 1
    for m in range(n, n + 30):
        assert await post(url, f"b{m}") == 200


def ids(db: Path) -> set[str]:
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return {row[0] for row in conn.execute("SELECT id FROM events")}


async def serves_once_more(db: Path, tmp_path: Path) -> None:
    """A service started on `db` logs one more event (`d0`) and stops cleanly."""
    again = Service(ROOT / "config.toml", db, log_dir=tmp_path)
    await again.start()
    try:
        assert await post(again.url, "d0") == 200
        assert again.terminate() == 0
    finally:
        again.stop()


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
        await past_a_checkpoint(service.url, db)
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
    await serves_once_more(db, tmp_path)
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


def serve(db: Path) -> subprocess.CompletedProcess[str]:
    """A start that is expected to stop by itself (refused): its exit code and what it said."""
    return subprocess.run(
        [sys.executable, "-m", "assistant", "serve", "--config", str(ROOT / "config.toml"), "--db", str(db),
         "--port", str(free_port())],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


async def test_a_backup_copied_over_the_live_file_just_before_a_kill_is_refused_at_the_next_start(
    tmp_path: Path,
) -> None:
    db, wal = tmp_path / "assistant.db", tmp_path / "assistant.db-wal"
    service = Service(ROOT / "config.toml", db, log_dir=tmp_path)
    await service.start()
    try:
        for n in range(30):
            assert await post(service.url, f"a{n}") == 200
        backup = tmp_path / "backup.db"
        logfile.backup(db, backup)
        await past_a_checkpoint(service.url, db)
        assert service.proc is not None
        service.proc.send_signal(signal.SIGSTOP)  # no commit after the copy (a timer's write-behind would find it)
        shutil.copyfile(backup, db)
        service.kill()
    finally:
        service.stop()
    with closing(sqlite3.connect(f"file:{backup}?mode=ro", uri=True)) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 30
    files = {p.name: p.read_bytes() for p in tmp_path.glob("assistant.db*")}
    # A command run before the restart: before, its read took the -wal as part of the backup (a report of 330 events)
    # and rebuilt the -shm, after which the start no longer told the two files apart.
    report = subprocess.run(
        [sys.executable, "-m", "assistant", "report", "--config", str(ROOT / "config.toml"), "--db", str(db)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert report.returncode == 1, report.stderr
    assert f"{db} 自服务上次写入后被改动过" in report.stderr, report.stderr
    assert {p.name: p.read_bytes() for p in tmp_path.glob("assistant.db*")} == files  # nothing opened or changed
    # Before, this start applied the -wal of the file before to the backup: 330 events, a mix of the two logs.
    refused = serve(db)
    assert refused.returncode == 1, refused.stderr
    assert f"{db} 自服务上次写入后被改动过" in refused.stderr and f"把 {wal} 和 {db}-shm 移开" in refused.stderr
    assert {p.name: p.read_bytes() for p in tmp_path.glob("assistant.db*")} == files  # nothing opened or changed
    aside = tmp_path / "aside"
    aside.mkdir()
    for name in ("assistant.db-wal", "assistant.db-shm"):  # as the message says
        os.replace(tmp_path / name, aside / name)
    await serves_once_more(db, tmp_path)
    assert ids(db) == {f"a{n}" for n in range(30)} | {"d0"}


async def test_a_kill_after_another_process_checkpointed_the_live_log_starts_again_with_every_event(
    tmp_path: Path,
) -> None:
    db = tmp_path / "assistant.db"
    service = Service(ROOT / "config.toml", db, log_dir=tmp_path)
    await service.start()
    # A command's connection: its commit and checkpoint change the file legitimately, after the service's last look.
    shell = store.connect(db)
    try:
        for n in range(30):
            assert await post(service.url, f"a{n}") == 200
        batch = [parse_event(make_event(id=f"s{i}", text="详" * 300), max_text_chars=5000) for i in range(300)]
        with store.transaction(shell):
            store.insert_events(shell, [(event, None) for event in batch[:299]])
        shell.execute("PRAGMA wal_checkpoint")
        with store.transaction(shell):  # and the -wal holds a commit after it
            store.insert_events(shell, [(batch[299], None)])
        service.kill()  # before the service's next commit: its record is older than the file
        again = Service(ROOT / "config.toml", db, log_dir=tmp_path)
        await again.start()  # not taken for a file copied over
        try:
            assert await post(again.url, "d0") == 200
            assert again.terminate() == 0
        finally:
            again.stop()
    finally:
        service.stop()
        shell.close()
    assert ids(db) == {f"a{n}" for n in range(30)} | {f"s{i}" for i in range(300)} | {"d0"}


@pytest.mark.parametrize("change", ["touched", "copied"])
def test_foreign_wal_tells_a_file_copied_over_from_one_touched_after_the_last_record(
    tmp_path: Path, change: str
) -> None:
    db = tmp_path / "assistant.db"
    conn = store.connect(db)
    upgrade.migrate(conn)
    batch = [parse_event(make_event(id=f"a{i}", text="详" * 300), max_text_chars=5000) for i in range(50)]
    with store.transaction(conn):
        store.insert_events(conn, [(event, None) for event in batch])
    backup = tmp_path / "backup.db"
    logfile.backup(db, backup)
    conn.execute("PRAGMA wal_checkpoint")
    with store.transaction(conn):  # frames in the -wal after the checkpoint
        store.insert_events(conn, [(batch[0], None)])
    logfile.Watch(db)  # as the writer: the file as seen now, written down
    assert not walowner.foreign_wal(db)
    if change == "touched":
        info = db.stat()
        os.utime(db, ns=(info.st_atime_ns, info.st_mtime_ns + 10**9))
    else:
        shutil.copyfile(backup, db)
    assert walowner.foreign_wal(db) is (change == "copied")
    conn.close()


async def test_foreign_wal_does_not_take_a_checkpoint_killed_half_way_for_a_file_copied_over(tmp_path: Path) -> None:
    db = tmp_path / "assistant.db"
    conn = store.connect(db)
    conn.execute("PRAGMA wal_autocheckpoint=0")  # the -wal keeps every commit until the checkpoint below
    upgrade.migrate(conn)
    batch = [parse_event(make_event(id=f"a{i}", text="详" * 1000), max_text_chars=5000) for i in range(20000)]
    with store.transaction(conn):
        store.insert_events(conn, [(event, None) for event in batch])
    logfile.Watch(db)  # the writer's last look, then its kill; another process checkpoints and is killed too
    size = db.stat().st_size
    checkpoint = subprocess.Popen(
        [sys.executable, "-c", f"import sqlite3; sqlite3.connect({str(db)!r}).execute('PRAGMA wal_checkpoint')"]
    )
    try:
        await eventually(lambda: db.stat().st_size != size or checkpoint.poll() is not None, timeout=60, interval=0.001)
        checkpoint.kill()
        checkpoint.wait(10)
    finally:
        checkpoint.kill()
        checkpoint.wait(10)
    shm = Path(f"{db}-shm").read_bytes()[: walowner.SHM_BYTES]
    seen = walowner.recorded(db)
    assert seen is not None and walowner.marks(shm)[:12] == seen.checkpoints[:12]
    assert db.stat().st_size != size  # half-way: pages written, not yet marked copied
    # The checkpoint marks its attempt before its first page: before, the next start was refused (a false alarm).
    assert not walowner.foreign_wal(db)
    conn.close()
