"""JSON error responses and the middleware that keeps every error in that shape."""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

log = logging.getLogger(__name__)


def json_error(status: int, error: str, field: str | None, message: str, **extra: Any) -> web.Response:
    """A JSON error body naming the offending field."""
    body: dict[str, Any] = {"error": error, "field": field, "message": message, **extra}
    return web.json_response(body, status=status, dumps=json_dumps)


def json_dumps(obj: Any) -> str:
    """JSON with Chinese text kept readable."""
    return json.dumps(obj, ensure_ascii=False)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn aiohttp's plain-text HTTP errors and unexpected exceptions into JSON."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.content_type == "application/json" or exc.status < 400:
            raise
        reason = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(exc.status, "http_error")
        return json_error(exc.status, reason, None, exc.reason)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_error(500, "internal_error", None, "internal error; the request was not processed")
