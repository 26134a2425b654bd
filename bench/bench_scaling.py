"""Several instances on one PostgreSQL database against one instance on SQLite, in the same run.

The product mix of bench_webhook (half customer messages, matched and answered) is posted round-robin
over 1, 2 and 3 service subprocesses sharing one database of a throwaway PostgreSQL cluster (the tests'
own, tests/pgcluster.py), and to one service on SQLite (WAL, synchronous=FULL). Each row reports the
throughput, the latency, and the CPU each part used per event: the services, PostgreSQL's processes and
this client. On a 2-core machine the cores are the limit: the sum of the CPU columns says how much of
them an event costs, and so what more cores would buy.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

from bench.bench_webhook import CONCURRENCY, event
from bench.load import LoadResult, cpu_seconds, post_load
from tests.pgcluster import Cluster
from tests.service import ROOT, Service

TOTAL = int(os.environ.get("BENCH_EVENTS", "12000"))
WARM = 1500


@dataclass
class Row:
    label: str
    result: LoadResult
    service_ms: float  # CPU of all service processes per event
    postgres_ms: float  # CPU of PostgreSQL's processes per event
    client_ms: float

    def line(self, base: float) -> str:
        return (
            self.result.line(self.label)
            + f"   CPU/event: services {self.service_ms:.2f} ms, postgres {self.postgres_ms:.2f} ms,"
            f" client {self.client_ms:.2f} ms   ratio {self.result.rate / base:.2f}"
        )


def postgres_cpu(postmaster: int) -> float:
    """CPU seconds used so far by the server: the postmaster and its children (one per connection)."""
    total = 0.0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
            if int(entry.name) == postmaster or parent == postmaster:
                total += cpu_seconds(int(entry.name))
        except (FileNotFoundError, ProcessLookupError, PermissionError, ValueError):
            continue
    return total


def _maker(prefix: str, k: int, j: int) -> Callable[[int], dict[str, object]]:
    """The events of instance `j` of `k`: every k-th of the product mix."""
    return lambda i: {**event(i * k + j), "id": f"{prefix}-{i * k + j}"}


async def _load(services: list[Service], prefix: str, total: int) -> LoadResult:
    """`total` events split round-robin over the instances (one client, `CONCURRENCY` in flight overall)."""
    k = len(services)
    started = time.perf_counter()
    parts = await asyncio.gather(
        *(
            post_load(
                f"{s.url}/v1/events",
                _maker(prefix, k, j),
                total=total // k,
                concurrency=max(1, CONCURRENCY // k),
            )
            for j, s in enumerate(services)
        )
    )
    seconds = time.perf_counter() - started
    return LoadResult(
        sum(p.requests for p in parts),
        sum(p.errors for p in parts),
        seconds,
        [ms for p in parts for ms in p.latencies_ms],
    )


async def _measure(label: str, services: list[Service], prefix: str, postmaster: int | None) -> Row:
    await _load(services, f"warm-{prefix}", WARM)
    pids = [s.proc.pid for s in services if s.proc is not None]
    service0 = sum(cpu_seconds(p) for p in pids)
    pg0 = postgres_cpu(postmaster) if postmaster else 0.0
    client0 = cpu_seconds(os.getpid())
    result = await _load(services, prefix, TOTAL)
    n = result.requests
    return Row(
        label,
        result,
        (sum(cpu_seconds(p) for p in pids) - service0) / n * 1000,
        ((postgres_cpu(postmaster) - pg0) / n * 1000) if postmaster else 0.0,
        (cpu_seconds(os.getpid()) - client0) / n * 1000,
    )


async def _run() -> None:
    env = {"ASSISTANT_WEBHOOK_SECRET": ""}
    rows: list[Row] = []
    with TemporaryDirectory() as tmp:
        lite = await Service(ROOT / "config.toml", Path(tmp) / "bench.db", env=env).start()
        try:
            rows.append(await _measure("SQLite, 1 instance", [lite], "lite", None))
        finally:
            lite.terminate()
        cluster = Cluster()
        cluster.start()
        try:
            postmaster = cluster.postmaster_pid()
            for k in (1, 2, 3):
                db = cluster.database(f"bench{k}")
                services = [Service(ROOT / "config.toml", db, env=env, log_dir=Path(tmp)) for _ in range(k)]
                try:
                    for s in services:
                        await s.start(timeout=40)
                    label = f"PostgreSQL, {k} instance{'s' if k > 1 else ''}"
                    rows.append(await _measure(label, services, f"pg{k}", postmaster))
                finally:
                    for s in services:
                        s.terminate()
        finally:
            cluster.stop()
    base = rows[0].result.rate
    print(
        f"== scaling: {TOTAL} single-event POSTs per row (product mix), {CONCURRENCY} in flight, round-robin;"
        f" {os.cpu_count()} cores =="
    )
    for row in rows:
        print(row.line(base))


def main() -> None:
    asyncio.run(_run())


if __name__ == "__main__":
    main()
