"""GET /v1/admin/sizes: the in-memory maps' sizes and bounds, for the admin alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assistant.config import load_config
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
            "live.followups", "live.agents", "live.published", "conversations.names", "suggest.readings"}  # fmt: skip
    assert kept <= body["sizes"].keys()
    assert body["bounds"]["followups.echoes"] == body["bounds"]["followups.suggested"] == 20_000
