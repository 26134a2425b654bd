"""`POST /v1/chatwoot`: Chatwoot account and API-inbox webhooks (agent-bot events too), verified and mapped.

Chatwoot never re-sends an account webhook that was refused, and a non-2xx marks an API-inbox message
failed or opens an agent bot's pending conversation: whatever Chatwoot legitimately sends is accepted.
"""

from __future__ import annotations

import logging
import time
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Any

import msgspec
from aiohttp import web

from assistant.chatwoot import (
    MAX_TEXT_CHARS,
    SHOP_PREFIX,
    STATUS_EVENTS,
    Notes,
    account_of_shop,
    claimed_account,
    map_payload,
)
from assistant.cluster.relay import Relay
from assistant.config import Config
from assistant.conversations import save_name
from assistant.events import EventError, parse_event
from assistant.signing import SignatureError, verify
from assistant.web.appkeys import CHATWOOT, CONFIG, ENGINE, FOLLOWUPS, INGESTOR, PUBLISHER, RELAY, WRITER
from assistant.web.body import declared_charset, decode_json, json_answer, read_body
from assistant.web.chatwoot_memory import CUSTOMER_MERGED, ChatwootMemory, Merged, merge_contacts, record
from assistant.web.errors import json_error

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Chatwoot-Signature"
TIMESTAMP_HEADER = "X-Chatwoot-Timestamp"
DELIVERY_HEADER = "X-Chatwoot-Delivery"
TOLERANCE_S = 300


async def _merge(app: web.Application, account: str, merged: str, into: str) -> Merged:
    """Merge contact `merged` into `into` in the log; the open panels show the cards of his conversations naming
    `into` at once (here, and on the other instances through the live journal), not at their next event."""
    now_ms = int(time.time() * 1000)
    merge_id = f"chatwoot-merge-{account}-{merged}-{into}-{now_ms}"
    relay = app.get(RELAY)

    def job(conn: Any) -> Merged:
        done = merge_contacts(conn, account, merged, into, now_ms)
        if relay is not None:
            fields = {"event_id": merge_id, "event_type": CUSTOMER_MERGED, "merged": merged, "merged_into": into}
            relay.record_cards(conn, done.conversations, fields)
        return done

    done = await app[WRITER].submit(job)
    # The cards of the merged contact's other conversations, cached, name the base contact too.
    cached = app[ENGINE].conversations.merge_customer(merged, into, lambda shop: account_of_shop(shop) == account)
    app[PUBLISHER].publish_cards(sorted({*done.conversations, *cached}), merge_id, CUSTOMER_MERGED)
    return done


# The last config's secrets: a config is read once, at start (secrets from the environment then), and frozen.
_secrets: tuple[Config, list[tuple[str, str | None]]] | None = None


def secrets(config: Config) -> list[tuple[str, str | None]]:
    """Every configured source's secret, with the account it belongs to (None: any account): the account
    webhook's, the API inbox's and the agent bots', then each account's own (`account_secrets_env`); listed
    once per config, not per delivery."""
    global _secrets
    known = _secrets
    if known is not None and known[0] is config:
        return known[1]
    settings = config.hooks.chatwoot
    named: list[tuple[str, str | None]] = [
        (name, None) for name in [settings.webhook_secret_env, *settings.extra_secrets_env]
    ]
    named += [(name, account) for account, name in settings.account_secrets_env.items()]
    found = ((config.secret(name), account) for name, account in named)
    listed = [(value, account) for value, account in found if value is not None]
    _secrets = (config, listed)
    return listed


def check_signature(request: web.Request, config: Config, body: bytes) -> web.Response | str | None:
    """None when the body is signed by a source of any account (or unsigned input is allowed), the account when
    signed by that account's own secret, else the 401."""
    keys = secrets(config)
    if not keys and config.hooks.chatwoot.allow_unsigned:
        return None  # a Chatwoot that does not sign, and no secret to check with: the operator allowed it
    if not keys:
        log.warning("rejected chatwoot payload: no secret is set and allow_unsigned is false")
        return json_error(401, "bad_signature", SIGNATURE_HEADER, "no webhook secret configured to verify with")
    problem: SignatureError | None = None
    for key, account in keys:  # each comparison is constant-time; which source signed is no secret
        try:
            verify(
                key,
                signature=request.headers.get(SIGNATURE_HEADER),
                timestamp=request.headers.get(TIMESTAMP_HEADER),
                body=body,
                tolerance_s=TOLERANCE_S,
            )
            return account
        except SignatureError as exc:
            problem = exc
    log.warning("rejected chatwoot payload from %s: %s", request.remote, problem)
    field = TIMESTAMP_HEADER if problem is not None and problem.header == "timestamp" else SIGNATURE_HEADER
    return json_error(401, "bad_signature", field, str(problem))


def wrong_account(config: Config, signer: str | None, payload: dict[str, Any]) -> web.Response | None:
    """The 401 when the payload claims an account its signature may not speak for: one with a secret of its own
    signed by another's, or by a secret of no account in particular."""
    own = config.hooks.chatwoot.account_secrets_env
    if signer is None and not own:
        return None  # a shared secret (or none) and no account with one of its own: any account may be claimed
    claimed = claimed_account(payload)
    if signer is None and (claimed is None or claimed not in own):
        return None
    if signer is not None and claimed == signer:
        return None
    log.warning("rejected chatwoot payload: account %s, signed with %s", claimed, f"account {signer}'s secret" if signer else "a shared secret")  # fmt: skip
    if claimed in own:
        why = f"account {claimed} has a secret of its own; this payload is signed with another"
    else:  # signed with another account's own secret, and no shared secret is set to speak for this one
        why = (
            f"no configured secret speaks for account {claimed}: add it to [hooks.chatwoot] account_secrets_env,"
            " or set a shared secret (webhook_secret_env)"
        )
    return json_error(401, "bad_signature", SIGNATURE_HEADER, why)


def warn_missing_token(config: Config, memory: ChatwootMemory, shop: str) -> None:
    """Once per account: a shop sends webhooks, and nothing can be posted back to it (no token for its account)."""
    account = account_of_shop(shop)
    settings = config.hooks.chatwoot
    if account is None or account in memory.tokens_warned:
        return
    if not (settings.post_suggestions_as_note or config.followups.mode_for(shop) == "send"):
        return  # nothing would be posted
    memory.tokens_warned.add(account)
    name = settings.token_env(account)
    if config.secret(name) is None:
        log.warning(
            "Chatwoot account %s sends webhooks, but %s is not set: no follow-up or note can be posted to it"
            " (give it a token in [hooks.chatwoot] account_tokens_env, docs/chatwoot.md)",
            account,
            name,
        )


def _record(conn: Any, notes: Notes, named: tuple[str, str, str] | None, relay: Relay | None) -> None:
    """One writer job: what the delivery taught the Chatwoot memory, and the contact's name when new or changed; a
    status journaled for the other instances, which keep the statuses they read until they hear of a change."""
    record(conn, notes)
    if named is not None:
        save_name(conn, *named)
    if relay is not None and notes.status is not None:
        account, conversation = notes.status[:2]
        fields = {"table": "chatwoot_statuses", "account": account, "conversation": conversation}
        relay.record_memory(conn, f"{SHOP_PREFIX}-{account}", conversation, fields)


async def post_chatwoot(request: web.Request) -> web.Response:
    """Verify, map and log one Chatwoot payload; unknown events are acknowledged and ignored."""
    app = request.app  # a property: read once
    config = app[CONFIG]
    settings = config.hooks.chatwoot
    if "chatwoot" not in config.hooks.enabled:
        return json_error(404, "not_enabled", None, "the chatwoot integration is not enabled in [hooks] enabled")
    body = await read_body(request, settings.max_body_bytes, timeout_s=config.server.request_timeout_s)
    signer = check_signature(request, config, body)
    if signer is not None and not isinstance(signer, str):  # a response is a MutableMapping: no ABC check asked
        return signer
    payload = decode_json(body, charset=declared_charset(request))
    if not isinstance(payload, dict):
        return json_error(400, "invalid_event", "body", "expected a JSON object")
    refused = wrong_account(config, signer, payload)
    if refused is not None:
        return refused
    memory = app[CHATWOOT]
    # Status deliveries are decided one at a time: two announcements of one resolve make one closure.
    serial: AbstractAsyncContextManager[Any] = memory.lock if payload.get("event") in STATUS_EVENTS else nullcontext()
    async with serial:
        try:
            mapped = map_payload(
                payload,
                by_inbox=settings.shop_by_inbox,
                now_ms=int(time.time() * 1000),
                item_attribute=settings.item_attribute,
                memory=memory,
            )
            limit = max(config.webhook.max_text_chars, MAX_TEXT_CHARS)  # stored whole; matching clips it
            events = [parse_event(raw, max_text_chars=limit) for raw in mapped.events]
        except EventError as exc:
            log.warning(
                "rejected chatwoot %s (delivery %s): %s",
                payload.get("event"),
                request.headers.get(DELIVERY_HEADER),
                exc,
            )
            return json_error(400, "invalid_event", exc.field, exc.message)
        named: tuple[str, str, str] | None = None
        if mapped.contact_name and events:  # before the cards are published: they show it
            shop, customer = events[0].shop, events[0].customer
            if app[ENGINE].conversations.name_customer(shop, customer, mapped.contact_name):
                named = (shop, customer, mapped.contact_name)  # new or changed: saved, so a restart still shows it
        if mapped.merged is not None:  # before the event naming the new contact: one buyer from then on
            account, merged, into = mapped.merged
            done = await _merge(app, account, merged, into)
            log.info("Chatwoot account %s: contact %s merged into %s (%d rows of the log moved)", account, merged, into, done.rows)  # fmt: skip
        results = await app[INGESTOR].ingest(events) if events else []
        for event in events:
            warn_missing_token(config, memory, event.shop)
        if mapped.channel is not None and (followups := app.get(FOLLOWUPS)) is not None:
            followup, refusal, stamped = mapped.channel  # news older than the log's latest of it change nothing
            await followups.deliverer.channel_news(
                followup, refusal, stamped
            )  # after its echo is logged: `failed` stays
        news = memory.news(mapped.notes)
        if news.inbox or news.followup or news.status or news.agents or news.place or named:
            relay = app.get(RELAY)
            await app[WRITER].submit(lambda conn: _record(conn, news, named, relay))
            memory.learned(news)
    if mapped.ignored is not None:
        level = logging.WARNING if mapped.unusual else logging.DEBUG
        log.log(
            level, "chatwoot %s of conversation %s ignored: %s", payload.get("event"), payload.get("id"), mapped.ignored
        )
        answer: dict[str, Any] = {"accepted": False, "ignored": mapped.ignored}
    else:
        answer = {"accepted": True, "events": results}
    # Encoded once, straight to bytes (Chinese kept as UTF-8), as POST /v1/events answers.
    return json_answer(msgspec.json.encode(answer))
