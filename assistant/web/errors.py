"""JSON errors, the one shape every error takes: `{"error", "field", "message"}`, and a failure turned into it (`as_json`).

Database trouble (a full disk, a lock held too long by another process, a read-only file) answers 503 with
`Retry-After`, never 500: nothing of the request was acknowledged, and trying again later is right.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import hdrs, web
from aiohttp.http import HttpVersion11

from assistant.config import Config
from assistant.tasks import FaultLog, fault_reason, is_storage_fault
from assistant.web.appkeys import CONFIG, WRITER
from assistant.web.body import BodyError
from assistant.writer import WriterClosed

log = logging.getLogger(__name__)
_faults = FaultLog(log)  # an app without a writer (a test's)

_REASONS = {404: "not_found", 405: "method_not_allowed", 408: "request_timeout", 413: "payload_too_large"}
RETRY_AFTER_S = 5


class JsonError(web.HTTPException):
    """An error raised deep in a handler (a token check, a query parameter) that answers in the JSON shape."""

    def __init__(self, status: int, error: str, field: str | None, message: str, **extra: Any) -> None:
        self.status_code = status
        body = json_dumps({"error": error, "field": field, "message": message, **extra})
        super().__init__(text=body, content_type="application/json")


def json_error(
    status: int,
    error: str,
    field: str | None,
    message: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> web.Response:
    """A JSON error response naming the offending field."""
    body: dict[str, Any] = {"error": error, "field": field, "message": message, **extra}
    return web.json_response(body, status=status, dumps=json_dumps, headers=headers)


def expect_body(limit_of: Callable[[Config], int]) -> Callable[[web.Request], Awaitable[web.StreamResponse | None]]:
    """A route's `Expect: 100-continue` handler: a body declared larger than the route takes is refused before
    the client sends it (413 in JSON, the connection closed), where aiohttp's own handler said 100 Continue to
    any length and the client sent its megabytes for a 413 after them. Every route has one (`routes`): an
    `Expect` other than 100-continue is a 417 in JSON."""

    async def handler(request: web.Request) -> web.StreamResponse | None:
        expect = request.headers.get(hdrs.EXPECT, "")
        if request.version != HttpVersion11:
            return None
        if expect.lower() != "100-continue":  # aiohttp's answer was text/plain, outside every middleware
            resp = json_error(
                417,
                "expectation_failed",
                hdrs.EXPECT,
                f"unknown Expect: {expect[:60]}; only 100-continue is understood",
            )
            resp.force_close()  # the body was never asked for
            return resp
        limit = limit_of(request.app[CONFIG])
        if request.content_length is not None and request.content_length > limit:
            log.warning("rejected %s %s from %s: body of %d bytes declared (Expect: 100-continue), over %d",
                        request.method, request.path, request.remote, request.content_length, limit)  # fmt: skip
            resp = json_error(413, "payload_too_large", "body", f"body exceeds {limit} bytes")
            resp.force_close()  # the body was never asked for: the connection ends with this answer
            return resp
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # as aiohttp's own handler: the answer's size starts after the 100
        return None

    return handler


def unavailable(error: str, message: str) -> web.Response:
    """503 with `Retry-After`: nothing was done; the same request later will be."""
    return json_error(503, error, None, message, headers={"Retry-After": str(RETRY_AFTER_S)})


def json_dumps(obj: Any) -> str:
    """JSON with Chinese text kept readable."""
    return json.dumps(obj, ensure_ascii=False)


def as_json(request: web.Request, exc: Exception) -> web.StreamResponse | None:
    """A handler's failure in the JSON shape: aiohttp's plain-text HTTP errors, bad bodies, database faults and
    unexpected exceptions; None for an HTTP exception that is no error (a redirect) or is one in JSON already,
    which goes on as it is (every route's guard, `guard.guarded`, asks this)."""
    if isinstance(exc, web.HTTPException):
        if exc.content_type == "application/json" or exc.status < 400:
            return None
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return json_error(exc.status, _REASONS.get(exc.status, "http_error"), None, exc.reason, headers=headers)
    if isinstance(exc, BodyError):
        log.warning("rejected %s %s from %s: %s", request.method, request.path, request.remote, exc.message)
        retry = {"Retry-After": str(RETRY_AFTER_S)} if exc.status == 503 else None  # the service is stopping
        resp = json_error(exc.status, exc.error, exc.field, exc.message, headers=retry)
        if not request.content.is_eof():  # the rest of the body is unread (too big, too slow, undecodable):
            resp.force_close()  # the connection ends after this answer, and the answer says so
        return resp
    if isinstance(exc, WriterClosed):
        return unavailable("shutting_down", "the service is stopping; retry later")
    if is_storage_fault(exc):
        reason = log_failure(request, exc, "answered 503")
        done = "read" if request.method in ("GET", "HEAD") else "written"  # a page that only reads
        return unavailable("storage_unavailable", f"the database cannot be {done} now ({reason}); retry later")
    log_failure(request, exc, "answered 500")
    return json_error(500, "internal_error", None, "internal error; the request was not processed")


def log_failure(request: web.Request, exc: Exception, outcome: str) -> str:
    """Log a request's failure: a database fault once per kind (then a line a minute), anything else in full; the
    fault's kind, which is all an answer may say (the detail names a server's address, port and role)."""
    if not is_storage_fault(exc):
        log.error("unhandled error on %s %s; %s", request.method, request.path, outcome, exc_info=exc)
        return "internal error"
    faults = request.app[WRITER].faults if WRITER in request.app else _faults
    reason = fault_reason(exc)
    faults.log(f"request:{reason}", "storage fault on %s %s: %s; %s", request.method, request.path, exc, outcome)
    return reason
