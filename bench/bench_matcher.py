"""Matcher speed and size: the shipped library and a synthetic 20,000-phrase one.

    python -m bench.bench_matcher [--queries 2000] [--phrases 20000] [--processes 5]
    BENCH_PROCESSES=7 BENCH_BASELINE=/path/to/other/checkout python -m bench bench_matcher

Prints, for each library: load time (TOML → validated Library, then Matcher preprocessing with the learned
scorer), memory the library and matcher hold (tracemalloc, a separate pass so tracing does not slow the timed
one), and p50/p99 of one `Matcher.suggest` call over varied customer messages. Every cache of the matcher is
cleared before each timed call, so each message is read as if seen for the first time.
The shipped library's calls are timed in several fresh processes, one hash seed each (0, 1, …): one process's
p99 is luck as much as code (the same code measured 0.79 ms in one run and 1.25 ms in the next, on a quiet
machine, doing the same work), so each process's figures are printed, then their median and spread, the work
done per message (rapidfuzz calls, triggers compared, clauses, scorer rows; the same in every process) and the
cyclic collector's runs while timed. The target is judged on the median. With BENCH_BASELINE, the other
checkout's code (with its own phrases and compiled modules, in its own interpreter when it has a .venv) is timed
in turn, process by process, and the medians compared.
For the shipped library it also loads it in a fresh process: the time from nothing imported to a ready
matcher, and the resident memory that added (RSS).
Then, with the shipped library, what the customer type adds per message: one `Matcher.classify` call over
a conversation that grows by a message never seen before (its earlier messages are read from the cache,
as in the service), with the agent's reply times. The new message's normalized form is made before the
timed call: the service makes it once for both the suggestions and the type.
Then the same messages once more, each already seen (as the service meets a text buyers send all day): what
is left once a reading is cached (context re-ranking, phrases rendered).
For the synthetic library: how many messages get one answer twice among their suggestions, and how many
get a first suggestion of the intent the shipped library's has.
Targets: suggest p99 ≤ 1 ms with the shipped library (the processes' median), ≤ 5 ms with 20,000 phrases (one
process: this one); a fresh load ≤ 3 s and ≤ 150 MiB of added resident memory; classify p99 ≤ 0.3 ms.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time
import tomllib
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz

from assistant.suggest.answers import SAME_ANSWER
from assistant.suggest.matcher import Matcher
from assistant.suggest.phrase_layers import SPECIAL_FILES
from assistant.suggest.phrases import Library
from assistant.suggest.scorer import SCORER_FILE, Scorer

ROOT = Path(__file__).resolve().parent.parent
PHRASES = ROOT / "phrases"
LABELED = ROOT / "tests" / "data" / "intents.tsv"
PRODUCTS = ["连衣裙", "卫衣", "跑鞋", "面霜", "耳机", "保温杯", "充电宝", "空气炸锅", "口红", "牛仔裤", "台灯", "奶粉"]
EXTRA_QUERIES = [
    "亲，这个什么时候发货呀？？", "zfb付不了怎么办", "發貨了嗎", "快递三天没动了", "能便宜点吗 老顾客了",
    "160cm 100斤穿多大码", "有赠品吗😊", "我要投诉你们", "退款多久到账", "地址填错了能改吗", "在吗在吗",
    "这个面料起球吗", "可以开专票吗", "是不是正品", "hello 有人吗", "好的谢谢 拜拜", "",
    "这件连衣裙我上个月买过一件，洗了两次就起球了，而且颜色也跟图片差很多，能不能给我换一件新的或者直接退款？",
]  # fmt: skip


BASELINE = os.environ.get("BENCH_BASELINE", "")  # another checkout: its code timed too, in turn
PROCESSES = int(os.environ.get("BENCH_PROCESSES", "5"))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=2000, help="timed suggest() calls per library")
    parser.add_argument("--phrases", type=int, default=20_000, help="size of the synthetic library")
    parser.add_argument("--processes", type=int, default=PROCESSES, help="fresh processes timing the shipped library")
    args = parser.parse_args(argv if argv is not None else [])
    queries = _queries(args.queries)
    print("matcher benchmark (one suggest() call per query; times per call)")
    _fresh_load()
    shipped = _prepare("shipped library", lambda: Library.load(PHRASES))
    _distinct(shipped, queries, None)
    _timed_processes(queries, max(1, args.processes), target_ms=1.0)
    _measure_classify(shipped, queries, target_ms=0.3)
    synthetic = _synthetic_tables(args.phrases)
    # The synthetic library has no scorer of its own: it is read with the shipped one (same intents).
    scorer = Scorer.load(PHRASES / SCORER_FILE)
    name = f"synthetic {args.phrases:,}-phrase library"
    matcher = _prepare(name, lambda: _build(synthetic), scorer=scorer)
    _time_here(matcher, queries, target_ms=5.0)
    _distinct(matcher, queries, shipped)
    print(f"(shipped library: {len(shipped.library.phrases)} phrases)")


FRESH = """
import json, resource, sys, time
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize()
before, start = rss(), time.perf_counter()
from assistant.suggest.matcher import Matcher
from assistant.suggest.phrases import Library
matcher = Matcher(Library.load(sys.argv[1]))
matcher.suggest("什么时候发货")
print(json.dumps({"seconds": time.perf_counter() - start, "rss": rss() - before, "scorer": matcher.scorer is not None}))
"""


def _fresh_load(target_s: float = 3.0, target_mib: float = 150.0) -> None:
    """Load the shipped library in a new process: time and resident memory from nothing imported to ready."""
    out = subprocess.run([sys.executable, "-c", FRESH, str(PHRASES)], capture_output=True, text=True, check=True)
    found = json.loads(out.stdout.strip().splitlines()[-1])
    mib = found["rss"] / 2**20
    verdict = "ok" if found["seconds"] <= target_s and mib <= target_mib else "OVER TARGET"
    print("\nshipped library, fresh process (imports, library, scorer, matcher, first suggestion)")
    print(f"  load: {found['seconds']:.3f} s; added resident memory: {mib:.1f} MiB; scorer: {found['scorer']}")
    print(f"  target ≤ {target_s:g} s and ≤ {target_mib:g} MiB: {verdict}; load average {_load_average()}")


def _prepare(name: str, load: Callable[[], Library], scorer: Scorer | None = None) -> Matcher:
    """The library and its matcher built here: their load times and the memory they hold, printed."""
    gc.collect()
    start = time.perf_counter()
    library = load()
    loaded = time.perf_counter()
    matcher = Matcher(library, scorer=scorer or "auto")
    ready = time.perf_counter()
    memory = _memory(load, scorer)
    print(f"\n{name}")
    print(f"  load: {loaded - start:.3f} s library + {ready - loaded:.3f} s matcher preprocessing")
    print(f"  memory held (library + matcher): {memory / 2**20:.1f} MiB")
    return matcher


def _time_here(matcher: Matcher, queries: list[str], target_ms: float) -> None:
    """p50/p99 of suggest() in this process, each message new, then each seen before."""
    for q in queries[:200]:  # warm-up: first calls pay for imports and lazy caches
        matcher.suggest(q)
    wall: list[float] = []
    cpu: list[float] = []
    for q in queries:
        matcher.clear_caches()
        t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        matcher.suggest(q)
        wall.append((time.perf_counter_ns() - t0) / 1e6)
        cpu.append((time.thread_time_ns() - c0) / 1e6)
    seen: list[float] = []  # the same messages again: read once, as buyers' repeated questions are
    for q in queries:
        c0 = time.thread_time_ns()
        matcher.suggest(q)
        seen.append((time.thread_time_ns() - c0) / 1e6)
    p50, p99, worst = _percentiles(wall)
    cpu50, cpu99, _ = _percentiles(cpu)
    seen50, seen99, _ = _percentiles(seen)
    verdict = "ok" if p99 <= target_ms else "OVER TARGET"
    print(f"  suggest, wall clock: p50 {p50:.3f} ms, p99 {p99:.3f} ms, max {worst:.3f} ms over {len(wall)} calls")
    # On a shared machine the wall clock also counts time other processes held the core.
    print(f"  suggest, CPU time:   p50 {cpu50:.3f} ms, p99 {cpu99:.3f} ms")
    print(
        f"  suggest, CPU time, each message seen before (its reading cached): p50 {seen50:.3f} ms, p99 {seen99:.3f} ms"
    )
    print(f"  target p99 ≤ {target_ms:g} ms (wall clock, this one process): {verdict}; load average {_load_average()}")


# One fresh process's timed pass over the shipped library (its code, its phrases): the matcher's public API only,
# so that an older checkout runs it too. Then, untimed, the work each call did: rapidfuzz's calls and the triggers
# its cdist compared (counted by wrapping its functions; the matcher looks them up at each call), the message's
# clauses and scorer rows, and the suggestions (their digest tells two processes' answers apart).
TIMED = """
import gc, hashlib, json, sys, time
from rapidfuzz import fuzz, process
from assistant.suggest import matcher as matcher_module
from assistant.suggest.matcher import Matcher
from assistant.suggest.phrases import Library
given = json.loads(sys.stdin.read())
queries = given["queries"]
matcher = Matcher(Library.load(given["phrases"]))
for q in queries[:200]:
    matcher.suggest(q)
runs = [0, 0, 0]
def collected(phase, info):
    if phase == "start":
        runs[info["generation"]] += 1
gc.callbacks.append(collected)
wall, cpu = [], []
for _ in range(given["passes"]):
    wall.append([])
    cpu.append([])
    for q in queries:
        matcher.clear_caches()
        t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        matcher.suggest(q)
        wall[-1].append(time.perf_counter_ns() - t0)
        cpu[-1].append(time.thread_time_ns() - c0)
gc.callbacks.remove(collected)
seen = []
for q in queries:
    c0 = time.thread_time_ns()
    matcher.suggest(q)
    seen.append(time.thread_time_ns() - c0)
counts = {"calls": 0, "compared": 0}
def counted(name, original):
    def call(*args, **kwargs):
        counts["calls"] += 1
        if name == "cdist":
            counts["compared"] += len(args[0]) * len(args[1])
            if kwargs.get("scorer") in wrapped:
                kwargs["scorer"] = wrapped[kwargs["scorer"]]
        return original(*args, **kwargs)
    return call
wrapped = {}
for module, names in ((fuzz, ("ratio", "partial_ratio", "token_set_ratio", "WRatio", "QRatio")), (process, ("cdist", "extract", "extractOne"))):
    for name in names:
        original = getattr(module, name)
        setattr(module, name, counted(name, original))
        wrapped[getattr(module, name)] = original
work = {"calls": 0, "compared": 0, "clauses": 0, "rows": 0, "suggestions": 0}
digest = hashlib.sha256()
for q in queries:
    matcher.clear_caches()
    counts["calls"] = counts["compared"] = 0
    found = matcher.suggest(q)
    reading = matcher.read(q) if hasattr(matcher, "read") else None
    clauses = len(reading.message.clauses) if reading is not None else 0
    rows = len(reading.encoded.rows) if reading is not None and reading.encoded is not None else 0
    for key, value in (("calls", counts["calls"]), ("compared", counts["compared"]), ("clauses", clauses), ("rows", rows), ("suggestions", len(found))):
        work[key] += value
    shown = [(s.phrase_id, s.score, s.confidence, s.trigger) for s in found]
    digest.update(json.dumps([q, shown, counts, clauses, rows], ensure_ascii=False).encode())
print(json.dumps({
    "wall": wall, "cpu": cpu, "seen": seen, "collections": runs, "work": work,
    "digest": digest.hexdigest()[:12], "compiled": getattr(matcher_module, "__file__", "").endswith(".so"),
}))
"""


PASSES = 2  # timed passes per process: a slow process slow in both is slow as a whole, not for a moment


def _timed_processes(queries: list[str], processes: int, target_ms: float) -> None:
    """The shipped library's suggest() timed in `processes` fresh processes, hash seeds 0, 1, …; with BENCH_BASELINE,
    the other checkout's in turn (each code first in every other turn)."""
    trees = [("this", ROOT)] + ([("baseline", Path(BASELINE).resolve())] if BASELINE else [])
    print(f"\nshipped library, suggest() in {processes} fresh processes (hash seeds 0–{processes - 1}); in each,")
    print(f"  200 warm-up calls, then {PASSES} passes of {len(queries)} timed calls, every cache cleared before each")
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in trees}
    for seed in range(processes):
        for name, tree in trees if seed % 2 == 0 else trees[::-1]:
            runs[name].append(_timed_process(tree, seed, queries))
    for name, tree in trees:
        _print_processes(name if BASELINE else "", tree, runs[name], target_ms)
    if BASELINE:
        this, base = runs["this"], runs["baseline"]
        for label, key, at in (("CPU p50", "cpu", 0.5), ("CPU p99", "cpu", 0.99), ("wall p99", "wall", 0.99)):
            ratio = _median_of(this, key, at) / _median_of(base, key, at)
            print(f"  this / baseline, median of the processes' {label}: {ratio:.2f}")
        same = {r["digest"] for r in this} == {r["digest"] for r in base}
        print(f"  the same suggestions and work as the baseline: {'yes' if same else 'no'}")


def _timed_process(tree: Path, seed: int, queries: list[str]) -> dict[str, Any]:
    """One process's timed passes in a fresh interpreter running `tree`'s code, with `seed` as its hash seed."""
    python = tree / ".venv" / "bin" / "python"
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONHASHSEED": str(seed)}
    given = json.dumps({"phrases": str(tree / "phrases"), "queries": queries, "passes": PASSES}, ensure_ascii=False)
    load = _load_average()
    out = subprocess.run(
        [str(python) if python.exists() else sys.executable, "-c", TIMED],
        input=given,
        capture_output=True,
        text=True,
        cwd=tree,
        env=env,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"{tree}: the timed pass failed (exit {out.returncode}):\n{out.stderr}")
    found: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    found["seed"], found["load"] = seed, load
    return found


def _print_processes(name: str, tree: Path, runs: list[dict[str, Any]], target_ms: float) -> None:
    """Each process's figures, their median and spread, the work per message, and the target's verdict."""
    compiled = {r["compiled"] for r in runs}
    where = f"{name} ({tree}), " if name else ""
    print(f"  {where}{'compiled' if compiled == {True} else 'from source' if compiled == {False} else 'mixed'}:")
    for r in runs:
        by_pass = "/".join(f"{_at([p], 0.99):.3f}" for p in r["cpu"])
        young, middle, old = r["collections"]
        print(
            f"    seed {r['seed']}: CPU p50 {_at(r['cpu'], 0.5):.3f} p99 {_at(r['cpu'], 0.99):.3f} ms (by pass"
            f" {by_pass}); wall p99 {_at(r['wall'], 0.99):.3f} ms; collections while timed {young}/{middle}/{old};"
            f" work {r['digest']}; load average {r['load']}"
        )
    for label, key, at in (("CPU p50", "cpu", 0.5), ("CPU p99", "cpu", 0.99), ("wall p99", "wall", 0.99)):
        values = sorted(_at(r[key], at) for r in runs)
        print(f"    {label}: median {statistics.median(values):.3f} ms [{values[0]:.3f}–{values[-1]:.3f}]")
    seen = statistics.median(_at([r["seen"]], 0.99) for r in runs)
    print(f"    CPU p99, each message seen before (its reading cached): median {seen:.3f} ms")
    calls = len(runs[0]["seen"])
    work = runs[0]["work"]
    same = "the same in every process" if len({r["digest"] for r in runs}) == 1 else "NOT the same in every process"
    print(
        f"    work per message ({same}): {work['calls'] / calls:.2f} rapidfuzz calls comparing"
        f" {work['compared'] / calls:.2f} triggers, {work['clauses'] / calls:.2f} clauses,"
        f" {work['rows'] / calls:.1f} scorer rows, {work['suggestions'] / calls:.2f} suggestions"
    )
    for label, key in (("CPU time", "cpu"), ("wall clock", "wall")):
        p99 = _median_of(runs, key, 0.99)
        within = sum(_at(r[key], 0.99) <= target_ms for r in runs)
        verdict = "ok" if p99 <= target_ms else "OVER TARGET"
        print(
            f"    target p99 ≤ {target_ms:g} ms ({label}, the processes' median): {verdict}"
            f" ({within} of {len(runs)} processes within)"
        )
    print(f"    load average {_load_average()}")


def _at(passes: list[list[int]], at: float) -> float:
    """The median (`at` 0.5) or p99 (0.99) in ms of the calls of some passes (times in ns)."""
    p50, p99, _ = _percentiles([v / 1e6 for values in passes for v in values])
    return p50 if at == 0.5 else p99


def _median_of(runs: list[dict[str, Any]], key: str, at: float) -> float:
    return statistics.median(_at(r[key], at) for r in runs)


def _distinct(matcher: Matcher, queries: list[str], reference: Matcher | None) -> None:
    """Whether the suggestions stay distinct answers (the synthetic library repeats each shipped answer about 60
    times, as a team's export holds one answer in many agents' copies) and whether the first one answers as the
    shipped library's first does (its intent)."""
    queries = list(dict.fromkeys(queries))
    repeated = same = 0
    for q in queries:
        found = matcher.suggest(q)
        forms = [re.sub(r"[\W_]+", "", s.text) for s in found]
        repeated += any(fuzz.ratio(a, b) >= SAME_ANSWER for n, a in enumerate(forms) for b in forms[n + 1 :])
        if reference is not None:
            first = reference.suggest(q)
            same += [s.intent for s in found[:1]] == [s.intent for s in first[:1]]
    print(f"  suggestions repeating one answer (text alike ≥ {SAME_ANSWER:g}): {repeated} of {len(queries)} messages")
    if reference is not None:
        print(f"  first suggestion of the shipped library's intent (or both silent): {same} of {len(queries)}")


def _measure_classify(matcher: Matcher, queries: list[str], target_ms: float) -> None:
    """p50/p99 of classify() for a conversation as it grows, each new message unseen (nothing cached for it)."""
    for q in queries[:200]:  # warm-up
        matcher.classify([(0, q)], [])
    wall: list[float] = []
    cpu: list[float] = []
    baseline: list[float] = []  # the message's suggestions, timed the same way: what the type adds to
    rng = random.Random(3)
    history: list[tuple[int, str]] = []
    replies: list[int] = []
    for n, q in enumerate(queries):
        if len(history) >= 12 or rng.random() < 0.1:  # a new conversation
            history, replies = [], []
        ts = n * 20_000
        if history and rng.random() < 0.6:
            replies.append(ts - 10_000)
        history.append((ts, q + _unseen(n)))
        matcher.normalizer.clear_caches()
        matcher.normalizer.analyze(q + _unseen(n))  # shared with the message's suggestions: not the type's cost
        t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        matcher.classify(history, replies)
        wall.append((time.perf_counter_ns() - t0) / 1e6)
        cpu.append((time.thread_time_ns() - c0) / 1e6)
        t0 = time.perf_counter_ns()
        matcher.suggest(history[-1][1])
        baseline.append((time.perf_counter_ns() - t0) / 1e6)
    p50, p99, worst = _percentiles(wall)
    cpu50, cpu99, _ = _percentiles(cpu)
    _, suggest99, _ = _percentiles(baseline)
    verdict = "ok" if p99 <= target_ms else "OVER TARGET"
    print("\ncustomer type (shipped library, conversations of up to 12 messages)")
    print(f"  classify, wall clock: p50 {p50:.3f} ms, p99 {p99:.3f} ms, max {worst:.3f} ms over {len(wall)} calls")
    print(f"  classify, CPU time:   p50 {cpu50:.3f} ms, p99 {cpu99:.3f} ms")
    print(f"  classify p99 / suggest p99 of the same messages: {p99 / suggest99:.2f}")
    print(f"  target p99 ≤ {target_ms:g} ms (wall clock): {verdict}; load average {_load_average()}")


def _unseen(n: int) -> str:
    """Invisible characters that make a message new to every cache while reading the same once normalized."""
    marks = "\u200b\u200c\u200d\u2060"
    out = ""
    while True:
        n, digit = divmod(n, 4)
        out += marks[digit]
        if not n:
            return out


def _percentiles(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], ordered[-1]


def _load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def _memory(load: Callable[[], Library], scorer: Scorer | None) -> int:
    """Bytes still allocated after building the library and its matcher (kept alive while measured)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    library = load()
    matcher = Matcher(library, scorer=scorer or "auto")
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del matcher, library
    return held


def _queries(n: int) -> list[str]:
    """Customer messages: the labeled set when present, plus fixed extras, with light variation."""
    base = list(EXTRA_QUERIES)
    if LABELED.exists():
        base += [line.partition("\t")[2] for line in LABELED.read_text(encoding="utf-8").splitlines() if "\t" in line]
    rng = random.Random(7)
    out: list[str] = []
    while len(out) < n:
        q = rng.choice(base)
        variant = rng.random()
        if variant < 0.3:
            q = f"亲，{q}"
        elif variant < 0.5:
            q = f"{rng.choice(PRODUCTS)}{q}？"
        out.append(q)
    return out


def _synthetic_tables(n: int) -> list[tuple[str, dict[str, Any]]]:
    """`n` phrases made from the shipped ones: same intents, triggers varied with product words and noise."""
    shipped = [p for p in Library.load(PHRASES).phrases if p.triggers]
    rng = random.Random(11)
    noise = "的了是我这个一不有在人们来到说大地上个为子中你就"
    phrases = []
    for i in range(n):
        base = shipped[i % len(shipped)]
        product = rng.choice(PRODUCTS)
        triggers = [
            f"{product}{t}" if rng.random() < 0.5 else f"{t}{''.join(rng.sample(noise, 2))}{product}"
            for t in base.triggers
        ]
        phrases.append(
            {"id": f"syn.{i}", "intent": base.intent, "code": f"s{i}", "text": base.text, "triggers": triggers}
        )
    return [("synthetic.toml", {"group": "合成", "phrase": phrases})]


def _build(tables: list[tuple[str, dict[str, Any]]]) -> Library:
    special = {name: tomllib.loads((PHRASES / name).read_text(encoding="utf-8")) for name in SPECIAL_FILES}
    return Library.build(tables, special["intents.toml"], special["customer_types.toml"])


if __name__ == "__main__":
    main(sys.argv[1:])
