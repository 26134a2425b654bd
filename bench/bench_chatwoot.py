"""Chatwoot deliveries: the payload mapping with and without its memory, and the route against /v1/events.

    python -m bench.bench_chatwoot      (BENCH_EVENTS=n for the route rows)

1. `map_payload` of a real-shaped customer message, in process: with no memory, then with the memory of a
   log that has seen 5,000 conversations (each delivery asks it for the inbox's account, the agent's name,
   the message's follow-up and the conversation's status): µs per payload.
2. The real service (a subprocess) takes the same customer messages as `POST /v1/events` and as Chatwoot
   deliveries on `POST /v1/chatwoot` (unsigned: the signature costs the same on both), in the same run:
   the Chatwoot route's throughput as a share of the plain route's.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from assistant import upgrade
from assistant.chatwoot import Notes, map_payload
from assistant.web.chatwoot_memory import ChatwootMemory, record
from bench.bench_webhook import CONCURRENCY, TEXTS
from bench.load import LoadResult, cpu_seconds, post_load
from tests.service import ROOT, Service

TOTAL = int(os.environ.get("BENCH_EVENTS", "10000"))
MAPPINGS = 20_000
PAYLOAD = json.loads((ROOT / "tests" / "data" / "chatwoot" / "contact_message.json").read_text("utf-8"))


def delivery(i: int, prefix: str) -> dict[str, Any]:
    """A customer message of conversation i % 500, as Chatwoot delivers it."""
    payload = json.loads(json.dumps(PAYLOAD))
    payload.update(id=f"{prefix}{i}", content=TEXTS[i % len(TEXTS)], created_at=1_795_140_000 + i / 100)
    payload["conversation"]["id"] = 1000 + i % 500
    payload["conversation"]["meta"]["sender"]["id"] = 7000 + i % 500
    return dict(payload)


def plain(i: int, prefix: str) -> dict[str, Any]:
    return {
        "id": f"{prefix}{i}", "type": "message", "ts": 1_795_140_000_000 + i * 10, "shop": "chatwoot-3",
        "conversation": str(1000 + i % 500), "customer": str(7000 + i % 500), "sender": "customer",
        "agent": "张美玲", "text": TEXTS[i % len(TEXTS)],
    }  # fmt: skip


def bench_mapping() -> tuple[float, float]:
    payloads = [delivery(i, "m") for i in range(1000)]
    t0 = time.perf_counter()
    for i in range(MAPPINGS):
        map_payload(payloads[i % 1000], by_inbox=False, now_ms=0, item_attribute="item_id")
    bare_us = (time.perf_counter() - t0) / MAPPINGS * 1e6
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "memory.db"
        with sqlite3.connect(db, isolation_level=None) as conn:
            upgrade.migrate(conn)
            conn.execute("PRAGMA journal_mode=WAL")
            for n in range(5000):
                notes = Notes(
                    inbox=(str(n % 50), "3"), followup=("3", str(n), f"fu-{n}"),
                    status=("3", str(n), "open", n), agents=(("3", str(n % 40), f"agent{n % 40}"),),
                )  # fmt: skip
                record(conn, notes)
        memory = ChatwootMemory(db)
        t0 = time.perf_counter()
        for i in range(MAPPINGS):
            mapped = map_payload(payloads[i % 1000], by_inbox=False, now_ms=0, item_attribute="item_id", memory=memory)
            memory.news(mapped.notes)
        memory_us = (time.perf_counter() - t0) / MAPPINGS * 1e6
        memory.close()
    return bare_us, memory_us


async def measure(url: str, pid: int, make: Any, prefix: str) -> tuple[LoadResult, float]:
    await post_load(url, lambda i: make(i, f"warm-{prefix}"), total=1000, concurrency=CONCURRENCY)
    cpu0 = cpu_seconds(pid)
    result = await post_load(url, lambda i: make(i, prefix), total=TOTAL, concurrency=CONCURRENCY)
    return result, (cpu_seconds(pid) - cpu0) / TOTAL * 1000


def chatwoot_config(folder: Path) -> Path:
    """A config in `folder` with the Chatwoot hook on, unsigned webhooks accepted, and the shipped phrases."""
    config = folder / "config.toml"
    config.write_text(
        f'[hooks]\nenabled = ["chatwoot"]\n\n[hooks.chatwoot]\nallow_unsigned = true\n\n'
        f'[phrases]\npath = "{ROOT / "phrases"}"\n',
        encoding="utf-8",
    )
    return config


async def bench_route() -> tuple[LoadResult, float, LoadResult, float]:
    with tempfile.TemporaryDirectory() as tmp:
        config = chatwoot_config(Path(tmp))
        env = {"ASSISTANT_WEBHOOK_SECRET": "", "CHATWOOT_WEBHOOK_SECRET": "", "CHATWOOT_API_TOKEN": ""}
        service = await Service(config, Path(tmp) / "bench.db", env=env).start()
        try:
            assert service.proc is not None
            events, events_cpu = await measure(f"{service.url}/v1/events", service.proc.pid, plain, "e")
            chatwoot, chatwoot_cpu = await measure(f"{service.url}/v1/chatwoot", service.proc.pid, delivery, "c")
        finally:
            service.terminate()
    return events, events_cpu, chatwoot, chatwoot_cpu


def main() -> None:
    bare_us, memory_us = bench_mapping()
    print(f"== chatwoot mapping: {MAPPINGS} customer-message payloads ==")
    print(f"no memory      {bare_us:8.1f} µs/payload")
    print(f"memory (5,000) {memory_us:8.1f} µs/payload   +{memory_us - bare_us:.1f} µs")
    events, events_cpu, chatwoot, chatwoot_cpu = asyncio.run(bench_route())
    print(f"== chatwoot route: {TOTAL} customer messages per row, {CONCURRENCY} concurrent ==")
    print(events.line("POST /v1/events") + f"   server CPU {events_cpu:.3f} ms/event")
    print(
        chatwoot.line("POST /v1/chatwoot") + f"   server CPU {chatwoot_cpu:.3f} ms/event"
        f"   ratio {chatwoot.rate / events.rate:.2f}"
    )


if __name__ == "__main__":
    main()
