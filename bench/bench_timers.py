"""Idle timers at scale: memory of 100,000 pending timers, and firing delay while webhooks keep coming.

    python -m bench.bench_timers [--timers 100000] [--fire 3000] [--rate 300] [--traffic 600]

1. In process: 100,000 agent messages go through the real ingest path (log + listener + arm) and
   the resident memory before/after is compared; the timer structures are also sized directly.
2. The real service (subprocess) starts on a database holding 100,000 armed timers (due in an
   hour) and on an empty one; the difference in resident memory is what the timers cost.
   Then, with `idle_seconds = 2`, `--fire` agent messages arm short timers at `--rate` per second
   while customer messages pour in at `--traffic` per second; each follow-up is sent through
   webhook_out to a local receiver. Firing delay = when the service fired it − when it was due.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sqlite3
import sys
import tempfile
import time
import timeit
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assistant.bus import Bus
from assistant.config import load_config
from assistant.events import parse_event
from assistant.followups import store as followup_store
from assistant.followups.service import FollowupService
from assistant.followups.store import TimerRow
from assistant.followups.timers import Timer, TimerQueue
from assistant.ingest import Ingestor
from assistant.plugins import Plugins
from assistant.writer import Writer
from bench.load import post_load
from tests.followup_harness import Receiver
from tests.service import ROOT, Service

LIMIT_MB = 150
LIMIT_P99_S = 1.0


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def agent_message(i: int, prefix: str, ts: int | None = None) -> dict[str, Any]:
    return {
        "id": f"{prefix}-{i}", "type": "message", "ts": ts or int(time.time() * 1000), "shop": "s1",
        "conversation": f"{prefix}-conv-{i}", "customer": f"u{i}", "sender": "agent", "agent": f"a{i % 20}",
        "text": "亲，这款今天下单明天就发货哦",
    }  # fmt: skip


def customer_message(i: int) -> dict[str, Any]:
    return {
        "id": f"traffic-{i}", "type": "message", "ts": int(time.time() * 1000), "shop": "s1",
        "conversation": f"busy-{i % 2000}", "customer": f"b{i % 2000}", "sender": "customer",
        "text": "亲，这个什么时候发货呀？",
    }  # fmt: skip


# ---- 1. in process ---------------------------------------------------------------------------------


def structure_bytes(queue: TimerQueue) -> int:
    """Bytes held by the queue: dict, heap, Timer objects, keys and the key strings."""
    total = sys.getsizeof(queue._timers) + sys.getsizeof(queue._heap)
    for key, timer in queue.items():
        total += sys.getsizeof(key) + sys.getsizeof(key[1]) + sys.getsizeof(timer)
        total += sum(sys.getsizeof(getattr(timer, a)) for a in ("due_ms", "armed_seq", "armed_ms"))
    total += sum(sys.getsizeof(entry) for entry in queue._heap)
    return total


async def in_process(n: int, tmp: Path) -> dict[str, float]:
    config = load_config(ROOT / "config.toml", env={}, overrides={"followups": {"idle_seconds": 3600}})
    writer = Writer(tmp / "inproc.db")
    writer.start()
    ingestor = Ingestor(writer)
    plugins = Plugins(config)
    service = FollowupService(config, writer, ingestor, Bus(), plugins)
    ingestor.listeners.append(plugins.on_written)
    await service.start()
    gc.collect()
    before = rss_mb()
    started = time.perf_counter()
    for start in range(0, n, 500):
        events = [parse_event(agent_message(i, "mem"), max_text_chars=5000) for i in range(start, min(n, start + 500))]
        await ingestor.ingest(events)
    await service.timers.flush()
    elapsed = time.perf_counter() - started
    gc.collect()
    after = rss_mb()
    assert len(service.timers.queue) == n
    sized = structure_bytes(service.timers.queue)
    await service.stop()
    reload_started = time.perf_counter()
    restarted = FollowupService(config, writer, ingestor, Bus(), Plugins(config))
    await restarted.start()
    reload_s = time.perf_counter() - reload_started
    assert len(restarted.timers.queue) == n
    await restarted.stop()
    await writer.close()
    return {"rss_delta_mb": after - before, "sized_mb": sized / 2**20, "ingest_s": elapsed, "reload_s": reload_s}


def reset_cost_us() -> float:
    """Microseconds to re-arm one of 100,000 armed timers (the agent answered again)."""
    queue = TimerQueue()
    for i in range(100_000):
        queue.set(("s", f"c{i}"), Timer(i, i, 0, 0, None))
    seq = iter(range(10**9))

    def rearm() -> None:
        i = next(seq)
        queue.set(("s", f"c{i % 100_000}"), Timer(10**6 + i, 10**6 + i, 0, 0, None))

    runs = 200_000
    return timeit.timeit(rearm, number=runs) / runs * 1e6


# ---- 2. the real service ------------------------------------------------------------------------------


def preload(db: Path, n: int) -> None:
    """Create a database holding `n` armed timers due in an hour (run outside the event loop)."""

    async def create() -> None:
        writer = Writer(db)
        due = int(time.time() * 1000) + 3600_000
        rows = [TimerRow("s1", f"idle-{i}", i + 1, due - 300_000, due + i, 0, f"a{i % 20}") for i in range(n)]
        await writer.submit(lambda conn: followup_store.save_timers(conn, rows, due))
        await writer.close()

    asyncio.run(create())


def service_config(tmp: Path, url: str) -> Path:
    path = tmp / "config.toml"
    path.write_text(
        f'[phrases]\npath = "{ROOT / "phrases"}"\n\n[followups]\nidle_seconds = 2\nmode = "send"\n\n'
        f'[hooks]\nenabled = ["webhook_out"]\n\n[hooks.webhook_out]\nurl = "{url}"\n',
        encoding="utf-8",
    )
    return path


def settled_rss(service: Service, wait_s: float = 2.0) -> float:
    time.sleep(wait_s)
    assert service.proc is not None
    return rss_mb(service.proc.pid)


async def real_service(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    receiver = await Receiver().start()
    config = service_config(tmp, receiver.url)
    env = {"ASSISTANT_WEBHOOK_SECRET": "", "ASSISTANT_OUTBOUND_SECRET": "bench"}
    try:
        empty = await Service(config, tmp / "empty.db", env=env).start()
        try:
            base_rss = settled_rss(empty)
        finally:
            empty.terminate()
        db = tmp / "loaded.db"
        await asyncio.to_thread(preload, db, args.timers)
        started = time.perf_counter()
        service = await Service(config, db, env=env).start(timeout=120)
        start_s = time.perf_counter() - started
        try:
            loaded_rss = settled_rss(service)
            fire = post_load(f"{service.url}/v1/events", lambda i: agent_message(i, "fire"), total=args.fire,
                             concurrency=16, rate=args.rate)  # fmt: skip
            traffic_total = int(args.traffic * (args.fire / args.rate + 4))
            noise = post_load(f"{service.url}/v1/events", customer_message, total=traffic_total, concurrency=32,
                              rate=args.traffic)  # fmt: skip
            fired, busy = await asyncio.gather(fire, noise)
            deadline = time.monotonic() + 20
            while len(receiver.requests) < args.fire and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            final_rss = rss_mb(service.proc.pid) if service.proc else float("nan")
        finally:
            service.terminate()
        with sqlite3.connect(db) as conn:
            rows = conn.execute(
                "SELECT id, due_ms, fired_ms, state FROM followups WHERE conversation LIKE 'fire-%'"
            ).fetchall()
            pending_timers = conn.execute("SELECT count(*) FROM timers WHERE state = 'armed'").fetchone()[0]
        due_by_id = {r[0]: r[1] for r in rows}
        arrivals = [
            r["at"] * 1000 - due_by_id[r["json"]["idempotency_key"]]
            for r in receiver.requests
            if r["json"]["idempotency_key"] in due_by_id
        ]
        return {
            "base_rss": base_rss, "loaded_rss": loaded_rss, "final_rss": final_rss, "start_s": start_s,
            "fire_delays_ms": [r[2] - r[1] for r in rows], "states": [r[3] for r in rows],
            "delivery_delays_ms": arrivals, "fire_load": fired, "traffic_load": busy,
            "pending_timers": pending_timers, "deliveries": len(receiver.requests),
        }  # fmt: skip
    finally:
        await receiver.close()


# ---- report ---------------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> int:
    ok = True
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        print(f"idle timers — {args.timers:,} pending; firing {args.fire:,} at {args.rate:g}/s with "
              f"{args.traffic:g} customer messages/s alongside (python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")  # fmt: skip
        mem = await in_process(args.timers, tmp)
        per_timer = mem["rss_delta_mb"] * 2**20 / args.timers
        print(f"  in process: {args.timers:,} armed through ingest in {mem['ingest_s']:.1f} s;"
              f" RSS +{mem['rss_delta_mb']:.1f} MB ({per_timer:.0f} B/timer); timer structures {mem['sized_mb']:.1f} MB;"
              f" reload from SQLite {mem['reload_s']:.2f} s")  # fmt: skip
        print(f"  re-arm one of 100,000 timers: {reset_cost_us():.2f} µs")
        real = await real_service(args, tmp)
        extra = real["loaded_rss"] - real["base_rss"]
        print(f"  service RSS: {real['base_rss']:.1f} MB empty, {real['loaded_rss']:.1f} MB with {args.timers:,} timers"
              f" (+{extra:.1f} MB; started in {real['start_s']:.1f} s), {real['final_rss']:.1f} MB after the run")  # fmt: skip
        delays = real["fire_delays_ms"]
        arrivals = real["delivery_delays_ms"]
        print(f"  firing delay (fired − due): n={len(delays):,}  p50 {percentile(delays, 50):.0f} ms"
              f"  p99 {percentile(delays, 99):.0f} ms  max {max(delays, default=float('nan')):.0f} ms")  # fmt: skip
        print(f"  delivery delay (received by the webhook − due): n={len(arrivals):,}  p50 {percentile(arrivals, 50):.0f} ms"
              f"  p99 {percentile(arrivals, 99):.0f} ms  max {max(arrivals, default=float('nan')):.0f} ms")  # fmt: skip
        states = {s: real["states"].count(s) for s in sorted(set(real["states"]))}
        print(f"  follow-ups: {states}; deliveries received {real['deliveries']:,}; "
              f"timers still armed {real['pending_timers']:,}")  # fmt: skip
        print("  " + real["fire_load"].line("agent messages (arming)"))
        print("  " + real["traffic_load"].line("customer messages (traffic)"))
        if extra > LIMIT_MB or mem["rss_delta_mb"] > LIMIT_MB:
            print(f"  FAIL: more than {LIMIT_MB} MB for {args.timers:,} timers")
            ok = False
        if len(delays) < args.fire or percentile(delays, 99) > LIMIT_P99_S * 1000:
            print(f"  FAIL: firing delay p99 over {LIMIT_P99_S:g} s or follow-ups missing")
            ok = False
        if ok:
            print(f"  ok: < {LIMIT_MB} MB extra memory, firing delay p99 < {LIMIT_P99_S:g} s")
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_timers", description=__doc__.split("\n")[0])
    parser.add_argument("--timers", type=int, default=100_000, help="pending timers (default: 100000)")
    parser.add_argument("--fire", type=int, default=3000, help="short timers fired under load (default: 3000)")
    parser.add_argument("--rate", type=float, default=200, help="agent messages per second (default: 200)")
    parser.add_argument("--traffic", type=float, default=150, help="customer messages per second (default: 150)")
    args = parser.parse_args(sys.argv[1:] if argv is None and __name__ == "__main__" else (argv or []))
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
