"""The single writer: group commit, per-job isolation, flush on close (on SQLite and on PostgreSQL)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from assistant import pg, store
from assistant.events import parse_event
from assistant.writer import Writer, WriterClosed
from tests.helpers import BACKENDS, make_event


def count(db: store.Location, sql: str) -> list[object]:
    conn = store.connect(db)
    try:
        return [row[0] for row in conn.execute(sql)]
    finally:
        conn.close()


@BACKENDS
async def test_writer_groups_concurrent_jobs_into_few_commits(db_path: store.Location) -> None:
    writer = Writer(db_path)
    await writer.submit(lambda c: c.execute("CREATE TABLE t (x INTEGER)"))
    before = writer.commits

    def insert(i: int) -> Callable[[sqlite3.Connection], object]:
        return lambda c: c.execute("INSERT INTO t VALUES (?)", (i,))

    await asyncio.gather(*(writer.submit(insert(i)) for i in range(500)))
    assert writer.commits - before < 50
    await writer.close()
    assert count(db_path, "SELECT count(*) FROM t") == [500]


@BACKENDS
async def test_writer_failing_job_is_rolled_back_alone(db_path: store.Location) -> None:
    writer = Writer(db_path)
    await writer.submit(lambda c: c.execute("CREATE TABLE t (x INTEGER UNIQUE)"))

    def bad(c: sqlite3.Connection) -> None:
        c.execute("INSERT INTO t VALUES (99)")
        raise ValueError("boom")

    results = await asyncio.gather(
        writer.submit(lambda c: c.execute("INSERT INTO t VALUES (1)")),
        writer.submit(bad),
        writer.submit(lambda c: c.execute("INSERT INTO t VALUES (1)")),  # a constraint the database refuses
        writer.submit(lambda c: c.execute("INSERT INTO t VALUES (2)")),
        return_exceptions=True,
    )
    assert isinstance(results[1], ValueError)
    assert isinstance(results[2], sqlite3.IntegrityError)
    await writer.close()
    assert count(db_path, "SELECT x FROM t ORDER BY x") == [1, 2]


@BACKENDS
async def test_writer_logs_an_event_id_once(db_path: store.Location) -> None:
    writer = Writer(db_path)
    event = parse_event(make_event(id="once"), max_text_chars=5000)
    first, again = await asyncio.gather(
        writer.submit(lambda c: store.insert_event(c, event)), writer.submit(lambda c: store.insert_event(c, event))
    )
    later = await writer.submit(lambda c: store.insert_event(c, event))
    await writer.close()
    assert (first.duplicate, again.duplicate, later.duplicate) == (False, True, True)
    assert first.seq is not None
    assert count(db_path, "SELECT seq FROM events") == [first.seq]
    assert count(db_path, "SELECT count(*) FROM messages") == [1]


@BACKENDS
async def test_writer_migrations_apply_once(db_path: store.Location) -> None:
    for _ in range(2):
        writer = Writer(db_path)
        await writer.close()
    table = "_assistant_migrations" if isinstance(db_path, pg.Location) else "_sqlite_migrations"
    names = count(db_path, f"SELECT name FROM {table} ORDER BY name")
    assert names[:2] == ["001_interaction_log", "002_followups"]
    assert len(names) == len(set(names))


@BACKENDS
async def test_writer_refuses_work_after_close(db_path: store.Location) -> None:
    writer = Writer(db_path)
    await writer.close()
    with pytest.raises(WriterClosed):
        await writer.submit(lambda c: None)


async def test_writer_uses_wal(tmp_path: Path) -> None:
    writer = Writer(tmp_path / "w.db")
    mode = await writer.submit(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0])
    await writer.close()
    assert mode == "wal"


async def test_writer_together_jobs_share_a_savepoint_and_fail_alone(tmp_path: Path) -> None:
    writer = Writer(tmp_path / "w.db")
    await writer.submit(lambda c: c.execute("CREATE TABLE t (x INTEGER UNIQUE)"))
    runs: list[int] = []

    def insert(i: int) -> Callable[[sqlite3.Connection], int]:
        def job(c: sqlite3.Connection) -> int:
            runs.append(i)
            c.execute("INSERT INTO t VALUES (?)", (i,))
            return i * 10

        return job

    def bad(c: sqlite3.Connection) -> None:
        c.execute("INSERT INTO t VALUES (99)")
        raise ValueError("boom")

    results = await asyncio.gather(
        writer.submit(insert(1), together=True),
        writer.submit(bad, together=True),
        writer.submit(insert(2), together=True),
        writer.submit(insert(3), together=True),
        return_exceptions=True,
    )
    assert results[0] == 10 and results[2] == 20 and results[3] == 30
    assert isinstance(results[1], ValueError)
    # One group: the shared savepoint failed, so every job ran again alone (the one before the failure too).
    assert runs == [1, 1, 2, 3]
    await writer.close()
    with sqlite3.connect(tmp_path / "w.db") as conn:
        assert sorted(r[0] for r in conn.execute("SELECT x FROM t")) == [1, 2, 3]


async def test_writer_together_jobs_run_once_when_none_fails(tmp_path: Path) -> None:
    writer = Writer(tmp_path / "w.db")
    await writer.submit(lambda c: c.execute("CREATE TABLE t (x INTEGER)"))
    runs: list[int] = []

    def insert(i: int) -> Callable[[sqlite3.Connection], None]:
        def job(c: sqlite3.Connection) -> None:
            runs.append(i)
            c.execute("INSERT INTO t VALUES (?)", (i,))

        return job

    await asyncio.gather(*(writer.submit(insert(i), together=True) for i in range(200)))
    await writer.close()
    assert sorted(runs) == list(range(200))
    with sqlite3.connect(tmp_path / "w.db") as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 200
