"""POST /v1/events with durable logging vs a bare aiohttp handler, in the same run.

    python -m bench.bench_webhook        (BENCH_EVENTS=20000 per row, BENCH_ROUNDS=3)
    BENCH_BASELINE=/path/to/other/checkout python -m bench.bench_webhook   (adds that code's rows, in turn)
    BENCH_MIXES=logging python -m bench.bench_webhook   (only these mixes: logging, distinct, repeated)

Event mixes go to the real service (a subprocess, SQLite WAL + synchronous=FULL, group commit):
`logging` (agent and auto messages, orders: what the foundation does for every event) and the product mix
(half of the events are customer messages, each also matched, typed and answered with suggestions) twice:
with texts never seen before (`distinct`: every customer message differs, so no cache helps) and with the
labeled set's texts in turn (`repeated`: buyers ask 在吗 and 发什么快递 all day).

The machine is shared, so the rows take turns in short rounds (bare, logging, distinct, repeated, again),
each ratio is taken within its round, and the median round is printed with the spread of all rounds.
Bodies are encoded before each timed row, so the client spends its time sending, not encoding; its own CPU
is printed too, since on two cores a Python client bounds the bare row (the bare handler needs ~0.05 ms/event).
The server's CPU is split by part (event loop, other threads, worker processes), each with the share of the round
it spent ready to run while no core was free (the kernel's schedstat): where a row's time goes, without a profiler.
Before any row the log is filled with BENCH_PREFILL events (120,000 by default, in batches), so that the rows
measure a log of the size a shop keeps, not a fresh one (see PREFILL).
Targets (issue 20): logging ≥ 0.7× bare, distinct product mix ≥ 0.4× bare, its p99 ≤ 3× bare's p99.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.groups import Counts, describe, minus, read_groups, summed
from bench.load import CpuUse, LoadResult, cpu_use, post_load, wait_ready
from tests.service import ROOT, Service, free_port

TOTAL = int(os.environ.get("BENCH_EVENTS", "20000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
BASELINE = os.environ.get("BENCH_BASELINE", "")  # another checkout of the service: before/after rows in one run
# The mixes measured (by their short names); a comparison of one mix takes a third of the time of all three.
MIXES = [name for name in os.environ.get("BENCH_MIXES", "logging,distinct,repeated").split(",") if name]
CONCURRENCY = 64
START_TIMEOUT_S = 120.0  # a start (library, matching worker) on a machine busy with other work takes more than 20 s
WARMUP = min(2000, TOTAL // 5)  # per row, before the first round
# Events logged before any row is measured. A log kept for `retention_days` is large, and an event costs the
# writer more in a large one: its CPU per event grew from 0.064 ms at 20,000 events to 0.10 ms at 100,000 on
# this machine, then stayed there (the COMMIT's share doubled, the messages' INSERT's grew by half: more index
# pages per group, each conversation's and customer's entries on leaves of their own). 0: a fresh log.
PREFILL = int(os.environ.get("BENCH_PREFILL", "120000"))
PREFILL_BATCH = 200  # events per request (the service takes up to [server] max_batch)
# Real-shaped customer messages (the labeled set), so matching costs what it costs in production.
TEXTS = [
    line.split("\t", 1)[1] for line in (ROOT / "tests/data/intents.tsv").read_text("utf-8").splitlines() if "\t" in line
]
AGENT_TEXT = "亲，今天下午四点前付款当天发出哦"
# Distinct texts: a labeled message about one of these goods, with one of these endings (378 × 16 × 8 forms).
GOODS = [
    "连衣裙", "卫衣", "跑鞋", "面霜", "耳机", "保温杯", "充电宝", "空气炸锅", "口红", "牛仔裤", "台灯", "奶粉",
    "羽绒服", "床单", "电饭煲", "行李箱",
]  # fmt: skip
ENDINGS = ["", "？", "呀", "呢", "～", "!", " 急", "，谢谢"]


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


def distinct_text(n: int) -> str:
    """The n-th customer text of the distinct mix: no two alike for n below 378 × 16 × 8."""
    text = TEXTS[n % len(TEXTS)]
    rest = n // len(TEXTS)
    return f"{GOODS[rest % len(GOODS)]}，{text}{ENDINGS[(rest // len(GOODS)) % len(ENDINGS)]}"


def event(i: int, prefix: str = "bench", text: Callable[[int], str] | None = None) -> dict[str, object]:
    """The product mix: 50% customer messages, 40% agent messages, 10% orders (texts repeated unless `text`)."""
    kind = i % 10
    base = _base(i, prefix)
    if kind < 5:
        said = text(i // 10 * 5 + kind) if text is not None else TEXTS[i % len(TEXTS)]
        return {**base, "type": "message", "sender": "customer", "text": said}
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


async def _prefill(url: str, total: int) -> None:
    """Log `total` events of the logging mix, in batches, on the conversations the rows then write to."""
    batches = [
        json.dumps(
            [logging_event(first + i, "fill") for i in range(min(PREFILL_BATCH, total - first))], ensure_ascii=False
        ).encode()
        for first in range(0, total, PREFILL_BATCH)
    ]
    result = await post_load(url, batches.__getitem__, total=len(batches), concurrency=4)
    if result.errors:
        raise RuntimeError(f"prefilling {url}: {result.errors} of {len(batches)} batches failed")


@dataclass
class Row:
    label: str
    make: Callable[[int], dict[str, object]]  # event number (unique across the run) → event
    target: str  # "bare", "service" or "baseline"
    # Per round: load, the server's CPU over the round (its worker processes included), and the share of a core
    # the client (this process) used.
    results: list[tuple[LoadResult, CpuUse, float]] = field(default_factory=list)
    groups: list[Counts] = field(default_factory=list)  # the writer's groups per round (GET /v1/admin/writer)


def _encoded(make: Callable[[int], dict[str, object]], first: int, n: int) -> list[bytes]:
    return [json.dumps(make(first + i), ensure_ascii=False).encode() for i in range(n)]


async def _measure(
    url: str, pid: int, make: Callable[[int], dict[str, object]], first: int, n: int
) -> tuple[LoadResult, CpuUse, float]:
    bodies = _encoded(make, first, n)
    # The client's own garbage (a prefill's bodies, the last row's latencies) collected now, not in a full
    # collection that pauses every request of the row (it put 38 ms into a bare row's p99).
    gc.collect()
    cpu0, client0 = cpu_use(pid), time.process_time()
    result = await post_load(url, bodies.__getitem__, total=n, concurrency=CONCURRENCY)
    client = (time.process_time() - client0) / result.seconds
    return result, cpu_use(pid) - cpu0, client


def _warming(make: Callable[[int], dict[str, object]], n: int) -> Callable[[int], dict[str, object]]:
    return lambda i: {**make(i), "id": f"warm-{n}-{i}"}


def _ratios(row: Row, base: Row, of: Callable[[LoadResult], float]) -> list[float]:
    return [of(r) / of(b) for (r, *_), (b, *_) in zip(row.results, base.results)]


def _start_baseline(root: Path, db: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Another checkout's service (its own code and config.toml), for a before/after in one run."""
    port = free_port()
    with (db.parent / "baseline.log").open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "assistant", "serve", "--config", str(root / "config.toml"), "--db", str(db)]
            + ["--port", str(port)],
            cwd=root,
            env={**os.environ, "ASSISTANT_WEBHOOK_SECRET": "", "PYTHONPATH": str(root)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    wait_ready(f"http://127.0.0.1:{port}", START_TIMEOUT_S)
    return proc, port


async def _run() -> None:
    per_round = max(1, TOTAL // ROUNDS)
    known: dict[str, tuple[str, Callable[[int], dict[str, object]]]] = {
        "logging": ("durable logging mix", lambda i: logging_event(i, "log")),
        "distinct": ("product, distinct texts", lambda i: event(i, "dist", distinct_text)),
        "repeated": ("product, repeated texts", lambda i: event(i, "rep")),
    }
    unknown = [name for name in MIXES if name not in known]
    if unknown:
        raise SystemExit(f"BENCH_MIXES: unknown {', '.join(unknown)} (known: {', '.join(known)})")
    mixes = [known[name] for name in MIXES]
    rows = [Row("bare aiohttp handler", lambda i: event(i, "bare"), "bare")]
    for label, make in mixes:
        rows.append(Row(label, make, "service"))
        if BASELINE:
            rows.append(Row("  the same, baseline", make, "baseline"))
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        bare = subprocess.Popen([sys.executable, "-m", "bench.bare_server", str(port)], cwd=ROOT)
        db = Path(tmp) / "bench.db"
        service = await Service(ROOT / "config.toml", db, env={"ASSISTANT_WEBHOOK_SECRET": ""}).start(
            timeout=START_TIMEOUT_S
        )
        baseline, baseline_port = _start_baseline(Path(BASELINE), Path(tmp) / "baseline.db") if BASELINE else (None, 0)
        try:
            assert service.proc is not None
            wait_ready(f"http://127.0.0.1:{port}", START_TIMEOUT_S)
            targets = {
                "bare": (f"http://127.0.0.1:{port}/v1/events", bare.pid),
                "service": (f"{service.url}/v1/events", service.proc.pid),
            }
            if baseline is not None:
                targets["baseline"] = (f"http://127.0.0.1:{baseline_port}/v1/events", baseline.pid)
            for target in ("service", "baseline"):
                if PREFILL and target in targets:
                    await _prefill(targets[target][0], PREFILL)
            os.sync()  # the prefill's pages reach the disk now, not by the kernel's writeback during a row
            # Warm every server; the distinct mix warms on texts it never sends again (numbers past the run's).
            for n, row in enumerate(rows):
                await _measure(*targets[row.target], _warming(row.make, n), TOTAL, WARMUP)
            for r in range(ROUNDS):
                # A mix's service and baseline rows take turns going first, so neither always follows bare.
                order = rows if r % 2 == 0 else [rows[0]] + [x for pair in zip(rows[2::2], rows[1::2]) for x in pair]
                for row in order if BASELINE else rows:
                    url, pid = targets[row.target]
                    before = read_groups(url.removesuffix("/v1/events")) if row.target != "bare" else None
                    row.results.append(await _measure(url, pid, row.make, r * per_round, per_round))
                    after = read_groups(url.removesuffix("/v1/events")) if before is not None else None
                    if before is not None and after is not None:
                        row.groups.append(minus(after, before))
        finally:
            service.terminate()
            if baseline is not None:
                baseline.terminate()
                baseline.wait()
            bare.terminate()
            bare.wait()
        with sqlite3.connect(db) as conn:
            logged = conn.execute(
                "SELECT count(*) FROM events WHERE id NOT LIKE 'warm-%' AND id NOT LIKE 'fill-%'"
            ).fetchone()[0]
    base = rows[0]
    print(
        f"== webhook: {CONCURRENCY} concurrent single-event POSTs, {ROUNDS} rounds of {per_round} per row"
        f" (client in this process), on a log of {PREFILL:,} events; median round [min–max] =="
    )
    for n, row in enumerate(rows):
        rate = [res.rate for res, _, _ in row.results]
        cpu = [use.total / res.requests * 1000 for res, use, _ in row.results]
        line = (
            f"{row.label:<26} {_mid(rate):>7,.0f} req/s [{min(rate):,.0f}–{max(rate):,.0f}]"
            f"   p50 {_mid([res.percentile(50) for res, _, _ in row.results]):6.2f} ms"
            f"   p99 {_mid([res.percentile(99) for res, _, _ in row.results]):6.2f} ms"
            f"   server CPU {_mid(cpu):.3f} ms/event   client {_mid([c for *_, c in row.results]):.0%} of a core"
            f"   errors {sum(res.errors for res, _, _ in row.results)}"
        )
        line += "\n" + _parts(row)
        if row.groups:
            line += f"\n{'':<26} " + describe(summed(row.groups), sum(res.requests for res, _, _ in row.results))
        if row is not base:
            rates = _ratios(row, base, lambda res: res.rate)
            p99s = _ratios(row, base, lambda res: res.percentile(99))
            line += (
                f"\n{'':<26} ratio to bare: rate {_mid(rates):.2f} [{min(rates):.2f}–{max(rates):.2f}],"
                f" p99 {_mid(p99s):.2f}× [{min(p99s):.2f}–{max(p99s):.2f}]"
            )
        if row.target == "baseline":
            ours = rows[n - 1]
            cpus = [c1.total / c2.total for (_, c1, _), (_, c2, _) in zip(ours.results, row.results)]
            line += f"\n{'':<26} service / baseline: CPU per event {_mid(cpus):.2f} [{min(cpus):.2f}–{max(cpus):.2f}]"
        print(line)
    print(f"events logged: {logged}/{len(mixes) * ROUNDS * per_round}")
    print(
        "(a client near 100% of a core on the bare row is the limit there, not the handler: the ratios are then"
        " kinder to the service than a faster client would be. By part: the event loop is the main thread, other"
        " threads are mostly the writer, workers the matching processes; waited for a core: the time a part was"
        " ready to run but no core was free, as a share of the round)"
    )


def _parts(row: Row) -> str:
    """The server's CPU per event by part, and the share of the round each part spent waiting for a core."""
    names = ("event loop", "other threads", "workers")

    def per_event(part: int) -> float:
        return _mid([use.parts[part] / res.requests * 1000 for res, use, _ in row.results])

    line = f"{'':<26} CPU per event: " + ", ".join(f"{name} {per_event(i):.3f} ms" for i, name in enumerate(names))
    if all(use.waited is not None for _, use, _ in row.results):
        waits = [
            _mid([use.waited[i] / res.seconds for res, use, _ in row.results if use.waited is not None])
            for i in range(3)
        ]
        line += "; waited for a core: " + ", ".join(f"{name} {wait:.0%}" for name, wait in zip(names, waits))
    return line


def _mid(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    asyncio.run(_run())


if __name__ == "__main__":
    main()
