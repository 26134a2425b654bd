"""The daily report on a PostgreSQL log without statistics, read by a role that may not ANALYZE it (a shop's read-only
reporting role): each per-message seek takes the index of its own conversation's or buyer's messages, never one
that reads the shop's whole day for each message, and the figures are those of the owner's analyzed log and of
SQLite (kpi/seeks.py; docs/kpi.md, "Reports on PostgreSQL")."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from assistant import pg, store
from assistant.config import load_config
from assistant.kpi import queries
from assistant.kpi.fresh import analyze_stale
from assistant.kpi.funnel import CREDITED, PAIRS
from assistant.kpi.period import day_window
from assistant.kpi.rules import as_lookups
from assistant.kpi.simulate import simulate
from tests.kpi_log import SHOP, D, Log
from tests.pgcluster import Cluster
from tests.test_kpi_plans import analyzed_tables, busy_day, unanalyzed


@pytest.fixture
def database(pg_cluster: Cluster) -> Iterator[pg.Location]:
    location = pg_cluster.database()
    yield location
    pg.close_pools(location)


def reader(cluster: Cluster, location: pg.Location) -> pg.Location:
    """A role that may only read `location`'s tables (and make its temporary ones): it may not ANALYZE them."""
    name = location.url.rsplit("/", 1)[1]
    role = f"reader_{name}"  # roles are the cluster's: one per database
    with psycopg.connect(cluster.url(name), password=cluster.password, autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(cluster.password))
        )
        admin.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(sql.Identifier(role)))
        admin.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(sql.Identifier(role)))
    return pg.Location(f"postgresql://{role}@127.0.0.1:{cluster.port}/{name}", cluster.password)


@pytest.fixture
def simulated(pg_cluster: Cluster, database: pg.Location) -> Iterator[pg.Location]:
    """A simulated day of about 3,000 messages beside 30,000 of another shop's (a database several shops share: the
    size at which the planner's guesses went wrong), never analyzed, and the location of a role that may only read
    it."""
    log = unanalyzed(database)
    simulate(database, D, 4, 300, seed=1, shop=SHOP, progress=False)
    log.conn.execute(
        "INSERT INTO messages (seq, shop, conversation, customer, sender, agent, text, ts_ms)"
        " SELECT s + 1000000, 'other', 'o' || s / 12, 'b' || s / 12, CASE WHEN s % 2 = 0 THEN 'customer' ELSE 'agent' END,"
        " 'x', '在吗', ? + s * 2000 FROM generate_series(1, 30000) AS s",
        (day_window(D, log.config.tz).start_ms,),
    )
    log.close()
    location = reader(pg_cluster, database)
    yield location
    pg.close_pools(location)


# A seek's index condition names the row it seeks for (m, a, b, o, f, c, kpi_bursts); the indexes that narrow it to
# that row's conversation, buyer, agent or seq. The copy checks' two seconds of the shop's messages, or its one
# millisecond, are seeks too.
_OUTER = re.compile(r"\b(m|a|b|o|f|c|kpi_bursts)\.\w+")
_SEEK_INDEXES = ("messages_kpi_conversation", "messages_customer_ts", "messages_pkey", "messages_shop_agent_ts")


def seeks_off_their_index(conn: sqlite3.Connection, name: str, statement: str, params: dict[str, object]) -> list[str]:
    """The index scans of `statement`'s plan on messages that seek for another row by an index of the whole shop."""
    lines = [str(row[0]) for row in conn.execute("EXPLAIN " + statement, params)]
    wrong = []
    for scan, cond in zip(lines, lines[1:]):
        if " on messages " not in scan or "Index Cond:" not in cond or not _OUTER.search(cond):
            continue
        if (
            not any(f"using {index} " in scan for index in _SEEK_INDEXES)
            and "- 2000" not in cond
            and "ts_ms = " not in cond
        ):
            wrong.append(f"{name}: {scan.strip()} / {cond.strip()}")
    return wrong


def test_kpi_seeks_take_their_own_index_without_statistics_for_a_role_that_may_not_analyze(
    simulated: pg.Location,
) -> None:
    # Found: for a role with SELECT only, the report of 24,871 unanalyzed messages took 71 s (1.4 s analyzed): each
    # customer message's reply, each conversation's first reply of the day and each order's last agent seek read the
    # shop's whole day (messages_shop_ts, messages_kpi_sender), the planner guessing one row for every index.
    with closing(store.connect(simulated, readonly=True)) as conn:
        assert not conn.execute("SELECT 1 FROM pg_stats WHERE tablename = 'messages'").fetchall()
        assert conn.execute("SELECT count(*) FROM messages WHERE shop = ?", (SHOP,)).fetchone()[0] > 2_000
        window = day_window(D, load_config(None, env={}).tz)
        p = queries._params(SHOP, window, 60_000, 3_600_000, window.horizon_ms + 1, 86_400_000, 200)
        conn.executescript(queries._TEMP_TABLES)
        conn.execute(queries._BURSTS[True, False].replace("/*share*/", ""), p)  # the temporary tables' rows for
        conn.execute(PAIRS, p)  # the statements that read them
        statements = {
            "bursts": queries._BURSTS[True, False].replace("/*share*/", ""),
            "unanswered kept": as_lookups(queries._UNANSWERED_KEEP).replace("/*share*/", ""),
            "unanswered split": queries._UNANSWERED_SPLIT_PG.replace("/*share*/", ""),
            "carried": as_lookups(queries._CARRIED),
            "credited": as_lookups(CREDITED).replace("/*excluded*/", ""),
            "follow-ups": as_lookups(queries._FOLLOWUPS),
            "flagged": as_lookups(queries._QA),
            "suggestions used": as_lookups(queries._SUGGESTIONS_USED),
        }
        wrong = [
            line for name, statement in statements.items() for line in seeks_off_their_index(conn, name, statement, p)
        ]
    assert not wrong, "\n".join(wrong)


def test_kpi_report_of_a_role_that_may_not_analyze_says_so_and_analyzes_nothing(
    pg_cluster: Cluster, database: pg.Location, caplog: pytest.LogCaptureFixture
) -> None:
    # Found: PostgreSQL skips a table the role does not own with a warning of its own, not an error, and the report
    # logged "analyzed events, followups, messages, orders, suggestion_uses" for a role with SELECT only.
    log = unanalyzed(database)
    busy_day(log)
    log.close()
    location = reader(pg_cluster, database)
    with closing(store.connect(location, readonly=True)) as conn:
        assert analyze_stale(conn) == []
    pg.close_pools(location)
    assert "messages" not in analyzed_tables(database)
    said = [r.getMessage() for r in caplog.records if r.name == "assistant.kpi.fresh"]
    assert said == [
        "could not ANALYZE events, followups, messages, orders, suggestion_uses, whose statistics lag: not their owner"
    ]
    with closing(store.connect(database)) as conn:  # the owner's report analyzes them
        assert "messages" in analyze_stale(conn)
    assert "messages" in analyzed_tables(database)


@pytest.mark.parametrize("analyze", [False, True])
def test_kpi_figures_for_a_role_that_may_not_analyze_are_the_owners_and_sqlites(
    pg_cluster: Cluster, database: pg.Location, tmp_path: Path, analyze: bool
) -> None:
    logs = [unanalyzed(database), Log(tmp_path / "assistant.db")]
    for log in logs:
        busy_day(log)
    if analyze:
        logs[0].conn.execute("ANALYZE")
    location = reader(pg_cluster, database)
    assert ("messages" in analyzed_tables(database)) == analyze
    window = day_window(D, logs[0].config.tz)
    figures = [
        queries.day_figures(
            lambda where=where: store.connect(where, readonly=True),  # type: ignore[misc]
            SHOP,
            window,
            slow_ms=60_000,
            recovery_ms=3_600_000,
            now_ms=window.horizon_ms + 1,
            payment_window_ms=86_400_000,
        )
        for where in (location, database, logs[1].path)
    ]
    pg.close_pools(location)
    assert figures[0] == figures[1] == figures[2]
    assert figures[0].tallies["A"].customer_messages == 33
