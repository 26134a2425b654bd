"""Live panels under load: 200 SSE panels connected while the webhook takes 1,000 events/s.

Measures, against the real service (a subprocess):
- the webhook's own throughput (unpaced, 64 concurrent POSTs) with no panels and with the panels connected;
- at an offered 1,000 events/s (paced), the POST latency without and with panels, and the delivery latency
  of each event to every panel that should see it (POST sent → SSE event read, both on CLOCK_MONOTONIC).

The panels run in a second process (an aiohttp client reading 200 streams), so that reading them does not
slow the load generator. Run: `python -m bench.bench_panel` (BENCH_PANEL_SECONDS, BENCH_PANELS,
BENCH_PANEL_BATCH to change the run).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.load import LoadResult, post_load
from tests.service import ROOT, Service

PANELS = int(os.environ.get("BENCH_PANELS", "200"))
AGENTS = 50  # 200 panels / 50 agents: each agent's conversations go to 4 panels (tabs, a supervisor's wall…)
RATE = int(os.environ.get("BENCH_PANEL_RATE", "1000"))  # events per second offered
SECONDS = float(os.environ.get("BENCH_PANEL_SECONDS", "10"))
BATCH = int(os.environ.get("BENCH_PANEL_BATCH", "1"))  # events per POST
UNPACED = int(os.environ.get("BENCH_PANEL_UNPACED", "10000"))
CONCURRENCY = 64
PACED_WORKERS = 256  # enough in flight to offer the rate even when a POST takes a few hundred ms
ACTIVE = 600  # conversations open at once; each gets 6 events, then a new one takes its place
CONVERSATION_EVENT = re.compile(rb'event: conversation\r\ndata: [^\r]*?"event_id":"([^"]+)"')


def event(i: int, prefix: str) -> dict[str, Any]:
    """Event `i`: customer and agent turns alternating in rolling conversations of six events."""
    slot, generation = i % ACTIVE, i // (ACTIVE * 6)
    conversation = f"{prefix}-{generation}-{slot}"
    base = {
        "id": f"{prefix}-{i}",
        "type": "message",
        "ts": 1_795_140_000_000 + i,
        "shop": "s1",
        "conversation": conversation,
        "customer": f"u{slot}",
        "agent": f"a{slot % AGENTS}",
    }
    if (i // ACTIVE) % 2 == 0:
        texts = ("亲，这个什么时候发货呀？", "太贵了能便宜点吗", "可以开发票吗")
        return {**base, "sender": "customer", "text": texts[(i // (2 * ACTIVE)) % 3]}
    return {**base, "sender": "agent", "text": "亲，今天下午四点前付款当天发出哦"}


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


# ---- the panels' process -------------------------------------------------------------------------


async def _panels(url: str, count: int) -> None:
    """Connect `count` panels, print "ready", record (event id, receipt time) until stdin closes."""
    received: list[tuple[str, float]] = []
    snapshots = 0
    ready = asyncio.Event()

    async def panel(session: aiohttp.ClientSession, index: int) -> None:
        # Whole chunks, not lines: the reader must cost far less than the server it measures.
        nonlocal snapshots
        async with session.get(f"{url}/v1/stream", params={"agent": f"a{index % AGENTS}"}) as resp:
            assert resp.status == 200, resp.status
            tail = b""
            async for chunk in resp.content.iter_any():
                now = time.monotonic()
                buffer = tail + chunk
                end = buffer.rfind(b"\r\n\r\n") + 4
                frames, tail = (buffer[:end], buffer[end:]) if end >= 4 else (b"", buffer)
                if not frames:
                    continue
                received.extend((m.group(1).decode(), now) for m in CONVERSATION_EVENT.finditer(frames))
                found = frames.count(b"event: snapshot\r\n")
                if found:
                    snapshots += found
                    if snapshots >= count:
                        ready.set()

    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tasks = [asyncio.create_task(panel(session, i)) for i in range(count)]
        await ready.wait()
        connected = snapshots
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # the parent closes stdin
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    json.dump({"received": received, "snapshots": snapshots, "connected": connected}, sys.stdout)
    sys.stdout.flush()


# ---- the load ------------------------------------------------------------------------------------


Times = dict[str, tuple[float, float]]


async def paced(url: str, prefix: str, *, rate: float, seconds: float, batch: int) -> tuple[LoadResult, Times]:
    """POST `rate` events/s for `seconds` (in batches of `batch`); each event's (sent, acknowledged) times."""
    posts = int(rate * seconds / batch)
    sent: dict[str, tuple[float, float]] = {}
    latencies: list[float] = []
    errors = 0
    counter = iter(range(posts))
    start = time.monotonic()

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        for n in counter:
            delay = start + n * batch / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            events = [event(n * batch + k, prefix) for k in range(batch)]
            body = json.dumps(events[0] if batch == 1 else events, ensure_ascii=False).encode()
            t0 = time.monotonic()
            try:
                async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as resp:
                    await resp.read()
                    errors += resp.status != 200
            except aiohttp.ClientError:
                errors += 1
            t1 = time.monotonic()
            for e in events:
                sent[e["id"]] = (t0, t1)
            latencies.append((t1 - t0) * 1000)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=PACED_WORKERS)) as session:
        await asyncio.gather(*(worker(session) for _ in range(PACED_WORKERS)))
    return LoadResult(posts * batch, errors, time.monotonic() - start, latencies), sent


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Measured:
    """A load phase's result with the service's CPU time per event."""

    def __init__(self, result: LoadResult, cpu_s: float) -> None:
        self.result = result
        self.cpu_ms_per_event = cpu_s * 1000 / max(1, result.requests)


async def measure(pid: int, phase: Any) -> Measured:
    before = cpu_seconds(pid)
    result = await phase
    outcome = result[0] if isinstance(result, tuple) else result
    return Measured(outcome, cpu_seconds(pid) - before)


def _line(label: str, m: Measured, batch: int = 1) -> str:
    result = m.result
    posts = f" (POSTs of {batch})" if batch > 1 else ""
    return (
        f"{label:<34} {result.rate:>6,.0f} events/s{posts}  POST p50 {result.percentile(50):6.1f} ms  "
        f"p99 {result.percentile(99):6.1f} ms  service CPU {m.cpu_ms_per_event:.2f} ms/event  "
        f"errors {result.errors}"
    )


async def _run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        env = {
            "ASSISTANT_WEBHOOK_SECRET": "",
            "ASSISTANT_AGENT_TOKEN": "",
            "ASSISTANT_SUPERVISOR_TOKEN": "",
            "ASSISTANT_ADMIN_TOKEN": "",
        }
        service = await Service(ROOT / "config.toml", db, env=env).start()
        webhook = f"{service.url}/v1/events"
        try:
            pid = service.proc.pid if service.proc else 0
            await post_load(webhook, lambda i: event(i, "warm"), total=2000, concurrency=CONCURRENCY)
            bare_max = await measure(
                pid, post_load(webhook, lambda i: event(i, "max0"), total=UNPACED, concurrency=CONCURRENCY)
            )
            bare_paced = await measure(pid, paced(webhook, "paced0", rate=RATE, seconds=SECONDS, batch=BATCH))

            panels = subprocess.Popen(
                [sys.executable, "-m", "bench.bench_panel", "--panels", service.url, str(PANELS)],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert panels.stdout is not None and panels.stdin is not None
            line = await asyncio.to_thread(panels.stdout.readline)
            if line.strip() != "ready":
                raise RuntimeError(f"panels did not connect: {line!r}")
            before = cpu_seconds(pid)
            result, sent = await paced(webhook, "paced200", rate=RATE, seconds=SECONDS, batch=BATCH)
            live_paced = Measured(result, cpu_seconds(pid) - before)
            await asyncio.sleep(2)  # let the last deliveries arrive
            live_max = await measure(
                pid, post_load(webhook, lambda i: event(i, "max200"), total=UNPACED, concurrency=CONCURRENCY)
            )
            panels.stdin.close()
            report = json.loads(await asyncio.to_thread(panels.stdout.read))
            panels.wait(30)
        finally:
            service.terminate()
        with sqlite3.connect(db) as conn:
            logged = conn.execute("SELECT count(*) FROM events").fetchone()[0]

    delays = [(t - sent[eid][0]) * 1000 for eid, t in report["received"] if eid in sent]
    after_ack = [(t - sent[eid][1]) * 1000 for eid, t in report["received"] if eid in sent]
    panels_per_agent = PANELS / AGENTS
    expected = int(len(sent) * panels_per_agent)
    print(
        f"== panels: {PANELS} SSE panels ({AGENTS} agents × {panels_per_agent:g}), webhook offered {RATE:,} "
        f"events/s for {SECONDS:g} s, {ACTIVE} live conversations; service in a subprocess =="
    )
    print(_line("webhook max, no panels", bare_max))
    print(_line(f"webhook max, {PANELS} panels connected", live_max))
    print(f"{'ratio with/without panels':<34} {live_max.result.rate / bare_max.result.rate:>6.2f}")
    print(_line(f"offered {RATE}/s, no panels", bare_paced, BATCH))
    print(_line(f"offered {RATE}/s, {PANELS} panels", live_paced, BATCH))
    print(
        f"delivery POST sent → panel read: p50 {percentile(delays, 50):.1f} ms   p99 {percentile(delays, 99):.1f} ms"
        f"   max {max(delays, default=float('nan')):.1f} ms   mean {statistics.fmean(delays) if delays else 0:.1f} ms"
    )
    print(
        f"delivery POST answered → panel read: p50 {percentile(after_ack, 50):.1f} ms   "
        f"p99 {percentile(after_ack, 99):.1f} ms   (negative: the panel had it before the POST's answer)"
    )
    print(
        f"deliveries {len(delays):,}/{expected:,} expected ({report['snapshots'] - report['connected']} "
        f"resync snapshots)   events logged {logged:,}"
    )


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--panels":
        asyncio.run(_panels(sys.argv[2], int(sys.argv[3])))
        return
    asyncio.run(_run())


if __name__ == "__main__":
    main()
