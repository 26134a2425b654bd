"""Two matching workers: a conversation's messages sent to its own worker, or each to the least busy one.

    python -m bench bench_workers          (BENCH_REQUESTS=6000 per row, BENCH_ROUNDS=2, 500 conversations)

Real worker processes (`MatchingWorkers`, the shipped library) take customer messages of the distinct mix
(bench_webhook's texts, none sent twice) from BENCH_CONVERSATIONS conversations, each message with its
conversation's earlier ones (up to 40, as the service sends them), 16 in flight. Each round runs both routings in
turn on fresh workers: "own worker" as the service routes (`SPILL`), "least busy" as it did before. Printed: the
workers' CPU per request and how much their memory grew (their caches of what they read), per row and round.
The workers' CPU is the figure: the throughput depends on whatever else the machine runs.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from assistant.config import load_config
from assistant.suggest import worker as worker_module
from assistant.suggest.engine import matcher_settings
from assistant.suggest.matching import Request
from bench.bench_webhook import distinct_text
from tests.service import ROOT

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "6000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
CONVERSATIONS = int(os.environ.get("BENCH_CONVERSATIONS", "500"))
IN_FLIGHT = 16
HISTORY = 40  # what the service keeps of a conversation's customer messages (conversations.CUSTOMER_HISTORY)
LEAST_BUSY = -(10**9)  # a SPILL no worker is ever within: each message to the least busy worker


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def _row(spill: int, first: int) -> tuple[float, float, float]:
    """Workers' CPU ms per request, their memory growth in MB, requests per second."""
    saved, worker_module.SPILL = worker_module.SPILL, spill
    pool = worker_module.MatchingWorkers(matcher_settings(load_config(ROOT / "config.toml")), 2, adoption=dict)
    try:
        pool.start()
        while pool.ready < 2:
            await asyncio.sleep(0.05)
        pids = pool.pids
        cpu = {pid: _cpu_s(pid) for pid in pids}
        rss = {pid: _rss_mb(pid) for pid in pids}
        earlier: dict[str, list[tuple[int, str]]] = {}
        gate = asyncio.Semaphore(IN_FLIGHT)

        async def send(n: int) -> None:
            async with gate:
                conversation = f"c{n % CONVERSATIONS}"
                text, ts = distinct_text(first + n), 1_000_000 + n
                history = earlier.setdefault(conversation, [])
                request = Request(0, text, ts, history[-HISTORY:], [], False, {}, "s1")
                history.append((ts, text))
                answer = pool.submit(request, f"s1\x1f{conversation}")
                assert answer is not None and await answer is not None

        started = time.perf_counter()
        await asyncio.gather(*(send(n) for n in range(REQUESTS)))
        wall = time.perf_counter() - started
        used = sum(_cpu_s(pid) - cpu[pid] for pid in pids)
        grown = sum(_rss_mb(pid) - rss[pid] for pid in pids)
        return used / REQUESTS * 1000, grown, REQUESTS / wall
    finally:
        worker_module.SPILL = saved
        await pool.close()


async def _run() -> None:
    rows = {"own worker": worker_module.SPILL, "least busy": LEAST_BUSY}
    print(
        f"== two matching workers: {REQUESTS:,} distinct customer messages of {CONVERSATIONS} conversations per row,"
        f" {IN_FLIGHT} in flight, {ROUNDS} rounds (the rows take turns going first) =="
    )
    for r in range(ROUNDS):
        order = list(rows.items()) if r % 2 == 0 else list(rows.items())[::-1]
        for n, (label, spill) in enumerate(order):
            ms, grown, rate = await _row(spill, (2 * r + n) * REQUESTS)
            print(
                f"round {r + 1}  {label:<11} workers' CPU {ms:.3f} ms/request   their memory +{grown:5.1f} MB"
                f"   {rate:6,.0f} requests/s",
                flush=True,
            )


def main() -> None:
    asyncio.run(_run())


if __name__ == "__main__":
    main()
