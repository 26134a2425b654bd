"""The event loop under a platform's backlog after a start, and while a killed matching worker comes back.

    python -m bench bench_backlog    (BENCH_CONVERSATIONS=5000, BENCH_STALE=5000 (0: no backlog), BENCH_KILLS=2,
                                      BENCH_CLIENTS=16)
    BENCH_BASELINE=/path/to/other/checkout python -m bench bench_backlog   (that code's rows too, in turn)
    BENCH_FOLLOWUPS=off python -m bench bench_backlog   (follow-ups disabled: the backlog's cost without them)

The real service (bench/reload_server.py: `assistant serve` with a probe of its event loop's pauses) on the
shipped library, one matching worker, SQLite, its state filled with BENCH_CONVERSATIONS conversations. Fresh
customer messages of distinct texts keep coming (STREAM_CLIENTS clients without pause) throughout; beside them:

- backlog: BENCH_STALE conversations of a customer message and the agent's reply, stamped an hour ago (past
  `idle_seconds` + `late_grace_s`: each reply is recorded as a `stale` follow-up), posted one event per request
  by BACKLOG_CLIENTS clients, as a platform delivers what it held while the service was down. Printed: how long
  the backlog took, the loop's longest pause and the fresh messages' p99 and slowest while it was sent, against
  the QUIET_S before it; and how long after the backlog's last answer every stale record was written.
- worker killed: the matching worker is SIGKILLed BENCH_KILLS times, QUIET_S + a few seconds apart; from the kill
  until `/readyz` shows it ready again (+ 1 s), the same figures, and how many fresh messages were answered
  without suggestions (`suggestions_withheld`: the service had matched its share of them).

First, in this process (no HTTP: the ingest path, the writer and the follow-up service as the app wires them),
the same backlog with follow-ups on and off: the event loop's and the process's CPU, and the writer's jobs,
the stale records' own cost without the noise of a shared machine's scheduling.

Target: neither adds a pause over a few tens of milliseconds to the service's own, nor moves the p99 far.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from assistant.bus import Bus
from assistant.config import load_config
from assistant.events import parse_event
from assistant.followups.service import FollowupService
from assistant.ingest import Ingestor
from assistant.plugins import Plugins, build_plugin_manager
from assistant.writer import Writer
from bench.bench_reload import _pauses, _wait_up
from bench.bench_webhook import AGENT_TEXT, distinct_text
from bench.load import cpu_use, post_load
from tests.helpers import make_event, replace_config
from tests.service import ROOT, free_port

CONVERSATIONS = int(os.environ.get("BENCH_CONVERSATIONS", "5000"))
STALE = int(os.environ.get("BENCH_STALE", "5000"))
KILLS = int(os.environ.get("BENCH_KILLS", "2"))
BASELINE = os.environ.get("BENCH_BASELINE", "")
FOLLOWUPS = os.environ.get("BENCH_FOLLOWUPS", "on") != "off"  # off: the backlog's cost without its stale records
STREAM_CLIENTS = int(os.environ.get("BENCH_CLIENTS", "16"))
BACKLOG_CLIENTS = 16
QUIET_S = 3.0
OLD_MS = 3600 * 1000  # how long ago the backlog's events are stamped: far past idle_seconds + late_grace_s


@dataclass
class Stream:
    """Fresh customer messages, one client after another answer: when each was sent, how long it took."""

    # (sent, seconds, its suggestions withheld: no worker could match it and the service had matched its share)
    answered: list[tuple[float, float, bool]] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def client(self, session: aiohttp.ClientSession, url: str, number: int) -> None:
        i = number
        while not self.stop.is_set():
            i += STREAM_CLIENTS
            event = {
                "id": f"fresh{i}", "type": "message", "sender": "customer", "ts": int(time.time() * 1000),
                "shop": "s1", "conversation": f"c{i % CONVERSATIONS}", "customer": f"u{i % CONVERSATIONS}",
                "text": distinct_text(10_000 + i),
            }  # fmt: skip
            sent = time.perf_counter()
            async with session.post(f"{url}/v1/events", data=json.dumps(event, ensure_ascii=False).encode()) as resp:
                body = await resp.json()
            self.answered.append((sent, time.perf_counter() - sent, "suggestions_withheld" in body))

    def figures(self, start: float, end: float) -> str:
        took = sorted(t * 1000 for sent, t, _ in self.answered if start <= sent <= end)
        if not took:
            return "no fresh message answered"
        p99 = took[min(len(took) - 1, round(0.99 * (len(took) - 1)))]
        withheld = sum(w for sent, _, w in self.answered if start <= sent <= end)
        return f"fresh messages p99 {p99:6.1f} ms, slowest {took[-1]:6.1f} ms ({len(took)}, {withheld} withheld)"


def _fill_event(j: int) -> dict[str, object]:
    conversation = j % CONVERSATIONS
    base = {"id": f"fill-{j}", "ts": int(time.time() * 1000), "shop": "s1", "conversation": f"c{conversation}",
            "customer": f"u{conversation}"}  # fmt: skip
    if j // CONVERSATIONS == 1:
        return {**base, "type": "message", "sender": "agent", "agent": "a1", "text": AGENT_TEXT}
    return {**base, "type": "message", "sender": "customer", "text": distinct_text(j)}


def _backlog_event(i: int, old_ms: int) -> bytes:
    """The i-th event of the backlog: conversation i // 2's customer message, then its agent's reply."""
    n = i // 2
    base = {"id": f"old-{i}", "ts": old_ms + i, "shop": "s1", "conversation": f"old{n}", "customer": f"v{n}"}
    if i % 2:
        event = {**base, "type": "message", "sender": "agent", "agent": "a1", "text": AGENT_TEXT}
    else:
        event = {**base, "type": "message", "sender": "customer", "text": distinct_text(i)}
    return json.dumps(event, ensure_ascii=False).encode()


def _stale_records(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        found: int = conn.execute("SELECT count(*) FROM followups WHERE state = 'stale'").fetchone()[0]
        return found
    finally:
        conn.close()


def _worker_pid(server: int) -> int | None:
    """The matching worker process of the service `server`."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == server and b"worker_main" in cmdline:
            return int(entry.name)
    return None


async def _workers(session: aiohttp.ClientSession, url: str) -> list[str]:
    async with session.get(f"{url}/readyz") as resp:
        states: list[str] = (await resp.json()).get("matching_workers", [])
        return states


async def _backlog(label: str, url: str, db: Path, pid: int, session: aiohttp.ClientSession, stream: Stream) -> None:
    here, there = time.perf_counter(), (await _pauses(session, url))["now"]
    cpu = cpu_use(pid)
    old_ms = int(time.time() * 1000) - OLD_MS
    sent = await post_load(
        f"{url}/v1/events", lambda i: _backlog_event(i, old_ms), total=2 * STALE, concurrency=BACKLOG_CLIENTS
    )
    took = time.perf_counter() - here
    answered = time.perf_counter()
    while FOLLOWUPS and _stale_records(db) < STALE and time.perf_counter() - answered < 120:
        await asyncio.sleep(0.05)
    recorded = time.perf_counter() - answered
    used = cpu_use(pid) - cpu
    await asyncio.sleep(1)
    during = await _pauses(session, url, there, there + took + 1)
    quiet = await _pauses(session, url, there - QUIET_S, there)
    print(
        f"{label:<9} backlog of {2 * STALE:,} events ({sent.errors} errors) in {took:5.2f} s, {_stale_records(db):,}"
        f" stale records, the last {recorded:5.2f} s after it; longest loop pause {during['longest_ms']:7.1f} ms"
        f" (the {QUIET_S:g} s before: {quiet['longest_ms']:6.1f} ms)\n"
        f"{'':<9}   CPU meanwhile: event loop {used.loop:5.2f} s, other threads {used.threads:5.2f} s,"
        f" worker {used.workers:5.2f} s\n"
        f"{'':<9}   during it: {stream.figures(here, here + took)}\n"
        f"{'':<9}   before it: {stream.figures(here - QUIET_S, here)}",
        flush=True,
    )


async def _kill(label: str, number: int, url: str, pid: int, session: aiohttp.ClientSession, stream: Stream) -> None:
    worker = _worker_pid(pid)
    if worker is None:
        raise RuntimeError(f"{label}: no matching worker found")
    here, there = time.perf_counter(), (await _pauses(session, url))["now"]
    cpu = cpu_use(pid)
    os.kill(worker, signal.SIGKILL)
    # Back once a new process is ready (`/readyz` may still say ready before the service has seen the exit).
    while time.perf_counter() - here < 120:
        if _worker_pid(pid) not in (worker, None) and await _workers(session, url) == ["ready"]:
            break
        await asyncio.sleep(0.05)
    back = time.perf_counter() - here
    used = cpu_use(pid) - cpu
    await asyncio.sleep(1)
    during = await _pauses(session, url, there, there + back + 1)
    quiet = await _pauses(session, url, there - QUIET_S, there)
    print(
        f"{label:<9} worker killed {number}: ready again after {back:5.2f} s; longest loop pause"
        f" {during['longest_ms']:7.1f} ms (the {QUIET_S:g} s before: {quiet['longest_ms']:6.1f} ms); event loop CPU"
        f" {used.loop:5.2f} s\n"
        f"{'':<9}   until it is back: {stream.figures(here, here + back)}\n"
        f"{'':<9}   before the kill:  {stream.figures(here - QUIET_S, here)}",
        flush=True,
    )


async def _row(label: str, root: Path, folder: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config, db = folder / f"{label}.toml", folder / f"{label}.db"
    followups = "" if FOLLOWUPS else "[followups]\nenabled = false\n"
    config.write_text(f'[phrases]\npath = "{ROOT / "phrases"}"\nworkers = 1\n{followups}', encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(root), "ASSISTANT_WEBHOOK_SECRET": ""}
    server = ROOT / "bench" / "reload_server.py"  # by its path: `root` may be a checkout without it
    with (folder / f"{label}.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, str(server), str(config), str(db), str(port)],
            cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    stream = Stream()
    try:
        async with aiohttp.ClientSession() as session:
            await _wait_up(session, url, proc)
            while await _workers(session, url) != ["ready"]:
                await asyncio.sleep(0.1)
            n = CONVERSATIONS * 2
            batches = [
                json.dumps([_fill_event(j) for j in range(s, min(n, s + 200))], ensure_ascii=False).encode()
                for s in range(0, n, 200)
            ]
            await post_load(f"{url}/v1/events", lambda i: batches[i], total=len(batches), concurrency=4)
            clients = [asyncio.create_task(stream.client(session, url, k)) for k in range(STREAM_CLIENTS)]
            try:
                await asyncio.sleep(QUIET_S + 1)
                if STALE:
                    await _backlog(label, url, db, proc.pid, session, stream)
                for number in range(KILLS):
                    await asyncio.sleep(QUIET_S + 1)
                    await _kill(label, number + 1, url, proc.pid, session, stream)
            finally:
                stream.stop.set()
                await asyncio.gather(*clients)
    finally:
        proc.terminate()
        proc.wait(timeout=60)


async def _in_process(folder: Path, enabled: bool) -> None:
    config = replace_config(load_config(ROOT / "config.toml"), "followups", enabled=enabled)
    writer = Writer(folder / f"in-process-{enabled}.db")
    writer.start()
    ingestor = Ingestor(writer)
    plugins = Plugins(config, build_plugin_manager(config))
    await plugins.start()
    ingestor.listeners.append(plugins.on_written)
    service = FollowupService(config, writer, ingestor, Bus(), plugins)
    await service.start()
    old = int(time.time() * 1000) - OLD_MS
    events = []
    for n in range(STALE):
        conversation = {"conversation": f"b{n}", "customer": f"v{n}"}
        events.append(make_event(sender="customer", text="好的我想想", ts=old + 2 * n, **conversation))
        events.append(make_event(sender="agent", agent="a1", text=AGENT_TEXT, ts=old + 2 * n + 1, **conversation))
    parsed = [parse_event(raw, max_text_chars=5000) for raw in events]
    clients = asyncio.Semaphore(BACKLOG_CLIENTS)

    async def post(i: int) -> None:
        async with clients:
            await ingestor.ingest([parsed[i]])

    loop_cpu, cpu, jobs = time.thread_time(), time.process_time(), writer.jobs
    await asyncio.gather(*(post(i) for i in range(len(parsed))))
    while not (service.settled and plugins.settled):
        await asyncio.sleep(0.001)
    print(
        f"in process, follow-ups {'on ' if enabled else 'off'}: {len(parsed):,} events, event loop CPU"
        f" {time.thread_time() - loop_cpu:5.2f} s, process CPU {time.process_time() - cpu:5.2f} s, writer jobs"
        f" {writer.jobs - jobs:,}",
        flush=True,
    )
    await service.stop()
    await plugins.stop()
    await writer.close()


async def _run() -> None:
    rows = [("this", ROOT)] + ([("baseline", Path(BASELINE).resolve())] if BASELINE else [])
    with tempfile.TemporaryDirectory() as tmp:
        for enabled in (False, True) if STALE else ():
            await _in_process(Path(tmp), enabled)
        for label, root in rows:
            await _row(label, root, Path(tmp))


def main() -> None:
    print(
        f"a platform's backlog and a killed matching worker ({CONVERSATIONS:,} conversations, {STALE:,} stale agent"
        f" replies, {STREAM_CLIENTS} clients sending fresh customer messages)"
    )
    print("load average", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    asyncio.run(_run())


if __name__ == "__main__":
    main()
