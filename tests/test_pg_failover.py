"""A PostgreSQL server stopped outright (`pg_ctl stop -m immediate`, as a crash or a failover leaves it) under
traffic, and started again: the service, served as `assistant serve` serves it, on a real port."""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
from collections.abc import Iterator
from contextlib import closing

import aiohttp
import psycopg
import pytest

from assistant import pg, store
from tests.helpers import answers, body_of, eventually, make_app, make_event, serving
from tests.pgcluster import USER, Cluster
from tests.test_live import sse_events
from tests.test_pg_reads import pg_config


@pytest.fixture
def own_cluster() -> Iterator[Cluster]:
    """A cluster of this test's own, as its server is stopped."""
    cluster = Cluster()
    cluster.start()
    yield cluster
    if (cluster.data / "postmaster.pid").exists():
        cluster.stop()
    else:  # stopped by the test, and left stopped (a standby took over)
        pg.close_pools()
        shutil.rmtree(cluster.root, ignore_errors=True)


def stop_immediately(cluster: Cluster) -> None:
    cluster._run(str(cluster.bin / "pg_ctl"), "-D", str(cluster.data), "-m", "immediate", "-w", "stop")


class Traffic:
    """Eight clients posting customer messages without pause: what each answer was."""

    def __init__(self) -> None:
        self.acknowledged: list[str] = []
        self.refused: list[tuple[int, str | None]] = []
        self.others: list[tuple[int, str]] = []
        self.sending = True
        self._ids = itertools.count()

    def start(self, session: aiohttp.ClientSession, url: str) -> list[asyncio.Future[None]]:
        return [asyncio.ensure_future(self._send(session, url, n)) for n in range(8)]

    async def stop(self, senders: list[asyncio.Future[None]]) -> None:
        self.sending = False
        await asyncio.gather(*senders)

    async def _send(self, session: aiohttp.ClientSession, url: str, n: int) -> None:
        while self.sending:
            event = make_event(id=f"e{next(self._ids)}", conversation=f"c{n}", text="在吗")
            try:
                async with session.post(f"{url}/v1/events", data=body_of(event)) as resp:
                    if resp.status == 200:
                        self.acknowledged.append(event["id"])
                    elif resp.status == 503:
                        self.refused.append((resp.status, resp.headers.get("Retry-After")))
                    else:
                        self.others.append((resp.status, await resp.text()))
            except aiohttp.ClientError as exc:
                self.others.append((0, repr(exc)))


class Panel:
    """A supervisor's live panel on an instance: every event id its stream shows, connecting again when cut off."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.last_id: str | None = None

    async def follow(self, session: aiohttp.ClientSession, url: str) -> None:
        forever = aiohttp.ClientTimeout(total=None, sock_read=None)
        while True:
            headers = {"Last-Event-ID": self.last_id} if self.last_id else {}
            try:
                async with session.get(f"{url}/v1/stream", headers=headers, timeout=forever) as resp:
                    async for e in sse_events(resp):
                        self.last_id = e.id or self.last_id
                        if e.event == "conversation":
                            self.seen.add(e.data["payload"]["event_id"])
            except (aiohttp.ClientError, OSError):
                pass
            await asyncio.sleep(0.2)  # as the page waits before it connects again


async def test_pg_server_stopped_outright_under_traffic_keeps_every_acknowledged_event_once(
    own_cluster: Cluster,
) -> None:
    location = own_cluster.database()
    config = pg_config(location)
    acknowledged: list[str] = []
    refused: list[tuple[int, str | None]] = []
    others: list[tuple[int, str]] = []
    ids = itertools.count()
    sending = True

    async def sender(session: aiohttp.ClientSession, url: str, n: int) -> None:
        while sending:
            event = make_event(id=f"e{next(ids)}", conversation=f"c{n}", text="在吗")
            try:
                async with session.post(f"{url}/v1/events", data=body_of(event)) as resp:
                    if resp.status == 200:
                        acknowledged.append(event["id"])
                    elif resp.status == 503:
                        refused.append((resp.status, resp.headers.get("Retry-After")))
                    else:
                        others.append((resp.status, await resp.text()))
            except aiohttp.ClientError as exc:
                others.append((0, repr(exc)))

    panel = Panel()
    with serving(make_app(config), config) as served, serving(make_app(config), config) as other:
        async with aiohttp.ClientSession() as session:
            await eventually(lambda: answers(session, f"{served.url}/readyz", 200), timeout=30)
            await eventually(lambda: answers(session, f"{other.url}/readyz", 200), timeout=30)
            following = asyncio.ensure_future(panel.follow(session, other.url))  # the other instance's events
            senders = [asyncio.ensure_future(sender(session, served.url, n)) for n in range(8)]
            await eventually(lambda: len(acknowledged) >= 100, timeout=60)
            await asyncio.to_thread(stop_immediately, own_cluster)
            during = len(acknowledged)
            await eventually(lambda: len(refused) >= 20, timeout=60)
            assert await answers(session, f"{served.url}/readyz", 503)
            await asyncio.to_thread(own_cluster.start_server)
            await eventually(lambda: len(acknowledged) >= during + 100, timeout=60)
            await eventually(lambda: answers(session, f"{served.url}/readyz", 200), timeout=30)
            sending = False
            await asyncio.gather(*senders)
            # The other instance's listener resumed: an event logged through this one after the restart reaches its
            # panel, and so does the fleet reloads' listener (/readyz).
            marker = make_event(id="after-restart", conversation="marker", text="在吗")
            async with session.post(f"{served.url}/v1/events", data=body_of(marker)) as resp:
                assert resp.status == 200
            await eventually(lambda: "after-restart" in panel.seen, timeout=30)

            async def listening() -> bool:
                async with session.get(f"{other.url}/readyz") as resp:
                    return resp.status == 200 and bool((await resp.json())["fleet_reloads"]["listening"])

            await eventually(listening, timeout=30)
            following.cancel()
    assert not others, others[:5]
    assert all(retry for _, retry in refused)
    pg.close_pools(location)
    with closing(store.connect(location, readonly=True)) as conn:
        logged = [row[0] for row in conn.execute("SELECT id FROM events")]
    pg.close_pools(location)
    assert len(logged) == len(set(logged))
    assert set(acknowledged) <= set(logged)


def standby_of(cluster: Cluster) -> Cluster:
    """A streaming standby of `cluster` (pg_basebackup), started on a port of its own, committed to synchronously: a
    commit the primary acknowledges is on the standby too (asynchronous, a failover loses the last ones)."""
    standby = Cluster()
    standby.password = cluster.password
    standby._options = cluster._options.replace(
        f"-p {cluster.port} -k {cluster.root}", f"-p {standby.port} -k {standby.root}"
    )
    env = {**os.environ, "PGPASSWORD": cluster.password}
    cluster._run(
        str(cluster.bin / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(cluster.port), "-U", USER,
        "-D", str(standby.data), "-R", "-X", "stream", "--checkpoint=fast", env=env,
    )  # fmt: skip
    standby._user = cluster._user
    standby.start_server()
    with psycopg.connect(cluster.url("postgres"), password=cluster.password, autocommit=True) as admin:
        admin.execute("ALTER SYSTEM SET synchronous_standby_names = '*'")
        admin.execute("SELECT pg_reload_conf()")
    return standby


async def test_pg_failover_to_a_promoted_standby_under_traffic_keeps_every_acknowledged_event_once(
    own_cluster: Cluster,
) -> None:
    location = own_cluster.database()
    standby = standby_of(own_cluster)
    try:
        name = location.url.rsplit("/", 1)[1]
        hosts = f"127.0.0.1:{own_cluster.port},127.0.0.1:{standby.port}"
        both = pg.Location(f"postgresql://{USER}@{hosts}/{name}?target_session_attrs=read-write", location.password)
        config = pg_config(both)
        traffic = Traffic()
        with serving(make_app(config), config) as served:
            async with aiohttp.ClientSession() as session:
                await eventually(lambda: answers(session, f"{served.url}/readyz", 200), timeout=30)
                senders = traffic.start(session, served.url)
                await eventually(lambda: len(traffic.acknowledged) >= 100, timeout=60)
                await asyncio.to_thread(stop_immediately, own_cluster)
                during = len(traffic.acknowledged)
                await eventually(lambda: len(traffic.refused) >= 20, timeout=60)
                standby._run(str(standby.bin / "pg_ctl"), "-D", str(standby.data), "-w", "promote")
                await eventually(lambda: len(traffic.acknowledged) >= during + 100, timeout=60)
                await eventually(lambda: answers(session, f"{served.url}/readyz", 200), timeout=30)
                await traffic.stop(senders)
        assert not traffic.others, traffic.others[:5]
        assert all(retry for _, retry in traffic.refused)
        pg.close_pools(both)
        with closing(store.connect(both, readonly=True)) as conn:
            logged = [row[0] for row in conn.execute("SELECT id FROM events")]
        pg.close_pools(both)
        assert len(logged) == len(set(logged))
        assert set(traffic.acknowledged) <= set(logged)
    finally:
        standby.stop()
