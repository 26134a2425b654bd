"""Python calls per logged event on the service's event loop: `POST /v1/events` and the Chatwoot webhook, agent
messages; customer messages of distinct texts (matched by a worker process, answered with suggestions); and order
events of those customers' conversations (each types its card as the order makes it). And on
the writer's thread: the group commit of each event (its jobs, the checks of the log's files around its COMMIT).

    python -m bench.bench_calls        (BENCH_EVENTS=2000 per route)

The service runs in this process as `assistant serve` runs it (`server.run` on uvloop), on a thread of its own,
and that thread alone is profiled (`sys.setprofile`, switched on and off by the loop itself): every call of a Python
function and of a C function made there while agent messages are posted one request at a time (the logging
path: nothing to match), divided by their number; the writer's thread is switched by a job it runs. A count, not a timing: it hardly moves from run to run, so
it compares code (a middleware run on every request costs its calls on every event) on a shared machine.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import aiohttp
import uvloop
from aiohttp import web

from assistant.app import create_app
from assistant.config import load_config
from assistant.web import server
from assistant.web.appkeys import WRITER
from bench.bench_chatwoot import chatwoot_config
from bench.bench_webhook import distinct_text
from tests.service import ROOT, free_port

TOTAL = int(os.environ.get("BENCH_EVENTS", "2000"))
WARMUP = 300
NOW_MS = time.time_ns() // 1_000_000  # live messages: each arms its conversation's idle timer
AGENT_TEXT = "亲，今天下午四点前付款当天发出哦"
REPLY = json.loads((ROOT / "tests" / "data" / "chatwoot" / "agent_reply.json").read_text("utf-8"))


def plain(i: int) -> dict[str, Any]:
    """An agent message of conversation i % 500, as `POST /v1/events` takes it."""
    return {
        "id": f"e{i}", "type": "message", "ts": NOW_MS + i * 10, "shop": "chatwoot-3",
        "conversation": str(1000 + i % 500), "customer": str(7000 + i % 500), "sender": "agent",
        "agent": "张美玲", "text": AGENT_TEXT,
    }  # fmt: skip


def asked(i: int) -> dict[str, Any]:
    """A customer's message, live (stamped now, in a conversation of its own rows: one stamped before the
    conversation's latest event is a back-fill, matched for nothing), its text unlike any before
    (`bench_webhook`'s distinct mix)."""
    return {
        "id": f"q{i}", "type": "message", "ts": time.time_ns() // 1_000_000, "shop": "chatwoot-3",
        "conversation": str(5000 + i % 500), "customer": str(9000 + i % 500), "sender": "customer",
        "text": distinct_text(i),
    }  # fmt: skip


ORDER_KINDS = ("order_created", "order_paid", "order_closed")


def ordered(i: int) -> dict[str, Any]:
    """An order event of a customer's conversation of the row before (its messages typed its card): in each of them
    an order created, then paid, then closed, then the next order; the customer type is what such an event changes."""
    kind, round_ = ORDER_KINDS[(i // 500) % 3], i // 1500
    return {
        "id": f"o{i}", "type": kind, "ts": time.time_ns() // 1_000_000, "shop": "chatwoot-3",
        "conversation": str(5000 + i % 500), "customer": str(9000 + i % 500), "order": f"o{i % 500}-{round_}",
        "amount": 59.0,
    }  # fmt: skip


def reply(i: int) -> dict[str, Any]:
    """An agent's reply in conversation i % 500, as Chatwoot delivers it."""
    payload = json.loads(json.dumps(REPLY))
    payload.update(id=i, content=AGENT_TEXT, created_at=(NOW_MS + i * 10) / 1000)
    payload["conversation"]["id"] = 1000 + i % 500
    return dict(payload)


class Calls:
    """Counts the calls made on the thread it is switched on in."""

    def __init__(self) -> None:
        self.python = 0
        self.c = 0

    def __call__(self, frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            self.python += 1
        elif event == "c_call":
            self.c += 1


class Served:
    """The service on a thread and event loop of its own; `profiled` switches the counting on that loop."""

    def __init__(self, config_path: Path, db: Path) -> None:
        env = {"ASSISTANT_WEBHOOK_SECRET": "", "CHATWOOT_WEBHOOK_SECRET": "", "CHATWOOT_API_TOKEN": ""}
        self.config = load_config(config_path, env=env, overrides={"store": {"path": str(db)}})
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="served", daemon=True)
        self.app: web.Application | None = None

    def _serve(self) -> None:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:  # as `assistant serve` does
            runner.run(self._main())

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._ready.set()
        stopping = self._stopping

        async def until_stopped() -> None:
            await stopping.wait()

        app = self.app = create_app(self.config)
        await server.run(app, self.config, host="127.0.0.1", port=self.port, stop=until_stopped)

    def start(self) -> Served:
        self.thread.start()
        assert self._ready.wait(30)
        return self

    def on_loop(self, call: Callable[[], None]) -> None:
        assert self.loop is not None
        done = threading.Event()

        def run() -> None:
            call()
            done.set()

        self.loop.call_soon_threadsafe(run)
        assert done.wait(30)

    def on_writer(self, call: Callable[[], None]) -> None:
        """`call()` on the writer's thread, as a job of its own (the service's writer has started)."""
        assert self.loop is not None and self.app is not None
        writer = self.app[WRITER]
        asyncio.run_coroutine_threadsafe(writer.submit(lambda conn: call()), self.loop).result(30)

    def stop(self) -> None:
        assert self.loop is not None and self._stopping is not None
        self.loop.call_soon_threadsafe(self._stopping.set)
        self.thread.join(60)


ROWS: tuple[tuple[str, str, Callable[[int], Any]], ...] = (
    ("POST /v1/events, agent messages", "/v1/events", plain),
    ("POST /v1/chatwoot, agent replies", "/v1/chatwoot", reply),
    ("POST /v1/events, customers (distinct)", "/v1/events", asked),
    ("POST /v1/events, order events", "/v1/events", ordered),
)


async def post(session: aiohttp.ClientSession, url: str, make: Callable[[int], Any], first: int, n: int) -> None:
    for i in range(first, first + n):
        async with session.post(url, data=json.dumps(make(i)).encode()) as resp:
            assert resp.status == 200, (resp.status, await resp.text())
            await resp.read()


async def measure(served: Served) -> dict[str, tuple[float, float, float, float]]:
    """Per row: Python and C calls per event on the event loop, then on the writer's thread."""
    rows: dict[str, tuple[float, float, float, float]] = {}
    async with aiohttp.ClientSession(headers={"Content-Type": "application/json"}) as session:
        for _ in range(300):
            try:
                async with session.get(f"{served.url}/readyz") as resp:
                    if resp.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        for row, route, make in ROWS:
            url = f"{served.url}{route}"
            await post(session, url, make, 1, WARMUP)
            calls, writing = Calls(), Calls()
            await asyncio.to_thread(served.on_writer, functools.partial(sys.setprofile, writing))
            served.on_loop(functools.partial(sys.setprofile, calls))
            await post(session, url, make, 1 + WARMUP, TOTAL)
            served.on_loop(lambda: sys.setprofile(None))
            await asyncio.to_thread(served.on_writer, lambda: sys.setprofile(None))
            rows[row] = (calls.python / TOTAL, calls.c / TOTAL, writing.python / TOTAL, writing.c / TOTAL)
    return rows


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = chatwoot_config(Path(tmp))
        served = Served(config, Path(tmp) / "calls.db").start()
        try:
            rows = asyncio.run(measure(served))
        finally:
            served.stop()
    print(f"== calls on the service's event loop per logged event, {TOTAL} requests per row ==")
    for row, (python, c, _, _) in rows.items():
        print(f"{row:<40} {python:8.1f} Python calls   {c:8.1f} C calls   per event")
    print("== on the writer's thread ==")
    for row, (_, _, python, c) in rows.items():
        print(f"{row:<40} {python:8.1f} Python calls   {c:8.1f} C calls   per event")


if __name__ == "__main__":
    main()
