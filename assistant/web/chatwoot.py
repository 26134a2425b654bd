"""`POST /v1/chatwoot`: Chatwoot account webhooks and agent-bot events, verified and mapped."""

from __future__ import annotations

import json
import logging
import time

from aiohttp import web

from assistant.chatwoot import map_payload
from assistant.events import EventError, parse_event
from assistant.signing import SignatureError, verify
from assistant.web.appkeys import CONFIG, INGESTOR
from assistant.web.errors import json_dumps, json_error
from assistant.web.webhooks import BodyTooLarge, read_body
from assistant.writer import WriterClosed

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
    try:
        body = await read_body(request, config.server.max_body_bytes)
    except BodyTooLarge:
        return json_error(413, "payload_too_large", "body", f"body exceeds {config.server.max_body_bytes} bytes")
    signature = request.headers.get(SIGNATURE_HEADER)
    secret = config.secret(settings.webhook_secret_env)
    if signature is None and settings.allow_unsigned:
        pass  # an older Chatwoot that does not sign; the operator allowed it
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
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return json_error(400, "invalid_event", "body", f"not valid JSON ({exc})")
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
    try:
        results = await request.app[INGESTOR].ingest(events)
    except WriterClosed:
        return json_error(503, "shutting_down", None, "the service is stopping; retry later")
    return web.json_response({"accepted": True, "events": results}, dumps=json_dumps)
