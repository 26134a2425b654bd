"""The single writer: group commit, per-job isolation, flush on close (on SQLite and on PostgreSQL)."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from assistant import pg, store
from assistant.events import parse_event
from assistant.logfile import apart
from assistant.writer import RECHECK_S, Writer, WriterClosed, is_busy
from tests.helpers import BACKENDS, eventually, make_event


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


def message_indexes(db: store.Location) -> set[object]:
    if isinstance(db, pg.Location):
        return set(count(db, "SELECT indexname FROM pg_indexes WHERE tablename = 'messages'"))
    return set(count(db, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'messages'"))


@BACKENDS
async def test_writer_drops_the_conversation_time_index_of_an_older_log(db_path: store.Location) -> None:
    # A log made before migration 070 has an index every message wrote and no read needs (schema.py).
    writer = Writer(db_path)
    await writer.close()
    table = "_assistant_migrations" if isinstance(db_path, pg.Location) else "_sqlite_migrations"
    conn = store.connect(db_path)
    try:
        conn.execute("CREATE INDEX messages_conversation_ts ON messages (shop, conversation, ts_ms)")
        conn.execute(f"DELETE FROM {table} WHERE name = '070_one_conversation_index'")
    finally:
        conn.close()
    assert "messages_conversation_ts" in message_indexes(db_path)
    writer = Writer(db_path)
    await writer.close()
    indexes = message_indexes(db_path)
    assert "messages_conversation_ts" not in indexes
    assert "messages_kpi_conversation" in indexes  # what a conversation's messages are found by


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


async def test_writer_cuts_the_log_file_back_after_a_long_read(tmp_path: Path) -> None:
    # A reader's old snapshot keeps every commit in the write-ahead log; once it is gone the file is cut back.
    path = tmp_path / "w.db"
    limit = 256 * 1024
    writer = Writer(path, wal_limit_bytes=limit)
    wal = Path(f"{path}-wal")
    await writer.submit(lambda c: c.execute("CREATE TABLE t (b BLOB)"))
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM t").fetchone()[0] == 0
    rows = apart.AUTOCHECKPOINT * 3 // 2 * 4096 // 100_000  # more than one checkpoint interval, short of a folder's
    for _ in range(rows):
        await writer.submit(lambda c: c.execute("INSERT INTO t VALUES (randomblob(100000))"))
    grown = wal.stat().st_size
    reader.execute("COMMIT")
    reader.close()
    for _ in range(3):  # the first commit checkpoints the whole log, the next starts it again from the top
        await writer.submit(lambda c: c.execute("INSERT INTO t VALUES (1)"))
    cut = wal.stat().st_size
    count = await writer.submit(lambda c: c.execute("SELECT count(*) FROM t").fetchone()[0])
    await writer.close()
    assert grown > apart.AUTOCHECKPOINT * 4096
    assert cut <= limit
    assert count == rows + 3


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


async def test_writer_starts_the_next_group_while_the_event_loop_is_busy(tmp_path: Path) -> None:
    """The group loop runs in the writer's thread: a COMMIT is followed by the next group at once, not when the
    event loop next gets round to it (under load the loop is busy with other requests)."""
    writer = Writer(tmp_path / "g.db")
    first_running, release_first, second_ran = threading.Event(), threading.Event(), threading.Event()

    def first(conn: sqlite3.Connection) -> str:
        first_running.set()
        release_first.wait(timeout=10)
        return "first"

    def second(conn: sqlite3.Connection) -> str:
        second_ran.set()
        return "second"

    one = asyncio.ensure_future(writer.submit(first))
    await eventually(first_running.is_set)
    two = asyncio.ensure_future(writer.submit(second))
    await asyncio.sleep(0)  # `two` is queued behind the group that runs `first`
    release_first.set()
    # The loop is held here (as a busy loop would be) until the writer has run the second group on its own.
    assert second_ran.wait(timeout=10)
    assert (await one, await two) == ("first", "second")
    assert writer.commits == 2
    await writer.close()


async def test_writer_close_commits_what_is_queued_and_refuses_more(tmp_path: Path) -> None:
    writer = Writer(tmp_path / "c.db")
    await writer.submit(lambda c: c.execute("CREATE TABLE t (x INTEGER)"))

    def insert(i: int) -> Callable[[sqlite3.Connection], object]:
        return lambda c: c.execute("INSERT INTO t VALUES (?)", (i,))

    pending = [asyncio.ensure_future(writer.submit(insert(i))) for i in range(50)]
    await asyncio.sleep(0)  # all queued
    await writer.close()
    assert all(task.done() and task.exception() is None for task in pending)
    with pytest.raises(WriterClosed):
        await writer.submit(lambda c: None)
    assert count(tmp_path / "c.db", "SELECT count(*) FROM t") == [50]


async def test_writer_job_that_exits_fails_its_group_and_the_writer_goes_on(tmp_path: Path) -> None:
    writer = Writer(tmp_path / "x.db")
    await writer.submit(lambda c: c.execute("CREATE TABLE t (x INTEGER)"))

    def exits(c: sqlite3.Connection) -> None:
        c.execute("INSERT INTO t VALUES (1)")
        raise SystemExit(3)

    with pytest.raises(RuntimeError, match="SystemExit"):
        await asyncio.wait_for(writer.submit(exits), timeout=10)  # a dead writer thread would never answer
    await writer.submit(lambda c: c.execute("INSERT INTO t VALUES (2)"))
    await writer.close()
    assert count(tmp_path / "x.db", "SELECT x FROM t") == [2]


async def test_writer_group_whose_commit_and_rollback_fail_is_not_acknowledged_and_later_groups_commit(
    tmp_path: Path,
) -> None:
    db = tmp_path / "x.db"
    writer = Writer(db)
    await writer.submit(lambda c: c.execute("CREATE TABLE t (x INTEGER)"))
    failing = threading.Event()

    def refuse_ending(action: int, what: str | None, *_: str | None) -> int:
        # A fault on commit that the ROLLBACK meets as well (an I/O error): its statements fail.
        ending = action == sqlite3.SQLITE_TRANSACTION and what in ("COMMIT", "ROLLBACK")
        return sqlite3.SQLITE_DENY if ending and failing.is_set() else sqlite3.SQLITE_OK

    def faulty(c: sqlite3.Connection) -> None:
        c.execute("INSERT INTO t VALUES (1)")
        c.set_authorizer(refuse_ending)
        failing.set()

    with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
        await writer.submit(faulty)
    failing.clear()
    # The connection stayed inside the failed transaction: every later group failed at its BEGIN
    # ('cannot start a transaction within a transaction') until a restart.
    await asyncio.wait_for(writer.submit(lambda c: c.execute("INSERT INTO t VALUES (2)")), timeout=10)
    assert await writer.probe() is None
    await writer.close()
    assert count(db, "SELECT x FROM t") == [2]  # nothing of the group that failed


def _crossing(first: int, second: int, mine: threading.Event, theirs: threading.Event) -> Callable[..., None]:
    """A job that locks one row, waits until the other job has locked the other, then wants that one too."""

    def job(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE counters SET n = n + 1 WHERE id = ?", (first,))
        mine.set()
        theirs.wait(timeout=10)  # set for good: a rerun goes straight on
        conn.execute("UPDATE counters SET n = n + 1 WHERE id = ?", (second,))

    return job


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_writers_of_two_instances_that_deadlock_both_commit_once(db_path: store.Location) -> None:
    """PostgreSQL aborts one of two crossing transactions; its group is rolled back whole and runs again."""
    one, two = Writer(db_path), Writer(db_path)
    try:
        await one.submit(lambda conn: conn.execute("CREATE TABLE counters (id INTEGER PRIMARY KEY, n INTEGER)"))
        await one.submit(lambda conn: conn.execute("INSERT INTO counters VALUES (1, 0), (2, 0)"))
        a, b = threading.Event(), threading.Event()
        await asyncio.gather(
            one.submit(_crossing(1, 2, a, b), together=True), two.submit(_crossing(2, 1, b, a), together=True)
        )
        assert count(db_path, "SELECT n FROM counters ORDER BY id") == [2, 2]  # each job's work, once
        # A job that may not run twice is not run again: the one that loses fails, as before.
        c, d = threading.Event(), threading.Event()
        results = await asyncio.gather(
            one.submit(_crossing(1, 2, c, d)), two.submit(_crossing(2, 1, d, c)), return_exceptions=True
        )
        assert [type(r) for r in results].count(sqlite3.OperationalError) == 1, results
        assert count(db_path, "SELECT n FROM counters ORDER BY id") == [3, 3]
        # Jobs that may run twice, in a group with one that may not (a claim, a probe): the loser of the two
        # runs again on its own, and both commit (its event was once answered 503).
        gate, started, e, f = threading.Event(), threading.Event(), threading.Event(), threading.Event()

        def hold(conn: sqlite3.Connection) -> None:
            started.set()
            gate.wait(timeout=10)

        held = asyncio.ensure_future(one.submit(hold))
        await eventually(started.is_set)  # the writer is busy with it: what comes next waits as one group
        mixed = [one.submit(lambda conn: None), one.submit(_crossing(1, 2, e, f), together=True)]
        queued = [asyncio.ensure_future(m) for m in mixed]
        await eventually(lambda: one._queue.qsize() == 2)  # both queued behind the gate: one group
        gate.set()
        other = two.submit(_crossing(2, 1, f, e), together=True)
        outcomes = await asyncio.gather(held, *queued, other, return_exceptions=True)
        assert not [r for r in outcomes if isinstance(r, BaseException)], outcomes
        assert count(db_path, "SELECT n FROM counters ORDER BY id") == [5, 5]  # each of the two, once
    finally:
        await one.close()
        await two.close()


async def test_writer_waits_for_another_process_lock_at_most_busy_timeout_from_submission(tmp_path: Path) -> None:
    # A job queued behind a group already waiting for the lock waited that group's busy_timeout_s, then its own:
    # twice the bound before its 503, past a chat platform's webhook timeout.
    path = tmp_path / "w.db"
    writer = Writer(path, busy_timeout_s=1.0)
    await writer.submit(lambda c: c.execute("CREATE TABLE t (x INTEGER)"))
    statements: list[str] = []
    writer._conn.set_trace_callback(statements.append)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        first = asyncio.ensure_future(writer.submit(lambda c: c.execute("INSERT INTO t VALUES (1)")))
        await eventually(lambda: "BEGIN IMMEDIATE" in statements)  # its group waits for the lock
        second = asyncio.ensure_future(writer.submit(lambda c: c.execute("INSERT INTO t VALUES (2)")))
        outcomes = await asyncio.gather(first, second, return_exceptions=True)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert all(isinstance(o, sqlite3.OperationalError) and is_busy(o) for o in outcomes), outcomes
    assert outcomes[0] is not outcomes[1]  # each request its own error (and traceback)
    waits, wait_ms = [], 1000
    for statement in statements:
        if statement.startswith("PRAGMA busy_timeout="):
            wait_ms = int(statement.split("=")[1])
        elif statement == "BEGIN IMMEDIATE":
            waits.append(wait_ms)
    assert waits[0] == 1000 and all(w < 1000 for w in waits[1:]), waits  # the second waits only what it has left
    await writer.submit(lambda c: c.execute("INSERT INTO t VALUES (3)"))  # the full wait again once free
    await writer.close()
    assert count(path, "SELECT x FROM t") == [3]


def _full() -> sqlite3.OperationalError:
    exc = sqlite3.OperationalError("database or disk is full")
    exc.sqlite_errorcode = 13  # type: ignore[attr-defined]
    return exc


async def test_writer_probe_is_ready_once_the_disk_has_room_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A full disk kept /readyz red for 30 s after the space came back, though writes went through: an orchestrator
    # routing by readiness sent no event to clear it.
    writer = Writer(tmp_path / "w.db")
    writer.start()
    full = _full()
    writer.fault = (time.monotonic(), full)
    free = {"bytes": 0}
    monkeypatch.setattr(
        shutil,
        "disk_usage",
        lambda path: shutil._ntuple_diskusage(10**9, 10**9 - free["bytes"], free["bytes"]),  # type: ignore[attr-defined]
    )
    assert await writer.probe() is full  # still no room: the remembered fault stands
    free["bytes"] = 10**8
    assert await writer.probe() is None  # room, and a write commits: ready at once
    assert writer.fault is None
    writer.fault = (time.monotonic(), full)  # full again
    assert await writer.probe() is full  # one such probe a second at most
    writer._rechecked -= RECHECK_S
    assert await writer.probe() is None
    await writer.close()
