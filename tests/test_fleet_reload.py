"""Reloading every instance on one PostgreSQL database at once (`POST /v1/admin/reload?fleet=1`)."""

from __future__ import annotations

import asyncio
import shutil
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from assistant import pg, store
from assistant.cluster import reloads
from assistant.config import Config, load_config
from assistant.web.appkeys import FLEET
from tests.conftest import ROOT, _store_overrides
from tests.helpers import eventually, make_app

Client = TestClient  # type: ignore[type-arg]
ADMIN = {"Authorization": "Bearer adm"}
EXTRA = (
    'group = "测试"\n[[phrase]]\nid = "invoice.fleet_reload"\nintent = "invoice"\ncode = "zzfl"\n'
    'text = "亲，电子发票会在确认收货后自动开具发送到您的邮箱哦~"\ntriggers = ["斑马发票测试"]\n'
)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "postgresql"))


def _instance_config(db: store.Location, tmp_path: Path, name: str, **phrases: Any) -> tuple[Config, Path]:
    """An instance's config on the shared database with its own copy of the shipped library (its machine's files),
    and these `[phrases]` settings."""
    library = tmp_path / name
    shutil.copytree(ROOT / "phrases", library)
    overrides, env = _store_overrides(db)
    config = load_config(
        ROOT / "config.toml",
        env={"ASSISTANT_ADMIN_TOKEN": "adm", **env},
        overrides={"store": overrides, "phrases": {"path": str(library), **phrases}},
    )
    return config, library


async def _first_phrase(client: Client, text: str) -> str | None:
    found = await (await client.get("/v1/suggest", params={"text": text}, headers=ADMIN)).json()
    return found["suggestions"][0]["phrase_id"] if found["suggestions"] else None


async def _pair(
    aiohttp_client: Any, db: store.Location, tmp_path: Path, **phrases: Any
) -> tuple[Client, Client, Path, Path]:
    """Two instances on `db`, the first with these `[phrases]` settings."""
    config_a, library_a = _instance_config(db, tmp_path, "a", **phrases)
    config_b, library_b = _instance_config(db, tmp_path, "b")
    first = await aiohttp_client(make_app(config_a))
    second = await aiohttp_client(make_app(config_b))
    await eventually(lambda: first.app[FLEET].listening.is_set() and second.app[FLEET].listening.is_set())
    return first, second, library_a, library_b


async def test_fleet_reload_reloads_every_instance_from_its_own_files(
    aiohttp_client: Any, db_path: store.Location, tmp_path: Path
) -> None:
    first, second, library_a, library_b = await _pair(aiohttp_client, db_path, tmp_path)
    for library in (library_a, library_b):
        (library / "zz_fleet.toml").write_text(EXTRA, encoding="utf-8")
    resp = await first.post("/v1/admin/reload", params={"fleet": "1"}, headers=ADMIN)
    body = await resp.json()
    assert resp.status == 200, body
    assert body["reloaded"] is True and body["fleet"] is True
    assert len(body["instances"]) == 2
    assert all(i["answered"] and i["reloaded"] for i in body["instances"])
    assert body["instances"][0]["phrases"] == body["instances"][1]["phrases"] == body["phrases"]
    assert body["instances"][0]["library"] == body["instances"][1]["library"]  # the same files on both machines
    assert await _first_phrase(first, "斑马发票测试") == "invoice.fleet_reload"
    assert await _first_phrase(second, "斑马发票测试") == "invoice.fleet_reload"  # the one not asked


async def test_fleet_reload_names_the_instance_that_refused(
    aiohttp_client: Any, db_path: store.Location, tmp_path: Path
) -> None:
    first, second, library_a, library_b = await _pair(aiohttp_client, db_path, tmp_path)
    (library_a / "zz_fleet.toml").write_text(EXTRA, encoding="utf-8")
    (library_b / "zz_fleet.toml").write_text(EXTRA.replace("自动开具", "{{ nosuchvar }}"), encoding="utf-8")
    resp = await first.post("/v1/admin/reload", params={"fleet": "true"}, headers=ADMIN)
    body = await resp.json()
    assert resp.status == 422, body
    assert body["reloaded"] is False
    refused = [i for i in body["instances"] if not i["reloaded"]]
    assert len(refused) == 1 and any("nosuchvar" in p for p in refused[0]["problems"])
    assert await _first_phrase(first, "斑马发票测试") == "invoice.fleet_reload"
    assert await _first_phrase(second, "斑马发票测试") != "invoice.fleet_reload"  # its old library serves on


async def test_fleet_reload_shows_a_machine_whose_files_differ(
    aiohttp_client: Any, db_path: store.Location, tmp_path: Path
) -> None:
    first, second, library_a, library_b = await _pair(aiohttp_client, db_path, tmp_path)
    (library_a / "zz_fleet.toml").write_text(EXTRA, encoding="utf-8")
    (library_b / "zz_fleet.toml").write_text(EXTRA.replace("自动开具", "开具"), encoding="utf-8")  # same count
    body = await (await first.post("/v1/admin/reload", params={"fleet": "1"}, headers=ADMIN)).json()
    a, b = body["instances"]
    assert a["reloaded"] and b["reloaded"] and a["phrases"] == b["phrases"]
    assert a["library"] != b["library"]


async def test_fleet_reload_reaches_an_instance_whose_connection_was_down(
    aiohttp_client: Any, db_path: store.Location, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reloads, "RECONNECT_S", 3.0)  # down while the reload is asked
    first, second, library_a, library_b = await _pair(aiohttp_client, db_path, tmp_path)
    for library in (library_a, library_b):
        (library / "zz_fleet.toml").write_text(EXTRA, encoding="utf-8")
    assert isinstance(db_path, pg.Location)
    with closing(store.connect(db_path)) as conn:
        killed = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = ?",
            (second.app[FLEET].name,),
        ).fetchone()[0]
    assert killed == 1
    await eventually(lambda: not second.app[FLEET].listening.is_set())
    assert (await (await second.get("/readyz")).json())["fleet_reloads"] == {"listening": False, "applied": 0}
    resp = await first.post("/v1/admin/reload", params={"fleet": "1"}, headers=ADMIN)
    body = await resp.json()
    assert resp.status == 200, body  # the one not listening is not waited for (it may answer meanwhile)

    async def second_reloaded() -> bool:
        return await _first_phrase(second, "斑马发票测试") == "invoice.fleet_reload"

    await eventually(second_reloaded, timeout=15)

    def answered() -> int:
        with closing(store.connect(db_path)) as conn:
            return int(conn.execute("SELECT count(*) FROM fleet_reload_results").fetchone()[0])

    assert await eventually(lambda: answered() == 2)  # the one that caught up recorded its outcome too
    ready = await (await second.get("/readyz")).json()
    assert ready["fleet_reloads"] == {"listening": True, "applied": 1}


async def test_fleet_reload_an_instance_started_after_it_does_not_reload_again(
    aiohttp_client: Any, db_path: store.Location, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A request asked within LOAD_MARGIN_MS before an instance read its files is reloaded all the same (one reload
    # too many, never one too few): on a quick machine this one is, so the margin is taken away here.
    monkeypatch.setattr(reloads, "LOAD_MARGIN_MS", 0)
    first, _second, _, _ = await _pair(aiohttp_client, db_path, tmp_path)
    assert (await first.post("/v1/admin/reload", params={"fleet": "1"}, headers=ADMIN)).status == 200
    config_c, _ = _instance_config(db_path, tmp_path, "c")
    third = await aiohttp_client(make_app(config_c))
    fleet = third.app[FLEET]
    await eventually(fleet.listening.is_set)
    assert fleet.applied >= 1  # the request before its start is in the files it read
    with closing(store.connect(db_path)) as conn:
        rows = conn.execute("SELECT count(*) FROM fleet_reload_results WHERE instance = ?", (fleet.name,))
        assert rows.fetchone()[0] == 0


async def test_fleet_reload_waits_as_long_as_the_setting_or_the_request_says(
    aiohttp_client: Any, db_path: store.Location, tmp_path: Path
) -> None:
    # The wait was a constant 60 s: a deploy script could not ask for less, a slow machine's large library not more.
    first, second, _, _ = await _pair(aiohttp_client, db_path, tmp_path, fleet_reload_wait_s=0.2)
    held = asyncio.Event()
    reload = second.app[FLEET].reload

    async def slow() -> tuple[bool, list[str], int, str]:
        await held.wait()  # a large library on a slow machine
        return await reload()

    second.app[FLEET].reload = slow
    try:
        for params in ({"fleet": "1"}, {"fleet": "1", "wait_s": "0.2"}):
            resp = await first.post("/v1/admin/reload", params=params, headers=ADMIN)
            body = await resp.json()
            assert resp.status == 202, body  # not 60 s later: the test's own time limit would have ended it
            assert body["instances"][1] == {"instance": reloads.shown(second.app[FLEET].name), "answered": False,
                                            "note": "no answer yet"}, body  # fmt: skip
        for bad in ("-1", "3601", "nan", "soon"):
            resp = await first.post("/v1/admin/reload", params={"fleet": "1", "wait_s": bad}, headers=ADMIN)
            assert resp.status == 400 and (await resp.json())["field"] == "wait_s", bad
        held.set()
        resp = await first.post("/v1/admin/reload", params={"fleet": "1", "wait_s": "60"}, headers=ADMIN)
        assert resp.status == 200, await resp.json()  # a longer wait than the setting's, for a large deploy
    finally:
        held.set()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_fleet_reload_on_sqlite_is_this_instance(
    aiohttp_client: Any, db_path: store.Location, tmp_path: Path
) -> None:
    config, library = _instance_config(db_path, tmp_path, "a")
    client = await aiohttp_client(make_app(config))
    (library / "zz_fleet.toml").write_text(EXTRA, encoding="utf-8")
    resp = await client.post("/v1/admin/reload", params={"fleet": "1"}, headers=ADMIN)
    body = await resp.json()
    assert resp.status == 200 and body["reloaded"] is True
    assert [i["instance"] for i in body["instances"]] == [reloads.this_instance()]
    assert await _first_phrase(client, "斑马发票测试") == "invoice.fleet_reload"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_fleet_reload_refuses_a_flag_it_cannot_read(
    aiohttp_client: Any, db_path: store.Location, tmp_path: Path
) -> None:
    config, _ = _instance_config(db_path, tmp_path, "a")
    client = await aiohttp_client(make_app(config))
    resp = await client.post("/v1/admin/reload", params={"fleet": "all"}, headers=ADMIN)
    assert resp.status == 400 and (await resp.json())["field"] == "fleet"
