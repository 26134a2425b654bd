"""A real service process on the test cluster stopped (SIGTERM) while a supervisor's long read runs: the read's
statement is cancelled on the server, the page answered 503, and the process gone, leaving no session behind."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest

from tests.helpers import body_of, eventually, make_event
from tests.pgcluster import Cluster
from tests.service import Service, service_config


async def _sessions(admin: psycopg.AsyncConnection[Any], database: str) -> list[tuple[Any, ...]]:
    """The service's sessions on `database` (its connections' application names begin with cs-assistant)."""
    cur = await admin.execute(
        "SELECT pid, state, query FROM pg_stat_activity WHERE datname = %s AND application_name LIKE 'cs-assistant%%'",
        (database,),
    )
    return list(await cur.fetchall())


@pytest.mark.parametrize(
    ("route", "table"),
    [("/logs/daily", "archived_days"), ("/qa/day", "archived_days"), ("/v1/reports/daily", "kpi_window_changes")],
    ids=["daily_log", "qa_day", "report"],
)
async def test_pg_a_stop_cancels_a_long_read_on_the_server_and_the_process_ends_at_once(
    pg_cluster: Cluster, tmp_path: Path, route: str, table: str
) -> None:
    # The read waits for a lock another session holds (here up to 600 s; a year's report in production): at SIGTERM
    # the page was answered 503 and the process ended, but the read's statement ran on in the server, its session
    # waiting for the lock after the process had gone.
    location = pg_cluster.database()
    database = location.url.rsplit("/", 1)[1]
    config = service_config(tmp_path, "[qa]\nenabled = true\n\n[store]\nbusy_timeout_s = 600\n")
    service = Service(config, location, log_dir=tmp_path)
    await service.start(timeout=60)
    lock = await psycopg.AsyncConnection.connect(location.url, password=location.password)
    admin = await psycopg.AsyncConnection.connect(location.url, password=location.password, autocommit=True)
    async with lock, admin, aiohttp.ClientSession() as session:
        try:
            async with session.post(service.url + "/v1/events", data=body_of(make_event(conversation="c"))) as resp:
                assert resp.status == 200, await resp.text()
            await lock.execute(f"LOCK TABLE {table}")
            page = asyncio.ensure_future(session.get(service.url + route, params={"date": "2026-11-20"}))

            async def waiting() -> bool:
                cur = await admin.execute(
                    "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = %s::regclass", (table,)
                )
                row = await cur.fetchone()
                return bool(row and row[0])

            await eventually(waiting, timeout=60)
            assert service.proc is not None
            service.proc.send_signal(signal.SIGTERM)
            resp = await page
            assert resp.status == 503 and (await resp.json())["error"] == "shutting_down"
            # The process ends while the lock is still held, and its read no longer waits for it on the server.
            assert await asyncio.to_thread(service.proc.wait, 60) == 0
            assert not await waiting()
            assert await _sessions(admin, database) == []
        finally:
            service.stop()
            await lock.rollback()
    said = service.log.read_text(errors="replace")
    assert "long read(s) of supervisors cancelled on the server" in said
    assert "interaction log flushed and closed" in said
