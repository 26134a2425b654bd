"""Quality inspection over HTTP: checking a draft, the supervisors' live page of flags and alerts, and the day's
inspection."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import date
from functools import partial
from typing import Any

from aiohttp import web
from aiohttp_sse import sse_response

from assistant import store
from assistant.clock import local_day
from assistant.config import Config
from assistant.daylog.archive import ArchiveError
from assistant.daylog.query import DayQuery
from assistant.daylog.source import open_day
from assistant.events import clean_name
from assistant.i18n import N_
from assistant.kpi.report import log_link
from assistant.live import HEARTBEAT_S, sse_frame
from assistant.privacy import mask
from assistant.qa import store as qa_store
from assistant.qa.inspector import Inspector
from assistant.qa.review import SHOWN, DayReview, review_day, reviewer_of, score_text
from assistant.qa.service import QaService
from assistant.templating import render_page
from assistant.web.appkeys import CONFIG, DB_PATH, QA
from assistant.web.auth import require
from assistant.web.daynav import DayNav, QueryError, latest_day, query_day, report_day
from assistant.web.errors import JsonError, json_dumps, json_error
from assistant.web.longreads import LongReads, TimedOut
from assistant.web.query import query_text
from assistant.web.stream import RETRY_MS
from assistant.web.uitext import qa_messages

# The day's inspection reads the whole day as the daily log does: in threads of its own, two at once, on the reports'
# connections (web/longreads.py); before, eight supervisors opening it held the panel and the events' reads.
DAYS_AT_ONCE = 2
TIMED_OUT = N_(
    "the day's inspection took longer than [store] report_timeout_s allows (%(s)s s): pick one shop, or raise it"
)
_days = LongReads("qa-day", DAYS_AT_ONCE, "qa_day_timed_out", TIMED_OUT)
RECENT_MS = 24 * 3600 * 1000  # the page starts from the last day's flags and alerts
RECENT_LIMIT = 200
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",  # the URL may carry the token
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def _service(request: web.Request) -> QaService:
    """The running inspection; a 404 in the JSON error shape when it is off."""
    service = request.app.get(QA)
    if service is None or not request.app[CONFIG].qa.enabled:
        raise JsonError(404, "not_found", None, "quality inspection is off ([qa] enabled = false)")
    return service


async def get_check(request: web.Request) -> web.Response:
    """`GET /v1/qa/check?side=agent|customer&text=…`: the flags a message would get (a draft, before sending)."""
    require(request, "agent")
    service = _service(request)
    side = request.query.get("side", "agent")
    if side not in ("agent", "customer"):
        return json_error(400, "invalid_query", "side", "expected 'agent' or 'customer'")
    text = query_text(request, "text")
    if text is None:
        return json_error(400, "invalid_query", "text", "required query parameter")
    limit = request.app[CONFIG].webhook.max_text_chars
    if len(text) > limit:
        return json_error(400, "invalid_query", "text", f"longer than {limit} characters")
    return web.json_response({"flags": service.inspect(text, side)}, dumps=json_dumps)


def recent(request: web.Request, service: QaService) -> dict[str, Any]:
    """The page's starting point: the last day's alerts and flagged messages, newest first, with links."""
    config = request.app[CONFIG]
    since = store.now_ms() - RECENT_MS
    try:
        conn = store.connect(request.app[DB_PATH], readonly=True)
    except sqlite3.OperationalError:
        return {"server_ms": store.now_ms(), "alerts": [], "flags": [], "labels": dict(service.inspector.labels())}
    try:
        alerts = qa_store.recent_alerts(conn, since, RECENT_LIMIT)
        deliveries = qa_store.deliveries_of(conn, [a.id for a in alerts])
        flags = qa_store.recent_flags(conn, since, RECENT_LIMIT)
    finally:
        conn.close()
    shown_alerts = []
    for alert in alerts:
        body = service.alert_json(alert, deliveries.get(alert.id, []))
        body["link"] = _link(config, alert.shop, alert.ts_ms, alert.conversation)
        shown_alerts.append(body)
    for item in flags:
        if config.privacy.mask:
            item["flags"] = qa_store.masked_flags(item["flags"], item["text"])
            item["text"] = mask(item["text"])
        item["link"] = _link(config, item["shop"], item["ts_ms"], item["conversation"])
    return {
        "server_ms": store.now_ms(),
        "alerts": shown_alerts,
        "flags": flags,
        "labels": dict(service.inspector.labels()),
    }


def _link(config: Any, shop: str, ts_ms: int, conversation: str) -> str:
    """Where the daily log shows a conversation; never with a token (the page cookie carries it)."""
    return log_link(shop, local_day(ts_ms, config.tz).isoformat(), conversation)


async def get_recent(request: web.Request) -> web.Response:
    """`GET /v1/qa/recent`: the last day's alerts and flagged messages as JSON (supervisor)."""
    require(request, "supervisor")
    service = _service(request)
    return web.json_response(await asyncio.to_thread(recent, request, service), dumps=json_dumps)


async def get_page(request: web.Request) -> web.Response:
    """`GET /qa`: the supervisors' live page of flags and alerts, newest first (qa.js keeps it current)."""
    require(request, "supervisor")
    service = _service(request)
    state = await asyncio.to_thread(recent, request, service)
    state["timezone"] = request.app[CONFIG].shop.timezone
    language = request.app[CONFIG].ui.language
    state["messages"] = qa_messages(language)
    html = await render_page("qa.html", language, state=state, alerts=state["alerts"], flags=state["flags"])
    return web.Response(text=html, content_type="text/html", charset="utf-8", headers=PAGE_HEADERS)


async def get_stream(request: web.Request) -> web.StreamResponse:
    """`GET /v1/qa/stream`: Server-Sent Events `qa` (a flagged message), `alert`, `alert_delivery` (supervisor)."""
    require(request, "supervisor")
    service = _service(request)
    config = request.app[CONFIG]
    async with sse_response(request, ping_interval=24 * 3600) as resp:
        feed = service.open_feed()
        try:
            # The page reloads its state on every (re)connection: the snapshot is the log's, not the feed's.
            snapshot = await asyncio.to_thread(recent, request, service)
            await resp.write(sse_frame(json.dumps(snapshot, ensure_ascii=False), event="snapshot", retry=RETRY_MS))
            while True:
                try:
                    update = await asyncio.wait_for(feed.get(), HEARTBEAT_S)
                except TimeoutError:
                    await resp.write(sse_frame(json.dumps({"server_ms": store.now_ms()}), event="heartbeat"))
                    continue
                if update.kind == "close":
                    break
                payload = dict(update.payload)
                if update.kind in ("qa", "alert"):
                    payload["link"] = _link(config, update.shop, payload["ts_ms"], update.conversation)
                data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
                await resp.write(sse_frame(data, event=update.kind))
        except (ConnectionError, TimeoutError):
            pass  # the page went away; it reconnects on its own
        finally:
            service.close_feed(feed)
    return resp


def day_review(
    config: Config, db_path: store.Location, day: date | None, shop: str | None, inspector: Inspector, now_ms: int
) -> tuple[DayReview, date, date | None]:
    """The day's inspection (the latest day with data when no day is asked for), the day, the latest day (a thread)."""
    latest = latest_day(config, db_path, shop)
    day = day or report_day(config, db_path, shop, latest)
    reviewer = reviewer_of(config.qa, inspector.categories)
    query = DayQuery(day, shop=shop, mask=config.privacy.mask)
    if not store.exists(db_path):
        return DayReview(), day, latest
    with open_day(config, db_path, day, shop) as conn:
        return review_day(reviewer, config, conn, query, now_ms), day, latest


async def get_day(request: web.Request) -> web.Response:
    """`GET /qa/day?date=&shop=`: the day's inspection, per agent and rule, each finding linked to its conversation."""
    require(request, "supervisor")
    service = _service(request)
    config = request.app[CONFIG]
    query = request.query
    try:
        asked = query_day("date", query["date"]) if query.get("date") else None
    except QueryError as exc:
        return json_error(400, "invalid_query", exc.field, exc.shown(config.ui.language))
    shop = clean_name(query.get("shop") or "") or None
    try:
        review, day, latest = await _days.read(
            config,
            partial(day_review, config, request.app[DB_PATH], asked, shop, service.inspector, service.clock.now_ms()),
        )
    except ArchiveError as exc:
        return json_error(409, "archive_unreadable", "date", str(exc))
    except TimedOut:
        return _days.timed_out(config)
    # The day links and the links to the daily log carry no token: the page cookie does (web/auth.py).
    nav = DayNav(day, latest, "/qa/day", (("shop", shop),) if shop else ())
    links = {(f.shop, f.conversation): log_link(f.shop, day.isoformat(), f.conversation) for f in review.findings}
    html = await render_page(
        "qa_day.html",
        config.ui.language,
        review=review,
        day=day,
        shop=shop,
        nav=nav,
        links=links,
        shown=SHOWN,
        score_text=score_text,
    )
    return web.Response(text=html, content_type="text/html", charset="utf-8", headers=PAGE_HEADERS)
