"""What a PostgreSQL database's operator is told: the checks at start (collation, connection budget), and the
reasons given for a fault, to callers (generic) and in the log (in full)."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from assistant import pg, store, upgrade
from assistant.config import Config, load_config
from assistant.upgrade import SchemaError
from assistant.writer import Writer
from tests.helpers import ROOT, body_of, eventually, make_app, make_event
from tests.pgcluster import PASSWORD_ENV, Cluster, free_port


def _database(cluster: Cluster, options: str = "", *, role_limit: int | None = None) -> pg.Location:
    """A new database created with `options`, owned by a new role (with `role_limit` as its CONNECTION LIMIT)."""
    return cluster.role_database(options, role_limit=role_limit)


async def test_pg_start_warns_of_a_role_connection_limit_below_an_instances_need(
    pg_cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    roomy = _database(pg_cluster)
    await Writer(roomy).close()
    assert "CONNECTION LIMIT" not in caplog.text
    location = _database(pg_cluster, role_limit=4)  # the server has room; the role has 3 more after the writer's
    await Writer(location).close()
    user = location.url.split("//")[1].split("@")[0]
    assert f"the role {user} may open 3 more connections (its CONNECTION LIMIT)" in caplog.text
    assert f"this instance may open {upgrade.CONNECTIONS_PER_INSTANCE - 1} more" in caplog.text


async def test_pg_start_refuses_a_database_sorted_by_icu_although_its_collate_says_c(pg_cluster: Cluster) -> None:
    location = _database(
        pg_cluster, "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'zh-CN' LC_COLLATE 'C' LC_CTYPE 'C'"
    )
    with pytest.raises(SchemaError, match="the database sorts text by the ICU locale 'zh-CN'"):
        Writer(location)
    c_location = _database(pg_cluster, "TEMPLATE template0 LOCALE_PROVIDER libc LC_COLLATE 'C' LC_CTYPE 'C'")
    await Writer(c_location).close()  # the same server's libc C database starts


def _admin(cluster: Cluster, statement: sql.Composed) -> None:
    with psycopg.connect(cluster.url("postgres"), password=cluster.password, autocommit=True) as admin:
        admin.execute(statement)


def _config(location: pg.Location, env: dict[str, str] | None = None) -> Config:
    return load_config(
        ROOT / "config.toml",
        env={PASSWORD_ENV: location.password or ""} if env is None else env,
        overrides={"store": {"url": location.url, "password_env": PASSWORD_ENV}},
    )


def _user(location: pg.Location) -> str:
    return location.url.split("//")[1].split("@")[0]


async def test_pg_faults_are_answered_by_kind_and_logged_in_full_once(
    pg_cluster: Cluster, aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    location = _database(pg_cluster)
    client = await aiohttp_client(make_app(_config(location)))
    assert (await client.get("/readyz")).status == 200
    user = _user(location)  # the password changes on the server (a rotation) and every connection is dropped
    _admin(pg_cluster, sql.SQL("ALTER ROLE {} PASSWORD 'rotated'").format(sql.Identifier(user)))
    kill = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = {}"
    _admin(pg_cluster, sql.SQL(kill).format(sql.Literal(user)))
    caplog.set_level(logging.WARNING)
    answers = [await client.post("/v1/events", data=body_of(make_event(id=f"rot{i}"))) for i in range(2)]
    ready = await client.get("/readyz")
    assert [resp.status for resp in (*answers, ready)] == [503, 503, 503]
    texts = [await resp.text() for resp in (*answers, ready)]
    assert "the database cannot be written now (authentication refused); retry later" in texts[0]
    assert "the database cannot be written now (authentication refused)" in texts[2]
    for text in texts:  # to anyone, and to the chat platforms: no address, port, role or database
        assert "127.0.0.1" not in text and str(pg_cluster.port) not in text and user not in text
    answered = [r.getMessage() for r in caplog.records if "answered 503" in r.getMessage()]
    assert len(answered) == 1  # the detail, in the log, once for this kind of fault
    assert f'password authentication failed for user "{user}"' in answered[0]


async def test_pg_pool_retries_through_an_outage_are_logged_as_one_fault(
    pg_cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    # psycopg_pool logged a warning of its own at each attempt it made to connect in the background: a line every
    # few seconds as long as the server refused (or was down), beside the service's own line for the fault.
    location = _database(pg_cluster)
    store.connect(location).close()  # connected (an outage of an earlier test's server is over)
    pg.close_pools(location)
    _admin(pg_cluster, sql.SQL("ALTER ROLE {} PASSWORD 'rotated'").format(sql.Identifier(_user(location))))
    caplog.set_level(logging.WARNING)
    taking = asyncio.create_task(asyncio.to_thread(store.connect, location, readonly=True))  # waits 5 s at most

    def attempts() -> int:
        pools = [pool for key, pool in pg._pools.items() if key[0] == location]
        return sum(pool.get_stats().get("connections_errors", 0) for pool in pools)

    await eventually(lambda: attempts() >= 3, timeout=10)
    pg.close_pools(location)  # the wait for a connection ends at once
    with pytest.raises(sqlite3.OperationalError):
        await taking
    refused = [r.getMessage() for r in caplog.records if "password authentication failed" in r.getMessage()]
    assert len(refused) == 1, refused  # the first in full; the others counted on the next line a minute later
    _admin(pg_cluster, sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(_user(location)), sql.Literal(pg_cluster.password)))  # fmt: skip
    store.connect(location).close()
    assert "connections to PostgreSQL are made again" in caplog.text


async def test_pg_a_page_without_a_free_connection_says_the_database_cannot_be_read(
    pg_cluster: Cluster, aiohttp_client: Any
) -> None:
    location = _database(pg_cluster)
    config = _config(location)
    client = await aiohttp_client(make_app(config))
    # Every connection of the pages' pool taken (a burst of pages, another instance's share of the budget).
    held = [await asyncio.to_thread(store.connect, location, readonly=True) for _ in range(pg.POOL_SIZE)]
    try:
        resp = await client.get("/v1/reports/daily", params={"date": "2026-11-20"})  # waits 5 s for a connection
        assert resp.status == 503
        message = (await resp.json())["message"]
        assert message == "the database cannot be read now (no free connection); retry later"
    finally:
        for conn in held:
            conn.close()


async def test_pg_start_names_the_unset_password_variable(pg_cluster: Cluster) -> None:
    location = _database(pg_cluster)
    config = _config(location, env={PASSWORD_ENV: ""})  # set but empty: as unset
    with pytest.raises(
        sqlite3.OperationalError, match=f"环境变量 {PASSWORD_ENV}（\\[store\\] password_env 指定）未设置"
    ):
        Writer(config.location())


@pytest.mark.parametrize("command", ["report", "log"])
def test_pg_report_and_log_with_the_server_down_say_so_in_one_line_at_once(tmp_path: Path, command: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f'[store]\nurl = "postgresql://assistant@127.0.0.1:{free_port()}/assistant"\n', encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "assistant", command, "--config", str(path), "--date", "2026-11-20"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr  # no pool warnings, no hint about a migration
    assert "无法打开数据库" in lines[0] and "Connection refused" in lines[0]  # one attempt: the pool's warned at each
