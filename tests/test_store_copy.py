"""`assistant store copy`: a SQLite log written by the service moved into PostgreSQL, and each refusal."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest

from assistant import pg, store
from assistant.cli.main import main
from assistant.clock import FakeClock
from assistant.config import Config, load_config
from assistant.hookspecs import DeliveryResult
from tests.catalog_data import CHART, CHART_HEADER, ITEMS, ITEMS_HEADER, csv_bytes
from tests.followup_harness import T0, Harness, Recorder
from tests.helpers import ROOT, live_event, make_app, replace_config
from tests.pgcluster import Cluster

DAY = "2026-11-20"
IDLE = 300
PASSWORD_ENV = "ASSISTANT_DB_PASSWORD"


@pytest.fixture
def folder(tmp_path: Path, pg_cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config whose SQLite log and archive are in tmp_path; the cluster's password in [store] password_env."""
    (tmp_path / "config.toml").write_text(
        f'[store]\npath = "lite.db"\narchive_dir = "archive"\n\n[phrases]\npath = "{ROOT / "phrases"}"\nworkers = 0\n',
        encoding="utf-8",
    )
    monkeypatch.setenv(PASSWORD_ENV, pg_cluster.password)
    return tmp_path


@pytest.fixture
def target(pg_cluster: Cluster) -> Iterator[pg.Location]:
    location = pg_cluster.database("copy")
    yield location
    pg.close_pools(location)


def cli(folder: Path, *args: str) -> int:
    return main([*args, "--config", str(folder / "config.toml")])


def copy(folder: Path, target: pg.Location) -> int:
    return cli(folder, "store", "copy", "--to", target.url)


def config_of(folder: Path, db: store.Location | None = None) -> Config:
    store_ = {"url": db.url} if isinstance(db, pg.Location) else {}
    return load_config(folder / "config.toml", env={PASSWORD_ENV: _password(db)}, overrides={"store": store_})


def _password(db: store.Location | None) -> str:
    return db.password or "" if isinstance(db, pg.Location) else ""


def simulated(folder: Path) -> Path:
    """A small simulated day (messages, orders, payments, adoption) logged by `assistant simulate`."""
    assert cli(folder, "simulate", "--day", DAY, "--agents", "4", "--customers", "120", "--seed", "3") == 0
    return folder / "lite.db"


async def filled(folder: Path, aiohttp_client: Any) -> Path:
    """The simulated day, plus a catalog, a flagged message, a pending follow-up and an armed timer, each written
    by the service's own code."""
    lite = simulated(folder)
    (folder / "items.csv").write_bytes(csv_bytes(ITEMS_HEADER, ITEMS))
    (folder / "chart.csv").write_bytes(csv_bytes(CHART_HEADER, CHART))
    assert cli(folder, "catalog", "import", str(folder / "items.csv"), str(folder / "chart.csv")) == 0
    client = await aiohttp_client(make_app(config_of(folder)))
    flagged = live_event(conversation="qa-1", sender="agent", agent="小美", text="加我V信 abc123 给您便宜点")
    assert (await client.post("/v1/events", json=flagged)).status == 200
    await client.close()
    config = replace_config(config_of(folder), "followups", mode="send", idle_seconds=IDLE)
    failing = Recorder([DeliveryResult.retry("TimeoutError posting to Chatwoot")])
    h = await Harness(config, lite, FakeClock(T0), plugins=[failing]).start()
    try:
        await h.agent_says(conversation="move-pending")
        await h.advance(IDLE)  # fired; its delivery failed and waits for a retry: pending
        await h.agent_says(conversation="move-armed")  # armed, not yet due
    finally:
        await h.stop()
    with closing(sqlite3.connect(lite)) as conn:
        assert conn.execute("SELECT count(*) FROM followups WHERE state = 'pending'").fetchone()[0] == 1
        armed = "SELECT count(*) FROM timers WHERE state = 'armed' AND conversation = 'move-armed'"
        assert conn.execute(armed).fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM messages WHERE qa IS NOT NULL").fetchone()[0] >= 1
        assert conn.execute("SELECT count(*) FROM catalog_items").fetchone()[0] == len(ITEMS)
        assert conn.execute("SELECT count(*) FROM suggestion_uses").fetchone()[0] > 10
        assert conn.execute("SELECT count(*) FROM payments").fetchone()[0] > 10
    return lite


def every_row(db: store.Location) -> dict[str, list[tuple[Any, ...]]]:
    """Each table's rows, sorted (the product's tables only: each store keeps its own migration record)."""
    with closing(store.connect(db, readonly=True)) as conn:
        if isinstance(db, pg.Location):
            found = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        else:
            found = "SELECT name FROM sqlite_master WHERE type = 'table'"
        tables = sorted(
            row[0]
            for row in conn.execute(found)
            # a store's own migration record, and PostgreSQL's tables of its running instances
            if row[0] not in ("_sqlite_migrations", "_assistant_migrations", "live_journal")
            and not row[0].startswith("fleet_reload")
        )
        return {t: sorted((tuple(r) for r in conn.execute(f"SELECT * FROM {t}")), key=repr) for t in tables}


def said(capsys: pytest.CaptureFixture[str], folder: Path, *args: str, db: str) -> str:
    capsys.readouterr()
    assert cli(folder, *args, "--db", db) == 0
    return capsys.readouterr().out


async def test_store_copy_moves_every_row_and_the_service_goes_on_on_postgresql(
    folder: Path, target: pg.Location, aiohttp_client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    lite = await filled(folder, aiohttp_client)
    capsys.readouterr()
    assert copy(folder, target) == 0
    out = capsys.readouterr()
    before = every_row(lite)
    assert every_row(target) == before  # every table, every row, every value
    for table, rows in before.items():  # the final count per table, as the user compares it
        assert any(line.split()[:3] == [table, f"{len(rows):,}", f"{len(rows):,}"] for line in out.out.splitlines())
    assert "events" in out.err and "messages" in out.err  # progress per table
    assert [r for r in before["followups"] if r[9] == "pending"]  # state: the follow-up pending is pending there
    with psycopg.connect(target.url, password=target.password) as conn:  # analyzed: the reports' plans fit the rows
        analyzed = conn.execute("SELECT DISTINCT tablename FROM pg_stats WHERE schemaname = current_schema()")
        assert {"events", "messages"} <= {row[0] for row in analyzed}

    for command in (["report", "--date", DAY, "--format", "json"], ["log", "--date", DAY, "--format", "jsonl"]):
        on_sqlite = said(capsys, folder, *command, db=str(lite))
        assert said(capsys, folder, *command, db=target.url) == on_sqlite
        assert len(on_sqlite) > 5_000, command  # a real day, not an empty answer

    highest = max(row[0] for row in before["events"])
    [pending] = [r[0] for r in before["followups"] if r[9] == "pending"]
    config = replace_config(config_of(folder, target), "followups", mode="send", idle_seconds=IDLE)
    h = await Harness(config, target, FakeClock(T0 + (IDLE + 1) * 1000), plugins=[Recorder()]).start()
    try:
        await h.agent_says(conversation="after-the-move")
        await h.send(conversation="after-the-move", text="好的，谢谢")
        seqs = [s for (s,) in h.rows("SELECT seq FROM events WHERE conversation = ? ORDER BY seq", "after-the-move")]
        assert len(seqs) == 2 and seqs[0] > highest, (seqs, highest)
        assert [f.id for f in h.followups() if f.state == "pending"] == [pending]  # there once, still pending
    finally:
        await h.stop()
    (folder / "again.csv").write_bytes(csv_bytes(ITEMS_HEADER, ITEMS[:1]))
    assert cli(folder, "catalog", "import", str(folder / "again.csv"), "--db", target.url) == 0
    with closing(store.connect(target, readonly=True)) as conn:
        ids = [row[0] for row in conn.execute("SELECT id FROM catalog_imports ORDER BY id")]
    assert ids == [1, 2]  # the copied import kept its id; the next one follows it


def tables_of(target: pg.Location) -> list[str]:
    with psycopg.connect(target.url, password=target.password) as conn:
        found = conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
        return sorted(row[0] for row in found)


def test_store_copy_refuses_a_database_that_is_not_empty(
    folder: Path, target: pg.Location, capsys: pytest.CaptureFixture[str]
) -> None:
    lite = simulated(folder)
    assert copy(folder, target) == 0
    first = every_row(target)
    with closing(sqlite3.connect(lite)) as conn, conn:
        conn.execute("UPDATE messages SET text = '改过了'")
    capsys.readouterr()
    assert copy(folder, target) == 1
    err = capsys.readouterr().err
    assert "不是空的" in err and "events" in err and "messages" in err, err
    assert every_row(target) == first


def test_store_copy_refuses_a_log_a_running_service_holds(
    folder: Path, target: pg.Location, capsys: pytest.CaptureFixture[str]
) -> None:
    lite = simulated(folder)
    held = store.hold_alone(lite)  # the lock `assistant serve` takes on its file
    try:
        capsys.readouterr()
        assert copy(folder, target) == 1
    finally:
        store.let_go(held)
    err = capsys.readouterr().err
    assert str(lite) in err and "正在运行的服务" in err, err
    assert tables_of(target) == []


def test_store_copy_refuses_a_log_of_a_newer_version(
    folder: Path, target: pg.Location, capsys: pytest.CaptureFixture[str]
) -> None:
    lite = simulated(folder)
    with closing(sqlite3.connect(lite)) as conn, conn:
        conn.execute(
            "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES ('assistant', '990_future', '')"
        )
    capsys.readouterr()
    assert copy(folder, target) == 1
    err = capsys.readouterr().err
    assert "990_future" in err and "更新版本" in err, err
    assert tables_of(target) == []


def test_store_copy_that_fails_midway_leaves_the_database_as_it_was(
    folder: Path, target: pg.Location, capsys: pytest.CaptureFixture[str]
) -> None:
    lite = simulated(folder)
    with closing(sqlite3.connect(lite)) as conn, conn:  # PostgreSQL's text holds no NUL: the last table fails
        conn.execute("INSERT INTO chatwoot_agents (account, user_id, name) VALUES ('1', '2', 'a' || char(0) || 'b')")
    capsys.readouterr()
    assert copy(folder, target) == 1
    err = capsys.readouterr().err
    assert "chatwoot_agents" in err and "原样" in err, err
    assert tables_of(target) == []  # not even the tables: they were made in the same transaction
