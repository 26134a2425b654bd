"""PostgreSQL's readers beside the webhooks, each met for real on the test cluster: the reads an event needs (its
conversation's item, the shop's adoption counts) failing through an outage, reports holding connections."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from assistant import pg, store
from assistant.config import Config, load_config
from tests.helpers import ROOT, body_of, eventually, make_app, make_event, replace_config
from tests.pgcluster import PASSWORD_ENV, Cluster


def pg_config(location: pg.Location) -> Config:
    """The shipped config on `location` (its password from the environment, as in production)."""
    overrides = {"store": {"url": location.url, "password_env": PASSWORD_ENV}}
    return load_config(ROOT / "config.toml", env={PASSWORD_ENV: location.password or ""}, overrides=overrides)


async def test_pg_reads_an_event_needs_failing_through_an_outage_are_logged_once_then_counted(
    pg_cluster: Cluster, aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # Every customer message of an outage logged a line for its item's read and one for the adoption counts' read:
    # a flood that buried the outage's own lines.
    location = pg_cluster.database()
    client = await aiohttp_client(make_app(pg_config(location)))
    # Every connection of the readers' pool taken: the event's reads get none (the writer has its own).
    held = [await asyncio.to_thread(store.connect, location, readonly=True) for _ in range(pg.POOL_SIZE)]
    caplog.set_level(logging.WARNING)
    try:
        for n in range(6):
            event = make_event(conversation=f"c{n}", text="这件有货吗")
            resp = await client.post("/v1/events", data=body_of(event))
            assert resp.status == 200, await resp.text()
    finally:
        for conn in held:
            conn.close()
    items = [r.getMessage() for r in caplog.records if "could not be read from the log" in r.getMessage()]
    adoption = [r.getMessage() for r in caplog.records if r.getMessage().startswith("adoption counts of shop")]
    assert len(items) == 1 and len(adoption) == 1, (items, adoption)  # the first of each; the rest counted
    # A conversation of the outage (one the log has no event of has no item to look up: its first read says so).
    resp = await client.post("/v1/events", data=body_of(make_event(conversation="c0", text="这件有货吗")))
    assert resp.status == 200
    said = caplog.text
    assert "the items of conversations are read from the log again" in said
    assert "adoption counts are read again" in said
    pg.close_pools(location)


async def test_pg_readyz_says_not_ready_while_a_table_lock_blocks_the_writes_and_ready_once_it_ends(
    pg_cluster: Cluster, aiohttp_client: Any
) -> None:
    # A lock another session holds on a table every event writes (`LOCK TABLE events`) held each event for
    # busy_timeout_s before its 503, while /readyz, which wrote nothing to those tables, said ready: a load balancer
    # kept sending every event to the instance.
    location = pg_cluster.database()
    client = await aiohttp_client(make_app(pg_config(location)))
    assert (await client.post("/v1/events", data=body_of(make_event(conversation="before")))).status == 200
    assert (await client.get("/readyz")).status == 200
    admin = await psycopg.AsyncConnection.connect(location.url, password=location.password)
    async with admin:
        await admin.execute("LOCK TABLE events")  # in a transaction, held until the rollback

        async def not_ready() -> str:
            resp = await client.get("/readyz")
            return str((await resp.json())["message"]) if resp.status == 503 else ""

        message = await eventually(not_ready, timeout=30)
        assert message == "the database cannot be written now (a table is locked by another session)"
        resp = await client.post("/v1/events", data=body_of(make_event(conversation="during")))
        assert resp.status == 503 and resp.headers["Retry-After"]
        await admin.rollback()

        async def ready() -> bool:
            return (await client.get("/readyz")).status == 200

        await eventually(ready, timeout=30)
    assert (await client.post("/v1/events", data=body_of(make_event(conversation="after")))).status == 200
    pg.close_pools(location)


async def test_pg_events_sent_at_once_during_a_table_lock_wait_for_it_once_before_their_503(
    pg_cluster: Cluster, aiohttp_client: Any
) -> None:
    # A group's events are inserted together; when that insert waited busy_timeout_s for a lock in vain, each event
    # ran again alone and waited as long again: ten events sent at once answered 503 after eleven waits (23 s at
    # 2 s each), far past the 5 s a platform waits.
    location = pg_cluster.database()
    config = replace_config(pg_config(location), "store", busy_timeout_s=3.0)
    client = await aiohttp_client(make_app(config))
    assert (await client.post("/v1/events", data=body_of(make_event(conversation="before")))).status == 200
    admin = await psycopg.AsyncConnection.connect(location.url, password=location.password)
    async with admin:
        await admin.execute("LOCK TABLE events")
        posts = [client.post("/v1/events", data=body_of(make_event(conversation=f"c{n}"))) for n in range(10)]
        async with asyncio.timeout(20):  # one wait of 3 s and a tenth of a second each: not eleven waits, 33 s
            answered = await asyncio.gather(*posts)
        assert all(resp.status == 503 and resp.headers["Retry-After"] for resp in answered)
        await admin.rollback()
    assert (await client.post("/v1/events", data=body_of(make_event(conversation="after")))).status == 200
    pg.close_pools(location)


async def _waiting_on(admin: psycopg.AsyncConnection[Any], table: str) -> int:
    """How many sessions wait for a lock on `table` (another session holds it)."""
    cur = await admin.execute("SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = %s::regclass", (table,))
    row = await cur.fetchone()
    return int(row[0]) if row else 0


@pytest.mark.parametrize(
    ("route", "table"),
    [
        # Eight reports held up (a year's report reads on up to four connections; several supervisors) took every
        # connection of the one readers' pool: a panel page waited 5 s for a 503, and events were matched without
        # their conversation's history. Each report waits on a table only reports read (REPORTS_AT_ONCE at once).
        ("/v1/reports/daily", "kpi_window_changes"),
        # Eight supervisors opening a big day's log read on the one readers' pool and in the loop's default threads:
        # measured on a simulated day, events' p99 rose from 51 to 580 ms and a panel page waited 6.9 s. Each page
        # waits on a table only the daily log reads (DAYLOGS_AT_ONCE at once).
        ("/logs/daily", "archived_days"),
        # The day's inspection read the whole day the same way: eight supervisors opening it on a simulated day held a
        # panel page for seconds and the events' reads fell silent. It reads the daily log's tables (DAYS_AT_ONCE at once).
        ("/qa/day", "archived_days"),
    ],
    ids=["reports", "daily_logs", "qa_days"],
)
async def test_pg_supervisors_pages_held_up_leave_the_panel_and_the_events_their_threads_and_connections(
    pg_cluster: Cluster, aiohttp_client: Any, caplog: pytest.LogCaptureFixture, route: str, table: str
) -> None:
    location = pg_cluster.database()
    client = await aiohttp_client(make_app(pg_config(location)))
    resp = await client.post("/v1/events", data=body_of(make_event(conversation="first", text="这件有货吗")))
    assert resp.status == 200  # the event's reads keep their connections (the conversations' cache, the catalog…)
    lock = await psycopg.AsyncConnection.connect(location.url, password=location.password)
    admin = await psycopg.AsyncConnection.connect(location.url, password=location.password, autocommit=True)
    async with lock, admin:
        await lock.execute(f"LOCK TABLE {table}")
        pages = [asyncio.ensure_future(client.get(route, params={"date": "2026-11-20"})) for _ in range(8)]

        async def held_up() -> bool:  # as many as are read at once
            return await _waiting_on(admin, table) >= 2

        await eventually(held_up, timeout=30)
        panel = await client.get("/panel", params={"agent": "a1"})
        assert panel.status == 200, await panel.text()
        resp = await client.post("/v1/events", data=body_of(make_event(conversation="c", text="这件有货吗")))
        assert resp.status == 200
        assert not any(page.done() for page in pages)  # the panel and the event waited for none of them
        await lock.rollback()
        await asyncio.gather(*pages)
    assert "could not be read from the log" not in caplog.text
    pg.close_pools(location)


async def test_pg_a_report_past_its_time_limit_says_so_on_the_page_and_the_command_line(
    pg_cluster: Cluster, aiohttp_client: Any, tmp_path: Path
) -> None:
    # A report's statements ran for up to the pool's 10 minutes, and a cancelled one said only that the database
    # "cannot be read now (timed out)". Here the report waits for a lock another session holds, past its second.
    location = pg_cluster.database()
    config = replace_config(pg_config(location), "store", report_timeout_s=1.0)
    client = await aiohttp_client(make_app(config))
    assert (await client.post("/v1/events", data=body_of(make_event(conversation="c")))).status == 200
    lock = await psycopg.AsyncConnection.connect(location.url, password=location.password)
    async with lock:
        await lock.execute("LOCK TABLE kpi_window_changes")
        resp = await client.get("/v1/reports/daily", params={"date": "2026-11-20"})
        assert resp.status == 503 and (await resp.json())["error"] == "report_timed_out"
        assert (await resp.json())["message"] == (
            "the report took longer than [store] report_timeout_s allows (1 s): ask for fewer days or one shop,"
            " or raise it"
        )
        page = await client.get("/reports/daily", params={"date": "2026-11-20"})
        assert page.status == 503 and "report_timeout_s" in await page.text() and "报表" in await page.text()
        await lock.rollback()
        await lock.execute("LOCK TABLE messages")  # what the command's report reads first
        path = tmp_path / "c.toml"
        path.write_text(
            f'[store]\nurl = "{location.url}"\npassword_env = "{PASSWORD_ENV}"\nreport_timeout_s = 1\n',
            encoding="utf-8",
        )
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "assistant", "report", "--config", str(path), "--date", "2026-11-20"],
            capture_output=True, text=True, timeout=120, cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT), PASSWORD_ENV: location.password or ""},
        )  # fmt: skip
        await lock.rollback()
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (  # after the start's repair, which met the lock too
        "assistant: 报表耗时超过 [store] report_timeout_s 允许的 1 秒：请缩短日期范围或只查一个店铺，或调高该设置"
    ), done.stderr
    pg.close_pools(location)


@pytest.mark.parametrize(
    ("route", "said"),
    [
        # A daily log's statements ran for up to the pool's 10 minutes, and a cancelled one said only that the database
        # "cannot be read now (timed out)".
        ("/logs/daily", "读取客服日志耗时超过 [store] report_timeout_s 允许的 1 秒"),
        # The day's inspection's statements too (a lock waited for, then "cannot be read now (busy)").
        ("/qa/day", "读取质检日报耗时超过 [store] report_timeout_s 允许的 1 秒"),
    ],
    ids=["daily_log", "qa_day"],
)
async def test_pg_a_day_read_past_its_time_limit_says_so_in_chinese(
    pg_cluster: Cluster, aiohttp_client: Any, route: str, said: str
) -> None:
    # Here the page waits for a lock another session holds, past its second.
    location = pg_cluster.database()
    config = replace_config(pg_config(location), "store", report_timeout_s=1.0, busy_timeout_s=30.0)
    client = await aiohttp_client(make_app(config))
    assert (await client.post("/v1/events", data=body_of(make_event(conversation="c")))).status == 200
    lock = await psycopg.AsyncConnection.connect(location.url, password=location.password)
    async with lock:
        await lock.execute("LOCK TABLE archived_days")
        page = await client.get(route, params={"date": "2026-11-20"})
        await lock.rollback()
    assert page.status == 503, await page.text()
    assert said in await page.text()
    pg.close_pools(location)


async def test_pg_readyz_answers_at_once_while_the_writer_waits_for_a_row_lock_and_says_why(
    pg_cluster: Cluster, aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # The probe waited its turn behind the writer's group, itself waiting busy_timeout_s for a conversation's row
    # another session held (2 s by default, here 30): past a load balancer's check (1–2 s), and then it said ready.
    location = pg_cluster.database()
    config = replace_config(pg_config(location), "store", busy_timeout_s=30.0)
    client = await aiohttp_client(make_app(config))
    assert (await client.post("/v1/events", data=body_of(make_event(conversation="held")))).status == 200
    admin = await psycopg.AsyncConnection.connect(location.url, password=location.password)
    watch = await psycopg.AsyncConnection.connect(location.url, password=location.password, autocommit=True)
    async with admin, watch:
        await admin.execute("SELECT 1 FROM conversations WHERE conversation = 'held' FOR UPDATE")
        stuck = asyncio.ensure_future(client.post("/v1/events", data=body_of(make_event(conversation="held"))))

        async def waiting() -> bool:
            cur = await watch.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
            row = await cur.fetchone()
            return bool(row and row[0])

        await eventually(waiting, timeout=30)
        async with asyncio.timeout(10):  # not the group's 30 s
            resp = await client.get("/readyz")
        assert resp.status == 503 and resp.headers["Retry-After"]
        message = (await resp.json())["message"]
        assert message.startswith("the database cannot be written now (busy: writes have waited "), message
        assert message.endswith(" s for a lock another session holds)"), message
        await admin.rollback()
        assert (await stuck).status == 200
    assert "waits for a lock held by" in caplog.text

    async def ready() -> bool:
        return (await client.get("/readyz")).status == 200

    await eventually(ready, timeout=30)
    pg.close_pools(location)
