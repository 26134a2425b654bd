"""`POST /v1/chatwoot`: Chatwoot account webhooks and agent-bot events, verified and mapped."""

from __future__ import annotations

import logging
import time

from aiohttp import web

from assistant.chatwoot import map_payload
from assistant.events import EventError, parse_event
from assistant.signing import SignatureError, verify
from assistant.web.appkeys import CONFIG, INGESTOR
from assistant.web.body import decode_json, read_body
from assistant.web.errors import json_dumps, json_error

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Chatwoot-Signature"
TIMESTAMP_HEADER = "X-Chatwoot-Timestamp"
DELIVERY_HEADER = "X-Chatwoot-Delivery"
TOLERANCE_S = 300


async def post_chatwoot(request: web.Request) -> web.Response:
    """Verify, map and log one Chatwoot payload; unknown events are acknowledged and ignored."""
    config = request.app[CONFIG]
    settings = config.hooks.chatwoot
    if "chatwoot" not in config.hooks.enabled:
        return json_error(404, "not_enabled", None, "the chatwoot integration is not enabled in [hooks] enabled")
    body = await read_body(request, config.server.max_body_bytes, timeout_s=config.server.request_timeout_s)
    signature = request.headers.get(SIGNATURE_HEADER)
    secret = config.secret(settings.webhook_secret_env)
    if secret is None and settings.allow_unsigned:
        pass  # an older Chatwoot that does not sign, and no secret to check with: the operator allowed it
    elif secret is None:
        log.warning("rejected chatwoot payload: %s is not set and allow_unsigned is false", settings.webhook_secret_env)
        return json_error(401, "bad_signature", SIGNATURE_HEADER, "no webhook secret configured to verify with")
    else:
        try:
            verify(
                secret,
                signature=signature,
                timestamp=request.headers.get(TIMESTAMP_HEADER),
                body=body,
                tolerance_s=TOLERANCE_S,
            )
        except SignatureError as exc:
            log.warning("rejected chatwoot payload from %s: %s", request.remote, exc)
            return json_error(401, "bad_signature", SIGNATURE_HEADER, str(exc))
    payload = decode_json(body, charset=request.charset)
    if not isinstance(payload, dict):
        return json_error(400, "invalid_event", "body", "expected a JSON object")
    try:
        mapped = map_payload(
            payload,
            delivery=request.headers.get(DELIVERY_HEADER),
            by_inbox=settings.shop_by_inbox,
            now_ms=int(time.time() * 1000),
            item_attribute=settings.item_attribute,
        )
        events = [parse_event(raw, max_text_chars=config.webhook.max_text_chars) for raw in mapped.events]
    except EventError as exc:
        log.warning("rejected chatwoot payload: %s", exc)
        return json_error(400, "invalid_event", exc.field, exc.message)
    if mapped.ignored is not None:
        log.debug("chatwoot %s ignored: %s", payload.get("event"), mapped.ignored)
        return web.json_response({"accepted": False, "ignored": mapped.ignored}, dumps=json_dumps)
    results = await request.app[INGESTOR].ingest(events)
    return web.json_response({"accepted": True, "events": results}, dumps=json_dumps)
