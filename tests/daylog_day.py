"""A day of chat events for the daily-log tests, posted through the webhook, and an app that serves the log."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from assistant import pg
from assistant.config import Config, load_config
from assistant.events import Event
from assistant.ingest import Enrichment
from assistant.store import Annotation
from assistant.web.appkeys import INGESTOR
from tests.helpers import ROOT, body_of, make_app, replace_config
from tests.pgcluster import PASSWORD_ENV

DAY = date(2026, 11, 20)  # Asia/Shanghai, the shipped config's zone
PHONE = "13812345678"
ADDRESS = "浙江省杭州市西湖区文三路478号华星时代广场A座1201室"
SCRIPT = "<script>alert('x')</script>我下单了"

SHIPPING = (
    {"phrase_id": "shipping_time.today", "intent": "shipping_time", "code": "fh1", "score": 91.3},
    {"phrase_id": "shipping_time.express", "intent": "shipping_time", "code": "fh2", "score": 55.0},
)


def annotate(event: Event) -> Enrichment | None:
    """A fixed stand-in for the matcher, so the annotations the log shows are known."""
    if not event.is_customer_message:
        return None
    if "发货" in (event.text or ""):
        return Enrichment(Annotation(intent="shipping_time", customer_type="impatient", suggestions=SHIPPING))
    return Enrichment(Annotation())


def _msg(
    eid: str, ts: str, conv: str, sender: str, text: str, agent: str | None = None, **extra: Any
) -> dict[str, Any]:
    event = {"id": eid, "type": "message", "ts": ts, "shop": "shop1", "conversation": conv,
             "customer": f"buyer_{conv.lower()}", "sender": sender, "text": text, **extra}  # fmt: skip
    if agent:
        event["agent"] = agent
    return event


def _event(eid: str, kind: str, ts: str, conv: str, **fields: Any) -> dict[str, Any]:
    return {"id": eid, "type": kind, "ts": ts, "shop": "shop1", "conversation": conv,
            "customer": f"buyer_{conv.lower()}", **fields}  # fmt: skip


def day_events() -> list[dict[str, Any]]:
    """Four conversations on 2026-11-20 (shop time) plus their neighbours across both midnights.

    Expected order on the day: M (00:00:10), B (08:30), A (09:00), Z (23:59:59).
    """
    return [
        # A: suggestion used, a slow answer and a short one, a follow-up that brings the customer back, an order.
        _msg("A1", "2026-11-20T09:00:00+08:00", "A", "customer", "在吗？这个什么时候发货，快点"),
        _event(
            "A2", "suggestion_used", "2026-11-20T09:00:20+08:00", "A", agent="小美", phrase_id="shipping_time.today"
        ),
        _msg("A3", "2026-11-20T09:00:25+08:00", "A", "agent", "亲，今天下单今天发哦~", agent="小美"),
        _msg("A4", "2026-11-20T09:01:00+08:00", "A", "customer", f"我的手机{PHONE}，地址{ADDRESS}"),
        _msg("A5", "2026-11-20T09:03:00+08:00", "A", "agent", "好", agent="小美"),
        _msg("A6", "2026-11-20T09:08:00+08:00", "A", "auto", "亲，还有什么可以帮您的吗？", followup_id="fu-A"),
        _msg("A7", "2026-11-20T09:10:00+08:00", "A", "customer", SCRIPT),
        _event("A8", "order_created", "2026-11-20T09:10:05+08:00", "A", order="A-1001", amount=199, agent="小美"),
        _event("A9", "order_paid", "2026-11-20T09:12:00+08:00", "A", order="A-1001", amount=199),
        # B: 08:30 shop time given in UTC; never answered.
        _msg("B1", "2026-11-20T00:30:00Z", "B", "customer", "有现货吗"),
        # M: starts the evening before, answered just after midnight; 00:30 shop time is still 11-19 in UTC.
        _msg("M1", "2026-11-19T23:59:30+08:00", "M", "customer", "还在吗？"),
        _msg("M2", "2026-11-20T00:00:10+08:00", "M", "agent", "在的亲", agent="小王"),
        _msg("M3", "2026-11-19T16:30:00Z", "M", "customer", "那我明天再来"),
        # Z: the day's last second, answered in the next day.
        _msg("Z1", "2026-11-20T23:59:59+08:00", "Z", "customer", "最后一条"),
        _msg("Z2", "2026-11-21T00:00:01+08:00", "Z", "agent", "收到", agent="小王"),
    ]


def token_config(db_path: Path | pg.Location) -> Config:
    """The shipped config with the supervisor, admin and agent tokens set (sup-token, adm-token, agent-token),
    on the test's database (a PostgreSQL one by its URL: as a path it was a SQLite file of that name)."""
    env = {"ASSISTANT_SUPERVISOR_TOKEN": "sup-token", "ASSISTANT_ADMIN_TOKEN": "adm-token",
           "ASSISTANT_AGENT_TOKEN": "agent-token"}  # fmt: skip
    where: dict[str, Any] = {"path": str(db_path)}
    if isinstance(db_path, pg.Location):
        where, env = {"url": db_path.url, "password_env": PASSWORD_ENV}, {**env, PASSWORD_ENV: db_path.password or ""}
    return load_config(ROOT / "config.toml", env=env, overrides={"store": where})


def log_config(config: Config) -> Config:
    """The test config without idle follow-ups (their timers would add auto messages of their own)."""
    return replace_config(config, "followups", enabled=False)


def log_app(config: Config) -> web.Application:
    return make_app(log_config(config))


async def post_day(client: TestClient) -> None:  # type: ignore[type-arg]
    """Post the day through the webhook (shuffled into two batches, as platforms deliver)."""
    client.app[INGESTOR].annotators.append(annotate)
    events = day_events()
    for batch in (events[::2], events[1::2]):
        resp = await client.post("/v1/events", data=body_of(batch))
        assert resp.status == 200, await resp.text()
