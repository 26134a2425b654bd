"""Statements sent together (assistant/pg/pipeline.py): read after their batch, in one round trip on PostgreSQL, an
error raised as sqlite3's with the transaction left for its savepoint's rollback, on both stores."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from types import FrameType

import pytest

from assistant import pg, store, upgrade
from assistant.pg.pipeline import together
from tests.helpers import BACKENDS
from tests.pgcluster import Cluster
from tests.pgwire import round_trips


@BACKENDS
def test_pipeline_answers_are_read_after_the_batch_and_only_then(db_path: store.Location) -> None:
    conn = store.connect(db_path)
    try:
        upgrade.migrate(conn)
        conn.execute("BEGIN")
        with together(conn) as batch:
            batch.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
            batch.executemany("INSERT INTO t (k, v) VALUES (?, ?)", [(1, "a"), (2, "b")])
            updated = batch.execute("UPDATE t SET v = 'c' WHERE k >= ?", (1,))
            rows = batch.execute("SELECT k, v FROM t ORDER BY k")
            none = batch.execute("SELECT v FROM t WHERE k = ?", (3,))
            with pytest.raises(RuntimeError):
                rows.fetchall()  # not answered yet
        assert updated.rowcount == 2
        assert [tuple(r) for r in rows.fetchall()] == [(1, "c"), (2, "c")]
        assert rows.fetchone()["v"] == "c"
        assert none.fetchone() is None
        conn.execute("COMMIT")
    finally:
        conn.close()


@BACKENDS
def test_pipeline_error_is_sqlites_and_the_savepoint_takes_the_transaction_back(db_path: store.Location) -> None:
    conn = store.connect(db_path)
    try:
        upgrade.migrate(conn)
        conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
        conn.execute("BEGIN")
        conn.execute("INSERT INTO t (k) VALUES (1)")
        conn.execute("SAVEPOINT s")
        with pytest.raises(sqlite3.IntegrityError):
            with together(conn) as batch:
                batch.execute("INSERT INTO t (k) VALUES (2)")
                batch.execute("INSERT INTO t (k) VALUES (1)")  # taken
                batch.execute("INSERT INTO t (k) VALUES (3)")
        conn.execute("ROLLBACK TO s")
        conn.execute("RELEASE s")
        conn.execute("COMMIT")
        assert [r[0] for r in conn.execute("SELECT k FROM t ORDER BY k")] == [1]
    finally:
        conn.close()


def test_pipeline_sends_a_batch_in_one_round_trip(pg_cluster: Cluster) -> None:
    with round_trips(pg_cluster.port) as proxy:
        conn = pg.connect_direct(proxy.location(pg_cluster.database()))
        try:
            conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
            before = proxy.count
            with together(conn) as batch:
                sent = [batch.execute("INSERT INTO t (k) VALUES (?) RETURNING k", (k,)) for k in range(10)]
            assert proxy.count - before == 1
            assert [s.fetchone()[0] for s in sent] == list(range(10))
        finally:
            conn.close()


def test_pipeline_on_sqlite_writes_on_the_connection_itself(tmp_path: Path) -> None:
    # The writer carries the timers' changes through `writes` in every request's transaction: on SQLite its
    # statements go to the connection itself, with no Python call between (a generator's context, a wrapper's
    # execute and executemany, a Sent per statement cost a dozen calls a request).
    conn = store.connect(tmp_path / "log.db")
    try:
        conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
        calls: list[str] = []

        def profile(frame: FrameType, event: str, arg: object) -> None:
            if event == "call":
                calls.append(f"{Path(frame.f_code.co_filename).name}:{frame.f_code.co_name}")

        sys.setprofile(profile)
        try:
            with together(conn) as batch:
                batch.writes.executemany("INSERT INTO t (k, v) VALUES (?, ?)", [(1, "a"), (2, "b")])
                batch.writes.execute("UPDATE t SET v = ? WHERE k = ?", ("c", 2))
        finally:
            sys.setprofile(None)
        assert batch.writes is conn
        assert calls == [
            "pipeline.py:together",
            "pipeline.py:__init__",
            "pipeline.py:__enter__",
            "pipeline.py:__exit__",
        ]
        assert [tuple(r) for r in conn.execute("SELECT k, v FROM t ORDER BY k")] == [(1, "a"), (2, "c")]
    finally:
        conn.close()


def test_pipeline_on_postgresql_writes_through_the_batch(pg_cluster: Cluster) -> None:
    conn = pg.connect_direct(pg_cluster.database())
    try:
        with together(conn) as batch:
            assert batch.writes is batch  # its statements go in the pipeline, answered after the Sync
    finally:
        conn.close()
