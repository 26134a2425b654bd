"""Instructions per event on the service's event loop and writer thread, counted under callgrind: a count, not a
timing, so it compares two codes on a machine too busy to time them.

    python -m bench.bench_instructions        (BENCH_EVENTS=600 measured per code, after BENCH_WARMUP=600)
    BENCH_CODES=/path/to/before,/path/to/other python -m bench.bench_instructions   (these checkouts too, in turn)
    BENCH_MIXES=repeated,logging python -m bench.bench_instructions   (as bench_webhook's mixes)
    BENCH_CACHE_SIM=1 python -m bench.bench_instructions   (the loop's data cache misses per event too)

Each code's service (`assistant serve`, its own config.toml and .venv when it has one) runs under
`valgrind --tool=callgrind --separate-threads=yes` with instrumentation off while it starts and warms up;
`callgrind_control` switches it on for the measured events and dumps the counts per thread. The matching worker is
a process of its own (started by exec, which valgrind does not follow), so its matching is not counted: what is
counted is the loop's share (HTTP, parsing, the conversation state, the worker's pipe, the panels, the timers) and
the writer's. The hash seed is fixed (0), the events are posted by this process (not counted) at a fixed
concurrency, the same events for every code (each its own log; a text's length and script change what parsing and
encoding cost), and each event is stamped now, as bench_webhook's are. What the service counts in the same time
with no request (BENCH_IDLE_S, 20 s, right after: its timers' ticks) is taken off at its rate per second, since under
valgrind a run on a busier machine takes longer and ticks more; the count before that is printed beside it. The
dumps are kept in BENCH_OUT (a temporary folder by default) for `callgrind_annotate`.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.bench_webhook import _encoded, distinct_text, event, logging_event
from bench.load import post_load, wait_ready
from tests.service import ROOT, free_port

TOTAL = int(os.environ.get("BENCH_EVENTS", "600"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "600"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "8"))
CODES = [Path(p) for p in os.environ.get("BENCH_CODES", "").split(",") if p] + [ROOT]
MIXES = [name for name in os.environ.get("BENCH_MIXES", "repeated").split(",") if name]
CACHE_SIM = os.environ.get("BENCH_CACHE_SIM", "") == "1"  # callgrind's cache simulation: misses per event too
IDLE_S = float(os.environ.get("BENCH_IDLE_S", "20"))  # counted with no request, for the time-driven work's rate
START_TIMEOUT_S = 900.0  # the start under valgrind, instrumentation off, on a busy machine
KNOWN = {
    "logging": lambda i: logging_event(i, "log"),
    "distinct": lambda i: event(i, "dist", distinct_text),
    "repeated": lambda i: event(i, "rep"),
}


def _python(root: Path) -> str:
    venv = root / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def _control(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True, timeout=600)


def _totals(out: Path, pid: int, part: int) -> dict[int, dict[str, int]]:
    """The counts per thread (1: the main thread, the event loop) of the dump numbered `part`, by event (Ir:
    instructions; with BENCH_CACHE_SIM=1 also the first level's and the last level's misses, D1mr, DLmr...)."""
    totals: dict[int, dict[str, int]] = {}
    for path in out.glob(f"callgrind.out.{pid}.{part}-*"):
        text = path.read_text("utf-8", "replace")
        names = re.search(r"^events: (.*)$", text, re.MULTILINE)
        found = re.search(r"^(?:summary|totals): (.*)$", text, re.MULTILINE)
        if names is None or found is None:
            raise RuntimeError(f"{path}: no counts")
        totals[int(path.name.rsplit("-", 1)[1])] = dict(zip(names.group(1).split(), map(int, found.group(1).split())))
    return totals


@dataclass
class Counted:
    measured: dict[int, dict[str, int]]  # per thread, by event: over the measured events
    seconds: float  # the measured events' wall time (under valgrind)
    idle: dict[int, dict[str, int]]  # per thread, by event: over IDLE_S with no request
    idle_seconds: float

    def per_event(self, thread: int | None, event: str = "Ir") -> float:
        """Counted per event on `thread` (None: every thread but the loop's), less what the same time idle counts
        (the timers' ticks, the writer's checks), since under valgrind the events take minutes. The idle window's
        own count varies from run to run (18,000 to 64,000 instructions per event's worth of time over four codes
        run together), so both figures are printed, and a difference of a few per cent in either is the same code."""

        def of(counts: dict[int, dict[str, int]]) -> int:
            if thread is not None:
                return counts.get(thread, {}).get(event, 0)
            return sum(c.get(event, 0) for t, c in counts.items() if t != 1)

        rate = of(self.idle) / self.idle_seconds if self.idle_seconds else 0.0
        return (of(self.measured) - rate * self.seconds) / TOTAL


async def _count(root: Path, mix: str, out: Path) -> Counted:
    port = free_port()
    db = out / f"{root.name}-{mix}.db"
    env = {
        **os.environ, "ASSISTANT_WEBHOOK_SECRET": "", "PYTHONPATH": str(root), "PYTHONHASHSEED": "0",
        "PYTHONPERFSUPPORT": "0",
    }  # fmt: skip
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--separate-threads=yes", "--instr-atstart=no",
         *(["--cache-sim=yes"] if CACHE_SIM else []),
         f"--callgrind-out-file={out}/callgrind.out.%p", _python(root), "-m", "assistant", "serve",
         "--config", str(root / "config.toml"), "--db", str(db), "--port", str(port)],
        cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=(out / f"{root.name}-{mix}.log").open("wb"),
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        await asyncio.to_thread(wait_ready, url, START_TIMEOUT_S)
        make = KNOWN[mix]
        warm = await post_load(
            f"{url}/v1/events", _encoded(make, 0, WARMUP).__getitem__, total=WARMUP, concurrency=CONCURRENCY
        )
        bodies = _encoded(make, WARMUP, TOTAL)
        await asyncio.to_thread(_control, proc.pid, "-i", "on")
        await asyncio.to_thread(_control, proc.pid, "-z")
        started = time.monotonic()
        done = await post_load(f"{url}/v1/events", bodies.__getitem__, total=TOTAL, concurrency=CONCURRENCY)
        await asyncio.to_thread(_control, proc.pid, "--dump=measured")
        seconds = time.monotonic() - started
        await asyncio.sleep(IDLE_S / 4)  # the last events' follow-ups through
        await asyncio.to_thread(_control, proc.pid, "-z")
        started = time.monotonic()
        await asyncio.sleep(IDLE_S)
        await asyncio.to_thread(_control, proc.pid, "--dump=idle")
        idle_seconds = time.monotonic() - started
        await asyncio.to_thread(_control, proc.pid, "-i", "off")
        if warm.errors or done.errors:
            raise RuntimeError(f"{root}: {warm.errors} warm-up and {done.errors} measured requests failed")
        return Counted(_totals(out, proc.pid, 1), seconds, _totals(out, proc.pid, 2), idle_seconds)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(300)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _run(out: Path) -> None:
    print(
        f"== instructions per event under callgrind: {TOTAL} events after {WARMUP}, concurrency {CONCURRENCY},"
        f" dumps in {out} =="
    )
    for mix in MIXES:
        if mix not in KNOWN:
            raise SystemExit(f"BENCH_MIXES: unknown {mix} (known: {', '.join(KNOWN)})")
        for root in CODES:
            started = time.monotonic()
            counted = await _count(root, mix, out)
            misses = "".join(
                f"   {name} {sum(counted.per_event(1, e) for e in events):8,.0f}"
                for name, events in (("D1 misses", ("D1mr", "D1mw")), ("LL misses", ("DLmr", "DLmw", "ILmr")))
                if CACHE_SIM
            )
            raw = counted.measured.get(1, {}).get("Ir", 0) / TOTAL
            print(
                f"{mix:<9} {str(root):<28} loop {counted.per_event(1):10,.0f} ({raw:,.0f} before the idle rate)"
                f"   other threads {counted.per_event(None):10,.0f}   instructions/event{misses}"
                f"   ({counted.seconds:.0f} s measured, {time.monotonic() - started:.0f} s in all)",
                flush=True,
            )


def main() -> None:
    wanted = os.environ.get("BENCH_OUT", "")
    if wanted:
        Path(wanted).mkdir(parents=True, exist_ok=True)
        asyncio.run(_run(Path(wanted)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_run(Path(tmp)))


if __name__ == "__main__":
    main()
