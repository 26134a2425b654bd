"""The pipe's share of a matching worker's answer: the msgpack codec at both ends and the round trip, per message.

    python -m bench bench_pipe          (BENCH_REQUESTS=3000, 300 conversations, the shipped library)

Customer messages of the distinct mix (bench_webhook's texts, none sent twice), each with its conversation's earlier
ones (up to 40, as the service sends them). First in this process, by the thread's CPU clock per message: the
service's encoding of the request (`frame`) and decoding of the answer, the worker's decoding of the request and
encoding of the answer, and the matching itself (`answer`, the same matcher a worker loads). Then through a real
worker (`MatchingWorkers`), one message in flight: the wall time from `submit` to the answer, the worker's CPU per
message (its /proc stat) and this process's (the event loop's side: the codec, the pipe's reads and writes). What
the wall time has beyond the worker's CPU is the pipe's round trip and the scheduler's wake-ups (noisy on a busy
machine: read it with the load average printed).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time

import msgspec

from assistant.config import load_config
from assistant.suggest.engine import matcher_settings
from assistant.suggest.matching import Answer, FromWorker, Request, ToWorker, answer, frame
from assistant.suggest.worker import MatchingWorkers
from bench.bench_webhook import distinct_text
from bench.bench_workers import HISTORY, _cpu_s
from tests.service import ROOT

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "3000"))
CONVERSATIONS = 300


def _requests(first: int) -> list[tuple[str, Request]]:
    earlier: dict[str, list[tuple[int, str]]] = {}
    made = []
    for n in range(REQUESTS):
        conversation = f"c{n % CONVERSATIONS}"
        text, ts = distinct_text(first + n), 1_000_000 + n
        history = earlier.setdefault(conversation, [])
        made.append((conversation, Request(n + 1, text, ts, history[-HISTORY:], [], False, {"shop": "本店"}, "s1")))
        history.append((ts, text))
    return made


def _in_process() -> None:
    settings = matcher_settings(load_config(ROOT / "config.toml"))
    matcher = settings.load()
    to_worker, from_worker = msgspec.msgpack.Decoder(ToWorker), msgspec.msgpack.Decoder(FromWorker)
    spent = {"service: encode request": 0.0, "worker: decode request": 0.0, "worker: match": 0.0,
             "worker: encode answer": 0.0, "service: decode answer": 0.0}  # fmt: skip
    sizes = [0, 0]
    clock = time.thread_time
    for _, request in _requests(0):
        t0 = clock()
        sent = frame(request)
        t1 = clock()
        got = to_worker.decode(sent[4:])
        t2 = clock()
        assert isinstance(got, Request)
        suggestions, kind = answer(matcher, got, {})
        t3 = clock()
        back = frame(Answer(got.id, suggestions, kind))
        t4 = clock()
        from_worker.decode(back[4:])
        t5 = clock()
        for key, took in zip(spent, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
            spent[key] += took
        sizes[0] += len(sent)
        sizes[1] += len(back)
    total = sum(spent.values())
    print(f"== in this process, {REQUESTS:,} messages (CPU per message) ==")
    for key, took in spent.items():
        print(f"{key:<26} {took / REQUESTS * 1e6:8.1f} µs   {took / total:6.1%}")
    print(f"bytes per message: request {sizes[0] / REQUESTS:,.0f}, answer {sizes[1] / REQUESTS:,.0f}")
    matcher.release()


async def _through_worker() -> None:
    pool = MatchingWorkers(matcher_settings(load_config(ROOT / "config.toml")), 1, adoption=dict)
    try:
        pool.start()
        while pool.ready < 1:
            await asyncio.sleep(0.05)
        [pid] = pool.pids
        requests = _requests(REQUESTS)  # other texts than the first part's: no cache holds them
        worker_cpu, own_cpu = _cpu_s(pid), time.process_time()
        walls = []
        for conversation, request in requests:
            started = time.perf_counter()
            future = pool.submit(request, f"s1\x1f{conversation}")
            assert future is not None and await future is not None
            walls.append(time.perf_counter() - started)
        worker = (_cpu_s(pid) - worker_cpu) / REQUESTS
        own = (time.process_time() - own_cpu) / REQUESTS
    finally:
        await pool.close()
    mean = statistics.fmean(walls)
    print(f"== through a worker process, one message in flight (load average {os.getloadavg()[0]:.1f}) ==")
    print(
        f"wall per message: mean {mean * 1e3:.3f} ms, median {statistics.median(walls) * 1e3:.3f} ms;"
        f" worker's CPU {worker * 1e3:.3f} ms; this process's CPU {own * 1e3:.3f} ms;"
        f" wall beyond the worker's CPU {max(mean - worker, 0.0) * 1e3:.3f} ms ({max(mean - worker, 0.0) / mean:.0%})"
    )


def main() -> None:
    _in_process()
    asyncio.run(_through_worker())


if __name__ == "__main__":
    main()
