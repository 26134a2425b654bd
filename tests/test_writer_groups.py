"""The writer's groups: the jobs a group takes, and the groups counted (sizes, each job's wait for its BEGIN,
GET /v1/admin/writer)."""

from __future__ import annotations

import queue
from pathlib import Path
from typing import Any

from assistant.config import load_config
from assistant.logfile.groups import GroupStats, fill
from tests.helpers import ROOT, make_app, make_event


def test_group_stats_count_groups_by_size_and_jobs_by_wait() -> None:
    stats = GroupStats()
    stats.add(10.0, [10.0])  # one job, no wait
    stats.add(20.0, [19.999_995, 19.999_990, 19.999_000])  # three jobs: 5 µs, 10 µs, 1 ms
    stats.add(30.0, [29.9] * 9)  # nine jobs of 100 ms each
    stats.add(40.0, [])  # nothing taken: no group
    assert (stats.groups, stats.jobs) == (3, 13)
    snapshot = stats.snapshot()
    assert snapshot["sizes"] == {"1": 1, "≤4": 1, "≤16": 1}
    assert snapshot["waits_us"] == {"<1": 1, "<8": 1, "<16": 1, "<1024": 1, "<131072": 9}
    assert 900_000 <= snapshot["waited_us"] <= 901_100


def test_fill_takes_what_is_queued_and_stops_at_the_stop() -> None:
    jobs: queue.SimpleQueue[int | None] = queue.SimpleQueue()
    for item in (2, 3, None, 4):
        jobs.put(item)
    group = [1]
    assert fill(group, jobs, most=10) is True  # the stop taken: the group is the writer's last
    assert group == [1, 2, 3]
    jobs = queue.SimpleQueue()
    for item in range(2, 9):
        jobs.put(item)
    group = [1]
    assert fill(group, jobs, most=4) is False
    assert group == [1, 2, 3, 4]  # at most `most`, the rest left for the next group


async def test_writer_route_counts_the_groups_for_the_admin(aiohttp_client: Any, tmp_path: Path) -> None:
    env = {"ASSISTANT_ADMIN_TOKEN": "adm", "ASSISTANT_AGENT_TOKEN": "agt"}
    config = load_config(ROOT / "config.toml", env=env, overrides={"store": {"path": str(tmp_path / "s.db")}})
    client = await aiohttp_client(make_app(config))
    refused = await client.get("/v1/admin/writer", headers={"Authorization": "Bearer agt"})
    assert refused.status in (401, 403)
    before = await (await client.get("/v1/admin/writer", headers={"Authorization": "Bearer adm"})).json()
    events = [make_event(conversation=f"c{i}", sender="agent", agent="a1", text="好的") for i in range(3)]
    assert (await client.post("/v1/events", json=events)).status == 200
    after = await (await client.get("/v1/admin/writer", headers={"Authorization": "Bearer adm"})).json()
    assert after["groups"] > before["groups"] and after["jobs"] > before["jobs"]
    assert sum(after["sizes"].values()) == after["groups"]
    assert sum(after["waits_us"].values()) == after["jobs"]
