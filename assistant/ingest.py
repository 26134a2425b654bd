"""An event's way in: annotate, log durably (group commit), then notify listeners."""

from __future__ import annotations

import inspect
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from assistant import store
from assistant.events import Event
from assistant.store import Annotation, Written
from assistant.tasks import Throttled, Turns
from assistant.writer import Writer

log = logging.getLogger(__name__)
AHEAD_WARNING = (
    "event %s of %s/%s is stamped %.0f s after it arrived (more than [webhook] signature_tolerance_s): logged at"
    " its receive time + the tolerance, the platform's own ts kept in its raw event (%d such events since the last"
    " warning)"
)
# A refund is accepted as the platform sends it (it may be delivered before its payment); what it counts for is what
# the order was paid and not refunded before (docs/kpi.md), and the daily log says so beside it.
UNPAID_REFUND_WARNING = (
    "refund %s of order %s/%s: no payment of this order is logged (yet): it counts for nothing until one is; the"
    " daily log says so (%d such refunds since the last warning)"
)
OVER_REFUND_WARNING = (
    "refund %s of order %s/%s: ¥%.2f is more than the ¥%.2f paid and not refunded before: it counts for ¥%.2f;"
    " the daily log says so (%d such refunds since the last warning)"
)
# Shanghai's wall-clock time written with a `Z` (UTC) is 8 hours ahead: an adapter's common mistake. It has its
# own once-a-minute warning: in one shared with other far-ahead stamps, the first event of the minute hid the hint.
SHANGHAI_AS_UTC_WARNING = (
    "event %s of %s/%s is stamped %.0f s after it arrived — about 8 h ahead: the shop's local time labelled Z (UTC)?"
    " Logged at its receive time + [webhook] signature_tolerance_s, the platform's own ts kept in its raw event"
    " (%d such events since the last warning of this kind)"
)


@dataclass
class Enrichment:
    """What the assistant adds to an event before it is logged, and to its response."""

    annotation: Annotation | None = None
    response: dict[str, Any] = field(default_factory=dict)


class Annotator(Protocol):
    """Adds to an event: at once, or as an awaitable (work handed elsewhere, e.g. a matching worker)."""

    def __call__(self, event: Event) -> Enrichment | None | Awaitable[Enrichment | None]: ...


Listener = Callable[[Written], None]
# Runs inside the logging transaction for each newly logged event (e.g. an alert written with its message).
Recorder = Callable[[sqlite3.Connection, Written], None]


class Passenger(Protocol):
    """Work that rides in a request's logging transaction, after its events (the follow-up timers' changes): no
    writer job of its own. It touches nothing but the database (the transaction may run it twice); it is told
    whether that transaction committed."""

    def __call__(self, conn: sqlite3.Connection) -> None: ...

    def committed(self) -> None: ...

    def failed(self) -> None: ...


# Asked, on the loop, as a request's events are handed to the writer: what rides with them, if anything.
Rider = Callable[[], Passenger | None]


@dataclass(frozen=True)
class _LogJob:
    """Logs one request's events; the writer hands the jobs of concurrent requests to `run_batch` together."""

    items: list[tuple[Event, Annotation | None]]
    recorders: list[Recorder]
    max_ahead_ms: int | None = None
    passengers: tuple[Passenger, ...] = ()

    def __call__(self, conn: sqlite3.Connection) -> list[Written]:
        return self.run_batch(conn, [self])[0]

    @classmethod
    def run_batch(cls, conn: sqlite3.Connection, jobs: Sequence[_LogJob]) -> list[list[Written]]:
        # The jobs handed over together come from one ingestor: one tolerance.
        ahead = jobs[0].max_ahead_ms if jobs else None
        written = store.insert_events(conn, [item for job in jobs for item in job.items], max_ahead_ms=ahead)
        values: list[list[Written]] = []
        start = 0
        for job in jobs:
            mine = written[start : start + len(job.items)]
            start += len(job.items)
            for recorder in job.recorders:
                for item in mine:
                    if not item.duplicate:
                        recorder(conn, item)
            for passenger in job.passengers:
                passenger(conn)
            values.append(mine)
        return values


class Ingestor:
    """Takes validated events, logs them exactly once, and tells listeners what was new."""

    def __init__(
        self, writer: Writer, *, clock: Callable[[], float] = time.perf_counter, max_ahead_ms: int | None = None
    ) -> None:
        self.writer = writer
        self.clock = clock  # measures the work done between yields (tests pass their own)
        # A `ts` further ahead of its receipt than this is logged as the receipt + this ([webhook]
        # signature_tolerance_s: the clock skew already allowed), so the log, the KPIs and the timers agree on it.
        self.max_ahead_ms = max_ahead_ms
        self._ahead_warning = Throttled(log, AHEAD_WARNING)
        self._unpaid_refund = Throttled(log, UNPAID_REFUND_WARNING)
        self._over_refund = Throttled(log, OVER_REFUND_WARNING)
        self._utc_warning = Throttled(log, SHANGHAI_AS_UTC_WARNING)
        self.annotators: list[Annotator] = []
        self.listeners: list[Listener] = []
        self.recorders: list[Recorder] = [self._check_refund]
        self.riders: list[Rider] = []

    async def ingest(self, events: Sequence[Event], *, passengers: Sequence[Passenger] = ()) -> list[dict[str, Any]]:
        """Log a batch atomically; return one response object per event, in order. `passengers` ride in its
        transaction, after the riders' (a delivered follow-up recorded `sent` with its `auto` message).

        Every event's annotation starts before the first awaitable one is awaited, so that work handed
        elsewhere for a whole batch proceeds together; then they are finished in order.
        """
        # Annotating a batch (matching each customer message) shares the loop; one event needs no turns.
        turns = Turns(self.clock) if len(events) > 1 else None
        begun: list[list[Enrichment | None | Awaitable[Enrichment | None]]] = []
        enrichments: list[Enrichment] = []
        try:
            for event in events:
                begun.append(self._begin(event))
                if turns is not None and len(begun) < len(events):
                    await turns.take()
            for event, results in zip(events, begun):
                enrichments.append(await self._finish(event, results))
                results.clear()
                if turns is not None and len(enrichments) < len(events):
                    await turns.take()
        finally:
            for results in begun:  # cancelled half-way: no coroutine left unawaited
                for result in results:
                    if inspect.iscoroutine(result):
                        result.close()

        riding: tuple[Passenger, ...] = ()
        for rider in self.riders:
            passenger = rider()
            if passenger is not None:
                riding += (passenger,)
        riding += tuple(passengers)
        job = _LogJob(
            [(event, enrichment.annotation) for event, enrichment in zip(events, enrichments)],
            self.recorders,
            self.max_ahead_ms,
            riding,
        )
        try:
            written = await self.writer.submit(job, together=True)  # job touches nothing but the database
        except BaseException:
            for passenger in riding:
                passenger.failed()
            raise
        for passenger in riding:
            passenger.committed()
        responses = []
        for event, item, enrichment in zip(events, written, enrichments):
            if item.event.ts_ms != event.ts_ms and not item.duplicate:
                self._warn_ahead(event, item.event.ts_ms)
            body: dict[str, Any] = {"id": item.event.id, "accepted": True, "duplicate": item.duplicate}
            if not item.duplicate:
                body.update(enrichment.response)
                self._notify(item)
            responses.append(body)
        return responses

    def _warn_ahead(self, event: Event, logged_ms: int) -> None:
        assert self.max_ahead_ms is not None
        ahead_s = (event.ts_ms - logged_ms + self.max_ahead_ms) / 1000
        warning = self._utc_warning if abs(ahead_s - 8 * 3600) <= 900 else self._ahead_warning
        warning.warn(logged_ms, event.id, event.shop, event.conversation, ahead_s)

    def _check_refund(self, conn: sqlite3.Connection, written: Written) -> None:
        """A warning for a refund of an order with no payment logged, or of more than it was paid (a recorder:
        it reads the order's payments in the transaction that logs the refund)."""
        event = written.event
        if event.type != "order_refunded" or event.order is None:
            return
        fen = store.cents(event.amount or 0.0)
        left = store.refundable_cents(conn, event.shop, event.order, event.ts_ms, fen)
        now_ms = int(time.time() * 1000)  # once a minute of the service's time: a back-fill is not a line per refund
        if left is None:
            self._unpaid_refund.warn(now_ms, event.id, event.shop, event.order)
        elif fen > left:
            counted = max(left, 0) / 100
            self._over_refund.warn(now_ms, event.id, event.shop, event.order, fen / 100, counted, counted)

    def _begin(self, event: Event) -> list[Enrichment | None | Awaitable[Enrichment | None]]:
        results: list[Enrichment | None | Awaitable[Enrichment | None]] = []
        for annotator in self.annotators:
            try:
                results.append(annotator(event))
            except Exception:  # an annotation is a bonus; the event is still logged
                log.exception("annotator failed for event %s", event.id)
                results.append(None)
        return results

    async def _finish(self, event: Event, begun: list[Enrichment | None | Awaitable[Enrichment | None]]) -> Enrichment:
        """The annotators' results merged field by field, in the annotators' order."""
        merged = Enrichment()
        for pending in begun:
            result: Enrichment | None
            if isinstance(pending, Enrichment) or pending is None:
                result = pending
            else:
                try:
                    result = await pending
                except Exception:
                    log.exception("annotator failed for event %s", event.id)
                    continue
            if result is not None:
                if merged.annotation is None or result.annotation is None:
                    merged.annotation = result.annotation or merged.annotation
                else:
                    merged.annotation = merged.annotation.merged(result.annotation)
                merged.response.update(result.response)
        return merged

    def _notify(self, written: Written) -> None:
        for listener in self.listeners:
            try:
                listener(written)
            except Exception:
                log.exception("listener failed for event %s", written.event.id)
