"""KPI report speed and memory on a simulated day of ~1,000,000 messages and ~50,000 orders.

    python -m bench.bench_report [--customers 100000] [--agents 40] [--db PATH] [--runs 3]

Simulates the day (skipped when --db already holds it), then times the report — the SQL for every
agent, the team row, and rendering JSON and HTML — in a fresh process, so that its peak RSS is the
report's own. Prints rows/s (the day's messages and orders over the report's wall time), CPU time and
peak memory, for the parallel path the CLI and the web handler use and for the serial one.
Target: ≤ 5 s wall for the day, memory bounded (it does not grow with the day: SQL aggregates).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

DAY = date(2026, 11, 20)
SHOP = "demo"
TARGET_S = 5.0


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--customers", type=int, default=91_000, help="customers of the simulated day")
    parser.add_argument("--agents", type=int, default=40, help="agents of the simulated day")
    parser.add_argument("--db", type=Path, help="keep the simulated database here (reused when it has the day)")
    parser.add_argument("--runs", type=int, default=3, help="timed reports per mode (the best and the median print)")
    parser.add_argument("--measure", choices=("parallel", "serial"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv if argv is not None else [])
    if args.measure:
        _measure(args.db, args.measure == "parallel")
        return
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        db = args.db or Path(tmp) / "bench.db"
        _simulate(db, args.agents, args.customers)
        print(f"report of {SHOP} {DAY} (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
        for mode in ("parallel", "serial"):
            runs = [_run(db, mode) for _ in range(max(1, args.runs))]
            _print(mode, runs)


def _simulate(db: Path, agents: int, customers: int) -> None:
    from assistant.kpi.simulate import AlreadySimulated, simulate

    try:
        started = time.perf_counter()
        result = simulate(db, DAY, agents, customers, seed=0, shop=SHOP, progress=sys.stderr.isatty())
    except AlreadySimulated as exc:  # by its type: the message is in the interface's language
        print(f"reusing {db} ({exc})")
        return
    elapsed = time.perf_counter() - started
    print(
        f"simulated {result.messages:,} messages, {result.orders:,} orders ({result.payments:,} paid),"
        f" {result.events:,} events for {customers:,} customers and {agents} agents in {elapsed:.1f} s"
        f" ({result.events / elapsed:,.0f} events/s)"
    )


def _run(db: Path, mode: str) -> dict[str, float]:
    """One timed report in a fresh interpreter: its peak RSS is the report's."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.bench_report", "--measure", mode, "--db", str(db)],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _measure(db: Path, parallel: bool) -> None:
    from assistant import store
    from assistant.config import load_config
    from assistant.kpi import metrics, report

    config = load_config(None, env={})
    start, end, _ = metrics.credit_window(DAY, config.tz)
    conn = store.connect(db, readonly=True)
    messages = conn.execute(
        "SELECT count(*) FROM messages WHERE shop = ? AND ts_ms >= ? AND ts_ms < ?", (SHOP, start, end)
    ).fetchone()[0]
    orders = conn.execute(
        "SELECT count(*) FROM orders WHERE shop = ? AND created_ms >= ? AND created_ms < ?", (SHOP, start, end)
    ).fetchone()[0]
    conn.close()
    base_rss = _peak_rss_mb()
    wall, cpu = time.perf_counter(), time.process_time()
    reports = metrics.build_reports(lambda: store.connect(db, readonly=True), config, DAY, shop=SHOP, parallel=parallel)
    sql_s = time.perf_counter() - wall
    page = report.render(reports, "html", config=config)
    doc = report.render(reports, "json", config=config)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        json.dumps(
            {
                "wall_s": wall,
                "sql_s": sql_s,
                "cpu_s": cpu,
                "messages": messages,
                "orders": orders,
                "agents": len(reports[0].agents) if reports else 0,
                "peak_rss_mb": _peak_rss_mb(),
                "base_rss_mb": base_rss,
                "html_kb": len(page.encode()) / 1024,
                "json_kb": len(doc.encode()) / 1024,
            }
        )
    )


def _peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM: unlike ru_maxrss it does not inherit the parent's peak)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _print(mode: str, runs: list[dict[str, float]]) -> None:
    walls = sorted(r["wall_s"] for r in runs)
    best, median = walls[0], walls[len(walls) // 2]
    r = min(runs, key=lambda x: x["wall_s"])
    rows = r["messages"] + r["orders"]
    verdict = "OK" if median <= TARGET_S else "over target"
    print(
        f"  {mode:8s} best {best:5.2f} s, median {median:5.2f} s ({verdict}: ≤ {TARGET_S:.0f} s)"
        f" · SQL {r['sql_s']:.2f} s · CPU {r['cpu_s']:.2f} s · {rows / best:,.0f} rows/s"
        f" ({r['messages']:,} messages + {r['orders']:,} orders, {r['agents']:.0f} agents)"
        f" · peak RSS {r['peak_rss_mb']:.0f} MB (interpreter and imports {r['base_rss_mb']:.0f} MB)"
        f" · HTML {r['html_kb']:.0f} KiB, JSON {r['json_kb']:.0f} KiB"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
