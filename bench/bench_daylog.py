"""Daily-log export speed: a day of 1,000,000 messages streamed as JSONL by `assistant log`, ≤ 10 s, flat memory.

Fills a database (executemany, large transactions), then runs the real command in a child process:
the small and the big day in one process (`--jobs 1`: the peak RSS is the same, memory is flat),
then the big day as an operator runs it (worker processes by default). Prints wall and CPU time,
lines/s, peak RSS and the load average (other work on the machine slows every figure).

    python -m bench.bench_daylog [--messages 1000000] [--keep DIR]
    BENCH_BASELINE=/path/to/other/checkout python -m bench.bench_daylog [--postgresql] [--runs 3]

With BENCH_BASELINE, the day is written by this code and the baseline's in turn (one process each, `--jobs 1`), each
code going first in turn, and the medians and their ratios printed with whether both wrote the same bytes.
`--postgresql` copies the days into a throwaway PostgreSQL cluster (tests/pgcluster.py) and reads them there (CPU is
the command's: the server's work is in the wall time alone).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from datetime import date, datetime
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

from assistant import store, upgrade
from assistant.cluster.move import move
from assistant.config import StoreConfig
from tests.pgcluster import Cluster

ROOT = Path(__file__).resolve().parent.parent
BASELINE = os.environ.get("BENCH_BASELINE", "")
TZ = ZoneInfo("Asia/Shanghai")
SHOP = "bench"
TARGET_S = 10.0

CUSTOMER_TEXTS = [
    "在吗？这个什么时候发货", "有现货吗", "165/110的能穿吗", "能便宜点吗，¥199有点贵", "包邮吗", "几号能到",
    "我身高175体重65kg穿什么码", "这个和那个有什么区别", "可以开发票吗", "买3件有优惠吗", "好的谢谢",
    "快点回我", "质量怎么样", "什么快递", "收货地址改成浙江省杭州市西湖区文三路478号", "我的电话13812345678",
]  # fmt: skip
AGENT_TEXTS = [
    "亲，在的呢，有什么可以帮您", "亲，今天下单今天发哦~", "有现货的亲", "亲，建议拍M码哦", "满300减30哦",
    "默认中通快递，可以备注顺丰补差价", "好的", "亲，质量您放心，支持7天无理由", "嗯", "已经帮您备注了哦",
]  # fmt: skip
SUGGESTIONS = [
    [{"phrase_id": "shipping_time.today", "code": "fh1", "score": 91.3}, {"phrase_id": "shipping_time.express", "code": "fh2", "score": 62.0}],
    [{"phrase_id": "size.advice", "code": "cm1", "score": 88.0}],
    [{"phrase_id": "price.discount", "code": "yh1", "score": 77.5}, {"phrase_id": "price.coupon", "code": "yh2", "score": 70.1}],
]  # fmt: skip


def fill(db_path: Path, day: date, messages: int, *, seed: int = 1) -> int:
    """One day of `messages` messages (half customer, half agent) plus uses and orders; returns events written."""
    rng = random.Random(seed)
    start_ms = int(datetime.combine(day, dtime(0), tzinfo=TZ).timestamp() * 1000)
    conn = store.connect(db_path)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-262144")
    upgrade.migrate(conn)
    per_conversation = 20
    conversations = max(1, messages // per_conversation)
    agents = [f"客服{i:02d}" for i in range(40)]
    rows: list[tuple[int, str, dict[str, object], str | None, str | None, str | None]] = []
    for c in range(conversations):
        t = start_ms + rng.randrange(0, 86_400_000 - 40 * 60_000)
        agent = agents[c % len(agents)]
        conv, customer = f"c{c}", f"tb_{c}"
        for _k in range(per_conversation // 2):
            text = rng.choice(CUSTOMER_TEXTS)
            sug = rng.choice(SUGGESTIONS) if rng.random() < 0.6 else None
            rows.append(
                (
                    t,
                    "message",
                    {"conversation": conv, "customer": customer, "sender": "customer", "text": text},
                    "shipping_time" if sug else None,
                    json.dumps(sug, ensure_ascii=False) if sug else None,
                    None,
                )
            )
            t += rng.randrange(5_000, 90_000)
            if sug and rng.random() < 0.4:
                rows.append(
                    (
                        t,
                        "suggestion_used",
                        {"conversation": conv, "customer": customer, "agent": agent, "phrase_id": sug[0]["phrase_id"]},
                        None,
                        None,
                        agent,
                    )
                )
                t += 1000
            rows.append(
                (
                    t,
                    "message",
                    {
                        "conversation": conv,
                        "customer": customer,
                        "sender": "agent",
                        "agent": agent,
                        "text": rng.choice(AGENT_TEXTS),
                    },
                    None,
                    None,
                    agent,
                )
            )
            t += rng.randrange(10_000, 120_000)
        if c % 10 == 0:
            rows.append(
                (
                    t,
                    "order_created",
                    {"conversation": conv, "customer": customer, "order": f"o{c}", "amount": 199.0, "agent": agent},
                    None,
                    None,
                    agent,
                )
            )
            rows.append(
                (
                    t + 60_000,
                    "order_paid",
                    {"conversation": conv, "customer": customer, "order": f"o{c}", "amount": 199.0},
                    None,
                    None,
                    None,
                )
            )
    rows.sort(key=lambda r: r[0])
    received = store.now_ms()
    batch = 200_000
    for first in range(0, len(rows), batch):
        events, msgs = [], []
        for seq, (ts, kind, fields, intent, suggestions, who) in enumerate(rows[first : first + batch], first + 1):
            raw = {"id": f"e{seq}", "type": kind, "ts": ts, "shop": SHOP, **fields}
            events.append(
                (
                    seq,
                    raw["id"],
                    kind,
                    ts,
                    SHOP,
                    fields["conversation"],
                    fields["customer"],
                    who,
                    received,
                    json.dumps(raw, ensure_ascii=False, separators=(",", ":")),
                )
            )
            if kind == "message":
                msgs.append(
                    (
                        seq,
                        SHOP,
                        fields["conversation"],
                        fields["customer"],
                        fields["sender"],
                        who,
                        fields["text"],
                        ts,
                        None,
                        intent,
                        "impatient" if intent else None,
                        suggestions,
                    )
                )
        with store.transaction(conn):
            conn.executemany(
                "INSERT INTO events (seq, id, type, ts_ms, shop, conversation, customer, agent,"
                " received_ms, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                events,
            )
            conn.executemany(
                "INSERT INTO messages (seq, shop, conversation, customer, sender, agent, text, ts_ms,"
                " followup_id, intent, customer_type, suggestions) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
                " ?, ?)",
                msgs,
            )
    conn.execute("ANALYZE")
    conn.close()
    return len(rows)


def export(
    db_path: Path | str, day: date, out: Path, *jobs: str, tree: Path = ROOT, env: dict[str, str] | None = None
) -> tuple[float, float, int, int]:
    """Run `assistant log --format jsonl` of `tree`'s code; returns (wall s, CPU s, lines, peak RSS KiB of any of its
    processes). `db_path`: a SQLite file or a PostgreSQL URL (its password in `env`)."""
    cmd = [sys.executable, "-m", "assistant", "log", "--config", str(ROOT / "config.toml"), "--db", str(db_path),
           "--date", day.isoformat(), "--format", "jsonl", "--out", str(out), *jobs]  # fmt: skip
    started = time.perf_counter()
    environment = {**os.environ, **(env or {}), "PYTHONPATH": str(tree)}
    proc = subprocess.Popen(cmd, cwd=tree, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=environment)
    _, status, usage = os.wait4(proc.pid, 0)  # the child's usage, its worker processes included
    seconds = time.perf_counter() - started
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"assistant log failed: {stderr}")
    with out.open("rb") as handle:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    return seconds, usage.ru_utime + usage.ru_stime, lines, usage.ru_maxrss


def _show(label: str, messages: int, result: tuple[float, float, int, int]) -> None:
    seconds, cpu, lines, rss = result
    load = os.getloadavg()[0]
    print(
        f"  {label:<22} {messages:>9,} messages: {lines:,} lines in {seconds:5.2f} s ({lines / seconds:,.0f} lines/s),"
        f" CPU {cpu:5.1f} s, peak RSS {rss / 1024:.0f} MiB, load {load:.1f}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_daylog", description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, default=None, help="keep the databases and outputs in this directory")
    parser.add_argument("--postgresql", action="store_true", help="read the days from a throwaway PostgreSQL cluster")
    parser.add_argument("--runs", type=int, default=3, help="runs per code and day against BENCH_BASELINE")
    args = parser.parse_args(argv if argv is not None else [])
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="bench-daylog-"))
    workdir.mkdir(parents=True, exist_ok=True)
    day = date(2026, 11, 20)
    print(f"daily log: JSONL export of one day (masking on), {args.messages:,} messages; target ≤ {TARGET_S:.0f} s")
    try:
        dbs = {}
        for messages in (args.messages // 10, args.messages):
            db = dbs[messages] = workdir / f"day-{messages}.db"
            if not db.exists():
                started = time.perf_counter()
                # In a child process: a fork of a large parent would count its memory in the export's peak RSS.
                with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
                    events = pool.submit(fill, db, day, messages).result()
                print(f"  filled {messages:>9,} messages ({events:,} events) in {time.perf_counter() - started:.1f} s")
        if BASELINE or args.postgresql:
            _against_baseline(dbs, day, workdir, args.postgresql, max(1, args.runs))
            return
        small = export(dbs[args.messages // 10], day, workdir / "small.jsonl", "--jobs", "1")
        _show("one process", args.messages // 10, small)
        single = export(dbs[args.messages], day, workdir / "big-1.jsonl", "--jobs", "1")
        _show("one process", args.messages, single)
        auto = export(dbs[args.messages], day, workdir / "big.jsonl")
        _show(f"default ({_jobs()} workers)", args.messages, auto)
        verdict = "PASS" if auto[0] <= TARGET_S else "FAIL"
        print(
            f"  {verdict}: {auto[0]:.2f} s for {args.messages:,} messages (target {TARGET_S:.0f} s);"
            f" memory flat: peak RSS {small[3] / 1024:.0f} MiB for {args.messages // 10:,}"
            f" vs {single[3] / 1024:.0f} MiB for {args.messages:,} messages"
        )
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


def _against_baseline(dbs: dict[int, Path], day: date, workdir: Path, postgresql: bool, runs: int) -> None:
    """Each day written by this code and (BENCH_BASELINE) the baseline's in turn, in one process each."""
    trees = [("this", ROOT)] + ([("baseline", Path(BASELINE).resolve())] if BASELINE else [])
    with ExitStack() as stack:
        where: dict[int, Path | str] = dict(dbs)
        env: dict[str, str] = {}
        if postgresql:
            cluster = Cluster()
            stack.callback(cluster.stop)
            cluster.start()
            for messages, db in dbs.items():
                target = cluster.database(f"day{messages}")
                move(db, target, lambda table, done, total: None)
                where[messages] = target.url
                env = {StoreConfig().password_env: target.password or ""}
        backend = "PostgreSQL" if postgresql else "SQLite"
        for messages in sorted(where):
            print(f"  {messages:,} messages on {backend}, --jobs 1, {runs} runs per code in turn:")
            results: dict[str, list[tuple[float, float, int, int]]] = {name: [] for name, _tree in trees}
            digests: dict[str, set[str]] = {name: set() for name, _tree in trees}
            for turn in range(runs):
                for name, tree in trees if turn % 2 == 0 else trees[::-1]:  # each code goes first in turn
                    out = workdir / f"{name}-{messages}.jsonl"
                    results[name].append(export(where[messages], day, out, "--jobs", "1", tree=tree, env=env))
                    digests[name].add(hashlib.sha256(out.read_bytes()).hexdigest()[:16])
            for name, _tree in trees:
                walls, cpus = [r[0] for r in results[name]], [r[1] for r in results[name]]
                print(
                    f"    {name:<9} wall {statistics.median(walls):6.2f} s [{min(walls):.2f}-{max(walls):.2f}]"
                    f"  CPU {statistics.median(cpus):6.2f} s [{min(cpus):.2f}-{max(cpus):.2f}]"
                    f"  {results[name][0][2]:,} lines, output {', '.join(sorted(digests[name]))},"
                    f" load {os.getloadavg()[0]:.1f}"
                )
            if BASELINE:
                for i, key in ((0, "wall"), (1, "CPU")):
                    this = statistics.median(r[i] for r in results["this"])
                    base = statistics.median(r[i] for r in results["baseline"])
                    print(f"    this / baseline, median {key}: {this / base:.2f}")
                print(
                    f"    the same output as the baseline: {'yes' if digests['this'] == digests['baseline'] else 'NO'}"
                )


def _jobs() -> int:
    from assistant.daylog.export import MAX_JOBS

    return min(len(os.sched_getaffinity(0)), MAX_JOBS)


if __name__ == "__main__":
    main(sys.argv[1:])
