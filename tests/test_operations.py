"""What an operator running the service on one machine meets: a second service on the same SQLite file, the
file deleted or replaced under it, a copy of the file after a clean stop, a port already taken, an archived
day asked of the report, and the words of a refused start or reload."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from assistant import i18n, store
from assistant.config import Config
from assistant.daylog.archive import SUFFIX, archive_root, shop_dirname
from assistant.suggest.phrases import Library, LibraryError
from assistant.web import server
from tests.helpers import ROOT, body_of, eventually, make_app, make_event, replace_config
from tests.service import Service


def events(n: int, start: int = 0) -> bytes:
    return body_of([make_event(id=f"e{i}", conversation=f"c{i % 3}", text=f"第{i}条") for i in range(start, start + n)])


def serve(db: Path, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "assistant", "serve", "--config", str(ROOT / "config.toml"), "--db", str(db),
         "--port", str(port)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def free_port() -> int:
    with closing(socket.create_server(("127.0.0.1", 0))) as s:
        return int(s.getsockname()[1])


async def ready(port: int) -> bool:
    try:
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/readyz") as resp:
            return resp.status == 200
    except aiohttp.ClientError:
        return False


async def test_a_second_service_on_the_same_sqlite_file_stops_at_once(tmp_path: Path) -> None:
    db = tmp_path / "assistant.db"
    first_port = free_port()
    first = serve(db, first_port)
    try:
        await eventually(lambda: ready(first_port), timeout=60)
        # Both armed the same timers and sent every follow-up twice.
        second_port = free_port()
        second = serve(db, second_port)
        try:  # it stops by itself, or it serves (as before the lock)
            await eventually(lambda: second.poll() is not None or ready(second_port), timeout=60)
        finally:
            if second.poll() is None:
                second.terminate()
            _out, err = second.communicate(timeout=60)
        assert second.returncode == 1
        assert f"{db}：已经有另一个服务进程在使用这个数据库" in err and "docs/scaling.md" in err
        assert await ready(first_port)  # the first goes on serving
        report = subprocess.run(  # the commands that read the log do not take the lock
            [sys.executable, "-m", "assistant", "report", "--config", str(ROOT / "config.toml"), "--db", str(db),
             "--date", "2026-11-20", "--format", "json"],
            capture_output=True, text=True, cwd=ROOT, timeout=60,
        )  # fmt: skip
        assert report.returncode == 0, report.stderr
    finally:
        first.terminate()
        first.communicate(timeout=60)
    assert first.returncode == 0
    again_port = free_port()
    again = serve(db, again_port)  # a service stopped lets the next one start
    try:
        await eventually(lambda: ready(again_port), timeout=60)
    finally:
        again.terminate()
        again.communicate(timeout=60)


@pytest.mark.parametrize("how", ["deleted", "replaced"])
async def test_a_database_file_deleted_or_replaced_under_the_service_answers_503(
    aiohttp_client: Any, config: Config, db_path: Path, tmp_path: Path, how: str
) -> None:
    client = await aiohttp_client(make_app(config))
    assert (await client.post("/v1/events", data=events(5))).status == 200
    if how == "deleted":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    else:
        other = tmp_path / "other.db"
        with closing(sqlite3.connect(other)) as conn:
            conn.execute("CREATE TABLE t (x)")
        os.replace(other, db_path)
    # Every later event was answered 200 and went into a file no one would read again.
    resp = await client.post("/v1/events", data=events(5, 5))
    assert resp.status == 503, await resp.text()
    assert resp.headers.get("Retry-After")
    ready = await client.get("/readyz")
    assert ready.status == 503
    assert "deleted or replaced" in await ready.text()


async def test_a_backup_restored_under_the_service_is_not_mixed_with_the_log_it_replaced(
    aiohttp_client: Any, config: Config, db_path: Path, tmp_path: Path
) -> None:
    client = await aiohttp_client(make_app(config))
    assert (await client.post("/v1/events", data=events(5))).status == 200
    backup = tmp_path / "backup.db"
    with closing(sqlite3.connect(db_path)) as conn:
        conn.execute(f"VACUUM INTO '{backup}'")
    for n in range(5, 25):  # one commit each: the -wal holds them
        assert (await client.post("/v1/events", data=events(1, n))).status == 200
    moved = tmp_path / "moved.db"
    os.replace(db_path, moved)  # a supervisor's restore: the log moved aside, the backup copied in its place
    shutil.copyfile(backup, db_path)
    assert (await client.post("/v1/events", data=events(1, 25))).status == 503
    # The -wal beside the restored file held the moved log's commits: a kill now, and the next start applied them
    # to the backup (it held events it never had, or was damaged); the moved file lacked them.
    with closing(sqlite3.connect(db_path)) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 5
    with closing(sqlite3.connect(moved)) as conn:  # the file alone, its -wal left behind at the old name
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 25


@pytest.mark.parametrize("suffix", ["-wal", "-shm"])
async def test_a_wal_or_shm_file_deleted_under_the_service_answers_503_and_keeps_what_was_acknowledged(
    aiohttp_client: Any, config: Config, db_path: Path, tmp_path: Path, suffix: str
) -> None:
    client = await aiohttp_client(make_app(config))
    assert (await client.post("/v1/events", data=events(5))).status == 200
    Path(f"{db_path}{suffix}").unlink()  # a clean-up script's rm of what looks like a temporary file
    # Every later event was answered 200 into the deleted -wal; a kill then lost them all, and the acknowledged
    # ones before (the database file, never checkpointed, held not even the tables).
    resp = await client.post("/v1/events", data=events(5, 5))
    assert resp.status == 503, await resp.text()
    assert resp.headers.get("Retry-After")
    ready = await client.get("/readyz")
    assert ready.status == 503
    assert f"{db_path}{suffix} file was deleted or replaced" in await ready.text()
    copy = tmp_path / "copy.db"
    shutil.copyfile(db_path, copy)  # the database file alone, as a kill now would leave it
    with closing(sqlite3.connect(copy)) as conn:
        assert [row[0] for row in conn.execute("SELECT id FROM events ORDER BY seq")] == [f"e{i}" for i in range(5)]


async def test_a_clean_stop_leaves_the_whole_log_in_the_database_file(
    aiohttp_client: Any, config: Config, db_path: Path, tmp_path: Path
) -> None:
    client = await aiohttp_client(make_app(config))
    for n in range(20):  # one commit each, as events arriving one at a time
        assert (await client.post("/v1/events", data=events(1, n))).status == 200
    await client.close()  # the service's clean-up, as on SIGTERM
    copy = tmp_path / "copy.db"
    shutil.copyfile(db_path, copy)  # the file alone, as an operator's backup takes it
    with closing(sqlite3.connect(copy)) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 20


async def test_a_port_in_use_stops_the_start_before_any_work(config: Config) -> None:
    taken = socket.create_server(("127.0.0.1", 0))
    port = taken.getsockname()[1]
    started: list[bool] = []

    async def on_startup(app: web.Application) -> None:
        started.append(True)  # timers reloaded, commits made: on a database another service may own

    app = web.Application()
    app.on_startup.append(on_startup)

    async def never() -> None:
        await asyncio.Event().wait()

    with closing(taken), pytest.raises(OSError):
        await server.run(app, config, host="127.0.0.1", port=port, stop=never)
    assert started == []


async def test_the_report_of_an_archived_day_says_it_is_archived(
    aiohttp_client: Any, config: Config, tmp_path: Path
) -> None:
    config = replace_config(config, "store", archive_dir=str(tmp_path / "archive"))
    client = await aiohttp_client(make_app(config))  # no token set: the pages are open (a local try-out)
    assert (await client.post("/v1/events", data=events(2))).status == 200
    shelf = archive_root(config) / shop_dirname("shop1")
    shelf.mkdir(parents=True)
    (shelf / f"2026-10-02{SUFFIX}").write_bytes(b"")
    page = await client.get("/reports/daily?date=2026-10-02&shop=shop1")
    assert "已归档、未计入本报表：2026-10-02" in await page.text()  # it said no other day had data yet
    answer = await client.get("/v1/reports/daily?date=2026-10-02&shop=shop1")
    assert answer.headers.get("X-Archived") == "2026-10-02"
    other = await client.get("/v1/reports/daily?date=2026-10-03&shop=shop1")
    assert "X-Archived" not in other.headers
    # A range over an archived day (a month's commission) left it out without a word.
    ranged = await client.get("/v1/reports/daily?from=2026-10-01&to=2026-11-20&shop=shop1")
    assert ranged.headers.get("X-Archived") == "2026-10-02"
    settings = tmp_path / "c.toml"
    settings.write_text(
        f'[store]\npath = "{config.location()}"\narchive_dir = "{tmp_path / "archive"}"\n'
        f'[phrases]\npath = "{ROOT / "phrases"}"\n', encoding="utf-8",
    )  # fmt: skip
    cli = subprocess.run(
        [sys.executable, "-m", "assistant", "report", "--config", str(settings), "--from", "2026-10-01",
         "--to", "2026-11-20", "--shop", "shop1"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert "已归档、未计入报表：2026-10-02" in cli.stderr


def test_database_and_directory_problems_are_said_in_the_interface_language() -> None:
    i18n.use("zh_CN")
    assert i18n.database_reason(sqlite3.OperationalError("attempt to write a readonly database")) == "数据库是只读的"
    assert i18n.database_reason(sqlite3.OperationalError("database or disk is full")) == "数据库或磁盘已满"
    assert i18n.database_reason(sqlite3.OperationalError("something new")) == "something new"
    with pytest.raises(LibraryError) as missing:
        Library.load(ROOT / "no-such-phrases")
    assert "没有这个文件或目录" in str(missing.value) and "不是目录" not in str(missing.value)


async def test_a_refused_reload_says_the_phrases_stay_too(
    aiohttp_client: Any, config: Config, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    phrases = tmp_path / "phrases"
    shutil.copytree(ROOT / "phrases", phrases)
    config = replace_config(config, "phrases", path=str(phrases), workers=0)
    client = await aiohttp_client(make_app(config))
    rules = phrases / "qa.toml"
    rules.write_text(rules.read_text(encoding="utf-8") + '\n[[rules]]\nid = "rude.x"\npatterns = ["(oops"]\n',
                     encoding="utf-8")  # fmt: skip
    with caplog.at_level(logging.ERROR):
        assert (await client.post("/v1/admin/reload")).status == 422
    await eventually(lambda: any("phrase library and the quality rules both keep" in r.message for r in caplog.records))
    assert store.exists(config.location())


def test_a_database_file_open_to_other_users_is_made_private(tmp_path: Path) -> None:
    # A file restored from a backup at 0644: other users read the raw chats, and a shared lock taken by any of
    # them on the file stopped the service's start (or, on its -shm, every write).
    db = tmp_path / "restored.db"
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (x)")
        conn.execute("INSERT INTO t VALUES (1)")
        shm = Path(f"{db}-shm")
        os.chmod(db, 0o644)
        if shm.exists():
            os.chmod(shm, 0o644)
        held = store.hold_alone(db)
    try:
        assert db.stat().st_mode & 0o777 == 0o600
        assert not shm.exists() or shm.stat().st_mode & 0o777 == 0o600
    finally:
        store.let_go(held)


# The service as `python -m assistant` runs it, with a mark left by the interpreter's teardown (atexit runs first).
TEARDOWN_MARK = (
    "import atexit, sys; mark = sys.argv.pop(1); atexit.register(lambda: open(mark, 'w').close());"
    " from assistant.cli.main import main; sys.exit(main())"
)


async def test_a_clean_stop_exits_once_the_log_is_closed_without_the_interpreters_teardown(tmp_path: Path) -> None:
    # The teardown frees and collects the whole heap, object by object: 18 s after a busy half hour, all of it after
    # the log's last line, so `docker stop` (10 s) killed the service before the -wal was folded back.
    db, mark, port = tmp_path / "assistant.db", tmp_path / "teardown", free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", TEARDOWN_MARK, str(mark), "serve", "--config", str(ROOT / "config.toml"),
         "--db", str(db), "--port", str(port)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        await eventually(lambda: ready(port), timeout=30)
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "interaction log flushed and closed" in err
    assert not mark.exists()  # ended there, not after walking its heap
    assert not Path(f"{db}-wal").exists()  # folded back before: the file alone is the whole log


def open_files(pid: int) -> list[str]:
    """What each descriptor the process holds open points at. One closed between the listing of /proc/<pid>/fd and
    its reading (a connection's socket, a pipe of a matching worker) is open no more: not among them."""
    names = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            names.append(os.readlink(fd))
        except FileNotFoundError:
            continue  # closed since the listing
    return names


def test_open_files_leaves_out_a_descriptor_closed_while_listed_and_still_sees_a_deleted_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found: the check below read each descriptor's link after listing them all, and failed (FileNotFoundError) once
    # a descriptor of the service closed in between.
    gone = tmp_path / "gone"
    closed: list[int] = []
    with gone.open("w"):
        gone.unlink()
        closing_fd, other = os.pipe()
        os.close(other)
        readlink = os.readlink

        def closed_meanwhile(path: Any) -> str:
            if Path(path).name == str(closing_fd) and not closed:
                os.close(closing_fd)  # as the service closes a socket while the test lists its descriptors
                closed.append(closing_fd)
            return readlink(path)

        monkeypatch.setattr(os, "readlink", closed_meanwhile)
        names = open_files(os.getpid())
    assert closed == [closing_fd]  # it was listed, then closed before its link was read
    assert f"{gone} (deleted)" in names


async def test_the_daily_log_page_and_a_command_beside_the_service_lose_no_acknowledged_event(
    tmp_path: Path,
) -> None:
    # Found: the daily log page made the service check its own file lock by opening and closing the database
    # file, which dropped SQLite's locks; the next command to close its connection (a catalog import, a report)
    # took the -wal for its own and deleted it, and every event answered 200 afterwards went into a deleted file.
    db = tmp_path / "wal.db"
    env = {"ASSISTANT_WEBHOOK_SECRET": "", "ASSISTANT_SUPERVISOR_TOKEN": "sup", "ASSISTANT_ADMIN_TOKEN": ""}
    service = await Service(ROOT / "config.toml", db, env=env).start()
    try:
        async with aiohttp.ClientSession() as session:

            async def post(n: int) -> None:
                event = make_event(id=f"w{n}", conversation=f"c{n}", ts="2026-11-20T10:00:00+08:00")
                async with session.post(f"{service.url}/v1/events", json=event) as resp:
                    assert resp.status == 200, await resp.text()

            await post(1)
            async with session.get(f"{service.url}/logs/daily?date=2026-11-20&token=sup") as resp:
                assert resp.status == 200
            command = [sys.executable, "-m", "assistant", "report", "--date", "2026-11-20", "--db", str(db)]
            subprocess.run(command, cwd=ROOT, capture_output=True, check=True, timeout=120)
            await post(2)
        assert service.proc is not None
        assert not [name for name in open_files(service.proc.pid) if name.endswith("(deleted)")]
        assert service.terminate() == 0
    finally:
        service.stop()
    with closing(sqlite3.connect(db)) as conn:
        assert [row[0] for row in conn.execute("SELECT id FROM events ORDER BY id")] == ["w1", "w2"]
