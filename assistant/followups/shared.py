"""Follow-ups when several instances share one PostgreSQL database: each idle period fires exactly once.

Any instance may receive any event, so the timers table, not an instance's memory, is the truth:
- an event's effect on its conversation's timer is written in the event's own transaction (`record`),
  so nothing an instance acknowledged is lost when it is killed;
- the instance whose memory holds a due timer claims its row with `SELECT … FOR UPDATE SKIP LOCKED`
  before deciding (`CLAIM`, sent with the firing's reads, and `claimed`); the row, changed in the same
  transaction, tells any other instance that the period is handled (a follow-up's id, its idempotency key,
  is the same on every instance);
- every `lease_s / 4` each instance loads the rows left armed `lease_s` past their deadline (their
  instance died or lost them) and the deliveries left pending that long, and takes them over (`sweep`);
- a customer message or closure ends, in its own transaction, the follow-up its period's timer was fired into
  on any instance while it was on its way (`END_PENDING`): a delivery with no attempt made yet, or none whose
  outcome is unknown, is cancelled before the message is acknowledged, and its instance's next attempt finds it no
  longer pending. One whose last attempt's outcome is unknown is left to its delivery, which asks the platform and
  then records its next attempt only if the log holds no such message (records.record_attempt). The firing reads
  the log in its claiming transaction, but not a reply still being matched or written by another instance: that
  instance hears nothing of its timers or deliveries but through the database.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from assistant.followups import store as followup_store
from assistant.followups.policy import event_time, is_stale
from assistant.followups.reasons import CLOSED, CUSTOMER_WROTE
from assistant.followups.store import TimerRow
from assistant.followups.takeover import left_behind
from assistant.followups.timers import Due
from assistant.hookspecs import Followup
from assistant.pg.pipeline import together
from assistant.store import Written
from assistant.tasks import FaultLog

if TYPE_CHECKING:
    from assistant.followups.service import FollowupService

log = logging.getLogger(__name__)

Claim = Literal["mine", "busy", "elsewhere"]
# The timer row of a due timer (shop, conversation), locked: read by `claimed`; sent with the firing's reads.
CLAIM = "SELECT armed_seq, fired, state FROM timers WHERE shop = ? AND conversation = ? FOR UPDATE SKIP LOCKED"
# The pending follow-ups of the idle periods a customer message or closure ends (shop, conversation, its event time
# and seq), locked: a delivery records each attempt before it makes it, and is not midway through that record when
# `END_PENDING` reads them. Sent with the timer's cancel (one round trip) and run after it: a cancel that waited for
# the timer's claim (its firing) is followed by a read that sees the follow-up that firing committed.
PENDING_ENDED = (
    "SELECT f.id FROM followups f WHERE f.shop = ? AND f.conversation = ? AND f.state = 'pending' AND EXISTS"
    " (SELECT 1 FROM events e WHERE e.seq = f.armed_seq AND (CASE WHEN e.ts_ms > e.received_ms + ?"
    " THEN e.received_ms + ? ELSE e.ts_ms END, e.seq) < (?, ?)) FOR UPDATE OF f"
)
# Those of them (locked, `{marks}` their ids) that no attempt may have reached the buyer by: none made, or the last
# one answered with nothing created (its outcome known). One of unknown outcome is left to its delivery, which asks
# the platform before it posts again. A fresh statement, after the lock: it sees the attempt a delivery committed.
END_PENDING = (
    "UPDATE followups SET state = 'cancelled', last_error = ?, updated_ms = ? WHERE id IN ({marks})"
    " AND state = 'pending' AND (attempts = 0 OR EXISTS (SELECT 1 FROM followup_outcomes o"
    " WHERE o.id = followups.id AND o.unknown = 0)) RETURNING *"
)
ENDED_HELD = 1000  # follow-ups ended by events whose transaction did not commit (never told): the oldest let go


class SharedTimers:
    """The database side of one instance among several: write-through, claims, take-overs."""

    def __init__(self, service: FollowupService, lease_s: float) -> None:
        self.service = service
        self.lease_ms = int(lease_s * 1000)
        self.taken_over = 0  # timers and deliveries this instance took over from others
        self._faults = FaultLog(log)
        # Event id → the follow-ups its transaction cancelled (`record`, on the writer's thread), told once it
        # committed (`ended_by`, on the loop).
        self._ended: dict[str, list[Followup]] = {}
        self._ended_lock = threading.Lock()

    def record(self, conn: sqlite3.Connection, written: Written) -> None:
        """Recorder (inside the event's transaction): arm or cancel the conversation's timer row."""
        event, seq = written.event, written.seq
        service = self.service
        if seq is None or not service.settings.enabled or service.policy.max_per_idle < 1:
            return
        now = service.clock.now_ms()
        at_ms = event_time(event.ts_ms, now, service.policy)
        key = (event.shop, event.conversation)
        if event.type == "conversation_closed" or (event.type == "message" and event.sender == "customer"):
            closed = event.type == "conversation_closed"
            future_ms = service.policy.future_ms
            with together(conn) as batch:
                followup_store.cancel_timers(
                    batch.writes, [(*key, seq, at_ms, "closed" if closed else "customer_replied")], now
                )
                pending = batch.execute(PENDING_ENDED, (*key, future_ms, future_ms, at_ms, seq))
            locked, ended = pending.fetchall(), []
            if locked:
                sql = END_PENDING.format(marks=", ".join("?" * len(locked)))
                why = CLOSED if closed else CUSTOMER_WROTE
                ended = conn.execute(sql, (why, now, *(row[0] for row in locked))).fetchall()
            self._hold_ended(event.id, [followup_store.followup_of(row) for row in ended])
        elif event.type == "message" and event.sender == "agent" and event.followup_id is None:
            if service.is_echo(key, event.text) or is_stale(at_ms, now, service.policy):
                return
            # Armed unless a customer message or closure stamped later is logged (this period is already over), and
            # never over a later-stamped period: one statement, where the check and the write were two round trips.
            conn.execute(
                f"{followup_store.TIMER_INSERT} SELECT ?, ?, ?, ?, ?, 0, ?, 'armed', NULL, ? WHERE NOT EXISTS"
                " (SELECT 1 FROM conversations WHERE shop = ? AND conversation = ?"
                f" AND (coalesce(last_customer_ms, 0) > ? OR coalesce(closed_ms, 0) > ?)) {followup_store.TIMER_UPSERT}",
                (event.shop, event.conversation, seq, at_ms, at_ms + service.policy.idle_ms, event.agent, now,
                 event.shop, event.conversation, at_ms, at_ms),
            )  # fmt: skip

    def _hold_ended(self, event_id: str, ended: list[Followup]) -> None:
        """Keep what the transaction of `event_id` cancelled (none: forget what an earlier run of it, rolled back,
        had), to tell once it commits."""
        with self._ended_lock:
            self._ended.pop(event_id, None)  # a transaction run again: its last run's
            if ended:
                self._ended[event_id] = ended
                while len(self._ended) > ENDED_HELD:
                    del self._ended[next(iter(self._ended))]

    def ended_by(self, event_id: str) -> list[Followup]:
        """The follow-ups the (committed) transaction of `event_id` cancelled, once: to tell the panels."""
        with self._ended_lock:
            return self._ended.pop(event_id, [])

    def claimed(self, row: Sequence[Any] | None, due: Due) -> Claim:
        """Whether the timer row of a due timer, as CLAIM read it, is this instance's to fire: "mine", "busy"
        (another instance is firing it now: try again later), "elsewhere" (already fired, cancelled or replaced)."""
        if row is None:
            return "busy"
        if (row[0], row[1], row[2]) != (due.armed_seq, due.fired, "armed"):
            return "elsewhere"
        return "mine"

    async def run(self) -> None:
        """Take over, every quarter lease, what other instances left behind."""
        while True:
            try:
                await self.sweep()
                self._faults.cleared("sweep", "taking over follow-ups left by other instances works again")
            except Exception as exc:
                self._faults.failed("sweep", exc, "taking over follow-ups left by other instances failed; trying again")
            await asyncio.sleep(self.lease_ms / 4000)  # real time: the lease is counted on the shared clock

    async def sweep(self) -> None:
        service = self.service
        now = service.clock.now_ms()
        overdue_before = now - self.lease_ms

        def load(conn: sqlite3.Connection) -> tuple[list[TimerRow], list[Followup], dict[str, str]]:
            return left_behind(conn, overdue_before, now, service.policy.future_ms)

        rows, stalled, ended = await service.writer.submit(load)
        queue = service.timers.queue
        fresh = [
            r for r in rows if (t := queue.get((r.shop, r.conversation))) is None or t.stamp < (r.armed_ms, r.armed_seq)
        ]
        if fresh:
            service.timers.load(fresh)
        for f in stalled:
            service.deliverer.resume(f, ended.get(f.id))  # a delivery already running here is not started twice
        if fresh or stalled:
            self.taken_over += len(fresh) + len(stalled)
            log.info(
                "took over %d overdue timers and %d stalled deliveries from other instances", len(fresh), len(stalled)
            )
