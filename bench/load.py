"""A small HTTP load generator for the benchmarks (aiohttp client, fixed concurrency)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]

    def line(self, label: str) -> str:
        return (
            f"{label:<28} {self.rate:>9,.0f} req/s   p50 {self.percentile(50):6.2f} ms   "
            f"p99 {self.percentile(99):6.2f} ms   errors {self.errors}"
        )


async def post_load(
    url: str,
    make_body: Callable[[int], Any],
    *,
    total: int,
    concurrency: int = 32,
    rate: float | None = None,
    headers: dict[str, str] | None = None,
) -> LoadResult:
    """POST `total` JSON bodies with `concurrency` workers (optionally paced to `rate` per second).

    `make_body(i)` returns the body as an object to encode, or as bytes already encoded (a benchmark that
    encodes its bodies ahead keeps the client's own cost out of the server's comparison).
    """
    counter = iter(range(total))
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()
    hdrs = {"Content-Type": "application/json", **(headers or {})}

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        for i in counter:
            if rate:
                due = start + i / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            body = make_body(i)
            data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
            t0 = time.perf_counter()
            try:
                async with session.post(url, data=data, headers=hdrs) as resp:
                    await resp.read()
                    if resp.status != 200:
                        errors += 1
            except aiohttp.ClientError:
                errors += 1
            latencies.append((time.perf_counter() - t0) * 1000)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return LoadResult(total, errors, time.perf_counter() - start, latencies)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and of its running descendants (a service's worker processes count as its own)."""
    total = cpu_seconds(pid)
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                children = [int(child) for child in f.read().split()]
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        for child in children:
            try:
                total += tree_cpu_seconds(child)
            except FileNotFoundError:  # the child ended meanwhile
                continue
    return total
