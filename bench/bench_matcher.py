"""Matcher speed and size: the shipped library and a synthetic 20,000-phrase one.

    python -m bench.bench_matcher [--queries 2000] [--phrases 20000]

Prints, for each library: load time (TOML → validated Library, then Matcher preprocessing with the learned
scorer), memory the library and matcher hold (tracemalloc, a separate pass so tracing does not slow the timed
one), and p50/p99 of one `Matcher.suggest` call over varied customer messages. Every cache of the matcher is
cleared before each timed call, so each message is read as if seen for the first time.
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
Targets: suggest p99 ≤ 1 ms with the shipped library, ≤ 5 ms with 20,000 phrases; a fresh load ≤ 3 s and
≤ 150 MiB of added resident memory; classify p99 ≤ 0.3 ms.
"""

from __future__ import annotations

import argparse
import gc
import json
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


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=2000, help="timed suggest() calls per library")
    parser.add_argument("--phrases", type=int, default=20_000, help="size of the synthetic library")
    args = parser.parse_args(argv if argv is not None else [])
    queries = _queries(args.queries)
    print("matcher benchmark (one suggest() call per query; times per call)")
    _fresh_load()
    shipped = _measure("shipped library", lambda: Library.load(PHRASES), queries, target_ms=1.0)
    _measure_classify(shipped, queries, target_ms=0.3)
    synthetic = _synthetic_tables(args.phrases)
    # The synthetic library has no scorer of its own: it is read with the shipped one (same intents).
    scorer = Scorer.load(PHRASES / SCORER_FILE)
    name = f"synthetic {args.phrases:,}-phrase library"
    _measure(name, lambda: _build(synthetic), queries, target_ms=5.0, scorer=scorer, reference=shipped)
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


def _measure(
    name: str,
    load: Callable[[], Library],
    queries: list[str],
    target_ms: float,
    scorer: Scorer | None = None,
    reference: Matcher | None = None,
) -> Matcher:
    gc.collect()
    start = time.perf_counter()
    library = load()
    loaded = time.perf_counter()
    matcher = Matcher(library, scorer=scorer or "auto")
    ready = time.perf_counter()
    memory = _memory(load, scorer)
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
    print(f"\n{name}")
    print(f"  load: {loaded - start:.3f} s library + {ready - loaded:.3f} s matcher preprocessing")
    print(f"  memory held (library + matcher): {memory / 2**20:.1f} MiB")
    print(f"  suggest, wall clock: p50 {p50:.3f} ms, p99 {p99:.3f} ms, max {worst:.3f} ms over {len(wall)} calls")
    # On a shared machine the wall clock also counts time other processes held the core.
    print(f"  suggest, CPU time:   p50 {cpu50:.3f} ms, p99 {cpu99:.3f} ms")
    print(
        f"  suggest, CPU time, each message seen before (its reading cached): p50 {seen50:.3f} ms, p99 {seen99:.3f} ms"
    )
    print(f"  target p99 ≤ {target_ms:g} ms (wall clock): {verdict}; load average {_load_average()}")
    _distinct(matcher, queries, reference)
    return matcher


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
    main()
