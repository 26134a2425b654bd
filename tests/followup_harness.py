"""A follow-up service on a real writer and database, driven by a FakeClock."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from assistant import pg, store
from assistant.bus import Bus, Subscription, Update
from assistant.clock import FakeClock
from assistant.config import Config, HooksConfig, WebhookOutConfig
from assistant.events import parse_event
from assistant.followups import store as followup_store
from assistant.followups.policy import PhraseSource
from assistant.followups.service import FollowupService
from assistant.hookspecs import DeliveryResult, Followup, hookimpl
from assistant.ingest import Enrichment, Ingestor
from assistant.plugins import Plugins, build_plugin_manager
from assistant.signing import SignatureError, verify
from assistant.store import Annotation
from assistant.suggest.phrases import Library
from assistant.writer import Writer
from tests.helpers import T0 as T0  # the `clock` fixture's start, imported from here by the follow-up tests
from tests.helpers import eventually, make_event

# The follow-up timing of the `send_config` fixture, which the follow-up tests count with.
IDLE = 300  # [followups] idle_seconds
GRACE = 120  # [followups] late_grace_s
TOLERANCE = 300  # [webhook] signature_tolerance_s: how far ahead an event's stamp is believed
OUT_SECRET = "outbound-test-secret"  # what webhook_out signs with and the `receiver` fixture checks

TINY_LIBRARY = [
    (
        "followup.toml",
        {
            "group": "结束语",
            "phrase": [
                {"id": "fu.new", "intent": "followup", "code": "f1", "text": "感谢光临{{ shop }}，欢迎收藏店铺~", "types": ["newcomer"]},
                {"id": "fu.back", "intent": "followup", "code": "f2", "text": "老朋友{{ customer }}，下次见~", "types": ["returning"]},
            ],
        },
    ),
    (
        "reminder.toml",
        {
            "group": "催付",
            "phrase": [
                {"id": "pr.one", "intent": "payment_reminder", "code": "p1", "text": "亲，{{ order }}还差付款{{ amount }}元哦"},
            ],
        },
    ),
]  # fmt: skip


def tiny_library() -> Library:
    return Library.build(TINY_LIBRARY, extra_variables={"shop": "测试店"})


class Recorder:
    """A deliver_message plugin that answers from a script (default: sent) and records every call."""

    def __init__(self, results: Sequence[DeliveryResult] = ()) -> None:
        self.results = list(results)
        self.calls: list[dict[str, Any]] = []

    @hookimpl
    def deliver_message(
        self, conversation: dict[str, Any], text: str, idempotency_key: str, kind: str
    ) -> DeliveryResult:
        self.calls.append({"conversation": conversation, "text": text, "key": idempotency_key, "kind": kind})
        return self.results.pop(0) if self.results else DeliveryResult.sent(200)


class Harness:
    """Writer + ingestor + bus + FollowupService, as the app wires them, with a FakeClock."""

    def __init__(
        self,
        config: Config,
        db: store.Location,
        clock: FakeClock,
        *,
        plugins: Sequence[object] = (),
        phrases: PhraseSource | None = None,
        busy_timeout_s: float = store.BUSY_TIMEOUT_S,
    ) -> None:
        self.config = config
        self.db = db
        self.busy_timeout_s = busy_timeout_s  # the writer's wait for a lock another process holds
        self.clock = clock
        self.extra_plugins = plugins
        self.phrases = phrases if phrases is not None else tiny_library()
        self.customer_types: dict[str, str] = {}  # conversation → type the annotator reports

    async def start(self) -> Harness:
        self.writer = Writer(self.db, busy_timeout_s=self.busy_timeout_s)
        self.writer.start()
        self.ingestor = Ingestor(self.writer, max_ahead_ms=self.config.webhook.signature_tolerance_s * 1000)
        self.ingestor.annotators.append(self._annotate)
        self.bus = Bus()
        self.updates: Subscription = self.bus.subscribe(maxsize=10_000)
        pm = build_plugin_manager(self.config)
        for plugin in self.extra_plugins:
            pm.register(plugin)
        phrases = self.phrases
        self.plugins = Plugins(self.config, pm, clock=self.clock)
        self.service = FollowupService(
            self.config, self.writer, self.ingestor, self.bus, self.plugins, clock=self.clock, phrases=lambda: phrases
        )
        await self.plugins.start()
        self.ingestor.listeners.append(self.plugins.on_written)
        await self.service.start()
        # A start's own writes (a back-fill's stale records, a few thousand on PostgreSQL) can take more than the
        # default on a machine loaded by other work: a bound, not a wait.
        await self.settle(timeout=30.0)
        return self

    async def stop(self) -> None:
        await self.service.stop()
        await self.plugins.stop()
        await self.writer.close()

    async def restart(self, *, advance_s: float = 0) -> Harness:
        await self.stop()
        self.clock.advance(advance_s)
        return await self.start()

    def _annotate(self, event: Any) -> Enrichment | None:
        ctype = self.customer_types.get(event.conversation)
        if ctype is None or not event.is_customer_message:
            return None
        return Enrichment(annotation=Annotation(customer_type=ctype))

    async def send(self, type: str = "message", **fields: Any) -> list[dict[str, Any]]:
        """Log one event (ts = the fake clock, unless given) and settle."""
        fields.setdefault("ts", self.clock.now_ms())
        raw = make_event(type, **fields)
        return await self.resend(raw)

    async def resend(self, raw: dict[str, Any]) -> list[dict[str, Any]]:
        result = await self.ingestor.ingest([parse_event(raw, max_text_chars=5000)])
        await self.settle()
        return result

    async def agent_says(self, text: str = "亲，这款今天下单明天发货哦", **fields: Any) -> dict[str, Any]:
        raw = make_event(sender="agent", agent="小美", text=text, ts=self.clock.now_ms(), **fields)
        await self.resend(raw)
        return raw

    async def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        await self.settle()

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until everything runnable has run (the fake clock's sleepers wait for `advance`)."""
        await eventually(
            lambda: self.clock.waking == 0 and self.service.settled and self.plugins.settled,
            timeout=timeout, interval=0.001,
        )  # fmt: skip

    def followups(self) -> list[Followup]:
        conn = store.connect(self.db)
        try:
            return list(reversed(followup_store.list_followups(conn, limit=1000)))
        finally:
            conn.close()

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        conn = store.connect(self.db)
        try:
            return [tuple(row) for row in conn.execute(sql, params).fetchall()]
        finally:
            conn.close()

    def drain_updates(self) -> list[Update]:
        return self.updates.drain()


class LockHolder:
    """Another process's connection stuck in a transaction, holding the database locked until `release`
    (SQLite: its write lock; PostgreSQL: the tables a delivery reads and writes, exclusively)."""

    TABLES = "events, messages, orders, followups"

    def __init__(self, db: store.Location) -> None:
        self.db = db
        self.conn: Any = None

    def take(self) -> None:
        if isinstance(self.db, pg.Location):
            self.conn = pg.connect_direct(self.db)
            self.conn.execute("BEGIN")
            self.conn.execute(f"LOCK TABLE {self.TABLES} IN ACCESS EXCLUSIVE MODE")
        else:
            self.conn = sqlite3.connect(str(self.db), isolation_level=None)
            self.conn.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        if self.conn is not None:
            self.conn.execute("ROLLBACK")
            self.conn.close()
            self.conn = None


def outbound_config(config: Config, url: str, *, secret: str | None = OUT_SECRET, timeout_s: float = 5.0) -> Config:
    """`config` delivering through webhook_out alone, to `url`, signed with `secret` (unsigned with None)."""
    hooks = HooksConfig(enabled=["webhook_out"], webhook_out=WebhookOutConfig(url=url, timeout_s=timeout_s))
    secrets = {k: v for k, v in config.secrets.items() if k != "ASSISTANT_OUTBOUND_SECRET"}  # the database's stay
    if secret:
        secrets["ASSISTANT_OUTBOUND_SECRET"] = secret
    return dataclasses.replace(config, hooks=hooks, secrets=secrets)


class Receiver:
    """A real HTTP endpoint for outbound follow-ups: records each POST and answers from a script."""

    def __init__(
        self, statuses: Sequence[int] = (), *, delay_s: float = 0.0, secret: str | None = None, hold: bool = False
    ) -> None:
        self.statuses = list(statuses)
        self.delay_s = delay_s  # a slow platform (the service's delivery timeout, a kill mid-delivery)
        self.released = asyncio.Event()  # with `hold`, every answer waits for `release()`
        if not hold:
            self.released.set()
        self.secret = secret
        self.error_headers: dict[str, str] = {}  # sent with every non-2xx answer (a 429's `Retry-After`)
        self.requests: list[dict[str, Any]] = []
        self.server: TestServer | None = None
        # Called with each request's record as it comes, before it is answered (what the sender had written then).
        self.on_request: Callable[[dict[str, Any]], None] = lambda record: None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/followups", self._handle)
        return app

    async def start(self) -> Receiver:
        self.server = TestServer(self.app(), host="127.0.0.1")
        await self.server.start_server()
        return self

    def release(self) -> None:
        """Answer the held requests (and every later one at once)."""
        self.released.set()

    async def close(self) -> None:
        self.released.set()
        if self.server is not None:
            await self.server.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/followups"))

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        record = {
            "at": time.time(),
            "headers": dict(request.headers),
            "body": body,
            "json": json.loads(body),
            "verified": None,
        }
        if self.secret is not None:
            try:
                verify(
                    self.secret,
                    signature=request.headers.get("X-Assistant-Signature"),
                    timestamp=request.headers.get("X-Assistant-Timestamp"),
                    body=body,
                    tolerance_s=300,
                )
                record["verified"] = True
            except SignatureError:
                record["verified"] = False
        self.requests.append(record)
        self.on_request(record)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        await self.released.wait()
        status = self.statuses.pop(0) if self.statuses else 200
        headers = self.error_headers if status >= 300 else None
        return web.json_response({"ok": status < 300}, status=status, headers=headers)

    def keys(self) -> list[str]:
        return [r["headers"]["Idempotency-Key"] for r in self.requests]


def agent(ts: int | str, **fields: Any) -> dict[str, Any]:
    """An agent's message (小美's, unless `fields` say otherwise) stamped `ts`."""
    return make_event(**{"sender": "agent", "agent": "小美", "text": "亲，这款今天下单明天发货哦", "ts": ts, **fields})


def customer(ts: int | str, **fields: Any) -> dict[str, Any]:
    """A customer's message stamped `ts`."""
    return make_event(**{"sender": "customer", "text": "好的我想想", "ts": ts, **fields})


async def ingest(h: Harness, *raws: dict[str, Any]) -> None:
    """Log events in one batch (as one webhook request), then settle."""
    await h.ingestor.ingest([parse_event(raw, max_text_chars=5000) for raw in raws])
    await h.settle()


async def lose_unflushed_timers(h: Harness) -> None:
    """Stop, then undo what was persisted since the start: as if killed between logging and flushing."""
    await h.stop()
    h.rows("DELETE FROM timers")
    h.rows("UPDATE timers_watermark SET seq = 0")
