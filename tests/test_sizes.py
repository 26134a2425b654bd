"""GET /v1/admin/sizes: the in-memory maps' sizes and bounds, for the admin alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from assistant.config import Config, load_config
from tests.helpers import ROOT, make_app, make_event


async def test_sizes_count_the_conversations_and_say_the_bounds(aiohttp_client: Any, tmp_path: Path) -> None:
    env = {"ASSISTANT_ADMIN_TOKEN": "adm", "ASSISTANT_AGENT_TOKEN": "agt"}
    config = load_config(ROOT / "config.toml", env=env, overrides={"store": {"path": str(tmp_path / "s.db")}})
    client = await aiohttp_client(make_app(config))
    events = [make_event(conversation=f"c{i}", customer=f"u{i}", sender="customer", text="在吗") for i in range(3)]
    resp = await client.post("/v1/events", json=events)
    assert resp.status == 200
    refused = await client.get("/v1/admin/sizes", headers={"Authorization": "Bearer agt"})
    assert refused.status in (401, 403)
    resp = await client.get("/v1/admin/sizes", headers={"Authorization": "Bearer adm"})
    assert resp.status == 200
    body = await resp.json()
    assert body["sizes"]["conversations.states"] == 3
    assert body["sizes"]["asyncio_tasks"] > 0
    assert body["bounds"]["conversations.states"] == 20_000
    assert body["bounds"]["live.journal"] == 4096
    assert "followups.timers" not in body["bounds"]  # a map with no bound of its own says none
    # Read from the objects' own fields: a field renamed would silently leave its map out of the soak's view.
    kept = {"followups.echoes", "followups.suggested", "followups.timers", "followups.timeline_stamps",
            "live.followups", "live.agents", "conversations.names", "suggest.readings",
            "suggest.clause_splits"}  # fmt: skip
    assert kept <= body["sizes"].keys()
    assert "live.published" not in body["sizes"]  # noted only where a relay asks for it (PostgreSQL, below)
    assert body["bounds"]["followups.echoes"] == body["bounds"]["followups.suggested"] == 20_000
    assert body["bounds"]["suggest.clause_splits"] == 20_000  # the clause splitter's cache, bounded too


async def test_sizes_count_the_catalog_items_read(aiohttp_client: Any, tmp_path: Path) -> None:
    env = {"ASSISTANT_ADMIN_TOKEN": "adm"}
    config = load_config(ROOT / "config.toml", env=env, overrides={"store": {"path": str(tmp_path / "s.db")}})
    client = await aiohttp_client(make_app(config))
    events = [make_event(conversation=f"c{i}", text="这款有货吗", item=f"6000{i}") for i in range(3)]
    resp = await client.post("/v1/events", json=events)
    assert resp.status == 200
    body = await (await client.get("/v1/admin/sizes", headers={"Authorization": "Bearer adm"})).json()
    assert body["sizes"]["catalog.items"] == 3  # each item looked up once, kept even when the catalog lacks it
    assert body["bounds"]["catalog.items"] == 4096
    assert "pg.pools" not in body["sizes"]  # SQLite: no pool


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_sizes_on_postgresql_count_the_pools_and_their_prepared_statements(
    aiohttp_client: Any, config: Config, backend: str
) -> None:
    client = await aiohttp_client(make_app(config))  # no admin token set: the admin routes are open
    for i in range(6):  # psycopg prepares a statement on its fifth run
        resp = await client.post("/v1/events", json=[make_event(conversation=f"c{i}", customer=f"u{i}")])
        assert resp.status == 200
    body = await (await client.get("/v1/admin/sizes")).json()
    sizes, bounds = body["sizes"], body["bounds"]
    assert sizes["pg.pools"] >= 1
    assert 1 <= sizes["pg.pool_connections"] <= bounds["pg.pool_connections"]
    assert sizes["pg.connections"] >= sizes["pg.pool_connections"] + 1  # the writer's own too
    assert 0 < sizes["pg.prepared"] <= bounds["pg.prepared"]
    assert sizes["live.published"] == 6 and bounds["live.published"] == 20_000  # the relay asks which are out
