"""The daily report on a PostgreSQL log without statistics, read by a role that may not ANALYZE it (a shop's read-only
reporting role): the report says which tables it could not analyze (kpi/fresh.py; docs/kpi.md, "Reports on
PostgreSQL")."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing

import psycopg
import pytest
from psycopg import sql

from assistant import pg, store
from assistant.kpi.fresh import analyze_stale
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
