"""The service's stop, as requests see it: what writes is finished, what only reads is abandoned.

On SIGTERM aiohttp waits for every request in flight (up to the shutdown's 10 s) before the clean-up, and the
event loop's close then waits for every thread of its executor: a supervisor's report or daily log rendering
in a thread for half a minute held the stop for that long, where it takes under a second, and `docker stop`
killed the process before its log was flushed. A read (a GET: a page, a report, a search) changes nothing
and may be asked again: at the stop, one still running is answered 503 `shutting_down` with `Retry-After`
at once, and its thread is left to end with the process (`ReadsAbandoned`). An event's request is a POST, and
is finished and logged as before. The read routes' handlers are wrapped (`abandoned_on_stop`), not every
request: a POST pays nothing for it.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web
from aiohttp.typedefs import Handler

from assistant import pg
from assistant.daylog.interrupts import Interrupts
from assistant.pg import supervisors
from assistant.web.appkeys import DB_PATH, READS
from assistant.web.errors import unavailable

log = logging.getLogger(__name__)

_READS = frozenset({"GET", "HEAD"})
# Not abandoned: the live streams, which the stop ends itself (app._close_streams), and the liveness check.
_KEPT = frozenset({"/v1/stream", "/v1/qa/stream", "/healthz"})
# The reads of the service whose read route runs now: a long read's thread reads for it (web/longreads.py).
current: contextvars.ContextVar[Reads | None] = contextvars.ContextVar("reads", default=None)


class Reads:
    """The reads in flight (their tasks), cancelled when the service stops; `sqlite`: the connections of its long
    reads on SQLite, interrupted then (daylog/interrupts.py)."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[object]] = set()
        self.stopping = False
        self.sqlite = Interrupts()

    def abandon(self) -> int:
        """Stop: every read in flight is answered 503 now; how many there were."""
        self.stopping = True
        for task in self.tasks:
            task.cancel()
        return len(self.tasks)


async def abandon_reads(app: web.Application) -> None:
    """On shutdown, before aiohttp waits for the requests in flight. On PostgreSQL the statements of the supervisors'
    long reads (a report, a day's log or inspection) are cancelled on the server: one held up (a lock, a year's report)
    ran on there after the process had gone, its session and locks held (pg/supervisors.py); on SQLite their
    connections are interrupted: one read on, and the writer's last checkpoint waited for it (daylog/interrupts.py)."""
    app[READS].abandon()
    path = app.get(DB_PATH)
    if isinstance(path, pg.Location) and (cancelled := supervisors.stop(path)):
        log.info("stopping: %d long read(s) of supervisors cancelled on the server", cancelled)
    if interrupted := app[READS].sqlite.stop():
        log.info("stopping: %d long read(s) of supervisors interrupted", interrupted)


def _stopping() -> web.Response:
    return unavailable("shutting_down", "the service is stopping; retry later")


def abandoned_on_stop(routes: Sequence[web.AbstractRouteDef]) -> list[web.AbstractRouteDef]:
    """`routes`, each read's handler (a GET's, and so its HEAD's) but the kept ones' wrapped by `_abandoned`."""
    return [
        web.RouteDef(r.method, r.path, _abandoned(r.handler), r.kwargs)
        if isinstance(r, web.RouteDef) and r.method in _READS and r.path not in _KEPT
        else r
        for r in routes
    ]


def _abandoned(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def read(request: web.Request) -> web.StreamResponse:
        """A read still running when the service stops is answered 503 `shutting_down` (unless it has begun its
        answer)."""
        reads = request.app[READS]
        task = asyncio.current_task()
        if reads.stopping or task is None:
            return _stopping()
        reads.tasks.add(task)
        token = current.set(reads)
        try:
            return await handler(request)
        except asyncio.CancelledError:
            if not reads.stopping or request.writer.output_size or task.cancelling() > 1:
                raise  # not ours (the client went away), or the answer has begun
            task.uncancel()
            return _stopping()
        finally:
            current.reset(token)
            reads.tasks.discard(task)

    return read


class ReadsAbandoned(ThreadPoolExecutor):
    """The event loop's default executor (`asyncio.to_thread`): at the loop's close, a thread still running
    (a page's render the stop answered 503) is not waited for; it ends with the process. Everything whose end
    matters (a plugin's delivery, the writer's last commit) is awaited by the clean-up before the close."""

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        super().shutdown(wait=False, cancel_futures=True)
