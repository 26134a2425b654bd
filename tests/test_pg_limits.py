"""PostgreSQL at its limits, each met for real on the test cluster: an administrator's timeouts on the service's
role, the role's CONNECTION LIMIT reached."""

from __future__ import annotations

from assistant.writer import Writer
from tests.pgcluster import Cluster


async def test_pg_writer_waits_past_a_statement_timeout_its_role_sets(pg_cluster: Cluster) -> None:
    # The writer's group waits for a row lock up to busy_timeout_s and runs the migrations: a role's own
    # statement_timeout (shorter) cut both, the event answered 503 "timed out" before its lock wait was over.
    location = pg_cluster.role_database(settings=("statement_timeout = '1s'",))
    writer = Writer(location)
    writer.start()
    try:
        slept = await writer.submit(lambda conn: conn.execute("SELECT pg_sleep(1.2) IS NULL").fetchone()[0])
    finally:
        await writer.close()
    assert slept == 0
