"""The SQLite log's `-wal` file while a long read holds a snapshot (a supervisor's report, an export) and events arrive.

    python -m bench.bench_wal        (BENCH_RATE=200 events/s, BENCH_READ_S=120, BENCH_AFTER_S=30)

The service runs as `assistant serve` runs it (a subprocess). Events are posted one per request at a steady rate,
half customer messages (matched), half agent replies, over 500 conversations; after a few seconds another process's
connection opens a read transaction and holds its snapshot for BENCH_READ_S seconds, as a report or an export over
a big day does (SQLite cannot fold commits made after a reader's snapshot back into the file while it reads, nor
start the `-wal` over). Printed: the `-wal`'s size every 10 s of the read, and after it; the events' latency (from
the moment each was due to its 200) during the read and once it ended (the checkpoint of the grown file then runs
in the writer); and what the service logged about it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.bench_webhook import distinct_text
from tests.service import ROOT, Service

RATE = float(os.environ.get("BENCH_RATE", "200"))
READ_S = float(os.environ.get("BENCH_READ_S", "120"))
AFTER_S = float(os.environ.get("BENCH_AFTER_S", "30"))
BEFORE_S = 10.0  # events before the read begins: the steady state
CONCURRENCY = 64
AGENT_TEXT = "亲，今天下午四点前付款当天发出哦"


def event(i: int) -> dict[str, Any]:
    """Event i: a customer's message or an agent's reply in conversation i % 500, stamped now."""
    conversation = str(1000 + i % 500)
    base = {"id": f"w{i}", "type": "message", "ts": time.time_ns() // 1_000_000, "shop": "s1"}
    base |= {"conversation": conversation, "customer": f"c{conversation}"}
    if i % 2:
        return base | {"sender": "agent", "agent": "小美", "text": AGENT_TEXT}
    return base | {"sender": "customer", "text": distinct_text(i)}


class Reader(threading.Thread):
    """Another process's connection holding one read transaction from `begin` until `end` is set."""

    def __init__(self, db: Path) -> None:
        super().__init__(name="long-read", daemon=True)
        self.db = db
        self.begun = threading.Event()
        self.end = threading.Event()

    def run(self) -> None:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, isolation_level=None)
        try:
            conn.execute("BEGIN")
            conn.execute("SELECT count(*) FROM events").fetchone()  # the snapshot is taken here
            self.begun.set()
            self.end.wait()
            conn.execute("COMMIT")
        finally:
            conn.close()


def wal_size(db: Path) -> int:
    try:
        return Path(f"{db}-wal").stat().st_size
    except FileNotFoundError:
        return 0


async def run(service: Service[Path], db: Path) -> None:
    total = int(RATE * (BEFORE_S + READ_S + AFTER_S))
    start = time.monotonic() + 0.5
    read_from, read_to = start + BEFORE_S, start + BEFORE_S + READ_S
    latencies: list[tuple[float, float]] = []  # (when due, seconds to its 200)
    failed = 0
    limit = asyncio.Semaphore(CONCURRENCY)
    reader = Reader(db)
    samples: list[tuple[float, int]] = []

    async def post(session: aiohttp.ClientSession, i: int) -> None:
        nonlocal failed
        due = start + i / RATE
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        async with limit, session.post(f"{service.url}/v1/events", data=json.dumps(event(i)).encode()) as resp:
            await resp.read()
            if resp.status != 200:
                failed += 1
        latencies.append((due, time.monotonic() - due))

    async def sample() -> None:
        while time.monotonic() < start + BEFORE_S + READ_S + AFTER_S + 2:
            now = time.monotonic()
            if reader.is_alive() is False and now >= read_from and not reader.begun.is_set():
                reader.start()
            if now >= read_to:
                reader.end.set()
            samples.append((now - read_from, wal_size(db)))
            await asyncio.sleep(0.5)

    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession(headers=headers, connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as session:
        await asyncio.gather(sample(), *(post(session, i) for i in range(total)))
    reader.end.set()

    print(f"== the -wal file while a read holds its snapshot {READ_S:.0f} s, {RATE:.0f} events/s ==")
    print(f"{'s into the read':>16} {'-wal MB':>9}")
    for mark in [-1.0, *range(0, int(READ_S) + 1, 10), *(READ_S + d for d in (1, 2, 5, 10, AFTER_S))]:
        near = min(samples, key=lambda s: abs(s[0] - mark))
        print(f"{near[0]:16.1f} {near[1] / 1e6:9.1f}")
    print(f"largest: {max(s[1] for s in samples) / 1e6:.1f} MB; not 200: {failed} of {total}")
    for name, lo, hi in (
        ("before the read", start, read_from),
        ("during the read", read_from, read_to),
        ("10 s after it", read_to, read_to + 10),
        ("after that", read_to + 10, read_to + AFTER_S),
    ):
        part = sorted(lat for due, lat in latencies if lo <= due < hi)
        if part:
            p99 = part[int(len(part) * 0.99) - 1]
            print(
                f"latency {name:<16} p50 {statistics.median(part) * 1000:7.1f} ms"
                f"   p99 {p99 * 1000:7.1f} ms   max {part[-1] * 1000:7.1f} ms"
            )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "wal.db"
        service: Service[Path] = Service(ROOT / "config.toml", db, env={"ASSISTANT_WEBHOOK_SECRET": ""})
        asyncio.run(service.start(timeout=300.0))  # a start takes over 20 s on a busy machine (load average 25)
        try:
            asyncio.run(run(service, db))
        finally:
            code = service.terminate()
            service.stop()
        said = [line for line in service.log.read_text("utf-8").splitlines() if "-wal" in line or "WAL" in line]
        print(f"service stopped ({code}); its log on the -wal file:")
        for line in said[:10]:
            print(f"  {line[:300]}")


if __name__ == "__main__":
    main()
