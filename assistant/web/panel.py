"""The agent panel: the server-rendered page, adoption clicks, and the demo "customer says…" box."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any

from aiohttp import web

from assistant import store
from assistant.chatwoot import account_of_shop
from assistant.events import EventError, clean_name, parse_event
from assistant.live import page_key
from assistant.store import now_ms
from assistant.templating import FAVICON_SVG, render_page
from assistant.web.appkeys import CHATWOOT, CONFIG, DB_PATH, ENGINE, FEED, INGESTOR
from assistant.web.auth import only_agent, require
from assistant.web.body import BodyError, read_json
from assistant.web.errors import JsonError, json_dumps, json_error
from assistant.web.stream import scope_conversations, scope_of
from assistant.web.uitext import panel_followup_labels, panel_messages

STATIC_DIR = Path(__file__).resolve().parent / "static"
DEMO_CONVERSATION = "demo-1"
DEMO_CUSTOMER = "晴天小雨88"  # a buyer nick as Taobao shows them
# Ids of the events the demo box (and the panel, and follow-ups) write: a demo conversation holds no other.
DEMO_EVENT_PREFIXES = ("panel-demo-", "panel-used-", "auto-")
MAX_JSON_BYTES = 16_384
# The page loads only its own files; an injected tag could neither run nor load anything.
# Framing stays allowed: the panel runs as a Chatwoot dashboard app, inside Chatwoot's page.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'"
    ),
    "Referrer-Policy": "no-referrer",  # the URL carries the token
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


STATIC_FILES = {
    "sse.js": "text/javascript",
    "panel.js": "text/javascript",
    "panel.css": "text/css",
    "qa.js": "text/javascript",
    "qa.css": "text/css",
}


async def static_file(request: web.Request) -> web.StreamResponse:
    """`GET /panel/static/{filename}`: the pages' own scripts and styles, nothing else (404 in JSON)."""
    name = request.match_info["filename"]
    if name not in STATIC_FILES:
        return json_error(404, "not_found", "filename", "no such file")
    return web.FileResponse(STATIC_DIR / name, headers={"Content-Type": STATIC_FILES[name]})


async def root(request: web.Request) -> web.StreamResponse:
    """`GET /`: the agent panel (its query, e.g. `?agent=…&token=…`, kept)."""
    location = "/panel" + (f"?{request.query_string}" if request.query_string else "")
    raise web.HTTPFound(location, headers={"Referrer-Policy": "no-referrer"})


async def favicon(request: web.Request) -> web.StreamResponse:
    """`GET /favicon.ico`: the service's icon (SVG)."""
    return web.Response(
        text=FAVICON_SVG, content_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"}
    )


async def get_panel(request: web.Request) -> web.Response:
    """`GET /panel`: the requester's open conversations, most urgent first, updated live by panel.js."""
    scope = scope_of(request)
    config = request.app[CONFIG]
    conversations = await scope_conversations(request.app, scope)
    followups = request.app[FEED].followups_for(conversations)
    embedded = request.query.get("embed") == "chatwoot"
    state = {
        "scope": scope.to_json(),
        "embedded": embedded,  # waits for Chatwoot's appContext; elsewhere a link without an agent says so
        "server_ms": now_ms(),
        "conversations": conversations,
        "followups": followups,
        "demo": config.panel.demo,
        "demo_agent": config.panel.demo_agent,
        "open_hours": config.panel.open_hours,
        "followup_labels": panel_followup_labels(config.ui.language),
        "messages": panel_messages(config.ui.language),
    }
    html = await render_page(
        "panel.html",
        config.ui.language,
        state=state,
        scope=scope,
        conversations=conversations,
        followups=followups,
        key=page_key,
        labels=state["followup_labels"],
        demo=config.panel.demo,
        embedded=embedded,
    )
    return web.Response(text=html, content_type="text/html", charset="utf-8", headers=PAGE_HEADERS)


async def _json_body(request: web.Request) -> dict[str, Any]:
    body = await read_json(request, MAX_JSON_BYTES, timeout_s=request.app[CONFIG].server.request_timeout_s)
    if not isinstance(body, dict):
        raise BodyError(400, "expected a JSON object")
    return body


async def _ingest_one(request: web.Request, raw: dict[str, Any]) -> web.Response:
    config = request.app[CONFIG]
    try:
        event = parse_event(raw, max_text_chars=config.webhook.max_text_chars)
    except EventError as exc:
        return json_error(400, "invalid_request", exc.field, exc.message)
    responses = await request.app[INGESTOR].ingest([event])
    return web.json_response(responses[0], dumps=json_dumps)


async def post_used(request: web.Request) -> web.Response:
    """`POST /v1/panel/used`: the agent took a suggestion; log `suggestion_used` (the adoption signal).

    A per-agent token records only its own agent's use, in that agent's own conversations; the team
    token (a Chatwoot dashboard app shared by all agents) and stronger ones record any.
    """
    require(request, "agent")
    body = await _json_body(request)
    shop, conversation = body.get("shop"), body.get("conversation")
    customer = body.get("customer")
    known = isinstance(shop, str) and isinstance(conversation, str) and bool(shop) and bool(conversation)
    state = request.app[ENGINE].conversations.get(str(shop), str(conversation)) if known else None
    if not customer and state is not None:
        customer = state.customer or None
    bound = only_agent(request)
    if bound is not None and body.get("agent") != bound:
        return json_error(403, "forbidden", "agent", "a per-agent token records only that agent's own use")
    if bound is not None and (state is None or state.agent != bound):
        return json_error(
            403, "forbidden", "conversation", "a per-agent token records only in that agent's conversations"
        )
    raw = {
        "id": f"panel-used-{uuid.uuid4().hex}",
        "type": "suggestion_used",
        "ts": now_ms(),
        "shop": shop,
        "conversation": conversation,
        "customer": customer,
        "agent": _chatwoot_agent(request, shop, body.get("chatwoot_user")) if bound is None else None,
        "phrase_id": _phrase_id(request, body.get("phrase_id"), shop),
        "source": "panel",
    }
    raw["agent"] = raw["agent"] or body.get("agent")
    return await _ingest_one(request, raw)


def _phrase_id(request: web.Request, given: Any, shop: Any) -> Any:
    """The id of the phrase the agent took: an id of the library as it is, a code (yj1) as its phrase's id
    (among the phrases of `shop`'s conversations: its own, the shared ones it keeps).

    Anything else is refused (404, naming the field), as adoption is what ranks phrases and what the KPIs count: a code or a
    name the library does not know would be counted as a phrase nobody can find.
    """
    if not isinstance(given, str) or not given:
        return given  # the event's own check names the field
    library = request.app[ENGINE].library
    shop = clean_name(shop) if isinstance(shop, str) else ""
    if library.find(given, shop) is not None:
        return given
    found = next((p.id for p in library.visible(shop) if p.code == given), None)
    if found is None:
        raise JsonError(404, "not_found", "phrase_id", f"no phrase {given[:80]!r} in the library (its id or code)")
    return found


def _chatwoot_agent(request: web.Request, shop: Any, user: Any) -> str | None:
    """The name the log keeps for a Chatwoot user id (the Dashboard App's `currentAgent.id`), if known."""
    if not isinstance(shop, str) or isinstance(user, bool) or not isinstance(user, (int, str)):
        return None
    account = account_of_shop(shop)
    return request.app[CHATWOOT].agent_name(account, str(user)) if account is not None else None


async def post_demo(request: web.Request) -> web.Response:
    """`POST /v1/panel/demo`: in demo mode, post a customer message, an agent reply or an unpaid order (`sender`
    `order`, `amount` optional) into the demo conversation.

    It writes only into `demo-1` of the demo shop, only while that conversation holds nothing but demo
    events (a real conversation of that name is never written to), and replies in the caller's own
    name (a per-agent token's agent, else the demo agent).
    """
    require(request, "agent")
    panel = request.app[CONFIG].panel
    if not panel.demo:
        return json_error(404, "not_found", None, "demo mode is off ([panel] demo = false)")
    body = await _json_body(request)
    sender = body.get("sender", "customer")
    if sender not in ("customer", "agent", "order"):
        return json_error(400, "invalid_request", "sender", "expected 'customer', 'agent' or 'order'")
    if _holds_real_events(request.app[DB_PATH], panel.demo_shop, DEMO_CONVERSATION):
        return json_error(
            409,
            "conflict",
            None,
            f"{panel.demo_shop}/{DEMO_CONVERSATION} holds real events; the demo never writes there",
        )
    event_id = f"panel-demo-{uuid.uuid4().hex}"
    if sender == "order":  # an unpaid order: the idle follow-up after the next reply becomes a payment reminder
        order = {
            "id": event_id,
            "type": "order_created",
            "ts": now_ms(),
            "shop": panel.demo_shop,
            "conversation": DEMO_CONVERSATION,
            "customer": DEMO_CUSTOMER,
            "order": f"demo-{event_id[-8:]}",
            "amount": body.get("amount", 199.0),
            "agent": only_agent(request) or panel.demo_agent,
        }
        return await _ingest_one(request, order)
    raw = {
        "id": event_id,
        "type": "message",
        "ts": now_ms(),
        "shop": panel.demo_shop,
        "conversation": DEMO_CONVERSATION,
        "customer": DEMO_CUSTOMER,
        "sender": sender,
        "agent": only_agent(request) or panel.demo_agent,
        "text": body.get("text"),
    }
    return await _ingest_one(request, raw)


def _holds_real_events(path: store.Location, shop: str, conversation: str) -> bool:
    try:
        conn = store.connect(path, readonly=True)
    except sqlite3.OperationalError:  # no database yet
        return False
    try:
        return store.has_events_except(conn, shop, conversation, DEMO_EVENT_PREFIXES)
    finally:
        conn.close()
