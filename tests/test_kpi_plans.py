"""The daily report on a PostgreSQL log whose statistics lag (a bulk import, a restore, autovacuum behind): its copy
checks stay one index lookup a message, its figures are those of an analyzed log and of SQLite, and a report brings
the stale statistics up to date first (kpi/rules.py, kpi/fresh.py; docs/kpi.md, "Reports on PostgreSQL")."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from assistant import pg, store
from assistant.kpi import queries
from assistant.kpi.fresh import analyze_stale
from assistant.kpi.period import day_window
from assistant.kpi.rules import as_lookups
from tests.helpers import eventually
from tests.kpi_log import SHOP, D, Log
from tests.pgcluster import Cluster
from tests.test_kpi_repeats import log_repeating_buyers


def unanalyzed(location: store.Location) -> Log:
    """A log whose tables autovacuum leaves alone: their statistics are there only when something analyzes them."""
    log = Log(location)
    if isinstance(location, pg.Location):
        for table in ("events", "messages", "orders", "suggestion_uses", "followups"):
            log.conn.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
    return log


def busy_day(log: Log) -> None:
    """Buyers who repeat themselves (and platforms that deliver again), and 30 more conversations around them."""
    log_repeating_buyers(log)
    for i in range(30):
        conv, buyer = f"c{i + 10}", f"u{i + 10}"
        log.customer(f"12:{i:02d}:00", "这款有货吗", conversation=conv, customer=buyer)
        log.customer(f"12:{i:02d}:00.500", "这款有货吗", conversation=conv, customer=buyer)  # delivered again
        log.agent(f"12:{i:02d}:20", "A", "亲，有现货的哦", conversation=conv, customer=buyer)
        log.agent(f"12:{i:02d}:20", "A", "亲，有现货的哦", conversation=conv, customer=buyer)  # the same, again
        if i % 3 == 0:
            log.customer(f"13:{i:02d}:00", "什么时候发货", conversation=conv, customer=buyer, agent="B")  # unanswered


@pytest.fixture
def database(pg_cluster: Cluster) -> Iterator[pg.Location]:
    location = pg_cluster.database()
    yield location
    pg.close_pools(location)


def analyzed_tables(location: store.Location) -> set[str]:
    with closing(store.connect(location)) as conn:
        found = conn.execute("SELECT DISTINCT tablename FROM pg_stats WHERE schemaname = current_schema()")
        return {str(row[0]) for row in found}


def plan(conn: sqlite3.Connection, sql: str, params: dict[str, object]) -> list[str]:
    """The plan of `sql` as the report runs it on PostgreSQL (its copy checks as lookups)."""
    return [str(row[0]) for row in conn.execute("EXPLAIN " + as_lookups(sql).replace("/*share*/", ""), params)]


def test_kpi_copy_checks_are_one_lookup_a_message_without_statistics(database: pg.Location) -> None:
    # Found: without statistics PostgreSQL turned each copy check (NOT EXISTS …) into an anti-join and read every
    # customer message of the day for each (15.7 s over 6,075 events), and the unanswered bursts' split put the day's
    # messages outside and read every burst for each.
    log = unanalyzed(database)
    busy_day(log)
    assert "messages" not in analyzed_tables(database)
    window = day_window(D, log.config.tz)
    p = queries._params(SHOP, window, 60_000, 3_600_000, window.horizon_ms + 1, 86_400_000, 200)
    with closing(store.connect(database)) as conn:
        conn.executescript(queries._TEMP_TABLES)
        for name in ("_HOURLY_CUSTOMERS", "_AGENT_MESSAGES", "_SHORT_REPLIES", "_QA"):
            lines = plan(conn, getattr(queries, name), p)
            assert not [line for line in lines if "Join" in line or "Nested Loop" in line], (name, lines)
            assert any("SubPlan" in line for line in lines), (name, lines)  # the check: a lookup per message
        lines = plan(conn, queries._SUGGESTIONS_USED, p)  # its join is by seq; the check, a lookup of its own
        assert not [line for line in lines if "Anti Join" in line or "Semi Join" in line], lines
        lines = plan(conn, queries._BURSTS[True, False], p)
        assert not [line for line in lines if "Join" in line or "Nested Loop" in line], lines
        lines = plan(conn, queries._UNANSWERED_SPLIT_PG, p)  # the bursts outside, each one's messages by a seek
        scans = [line for line in lines if "Scan" in line and (" on kpi_bursts" in line or " on messages" in line)]
        assert " on kpi_bursts" in scans[0], lines
        assert any("Subquery Scan" in line for line in lines), lines


@pytest.mark.parametrize("analyze", [False, True])
def test_kpi_figures_of_a_day_with_copies_are_the_same_unanalyzed_analyzed_and_on_sqlite(
    database: pg.Location, tmp_path: Path, analyze: bool
) -> None:
    logs = [unanalyzed(database), Log(tmp_path / "assistant.db")]
    for log in logs:
        busy_day(log)
    if analyze:
        logs[0].conn.execute("ANALYZE")
    assert ("messages" in analyzed_tables(database)) == analyze
    window = day_window(D, logs[0].config.tz)
    figures = [
        queries.day_figures(
            lambda log=log: store.connect(log.path, readonly=True),  # type: ignore[misc]
            SHOP,
            window,
            slow_ms=60_000,
            recovery_ms=3_600_000,
            now_ms=window.horizon_ms + 1,
            payment_window_ms=86_400_000,
        )
        for log in logs
    ]
    assert figures[0] == figures[1]
    a = figures[0].tallies["A"]
    assert (a.customer_messages, a.agent_messages) == (33, 32)  # each copy once: 3 + 30 buyers', 2 + 30 agents'
    assert sum(t.customer_messages for t in figures[0].tallies.values()) == 45  # B's 10 unanswered, u2's 2


def changed_since_analyzed(location: store.Location, table: str) -> int:
    """The server's count of `table`'s rows changed since its last ANALYZE (its backends report it within a second)."""
    with closing(store.connect(location)) as conn:
        found = conn.execute("SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relname = ?", (table,))
        return int(found.fetchone()[0])


async def test_kpi_report_analyzes_the_tables_whose_statistics_lag(database: pg.Location) -> None:
    # Found: a log filled faster than autovacuum analyzed it got reports of 25 s at 15,706 events (1 s analyzed): the
    # planner chose, for each message's seek, an index reading the whole day's messages.
    log = unanalyzed(database)
    busy_day(log)
    assert "messages" not in analyzed_tables(database)
    log.close()  # its writes reported to the server's statistics
    await eventually(lambda: changed_since_analyzed(database, "messages") > 100)
    report = log.report()
    assert {"messages", "events"} <= analyzed_tables(database)
    assert report.figures.tallies["A"].customer_messages == 33
    with closing(store.connect(database)) as conn:
        assert analyze_stale(conn) == []  # fresh now: a second report analyzes nothing


def test_kpi_report_on_sqlite_analyzes_nothing(tmp_path: Path) -> None:
    log = Log(tmp_path / "assistant.db")
    busy_day(log)
    with closing(store.connect(log.path)) as conn:
        assert analyze_stale(conn) == []
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone()[0] == 0


def test_kpi_report_analyzes_a_log_with_rows_and_no_statistics_whatever_the_counters(database: pg.Location) -> None:
    # Found: a log whose change counters start at zero (a database made from a template, a pg_upgrade) was left
    # unanalyzed: 203 s for a 24,838-event report, 3.3 s analyzed.
    log = unanalyzed(database)
    busy_day(log)
    log.conn.execute("SELECT pg_stat_reset()")  # the server's counters of this database back to zero
    log.close()
    assert changed_since_analyzed(database, "messages") == 0
    assert "messages" not in analyzed_tables(database)
    with closing(store.connect(database)) as conn:
        conn.execute("ANALYZE orders")  # empty: no statistics after it either, and not analyzed again
        assert "messages" in analyze_stale(conn)
        assert "orders" not in analyze_stale(conn)
    assert "messages" in analyzed_tables(database)
