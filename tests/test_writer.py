"""The single writer: group commit, per-job isolation, flush on close."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.writer import Writer, WriterClosed


async def test_writer_groups_concurrent_jobs_into_few_commits(tmp_path: Path) -> None:
    writer = Writer(tmp_path / "w.db")
    await writer.submit(lambda c: c.execute("CREATE TABLE t (x INTEGER)"))
    before = writer.commits

    def insert(i: int) -> Callable[[sqlite3.Connection], object]:
        return lambda c: c.execute("INSERT INTO t VALUES (?)", (i,))

    await asyncio.gather(*(writer.submit(insert(i)) for i in range(500)))
    assert writer.commits - before < 50
    await writer.close()
    with sqlite3.connect(tmp_path / "w.db") as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 500


async def test_writer_failing_job_is_rolled_back_alone(tmp_path: Path) -> None:
    writer = Writer(tmp_path / "w.db")
    await writer.submit(lambda c: c.execute("CREATE TABLE t (x INTEGER UNIQUE)"))

    def bad(c: sqlite3.Connection) -> None:
        c.execute("INSERT INTO t VALUES (99)")
        raise ValueError("boom")

    results = await asyncio.gather(
        writer.submit(lambda c: c.execute("INSERT INTO t VALUES (1)")),
        writer.submit(bad),
        writer.submit(lambda c: c.execute("INSERT INTO t VALUES (2)")),
        return_exceptions=True,
    )
    assert isinstance(results[1], ValueError)
    await writer.close()
    with sqlite3.connect(tmp_path / "w.db") as conn:
        assert sorted(r[0] for r in conn.execute("SELECT x FROM t")) == [1, 2]


async def test_writer_refuses_work_after_close(tmp_path: Path) -> None:
    writer = Writer(tmp_path / "w.db")
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
