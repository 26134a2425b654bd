"""The record of an agent message that came too late to arm: a `stale` follow-up (never sent or prompted).

It is written when the message arrives, and by the replay after a restart when the process that took the
message was killed before writing it; its id (the first follow-up of the message's idle period) makes it once.
It is not written when the log shows the period ended anyway, and it is voided (`cancelled`) when an event that
ends it arrives afterwards, late as well (the next request of a back-fill, a lagging platform).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any, TypeVar

from assistant.followups import store as followup_store
from assistant.followups.context import fire_context
from assistant.followups.policy import Cancel, PhraseSource, Policy, compose, event_time, followup_id, kind_for
from assistant.followups.reasons import ARRIVED_LATE, WENT_ON, coded
from assistant.followups.store import FireContext, Key
from assistant.hookspecs import Followup
from assistant.tasks import TaskSet
from assistant.writer import RECONNECT_PAUSE_S, Writer

log = logging.getLogger(__name__)
T = TypeVar("T")
# Stale records and voids written in one job at most: the events committed in the same group wait for it (a
# record reads its conversation's log, about 0.1 ms), so a backlog's thousands are not one long job.
STALE_BATCH = 200

# A stale record voided: the customer's answer, a closure, a payment or the agent's next message came after it.


def insert_stale(
    conn: sqlite3.Connection,
    policy: Policy,
    sources: Sequence[PhraseSource | None],
    shop_name: str,
    mode: str,
    key: Key,
    seq: int,
    at_ms: int,
    arrived_ms: int,
    now: int,
) -> Followup | None:
    """Record the agent message `seq` (stamped `at_ms`, received `arrived_ms`) as stale, unless the log shows
    its period ended anyway or it is recorded already; the new record, else None."""
    shop, conversation = key
    due_ms = at_ms + policy.idle_ms
    owed = _owed(conn, policy, key, seq, at_ms)
    if owed is None:
        return None  # the customer wrote, paid, or the agent wrote again: no follow-up was owed
    ctx, kind = owed
    assert ctx.armed_event_id is not None
    fid = followup_id(shop, conversation, ctx.armed_event_id, 1)
    phrase_id, text = compose(kind, ctx, fid, sources, shop_name, shop)
    draft = Followup(
        id=fid, shop=shop, conversation=conversation, customer=ctx.customer or "", agent=ctx.agent, kind=kind,
        phrase_id=phrase_id, text=text, mode=mode, state="stale", attempts=0,
        last_error=coded(ARRIVED_LATE, seconds=f"{(arrived_ms - due_ms) / 1000:.0f}"),
        # Dated when it would have fired, not when it was found late: the daily log shows it on its conversation's
        # own day (a back-fill put yesterday's records among today's messages, as if written today).
        armed_seq=seq, due_ms=due_ms, fired_ms=due_ms, updated_ms=now,
    )  # fmt: skip
    stored, new = followup_store.insert_followup(conn, draft)
    return stored if new else None


def void_stale(conn: sqlite3.Connection, policy: Policy, key: Key, before: tuple[int, int], now: int) -> list[Followup]:
    """Cancel the stale records of `key` for agent messages stamped before `before` (event time, seq) whose idle
    period the log now shows ended, as they would not have been written had it shown so then; those cancelled."""
    rows = conn.execute(
        "SELECT f.id, f.armed_seq, e.ts_ms, e.received_ms FROM followups f JOIN events e ON e.seq = f.armed_seq"
        " WHERE f.shop = ? AND f.conversation = ? AND f.state = 'stale'",
        key,
    ).fetchall()
    voided = []
    for fid, seq, ts_ms, received_ms in rows:
        at_ms = event_time(ts_ms, received_ms, policy)
        if (at_ms, seq) < before and _owed(conn, policy, key, seq, at_ms) is None:
            f = followup_store.update_followup(
                conn, fid, state="cancelled", now_ms=now, last_error=WENT_ON, from_states=("stale",)
            )
            if f is not None:
                voided.append(f)
    return voided


def _owed(conn: sqlite3.Connection, policy: Policy, key: Key, seq: int, at_ms: int) -> tuple[FireContext, str] | None:
    """What the idle period the agent message `seq` opened would have ended with, by the log; None if nothing."""
    since = at_ms + policy.idle_ms - policy.window_ms
    ctx = fire_context(conn, *key, seq, at_ms, since, policy.future_ms, check_superseded=True)
    kind = kind_for(ctx)
    if isinstance(kind, Cancel) or ctx.superseded or ctx.armed_event_id is None:
        return None
    return ctx, kind


class StaleWrites:
    """Stale records and their voiding, written in the order they come: every one waiting in one writer job.

    A platform's backlog after a start or a restart (thousands of agent messages already stale, each with the
    customer's message before it) made a task and a writer job for each record and one more for each late
    event's voiding: each job its own savepoint, future and wake-up of the event loop, three per conversation of
    the backlog. One task now drains what is waiting into one job (STALE_BATCH at most), each record still in
    its own savepoint, the same rows written (`python -m bench bench_backlog` measures a backlog).
    """

    def __init__(self, writer: Writer, tasks: TaskSet) -> None:
        self.writer = writer
        self.tasks = tasks  # the drain is one of the service's tasks: `settled` and the stop wait for it
        self._waiting: list[tuple[Callable[[sqlite3.Connection], Any], Callable[[Any], None]]] = []
        self._draining = False
        self._drain_task: asyncio.Task[None] | None = None
        self.stopping = False
        # A batch given up (the service stopped while PostgreSQL was lost to the writer, or the write failed): the
        # timers' watermark must not pass its events, so that the next start replays them and writes the records.
        self.unwritten = False

    def add(self, job: Callable[[sqlite3.Connection], T], then: Callable[[T], None]) -> None:
        """Write `job` after those added before it; call `then` with its value on the event loop."""
        self._waiting.append((job, then))
        if not self._draining:
            self._drain_soon()

    def _drain_soon(self) -> None:
        self._draining = True
        self._drain_task = self.tasks.spawn(self._drain(), name="followups-stale")

    async def stop(self) -> None:
        """The service stops: what is being written is written, or given up at its next failed attempt while
        PostgreSQL is lost to the writer (`unwritten`); a stop waited up to a minute for the server meanwhile."""
        self.stopping = True
        if self._drain_task is not None:
            await asyncio.gather(self._drain_task, return_exceptions=True)  # its failure is the task set's to log

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:STALE_BATCH], self._waiting[STALE_BATCH:]
                outcomes = await self._write([job for job, _ in batch])
                for (_, then), (ok, value) in zip(batch, outcomes):
                    if ok:
                        then(value)
        except BaseException as exc:  # the batch is lost (the task set logs why), as its tasks were before
            self._draining = False
            self.unwritten = True
            if isinstance(exc, Exception) and self._waiting and not self.stopping:
                self._drain_soon()  # those added while it was written have their own try
            raise
        self._draining = False

    async def _write(self, jobs: list[Callable[[sqlite3.Connection], Any]]) -> list[tuple[bool, Any]]:
        """The jobs written, again while PostgreSQL is lost to the writer (a restart, a failover) until it is back or
        the service stops: a replay's records at a start were lost with their batch, and the timers' next flush took
        their events past the watermark. A record is written once (`insert_stale` finds it), a void voids once."""
        while True:
            try:
                return await self.writer.submit(partial(_write_each, jobs=jobs))
            except sqlite3.OperationalError:
                if not self.writer.lost or self.stopping:
                    raise
            await asyncio.sleep(RECONNECT_PAUSE_S)  # the writer opens a connection again at its next group


def each(call: Callable[[T], None]) -> Callable[[Iterable[T]], None]:
    """`call` for each value of a job's list (the follow-ups a void cancelled)."""

    def calling(values: Iterable[T]) -> None:
        for value in values:
            call(value)

    return calling


def _write_each(
    conn: sqlite3.Connection, jobs: Sequence[Callable[[sqlite3.Connection], Any]]
) -> list[tuple[bool, Any]]:
    """Each job in its own savepoint, in order: (True, its value), or (False, None) with its work undone."""
    outcomes: list[tuple[bool, Any]] = []
    for job in jobs:
        conn.execute("SAVEPOINT stale_one")
        try:
            value = job(conn)
        except Exception:
            if not conn.in_transaction:  # SQLite rolled the whole transaction back (full disk, I/O)
                raise
            conn.execute("ROLLBACK TO stale_one")
            conn.execute("RELEASE stale_one")
            log.exception("a stale follow-up record was not written")
            outcomes.append((False, None))
            continue
        conn.execute("RELEASE stale_one")
        outcomes.append((True, value))
    return outcomes
