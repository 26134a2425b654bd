"""Idle follow-ups: arm on the agent's message, cancel on the customer's, and when the customer has been
quiet for `idle_seconds`, choose, render and send (or suggest) a closing message or payment reminder.

Timers run on the conversation's own clock: the deadline is the agent message's `ts` + `idle_seconds`,
and events apply in the order they were stamped, not the order they arrived. A message that arrives
late fires at its own deadline (at once if that passed less than `late_grace_s` ago); one older than
that never arms and is recorded `stale`. A `ts` further ahead than the webhook's signature tolerance
is not believed: it is logged at its receive time + that tolerance (store.believed).
"""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

from assistant import pg
from assistant.bus import Bus, Update
from assistant.clock import Clock, SystemClock
from assistant.config import Config
from assistant.events import Event
from assistant.followups import firing
from assistant.followups import store as followup_store
from assistant.followups.adjusting import FollowupAdjuster
from assistant.followups.delivery import CUSTOMER_WROTE, ORDER_SETTLED, Deliverer
from assistant.followups.firing import ELSEWHERE, Outcome
from assistant.followups.panelstate import followup_payload, is_latest, panel_states
from assistant.followups.policy import (
    Cancel,
    Defer,
    PhraseSource,
    Policy,
    builtin_phrases,
    event_time,
    is_stale,
)
from assistant.followups.reasons import AGENT_SENT, AGENT_WROTE, CLOSED, DOWN_WHEN_DUE, LATE_REPLY, MOVED_ON
from assistant.followups.shared import SharedTimers
from assistant.followups.stale import WENT_ON, StaleWrites, each, insert_stale, void_stale
from assistant.followups.store import Key, Page, ReplayEvent, TimerRow
from assistant.followups.timeline import Stamp, Timeline
from assistant.followups.timers import Due, Timers, overdue_at_start, under_settings
from assistant.ground.bounded import Bounded
from assistant.hookspecs import Followup, hookimpl
from assistant.ingest import Ingestor
from assistant.plugins import Plugins
from assistant.tasks import TaskSet, Throttled
from assistant.writer import Writer

log = logging.getLogger(__name__)
# How long after a restart a follow-up's text is still known as ours: a prompt stays on the panel until the
# customer writes, and an agent may send it much later than the replay reaches back.
ECHO_MEMORY_MS = 24 * 3600 * 1000
ECHOES = 20_000  # conversations whose last follow-up is remembered in process (most go quiet after it: no end)
REPLAY_SLICE = 2000  # events replayed at start between two turns of the event loop (a few ms)
FUTURE_WARNING = (
    "event %s of %s/%s is stamped %.0f s after it arrived (more than [webhook] signature_tolerance_s):"
    " the follow-up clock uses its receive time + the tolerance (%d such events since the last warning)"
)
STALE_WARNING = (
    "agent message %s of %s/%s arrived %.0f s after its idle period ended (late_grace_s is %d): not armed,"
    " recorded as stale follow-up %s (%d such messages since the last warning: a back-fill of past days?)"
)
LAG_WARNING = (
    "events arrive late: %s of %s/%s came %.0f s after its own ts, more than a third of idle_seconds (%d). Idle waits"
    " are counted from ts, so each closing goes out that much sooner after the agent's reply arrived: a platform"
    " clock behind, or a delivery lag? (%d such events since the last warning)"
)
ENDS_STALE = ("conversation_closed", "order_paid")  # besides customer and agent messages


class FollowupService:
    """Owns the timers, the firing decision, the delivery tasks, and the hooks they call."""

    def __init__(
        self,
        config: Config,
        writer: Writer,
        ingestor: Ingestor,
        bus: Bus,
        plugins: Plugins,
        *,
        clock: Clock | None = None,
        phrases: Callable[[], PhraseSource | None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.settings = config.followups
        self.policy = Policy.from_config(config)
        self.writer = writer
        self.ingestor = ingestor
        self.bus = bus
        self.clock: Clock = clock or SystemClock()
        self.plugins = plugins
        self.phrases = phrases or (lambda: None)  # called at each firing: follows library reloads
        self.builtin_phrases = builtin_phrases(config)
        self.timers = Timers(writer, self.clock, max_retries=max(1, self.policy.grace_ms // 5000))
        self.timeline = Timeline(self.policy.horizon_ms)
        self.adjuster = FollowupAdjuster(plugins)  # the plugins' `adjust_followup`, asked as one is recorded
        self.deliverer = Deliverer(config, plugins, writer, ingestor, self.clock, self.notify, rng=rng)
        self.tasks = TaskSet("followups")
        self.stale = StaleWrites(writer, self.tasks)  # stale records, a backlog's in a few writer jobs
        # The last text we sent or suggested, per conversation; the follow-up suggested, until it is settled. The
        # latest written kept: a conversation that simply goes quiet (most do, after their follow-up) is let go.
        self._echo: Bounded[Key, str] = Bounded(ECHOES, on_write=True)
        self._suggested: Bounded[Key, Followup] = Bounded(ECHOES, on_write=True)
        self._future_warning = Throttled(log, FUTURE_WARNING)
        self._stale_warning = Throttled(log, STALE_WARNING)
        self._lag_warning = Throttled(log, LAG_WARNING)
        self.keep: Callable[[Update], bool] = lambda update: False  # the live feed's (app.py): kept, not published
        plugins.register(BuiltinHooks(self), name="assistant.followups")
        plugins.event_listeners.append(self.handle)  # timers follow events (before any plugin hears of them)
        ingestor.riders.append(self.timers.ride)  # their changes written in the next request's transaction
        # Several instances on one PostgreSQL database: timers written through, claimed, taken over.
        self.shared = SharedTimers(self, self.settings.lease_s) if isinstance(writer.path, pg.Location) else None
        self._shared_tasks = TaskSet("followups-shared")
        if self.shared is not None:
            ingestor.recorders.append(self.shared.record)

    # ---- life cycle ----------------------------------------------------------------------------

    async def start(
        self, checkpoint: Callable[[], None] = lambda: None, reading: Any = None, retry: Any = None
    ) -> None:
        """Reload timers and pending deliveries, rebuild what a crash lost, start sweeping.

        Rebuilding arms only what the live path would have armed when the event arrived: a message stale on
        arrival (a back-fill, a restored or imported day) arms nothing; its `stale` record is written if a killed
        process had not written it yet. The start may end where it calls `checkpoint()` (raising: SIGTERM came), what
        it replayed until then consistent (`stop` persists it), and in its read of the log (`reading`), which `retry`
        makes again while PostgreSQL is lost to it (app.py)."""
        if self._sends() and not self.plugins.implementers("deliver_message"):
            log.warning("[followups] mode is 'send' but no enabled hook implements deliver_message")
        if not self.settings.enabled:
            return
        now = self.clock.now_ms()
        policy = self.policy
        # An event received before this could open no idle period still running (nor one of its repeats).
        span = policy.idle_ms * max(1, policy.max_per_idle) + policy.grace_ms + policy.future_ms

        def load(conn: sqlite3.Connection) -> tuple[Any, ...]:
            watermark = followup_store.watermark(conn)
            events = followup_store.events_to_replay(conn, watermark, now - span)
            keys = sorted({(e.shop, e.conversation) for e in events})
            # Alone on its database, every pending delivery is this instance's own, left by its last run. On a
            # shared one, a delivery another live instance is working on is its own: only those untouched for
            # a lease (their instance is gone) are claimed here; a rolling restart re-sent every one in flight.
            if self.shared is None:
                pending = followup_store.pending_followups(conn)
            else:
                pending = followup_store.claim_stalled_followups(conn, now - self.shared.lease_ms, now, limit=10_000)
            # A delivery cut short by the stop may have outlived its idle period: the customer wrote (or the agent
            # did) while the attempt was in flight, and the cancel that would have followed its failure is lost.
            ended = {f.id: by for f in pending if (by := followup_store.period_ended_by(conn, f, policy.future_ms))}
            return (
                watermark,
                pending,
                ended,
                followup_store.unsettled_followups(conn, now - max(span, ECHO_MEMORY_MS)),
                events,
                followup_store.timers_for(conn, keys),
                followup_store.recent_activity(conn, now - policy.horizon_ms, policy.future_ms),
            )

        async def read() -> tuple[int, tuple[Any, ...]]:  # changes no state: a timer loaded again is set again
            job = load if reading is None else reading(load)  # a read the stop may end (Startup.abandonable)
            return await self._load_timers(), await self.writer.submit(job)

        loaded, (watermark, pending, ended, unsettled, events, known, recent) = await (retry or (lambda r: r()))(read)
        checkpoint()
        self.timers.resume_from(watermark)
        # What was sent or suggested and not settled before the restart: its text coming back is our own, and a
        # suggested one is done when the agent sends it (it once armed a new period and prompted a second time).
        for f in unsettled:
            self._echo.put((f.shop, f.conversation), f.text)
            self.timeline.followup_made((f.shop, f.conversation), f.fired_ms, now)
            if f.state == "suggested":
                self._suggested.put((f.shop, f.conversation), f)
        # The latest stamp of each recently active conversation, from the whole log: replaying in log order
        # against it arms exactly the conversations whose latest-stamped event is a live agent message.
        for key, stamp in recent.items():
            timer = self.timers.queue.get(key)
            if timer is None or stamp > timer.stamp:
                self.timeline.note(key, stamp, now)
        replayed, stale = await self._replay(events, known, now, checkpoint)
        checkpoint()  # the last: what follows arms, fires and resumes deliveries
        # Timers due while the service was down: past late_grace_s their firing records them missed; the others fire.
        overdue = overdue_at_start(self.timers.queue, now, policy.grace_ms, warn=self._sends())
        # Due (or coming due meanwhile) but not missed: the messages the platform held back while the service was
        # down come in first.
        self.timers.hold(now, policy.grace_ms, now + policy.settle_ms if policy.settle_ms else 0)
        self.timers.start(self._fire)
        if self.shared is not None:
            self._shared_tasks.spawn(self.shared.run(), name="followups-take-over")
        resumed = 0
        for f in pending:
            if f.id in ended:
                self.deliverer.resume(f, ended[f.id])
            elif now - f.updated_ms <= policy.grace_ms:
                self.deliverer.held[f.id] = now + policy.settle_ms  # as the overdue timers: held-back messages first
                self.deliverer.submit(f)
                resumed += 1
            elif f.attempts:  # too late to send; an attempt was made: the platform may hold it (then `sent`)
                self.deliverer.submit(f, cancel=DOWN_WHEN_DUE, settle_as="missed")
            else:
                await self._set_state(f, "missed", DOWN_WHEN_DUE)
        log.info(
            "follow-ups: %d timers reloaded, %d rebuilt from the log (%d messages stale on arrival, not armed),"
            " %d deliveries resumed, %d missed, %d cancelled (their conversation went on)",
            loaded, replayed, stale, resumed, len(pending) - resumed - len(ended) + overdue, len(ended),
        )  # fmt: skip

    async def _load_timers(self, page: int = 10_000) -> int:
        """Put the armed timers back in the queue, a page at a time by deadline (little memory held at once)."""
        loaded = 0
        after: Page = (-1, "", "")
        while True:
            rows = await self.writer.submit(partial(followup_store.armed_timers, after=after, limit=page))
            kept, spent = under_settings(rows, self.policy.idle_ms, self.policy.max_per_idle)
            # The table too: `assistant followups timers` showed the deadline of the last start's `idle_seconds`.
            moved = [row for row, was in zip(kept, (r for r in rows if r.fired < self.policy.max_per_idle))
                     if row.due_ms != was.due_ms]  # fmt: skip
            if spent or moved:
                now = self.clock.now_ms()
                await self.writer.submit(partial(followup_store.save_timers, rows=spent + moved, now_ms=now))
            loaded += self.timers.load(kept)
            if len(rows) < page:
                return loaded
            after = (rows[-1].due_ms, rows[-1].shop, rows[-1].conversation)

    async def stop(self) -> None:
        """Stop firing and delivering; persist the timers, short of the events whose stale records were not written."""
        await self.stale.stop()
        if self.stale.unwritten:  # the next start replays them and writes those records
            self.timers.hold_back()
        await self._shared_tasks.close()
        await self.timers.stop()
        await self.deliverer.close()
        await self.tasks.close()

    @property
    def settled(self) -> bool:
        """Nothing runnable left: due timers fired, changes written, deliveries done or waiting to retry."""
        return self.timers.settled and self.deliverer.settled and len(self.tasks) == self.deliverer.checks_waiting

    def _sends(self) -> bool:
        return self.settings.mode == "send" or "send" in self.settings.shop_modes.values()

    # ---- events --------------------------------------------------------------------------------

    def handle(self, event: Event, seq: int) -> None:
        """Arm, re-arm or cancel the conversation's timer for a newly logged event."""
        key = (event.shop, event.conversation)
        self.timers.saw(seq)
        now = self.clock.now_ms()
        at_ms = event_time(event.ts_ms, now, self.policy)
        if at_ms != event.ts_ms:
            self._warn_future(event, now)
        elif self.policy.idle_ms < 3 * (now - at_ms) and now - at_ms <= self.policy.horizon_ms:
            # Later still, an agent message is stale (its own warning) and the rest is history (a back-fill).
            lag_s = (now - at_ms) / 1000
            self._lag_warning.warn(now, event.id, *key, lag_s, self.settings.idle_seconds)
        outcome = self._apply(
            key, event.type, event.sender, event.agent, event.text, event.followup_id, seq, at_ms, now
        )
        if self.shared is not None:  # deliveries its transaction ended (of any instance): their line on the panels
            for f in self.shared.ended_by(event.id):
                self.notify(f)
        if outcome == "stale":
            self._record_stale(key, event.id, seq, at_ms, now)
        if now - at_ms > self.policy.grace_ms and (event.type in ENDS_STALE or event.sender in ("customer", "agent")):
            # Late too (a back-fill's next request): a stale record of this conversation may not have been owed.
            self._void_stale(key, (at_ms, seq))
        if event.type == "order_paid":
            timer = self.timers.queue.get(key)
            if (timer is not None and not timer.firing) or self.deliverer.has(key, "payment_reminder"):
                self.tasks.spawn(self._cancel_if_paid(key, (at_ms, seq)), name="followups-paid-check")
        elif event.type == "order_closed" and self.deliverer.has(key, "payment_reminder"):
            # The period goes on (its follow-up becomes a closing once no unpaid order is left); a reminder being
            # delivered for the closed order is dropped.
            self.tasks.spawn(self._cancel_if_paid(key, None), name="followups-closed-check")

    def _apply(
        self,
        key: Key,
        type: str,
        sender: str | None,
        agent: str | None,
        text: str | None,
        followup_id: str | None,
        seq: int,
        at_ms: int,
        now_ms: int,
    ) -> str | None:
        """Apply one event stamped `at_ms`, received at `now_ms`; what it did (armed, stale, superseded…)."""
        if not self.settings.enabled or self.policy.max_per_idle < 1:
            return None
        stamp = (at_ms, seq)
        if type == "conversation_closed" or (type == "message" and sender == "customer"):
            latest = self._latest(key)
            if latest is not None and stamp < latest:
                return "earlier"  # stamped before the idle period now running began: it ends nothing
            self._echo.pop(key, None)
            suggested = self._suggested.pop(key, None)
            if suggested is not None and at_ms <= suggested.fired_ms:  # the panel drops only one stamped after it
                self.tasks.spawn(self._set_state(suggested, "cancelled", LATE_REPLY), name="followups-late-reply")
            self.deliverer.cancel_for(key, CLOSED if type == "conversation_closed" else CUSTOMER_WROTE)
            reason = "closed" if type == "conversation_closed" else "customer_replied"
            cancelled = self.timers.cancel(key, seq=seq, at_ms=at_ms, reason=reason)
            self.timeline.note(key, stamp, now_ms)
            if cancelled is None:
                return "ended"
            self.publish(key, cancelled.agent, {"state": "cancelled", "reason": reason})
            return "cancelled"
        if type == "message" and sender == "agent":
            if followup_id is not None or self.is_echo(key, text):
                suggested = self._suggested.pop(key, None) if followup_id is None else None
                if suggested is not None:  # the agent sent the suggested text: the prompt is done
                    self.tasks.spawn(self._set_state(suggested, "cancelled", AGENT_SENT), name="followups-agent-sent")
                return None  # our own follow-up coming back from the platform
            latest = self._latest(key)
            if latest is not None and stamp < latest:
                return "superseded"  # a later-stamped agent or customer message is already known
            made = self.timeline.followup_at(key)
            if made is not None and at_ms < made:
                # Written before our follow-up went out (a late delivery, a copy under a new id): the idle period
                # it belongs to is the one that follow-up ended; a new one would send a second goodbye at once.
                log.info("agent message of %s/%s stamped before the follow-up sent: no new idle period", *key)
                return "superseded"
            if is_stale(at_ms, now_ms, self.policy):
                return "stale"
            self._echo.pop(key, None)
            self._suggested.pop(key, None)
            # The previous period's follow-up still waiting for a retry would now land after the agent's new
            # message, as a closing to a conversation that went on (and a second one when this period ends).
            self.deliverer.cancel_for(key, AGENT_WROTE)
            due_ms = at_ms + self.policy.idle_ms
            # Already due (a late message): wait a moment for the rest of a backlog, e.g. the buyer's answer.
            hold = now_ms + self.policy.settle_ms if due_ms <= now_ms and self.policy.settle_ms else 0
            timer = self.timers.arm(key, due_ms=due_ms, armed_seq=seq, armed_ms=at_ms, agent=agent, not_before=hold)
            self.timeline.forget(key)
            self.publish(key, agent, {"state": "armed", "due_ms": timer.due_ms, "armed_ms": at_ms})
            return "armed"
        return None

    def _latest(self, key: Key) -> Stamp | None:
        """The stamp of the latest event known to have opened or ended an idle period of `key`."""
        timer = self.timers.queue.get(key)
        noted = self.timeline.get(key)
        if timer is None:
            return noted
        return timer.stamp if noted is None or timer.stamp > noted else noted

    def is_echo(self, key: Key, text: str | None) -> bool:
        """Whether an agent message is our own last follow-up coming back from the platform."""
        sent = self._echo.get(key)
        return sent is not None and text is not None and text.strip() == sent.strip()

    def _warn_future(self, event: Event, now: int) -> None:
        self._future_warning.warn(now, event.id, event.shop, event.conversation, (event.ts_ms - now) / 1000)

    async def _cancel_if_paid(self, key: Key, stamp: Stamp | None) -> None:
        """No unpaid order left: drop a reminder being delivered and, paid at `stamp`, the armed timer."""
        unpaid = await self.deliverer.unpaid_left(key, self.clock.now_ms() - self.policy.window_ms)
        if unpaid is None:  # the database stayed locked (logged): the firing reads the log, an attempt asks again
            return
        if not unpaid:  # a reminder being retried would ask a buyer who has paid to pay (a closing goes on)
            self.deliverer.cancel_for(key, ORDER_SETTLED, kind="payment_reminder")
        timer = self.timers.queue.get(key)
        if stamp is not None and not unpaid and timer is not None and not timer.firing and timer.stamp < stamp:
            self.timers.cancel(key, seq=stamp[1], at_ms=stamp[0], reason="paid")
            self.timeline.note(key, timer.stamp, self.clock.now_ms())
            self.publish(key, timer.agent, {"state": "cancelled", "reason": "paid"})

    def _record_stale(self, key: Key, event_id: str, seq: int, at_ms: int, arrived_ms: int) -> None:
        """Record an agent message that came too late to arm, unless the log shows its period ended anyway."""
        now, sources = self.clock.now_ms(), (self.phrases(), self.builtin_phrases)

        def recorded(f: Followup | None) -> None:
            if f is not None:
                late_s = (arrived_ms - f.due_ms) / 1000
                self._stale_warning.warn(now, event_id, f.shop, f.conversation, late_s, self.settings.late_grace_s, f.id)  # fmt: skip
                self.notify(f)

        self.stale.add(
            partial(insert_stale, policy=self.policy, sources=sources, shop_name=self.config.shop_name(key[0]),
                    mode=self.settings.mode_for(key[0]), key=key, seq=seq, at_ms=at_ms, arrived_ms=arrived_ms, now=now),
            recorded,
        )  # fmt: skip

    def _void_stale(self, key: Key, before: Stamp) -> None:
        """Cancel the stale records that the log, with an event that came after them, shows were not owed."""
        job = partial(void_stale, policy=self.policy, key=key, before=before, now=self.clock.now_ms())
        self.stale.add(job, each(self.notify))

    async def _replay(
        self, events: Sequence[ReplayEvent], known: Mapping[Key, TimerRow], now: int, checkpoint: Callable[[], None]
    ) -> tuple[int, int]:
        """Apply events logged after the last persisted timer state (a crash between log and flush) as they
        were applied on arrival; a message already stale then arms nothing now. (applied, stale) counts.

        The event loop is let go every `REPLAY_SLICE` events (the service listens during its start, and
        `/healthz` waited the whole replay: seconds after a crash on a busy day), and the start may end there."""
        applied = stale = 0
        for done, e in enumerate(events, 1):
            if done % REPLAY_SLICE == 0:
                await asyncio.sleep(0)
                checkpoint()  # every event before `e` is applied, `e` is not seen yet
            key = (e.shop, e.conversation)
            row = known.get(key)
            timer = self.timers.queue.get(key)
            newest = max(row.armed_seq if row else 0, timer.armed_seq if timer else 0)
            self.timers.saw(e.seq)
            if e.seq <= newest:
                continue
            at_ms = event_time(e.ts_ms, e.received_ms, self.policy)
            outcome = self._apply(
                key, e.type, e.sender, e.agent, e.text, e.followup_id, e.seq, at_ms, min(e.received_ms, now)
            )
            if outcome == "stale":  # its record, unless the process that took it wrote it before it was killed
                stale += 1
                self._record_stale(key, e.id, e.seq, at_ms, e.received_ms)
            applied += outcome in ("armed", "cancelled")
        return applied, stale

    # ---- firing --------------------------------------------------------------------------------

    async def _fire(self, batch: list[Due]) -> None:
        """Decide, render and record a batch of due timers in one transaction, then act on it."""
        now = self.clock.now_ms()

        def job(conn: sqlite3.Connection) -> list[Outcome]:
            return firing.fire(self, conn, batch, now)

        for due, decision, f, new in await self.writer.submit(job):
            timer = due.timer
            if decision is ELSEWHERE:  # another instance fired, cancelled or replaced it: it told its panels
                self.timers.settle(due.key, timer, next_due=None)
                continue
            if decision is None:
                if not self.timers.retry_later(due.key, timer):
                    await self._give_up(due)
            elif isinstance(decision, Cancel):
                if self.timers.settle(due.key, timer, next_due=None):
                    self.timeline.note(due.key, timer.stamp, now)
                    self.publish(due.key, due.agent, {"state": "cancelled", "reason": decision.reason})
            elif isinstance(decision, Defer):
                if self.timers.settle(due.key, timer, next_due=decision.due_ms):
                    # When the idle period began, as a countdown says it: a panel drops the line once the buyer
                    # writes after it, also through another instance, which holds no such timer and tells no panel.
                    deferred = {"state": "deferred", "due_ms": decision.due_ms, "armed_ms": timer.armed_ms}
                    self.publish(due.key, due.agent, deferred)
            else:
                assert f is not None
                current = self.timers.settle(due.key, timer, next_due=decision.next_due, fired=due.fired + 1)
                if current and decision.next_due is None:
                    self.timeline.note(due.key, timer.stamp, now)
                made = f.state in ("pending", "sent", "suggested") and (current or not new)
                if made:  # an agent message stamped before it opens no idle period
                    self.timeline.followup_made(due.key, f.fired_ms, now)
                if not new:
                    if f.state == "pending":
                        self.deliverer.submit(f)  # fired before a crash, not delivered yet
                    if current:  # panels showing the countdown since the restart see the outcome again
                        self.publish(due.key, f.agent, followup_payload(f))
                    continue
                if not current and f.state in ("pending", "suggested"):
                    await self._set_state(f, "cancelled", MOVED_ON)
                    continue
                self._after_create(f)

    async def _give_up(self, due: Due) -> None:
        """A timer that failed to fire again and again: record it missed, never retry it."""
        now = self.clock.now_ms()
        row = TimerRow(*due.key, due.armed_seq, due.armed_ms, due.due_ms, due.fired, due.agent, "missed", "error")
        await self.writer.submit(lambda conn: followup_store.save_timers(conn, [row], now))
        if self.timers.settle(due.key, due.timer, next_due=None):
            self.timeline.note(due.key, due.timer.stamp, now)
            self.publish(due.key, due.agent, {"state": "missed", "reason": "error"})

    def _after_create(self, f: Followup) -> None:
        key = (f.shop, f.conversation)
        if f.state == "missed":
            log.warning(
                "follow-up %s for %s/%s missed: due %d ms ago", f.id, f.shop, f.conversation, f.fired_ms - f.due_ms
            )
        if f.state in ("pending", "suggested"):
            self._echo.put(key, f.text)
        if f.state == "suggested":
            self._suggested.put(key, f)
        self.notify(f)
        if f.state == "pending":
            self.deliverer.submit(f)

    async def _set_state(self, f: Followup, state: str, error: str | None) -> None:
        now, states = self.clock.now_ms(), ("pending", "suggested")
        job = partial(followup_store.update_followup, followup_id=f.id, state=state, now_ms=now, from_states=states)
        updated = await self.writer.submit(partial(job, last_error=error))
        if updated is not None:
            self.notify(updated)

    # ---- telling others ------------------------------------------------------------------------

    def notify(self, f: Followup) -> None:
        """Tell the plugins (the agent panel among them) about a created or changed follow-up."""
        self.plugins.on_followup(f)

    def publish(self, key: Key, agent: str | None, payload: dict[str, Any]) -> None:
        update = Update(kind="followup", shop=key[0], conversation=key[1], agent=agent, payload=payload)
        if not self.keep(update):
            self.bus.publish(update)

    def panel_states(self, keys: Sequence[Key]) -> dict[Key, dict[str, Any]]:
        """The follow-up line of each conversation, as the last live update for it said (see panelstate)."""
        return panel_states(self.writer.path, self.timers.queue, keys)


class BuiltinHooks:
    """The service's own hook implementation: the agent panel sees follow-ups (timers follow events through
    `Plugins.event_listeners`)."""

    def __init__(self, service: FollowupService) -> None:
        self.service = service

    @hookimpl(tryfirst=True)
    def on_followup(self, followup: Followup) -> None:
        key, service = (followup.shop, followup.conversation), self.service
        if followup.state == "stale" or followup.last_error == WENT_ON:
            return  # never prompted: it changes nothing the panel shows
        if is_latest(followup, service.timers.queue.get(key), service.timeline.followup_at(key)):
            service.publish(key, followup.agent, followup_payload(followup))
