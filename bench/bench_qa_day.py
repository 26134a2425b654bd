"""The day's inspection (`assistant qa day`, `GET /qa/day`) of a big simulated day, and of another checkout's code.

    python -m bench.bench_qa_day [--customers 3000] [--agents 20] [--db PATH] [--runs 3] [--postgresql]
    BENCH_BASELINE=/path/to/other/checkout python -m bench bench_qa_day   (that code's runs too, alternated)

Simulates the day (skipped when --db already holds it: 20 agents and 3,000 customers log about 34,000 messages),
then reads its inspection in a fresh interpreter per run (the daily log's items, the norms, the findings), this code
and the baseline's taking turns, so that both meet the same load. Prints wall and CPU time per run, their ratio, and
whether both codes found the same findings (a digest of the inspection's JSON): a faster inspection that finds
otherwise is no faster inspection. `--postgresql` copies the day into a throwaway PostgreSQL cluster
(tests/pgcluster.py) and reads it there (the baseline must know this code's migrations: an older release refuses the
database). CPU is this process's: on PostgreSQL the server's work is in the wall time alone.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from assistant.cluster.move import move
from bench.bench_report import DAY, _simulate
from tests.pgcluster import Cluster

ROOT = Path(__file__).resolve().parent.parent
BASELINE = os.environ.get("BENCH_BASELINE", "")

# Run in the checkout's own interpreter path: only what both codes have (review_day, open_day, the CLI's loader).
MEASURE = """
import hashlib, json, sys, time
from datetime import date
from pathlib import Path
from assistant.cli.common import db_path
from assistant.config import load_config
from assistant.daylog.query import DayQuery
from assistant.daylog.source import open_day
from assistant.qa.inspector import load_inspector
from assistant.qa.review import review_day, reviewer_of

where = json.loads(sys.argv[1])
password = where.pop("password", "")  # PostgreSQL's, read from the environment as the config names it
config = load_config(None, env={"BENCH_PG_PASSWORD": password}, overrides={"store": where})
day = date.fromisoformat(sys.argv[2])
reviewer = reviewer_of(config.qa, load_inspector(config).categories)
query = DayQuery(day, mask=config.privacy.mask)
wall, cpu = time.perf_counter(), time.process_time()
with open_day(config, db_path(config), day) as conn:
    review = review_day(reviewer, config, conn, query, int(time.time() * 1000))
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
doc = json.dumps(review.to_json(), ensure_ascii=False, sort_keys=True).encode()
print(json.dumps({"wall_s": wall, "cpu_s": cpu, "findings": len(review.findings),
                  "digest": hashlib.sha256(doc).hexdigest()[:16]}))
"""


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--customers", type=int, default=3_000, help="customers of the simulated day")
    parser.add_argument("--agents", type=int, default=20, help="agents of the simulated day")
    parser.add_argument("--db", type=Path, help="keep the simulated database here (reused when it has the day)")
    parser.add_argument("--runs", type=int, default=3, help="timed inspections per code")
    parser.add_argument("--postgresql", action="store_true", help="read the day from a throwaway PostgreSQL cluster")
    args = parser.parse_args(argv if argv is not None else [])
    trees = [("this", ROOT)] + ([("baseline", Path(BASELINE).resolve())] if BASELINE else [])
    with tempfile.TemporaryDirectory(prefix="bench-qa-day-") as tmp:
        db = args.db or Path(tmp) / "bench.db"
        _simulate(db, args.agents, args.customers)
        with ExitStack() as stack:
            where = _store(stack, db) if args.postgresql else {"path": str(db)}
            backend = "PostgreSQL" if args.postgresql else "SQLite"
            print(
                f"the day's inspection of {DAY} on {backend} (load average {os.getloadavg()[0]:.1f} on"
                f" {os.cpu_count()} CPUs)"
            )
            runs: dict[str, list[dict[str, float | str]]] = {name: [] for name, _tree in trees}
            for turn in range(max(1, args.runs)):
                for name, tree in trees if turn % 2 == 0 else trees[::-1]:  # each code goes first in turn
                    runs[name].append(_run(tree, where))
        for name, _tree in trees:
            _print(name, runs[name])
        if BASELINE:
            this, base = runs["this"], runs["baseline"]
            for key in ("wall_s", "cpu_s"):
                ratio = statistics.median(float(r[key]) for r in this) / statistics.median(float(r[key]) for r in base)
                print(f"  this / baseline, median {key[:-2]}: {ratio:.2f}")
            same = {r["digest"] for r in this} == {r["digest"] for r in base}
            print(f"  the same findings as the baseline: {'yes' if same else 'NO'}")


def _store(stack: ExitStack, db: Path) -> dict[str, str]:
    """The simulated day copied into a PostgreSQL cluster started for the run (stopped with `stack`)."""
    cluster = Cluster()
    stack.callback(cluster.stop)
    cluster.start()
    target = cluster.database("qaday")
    move(db, target, lambda table, done, total: None)
    return {"url": target.url, "password_env": "BENCH_PG_PASSWORD", "password": target.password or ""}


def _run(tree: Path, where: dict[str, str]) -> dict[str, float | str]:
    """One inspection in a fresh interpreter running `tree`'s code (its caches cold, as a service's first page)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, json.dumps(where), DAY.isoformat()],
        check=False,
        capture_output=True,
        text=True,
        cwd=tree,
        env=env,
    )
    if out.returncode != 0:
        raise SystemExit(f"{tree}: the inspection failed (exit {out.returncode}):\n{out.stderr}")
    result: dict[str, float | str] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _print(name: str, runs: list[dict[str, float | str]]) -> None:
    walls = sorted(float(r["wall_s"]) for r in runs)
    cpus = sorted(float(r["cpu_s"]) for r in runs)
    print(
        f"  {name:<9} wall {statistics.median(walls):6.2f} s [{walls[0]:.2f}–{walls[-1]:.2f}]"
        f"  CPU {statistics.median(cpus):6.2f} s [{cpus[0]:.2f}–{cpus[-1]:.2f}]"
        f"  {runs[0]['findings']} findings, digest {runs[0]['digest']}"
    )
    if len({r["digest"] for r in runs}) > 1:  # a run that found otherwise: each run's, in the order they ran
        print(
            "    runs: "
            + ", ".join(f"{r['findings']} findings {r['digest']} ({float(r['cpu_s']):.2f} s)" for r in runs)
        )


if __name__ == "__main__":
    main(sys.argv[1:])
