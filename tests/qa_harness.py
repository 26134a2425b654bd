"""A quality-inspection service on a real writer and database, driven by a FakeClock, sending to local robots."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any

from assistant import pg
from assistant.bus import Bus, Subscription, Update
from assistant.clock import FakeClock
from assistant.config import Config, load_config
from assistant.events import parse_event
from assistant.ingest import Ingestor
from assistant.plugins import Plugins, build_plugin_manager
from assistant.qa.inspector import load_inspector
from assistant.qa.service import QaService
from assistant.writer import Writer
from tests.helpers import ROOT, eventually, make_event
from tests.helpers import T0 as T0  # the `clock` fixture's start, imported from here by the QA tests

TOKEN = "robot-access-token"
SECRET = "SEC0123456789abcdef"
WECOM_KEY = "wecom-key-1"


def robot_config(
    db: Path | pg.Location,
    *,
    dingtalk: str | None = None,
    wecom: str | None = None,
    secret: str | None = SECRET,
    qa: dict[str, Any] | None = None,
) -> Config:
    """The shipped config with the robots enabled at local URLs and their secrets in the (given) environment."""
    enabled = [name for name, url in (("dingtalk", dingtalk), ("wecom", wecom)) if url]
    hooks: dict[str, Any] = {"enabled": enabled}
    if dingtalk:
        hooks["dingtalk"] = {"url": dingtalk}
    if wecom:
        hooks["wecom"] = {"url": wecom}
    env = {"DINGTALK_ACCESS_TOKEN": TOKEN, "WECOM_WEBHOOK_KEY": WECOM_KEY}
    if secret is not None:
        env["DINGTALK_SECRET"] = secret
    where: dict[str, Any] = {"path": str(db)}
    if isinstance(db, pg.Location):
        where = {"url": db.url, "password_env": "QA_TEST_DB_PASSWORD"}
        env["QA_TEST_DB_PASSWORD"] = db.password or ""
    overrides: dict[str, Any] = {"store": where, "hooks": hooks}
    if qa:
        overrides["qa"] = qa
    return load_config(ROOT / "config.toml", env=env, overrides=overrides)


def alert_rows(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT id, level, conversation, escalation FROM qa_alerts ORDER BY created_ms, level"
        ).fetchall()


def deliveries(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT a.level, d.plugin, d.state, d.attempts FROM qa_deliveries d JOIN qa_alerts a ON a.id = d.alert_id"
            " ORDER BY a.created_ms, a.level, d.plugin"
        ).fetchall()


class QaHarness:
    """Writer + ingestor + bus + plugins + QaService, wired as the app wires them, on a FakeClock."""

    def __init__(self, config: Config, clock: FakeClock) -> None:
        self.config = config
        self.clock = clock

    async def start(self) -> QaHarness:
        self.writer = Writer(self.config.location())
        self.writer.start()
        self.ingestor = Ingestor(self.writer)
        self.bus = Bus()
        self.updates: Subscription = self.bus.subscribe(maxsize=10_000)
        self.plugins = Plugins(self.config, build_plugin_manager(self.config))
        await self.plugins.start()
        self.service = QaService(
            self.config,
            load_inspector(self.config),
            self.writer,
            self.bus,
            self.plugins,
            clock=self.clock,
            rng=random.Random(7),
        )
        self.ingestor.annotators.append(self.service.annotate)
        self.ingestor.recorders.append(self.service.record)
        self.ingestor.listeners.append(self.service.on_written)
        await self.service.start()
        await self.settle()
        return self

    async def stop(self) -> None:
        await self.service.stop()
        await self.plugins.stop()
        await self.writer.close()

    async def restart(self) -> QaHarness:
        await self.stop()
        return await self.start()

    async def send(self, **fields: Any) -> dict[str, Any]:
        """Log one message (ts = the fake clock) and wait until everything runnable has run."""
        fields.setdefault("ts", self.clock.now_ms())
        raw = make_event("message", **fields)
        [response] = await self.ingestor.ingest([parse_event(raw, max_text_chars=5000)])
        await self.settle()
        return response

    async def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        await self.settle()

    async def settle(self) -> None:
        await eventually(lambda: self.service.settled and self.clock.waking == 0)

    def published(self) -> list[Update]:
        return self.updates.drain()
