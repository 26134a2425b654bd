"""A PostgreSQL server that stops answering without refusing (a failover dropping packets, a storage stall, a
stopped VM), simulated by stopping its processes with SIGSTOP: the instance stays alive and says so."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from assistant import pg
from tests.helpers import body_of, eventually, make_app, make_event
from tests.pgcluster import Cluster

Client = TestClient  # type: ignore[type-arg]
NOT_HUNG_S = 20.0  # far above any bound the service sets: only proves it answered at all


@pytest.fixture
def backend() -> str:
    return "postgresql"


@pytest.fixture
def silent_cluster() -> Iterator[Cluster]:
    """A cluster of this test's own, as its processes get stopped."""
    cluster = Cluster()
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def db_path(silent_cluster: Cluster) -> Iterator[pg.Location]:
    location = silent_cluster.database()
    yield location
    pg.close_pools(location)


def server_processes(cluster: Cluster) -> list[int]:
    """The postmaster and every process it started (the backends, the checkpointer…)."""
    main = cluster.postmaster_pid()
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == main:
                children.append(int(entry.name))
    return [main, *children]


async def test_silent_server_keeps_healthz_quick_and_answers_events_503(
    aiohttp_client: Any, config: Any, silent_cluster: Cluster
) -> None:
    client: Client = await aiohttp_client(make_app(config))
    assert (await client.post("/v1/events", data=body_of(make_event(conversation="before")))).status == 200
    stopped = server_processes(silent_cluster)

    def resume() -> None:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)

    # A frozen event loop would never reach the `finally`: the server is resumed from a thread at the latest.
    safety = threading.Timer(2 * NOT_HUNG_S, resume)
    for pid in stopped:
        os.kill(pid, signal.SIGSTOP)
    safety.start()
    began = time.monotonic()
    try:
        event = asyncio.ensure_future(
            client.post("/v1/events", data=body_of(make_event(conversation="during", text="在吗")))
        )
        health = await asyncio.wait_for(client.get("/healthz"), NOT_HUNG_S)  # while the event waits
        assert health.status == 200 and time.monotonic() - began < NOT_HUNG_S
        resp = await asyncio.wait_for(event, NOT_HUNG_S)
        assert resp.status == 503, await resp.text()
        assert resp.headers["Retry-After"]
        again = await asyncio.wait_for(
            client.post("/v1/events", data=body_of(make_event(conversation="during-2"))), NOT_HUNG_S
        )
        assert again.status == 503
        ready = await asyncio.wait_for(client.get("/readyz"), NOT_HUNG_S)
        assert ready.status == 503
        assert (await asyncio.wait_for(client.get("/healthz"), NOT_HUNG_S)).status == 200
        # Each answer is bounded on its own (a hang fails its wait_for); a bound on their sum was a timing goal
        # (14 s of the 20 on a quiet machine, 20.006 s once in CI's parallel run) and is gone.
    finally:
        safety.cancel()
        resume()

    async def served() -> bool:
        resp = await client.post("/v1/events", data=body_of(make_event(conversation="after")))
        return resp.status == 200

    await eventually(served, timeout=30)
