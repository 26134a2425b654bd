"""The reads of one shop's day that group its events by conversation, on a log of many days: with and without statistics.

    python -m bench.bench_dayreads [--days 60] [--shops 2] [--per-day 2000] [--runs 4]
    BENCH_BASELINE=/path/to/other/checkout python -m bench.bench_dayreads

Fills a SQLite log of `--days` days of `--shops` shops (`--per-day` events a shop-day, conversations of 20 events),
then times, for one shop's day in the middle, the daily log's listing of the day's conversations
(`conversation_keys`), the conversations a day rebuilt from the archive looks back for (the day and the next,
`daylog/source._live_conversations`) and the archive's notes of a shop-day (`_DaySource.note`): first on the log as
the service leaves it (no statistics: it never runs ANALYZE), then on a copy after ANALYZE. Each read's plan is
printed. With BENCH_BASELINE, each code runs in a process of its own, in turn (each going first in turn), and the
medians of each read's best time per process are printed with their ratio and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

from assistant import store, upgrade

ROOT = Path(__file__).resolve().parent.parent
BASELINE = os.environ.get("BENCH_BASELINE", "")
TZ = ZoneInfo("Asia/Shanghai")
FIRST = date(2026, 9, 1)
READS = ("listing", "looked back", "archive notes")

# Run in each code's own process: every read of one shop's day, `repeat` times; the best time of each, in ms.
_PROBE = """
import json, sys, time
from datetime import date
from pathlib import Path
from assistant import store
from assistant.clock import day_bounds
from assistant.daylog import archive, source
from assistant.daylog.query import DayQuery, Rules, conversation_keys
from zoneinfo import ZoneInfo
path, day, shop, repeat = Path(sys.argv[1]), date.fromisoformat(sys.argv[2]), sys.argv[3], int(sys.argv[4])
rules = Rules(ZoneInfo("Asia/Shanghai"))
start_ms, end_ms = day_bounds(day, rules.tz)
conn = store.connect(path)
archive._prepare_temp(conn)
def listing():
    return len(list(conversation_keys(conn, DayQuery(day, shop=shop), rules)))
def looked_back():
    return len(source._live_conversations(path, shop, source._Window(start_ms, end_ms + 86_400_000)))
def archive_notes():
    archive._clear_temp(conn)
    archive._DaySource(conn, shop, start_ms, end_ms).note()
    return conn.execute("SELECT count(*) FROM temp.archive_conversations").fetchone()[0]
best, counts = {}, {}
for name, read in (("listing", listing), ("looked back", looked_back), ("archive notes", archive_notes)):
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        counts[name] = read()
        times.append((time.perf_counter() - started) * 1000)
    best[name] = min(times)
print(json.dumps({"best_ms": best, "counts": counts}))
"""


def fill(db_path: Path, days: int, shops: int, per_day: int, *, seed: int = 1) -> int:
    """`days` days from FIRST, each shop's `per_day` events (messages, customer and agent in turn); returns the count."""
    rng = random.Random(seed)
    conn = store.connect(db_path)
    conn.execute("PRAGMA synchronous=OFF")
    upgrade.migrate(conn)
    seq, received = 0, store.now_ms()
    for d in range(days):
        day = FIRST + timedelta(days=d)
        start_ms = int(datetime.combine(day, dtime(0), tzinfo=TZ).timestamp() * 1000)
        rows: list[tuple[int, str, str, str, str]] = []
        for s in range(shops):
            shop = f"s{s}"
            for c in range(per_day // 20):
                t = start_ms + rng.randrange(0, 86_400_000 - 3_600_000)
                conversation, customer = f"{shop}-{day:%m%d}-c{c}", f"tb_{rng.randrange(100_000)}"
                for k in range(20):
                    rows.append((t, shop, conversation, customer, "customer" if k % 2 == 0 else "agent"))
                    t += rng.randrange(5_000, 90_000)
        rows.sort()
        events, messages = [], []
        for t, shop, conversation, customer, sender in rows:
            seq += 1
            agent = None if sender == "customer" else "客服01"
            raw = {"id": f"e{seq}", "type": "message", "ts": t, "shop": shop, "conversation": conversation,
                   "customer": customer, "sender": sender, "text": "好的"}  # fmt: skip
            events.append(
                (seq, raw["id"], "message", t, shop, conversation, customer, agent, received, json.dumps(raw))
            )
            messages.append((seq, shop, conversation, customer, sender, agent, "好的", t))
        with store.transaction(conn):
            conn.executemany(
                "INSERT INTO events (seq, id, type, ts_ms, shop, conversation, customer, agent, received_ms, raw)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                events,
            )
            conn.executemany(
                "INSERT INTO messages (seq, shop, conversation, customer, sender, agent, text, ts_ms)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                messages,
            )
    conn.close()
    return seq


def probe(tree: Path, db: Path, day: date, shop: str, repeat: int) -> dict[str, dict[str, float]]:
    """The probe run by `tree`'s code, in a process of its own."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, "-c", _PROBE, str(db), day.isoformat(), shop, str(repeat)]
    out = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, check=True).stdout
    result: dict[str, dict[str, float]] = json.loads(out.strip().splitlines()[-1])
    return result


def plans(db: Path, day: date, shop: str) -> dict[str, list[str]]:
    """This code's statements reading the day's events, each read's plan lines on `events` (traced, then explained)."""
    from assistant.clock import day_bounds
    from assistant.daylog import archive, source
    from assistant.daylog.query import DayQuery, Rules, conversation_keys

    rules = Rules(TZ)
    start_ms, end_ms = day_bounds(day, TZ)
    found: dict[str, list[str]] = {}
    conn = store.connect(db)
    archive._prepare_temp(conn)
    connect = store.connect
    for name in READS:
        seen: list[str] = []
        conn.set_trace_callback(seen.append)
        if name == "listing":
            list(conversation_keys(conn, DayQuery(day, shop=shop), rules))
        elif name == "looked back":

            def traced(location: store.Location, *, into: list[str] = seen, **kwargs: bool) -> sqlite3.Connection:
                opened = connect(location, **kwargs)
                opened.set_trace_callback(into.append)
                return opened

            store.connect = traced  # type: ignore[assignment]  # this process only, restored below
            try:
                source._live_conversations(db, shop, source._Window(start_ms, end_ms + 86_400_000))
            finally:
                store.connect = connect  # type: ignore[assignment]
        else:
            archive._DaySource(conn, shop, start_ms, end_ms).note()
        conn.set_trace_callback(None)
        found[name] = [
            str(row[3])
            for sql in seen
            if "FROM events" in sql and "ts_ms >=" in sql
            for row in conn.execute("EXPLAIN QUERY PLAN " + sql)
            if " events " in f" {row[3]} "
        ]
    conn.close()
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_dayreads", description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--shops", type=int, default=2)
    parser.add_argument("--per-day", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=4, help="processes per code and log, in turn")
    parser.add_argument("--repeat", type=int, default=5, help="each read's repetitions in a process (the best kept)")
    args = parser.parse_args(argv if argv is not None else [])
    workdir = Path(tempfile.mkdtemp(prefix="bench-dayreads-"))
    try:
        bare = workdir / "log.db"
        started = time.perf_counter()
        events = fill(bare, args.days, args.shops, args.per_day)
        analyzed = workdir / "analyzed.db"
        shutil.copy(bare, analyzed)
        conn = sqlite3.connect(analyzed)
        conn.execute("ANALYZE")
        conn.commit()
        conn.close()
        day, shop = FIRST + timedelta(days=args.days // 2), "s0"
        print(
            f"one shop's day ({shop}, {day}) of a log of {events:,} events: {args.days} days, {args.shops} shops,"
            f" {args.per_day:,} events a shop-day (filled in {time.perf_counter() - started:.1f} s)"
        )
        trees = [("this", ROOT)] + ([("baseline", Path(BASELINE).resolve())] if BASELINE else [])
        for label, db in (("no statistics", bare), ("after ANALYZE", analyzed)):
            print(f"  {label}:")
            for name, lines in plans(db, day, shop).items():
                print(f"    plan, {name}: {' | '.join(lines)}")
            times: dict[str, dict[str, list[float]]] = {code: {read: [] for read in READS} for code, _ in trees}
            counts: dict[str, dict[str, float]] = {}
            for turn in range(args.runs):
                for tree_name, tree in trees if turn % 2 == 0 else trees[::-1]:
                    result = probe(tree, db, day, shop, args.repeat)
                    counts[tree_name] = result["counts"]
                    for read in READS:
                        times[tree_name][read].append(result["best_ms"][read])
            for read in READS:
                line = "    " + f"{read:<14}"
                medians = {code: statistics.median(times[code][read]) for code, _ in trees}
                for code, _ in trees:
                    line += f"  {code} {medians[code]:7.2f} ms ({counts[code][read]:.0f} found)"
                if BASELINE:
                    line += f"  this / baseline {medians['this'] / medians['baseline']:.3f}"
                print(line + f"  load {os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
