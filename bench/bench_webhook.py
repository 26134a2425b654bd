"""POST /v1/events with durable logging vs a bare aiohttp handler, in the same run."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.load import cpu_seconds, post_load
from tests.service import ROOT, Service, free_port

TOTAL = int(os.environ.get("BENCH_EVENTS", "20000"))
CONCURRENCY = 64
# Real-shaped customer messages (the labeled set), so matching costs what it costs in production.
TEXTS = [line.split("\t", 1)[1] for line in (ROOT / "tests/data/intents.tsv").read_text("utf-8").splitlines() if "\t" in line]


def event(i: int, prefix: str = "bench") -> dict[str, object]:
    kinds = i % 10
    base = {"id": f"{prefix}-{i}", "ts": 1_795_140_000_000 + i * 10, "shop": "s1", "conversation": f"c{i % 500}",
            "customer": f"u{i % 500}"}
    if kinds < 5:
        return {**base, "type": "message", "sender": "customer", "text": TEXTS[i % len(TEXTS)]}
    if kinds < 9:
        return {**base, "type": "message", "sender": "agent", "agent": "a1", "text": "亲，今天下午四点前付款当天发出哦"}
    return {**base, "type": "order_created", "order": f"o{i}", "amount": 99.0}


def _wait_healthy(url: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not start")


async def _run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        bare = subprocess.Popen([sys.executable, "-m", "bench.bare_server", str(port)], cwd=ROOT)
        try:
            _wait_healthy(f"http://127.0.0.1:{port}")
            await post_load(f"http://127.0.0.1:{port}/v1/events", event, total=2000, concurrency=CONCURRENCY)
            cpu0 = cpu_seconds(bare.pid)
            base = await post_load(f"http://127.0.0.1:{port}/v1/events", event, total=TOTAL, concurrency=CONCURRENCY)
            base_cpu = (cpu_seconds(bare.pid) - cpu0) / TOTAL * 1000
        finally:
            bare.terminate()
            bare.wait()
        db = Path(tmp) / "bench.db"
        service = Service(ROOT / "config.toml", db, env={"ASSISTANT_WEBHOOK_SECRET": ""}).start()
        try:
            await post_load(f"{service.url}/v1/events", lambda i: event(i, "warm"), total=2000,
                            concurrency=CONCURRENCY)
            assert service.proc is not None
            cpu0 = cpu_seconds(service.proc.pid)
            durable = await post_load(f"{service.url}/v1/events", event, total=TOTAL, concurrency=CONCURRENCY)
            durable_cpu = (cpu_seconds(service.proc.pid) - cpu0) / TOTAL * 1000
        finally:
            service.terminate()
        with sqlite3.connect(db) as conn:
            logged = conn.execute("SELECT count(*) FROM events WHERE id LIKE 'bench-%'").fetchone()[0]
    print(f"== webhook: {TOTAL} single-event POSTs (50% customer messages: matched, typed, suggested), "
          f"{CONCURRENCY} concurrent, client in this process ==")
    print(base.line("bare aiohttp handler") + f"   server CPU {base_cpu:.3f} ms/event")
    print(durable.line("/v1/events durable (FULL)") + f"   server CPU {durable_cpu:.3f} ms/event")
    print(f"ratio durable/bare: {durable.rate / base.rate:.2f}   events logged: {logged}/{TOTAL}")


def main() -> None:
    asyncio.run(_run())


if __name__ == "__main__":
    main()
