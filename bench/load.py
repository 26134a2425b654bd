"""A small HTTP load generator for the benchmarks (aiohttp client, fixed concurrency)."""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.request
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
    return _stat_cpu(f"/proc/{pid}/stat")


def _stat_cpu(path: str) -> float:
    """User + system CPU seconds from a /proc `stat` file (a process's or one thread's)."""
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuUse:
    """A service's CPU seconds so far, by part, and how long each part waited, runnable, for a core.

    `loop`: its main thread (the event loop); `threads`: its other threads (the writer, libuv's pool);
    `workers`: its descendant processes (matching workers). `waited` is None where the kernel keeps no
    schedstat.
    """

    loop: float
    threads: float
    workers: float
    waited: tuple[float, float, float] | None

    @property
    def parts(self) -> tuple[float, float, float]:
        return (self.loop, self.threads, self.workers)

    @property
    def total(self) -> float:
        return sum(self.parts)

    def __sub__(self, before: CpuUse) -> CpuUse:
        waited = None if self.waited is None or before.waited is None else _minus(self.waited, before.waited)
        return CpuUse(*_minus(self.parts, before.parts), waited)


def _minus(a: tuple[float, float, float], b: tuple[float, float, float]) -> tuple[float, float, float]:
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2])


def _waited(pid: int, tid: str) -> float | None:
    """How long a thread has waited, runnable, for a core (seconds); None where the kernel keeps no schedstat."""
    try:
        with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (IndexError, ValueError):
        return None


def _children(pid: int, tid: str) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{tid}/children") as f:
            return [int(child) for child in f.read().split()]
    except FileNotFoundError:  # the thread ended meanwhile
        return []


def cpu_use(pid: int) -> CpuUse:
    """Where a service's CPU went so far (see `CpuUse`); subtract two samples for a run's share.

    CPU by process counts the threads that have ended too; the waits are summed over the live threads only.
    """
    loop = threads = workers = 0.0
    waited: list[float] | None = [0.0, 0.0, 0.0]
    pending = [pid]
    while pending:
        proc = pending.pop()
        try:
            used = cpu_seconds(proc)
            tasks = os.listdir(f"/proc/{proc}/task")
            if proc == pid:
                loop = _stat_cpu(f"/proc/{pid}/task/{pid}/stat")
                threads = max(0.0, used - loop)  # both counted in clock ticks
            else:
                workers += used
        except FileNotFoundError:  # a child ended meanwhile
            continue
        for tid in tasks:
            part = 2 if proc != pid else 0 if int(tid) == pid else 1
            try:
                wait = _waited(proc, tid)
            except FileNotFoundError:  # the thread ended meanwhile
                continue
            if waited is not None and wait is not None:
                waited[part] += wait
            else:
                waited = None
            pending.extend(_children(proc, tid))
    return CpuUse(loop, threads, workers, None if waited is None else (waited[0], waited[1], waited[2]))


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and of its running descendants (a service's worker processes count as its own)."""
    return cpu_use(pid).total


def wait_ready(url: str, timeout_s: float) -> None:
    """Until the server at `url` answers /readyz: the service listens during its start and answers events only after."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not start in {timeout_s:.0f} s")
