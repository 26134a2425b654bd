"""Persistent idle timers: one deadline per conversation in one heap, one sweeper task, SQLite behind.

Memory is what makes 100,000 pending timers cheap: a slotted `Timer` per conversation in a dict,
and a heap of (due, armed_seq, key) tuples invalidated lazily (a re-arm pushes a new tuple; the
old one is skipped when it surfaces). Changes are written behind, in batches, with the watermark of the events
applied: in the next request's logging transaction (`ride`, no writer job of their own), or by the flusher when
no request comes within CARRY_WAIT_S; what a crash loses in between is rebuilt from the event log (see
FollowupService.start).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import sqlite3
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from assistant.clock import Clock
from assistant.followups import store as followup_store
from assistant.followups.store import Key, TimerRow
from assistant.pg.pipeline import together
from assistant.tasks import FaultLog, TaskSet
from assistant.writer import Writer, WriterClosed

log = logging.getLogger(__name__)
# How long changed timers wait for a request's logging transaction to carry them before the flusher writes them.
CARRY_WAIT_S = 0.05


class Timer:
    """One conversation's idle timer: the period opened at `armed_ms` (event time) by event `armed_seq`."""

    __slots__ = ("due_ms", "armed_seq", "armed_ms", "fired", "agent", "firing", "not_before")

    def __init__(
        self, due_ms: int, armed_seq: int, armed_ms: int, fired: int, agent: str | None, not_before: int = 0
    ) -> None:
        self.due_ms = due_ms
        self.armed_seq = armed_seq
        self.armed_ms = armed_ms  # the arming message's event time: with armed_seq, orders idle periods
        self.fired = fired  # follow-ups already fired in this idle period
        self.agent = agent
        self.firing = False  # handed to the fire callback; its outcome is pending
        # Already due when armed or loaded: it waits until then for the rest of a backlog (0: not held).
        self.not_before = not_before

    @property
    def fire_ms(self) -> int:
        """When the sweeper hands it over: its deadline, or later while it is held."""
        return self.due_ms if self.due_ms >= self.not_before else self.not_before

    @property
    def stamp(self) -> tuple[int, int]:
        """(event time, seq) of the arming message: a later-stamped event ends or replaces the period."""
        return (self.armed_ms, self.armed_seq)


@dataclass(frozen=True)
class Due:
    """A timer handed to the fire callback, as it was when it came due."""

    key: Key
    due_ms: int
    armed_seq: int
    armed_ms: int
    fired: int
    agent: str | None
    timer: Timer
    not_before: int = 0  # held until then: it was as late as it is now less the hold when it was held


class TimerQueue:
    """Deadlines by conversation, earliest first; pure data, no I/O."""

    def __init__(self) -> None:
        self._timers: dict[Key, Timer] = {}
        self._heap: list[tuple[int, int, Key]] = []

    def __len__(self) -> int:
        return len(self._timers)

    def get(self, key: Key) -> Timer | None:
        return self._timers.get(key)

    def set(self, key: Key, timer: Timer) -> None:
        """Arm (or re-arm) `key`; any previous deadline of it becomes stale."""
        self._timers[key] = timer
        heapq.heappush(self._heap, (timer.fire_ms, timer.armed_seq, key))
        if len(self._heap) > 2 * len(self._timers) + 1024:
            self._compact()

    def remove(self, key: Key) -> Timer | None:
        return self._timers.pop(key, None)

    def next_due(self) -> int | None:
        """The earliest live firing time, dropping stale heap entries on the way."""
        heap = self._heap
        while heap:
            due, seq, key = heap[0]
            if self._live(due, seq, key):
                return due
            heapq.heappop(heap)
        return None

    def pop_due(self, now_ms: int, limit: int) -> list[tuple[Key, Timer]]:
        """Up to `limit` timers due at `now_ms`, marked `firing` (they stay in the queue until settled)."""
        out: list[tuple[Key, Timer]] = []
        heap = self._heap
        while heap and len(out) < limit and heap[0][0] <= now_ms:
            due, seq, key = heapq.heappop(heap)
            if self._live(due, seq, key):
                timer = self._timers[key]
                timer.firing = True
                out.append((key, timer))
        return out

    def _live(self, due: int, seq: int, key: Key) -> bool:
        timer = self._timers.get(key)
        return timer is not None and not timer.firing and timer.fire_ms == due and timer.armed_seq == seq

    def _compact(self) -> None:
        self._heap = [(t.fire_ms, t.armed_seq, k) for k, t in self._timers.items() if not t.firing]
        heapq.heapify(self._heap)

    def items(self) -> Iterable[tuple[Key, Timer]]:
        return self._timers.items()


# A timer this much overdue at a start that still fires (within late_grace_s) came due while the service was down
# for a while, or it was restored from a backup: then the service that ran on after the backup may have sent it.
LONG_OVERDUE_MS = 30_000


def overdue_at_start(queue: TimerQueue, now_ms: int, grace_ms: int, *, warn: bool) -> int:
    """How many loaded timers came due more than `grace_ms` before the start (their firing records them missed);
    `warn`: a warning when some fire now although LONG_OVERDUE_MS overdue, naming the command for a restored backup."""
    missed = fired = 0
    for _, timer in queue.items():
        late = now_ms - timer.due_ms
        missed += late > grace_ms
        fired += LONG_OVERDUE_MS < late <= grace_ms
    if warn and fired:
        log.warning(
            "follow-ups: %d armed timers came due %d s or more before this start and are sent now; if this database"
            " was restored from a backup, the service that ran after the backup may have sent them already: before"
            " starting on a restored database, run `assistant followups skip-due` on it (docs/followups.md)",
            fired, LONG_OVERDUE_MS // 1000,
        )  # fmt: skip
    return missed


def under_settings(rows: Sequence[TimerRow], idle_ms: int, max_per_idle: int) -> tuple[list[TimerRow], list[TimerRow]]:
    """Persisted timers as the [followups] settings of this start have them: (to load, to close as done).

    A row keeps the deadline its last run computed; after a change of `idle_seconds` the first follow-up of
    a period is due at its arming message's time + the new delay (a quiet-hours deferral keeps its own), and
    a period that already had the follow-ups `max_followups_per_idle` now allows (0: none) gets no more.
    """
    kept: list[TimerRow] = []
    spent: list[TimerRow] = []
    for row in rows:
        if row.fired >= max_per_idle:
            spent.append(replace(row, state="done"))
        elif row.fired == 0 and row.reason != "quiet_hours":
            kept.append(replace(row, due_ms=row.armed_ms + idle_ms))
        else:
            kept.append(row)
    return kept, spent


FireCallback = Callable[[list[Due]], Awaitable[None]]


class TimerWrite:
    """Changed timers and the watermark as one write (an ingest.Passenger): carried by a request's logging
    transaction (Timers.ride) or a writer job of its own (Timers.flush). It touches nothing but the database."""

    __slots__ = ("timers", "keys", "rows", "cancels", "seen", "now_ms")

    def __init__(
        self,
        timers: Timers,
        keys: set[Key],
        rows: list[TimerRow],
        cancels: list[tuple[str, str, int, int, str]],
        seen: int,
        now_ms: int,
    ) -> None:
        self.timers = timers
        self.keys = keys
        self.rows = rows
        self.cancels = cancels
        self.seen = seen
        self.now_ms = now_ms

    def __call__(self, conn: sqlite3.Connection) -> None:
        with together(conn) as batch:  # on PostgreSQL one round trip, where each statement was one
            if self.rows:
                followup_store.save_timers(batch.writes, self.rows, self.now_ms)
            if self.cancels:
                followup_store.cancel_timers(batch.writes, self.cancels, self.now_ms)
            followup_store.set_watermark(batch.writes, self.seen)

    def committed(self) -> None:
        timers = self.timers
        if timers._write_done is not None:  # a flush waits for this write's outcome
            timers._written(self, ok=True)
            return
        # Timers._written's success inline: it runs for every request that carried a write.
        timers._carried += 1
        if timers._writing is self:
            timers._writing = None
        if self.seen > timers._persisted_seq:
            timers._persisted_seq = self.seen

    def failed(self) -> None:
        self.timers._written(self, ok=False)


class Timers:
    """The queue plus its sweeper (fires due timers in batches) and flusher (persists changes)."""

    def __init__(
        self,
        writer: Writer,
        clock: Clock,
        *,
        batch_size: int = 256,
        max_batches: int = 8,
        retry_s: float = 5.0,
        max_retries: int = 24,
    ) -> None:
        self.writer = writer
        self.clock = clock
        self.batch_size = batch_size
        self.retry_ms = int(retry_s * 1000)
        self.max_retries = max_retries
        self._failures: dict[Key, int] = {}  # only timers whose firing failed
        self._faults = FaultLog(log)
        self.queue = TimerQueue()
        # The sweeper hands batches over without waiting for their commit, so that timers coming
        # due meanwhile fire on time; at most `max_batches` are in flight (back-pressure).
        self._slots = asyncio.Semaphore(max_batches)
        self._batches = TaskSet("timers-fire")
        self._dirty: set[Key] = set()
        self._cancels: dict[Key, tuple[int, int, str]] = {}  # key → (seq, event time, reason)
        self._on_due: FireCallback | None = None
        self._loops: TaskSet | None = None  # the sweeper and the flusher, once started
        self._flush_waiter: asyncio.Future[None] | None = None  # while the flusher waits for a change
        # The write in flight, if any: one at a time, so that the watermark written never passes changes of a
        # write that failed (they are taken again, with a later watermark).
        self._writing: TimerWrite | None = None
        self._write_done: asyncio.Future[None] | None = None  # while a flush waits for that write's outcome
        self._carried = 0  # writes handed out and outcomes had: the flusher writes only after CARRY_WAIT_S of neither
        self._wake: asyncio.Future[None] | None = None
        self._sleeping_until: int | None = None
        self.idle_at: int | None = None  # while the sweeper sleeps: when it last found nothing due
        self.seen_seq = 0  # the last event applied to the queue
        self._persisted_seq = 0  # the last event whose effect is written

    # ---- changes -------------------------------------------------------------------------------

    def arm(
        self,
        key: Key,
        *,
        due_ms: int,
        armed_seq: int,
        armed_ms: int,
        agent: str | None,
        fired: int = 0,
        not_before: int = 0,
    ) -> Timer:
        """Start (or restart) the idle period of `key` (held until `not_before` if that is later)."""
        agent = sys.intern(agent) if agent is not None else None
        key = (sys.intern(key[0]), key[1])
        timer = Timer(due_ms, armed_seq, armed_ms, fired, agent, not_before)
        self.queue.set(key, timer)
        self._cancels.pop(key, None)
        self._touch(key)
        self._poke(timer.fire_ms)
        return timer

    def hold(self, now_ms: int, late_ms: int, until_ms: int) -> None:
        """Hold every timer due by `until_ms` (at most `late_ms` before `now_ms`) until then; release every other."""
        for key, timer in list(self.queue.items()):
            held = until_ms if now_ms - late_ms <= timer.due_ms <= until_ms else 0
            if not timer.firing and timer.not_before != held:
                timer.not_before = held
                self.queue.set(key, timer)

    def cancel(self, key: Key, *, seq: int, at_ms: int, reason: str) -> Timer | None:
        """End the idle period of `key` because of event `seq`, stamped `at_ms`."""
        timer = self.queue.remove(key)
        if timer is not None:
            self._cancels[key] = (seq, at_ms, reason)
            self._touch(key)
        return timer

    def settle(self, key: Key, timer: Timer, *, next_due: int | None, fired: int | None = None) -> bool:
        """Apply a fire outcome to `timer` (already persisted by the caller) unless `key` changed meanwhile."""
        if self.queue.get(key) is not timer:
            return False
        timer.firing = False
        self._dirty.discard(key)
        self._failures.pop(key, None)
        if fired is not None:
            timer.fired = fired
        timer.not_before = 0
        if next_due is None:
            self.queue.remove(key)
        else:
            timer.due_ms = next_due
            self.queue.set(key, timer)
            self._poke(next_due)
        return True

    def retry_later(self, key: Key, timer: Timer) -> bool:
        """Put back a timer whose firing failed, a little later; False once it failed `max_retries` times."""
        if self.queue.get(key) is not timer:
            return True
        failures = self._failures.get(key, 0) + 1
        if failures > self.max_retries:
            self._failures.pop(key, None)
            return False
        self._failures[key] = failures
        timer.firing = False
        timer.due_ms = self.clock.now_ms() + self.retry_ms
        self.queue.set(key, timer)
        self._touch(key)
        self._poke(timer.due_ms)
        return True

    def resume_from(self, seq: int) -> None:
        """The persisted watermark: events up to `seq` are already reflected in the loaded rows."""
        self.seen_seq = self._persisted_seq = seq

    def load(self, rows: Iterable[TimerRow]) -> int:
        """Put persisted armed timers back in the queue (nothing to write); how many were not there yet (a row
        the start moved to a later deadline comes again on a later page of the start's load)."""
        n = 0
        for row in rows:
            agent = sys.intern(row.agent) if row.agent is not None else None
            key = (sys.intern(row.shop), row.conversation)
            n += self.queue.get(key) is None
            self.queue.set(key, Timer(row.due_ms, row.armed_seq, row.armed_ms, row.fired, agent))
        self._poke(0)
        return n

    def hold_back(self) -> None:
        """The watermark stays where it was persisted: the next start replays the events since."""
        self.seen_seq = self._persisted_seq

    def saw(self, seq: int) -> None:
        """Event `seq` has been applied (whether or not it changed a timer)."""
        if seq > self.seen_seq:
            self.seen_seq = seq

    def _touch(self, key: Key) -> None:
        self._dirty.add(key)
        waiter = self._flush_waiter
        if waiter is not None:  # the first change since the last write: the flusher counts its wait from it
            self._flush_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _wake_flusher(self) -> None:
        waiter, self._flush_waiter = self._flush_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # ---- running -------------------------------------------------------------------------------

    def start(self, on_due: FireCallback) -> None:
        self._on_due = on_due
        self._loops = TaskSet("timers")
        self._loops.spawn(self._sweep(), name="timers-sweeper")
        self._loops.spawn(self._flush_loop(), name="timers-flusher")

    async def stop(self) -> None:
        """Stop sweeping, let batches being fired finish, then write what is not yet persisted."""
        if self._loops is not None:
            await self._loops.close()
        await self._batches.join()
        try:
            await self.flush(final=True)
        except sqlite3.Error as exc:  # a database gone or full at the stop: the stop goes on (the log says it)
            log.error("armed timers not saved at stop (%s); the next start rebuilds them from the log", exc)

    @property
    def settled(self) -> bool:
        """Nothing due is left unfired and nothing changed is left unwritten (for tests and benchmarks)."""
        if self._loops is None:  # not started (follow-ups disabled)
            return not self._dirty and self._writing is None
        asleep = self.idle_at is not None and self._wake is not None and not self._wake.done()
        rested = self._sleeping_until is None or self._sleeping_until > self.clock.now_ms()
        return asleep and rested and len(self._batches) == 0 and not self._dirty and self._writing is None

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._slots.acquire()
            now = self.clock.now_ms()
            batch = self.queue.pop_due(now, self.batch_size)
            if batch:
                self._batches.spawn(self._fire(batch), name="timers-fire")
                continue
            self._slots.release()
            self.idle_at = now
            self._sleeping_until = self.queue.next_due()
            self._wake = loop.create_future()
            waits: list[asyncio.Future[None]] = [self._wake]
            if self._sleeping_until is not None:
                waits.append(asyncio.ensure_future(self.clock.sleep_until(self._sleeping_until)))
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits[1:]:
                    w.cancel()
                self.idle_at = None
                self._wake = None

    async def _fire(self, batch: list[tuple[Key, Timer]]) -> None:
        assert self._on_due is not None
        try:
            await self._on_due(
                [Due(k, t.due_ms, t.armed_seq, t.armed_ms, t.fired, t.agent, t, t.not_before) for k, t in batch]
            )
            self._faults.cleared("fire", "due timers fire again")
        except WriterClosed:
            log.info("stopping: %d due timers left for the next start", len(batch))
        except Exception as exc:
            self._faults.failed("fire", exc, "firing %d timers failed; retrying in %d ms", len(batch), self.retry_ms)
            dropped = [key for key, timer in batch if not self.retry_later(key, timer)]
            for key in dropped:
                self.queue.remove(key)
            if dropped:
                # One line for the lot (then one a minute with a count): a long outage drops every due timer
                # of the instance, and a line each was a storm. Their rows stay armed, for the instance that
                # takes them over (or records them missed) once the database is back.
                self._faults.log(
                    "drop", "%d due timers dropped after %d failures to fire them (%s)",
                    len(dropped), self.max_retries, ", ".join("/".join(k) for k in dropped[:5]) + (", …" if len(dropped) > 5 else ""),
                )  # fmt: skip
        finally:
            self._slots.release()

    def _poke(self, due_ms: int) -> None:
        """Wake the sweeper if `due_ms` is earlier than what it sleeps for."""
        wake = self._wake
        if wake is not None and not wake.done() and (self._sleeping_until is None or due_ms < self._sleeping_until):
            wake.set_result(None)

    async def _flush_loop(self) -> None:
        while True:
            if not self._dirty:
                self._flush_waiter = asyncio.get_running_loop().create_future()
                await self._flush_waiter
            # Under traffic the next request's logging transaction carries the changes meanwhile (`ride`): a job
            # of their own only for those no request came for, once no write was carried, in flight or settled for
            # CARRY_WAIT_S. (Flushing 50 ms after a change whatever the traffic, the flusher took the changes made
            # after each write as soon as it had committed, before the next request came: when commits took over
            # 50 ms, every write was the flusher's own job, and its job cut each group's events in two INSERTs.)
            carried = self._carried
            await asyncio.sleep(CARRY_WAIT_S)
            if self._writing is not None or self._carried != carried:
                continue
            try:
                await self.flush()
                self._faults.cleared("persist", "timers are persisted again")
            except WriterClosed:
                return
            except Exception as exc:
                self._faults.failed("persist", exc, "persisting timers failed; will retry")
                await asyncio.sleep(1.0)  # its changes are dirty again: the loop writes them next

    async def flush(self, *, final: bool = False) -> None:
        """Write every changed timer in one job (`final`: also the watermark alone, at stop), once the write in
        flight, if any, has its outcome."""
        while self._writing is not None:
            if self._write_done is None:
                self._write_done = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._write_done)
        write = self.ride(final=final)
        if write is None:
            return
        try:
            await self.writer.submit(write, together=True)  # it touches nothing but the database
        except BaseException:
            write.failed()
            raise
        write.committed()

    def ride(self, final: bool = False) -> TimerWrite | None:
        """Every changed timer as one write, now in flight: for a request's logging transaction to carry (an
        ingest.Rider), or for `flush` (`final`: also the watermark alone); none while a write is in flight."""
        seen = self.seen_seq
        if self._writing is not None or (not self._dirty and not (final and seen > self._persisted_seq)):
            return None
        keys, self._dirty = self._dirty, set()
        rows: list[TimerRow] = []
        cancels: list[tuple[str, str, int, int, str]] = []
        for key in keys:
            timer = self.queue.get(key)
            if timer is None:
                seq, at_ms, reason = self._cancels.pop(key, (0, 0, ""))
                if seq:
                    cancels.append((key[0], key[1], seq, at_ms, reason))
            else:
                # A firing timer is written too; if its outcome lands first, save_timers keeps the
                # outcome (fired, not armed again), so a restart does not fire it a second time.
                rows.append(
                    TimerRow(key[0], key[1], timer.armed_seq, timer.armed_ms, timer.due_ms, timer.fired, timer.agent)
                )
        write = TimerWrite(self, keys, rows, cancels, seen, self.clock.now_ms())
        self._writing = write
        self._carried += 1
        return write

    def _written(self, write: TimerWrite, *, ok: bool) -> None:
        """The outcome of the write in flight: persisted, or its changes taken again by the next one."""
        self._carried += 1
        if self._writing is write:
            self._writing = None
            done, self._write_done = self._write_done, None
            if done is not None and not done.done():
                done.set_result(None)
        if ok:
            self._persisted_seq = max(self._persisted_seq, write.seen)
            return
        self._dirty |= write.keys
        for shop, conversation, seq, at_ms, reason in write.cancels:
            self._cancels.setdefault((shop, conversation), (seq, at_ms, reason))
        self._wake_flusher()
