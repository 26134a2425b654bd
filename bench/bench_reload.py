"""A phrase-library reload on a busy service: the event loop's longest pause while it reloads.

    python -m bench bench_reload                          (BENCH_CONVERSATIONS=20000, BENCH_RELOADS=3)
    BENCH_PHRASES=20000 python -m bench bench_reload      (the shipped library and that many synthetic phrases,
                                                          in BENCH_FILES=40 files, one of them edited before each
                                                          reload)
    BENCH_BASELINE=/path/to/other/checkout python -m bench bench_reload   (that code's rows too, in turn)
    BENCH_ROUNDS=2 …                                      (this code's row and the baseline's, in turn, twice)

The real service (bench/reload_server.py: `assistant serve` with a probe task that notes how late the event loop
wakes it) on a copy of the shipped phrase library, one matching worker, SQLite. Its state is first filled with
BENCH_CONVERSATIONS conversations (three events each: a reload used to collect the whole heap, and the heap grows
with them); then events of the product mix keep coming (16 clients without pause) while `POST /v1/admin/reload`
is sent BENCH_RELOADS times, five seconds apart or more. For each reload: how long it took, and the loop's
longest pause from when it was sent to a second after it answered; beside it, the longest pause of the three
seconds before it (no reload: the machine's and the service's own noise), the slowest event answered in each, and the
longest collection of the cyclic collector in each (the loop's or a thread's: both wait for it), and the events'
99th percentile in each (their ratio: what a reload adds to the service's own latency); and the service process's
own CPU over the reload (its threads, not its worker's) and its resident memory after it.
Target: a reload adds no pause over a few tens of milliseconds to the service's own.

A row that fails (the service did not start, an event unanswered for CLIENT_TIMEOUT_S, a batch refused) keeps its
folder: its path is printed with the tail of the service's log and the stacks of the service's tasks, as the
service answered them then (the other rows still run).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.bench_matcher import _synthetic_tables
from bench.bench_webhook import AGENT_TEXT, distinct_text
from bench.load import post_load
from tests.service import ROOT, free_port

CONVERSATIONS = int(os.environ.get("BENCH_CONVERSATIONS", "20000"))
RELOADS = int(os.environ.get("BENCH_RELOADS", "3"))
PHRASES = int(os.environ.get("BENCH_PHRASES", "0"))
FILES = int(os.environ.get("BENCH_FILES", "40"))  # the synthetic phrases' files: one is edited before each reload
BASELINE = os.environ.get("BENCH_BASELINE", "")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "1"))
CLIENTS = 16
QUIET_S = 3.0  # the span before each reload, without one, to compare with
TOKEN = "bench-admin"
CLIENT_TIMEOUT_S = 120.0  # an event unanswered this long fails the row (aiohttp's own default: 300 s)
TAIL = 60  # lines of the service's log printed when a row fails
# A reload may take minutes on a busy machine (a worker's own load of 20,000 phrases waited 284 s of 344 for a processor
# at load average 20): it is not an event's answer.
RELOAD_TIMEOUT = aiohttp.ClientTimeout(total=900)
IDLE_S = 86_400  # the services' follow-ups' idle time: none comes due during a run


def _event(i: int, prefix: str, conversation: int) -> dict[str, object]:
    kind = i % 10
    base = {
        "id": f"{prefix}-{i}",
        "ts": int(time.time() * 1000),
        "shop": "s1",
        "conversation": f"c{conversation}",
        "customer": f"u{conversation}",
    }
    if kind < 5:
        return {**base, "type": "message", "sender": "customer", "text": distinct_text(i)}
    if kind < 9:
        return {**base, "type": "message", "sender": "agent", "agent": "a1", "text": AGENT_TEXT}
    return {**base, "type": "order_created", "order": f"{prefix}-o{i}", "amount": 99.0}


def _library(folder: Path) -> Path:
    """A copy of the shipped library, with PHRASES synthetic phrases beside it (read with the shipped scorer)."""
    library = folder / "phrases"
    shutil.copytree(ROOT / "phrases", library)
    phrases = [p for _, table in _synthetic_tables(PHRASES) for p in table["phrase"]] if PHRASES else []
    per = max(1, -(-len(phrases) // FILES))  # none (BENCH_PHRASES unset): the shipped library alone
    for n in range(0, len(phrases), per):
        lines = [f'group = "合成{n // per}"', ""]
        for phrase in phrases[n : n + per]:
            lines.append("[[phrase]]")
            lines += [f"{key} = {json.dumps(value, ensure_ascii=False)}" for key, value in phrase.items()]
            lines.append("")
        (library / f"synthetic{n // per:03d}.toml").write_text("\n".join(lines), encoding="utf-8")
    return library


def _edit(library: Path, number: int) -> None:
    """A shop's edit of one file before a reload: a phrase's text changed (the files in turn)."""
    files = sorted(library.glob("synthetic*.toml"))
    if files:
        path = files[number % len(files)]
        path.write_text(path.read_text(encoding="utf-8").replace("~", f"~{number}", 1), encoding="utf-8")


async def _wait_up(session: aiohttp.ClientSession, url: str, proc: subprocess.Popen[bytes]) -> None:
    """Until the service answers and its matching worker is ready: a reload sent while the worker still loads is
    not loaded by it (a new process loads it after), and measures the service's build alone (at a load average of
    20-27 a 20,000-phrase worker was still loading after the fill, and the reloads took 0.1-1.3 s)."""
    deadline = time.monotonic() + 600  # a 20,000-phrase library took over 120 s to load at a load average of 20
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            async with session.get(f"{url}/readyz") as resp:
                if (await resp.json()).get("matching_workers") == ["ready"]:
                    return
        except (aiohttp.ClientError, ValueError):
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not start, or its matching worker did not get ready")


async def _pauses(
    session: aiohttp.ClientSession, url: str, since: float = 0.0, until: float = 1e18
) -> dict[str, float]:
    async with session.get(f"{url}/bench/pauses", params={"since": str(since), "until": str(until)}) as resp:
        found: dict[str, float] = await resp.json()
        return found


def _config(folder: Path, label: str) -> Path:
    """A row's config: its copy of the library, one matching worker, and no follow-up due during the run.

    The fill arms a follow-up in each of its conversations at once; on a busy machine (a fill of minutes) they came
    due among the reloads, 20,000 at once, each scanning the whole library on the writer's thread (5 ms of CPU a scan
    at 20,000 phrases, two or more a follow-up): every event waited behind them, one unanswered for 120 s, and the
    row failed."""
    config = folder / f"{label}.toml"
    config.write_text(
        f'[phrases]\npath = "{_library(folder / label)}"\nworkers = 1\n\n[followups]\nidle_seconds = {IDLE_S}\n',
        encoding="utf-8",
    )
    return config


async def _row(label: str, root: Path, folder: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = _config(folder, label)
    env = {**os.environ, "PYTHONPATH": str(root), "ASSISTANT_ADMIN_TOKEN": TOKEN, "ASSISTANT_WEBHOOK_SECRET": ""}
    server = ROOT / "bench" / "reload_server.py"  # by its path: `root` may be a checkout without it
    command = [sys.executable, str(server), str(config), str(folder / f"{label}.db"), str(port)]
    with (folder / f"{label}.log").open("ab") as log:
        proc = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_S)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            await _wait_up(session, url, proc)
            await _measure(label, url, session, folder / label / "phrases", folder / f"{label}.log", proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:  # stuck: its log says where (the row's own failure is the one raised)
            proc.kill()
            proc.wait()


async def _tasks(session: aiohttp.ClientSession, url: str, log: Path) -> None:
    """The stacks of the service's tasks, as it answers them now, added to its log (a row failed)."""
    try:
        async with session.get(f"{url}/bench/tasks", timeout=aiohttp.ClientTimeout(total=30)) as resp:
            stacks = await resp.text()
    except (aiohttp.ClientError, TimeoutError) as exc:
        stacks = f"(the service did not answer its tasks: {exc!r})\n"
    with log.open("a", encoding="utf-8") as out:
        out.write(f"--- the service's tasks when the row failed ---\n{stacks}")


def _failed(label: str, folder: Path, exc: BaseException) -> None:
    """A row failed: what it was, where its folder is kept, and the tail of the service's log."""
    log = folder / f"{label}.log"
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines() if log.exists() else []
    print(f"{label:<9} FAILED: {exc!r}; its folder is kept: {folder} (the service's log: {log})", flush=True)
    print("\n".join(f"  | {line}" for line in lines[-TAIL:]), flush=True)


def _cpu_s(pid: int) -> float:
    """The process's CPU time so far (user and system, every thread; its children's not)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    """The process's resident memory (MiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _measure(label: str, url: str, session: aiohttp.ClientSession, library: Path, log: Path, pid: int) -> None:
    n = CONVERSATIONS * 3
    batches = [
        json.dumps([_event(j, "fill", j % CONVERSATIONS) for j in range(s, min(n, s + 200))], ensure_ascii=False)
        for s in range(0, n, 200)
    ]
    filled = await post_load(f"{url}/v1/events", lambda i: batches[i].encode(), total=len(batches), concurrency=4)
    if filled.errors:
        raise RuntimeError(f"{label}: {filled.errors} of {len(batches)} batches failed")
    answered: list[tuple[float, float]] = []  # (sent, seconds to answer), on this process's clock
    stop = asyncio.Event()

    async def client(number: int) -> None:
        i = number
        while not stop.is_set():
            i += CLIENTS
            body = json.dumps(_event(i, f"live{number}", i % CONVERSATIONS), ensure_ascii=False).encode()
            sent = time.perf_counter()
            try:
                async with session.post(f"{url}/v1/events", data=body) as resp:
                    await resp.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                waited = time.perf_counter() - sent
                await _tasks(session, url, log)  # now, while the request may still wait in the service
                raise RuntimeError(
                    f"{label}: event live{number}-{i}, sent {sent - started:.1f} s into the run, failed after"
                    f" {waited:.1f} s: {exc!r}"
                ) from exc
            answered.append((sent, time.perf_counter() - sent))

    def slowest_ms(start: float, end: float) -> float:
        return max((took for sent, took in answered if start <= sent <= end), default=0.0) * 1000

    def p99_ms(start: float, end: float) -> float:
        took = sorted(took for sent, took in answered if start <= sent <= end)
        return took[int(len(took) * 0.99)] * 1000 if took else 0.0

    started = time.perf_counter()
    clients = [asyncio.create_task(client(k)) for k in range(CLIENTS)]
    try:
        await asyncio.sleep(QUIET_S + 1)
        for number in range(RELOADS):
            _edit(library, number)
            here, there = time.perf_counter(), (await _pauses(session, url))["now"]
            cpu = _cpu_s(pid)
            async with session.post(
                f"{url}/v1/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=RELOAD_TIMEOUT
            ) as resp:
                ok = resp.status == 200
            took = time.perf_counter() - here
            cpu = _cpu_s(pid) - cpu
            await asyncio.sleep(1)
            for task in clients:  # a client's event failed: the row fails (its stacks are in the log)
                if task.done() and task.exception() is not None:
                    raise RuntimeError(f"{label}: a client failed") from task.exception()
            span = took + 1
            during = await _pauses(session, url, there, there + span)
            quiet = await _pauses(session, url, there - QUIET_S, there)
            print(
                f"{label:<9} reload {number + 1} ({here - started:.0f} s in): {'ok' if ok else 'REFUSED'} in {took:5.2f} s;"
                f" longest loop pause {during['longest_ms']:7.1f} ms (the {QUIET_S:g} s before:"
                f" {quiet['longest_ms']:6.1f} ms); slowest event {slowest_ms(here, here + span):7.1f} ms"
                f" ({slowest_ms(here - QUIET_S, here):6.1f} ms); events' p99 {p99_ms(here, here + span):6.1f} ms"
                f" ({p99_ms(here - QUIET_S, here):5.1f} ms: × {p99_ms(here, here + span) / max(p99_ms(here - QUIET_S, here), 1e-3):.1f});"
                f" longest collection {during['collection_ms']:6.1f} ms"
                f" (generation {during['generation']:.0f}; before: {quiet['collection_ms']:5.1f} ms);"
                f" the service's CPU over the reload {cpu:5.2f} s, its memory after {_rss_mb(pid):6.0f} MiB",
                flush=True,
            )
            await asyncio.sleep(QUIET_S + 1)  # the next reload's quiet span begins after this one's
    finally:
        stop.set()
        await asyncio.gather(*clients)


async def _run() -> bool:
    """Each row in turn, ROUNDS times; False when one failed (its folder kept)."""
    rows = [("this", ROOT)] + ([("baseline", Path(BASELINE).resolve())] if BASELINE else [])
    ok = True
    for round_number in range(ROUNDS):
        for name, root in rows:
            label = name if ROUNDS == 1 else f"{name}{round_number + 1}"
            folder = Path(tempfile.mkdtemp(prefix=f"bench_reload-{label}-"))
            try:
                await _row(label, root, folder)
            except Exception as exc:
                _failed(label, folder, exc)
                ok = False
                continue
            shutil.rmtree(folder, ignore_errors=True)
    return ok


def main() -> None:
    library = f"the shipped library + {PHRASES:,} synthetic phrases" if PHRASES else "the shipped library"
    print(f"reload under load ({library}; {CONVERSATIONS:,} conversations, {CLIENTS} clients sending events)")
    print("load average", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    if not asyncio.run(_run()):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
