"""The quality page's recent flagged messages (`GET /qa`, `/v1/qa/recent`) on a big day, SQLite and PostgreSQL.

    python -m bench.bench_qa_recent [--customers 3000] [--agents 20] [--runs 5]
    BENCH_BASELINE=/path/to/other/checkout python -m bench bench_qa_recent   (that code's runs too, alternated)

Simulates the day (bench_report's: about 34,000 messages), flags each message as the shipped rules do (the short
replies among them), spreads its receipt over the last 24 hours, and copies it into a throwaway PostgreSQL cluster.
Then reads the page's flagged messages (`recent_flags`, the last 24 hours, 200 items) in a fresh interpreter per
run, this code and the baseline's taking turns on each store: wall and CPU time, their ratio, and whether both
codes listed the same items (a digest of them).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path

from assistant import store
from assistant.cluster.move import move
from assistant.config import load_config
from assistant.qa.inspector import load_inspector
from bench.bench_report import _simulate
from tests.pgcluster import Cluster

ROOT = Path(__file__).resolve().parent.parent
BASELINE = os.environ.get("BENCH_BASELINE", "")
DAY_MS = 24 * 3600 * 1000

# Run in the checkout's own interpreter path: only what both codes have (store.connect, recent_flags).
MEASURE = """
import hashlib, json, sys, time
from assistant import pg, store
from assistant.qa.store import recent_flags
where = json.loads(sys.argv[1])
location = pg.Location(where["url"], where["password"]) if "url" in where else where["path"]
conn = store.connect(location, readonly=True)
since = int(sys.argv[2])
wall, cpu = time.perf_counter(), time.process_time()
items = recent_flags(conn, since, 200)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
doc = json.dumps(items, ensure_ascii=False, sort_keys=True).encode()
print(json.dumps({"wall_s": wall, "cpu_s": cpu, "items": len(items), "digest": hashlib.sha256(doc).hexdigest()[:16]}))
"""


def flag_day(db: Path) -> tuple[int, int, int]:
    """Flag every message as the service does, received evenly over the last 24 hours; (messages, flagged, short
    replies alone) and the moment the 24 hours started."""
    inspector = load_inspector(load_config(None, env={}))
    now = int(time.time() * 1000)
    with closing(store.connect(db)) as conn, store.transaction(conn):
        rows = conn.execute("SELECT seq, sender, text FROM messages ORDER BY seq").fetchall()
        updates, shorts = [], 0
        for seq, sender, text in rows:
            side = "agent" if sender == "agent" else "customer" if sender == "customer" else None
            flags = [f.to_json() for f in inspector.inspect(text, side)] if side else []
            shorts += bool(flags) and all(f["category"] == "short" for f in flags)
            qa = json.dumps(flags, ensure_ascii=False, separators=(",", ":")) if flags else None
            updates.append((qa, seq))
        conn.executemany("UPDATE messages SET qa = ? WHERE seq = ?", updates)
        last = conn.execute("SELECT max(seq) FROM events").fetchone()[0]
        conn.execute("UPDATE events SET received_ms = ? + seq * ? / ?", (now - DAY_MS, DAY_MS - 60_000, last))
    return len(rows), sum(q is not None for q, _ in updates), shorts


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--customers", type=int, default=3_000, help="customers of the simulated day")
    parser.add_argument("--agents", type=int, default=20, help="agents of the simulated day")
    parser.add_argument("--runs", type=int, default=5, help="timed reads per code and store")
    args = parser.parse_args(argv if argv is not None else [])
    trees = [("this", ROOT)] + ([("baseline", Path(BASELINE).resolve())] if BASELINE else [])
    cluster = Cluster()
    with tempfile.TemporaryDirectory(prefix="bench-qa-recent-") as tmp:
        db = Path(tmp) / "bench.db"
        _simulate(db, args.agents, args.customers)
        messages, flagged, shorts = flag_day(db)
        since = int(time.time() * 1000) - DAY_MS
        try:
            cluster.start()
            target = cluster.database("recent")
            move(db, target, lambda table, done, total: None)
            stores: dict[str, dict[str, str | None]] = {
                "sqlite": {"path": str(db)},
                "postgresql": {"url": target.url, "password": target.password},
            }
            print(
                f"the last 24 h's flagged messages: {messages:,} messages, {flagged:,} flagged, {shorts:,} of them"
                f" short replies alone (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
            )
            for backend, where in stores.items():
                runs: dict[str, list[dict[str, float | str]]] = {name: [] for name, _tree in trees}
                for turn in range(max(1, args.runs)):
                    for name, tree in trees if turn % 2 == 0 else trees[::-1]:  # each code goes first in turn
                        runs[name].append(_run(tree, where, since))
                print(f" {backend}")
                for name, _tree in trees:
                    _print(name, runs[name])
                if BASELINE:
                    this, base = runs["this"], runs["baseline"]
                    for key in ("wall_s", "cpu_s"):
                        mine = statistics.median(float(r[key]) for r in this)
                        theirs = statistics.median(float(r[key]) for r in base)
                        print(f"  this / baseline, median {key[:-2]}: {mine / theirs:.3f}")
                    same = {r["digest"] for r in this} == {r["digest"] for r in base}
                    print(f"  the same items as the baseline: {'yes' if same else 'NO'}")
        finally:
            cluster.stop()


def _run(tree: Path, where: dict[str, str | None], since: int) -> dict[str, float | str]:
    """One read in a fresh interpreter running `tree`'s code."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, json.dumps(where), str(since)],
        check=True,
        capture_output=True,
        text=True,
        cwd=tree,
        env=env,
    )
    result: dict[str, float | str] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _print(name: str, runs: list[dict[str, float | str]]) -> None:
    walls = sorted(float(r["wall_s"]) * 1000 for r in runs)
    cpus = sorted(float(r["cpu_s"]) * 1000 for r in runs)
    print(
        f"  {name:<9} wall {statistics.median(walls):8.1f} ms [{walls[0]:.1f}–{walls[-1]:.1f}]"
        f"  CPU {statistics.median(cpus):8.1f} ms [{cpus[0]:.1f}–{cpus[-1]:.1f}]"
        f"  {runs[0]['items']} items, digest {runs[0]['digest']}"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
