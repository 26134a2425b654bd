"""The service's start, as requests see it: it listens before it has recovered its state, and says so.

A start after an unclean stop reads back what the stop left (a large -wal file folded into the database, rows
an older release left underived, the follow-up timers of the events after their last flush): seconds to
minutes on a big log. The port is open meanwhile, so that an orchestrator's liveness check (`/healthz`) is
answered and the start is not killed as hung; `/readyz` answers 503 `starting`, naming the step, until the
start is over. An event posted meanwhile waits for the end of the start (at most `[server] request_timeout_s`,
as the socket's queue held it before) and is then logged and answered as usual, or answered 503 with
`Retry-After`: never 200 before it is logged. While the start waits for its database (PostgreSQL down, or out of
connections for the role) an event is answered 503 at once, as a running service answers it then: held, it waited
the whole `request_timeout_s` (15 s) for a start that could not end meanwhile, past the 5 s a platform waits.
Every other route answers 503 `starting` at once.

The gate is the server's request handler while the start runs (`gate`), and the application's own handler
takes its place when the start is over: requests after it (every event) pay nothing for it. A connection
opened during the start keeps the gate; its first answer after the start closes it, so that its client's next
connection is served directly.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web

from assistant.web.appkeys import CONFIG, STARTUP
from assistant.web.error_page import as_page, wants_page
from assistant.web.errors import unavailable

log = logging.getLogger(__name__)

ALIVE = "/healthz"
WEBHOOKS = frozenset({"/v1/events", "/v1/chatwoot"})  # held until the start is over, not refused at once
RequestHandler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
T = TypeVar("T")
# How often (SQLite virtual machine steps) a read of the start looks whether the service is to stop: about every
# millisecond or two of a scan.
PROGRESS_STEPS = 20_000
READING = "reading the log"  # what `/readyz` adds to a step while its read, one a stop abandons, is under way


CANCEL_WAIT_S = 1.0  # how long a stop during the start waits for a cancelled step to end


class StartStopped(Exception):
    """The service was asked to stop (SIGTERM) during its start: raised where the start may end."""


class Startup:
    """Where the start is (`stage`); `done` once every resource is open and recovered; `stopping` once the
    service was asked to stop before that."""

    def __init__(self) -> None:
        self.stage = "starting"
        self.done = False
        self.stopping = False
        self.held = 0  # events waiting for the end of the start now
        self._settled = asyncio.Event()
        self._stalled = asyncio.Event()  # the start waits for its database: events are not held meanwhile
        self._stop_asked = asyncio.Event()
        self._on_finish: list[Callable[[], None]] = []

    def enter(self, stage: str) -> None:
        """The start moves on to `stage` (what `/readyz` names meanwhile), unless it is to stop (StartStopped)."""
        self.check()
        self.stage = stage
        log.info("starting: %s", stage)

    def stop(self) -> None:
        """Stop the start at its next safe point (`check`): SIGTERM came before it was over."""
        if not self.done:
            self.stopping = True
            self._stop_asked.set()

    def check(self) -> None:
        """A point where the start may end, what it did so far kept: StartStopped once it is to stop."""
        if self.stopping:
            raise StartStopped(self.stage)

    def abandonable(self, read: Callable[[sqlite3.Connection], T]) -> Callable[[sqlite3.Connection], T]:
        """`read` (a job of the writer that only reads), ended as soon as the start is to stop (StartStopped).

        A read changes nothing and is done again by the next start: the follow-ups' read of the events logged
        after their timers' last flush took seconds on a large log (3 s at 150,000 events), and a SIGTERM
        meanwhile waited for all of it before the service stopped. SQLite's statement is interrupted (its
        progress handler); a PostgreSQL read runs to its end, the start stopping after it.
        """

        def abandoned() -> bool:
            return self.stopping

        def job(conn: sqlite3.Connection) -> T:
            self.check()
            interrupt = getattr(conn, "set_progress_handler", None)
            if interrupt is None:
                return read(conn)
            interrupt(abandoned, PROGRESS_STEPS)
            stage, self.stage = self.stage, f"{self.stage} ({READING})"  # `/readyz`: a stop from now abandons it
            try:
                return read(conn)
            except sqlite3.OperationalError:
                if not self.stopping:
                    raise
                log.info("stopping during the start (%s): its read of the log is abandoned", stage)
                raise StartStopped(stage) from None
            finally:
                interrupt(None, 0)
                self.stage = stage

        return job

    async def unless_stopped(self, step: Awaitable[T]) -> T:
        """`step`'s result, or StartStopped as soon as the start is to stop, `step` cancelled: for a step that
        waits on others and writes nothing of ours (a plugin's `on_startup` awaiting a peer that never answers held
        a SIGTERM off for as long)."""
        self.check()
        task = asyncio.ensure_future(step)
        asked = asyncio.ensure_future(self._stop_asked.wait())
        try:
            await asyncio.wait((task, asked), return_when=asyncio.FIRST_COMPLETED)
        finally:
            asked.cancel()
        if task.done():
            return task.result()
        task.cancel()
        await asyncio.wait((task,), timeout=CANCEL_WAIT_S)  # a step that ignores its cancelling is left behind
        if task.done() and not task.cancelled():
            task.exception()  # whatever it raised on its way out: the stop goes on
        log.info("stopping during the start (%s): what it waited for is cancelled", self.stage)
        raise StartStopped(self.stage)

    def stall(self) -> None:
        """The start waits for its database (no end in sight): the events held are answered 503 now, and the
        next ones at once, until `resume`."""
        self._stalled.set()

    def resume(self) -> None:
        """The database answers the start again: events wait for its end again."""
        self._stalled.clear()

    def finish(self) -> None:
        """The start is over: every route is served, the events held are handled now."""
        self.done = True
        self._settled.set()
        for call in self._on_finish:
            call()

    def when_finished(self, call: Callable[[], None]) -> None:
        """Call `call` when the start is over."""
        self._on_finish.append(call)

    def abandon(self) -> None:
        """The service stops (or its start failed): requests held for the start are answered now."""
        self._settled.set()

    async def wait(self, timeout_s: float) -> bool:
        """Whether the start is over within `timeout_s` (False: still starting, or stopping)."""
        if not self.done and not self._stalled.is_set():
            self.held += 1
            waits = [asyncio.ensure_future(self._settled.wait()), asyncio.ensure_future(self._stalled.wait())]
            try:
                await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiting in waits:
                    waiting.cancel()
                self.held -= 1
        return self.done


async def finish_start(app: web.Application) -> None:
    """The last start-up step: every resource is open, requests are served."""
    app[STARTUP].finish()


async def abandon_start(app: web.Application) -> None:
    """On shutdown: events still held for a start that did not finish are answered 503."""
    app[STARTUP].abandon()


def gate(server: web.Server, app: web.Application) -> None:
    """Serve `app` on `server` through the start's gate until the start is over, then directly."""
    startup = app[STARTUP]
    handle: RequestHandler = server.request_handler

    async def gated(request: web.BaseRequest) -> web.StreamResponse:
        """During the start: `/healthz` answers, events wait for its end, every other route answers 503
        `starting` (a page as a page, in the interface's language)."""
        if startup.done:  # a connection opened during the start: served, and closed for the direct handler
            answer = await handle(request)
            answer.force_close()
            return answer
        if request.path == ALIVE:
            return await handle(request)
        config = app[CONFIG]
        if request.method == "POST" and request.path in WEBHOOKS:
            if await startup.wait(config.server.request_timeout_s):
                return await handle(request)
        refused = unavailable("starting", f"the service is starting ({startup.stage}); retry later")
        return as_page(503, refused.text, refused.headers, config.ui.language) if wants_page(request) else refused

    def direct() -> None:
        server.request_handler = handle

    server.request_handler = gated
    startup.when_finished(direct)
