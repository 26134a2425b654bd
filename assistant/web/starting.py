"""The service's start, as requests see it: it listens before it has recovered its state, and says so.

A start after an unclean stop reads back what the stop left (a large -wal file folded into the database, rows
an older release left underived, the follow-up timers of the events after their last flush): seconds to
minutes on a big log. The port is open meanwhile, so that an orchestrator's liveness check (`/healthz`) is
answered and the start is not killed as hung; `/readyz` answers 503 `starting`, naming the step, until the
start is over. An event posted meanwhile waits for the end of the start (at most `[server] request_timeout_s`,
as the socket's queue held it before) and is then logged and answered as usual, or answered 503 with
`Retry-After`: never 200 before it is logged. Every other route answers 503 `starting` at once.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from assistant.web.appkeys import CONFIG, STARTUP
from assistant.web.errors import unavailable

log = logging.getLogger(__name__)

ALIVE = "/healthz"
WEBHOOKS = frozenset({"/v1/events", "/v1/chatwoot"})  # held until the start is over, not refused at once


class Startup:
    """Where the start is (`stage`); `done` once every resource is open and recovered."""

    def __init__(self) -> None:
        self.stage = "starting"
        self.done = False
        self.held = 0  # events waiting for the end of the start now
        self._settled = asyncio.Event()

    def enter(self, stage: str) -> None:
        """The start moves on to `stage` (what `/readyz` names meanwhile)."""
        self.stage = stage
        log.info("starting: %s", stage)

    def finish(self) -> None:
        """The start is over: every route is served, the events held are handled now."""
        self.done = True
        self._settled.set()

    def abandon(self) -> None:
        """The service stops (or its start failed): requests held for the start are answered now."""
        self._settled.set()

    async def wait(self, timeout_s: float) -> bool:
        """Whether the start is over within `timeout_s` (False: still starting, or stopping)."""
        if not self.done:
            self.held += 1
            try:
                await asyncio.wait_for(self._settled.wait(), timeout_s)
            except TimeoutError:
                return False
            finally:
                self.held -= 1
        return self.done


async def finish_start(app: web.Application) -> None:
    """The last start-up step: every resource is open, requests are served."""
    app[STARTUP].finish()


async def abandon_start(app: web.Application) -> None:
    """On shutdown: events still held for a start that did not finish are answered 503."""
    app[STARTUP].abandon()


@web.middleware
async def starting_gate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """During the start: `/healthz` answers, events wait for its end, every other route answers 503 `starting`."""
    startup = request.app[STARTUP]
    if startup.done or request.path == ALIVE:
        return await handler(request)
    if request.method == "POST" and request.path in WEBHOOKS:
        if await startup.wait(request.app[CONFIG].server.request_timeout_s):
            return await handler(request)
    return unavailable("starting", f"the service is starting ({startup.stage}); retry later")
