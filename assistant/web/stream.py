"""`GET /v1/stream`: the HTTP half of the live feed: who may watch what, snapshots, and the SSE stream."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp_sse import EventSourceResponse, sse_response

from assistant import store
from assistant.chatwoot import account_of_shop
from assistant.conversations import CARD_MESSAGES, ConversationState
from assistant.events import clean_name
from assistant.i18n import translator
from assistant.live import Entry, Scope, Stream, resume_position, sse_frame, update_frame
from assistant.privacy import mask
from assistant.qa.store import masked_flags
from assistant.suggest.engine import SuggestionEngine
from assistant.suggest.matcher import CustomerType, Suggestion, customer_type_json
from assistant.suggest.matching import Answer, Request, answer
from assistant.tasks import Turns
from assistant.web.appkeys import CONFIG, DB_PATH, ENGINE, FEED, RELAY
from assistant.web.auth import only_agent, require
from assistant.web.errors import JsonError, log_failure

if TYPE_CHECKING:
    from assistant.cluster.relay import Relay

RETRY_MS = 1000  # EventSource's reconnection delay
MAX_PARAM_CHARS = 200
SHORT_ID_CHARS = 6  # a customer known only by id is labelled with its last digits


# ---- what a panel sees of a conversation ---------------------------------------------------------


def ensure_suggestions(state: ConversationState, engine: SuggestionEngine) -> None:
    """Fill in suggestions and customer type for a state rebuilt from the log (they are not logged in full).

    A message answered without suggestions (`suggestions_withheld`) is not matched again: the agent saw none, and
    the card, rebuilt after a restart or by another instance, says what the agent saw. While the service's own
    matcher is built (no worker took the card, and a reload left the service the library alone), the card is left
    as it is, without suggestions or type, and matched when it is built again."""
    if state.customer_type_detail is not None or not state.customer_messages:
        return
    withheld = state.card_parts()[2]
    if withheld is not None:
        state.show([], customer_type_json(engine.classify(state)), withheld)
        return
    matcher = engine.own.get()
    if matcher is None:
        return
    request, item = _card_request(state, engine)
    _show(state, engine, request, *answer(matcher, request, engine.adoption(state.shop)), item)


async def suggestions_served(states: Sequence[ConversationState], engine: SuggestionEngine) -> None:
    """`ensure_suggestions` for a snapshot's cards, each matched by its conversation's matching worker when one can
    take it: matched on the event loop, a panel opening after a restart held every event behind up to 500
    matchings (in turns). A card no worker can take, or whose worker does not answer, is matched here as before
    (`conversation_json`); one whose conversation moved on meanwhile keeps what its new message showed. Those are
    matched once the service's own matcher is built (after a reload, while workers served, it held the library
    alone), the event loop serving meanwhile."""
    workers = engine.workers
    if workers is None:
        return
    waiting = []
    for state in states:
        if not _unmatched(state):
            continue
        request, item = _card_request(state, engine)
        future = workers.submit(request, f"{state.shop}\x1f{state.conversation}")
        if future is None:
            break  # none can take more: the rest are matched here
        waiting.append((state, request, item, future))
    for state, request, item, future in waiting:
        reply = await future
        latest = state.customer_messages[-1] if state.customer_messages else None
        if isinstance(reply, Answer) and state.customer_type_detail is None and latest == (request.ts_ms, request.text):
            _show(state, engine, request, reply.suggestions, reply.kind, item)
    if any(_unmatched(state) for state in states):
        await engine.own.built()


def _unmatched(state: ConversationState) -> bool:
    """A card whose latest customer message is to be matched (neither matched nor answered without suggestions)."""
    return state.customer_type_detail is None and bool(state.customer_messages) and state.card_parts()[2] is None


def _card_request(state: ConversationState, engine: SuggestionEngine) -> tuple[Request, str | None]:
    """A card's latest customer message as a matching request, in its conversation as the log has it; and its
    item. The shop's adoption counts are read first (a worker is sent them before the request)."""
    history = list(state.customer_messages)
    (ts_ms, text), earlier = history[-1], history[:-1]
    item = engine.items.item_of(state, text)
    engine.adoption(state.shop)
    variables = engine.context_for(state, state.shop, state.customer).variables
    unpaid, title = bool(state.unpaid_orders), engine.items.title_of(item)
    request = Request(
        0,
        text,
        ts_ms,
        earlier,
        list(state.agent_replies),
        unpaid,
        dict(variables),
        state.shop,
        title,
        state.ordered,
        state.past_orders,
    )
    return request, item


def _show(
    state: ConversationState,
    engine: SuggestionEngine,
    request: Request,
    suggestions: list[Suggestion],
    kind: CustomerType,
    item: str | None,
) -> None:
    """A card's suggestions as a customer message's are made of the matcher's: the item's answers first, then the
    plugins' adjustments."""
    text, shop, earlier = request.text, state.shop, [t for _, t in request.history]
    found = engine.with_item(suggestions, text, earlier, item, request.variables, shop)
    found = engine.adjusted(found, kind, state, shop, state.conversation, state.customer, text, item=item)
    state.show(engine.response(found, kind)["suggestions"], customer_type_json(kind))


# What a card shows of a suggestion: its odds dim a guess and its evidence says why (docs/panel.md).
CARD_SUGGESTION_KEYS = ("phrase_id", "intent", "code", "text", "score", "confidence", "evidence")


def conversation_json(state: ConversationState, engine: SuggestionEngine) -> dict[str, Any]:
    """One conversation as a panel card shows it; message text, and the words of its quality flags, masked like
    every page (`[privacy] mask`): a flag's words are often what masking hides (off_platform.phone's number)."""
    ensure_suggestions(state, engine)
    masking = engine.config.privacy.mask
    shown = mask if masking else _as_is
    recent = list(state.recent)
    suggestions, customer_type, withheld = state.card_parts()
    last_ms = max([m["ts_ms"] for m in recent[-1:]] + [state.last_customer_ms or 0, state.last_agent_ms or 0])
    return {
        "shop": state.shop,
        "conversation": state.conversation,
        "customer": state.customer,
        "customer_label": customer_label(state, engine),
        "agent": state.agent,
        "status": state.status,
        "waiting_since_ms": state.waiting_since_ms,
        "last_ms": last_ms,
        "messages": [
            {
                "sender": m["sender"],
                "agent": m["agent"],
                "text": m["text"] and shown(m["text"]),
                "ts_ms": m["ts_ms"],
                "qa": masked_flags(m.get("qa") or [], m["text"] or "") if masking else m.get("qa") or [],
            }
            for m in recent[-CARD_MESSAGES:]
        ],
        "suggestions": [{key: s.get(key) for key in CARD_SUGGESTION_KEYS} for s in suggestions],
        "suggestions_withheld": withheld,  # answered without (matching busy): the card says so
        "customer_type": customer_type,
        "unpaid_orders": [{"order": order, "amount": amount} for order, amount in state.unpaid_orders.items()],
        "item": engine.items.card(engine.items.item_of(state, ""), suggestions),
    }


def customer_label(state: ConversationState, engine: SuggestionEngine) -> str:
    """Who a card is about: the customer's name; in a shop whose log knows customers by id (Chatwoot), the name
    its payloads gave, else 买家 and the id's last digits, never the bare id as if it were a name."""
    if not state.customer or account_of_shop(state.shop) is None:
        return state.customer
    name = engine.conversations.customer_name(state.shop, state.customer)
    if name:
        return name
    return translator(engine.config.ui.language).gettext("Buyer #%(id)s", id=state.customer[-SHORT_ID_CHARS:])


def _as_is(text: str) -> str:
    return text


def urgency(conversation: dict[str, Any]) -> tuple[bool, int, int]:
    """Sort key: customers waiting longest first, then the most recently active."""
    waiting = conversation.get("waiting_since_ms")
    return (waiting is None, waiting or 0, -(conversation.get("last_ms") or 0))


def conversation_snapshot(engine: SuggestionEngine) -> Any:
    """The live feed's `Snapshot`: a conversation's card from the engine's current state. On a shared database a
    state that cannot be read raises (the relay reads the card again later) rather than making an empty card: one
    with no messages and no agent, which no agent's panel would get."""
    conversations = engine.conversations
    return lambda shop, conversation: conversation_json(conversations.get(shop, conversation, strict=True), engine)


# ---- who may watch what --------------------------------------------------------------------------


def _param(request: web.Request, name: str) -> str | None:
    value = clean_name(request.query.get(name, "")).strip()
    if len(value) > MAX_PARAM_CHARS:
        raise JsonError(400, "invalid_query", name, "too long")
    return value or None


def _holds(request: web.Request, role: str) -> bool:
    try:
        require(request, role)  # type: ignore[arg-type]
    except JsonError:
        return False
    return True


def scope_of(request: web.Request) -> Scope:
    """The scope a panel or stream request asks for, after checking its token.

    `shop` + `conversation` (or Chatwoot's `account` [+ `inbox`] + `conversation`) watch one conversation;
    `agent` follows an agent; neither follows everything for a supervisor, and nothing for an agent
    or with `embed=chatwoot` (the panel then waits for Chatwoot's appContext).
    """
    require(request, "agent")
    agent = _param(request, "agent")
    conversation = _param(request, "conversation")
    if conversation is not None and only_agent(request) is not None:
        raise JsonError(403, "forbidden", "conversation", "a per-agent token opens that agent's own panel only")
    if conversation is not None:
        shop = _param(request, "shop")
        account = _param(request, "account")
        if shop is None and account is not None:
            from assistant.chatwoot import shop_id  # the Chatwoot dashboard app knows accounts, not shops

            by_inbox = request.app[CONFIG].hooks.chatwoot.shop_by_inbox
            shop = shop_id(account, _param(request, "inbox"), by_inbox=by_inbox)
        if shop is None:
            raise JsonError(400, "invalid_query", "shop", "required with conversation")
        return Scope(agent=agent, watch=(shop, conversation))
    if agent is not None:
        return Scope(agent=agent)
    if request.query.get("embed") == "chatwoot":
        return Scope()  # a dashboard app: nothing until Chatwoot says which conversation is open
    return Scope(everything=_holds(request, "supervisor"))


async def scope_conversations(app: web.Application, scope: Scope) -> list[dict[str, Any]]:
    """The conversations a scope shows right now, most urgent first (from the log and the live state).

    Up to 500 cards, each a conversation loaded from the log and its suggestions worked out: a second and more
    when a big shop's agent first opens the panel. The log is read in a thread, and the cards are built in turns
    (`Turns`), so that events and other requests go on meanwhile. On a shared database a conversation that cannot be
    read raises (the stream ends, the page connects again): read as one with no events and no agent, it was left out
    of an agent's snapshot, which replaces what the panel shows.
    """
    engine = app[ENGINE]
    conversations = engine.conversations
    if scope.watch is not None:
        watched = conversations.get(*scope.watch, strict=True)
        await suggestions_served([watched], engine)
        return [conversation_json(watched, engine)]
    if scope.empty:
        return []
    open_hours = app[CONFIG].panel.open_hours
    quiet_ms = int(open_hours * 3_600_000) if open_hours else None
    rows = await asyncio.to_thread(_open_rows, app[DB_PATH], None if scope.everything else scope.agent, quiet_ms)
    states, found = [], []
    turns = Turns()
    for row in rows:
        states.append(conversations.get(row["shop"], row["conversation"], strict=True))
        await turns.take()
    await suggestions_served(states, engine)
    for state in states:
        found.append(conversation_json(state, engine))
        await turns.take()
    return sorted((c for c in found if scope.shows(c)), key=urgency)


def _open_rows(db: store.Location, agent: str | None, quiet_ms: int | None) -> list[sqlite3.Row]:
    try:
        conn = store.connect(db, readonly=True)
    except sqlite3.OperationalError:  # no database yet
        return []
    try:
        return store.open_conversations(conn, agent=agent, quiet_ms=quiet_ms)
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


async def snapshot_json(app: web.Application, scope: Scope) -> str:
    """The full state a (re)connecting panel starts from."""
    conversations = await scope_conversations(app, scope)
    return json.dumps(
        {
            "server_ms": store.now_ms(),
            "scope": scope.to_json(),
            "conversations": conversations,
            "followups": app[FEED].followups_for(conversations),
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


# ---- the SSE endpoint ----------------------------------------------------------------------------


async def get_stream(request: web.Request) -> web.StreamResponse:
    """`GET /v1/stream`: Server-Sent Events of the requester's conversations (see `scope_of`)."""
    scope = scope_of(request)
    if scope.empty:
        raise JsonError(400, "invalid_query", "agent", "agent or conversation required")
    feed = request.app[FEED]
    # The library's comment pings are not needed: our heartbeat event does their job and is visible to JS.
    async with sse_response(request, ping_interval=24 * 3600) as resp:
        last_event_id = resp.last_event_id or request.query.get("last_event_id")
        stream, missed = feed.open(scope, last_event_id)
        opened_at = feed.last_id  # what follows is pushed to the stream: resumed panels carry on from here
        try:
            first = None
            position = resume_position(last_event_id)
            relay = request.app.get(RELAY)
            if missed is None and position is not None and relay is not None:
                first = await _resume_from_journal(relay, scope, position, opened_at)
            opening = first or await _opening(request.app, stream, missed, opened_at)
            await _serve_stream(request.app, resp, stream, opening)
        except (ConnectionError, TimeoutError):
            pass  # the panel went away; it reconnects on its own
        except Exception as exc:
            # The answer has begun (200, an event stream), so the 503 a database fault gets cannot be sent: the
            # connection stayed open with nothing on it, and a panel resuming on a loaded instance (its cards read
            # on the event loop, bounded) waited for good. The stream ends instead; the page connects again.
            log_failure(request, exc, "its stream ended")
        finally:
            feed.close(stream)
    return resp


async def _resume_from_journal(relay: Relay, scope: Scope, position: int, opened_at: str) -> bytes | None:
    """A panel whose instance died (or that fell out of this one's journal) resumes from the shared journal:
    the cards and follow-up lines it missed, then the id it carries on from; None: it needs a snapshot."""
    updates = await relay.since(position, scope)
    if updates is None:
        return None
    hello = json.dumps({"server_ms": store.now_ms(), "missed": len(updates), "from": "journal"})
    # The id comes last: a panel cut off halfway keeps its old id and is sent the whole lot again.
    return b"".join(update_frame(u) for u in updates) + sse_frame(hello, event="resumed", id=opened_at, retry=RETRY_MS)


async def _opening(app: web.Application, stream: Stream, missed: list[Entry] | None, opened_at: str) -> bytes:
    """The first write: the entries missed since the panel's id in this process's journal, or a snapshot.

    The snapshot carries the id the stream was opened at: updates published while it was built follow it.
    """
    if missed is None:
        return sse_frame(await snapshot_json(app, stream.scope), event="snapshot", id=opened_at, retry=RETRY_MS)
    hello = json.dumps({"server_ms": store.now_ms(), "missed": len(missed)})
    return sse_frame(hello, event="resumed", retry=RETRY_MS) + b"".join(e.frame for e in missed)


async def _serve_stream(app: web.Application, resp: EventSourceResponse, stream: Stream, first: bytes) -> None:
    feed = app[FEED]
    await resp.write(first)
    while not stream.closed:
        await stream.wake.wait()
        stream.wake.clear()
        if stream.closed:
            break
        # Everything pending goes out in one write: under load a panel gets few, larger packets.
        chunks = []
        if stream.heartbeat:
            stream.heartbeat = False
            chunks.append(sse_frame(json.dumps({"server_ms": store.now_ms()}), event="heartbeat"))
        if stream.resync:
            stream.resync = False
            stream.pending.clear()
            cleared_at = feed.last_id  # what is published while the snapshot is built is pending again
            chunks.append(sse_frame(await snapshot_json(app, stream.scope), event="snapshot", id=cleared_at))
        while stream.pending:
            chunks.append(stream.pending.popleft().frame)
        await resp.write(b"".join(chunks))
