"""The HTTP server the service runs on: aiohttp's, with its protocol-level errors in JSON, its time limits
from `[server]`, and an access log that never shows a token.

aiohttp answers a request it cannot parse (a bad request line, a header too long, broken chunking) before
any middleware runs, in plain text; `JsonErrorHandler` gives those the JSON shape of every other error.

On stop, aiohttp stops reading every connection at once: a request whose body was still arriving waited for
the rest until the shutdown's time ran out, and its connection was dropped with no answer. Here the body of
a request in hand is still read, for most of the shutdown's time (`body_grace_s`); one that has not arrived
by then is answered 503 `shutting_down`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import json
import logging
import os
import re
import socket
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, cast
from urllib.parse import unquote_plus

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.helpers import DEFAULT_CHUNK_SIZE
from aiohttp.http import HttpRequestParser
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong
from aiohttp.streams import EMPTY_PAYLOAD, StreamReader
from aiohttp.web_protocol import RequestHandler, RequestPayloadError, _ErrInfo

from assistant.config import Config
from assistant.web.appkeys import FILES, STARTUP
from assistant.web.body import BodyError
from assistant.web.filelimit import FileLimit
from assistant.web.starting import StartStopped, gate
from assistant.web.stopping import ReadsAbandoned

_REASONS = {
    400: "bad_request",
    413: "payload_too_large",
    414: "uri_too_long",
    431: "headers_too_large",
    500: "internal_error",
}
# The longest request line (method, URL, version) taken; aiohttp's own, 8190 bytes, held about 900 Chinese
# characters of `GET /v1/suggest?text=` (9 bytes each percent-encoded), where the route takes 5000 (45,000
# bytes) and a conversation, a shop and an item beside them. Headers keep aiohttp's 8190 bytes each.
MAX_URL_BYTES = 65_536
_PARAM = re.compile(r"((?:^|[?&;])([^=&;#\s?]*)=)([^&;#\s]*)")
_TOKEN_KEYS = frozenset({"token", "access_token", "api_access_token"})
# Parameters that carry chat text (a buyer's message, an agent's draft, a search): the access log shows their length
# only, as the text may hold a phone number or an address (percent-encoding hides nothing).
_TEXT_KEYS = frozenset({"text", "q"})
log = logging.getLogger(__name__)
SHUTDOWN_TIMEOUT_S = 10.0


# aiohttp quotes the start of a line it found too long (`… when reading: bytearray(b'/logs/daily?token=…')`):
# a request line's `?token=` or an `Authorization` header would be logged and echoed.
_QUOTED_BYTES = re.compile(r":?\s*(?:bytearray\()?b(?:'|\").*", re.S)


def mask_tokens(text: str) -> str:
    """A URL or request line with the value of every `token=` parameter hidden, its name read as the service
    reads it (`%74oken=` is `token=`: it was logged in clear)."""

    def hide(found: re.Match[str]) -> str:
        return found.group(1) + "***" if unquote_plus(found.group(2)).lower() in _TOKEN_KEYS else found.group(0)

    return _PARAM.sub(hide, text)


def loggable(path_qs: str) -> str:
    """A request's path and query as the access log shows it: tokens hidden (`mask_tokens`), and the chat text of
    `text=` and `q=` (/v1/suggest, /v1/qa/check, /v1/phrases/search, /logs/daily) replaced by its length."""

    def hide(found: re.Match[str]) -> str:
        if unquote_plus(found.group(2)).lower() in _TEXT_KEYS and found.group(3):
            return f"{found.group(1)}<{len(unquote_plus(found.group(3)))} chars>"
        return found.group(0)

    return _PARAM.sub(hide, mask_tokens(path_qs))


def client_problem(message: str) -> str:
    """A protocol error's message without the bytes the client sent: its first line, no quoted excerpt."""
    lines = message.strip().splitlines()  # the first names the problem; the rest show the bytes
    first = _QUOTED_BYTES.sub("", lines[0]).rstrip(": ") if lines else ""
    return loggable(first)


class AccessLogger(AbstractAccessLogger):
    """One line per request: peer, request line (tokens masked, chat text as its length), status, size, duration."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            '%s "%s %s HTTP/%d.%d" %d %d %.1fms',
            request.remote,
            request.method,
            loggable(request.path_qs)[:2000],
            request.version.major,
            request.version.minor,
            response.status,
            response.body_length,
            time * 1000,
        )


class _Idle:
    """The protocol of a parser that only looks where a segment's requests end: its bodies pause nothing."""

    def pause_reading(self) -> None:
        pass

    def resume_reading(self, resume_parser: bool = True) -> None:
        pass


class _RequestsBeforeAnError:
    """The connection's request parser; a segment holding whole requests and then bytes that are no request gives
    those requests, then the error.

    aiohttp's parser reports a segment's parse error alone, dropping the requests it parsed before it in the same
    segment: a valid event followed in one TCP segment by garbage was answered 400 (its client read the 400 as the
    event's answer) and never logged. Here, on such an error, a parser of its own reads the segment again and
    finds the longest start of it that parses (a few parses of the segment, on errors only); the requests whole
    within it are handled, then the 400. Only when the connection was between two requests as the segment came
    (no body still arriving) and the new parser meets the same error: otherwise what was read is unknown to it.
    """

    def __init__(self, parser: Any, make: Callable[[Any], Any]) -> None:
        self.parser = parser
        self.make = make  # a parser of the same settings for a protocol
        self.last: StreamReader | None = None  # the body of the last request given
        consumed = getattr(parser, "message_consumed", None)
        if consumed is not None:  # called for every request: found here, not through __getattr__
            self.message_consumed = consumed

    def __getattr__(self, name: str) -> Any:
        return getattr(self.parser, name)

    def feed_data(self, data: bytes) -> tuple[list[tuple[Any, StreamReader]], bool, bytes]:
        between = self.last is None or self.last.is_eof()  # not a body's rest: the segment starts a request
        try:
            messages, upgraded, tail = self.parser.feed_data(data)
        except HttpProcessingError as exc:
            before = self._before(data, exc) if between else []
            if not before:
                raise
            return [*before, (_ErrInfo(status=400, exc=exc, message=exc.message), EMPTY_PAYLOAD)], False, b""
        if messages:
            self.last = messages[-1][1]
        return messages, upgraded, tail

    def _before(self, data: bytes, error: HttpProcessingError) -> list[tuple[Any, StreamReader]]:
        """The whole requests `data` holds before `error` (none if another parser does not meet it there too)."""

        def fails(length: int) -> HttpProcessingError | None:
            try:
                self.make(_Idle()).feed_data(data[:length])
            except HttpProcessingError as exc:
                return exc
            return None

        again = fails(len(data))
        if again is None or type(again) is not type(error) or str(again) != str(error):
            return []
        low, high = 0, len(data)  # data[:low] parses, data[:high] does not
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if fails(middle) is None else (low, middle)
        messages, upgraded, _tail = self.make(None).feed_data(data[:low])
        whole = [(message, body) for message, body in messages if body.is_eof()]
        return [] if upgraded or any(message.upgrade for message, _ in whole) else whole


# The headers HTTP's parser judges before a handler sees the request (a duplicated or malformed Content-Length,
# a Transfer-Encoding it cannot read): its refusal names one, and the error's `field` names it as HTTP spells it.
_PARSED_HEADERS = ("Content-Length", "Transfer-Encoding", "Content-Encoding", "Content-Type", "Host", "Expect")
_PARSED_HEADER = re.compile("|".join(_PARSED_HEADERS), re.IGNORECASE)


class JsonErrorHandler(RequestHandler):
    """aiohttp's connection handler, answering its own protocol-level errors in the JSON error shape."""

    def __init__(self, manager: web.Server, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        loop = kwargs["loop"]
        options = {
            "max_line_size": kwargs.get("max_line_size", 8190),
            "max_field_size": kwargs.get("max_field_size", 8190),
            "max_headers": kwargs.get("max_headers", 128),
            "payload_exception": RequestPayloadError,
            "auto_decompress": kwargs.get("auto_decompress", True),
        }
        bufsize = kwargs.get("read_bufsize", DEFAULT_CHUNK_SIZE)

        def make(protocol: Any) -> Any:
            return HttpRequestParser(protocol or self, loop, bufsize, **options)

        self._parser = cast(Any, _RequestsBeforeAnError(self._parser, make))

    def log_exception(self, *args: Any, **kw: Any) -> None:
        """A request the client got wrong (a bad header, a bad length) is one warning line, not an error.

        aiohttp logged each with its traceback at ERROR, as if the service had failed; the line names the
        problem only, not the bytes sent (a malformed header may hold a credential).
        """
        exc = kw.get("exc_info")
        if isinstance(exc, RequestPayloadError):
            return  # a body that could not be read: answered 400 and logged by the route's guard already
        if isinstance(exc, HttpProcessingError) and 400 <= exc.code < 500:
            peer = args[1] if len(args) > 1 else None
            self.logger.warning("bad request from %s: %s", peer, client_problem(str(exc.message)) or type(exc).__name__)
            return
        super().log_exception(*args, **kw)

    def data_received(self, data: bytes) -> None:
        """Read as aiohttp does; and, once the service is stopping, still the rest of the body in hand.

        A body that turns out malformed while its request is handled fails that body: aiohttp's C parser,
        meeting a bad chunk (`zz\r\n`, a chunk longer than its size) in a segment after the headers, drops the
        body without failing it and queues a 400 for after the request in hand: the handler waited for the rest
        until its time limit and answered 408. Now its read fails at once with the parser's message (a 400
        naming it), and the queued answer is not sent a second time.
        """
        if (self._close or self._force_close) and self._body_in_hand() is not None:
            # aiohttp drops every byte once the connection is closing (`close()` on stop): the request in hand
            # would never get the rest of its body. Only that body is read: a request behind it is not taken.
            closing = self._close, self._force_close
            self._close = self._force_close = False
            try:
                self.data_received(data)
            finally:
                self._close, self._force_close = closing
            return
        # Parsed here, not in a method of its own: every segment of every request comes this way.
        queued = len(self._messages)
        super().data_received(data)
        request = self._current_request
        if request is None or len(self._messages) <= queued or request.content.is_eof():
            return
        info = self._messages[-1][0]
        if isinstance(info, _ErrInfo):
            self._messages.pop()
            request.content.set_exception(RequestPayloadError(info.message))

    def finish_body_within(self, delay: float) -> bool:
        """On stop: the body in hand, if any, must arrive within `delay` s, else its request is answered 503."""
        body = self._body_in_hand()
        if body is None:
            return False

        def give_up() -> None:
            if not body.is_eof():
                body.set_exception(BodyError(503, "the service is stopping; retry later", error="shutting_down"))

        self._loop.call_later(delay, give_up)
        return True

    def _body_in_hand(self) -> StreamReader | None:
        """The body still arriving of the request being handled (or parsed and about to be)."""
        if self.transport is None:
            return None
        request = self._current_request
        body = request.content if request is not None else (self._messages[0][1] if self._messages else None)
        return body if body is not None and not body.is_eof() else None

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        super().handle_error(request, status, exc, message)  # logs; refuses when a response was already sent
        text = "internal error; the request was not processed" if status == 500 else (message or "bad request")
        if status != 500 and isinstance(exc, HttpProcessingError):
            text = client_problem(text) or "bad request"  # the problem, not the bytes (a token among them)
        field = None
        if isinstance(exc, LineTooLong) and exc.args[1:2] == (MAX_URL_BYTES,):  # the request line, not a header
            status, field = 414, "url"
            text = (
                f"the URL is longer than {MAX_URL_BYTES} bytes; a query's `text` takes up to 5000 characters "
                "(45,000 bytes of Chinese, percent-encoded)"
            )
        if status == 400 and text.startswith("Invalid char in url"):
            # HTTP wants a URL's non-ASCII characters percent-encoded (browsers and platforms do); curl sends
            # what it is given, so say how to encode it rather than only where the parser stopped.
            field = "url"
            text = (
                "the URL holds characters that must be percent-encoded as UTF-8 (e.g. curl -G --data-urlencode "
                "'text=…' URL); " + text
            )
        if field is None and status == 400 and (named := _PARSED_HEADER.search(text)):
            field = next(h for h in _PARSED_HEADERS if h.lower() == named.group(0).lower())  # as HTTP spells it
        body = {"error": _REASONS.get(status, "http_error"), "field": field, "message": text[:500]}
        resp = web.Response(status=status, text=json.dumps(body, ensure_ascii=False), content_type="application/json")
        resp.force_close()
        return resp


class _JsonErrorServer(web.Server):
    body_grace_s = SHUTDOWN_TIMEOUT_S
    files: FileLimit | None = None

    def connection_count(self) -> int:
        return len(self._connections)

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        if self.files is not None:
            self.files.connected(len(self._connections))

    def __call__(self) -> RequestHandler:
        return JsonErrorHandler(self, loop=asyncio.get_running_loop(), **self._kwargs)

    def pre_shutdown(self) -> None:
        """Stop taking requests; a request whose body is still arriving gets `body_grace_s` to finish it."""
        waiting = sum(
            conn.finish_body_within(self.body_grace_s)
            for conn in self._connections
            if isinstance(conn, JsonErrorHandler)
        )
        super().pre_shutdown()
        if waiting:
            log.info("stopping: %d request(s) still receiving a body get %g s to finish it", waiting, self.body_grace_s)


class Runner(web.AppRunner):
    """`web.AppRunner` whose connections answer protocol-level errors in JSON, and finish the body in hand on stop;
    `prepare` makes its server alone, so that a site listens before the app's start-up (`start_app`) runs.

    A body still arriving has the shutdown's time but `ANSWER_MARGIN_S` (at most half of it): what is left
    is for storing the request's events and answering, before aiohttp cancels what still runs.
    """

    ANSWER_MARGIN_S = 2.0

    def __init__(self, app: web.Application, *, shutdown_timeout: float = SHUTDOWN_TIMEOUT_S, **kwargs: Any) -> None:
        super().__init__(app, shutdown_timeout=shutdown_timeout, **kwargs)
        self.shutdown_timeout_s = shutdown_timeout

    async def setup(self) -> None:
        """As aiohttp's: the app started, and its server made."""
        await self.prepare()
        await self.start_app()

    async def prepare(self) -> None:
        """The server only: a site may listen on it before the app's start-up (`start_app`)."""
        await super().setup()

    async def start_app(self) -> None:
        """The app's start-up (its cleanup contexts, in order), while the server may already answer."""
        await self.app.startup()
        self.app.freeze()

    async def _make_server(self) -> web.Server:
        # As `AppRunner._make_server` and `Application._make_handler`, without the start-up: the routes and
        # middlewares are fixed (`pre_freeze`), the state not yet (the cleanup contexts fill it in `start_app`).
        app = self.app
        loop = asyncio.get_running_loop()
        app._set_loop(loop)
        app.pre_freeze()
        kwargs = {**self._kwargs, "debug": app._debug, **(app._handler_args or {})}
        handle = cast(Callable[[web.BaseRequest], Awaitable[web.StreamResponse]], app._handle)  # as aiohttp's own
        server = _JsonErrorServer(handle, request_factory=app._make_request, loop=loop, **kwargs)
        server.body_grace_s = max(self._shutdown_timeout / 2, self._shutdown_timeout - self.ANSWER_MARGIN_S)
        server.files = app.get(FILES)
        if STARTUP in app:  # its requests go through the start's gate until the start is over
            gate(server, app)
        return server


def server_options(config: Config) -> dict[str, Any]:
    """The runner's settings: idle connections closed after `request_timeout_s`, the access log if enabled."""
    options: dict[str, Any] = {"keepalive_timeout": config.server.request_timeout_s, "access_log": None}
    if config.server.access_log:
        options.update(access_log=logging.getLogger("aiohttp.access"), access_log_class=AccessLogger)
    return options


async def run(
    app: web.Application,
    config: Config,
    *,
    host: str,
    port: int,
    started: Callable[[], None] = lambda: None,
    stop: Callable[[], Awaitable[None]],
    sock: socket.socket | None = None,
) -> None:
    """Serve `app` until `stop()` returns; then stop accepting, finish in-flight requests and clean up. On `sock`
    (a listening socket systemd passed, `inherited_socket`) instead of `host`:`port` when given. `stop()` is awaited
    from before the start: returning during it, it ends the start at its next safe point (StartStopped)."""
    # A page's render still running at the stop is answered 503 and its thread not waited for (web/stopping.py).
    asyncio.get_running_loop().set_default_executor(ReadsAbandoned(thread_name_prefix="asyncio"))
    runner = Runner(app, **server_options(config))
    await runner.prepare()
    files: FileLimit | None = None
    # Waited for from before the start: a stop (SIGTERM) during it ends the start at its next safe point, and the
    # service stops as usual; it killed the process, cutting a follow-up delivery the start had resumed.
    stopped = asyncio.ensure_future(stop())
    startup = app.get(STARTUP)
    if startup is not None:
        stopped.add_done_callback(lambda _: startup.stop())
    try:
        # Listening first, then the start-up: a second start on a port in use fails before it reloads timers or
        # commits to the database, and a long recovery (a big log after an unclean stop) answers /healthz
        # meanwhile, where an orchestrator killed it as hung (web/starting.py).
        await (web.TCPSite(runner, host, port) if sock is None else web.SockSite(runner, sock)).start()
        try:
            await runner.start_app()
        except StartStopped as exc:
            log.info(
                "stopping during the start (%s): what it did so far is kept, the next start goes on from there", exc
            )
            return
        freeze_heap()
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
        files = app.get(FILES)
        if files is not None:
            files.warn_if_low()
            server = runner.server
            assert isinstance(server, _JsonErrorServer)
            watching = asyncio.get_running_loop().create_task(files.watch(server.connection_count), name="files")
        started()
        await stopped
        # The stop's first line: it may take the shutdown's time (requests and deliveries in flight), and the log said
        # nothing between the signal and its last line.
        connections = runner.server.connection_count() if isinstance(runner.server, _JsonErrorServer) else 0
        log.info(
            "stopping: no new connections; the requests in flight on %d open connection(s) are finished (at most %g s),"
            " then the log is flushed and closed",
            connections, runner.shutdown_timeout_s,
        )  # fmt: skip
    finally:
        stopped.cancel()  # a start that failed: nothing waits for a stop
        if files is not None:
            watching.cancel()
        await runner.cleanup()


# The first descriptor systemd passes a socket-activated service (sd_listen_fds(3): SD_LISTEN_FDS_START).
LISTEN_FDS_START = 3


def inherited_socket() -> socket.socket | None:
    """The listening socket systemd passed this process (socket activation: `LISTEN_PID` is this process and
    `LISTEN_FDS` at least 1), else None. systemd holds the socket while the service restarts, so the requests a
    platform sends meanwhile wait in its queue and are answered once the service is up, instead of being
    refused and lost (Chatwoot never sends a refused webhook again). The variables are removed, as
    sd_listen_fds does, so the matching workers do not take the socket for theirs."""
    pid, count = os.environ.pop("LISTEN_PID", None), os.environ.pop("LISTEN_FDS", None)
    os.environ.pop("LISTEN_FDNAMES", None)
    if pid != str(os.getpid()) or count is None or not count.isdigit() or int(count) < 1:
        return None
    if int(count) > 1:
        log.warning("systemd passed %s sockets: the service listens on the first only", count)
    sock = socket.socket(fileno=LISTEN_FDS_START)
    if sock.type != socket.SOCK_STREAM or sock.family not in (socket.AF_INET, socket.AF_INET6, socket.AF_UNIX):
        sock.detach()
        raise OSError(errno.ENOTSOCK, os.strerror(errno.ENOTSOCK))
    sock.setblocking(False)
    return sock


# How long a thread doing Python work may keep the GIL while the event loop waits for it (Python's default is
# 5 ms). An event's request hands the GIL over several times (reading, the writer's commit, answering), and
# waits each time while the daily log's reader thread (seconds of Python on a busy day) or a page's render
# holds it: with the log read on the simulated million-message day, events sent meanwhile at 300 a second
# waited up to 56-78 ms (p99 36-50 ms; 8-10 ms without the read). At 1 ms: up to 14-25 ms (p99 9-14 ms).
# The webhook benchmark's rates and CPU per event did not change (shorter still, 0.1 ms, cost throughput).
GIL_SWITCH_INTERVAL_S = 0.001

# The youngest generation is collected after this many more container objects are made than freed (Python's
# default is 700). Under load every collection walked the requests in flight (about 60 objects each, some
# 4,000 at 64 concurrent requests) only to keep them all: about 0.7 ms each, 5-6 % of the event loop's CPU.
# Not more: freeing an old object counts as much as making a young one, so a service replacing its cached
# conversations' state holds far more young objects than this when it collects. At 20,000, with 20,000
# conversations cached, young collections walked 75,000-120,000 objects, 35-90 ms pauses of every request (and
# the middle generation 150-300 ms); at 5,000, 10-15 ms (81 ms), with no change in CPU per event measurable.
YOUNG_COLLECTION_THRESHOLD = 5_000


def freeze_heap() -> None:
    """Take what is alive now out of the cyclic collector's sight (`gc.freeze`), and collect the youngest
    generation less often (`YOUNG_COLLECTION_THRESHOLD`).

    What the service loads at start (the phrase library, the catalog, the rules) lives as long as the
    process; a full collection that walks it all paused every request for ~55 ms (~25 ms after this). The
    frozen objects are still freed by reference counting; only cycles among them stay.
    """
    gc.freeze()
    _Heap.frozen = True
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, middle, old)


class _Heap:
    # Whether `freeze_heap` ran in this process. Not `gc.get_freeze_count()`: it counts the frozen objects one by
    # one, 40-50 ms on the event loop at 400,000 of them on a loaded machine.
    frozen = False


def thaw_heap() -> None:
    """Undo `freeze_heap`'s freezing (a test's process goes on as before)."""
    gc.unfreeze()
    _Heap.frozen = False


# Full collections are held off this long (gen1 collections before one) while a reload builds its library in a
# thread: the build's new objects, millions at 20,000 phrases, made the collector walk them all, twice or three
# times per reload, 0.4-1.2 s each with every request waiting. They are frozen once installed (`refreeze_heap`).
HELD_OFF = 1 << 30
# ... and the middle generation is collected after every other young collection, not every tenth: each one walked
# every container the build had made since the last (60,000 at 20,000 phrases, the trigger index's lists and
# character sets), pauses of 150-420 ms at a load average of 15, where they are 50-60 ms now (the same work in all).
HELD_MIDDLE = 1


@contextlib.contextmanager
def full_collections_held() -> Iterator[None]:
    """While a reload builds (in a served process, whose heap is frozen): no full collection, young ones as usual,
    middle ones more often and shorter. Nothing changes in a process that never froze its heap (a test's)."""
    if not _Heap.frozen:
        yield
        return
    young, middle, old = gc.get_threshold()
    gc.set_threshold(young, HELD_MIDDLE, HELD_OFF)
    try:
        yield
    finally:
        gc.set_threshold(gc.get_threshold()[0], middle, old)


def refreeze_heap() -> bool:
    """After a reload in a served process: freeze the new library too. False (nothing done) in a process that
    never froze its heap (a test's).

    Nothing is collected: the replaced library was released (`Matcher.release`) and freed by reference counting.
    Unfreezing to collect its cycles walked the whole heap, the service's conversations included, with every
    request waiting: 0.5-1.2 s at 20,000 conversations on a loaded 2-core machine, growing with the heap.
    """
    if not _Heap.frozen:
        return False
    gc.freeze()
    return True
