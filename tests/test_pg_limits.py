"""PostgreSQL at its limits, each met for real on the test cluster: an administrator's timeouts on the service's
role, the role's CONNECTION LIMIT reached."""

from __future__ import annotations

import asyncio
import functools
from contextlib import closing
from typing import Any

import aiohttp
import psycopg
from psycopg import sql

from assistant import pg, schema, store, upgrade
from assistant.config import Config, load_config
from assistant.writer import Writer
from tests.helpers import ROOT, answers, body_of, eventually, make_app, make_event, serving
from tests.pgcluster import PASSWORD_ENV, Cluster


async def readyz_waiting(session: aiohttp.ClientSession, url: str, fault: str) -> str:
    """What `/readyz` says while the start waits on `fault` (its kind, as `(busy)`), else "" (not yet listening)."""
    try:
        async with session.get(f"{url}/readyz") as resp:
            message = str((await resp.json()).get("message", ""))
    except aiohttp.ClientConnectionError:  # not listening yet
        return ""
    return message if resp.status == 503 and fault in message else ""


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


def role_config(location: pg.Location, **server: Any) -> Config:
    """The shipped config on the role's database (its password from the environment, as in production)."""
    overrides = {"store": {"url": location.url, "password_env": PASSWORD_ENV}, "server": server}
    return load_config(ROOT / "config.toml", env={PASSWORD_ENV: location.password or ""}, overrides=overrides)


async def test_pg_start_out_of_connections_for_its_role_refuses_events_at_once_and_serves_once_it_has_them(
    pg_cluster: Cluster,
) -> None:
    # Two connections: the writer's and the readers' first; the start's next one ("too many connections for role")
    # is waited for. An event held meanwhile waited for the whole request_timeout_s, far past a platform's 5 s.
    location = pg_cluster.role_database(role_limit=2)
    config = role_config(location, request_timeout_s=120)
    with serving(make_app(config), config) as served:
        async with aiohttp.ClientSession() as session:
            waiting = functools.partial(readyz_waiting, session, served.url, "(no free connection)")
            assert "reading which fleet reloads" in await eventually(waiting, timeout=30)
            body = body_of(make_event(conversation="during", text="在吗"))
            async with asyncio.timeout(30):  # held, it would wait the 120 s
                async with session.post(f"{served.url}/v1/events", data=body) as resp:
                    assert resp.status == 503 and resp.headers["Retry-After"], await resp.text()
            assert await waiting()  # still waiting, not stopped
            with psycopg.connect(pg_cluster.url("postgres"), password=pg_cluster.password, autocommit=True) as admin:
                admin.execute(sql.SQL("ALTER ROLE {} CONNECTION LIMIT 20").format(sql.Identifier(_role(location))))
            assert await eventually(lambda: answers(session, f"{served.url}/readyz", 200), timeout=30)
            body = body_of(make_event(conversation="after", text="在吗"))
            async with session.post(f"{served.url}/v1/events", data=body) as resp:
                assert resp.status == 200, await resp.text()
    pg.close_pools(location)
    with closing(store.connect(location, readonly=True)) as conn:
        logged = [row[0] for row in conn.execute("SELECT conversation FROM events ORDER BY seq")]
    pg.close_pools(location)
    assert logged == ["after"]


def _role(location: pg.Location) -> str:
    return location.url.split("//")[1].split("@")[0]


async def test_pg_start_while_another_instance_migrates_waits_for_it_and_serves(pg_cluster: Cluster) -> None:
    # Instances migrate one after another under an advisory lock, waited for lock_timeout (busy_timeout_s, 2 s):
    # a start behind a migration longer than that (an index on a large log) exited 1, "cannot open the database
    # (LockNotAvailable: canceling statement due to lock timeout)".
    location = pg_cluster.role_database()
    config = role_config(location)
    migrating = pg.connect_direct(location)  # another instance's writer, in the middle of its migrations
    migrating.execute("BEGIN")
    upgrade.migrate_pg_in_transaction(migrating)
    try:
        with serving(make_app(config), config) as served:
            async with aiohttp.ClientSession() as session:
                waiting = functools.partial(readyz_waiting, session, served.url, "(busy)")
                message = await eventually(waiting, timeout=30)
                assert "opening the log: a lock is held by another instance" in message and not served.stopped()
                migrating.execute("COMMIT")
                assert await eventually(lambda: answers(session, f"{served.url}/readyz", 200), timeout=30)
                body = body_of(make_event(conversation="after", text="在吗"))
                async with session.post(f"{served.url}/v1/events", data=body) as resp:
                    assert resp.status == 200, await resp.text()
    finally:
        migrating.close()
    with closing(store.connect(location, readonly=True)) as conn:
        applied = conn.execute("SELECT count(*) FROM _assistant_migrations").fetchone()[0]
    pg.close_pools(location)
    assert applied == len(schema.PG_MIGRATIONS)


async def test_pg_connections_the_service_keeps_outlive_an_idle_session_timeout_its_role_sets(
    aiohttp_client: Any, pg_cluster: Cluster
) -> None:
    # The server ended each connection idle for the role's idle_session_timeout: the writer's (reconnected at its
    # next group, logged as "a server restart or failover"), the pool's, and the listeners' (their LISTEN lost and
    # taken up again, a warning each time, all day long).
    location = pg_cluster.role_database(settings=("idle_session_timeout = '1s'",))
    config = role_config(location)
    client = await aiohttp_client(make_app(config))
    resp = await client.post("/v1/events", data=body_of(make_event(conversation="c", text="在吗")))
    assert resp.status == 200, await resp.text()
    admin = await psycopg.AsyncConnection.connect(
        pg_cluster.url("postgres"), password=pg_cluster.password, autocommit=True
    )
    async with admin:

        async def sessions(idle_past: str = "0 s") -> set[int]:
            rows = await admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE usename = %s AND now() - state_change > %s::interval",
                (_role(location), idle_past),
            )
            return {row[0] for row in await rows.fetchall()}

        kept = await sessions()
        assert len(kept) >= 4  # the writer's, the readers', the journal's and the fleet reloads' listeners

        async def outlived() -> bool:  # each idle past the role's timeout, and still there
            return await sessions("1.5 s") >= kept

        await eventually(outlived, timeout=20)
    pg.close_pools(location)
