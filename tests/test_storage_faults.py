"""Database trouble: 503 with Retry-After (never 500, never acknowledged), /readyz says so, the service recovers."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from sqlite_utils import Database

from assistant import schema, store, upgrade
from assistant.cli import serve
from assistant.config import Config
from assistant.events import parse_event
from assistant.web.appkeys import WRITER
from tests.helpers import ROOT, body_of, eventually, make_event
from tests.service import Service, free_port

Client = TestClient  # type: ignore[type-arg]


def logged(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])


async def test_storage_full_disk_answers_503_then_recovers(
    client: Client, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (await client.post("/v1/events", data=body_of(make_event()))).status == 200
    writer = client.app[WRITER]
    # A tiny file system: the database may not grow by a single page more, and the disk shows no room.
    pages = await writer.submit(lambda conn: conn.execute("PRAGMA page_count").fetchone()[0])
    await writer.submit(lambda conn: conn.execute(f"PRAGMA max_page_count = {pages}"))
    full = shutil.disk_usage(db_path.parent)._replace(free=0)
    monkeypatch.setattr("assistant.writer.shutil.disk_usage", lambda path: full)
    events = [make_event(text="这件衣服有现货吗" * 500) for _ in range(20)]
    resp = await client.post("/v1/events", data=body_of(events))
    assert resp.status == 503
    assert resp.headers["Retry-After"] == "5"
    assert (await resp.json())["error"] == "storage_unavailable"
    ready = await client.get("/readyz")
    assert ready.status == 503 and "full" in (await ready.json())["message"]
    assert (await client.get("/healthz")).status == 200  # alive, only not ready
    assert logged(db_path) == 1  # nothing of the refused batch
    await writer.submit(lambda conn: conn.execute("PRAGMA max_page_count = 1073741823"))
    monkeypatch.undo()  # room on the disk again
    assert (await client.post("/v1/events", data=body_of(events))).status == 200
    assert (await client.get("/readyz")).status == 200
    assert logged(db_path) == 21


LOCK_HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()  # holds the write lock until its input closes
conn.execute("ROLLBACK")
"""


async def test_storage_lock_held_by_another_process_answers_503_within_chatwoots_timeout(
    client: Client, db_path: Path
) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(db_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        # Chatwoot gives a webhook 5 s; the answer must come before that, and say "later".
        resp = await client.post("/v1/events", data=body_of(make_event()), timeout=aiohttp.ClientTimeout(total=5))
        assert resp.status == 503 and resp.headers["Retry-After"]
        assert (await client.get("/readyz", timeout=aiohttp.ClientTimeout(total=5))).status == 503
    finally:
        assert holder.stdin is not None and holder.stdout is not None
        holder.stdin.close()
        holder.wait(10)
        holder.stdout.close()
    assert logged(db_path) == 0
    assert (await client.post("/v1/events", data=body_of(make_event()))).status == 200
    assert (await client.get("/readyz")).status == 200


@pytest.mark.parametrize("pending", [False, True], ids=["migrated", "migration_pending"])
async def test_storage_a_start_waits_for_a_lock_another_process_holds_then_serves(
    tmp_path: Path, pending: bool
) -> None:
    # Found: the start exited 1 after one busy_timeout_s ('数据库无法使用：database is locked'), naming neither the file
    # nor the lock's holder (under a supervisor that restarts it, a loop of starts for as long as the lock); once that
    # waited, a log needing a migration still exited 1 ('无法打开数据库（database is locked）').
    db = tmp_path / "assistant.db"
    conn = store.connect(db)
    if pending:  # a log of the release before: one migration pending
        schema.migrations.apply(Database(conn), stop_before=schema.migrations._migrations[-1].name)
    else:
        upgrade.migrate(conn)
    conn.close()
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    service = Service(ROOT / "config.toml", db, log_dir=tmp_path)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        await service.start(listening=True)
        proc = service.proc
        assert proc is not None

        async def readiness() -> tuple[int, str]:
            async with aiohttp.ClientSession() as session, session.get(f"{service.url}/readyz") as resp:
                return resp.status, await resp.text()

        async def says_locked() -> bool:
            assert proc.poll() is None, service.log.read_text()[-2000:]
            status, text = await readiness()
            return status == 503 and "another process holds the database's lock" in text

        await eventually(says_locked, timeout=60)
        async with aiohttp.ClientSession() as session:  # answered at once meanwhile, not held for the start
            async with session.post(f"{service.url}/v1/events", data=body_of(make_event(id="early"))) as resp:
                assert resp.status == 503
        assert holder.stdin is not None
        holder.stdin.close()  # the shell's transaction ends

        async def ready() -> bool:
            assert proc.poll() is None, service.log.read_text()[-2000:]
            return (await readiness())[0] == 200

        await eventually(ready, timeout=60)
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{service.url}/v1/events", data=body_of(make_event())) as resp:
                assert resp.status == 200
        assert service.terminate() == 0
    finally:
        service.stop()
        if holder.stdin is not None and not holder.stdin.closed:
            holder.stdin.close()
        holder.wait(10)
        if holder.stdout is not None:
            holder.stdout.close()
    assert logged(db) == 1
    with sqlite3.connect(db) as conn:
        assert upgrade.pending_migrations(conn) == []


def read_only(path: Path, on: bool) -> None:
    """Make a directory and its files unwritable (root writes through permission bits: mark them immutable)."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i" if on else "-i", "-R", str(path)], check=True)
    else:
        for name in os.listdir(path):
            os.chmod(path / name, 0o444 if on else 0o644)
        os.chmod(path, 0o555 if on else 0o755)


def serve_once(db: Path) -> subprocess.CompletedProcess[str]:
    """`assistant serve` on the log `db`, run to its end (a start that refuses ends at once; 60 s bounds a hang)."""
    return subprocess.run(
        [sys.executable, "-m", "assistant", "serve", "--db", str(db), "--port", str(free_port())],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_storage_read_only_directory_stops_the_start_with_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    db = data / "assistant.db"
    conn = store.connect(db)
    upgrade.migrate(conn)
    conn.close()
    read_only(data, True)
    try:
        done = serve_once(db)
    finally:
        read_only(data, False)
    assert done.returncode == 1, done.stderr[-2000:]
    assert f"assistant: {db}：无法" in done.stderr  # in the interface's language (was English among Chinese lines)
    assert "Traceback" not in done.stderr


async def test_storage_an_empty_file_stops_the_start_saying_what_to_do_unless_told_to_start_a_new_log(
    tmp_path: Path,
) -> None:
    db = tmp_path / "assistant.db"
    db.touch()  # an operator's touch, a copy cut to nothing, a restore that failed
    done = serve_once(db)
    assert done.returncode == 1, done.stderr[-2000:]  # it started a new, empty log in it without a word
    assert f"assistant: {db} 是一个空文件（0 字节），不是日志" in done.stderr and "--new-log" in done.stderr
    assert "Traceback" not in done.stderr
    assert db.stat().st_size == 0  # left as it was
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant", "serve", "--db", str(db), "--port", str(port), "--new-log"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        async def ready() -> bool:
            assert proc.poll() is None
            try:
                async with aiohttp.ClientSession() as session:
                    async with session.get(f"http://127.0.0.1:{port}/readyz") as resp:
                        return resp.status == 200
            except aiohttp.ClientConnectionError:
                return False

        await eventually(ready, timeout=60)
        proc.terminate()
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert db.stat().st_size > 0 and logged(db) == 0


def test_storage_the_file_a_first_start_creates_has_its_header_before_the_log_opens(tmp_path: Path) -> None:
    db = tmp_path / "data" / "assistant.db"
    held = serve._hold_alone(db)  # the start's first step; a crash after it left a file of 0 bytes, refused next
    try:
        assert db.stat().st_size > 0
        assert not serve._empty(db)
    finally:
        store.let_go(held)


def a_log_cut_short(db: Path) -> None:
    """A log of a few hundred events, then cut to half its size: a copy taken while it was being written."""
    conn = store.connect(db)
    upgrade.migrate(conn)
    events = [
        parse_event(make_event(id=f"e{i}", text=f"第{i}条 什么时候发货"), max_text_chars=5000) for i in range(400)
    ]
    with store.transaction(conn):
        store.insert_events(conn, [(event, None) for event in events])
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    with db.open("r+b") as f:
        f.truncate(db.stat().st_size // 2)


@pytest.mark.parametrize("damage", ["cut short", "not a database"])
def test_storage_a_damaged_file_stops_the_start_saying_what_to_do_and_is_left_as_it_was(
    tmp_path: Path, damage: str
) -> None:
    db = tmp_path / "assistant.db"
    if damage == "cut short":
        a_log_cut_short(db)
    else:
        db.write_bytes(b"order_id,amount\n" * 300)  # a file of another kind, given as the log
    before = db.read_bytes()
    done = serve_once(db)
    assert done.returncode == 1, done.stderr[-2000:]
    # It said SQLite's words alone ('database disk image is malformed', in English), and not what to do.
    assert f"assistant: {db}：无法打开数据库" in done.stderr
    assert "请把最近的备份恢复到这个路径" in done.stderr and "把这个文件移走" in done.stderr
    assert "malformed" not in done.stderr and "Traceback" not in done.stderr
    assert db.read_bytes() == before  # never a new, empty log in its place


def test_storage_new_database_files_are_private(config: Config, db_path: Path) -> None:
    conn = store.connect(db_path)
    upgrade.migrate(conn)
    conn.execute("CREATE TABLE t (x)")
    try:
        modes = {p.name: p.stat().st_mode & 0o777 for p in db_path.parent.iterdir() if p.name.startswith(db_path.name)}
    finally:
        conn.close()
    assert modes == {db_path.name: 0o600, f"{db_path.name}-wal": 0o600, f"{db_path.name}-shm": 0o600}
