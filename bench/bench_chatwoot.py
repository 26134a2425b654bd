"""Chatwoot deliveries: the payload mapping with and without its memory, and the route against /v1/events.

    python -m bench.bench_chatwoot      (BENCH_EVENTS=n per row, BENCH_ROUNDS=3)
    BENCH_BASELINE=/path/to/other/checkout python -m bench.bench_chatwoot   (that code's service too, in turn)

1. `map_payload` of a real-shaped customer message, in process: with no memory, then with the memory of a
   log that has seen 5,000 conversations (each delivery asks it for the inbox's account, the agent's name,
   the message's follow-up and the conversation's status): µs per payload.
2. The real service (a subprocess, the Chatwoot hook on) takes the same customer messages, stamped when sent (live:
   matched, and handed to `on_suggestions`), as `POST /v1/events` and as Chatwoot deliveries on `POST /v1/chatwoot`
   (unsigned: the signature costs the same on both): throughput, p99 and the server's CPU per event (its matching
   worker included), and the Chatwoot route's throughput as a share of the plain route's. With a baseline, another
   checkout's service (its own code, the same config and phrases) takes the same rows: the rows take turns in
   rounds (this code first in even rounds, the baseline in odd ones), and each ratio of this code to the baseline is
   taken within its round; the median round is printed with the spread of all rounds.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant import upgrade
from assistant.chatwoot import Notes, map_payload
from assistant.web.chatwoot_memory import ChatwootMemory, record
from bench.bench_webhook import CONCURRENCY, TEXTS
from bench.load import LoadResult, cpu_use, post_load
from tests.service import ROOT, free_port

TOTAL = int(os.environ.get("BENCH_EVENTS", "10000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
BASELINE = os.environ.get("BENCH_BASELINE", "")  # another checkout of the service: its rows too, in turn
START_TIMEOUT_S = 300.0  # a start on a machine busy with other work (the library, the matching worker)
WARMUP = 1000
MAPPINGS = 20_000
PAYLOAD = json.loads((ROOT / "tests" / "data" / "chatwoot" / "contact_message.json").read_text("utf-8"))


def delivery(i: int, first: int) -> dict[str, Any]:
    """A customer message of conversation i % 500, as Chatwoot delivers it (message id `first` + i)."""
    payload = json.loads(json.dumps(PAYLOAD))
    payload.update(id=first + i, content=TEXTS[i % len(TEXTS)], created_at=time.time())
    payload["conversation"]["id"] = 1000 + i % 500
    payload["conversation"]["meta"]["sender"]["id"] = 7000 + i % 500
    return dict(payload)


def plain(i: int, first: int) -> dict[str, Any]:
    return {
        "id": f"e{first + i}", "type": "message", "ts": time.time_ns() // 1_000_000, "shop": "chatwoot-3",
        "conversation": str(1000 + i % 500), "customer": str(7000 + i % 500), "sender": "customer",
        "agent": "张美玲", "text": TEXTS[i % len(TEXTS)],
    }  # fmt: skip


def bench_mapping() -> tuple[float, float]:
    payloads = [delivery(i, 1) for i in range(1000)]
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


def chatwoot_config(folder: Path, root: Path = ROOT) -> Path:
    """A config in `folder` with the Chatwoot hook on, unsigned webhooks accepted, and `root`'s shipped phrases."""
    config = folder / "config.toml"
    config.write_text(
        f'[hooks]\nenabled = ["chatwoot"]\n\n[hooks.chatwoot]\nallow_unsigned = true\n\n'
        f'[phrases]\npath = "{root / "phrases"}"\n',
        encoding="utf-8",
    )
    return config


ROUTES: tuple[tuple[str, str, Callable[[int, int], dict[str, Any]]], ...] = (
    ("POST /v1/events", "/v1/events", plain),
    ("POST /v1/chatwoot", "/v1/chatwoot", delivery),
)


@dataclass
class Row:
    label: str
    target: str  # "this" or "baseline"
    route: str
    make: Callable[[int, int], dict[str, Any]]
    results: list[tuple[LoadResult, float]] = field(default_factory=list)  # per round: load, server CPU ms/event


def start_service(root: Path, folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`root`'s service (its own code, compiled matcher and phrases) on a free port, once it is ready."""
    folder.mkdir()
    port = free_port()
    env = {**os.environ, "ASSISTANT_WEBHOOK_SECRET": "", "CHATWOOT_WEBHOOK_SECRET": "", "CHATWOOT_API_TOKEN": ""}
    with (folder / "service.log").open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "assistant", "serve", "--config", str(chatwoot_config(folder, root))]
            + ["--db", str(folder / "bench.db"), "--port", str(port)],
            cwd=root,
            env={**env, "PYTHONPATH": str(root)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{root}'s service exited: {(folder / 'service.log').read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=5):
                return proc, url
        except OSError:
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError(f"{root}'s service did not start in {START_TIMEOUT_S:.0f} s")


async def measure(
    url: str, pid: int, make: Callable[[int, int], dict[str, Any]], first: int, n: int
) -> tuple[LoadResult, float]:
    """`n` deliveries, encoded ahead (stamped now: well within the 10 minutes that make a message live)."""
    bodies = [json.dumps(make(i, first), ensure_ascii=False).encode() for i in range(n)]
    cpu0 = cpu_use(pid)
    result = await post_load(url, bodies.__getitem__, total=n, concurrency=CONCURRENCY)
    return result, (cpu_use(pid) - cpu0).total / n * 1000


def first_id(row: int, run: int) -> int:
    """The first message id of a row's warm-up (run 0) or round (run r + 1): Chatwoot's ids are positive integers."""
    return (row * (ROUNDS + 1) + run + 1) * 10_000_000


async def bench_route() -> list[Row]:
    targets = {"this": ROOT} | ({"baseline": Path(BASELINE).resolve()} if BASELINE else {})
    rows = [Row(f"{label}, {target}", target, route, make) for target in targets for label, route, make in ROUTES]
    per_round = max(1, TOTAL // ROUNDS)
    with tempfile.TemporaryDirectory() as tmp:
        started = {target: start_service(root, Path(tmp) / target) for target, root in targets.items()}
        try:
            for row in rows:
                proc, url = started[row.target]
                await measure(f"{url}{row.route}", proc.pid, row.make, first_id(rows.index(row), 0), WARMUP)
            for r in range(ROUNDS):
                order = (
                    rows
                    if r % 2 == 0
                    else [row for target in reversed(targets) for row in rows if row.target == target]
                )
                for row in order:
                    proc, url = started[row.target]
                    row.results.append(
                        await measure(
                            f"{url}{row.route}", proc.pid, row.make, first_id(rows.index(row), r + 1), per_round
                        )
                    )
        finally:
            for proc, _ in started.values():
                proc.terminate()
                proc.wait()
    return rows


def _mid(values: list[float]) -> float:
    return statistics.median(values)


def _spread(values: list[float], form: str) -> str:
    return f"{_mid(values):{form}} [{min(values):{form}}–{max(values):{form}}]"


def main() -> None:
    bare_us, memory_us = bench_mapping()
    print(f"== chatwoot mapping: {MAPPINGS} customer-message payloads ==")
    print(f"no memory      {bare_us:8.1f} µs/payload")
    print(f"memory (5,000) {memory_us:8.1f} µs/payload   +{memory_us - bare_us:.1f} µs")
    rows = asyncio.run(bench_route())
    print(
        f"== chatwoot route: {ROUNDS} rounds of {max(1, TOTAL // ROUNDS)} customer messages per row, {CONCURRENCY}"
        " concurrent; median round [min–max] =="
    )
    for row in rows:
        results = [res for res, _ in row.results]
        print(
            f"{row.label:<28} {_spread([res.rate for res in results], ',.0f')} req/s"
            f"   p99 {_spread([res.percentile(99) for res in results], '.2f')} ms"
            f"   server CPU {_spread([cpu for _, cpu in row.results], '.3f')} ms/event"
            f"   errors {sum(res.errors for res in results)}"
        )
    by = {(row.target, row.route): row for row in rows}
    for target in dict.fromkeys(row.target for row in rows):
        events, chatwoot = by[(target, "/v1/events")], by[(target, "/v1/chatwoot")]
        rates = [c.rate / e.rate for (c, _), (e, _) in zip(chatwoot.results, events.results)]
        print(f"{target}: /v1/chatwoot's throughput / /v1/events' {_spread(rates, '.2f')}")
    if BASELINE:
        for _, route, _ in ROUTES:
            this, base = by[("this", route)], by[("baseline", route)]
            pairs = list(zip(this.results, base.results))
            print(
                f"this / baseline, {route}: throughput {_spread([t.rate / b.rate for (t, _), (b, _) in pairs], '.2f')},"
                f" p99 {_spread([t.percentile(99) / b.percentile(99) for (t, _), (b, _) in pairs], '.2f')},"
                f" CPU per event {_spread([tc / bc for (_, tc), (_, bc) in pairs], '.2f')}"
            )


if __name__ == "__main__":
    main()
