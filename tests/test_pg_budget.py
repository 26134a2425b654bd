"""Several instances on one PostgreSQL server whose max_connections is low, met for real on a small cluster of its own:
the start says that the instances may open more connections than the server gives, and a page refused a
connection says that none is free."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from assistant import pg, upgrade
from assistant.cluster import budget
from tests.helpers import body_of, eventually, make_app, make_event
from tests.pgcluster import Cluster
from tests.service import Service, service_config
from tests.test_pg_limits import role_config

MAX_CONNECTIONS = 40  # as a small managed server gives; 37 for a role that is no superuser (3 reserved)


@pytest.fixture(scope="module")
def small_cluster() -> Iterator[Cluster]:
    cluster = Cluster()
    cluster.start()
    try:
        cluster.stop_server()
        cluster._options = cluster._options.replace("max_connections=300", f"max_connections={MAX_CONNECTIONS}")
        cluster.start_server()
        yield cluster
    finally:
        cluster.stop()


def other_instance(location: pg.Location, name: str) -> psycopg.Connection[Any]:
    """Another instance's journal listener as the server shows it (cluster/instances.py): it has its start's few
    connections open and may open its whole budget."""
    return psycopg.connect(location.url, password=location.password, application_name=f"cs-assistant-listen {name}")


async def test_pg_instances_that_may_open_more_connections_than_the_server_gives_are_told_at_start(
    small_cluster: Cluster, aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # Three instances on a server of 40 connections: each started seeing the others' few connections of their start
    # (plenty free) and said nothing; under load their pools grew until pages were refused a connection.
    location = small_cluster.role_database()
    others = [other_instance(location, f"elsewhere {pid}") for pid in (1001, 1002)]
    caplog.set_level(logging.WARNING)
    try:
        client = await aiohttp_client(make_app(role_config(location)))
        per = upgrade.CONNECTIONS_PER_INSTANCE
        assert (
            f"3 instances on this PostgreSQL server (this one counted) may open up to {3 * per} connections ({per}"
            f" each, docs/scaling.md) beside the 0 other sessions there now, and the server gives 37 (max_connections"
            f" 40 less 3 reserved): raise max_connections to {40 + 3 * per - 37} or more"
        ) in caplog.text
        assert (await client.post("/v1/events", data=body_of(make_event(conversation="c")))).status == 200
    finally:
        for conn in others:
            conn.close()
        pg.close_pools(location)


async def test_pg_a_page_refused_a_connection_by_a_full_server_says_none_is_free_at_once(
    small_cluster: Cluster, aiohttp_client: Any
) -> None:
    # With every connection of the server taken, a report or daily log page waited for one of the reports' connections
    # as long as a report may run (report_timeout_s, 10 minutes), and the other pages said "cannot connect".
    location = small_cluster.role_database()
    client = await aiohttp_client(make_app(role_config(location)))
    assert (await client.post("/v1/events", data=body_of(make_event(conversation="c")))).status == 200
    filling = []
    try:
        with pytest.raises(psycopg.OperationalError, match="remaining connection slots are reserved"):
            for _ in range(MAX_CONNECTIONS):
                filling.append(psycopg.connect(location.url, password=location.password))
        for path in ("/v1/reports/daily", "/logs/daily"):
            async with asyncio.timeout(60):  # not report_timeout_s
                page = await client.get(path, params={"date": "2026-11-20"})
            assert page.status == 503
            assert "(no free connection)" in await page.text(), await page.text()
    finally:
        for conn in filling:
            conn.close()
    assert (await client.post("/v1/events", data=body_of(make_event(conversation="d")))).status == 200
    pg.close_pools(location)


async def test_pg_an_instance_hears_of_instances_joining_past_the_budget_and_of_their_leaving(
    pg_cluster: Cluster, aiohttp_client: Any, caplog: pytest.LogCaptureFixture, tmp_path: Path, monkeypatch: Any
) -> None:
    # Only the instance started last counted the others: the first one, joined later by two more that push the role's
    # connections past its CONNECTION LIMIT, never said it, nor showed it in /readyz.
    monkeypatch.setattr(budget, "CHECK_EVERY_S", 0.2)
    location = pg_cluster.role_database(role_limit=40)
    caplog.set_level(logging.WARNING)
    client = await aiohttp_client(make_app(role_config(location)))
    assert "CONNECTION LIMIT" not in caplog.text  # alone, 17 of 40
    assert "connection_budget" not in await (await client.get("/readyz")).json()
    config = service_config(tmp_path, "")
    joined = [Service(config, location, log_dir=tmp_path) for _ in range(2)]
    try:
        for service in joined:
            await service.start(timeout=120)
        per = upgrade.CONNECTIONS_PER_INSTANCE
        said = (
            f"3 instances of the role {location.url.split('//')[1].split('@')[0]} (this one counted) may open up to"
            f" {3 * per} connections ({per} each, docs/scaling.md), and its CONNECTION LIMIT is 40"
        )

        async def shown() -> Any:
            resp = await client.get("/readyz")
            return resp.status == 200 and (await resp.json()).get("connection_budget", "").startswith(said)

        await eventually(shown, timeout=30)  # ready all the same: it serves
        assert caplog.text.count(said) == 1  # once for the change, not at every look
        joined.pop().terminate()

        async def fits() -> bool:
            resp = await client.get("/readyz")
            return resp.status == 200 and "connection_budget" not in await resp.json()

        await eventually(fits, timeout=30)
        assert "the instances' connections fit on the PostgreSQL server again (2 instances)" in caplog.text
        assert caplog.text.count(said) == 1
    finally:
        for service in joined:
            service.stop()
        pg.close_pools(location)
