"""POST /v1/events with durable logging vs a bare aiohttp handler, in the same run.

Two event mixes go to the real service (a subprocess, SQLite WAL + synchronous=FULL, group commit):
`logging` (agent and auto messages, orders: what the foundation does for every event) and `product`
(half of the events are customer messages, each also matched, typed and answered with suggestions).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from bench.load import LoadResult, cpu_seconds, post_load
from tests.service import ROOT, Service, free_port

TOTAL = int(os.environ.get("BENCH_EVENTS", "20000"))
CONCURRENCY = 64
# Real-shaped customer messages (the labeled set), so matching costs what it costs in production.
TEXTS = [
    line.split("\t", 1)[1] for line in (ROOT / "tests/data/intents.tsv").read_text("utf-8").splitlines() if "\t" in line
]
AGENT_TEXT = "亲，今天下午四点前付款当天发出哦"


def _base(i: int, prefix: str) -> dict[str, object]:
    # Stamped now, as a platform sends live events: a fixed date would age into a back-fill (agent messages
    # too late to arm a follow-up, each recorded stale) and measure that instead of the live path.
    return {
        "id": f"{prefix}-{i}",
        "ts": int(time.time() * 1000),
        "shop": "s1",
        "conversation": f"c{i % 500}",
        "customer": f"u{i % 500}",
    }


def event(i: int, prefix: str = "bench") -> dict[str, object]:
    """The product mix: 50% customer messages, 40% agent messages, 10% orders."""
    kind = i % 10
    base = _base(i, prefix)
    if kind < 5:
        return {**base, "type": "message", "sender": "customer", "text": TEXTS[i % len(TEXTS)]}
    if kind < 9:
        return {**base, "type": "message", "sender": "agent", "agent": "a1", "text": AGENT_TEXT}
    return {**base, "type": "order_created", "order": f"o{i}", "amount": 99.0}


def logging_event(i: int, prefix: str = "log") -> dict[str, object]:
    """The logging mix: agent and auto messages and orders, nothing to match."""
    kind = i % 10
    base = _base(i, prefix)
    if kind < 6:
        return {**base, "type": "message", "sender": "agent", "agent": "a1", "text": AGENT_TEXT}
    if kind < 8:
        return {**base, "type": "message", "sender": "auto", "text": "欢迎光临，客服马上为您服务"}
    if kind < 9:
        return {**base, "type": "order_created", "order": f"o{i}", "amount": 99.0}
    return {**base, "type": "order_paid", "order": f"o{i - 1}", "amount": 99.0}


def _wait_healthy(url: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not start")


async def _measure(url: str, pid: int, make: Callable[[int], dict[str, object]]) -> tuple[LoadResult, float]:
    await post_load(url, lambda i: {**make(i), "id": f"warm-{url}-{i}"}, total=2000, concurrency=CONCURRENCY)
    cpu0 = cpu_seconds(pid)
    result = await post_load(url, make, total=TOTAL, concurrency=CONCURRENCY)
    return result, (cpu_seconds(pid) - cpu0) / TOTAL * 1000


async def _run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        bare = subprocess.Popen([sys.executable, "-m", "bench.bare_server", str(port)], cwd=ROOT)
        try:
            _wait_healthy(f"http://127.0.0.1:{port}")
            base, base_cpu = await _measure(f"http://127.0.0.1:{port}/v1/events", bare.pid, event)
        finally:
            bare.terminate()
            bare.wait()
        db = Path(tmp) / "bench.db"
        service = await Service(ROOT / "config.toml", db, env={"ASSISTANT_WEBHOOK_SECRET": ""}).start()
        try:
            assert service.proc is not None
            url = f"{service.url}/v1/events"
            logging, logging_cpu = await _measure(url, service.proc.pid, logging_event)
            product, product_cpu = await _measure(url, service.proc.pid, event)
        finally:
            service.terminate()
        with sqlite3.connect(db) as conn:
            logged = conn.execute("SELECT count(*) FROM events WHERE id LIKE 'bench-%' OR id LIKE 'log-%'").fetchone()[
                0
            ]
    print(f"== webhook: {TOTAL} single-event POSTs per row, {CONCURRENCY} concurrent, client in this process ==")
    print(base.line("bare aiohttp handler") + f"   server CPU {base_cpu:.3f} ms/event")
    print(
        logging.line("durable logging mix") + f"   server CPU {logging_cpu:.3f} ms/event"
        f"   ratio {logging.rate / base.rate:.2f}"
    )
    print(
        product.line("product mix (50% matched)") + f"   server CPU {product_cpu:.3f} ms/event"
        f"   ratio {product.rate / base.rate:.2f}"
    )
    print(f"events logged: {logged}/{2 * TOTAL}")


def main() -> None:
    asyncio.run(_run())


if __name__ == "__main__":
    main()
