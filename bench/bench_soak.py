"""A long day in one process: does anything grow without bound?

    python -m bench bench_soak                     (BENCH_EVENTS=40000 events by default)
    BENCH_BASELINE=/path/to/other/checkout python -m bench bench_soak   (that code too, in turn, in the same run)
    BENCH_FOLLOWUPS=suggest python -m bench bench_soak   (follow-ups prompted to the agent, not sent)
    BENCH_POSTGRESQL=1 python -m bench bench_soak        (each service on its own database of a throwaway cluster)
    BENCH_EVENTS=160000 BENCH_WAVE=200 BENCH_CHATWOOT=2 python -m bench bench_soak   (past every bound: 53,000
                                                          conversations, half of them Chatwoot's; docs/scaling.md)

A real service (a subprocess, SQLite log, one matching worker, idle_seconds = 2, follow-ups sent through
webhook_out and the Chatwoot hook to servers of this process on 127.0.0.1) is driven through a realistic mix,
wave after wave of conversations that open and close: a buyer asks (suggested, typed), the agent answers
(a follow-up timer armed), some buyers answer again (cancelled) and the agent again, some order and some pay;
the idle ones get their follow-up two seconds later, about half of them are closed, the others just go quiet,
as most do. A fifth of the conversations come through Chatwoot's webhook instead (BENCH_CHATWOOT=N: one in N),
and half of the others' first messages name the item the buyer looks at (a shop of many items: each its own).
Meanwhile panels connect to the live feed and leave, the phrase library is reloaded, the report and the daily log
are read.

On PostgreSQL (BENCH_POSTGRESQL=1) each service logs to its own database of a cluster started for the run
(tests/pgcluster.py, with pg_stat_statements loaded: each service's statements per event are printed, reads and the
rest), and the samples add the server's side: the service's sessions (pg_stat_activity), their
own memory (RssAnon in /proc/PID/status: what a session keeps of its own, plans and caches, the shared
buffers left out) and the database's size; the service's pools and prepared statements come with its sizes.

Each service's events per second while driven and its posts' answer times (p50, p99) are printed.
Every BENCH_SAMPLE events it samples, from outside, the service's resident memory (and its matching
workers'), open file descriptors and threads (/proc), and from inside, `GET /v1/admin/sizes`: the event
loop's tasks and the size of every map keyed by conversation, buyer, agent, panel or request, with the bound
each keeps to. After the warm-up (the first quarter) it prints each one's growth per 10,000 events, and
fails (exit 1) when a map without a bound of its own, the tasks, the threads or the descriptors keep growing:
more than BENCH_FLOOR (50) per 10,000 events after the warm-up, and still growing in the last half at least
half as fast as in the first. A map with a bound may grow up to it (a cache filling); past it, that fails too.
Resident memory and the log's size (its -wal too) are printed, not judged: the bounded caches (20,000
conversations' states, about 10 kB each) fill for longer than the default soak runs, and the log keeps every
event; when some bounded maps filled during the run, it also prints memory's growth per 10,000 events while they
filled and once all of them were full (the long run above passes every bound: 20,000 Chatwoot conversations
at about 120,000 events).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
from aiohttp import web
from aiohttp.test_utils import TestServer

from bench.bench_webhook import AGENT_TEXT, TEXTS, distinct_text
from bench.load import wait_ready
from tests.pgcluster import Cluster
from tests.service import ROOT, free_port

TOTAL = int(os.environ.get("BENCH_EVENTS", "40000"))
SAMPLE = int(os.environ.get("BENCH_SAMPLE", "2000"))  # events between samples
FLOOR = float(os.environ.get("BENCH_FLOOR", "50"))  # growth per 10,000 events that counts as growing
BASELINE = os.environ.get("BENCH_BASELINE", "")
MODE = os.environ.get("BENCH_FOLLOWUPS", "send")  # or "suggest": the agent is prompted, and never sends it here
WAVE = int(os.environ.get("BENCH_WAVE", "100"))  # conversations opened together
CHATWOOT_EVERY = int(os.environ.get("BENCH_CHATWOOT", "5"))  # one conversation in so many comes through Chatwoot
POSTGRESQL = os.environ.get("BENCH_POSTGRESQL", "") not in ("", "0")
PG_PASSWORD_ENV = "BENCH_PG_PASSWORD"
CONCURRENCY = 16
START_TIMEOUT_S = 300.0  # a start on a machine busy with other work
# Printed, not judged: memory fills the bounded caches for longer than a soak runs; the log grows with its events
# (its -wal is folded back into it at each checkpoint, up to SQLite's limit).
SHOWN = ("rss_mib", "workers_rss_mib", "log_mib", "wal_mib", "pg.private_mib", "pg.session_max_mib")
CHATWOOT_PAYLOAD = json.loads((ROOT / "tests/data/chatwoot/contact_message.json").read_text("utf-8"))
RESOLVED_PAYLOAD = json.loads((ROOT / "tests/data/chatwoot/status_resolved.json").read_text("utf-8"))


def config_text(receiver: str, chatwoot: str, database: str = "") -> str:
    store = f'[store]\nurl = "{database}"\npassword_env = "{PG_PASSWORD_ENV}"\n\n' if database else ""
    return (
        f'{store}[phrases]\npath = "{ROOT / "phrases"}"\nworkers = 1\n\n'
        "[followups]\nidle_seconds = 2\nlate_settle_s = 0\n"
        f'mode = "{MODE}"\n\n'
        '[hooks]\nenabled = ["webhook_out", "chatwoot"]\n\n'
        f'[hooks.webhook_out]\nurl = "{receiver}"\n\n'
        f'[hooks.chatwoot]\nallow_unsigned = true\nurl = "{chatwoot}"\n'
    )


class Platforms:
    """The follow-ups' receivers: webhook_out's and a Chatwoot API, both answering every post at once."""

    def __init__(self) -> None:
        self.posts = 0
        self.server: TestServer | None = None

    async def start(self) -> Platforms:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._any)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return self

    async def _any(self, request: web.Request) -> web.Response:
        await request.read()
        self.posts += request.method == "POST"
        return web.json_response({"id": self.posts, "payload": []})

    def url(self, path: str) -> str:
        assert self.server is not None
        return str(self.server.make_url(path))

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()


def _now_ms() -> int:
    return int(time.time() * 1000)


def _event(kind: str, conv: str, n: int, **fields: Any) -> dict[str, Any]:
    # Stamped now, as a platform sends live events (an old stamp would be a back-fill: no timer armed).
    return {"id": f"{conv}-{n}", "type": kind, "ts": _now_ms(), "shop": "s1", "conversation": conv,
            "customer": f"b-{conv}", **fields}  # fmt: skip


def _customer(conv: str, n: int, text: str, item: str | None = None) -> dict[str, Any]:
    return _event("message", conv, n, sender="customer", text=text, **({"item": item} if item else {}))


def _agent(conv: str, n: int, agent: str) -> dict[str, Any]:
    return _event("message", conv, n, sender="agent", agent=agent, text=AGENT_TEXT)


def _resolved(conv: int) -> dict[str, Any]:
    """Chatwoot's word that conversation `conv` was resolved."""
    payload: dict[str, Any] = json.loads(json.dumps(RESOLVED_PAYLOAD))
    payload.update(id=conv, timestamp=int(time.time()), updated_at=time.time())
    payload["meta"]["sender"]["id"] = 500_000 + conv
    return payload


def _chatwoot(conv: int, n: int, text: str, *, incoming: bool = True) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(json.dumps(CHATWOOT_PAYLOAD))
    payload.update(id=conv * 100 + n, content=text, created_at=time.time())
    payload["conversation"]["id"] = conv
    payload["conversation"]["meta"]["sender"]["id"] = 500_000 + conv
    if not incoming:
        payload.update(message_type="outgoing", sender={"id": 7, "name": "张美玲", "type": "user"})
    return payload


@dataclass
class Sample:
    events: int
    values: dict[str, float]
    bounds: dict[str, int]


@dataclass
class Soak:
    """One service under the soak: its address, process and what was sampled."""

    label: str
    url: str
    pid: int
    db: Path
    database: str = ""  # its PostgreSQL database's name (empty: the SQLite file `db`)
    samples: list[Sample] = field(default_factory=list)
    events: int = 0
    errors: int = 0
    refused: Counter[tuple[str, int]] = field(default_factory=Counter)  # (route, status) of the posts not 200
    waves: int = 0
    driving_s: float = 0.0  # the time its waves took, the pause that spaces them out left out
    latencies_ms: list[float] = field(default_factory=list)  # each post's, from its send to its answer read


def _proc(pid: int) -> dict[str, float]:
    """Resident memory (MiB), descriptors and threads of the process; its children's resident memory."""
    values = {"rss_mib": _rss(pid), "fds": len(os.listdir(f"/proc/{pid}/fd")),
              "os_threads": len(os.listdir(f"/proc/{pid}/task"))}  # fmt: skip
    children = 0.0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                children += sum(_rss(int(child)) for child in f.read().split())
        except FileNotFoundError:  # a thread or child ended meanwhile
            continue
    values["workers_rss_mib"] = children
    return values


def _rss(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


def _private_mib(pid: int) -> float:
    """A process's own memory (MiB): its anonymous pages (RssAnon), not the shared memory it maps (a PostgreSQL
    session's shared buffers, counted as private by smaps for a page no other process touched)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):  # the session ended meanwhile
        pass
    return 0.0


def _server(admin: psycopg.Connection[Any], database: str) -> dict[str, float]:
    """The PostgreSQL side of a service: its sessions (the sampler's own left out), their private memory, the
    database's size."""
    sessions = admin.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (database,)
    ).fetchall()
    private = [_private_mib(int(pid)) for (pid,) in sessions]
    (size,) = admin.execute("SELECT pg_database_size(%s)", (database,)).fetchone() or (0,)
    return {"pg.sessions": len(sessions), "pg.private_mib": sum(private),
            "pg.session_max_mib": max(private, default=0.0), "log_mib": size / 2**20}  # fmt: skip


async def _sample(session: aiohttp.ClientSession, soak: Soak, admin: psycopg.Connection[Any] | None = None) -> None:
    values = _proc(soak.pid)
    if admin is not None:
        values.update(await asyncio.to_thread(_server, admin, soak.database))
    else:
        wal = soak.db.with_name(soak.db.name + "-wal")
        values["log_mib"] = soak.db.stat().st_size / 2**20
        values["wal_mib"] = wal.stat().st_size / 2**20 if wal.exists() else 0.0
    bounds: dict[str, int] = {}
    async with session.get(f"{soak.url}/v1/admin/sizes") as resp:
        if resp.status == 200:  # a service without the route (older code) is sampled from outside only
            body = await resp.json()
            values.update({f"maps.{k}" if "." in k else k: v for k, v in body["sizes"].items()})
            bounds = {f"maps.{k}": v for k, v in body.get("bounds", {}).items()}
        else:
            await resp.read()
    soak.samples.append(Sample(soak.events, values, bounds))


async def _post(session: aiohttp.ClientSession, soak: Soak, path: str, body: Any) -> None:
    started = time.perf_counter()
    async with session.post(f"{soak.url}{path}", json=body) as resp:
        await resp.read()
        soak.latencies_ms.append((time.perf_counter() - started) * 1000)
        if resp.status != 200:
            soak.errors += 1
            soak.refused[(path, resp.status)] += 1
    soak.events += 1


async def _each(items: list[Any], act: Callable[[Any], Awaitable[None]]) -> None:
    queue = iter(items)

    async def worker() -> None:
        for item in queue:
            await act(item)

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


async def _wave(session: aiohttp.ClientSession, soak: Soak, w: int) -> None:
    """A wave of conversations: asked, answered, some answered again, orders, payments, Chatwoot's share."""
    label = soak.label[:1]
    convs = [f"{label}{w}-{i}" for i in range(WAVE)]
    plain = [c for i, c in enumerate(convs) if i % CHATWOOT_EVERY]
    chatwoot = [1 + w * WAVE + i for i in range(WAVE) if i % CHATWOOT_EVERY == 0]  # Chatwoot's ids start at 1

    def text(n: int) -> str:  # most texts the labeled set's, one in four never seen before
        return distinct_text(w * WAVE * 4 + n) if n % 4 == 0 else TEXTS[(w * 7 + n) % len(TEXTS)]

    def item(n: int) -> str | None:  # half the buyers come from an item's page: each conversation its own item
        return f"{600_000_000_000 + w * WAVE + n}" if n % 2 else None

    await _each([(c, i) for i, c in enumerate(plain)], lambda a: _post(session, soak, "/v1/events", _customer(a[0], 1, text(a[1]), item(a[1]))))  # fmt: skip
    await _each(chatwoot, lambda c: _post(session, soak, "/v1/chatwoot", _chatwoot(c, 1, text(c))))
    await _each(plain, lambda c: _post(session, soak, "/v1/events", _agent(c, 2, f"agent{hash(c) % 8}")))
    await _each(chatwoot, lambda c: _post(session, soak, "/v1/chatwoot", _chatwoot(c, 2, AGENT_TEXT, incoming=False)))  # fmt: skip
    again = plain[::3]
    await _each(again, lambda c: _post(session, soak, "/v1/events", _customer(c, 3, TEXTS[hash(c) % len(TEXTS)])))
    await _each(again, lambda c: _post(session, soak, "/v1/events", _agent(c, 4, "agent1")))
    ordered = plain[1::4]
    await _each(ordered, lambda c: _post(session, soak, "/v1/events", _event("order_created", c, 5, order=f"o-{c}", amount=99.0)))  # fmt: skip
    paid = ordered[::2]
    await _each(paid, lambda c: _post(session, soak, "/v1/events", _event("order_paid", c, 6, order=f"o-{c}", amount=99.0)))  # fmt: skip


async def _close(session: aiohttp.ClientSession, soak: Soak, w: int) -> None:
    """An earlier wave, its follow-ups fired: about half its conversations closed, the others left quiet."""
    label = soak.label[:1]
    plain = [f"{label}{w}-{i}" for i in range(WAVE) if i % CHATWOOT_EVERY][1::2]
    await _each(plain, lambda c: _post(session, soak, "/v1/events", _event("conversation_closed", c, 7)))
    chatwoot = [1 + w * WAVE + i for i in range(0, WAVE, CHATWOOT_EVERY)][::2]
    await _each(chatwoot, lambda c: _post(session, soak, "/v1/chatwoot", _resolved(c)))


async def _panel(session: aiohttp.ClientSession, soak: Soak, agent: str) -> None:
    """A panel connected for a moment (its first lines read), then gone."""
    try:
        async with session.get(f"{soak.url}/v1/stream", params={"agent": agent}, timeout=aiohttp.ClientTimeout(total=2)) as resp:  # fmt: skip
            await resp.content.readline()
    except (TimeoutError, aiohttp.ClientError):
        pass  # the stream never ends by itself: the timeout is how a panel leaves


async def _reads(session: aiohttp.ClientSession, soak: Soak, w: int) -> None:
    """Now and then what supervisors and the shop's engineer do: a reload, the report, the daily log."""
    if w % 20 == 10:
        async with session.post(f"{soak.url}/v1/admin/reload") as resp:
            await resp.read()
    if w % 10 == 5:
        for path in ("/v1/reports/daily", "/logs/daily"):
            async with session.get(f"{soak.url}{path}") as resp:
                await resp.read()


async def _drive(soaks: list[Soak], admin: psycopg.Connection[Any] | None) -> None:
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=64)) as session:
        for soak in soaks:
            await _sample(session, soak, admin)
        panels: set[asyncio.Task[None]] = set()
        w = 0
        while any(s.events < TOTAL for s in soaks):
            for soak in soaks:  # the services take turns, wave by wave, so a busy minute hits both
                if soak.events >= TOTAL:
                    continue
                before = soak.events
                started = time.monotonic()
                task = asyncio.create_task(_panel(session, soak, f"agent{w % 8}"))
                panels.add(task)
                task.add_done_callback(panels.discard)
                await _wave(session, soak, w)
                if w >= 2:
                    await _close(session, soak, w - 2)
                await _reads(session, soak, w)
                soak.driving_s += time.monotonic() - started
                # A wave's follow-ups come due two seconds after its agent's answer: the next but one closes it.
                await asyncio.sleep(max(0.0, 1.2 - (time.monotonic() - started)))
                soak.waves += 1
                if soak.events // SAMPLE != before // SAMPLE:
                    await _sample(session, soak, admin)
            w += 1
        await asyncio.gather(*panels)
        await asyncio.sleep(4)  # the last follow-ups fire and settle
        for soak in soaks:
            await _sample(session, soak, admin)


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares growth per event."""
    if len(points) < 2:
        return 0.0
    mx = sum(x for x, _ in points) / len(points)
    my = sum(y for _, y in points) / len(points)
    var = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / var if var else 0.0


def _pct(values: list[float], pct: float) -> float:
    """The `pct` percentile of `values` (nearest rank); nan when there are none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def judge(soak: Soak) -> list[str]:
    """Print each figure's growth per 10,000 events after the warm-up; the names of those growing without bound."""
    after = soak.samples[len(soak.samples) // 4 :]
    half = len(after) // 2
    names = sorted({name for s in soak.samples for name in s.values})
    bounds = soak.samples[-1].bounds
    growing: list[str] = []
    refused = ", ".join(f"{n} {status} on {path}" for (path, status), n in sorted(soak.refused.items()))
    print(f"  {soak.label}: {soak.events:,} events ({soak.errors} not 200{': ' if refused else ''}{refused}),"
          f" {soak.waves} waves of {WAVE} conversations, {soak.events / max(soak.driving_s, 1e-9):.1f} events/s"
          f" while driving it; posts answered in p50 {_pct(soak.latencies_ms, 50):.1f} ms, p99"
          f" {_pct(soak.latencies_ms, 99):.1f} ms")  # fmt: skip
    print(f"  {'':<36} {'start':>9} {'warm':>9} {'end':>9} {'/10k ev':>9} {'1st half':>9} {'2nd half':>9}  bound")
    for name in names:
        series = [(float(s.events), s.values[name]) for s in after if name in s.values]
        if not series:
            continue
        per10k = _slope(series) * 10_000
        first, second = _slope(series[: half + 1]) * 10_000, _slope(series[half:]) * 10_000
        bound = bounds.get(name)
        end = series[-1][1]
        unbounded = name not in SHOWN and bound is None
        verdict = ""
        if unbounded and per10k > FLOOR and second > FLOOR and second >= first / 2:
            verdict = "  GROWS WITHOUT BOUND"
            growing.append(name)
        elif bound is not None and end > bound:
            verdict = "  PAST ITS BOUND"
            growing.append(name)
        start = soak.samples[0].values.get(name, float("nan"))
        print(
            f"  {name:<36} {start:>9.1f} {series[0][1]:>9.1f} {end:>9.1f} {per10k:>+9.1f} {first:>+9.1f}"
            f" {second:>+9.1f}  {'' if bound is None else f'{bound:,}'}{verdict}"
        )
    _memory_once_full(soak, after)
    return growing


def _memory_once_full(soak: Soak, after: list[Sample]) -> None:
    """Resident memory's growth per 10,000 events while the bounded maps that reached their bound filled, and
    once every one of them had (printed when some did, with samples on both sides)."""
    filled = [
        next((s.events for s in soak.samples if s.values.get(name, 0) >= bound), None)
        for name, bound in soak.samples[-1].bounds.items()
        if bound and soak.samples[-1].values.get(name, 0) >= bound
    ]
    if not filled:
        return
    full = max(e for e in filled if e is not None)
    for name in ("rss_mib", "workers_rss_mib", "pg.private_mib"):
        before = [(float(s.events), s.values[name]) for s in after if s.events <= full and name in s.values]
        since = [(float(s.events), s.values[name]) for s in soak.samples if s.events >= full and name in s.values]
        if len(before) >= 2 and len(since) >= 2:
            print(f"  {name}: {_slope(before) * 10_000:+.1f} per 10,000 events while the bounded maps filled,"
                  f" {_slope(since) * 10_000:+.1f} once the {len(filled)} that reached their bound were full (from {full:,} events,"
                  f" {since[0][1]:.1f} -> {since[-1][1]:.1f})")  # fmt: skip


def _start(root: Path, config: Path, db: Path, password: str = "") -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(root), "ASSISTANT_WEBHOOK_SECRET": "", "ASSISTANT_OUTBOUND_SECRET": "soak",
           "CHATWOOT_WEBHOOK_SECRET": "", "CHATWOOT_API_TOKEN": "soak", PG_PASSWORD_ENV: password}  # fmt: skip
    for name in ("ASSISTANT_ADMIN_TOKEN", "ASSISTANT_SUPERVISOR_TOKEN", "ASSISTANT_AGENT_TOKEN"):
        env.pop(name, None)  # every role open: the soak reads the admin and supervisor routes too
    with (db.parent / f"{db.stem}.log").open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "assistant", "serve", "--config", str(config), "--port", str(port),
             *([] if password else ["--db", str(db)])],  # --db would stand for [store] url
            cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, START_TIMEOUT_S)
    return proc, url


def _followups(soak: Soak, cluster: Cluster | None) -> list[tuple[str, int]]:
    """The service's follow-ups by state, as its log holds them."""
    sql = "SELECT state, count(*) FROM followups GROUP BY state"
    if cluster is None:
        with sqlite3.connect(soak.db) as conn:
            return conn.execute(sql).fetchall()
    with psycopg.connect(cluster.url(soak.database), password=cluster.password) as pgconn:
        return [(str(state), int(n)) for state, n in pgconn.execute(sql).fetchall()]


def _count_statements(cluster: Cluster) -> None:
    """pg_stat_statements loaded into the cluster (a restart): the statements each service's database ran."""
    with psycopg.connect(cluster.url("postgres"), password=cluster.password, autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
    cluster.stop_server()
    cluster.start_server()
    with psycopg.connect(cluster.url("postgres"), password=cluster.password, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")


def _statements(soak: Soak, cluster: Cluster) -> str:
    """The statements the service's database ran per event: reads (SELECT, not FOR UPDATE) and the rest."""
    sql = (
        "SELECT coalesce(sum(calls) FILTER (WHERE query ~* '^\\s*select' AND query !~* 'for update'), 0),"
        " coalesce(sum(calls) FILTER (WHERE NOT (query ~* '^\\s*select' AND query !~* 'for update')), 0)"
        " FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = %s"
    )
    with psycopg.connect(cluster.url("postgres"), password=cluster.password) as conn:
        reads, rest = conn.execute(sql, (soak.database,)).fetchone() or (0, 0)
    events = max(soak.events, 1)
    return (f"statements per event (pg_stat_statements): {int(reads) / events:.2f} reads (SELECT),"
            f" {int(rest) / events:.2f} others (writes, BEGIN/COMMIT, SAVEPOINT, SET, LISTEN)")  # fmt: skip


async def _run() -> int:
    platforms = await Platforms().start()
    procs: list[subprocess.Popen[bytes]] = []
    soaks: list[Soak] = []
    cluster = Cluster() if POSTGRESQL else None
    admin: psycopg.Connection[Any] | None = None
    statements: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp_name, contextlib.ExitStack() as stack:
        tmp = Path(tmp_name)
        if cluster is not None:
            stack.callback(cluster.stop)
        try:
            if cluster is not None:
                await asyncio.to_thread(cluster.start)
                await asyncio.to_thread(_count_statements, cluster)
                admin = psycopg.connect(cluster.url("postgres"), password=cluster.password, autocommit=True)
            roots = [("this code", ROOT)] + ([("baseline", Path(BASELINE))] if BASELINE else [])
            for label, root in roots:
                db = tmp / f"{label[0]}.db"
                location = cluster.database(f"soak_{label[0]}") if cluster is not None else None
                config = tmp / f"{label[0]}.toml"
                text = config_text(platforms.url("/followups"), platforms.url(""), location.url if location else "")
                config.write_text(text, encoding="utf-8")
                password = location.password or "" if location is not None else ""
                proc, url = await asyncio.to_thread(_start, root, config, db, password)
                procs.append(proc)
                database = location.url.rsplit("/", 1)[1] if location is not None else ""
                soaks.append(Soak(label, url, proc.pid, db, database))
            await _drive(soaks, admin)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait()
            await platforms.close()
            if admin is not None:
                admin.close()
        sent = {}
        for soak in soaks:
            if soak.errors:  # what the service said of them
                lines = (tmp / f"{soak.label[0]}.log").read_text("utf-8", "replace").splitlines()
                print(
                    *[f"  {soak.label}: {line}" for line in lines if "WARNING" in line or "ERROR" in line][-5:],
                    sep="\n",
                )
            sent[soak.label] = _followups(soak, cluster)
            if cluster is not None:
                statements[soak.label] = _statements(soak, cluster)
    print(f"== soak: {TOTAL:,} events per service on {'PostgreSQL' if cluster else 'SQLite'}, a sample every"
          f" {SAMPLE:,}; growth per 10,000 events after the warm-up (the first quarter); load average"
          f" {os.getloadavg()[0]:.1f} ==")  # fmt: skip
    failed: list[str] = []
    for soak in soaks:
        print(f"  follow-ups by state: {dict(sent[soak.label])}; the platforms took {platforms.posts:,} posts in all")
        if soak.label in statements:
            print(f"  {soak.label}: {statements[soak.label]}")
        failed += [f"{soak.label}: {name}" for name in judge(soak)]
    if failed:
        print("FAIL: growing without bound: " + "; ".join(failed))
        return 1
    return 0


def main() -> None:
    code = asyncio.run(_run())
    if code:
        raise SystemExit(code)


if __name__ == "__main__":
    main()
