"""JSON errors, the one shape every error takes: `{"error", "field", "message"}`, and the middleware that keeps it."""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

log = logging.getLogger(__name__)

_REASONS = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


class JsonError(web.HTTPException):
    """An error raised deep in a handler (a token check, a query parameter) that answers in the JSON shape."""

    def __init__(self, status: int, error: str, field: str | None, message: str, **extra: Any) -> None:
        self.status_code = status
        body = json_dumps({"error": error, "field": field, "message": message, **extra})
        super().__init__(text=body, content_type="application/json")


def json_error(status: int, error: str, field: str | None, message: str, **extra: Any) -> web.Response:
    """A JSON error response naming the offending field."""
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
        return json_error(exc.status, _REASONS.get(exc.status, "http_error"), None, exc.reason)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_error(500, "internal_error", None, "internal error; the request was not processed")
