"""`POST /v1/events`: read, authenticate, validate, and hand events to the ingestor."""

from __future__ import annotations

import logging

from aiohttp import web

from assistant.events import EventError, parse_body, parse_event
from assistant.signing import SignatureError, verify
from assistant.web.appkeys import CONFIG, INGESTOR
from assistant.web.errors import json_dumps, json_error
from assistant.writer import WriterClosed

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Assistant-Signature"
TIMESTAMP_HEADER = "X-Assistant-Timestamp"


class BodyTooLarge(Exception):
    pass


async def read_body(request: web.Request, limit: int) -> bytes:
    """The raw body, refusing more than `limit` bytes without reading it all."""
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge
    body = await request.content.read(limit + 1)
    if len(body) > limit:
        raise BodyTooLarge
    return body


async def post_events(request: web.Request) -> web.Response:
    """Accept one event or a batch; respond after it is durably logged."""
    config = request.app[CONFIG]
    peer = request.remote
    try:
        body = await read_body(request, config.server.max_body_bytes)
    except BodyTooLarge:
        log.warning("rejected from %s: body over %d bytes", peer, config.server.max_body_bytes)
        return json_error(413, "payload_too_large", "body", f"body exceeds {config.server.max_body_bytes} bytes")
    secret = config.secret(config.webhook.secret_env)
    if secret is not None:
        try:
            verify(
                secret,
                signature=request.headers.get(SIGNATURE_HEADER),
                timestamp=request.headers.get(TIMESTAMP_HEADER),
                body=body,
                tolerance_s=config.webhook.signature_tolerance_s,
            )
        except SignatureError as exc:
            log.warning("rejected from %s: %s", peer, exc)
            return json_error(401, "bad_signature", SIGNATURE_HEADER, str(exc))
    is_batch = body.lstrip()[:1] == b"["
    try:
        raws = parse_body(body, config.server.max_batch)
        events = []
        for index, raw in enumerate(raws):
            try:
                events.append(parse_event(raw, max_text_chars=config.webhook.max_text_chars))
            except EventError as exc:
                exc.index = index if is_batch else None
                raise
    except EventError as exc:
        log.warning("rejected from %s: %s", peer, exc)
        extra = {"index": exc.index} if exc.index is not None else {}
        return json_error(400, "invalid_event", exc.field, exc.message, **extra)
    try:
        responses = await request.app[INGESTOR].ingest(events)
    except WriterClosed:
        return json_error(503, "shutting_down", None, "the service is stopping; retry later")
    return web.json_response(responses if is_batch else responses[0], dumps=json_dumps)


async def healthz(request: web.Request) -> web.Response:
    """Liveness."""
    return web.json_response({"ok": True})
