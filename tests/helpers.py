"""Helpers shared by the tests: the repository root, events, bodies, signing, config copies."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import inspect
import itertools
import json
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp import web

from assistant import store
from assistant.app import create_app
from assistant.config import Config, HooksConfig
from assistant.signing import sign
from assistant.suggest.engine import load_matcher
from assistant.suggest.matcher import Matcher
from assistant.suggest.matching import Request, answer
from assistant.web import server
from assistant.writer import Writer

ROOT = Path(__file__).resolve().parent.parent
SECRET = "test-webhook-secret"
T0 = 1_795_140_000_000  # Friday 2026-11-20 10:00 in Asia/Shanghai: where the tests' fake clocks start
_ids = itertools.count(1)
# A test module marked with this runs each test on SQLite and on PostgreSQL (the `db_path` fixture).
BACKENDS = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


def signed_headers(body: bytes, *, secret: str = SECRET, ts: int | None = None) -> dict[str, str]:
    """Headers that sign `body` the way a platform must."""
    stamp = int(time.time()) if ts is None else ts
    return {
        "X-Assistant-Signature": sign(secret, stamp, body),
        "X-Assistant-Timestamp": str(stamp),
        "Content-Type": "application/json",
    }


async def exchange(port: int, raw: bytes, *later: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes on a new connection (then each of `later` in a segment of its own, as a slow sender
    would); the status, headers (lower-case names) and body, read to its end."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        for part in later:
            await asyncio.sleep(0.05)  # the sender's pace, not a wait for the server
            writer.write(part)
            await writer.drain()
        answer = await reader.read()
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def make_event(type: str = "message", **fields: Any) -> dict[str, Any]:
    """A valid event of `type`; keyword arguments override or add fields."""
    event: dict[str, Any] = {
        "id": f"evt-{next(_ids)}",
        "type": type,
        "ts": "2026-11-20T10:00:00+08:00",
        "shop": "shop1",
        "conversation": "conv1",
        "customer": "cust1",
    }
    if type == "message":
        event.update(sender="customer", text="在吗？这个什么时候发货")
    elif type in ("order_created", "order_paid", "order_refunded"):
        event.update(order="order1", amount=99.5)
    elif type == "order_closed":
        event.update(order="order1")
    elif type == "suggestion_used":
        event.update(agent="agent1", phrase_id="shipping_time.today")
    event.update(fields)
    return {k: v for k, v in event.items() if v is not None}


SHOP_TZ = ZoneInfo("Asia/Shanghai")


def live_event(type: str = "message", **fields: Any) -> dict[str, Any]:
    """`make_event` stamped now: a message as a platform sends it live, not history (history raises no alert)."""
    return make_event(type, **{"ts": datetime.now(SHOP_TZ).isoformat(), **fields})


def day_of(event: dict[str, Any]) -> str:
    """The shop's day (YYYY-MM-DD, the shipped config's Asia/Shanghai) of an event stamped with an offset."""
    return datetime.fromisoformat(event["ts"]).astimezone(SHOP_TZ).date().isoformat()


def body_of(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


def replace_config(config: Config, section: str, **values: Any) -> Config:
    """A copy of `config` with some keys of one section changed."""
    return dataclasses.replace(config, **{section: dataclasses.replace(getattr(config, section), **values)})


_matchers: dict[tuple[Any, ...], Matcher] = {}


def shared_matcher(config: Config) -> Matcher:
    """One strict matcher per phrase library and settings for the whole session (loading one takes ~0.2 s).

    Strict: an internal error of the matcher fails the test instead of being logged and swallowed.
    """
    key = (
        tuple(config.phrase_dirs()),
        tuple((shop, tuple(dirs)) for shop, dirs in sorted(config.shop_phrase_dirs().items())),
        config.phrases.include_demo,
        tuple(sorted(config.phrases.variables.items())),
        config.shop.name,
        config.phrases.top_k,
        config.phrases.min_confidence,
    )
    matcher = _matchers.get(key)
    if matcher is None:
        matcher = _matchers[key] = load_matcher(config)
        matcher.strict = True
    return matcher


def make_app(config: Config, *, workers: int = 0, **kwargs: Any) -> web.Application:
    """`create_app` with the session's shared matcher of the config's library; no matching worker process
    unless a test asks for one (`workers`), so that the suite does not start one per app."""
    config = replace_config(config, "phrases", workers=workers)
    return create_app(config, matcher=shared_matcher(config), **kwargs)


async def eventually(check: Callable[[], Any], *, timeout: float = 5.0, interval: float = 0.02) -> Any:
    """Poll `check` (a function, sync or async) until it returns something truthy; that value.

    The one way tests wait for something to happen: never a fixed sleep. On timeout, AssertionError with
    the last value seen.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last value {value!r})")
        await asyncio.sleep(interval)


async def answers(session: aiohttp.ClientSession, url: str, status: int) -> bool:
    """Whether a GET of `url` answers `status` now (False while nothing listens there yet): for `eventually`."""
    try:
        async with session.get(url) as resp:
            return resp.status == status
    except aiohttp.ClientConnectionError:
        return False


def followups_settled(db: store.Location) -> bool:
    """Nothing left that could send a follow-up (state, not a sleep): no timer armed, no delivery pending.

    A fired timer is marked done in the transaction that records its follow-up, so once the follow-up is
    there, an armed timer could only come from a new agent message (or our own echo taken for one).
    """
    if not store.exists(db):
        return False
    conn = store.connect(db)
    try:
        if not store.has_table(conn, "timers"):
            return False
        armed = conn.execute("SELECT count(*) FROM timers WHERE state = 'armed'").fetchone()[0]
        pending = conn.execute("SELECT count(*) FROM followups WHERE state = 'pending'").fetchone()[0]
    finally:
        conn.close()
    return armed == 0 and pending == 0


# The interaction log's tables, as two ways of writing the same events are compared (received_ms differs).
LOG_TABLES = {
    "events": "seq, id, type, ts_ms, shop, conversation, customer, agent, raw",
    "messages": "*",
    "orders": "*",
    "suggestion_uses": "*",
    "conversations": "*",
}


def log_rows(conn: sqlite3.Connection) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the log's tables (LOG_TABLES), in key order."""
    return {
        t: [tuple(r) for r in conn.execute(f"SELECT {cols} FROM {t} ORDER BY 1, 2")] for t, cols in LOG_TABLES.items()
    }


async def expecting_body(port: int, length: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection whose `POST /v1/events` is in the handler's hands ("100 Continue" came), body not sent."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n" % length
    )
    await writer.drain()
    assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
    return reader, writer


class Ticks:
    """A monotonic clock a test moves by hand (`ticks.now += 61`)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def simplified_only(ch: str) -> bool:
    """A character of GB 2312 that Big5 lacks: one of simplified script, which a traditional text never holds."""
    return _encodes(ch, "gb2312") and not _encodes(ch, "big5")


def _encodes(ch: str, codec: str) -> bool:
    try:
        ch.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


@dataclasses.dataclass
class Served:
    """A service run by `serving`: its base URL; `stop()` asks for the stop as SIGTERM does, `stopped()` says
    whether it has ended."""

    url: str
    stop: Callable[[], None]
    stopped: Callable[[], bool]


class CallRecorder:
    """A profile function (`threading.setprofile`, before `serving`) that records, while `on`, the functions
    of the given source files called on the service's threads: what a request runs, as a count, not a time."""

    def __init__(self, *files: str | None) -> None:
        self.files = {f for f in files if f}
        self.on = False
        self.calls: list[str] = []

    def __call__(self, frame: Any, event: str, arg: Any) -> None:
        if self.on and event == "call" and frame.f_code.co_filename in self.files:
            self.calls.append(frame.f_code.co_qualname)


@contextmanager
def serving(
    app: web.Application, config: Config, *, before_stop: Callable[[], None] = lambda: None
) -> Iterator[Served]:
    """`server.run(app)` as `assistant serve` runs it, on an event loop of its own in a thread.
    On the way out `before_stop` (release what the test held), then a stop as on SIGTERM."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    running: dict[str, Any] = {}
    loop_ready = threading.Event()

    async def main() -> None:
        stopping = asyncio.Event()
        running["stop"] = (asyncio.get_running_loop(), stopping)
        loop_ready.set()

        async def until_stopped() -> None:
            await stopping.wait()

        await server.run(app, config, host="127.0.0.1", port=port, stop=until_stopped)

    def target() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # raised again in the test, once the thread is joined
            running["error"] = exc

    def stop() -> None:
        loop, stopping = running["stop"]
        loop.call_soon_threadsafe(stopping.set)

    switch, thresholds = sys.getswitchinterval(), gc.get_threshold()
    thread = threading.Thread(target=target, name="served", daemon=True)
    thread.start()
    assert loop_ready.wait(10)
    try:
        yield Served(f"http://127.0.0.1:{port}", stop, lambda: not thread.is_alive())
    finally:
        before_stop()
        if thread.is_alive():
            stop()
        thread.join(60)
        gc.unfreeze()  # server.run froze the heap and changed the GC and GIL settings: this process goes on testing
        gc.set_threshold(*thresholds)
        sys.setswitchinterval(switch)
    assert not thread.is_alive()
    if "error" in running:
        raise running["error"]


def with_hooks(config: Config, *names: str) -> Config:
    """`config` with the hook modules `names` enabled (as `[hooks] enabled` would)."""
    return dataclasses.replace(config, hooks=HooksConfig(enabled=list(names)))


def live_codes(matcher: Matcher, text: str) -> list[str]:
    """The codes the service suggests for the first message of a conversation (the worker's request)."""
    found, _ = answer(matcher, Request(0, text, 0, [], [], False, {}, ""), {})
    return [s.code for s in found]


def written_codes(path: Path) -> list[tuple[str, str]]:
    """A written set's (codes, message) rows: `codes<TAB>message`, `#` lines are comments."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [(want, text) for want, text in (line.split("\t") for line in lines if line and line[:1] != "#")]


async def reopened_before(path: Path, undo: str, migration: str) -> dict[str, str]:
    """A fresh SQLite log at `path` made as it was before `migration` (the statement `undo` run, the migration's
    record deleted), then opened again by the writer, which runs the migration: its indexes then, by name (their SQL)."""
    await Writer(path).close()
    conn = store.connect(path)
    try:
        conn.execute(undo)
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = ?", (migration,))
    finally:
        conn.close()
    await Writer(path).close()
    conn = store.connect(path)
    try:
        return {
            row[0]: row[1] or "" for row in conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'")
        }
    finally:
        conn.close()
