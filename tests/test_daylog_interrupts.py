"""A supervisor's long read of a day on SQLite (the daily log, the day's inspection) stopped with the service: its
connection is interrupted, and once it has given up it holds no snapshot, so the writer's last checkpoint folds the
-wal back at once (it waited [store] busy_timeout_s for the reader, and left the -wal unfolded)."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from datetime import date
from pathlib import Path

import pytest

from assistant.config import Config, load_config
from assistant.daylog.interrupts import Interrupts, Stopped
from assistant.daylog.query import DayQuery, Rules, iter_items
from assistant.daylog.source import open_day
from assistant.kpi.simulate import simulate
from assistant.suggest.matcher import Matcher

DAY = date(2026, 11, 20)


@pytest.fixture
def day_log(tmp_path: Path, shipped_matcher: Matcher) -> tuple[Config, Path]:
    db = tmp_path / "log.db"
    simulate(db, DAY, 3, 150, seed=1, progress=False, matcher=shipped_matcher)
    return load_config(None, env={}), db


def read_until_stopped(config: Config, db: Path, interrupts: Interrupts, stop_at: int) -> BaseException | None:
    """The day's items read in a thread as a long read of the service; the stop comes at item `stop_at`."""
    ended: list[BaseException] = []

    def read() -> None:
        with interrupts.reading():
            try:
                with open_day(config, db, DAY) as conn, closing(iter_items(conn, DayQuery(DAY), Rules.from_config(config))) as items:  # fmt: skip
                    for count, _item in enumerate(items):
                        if count == stop_at:
                            interrupts.stop()
            except sqlite3.OperationalError as exc:
                ended.append(exc)

    thread = threading.Thread(target=read)
    thread.start()
    thread.join()
    return ended[0] if ended else None


def checkpoint_busy(db: Path) -> int:
    """The writer's checkpoint at the stop, not waiting for readers: 1 when a reader still holds the -wal."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout = 0")
        conn.execute("CREATE TABLE IF NOT EXISTS written_after (x)")
        conn.execute("INSERT INTO written_after VALUES (1)")
        return int(conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0])
    finally:
        conn.close()


def test_daylog_read_is_interrupted_at_the_stop_and_holds_no_snapshot_after(day_log: tuple[Config, Path]) -> None:
    config, db = day_log
    interrupts = Interrupts()
    ended = read_until_stopped(config, db, interrupts, stop_at=200)
    assert isinstance(ended, sqlite3.OperationalError)  # it gave up, not read to the end
    assert "interrupted" in str(ended) or isinstance(ended, Stopped)
    assert checkpoint_busy(db) == 0


def test_daylog_read_after_the_stop_opens_no_connection(day_log: tuple[Config, Path]) -> None:
    config, db = day_log
    interrupts = Interrupts()
    interrupts.stop()
    with interrupts.reading(), pytest.raises(Stopped):
        with open_day(config, db, DAY):
            pass


def test_daylog_read_of_no_service_is_never_interrupted(day_log: tuple[Config, Path]) -> None:
    # `assistant log` and `assistant qa day` read outside the service: another service's stop leaves them alone.
    config, db = day_log
    other = Interrupts()
    other.stop()
    with open_day(config, db, DAY) as conn, closing(iter_items(conn, DayQuery(DAY), Rules.from_config(config))) as items:  # fmt: skip
        assert sum(1 for _ in items) > 200
