"""Idle follow-ups: arm on the agent's message, cancel on the customer's, and when the customer has been
quiet for `idle_seconds`, choose, render and send (or suggest) a closing message or payment reminder.

Timers run on the server's receive time, not the event's `ts`: a platform's clock may be skewed and
its deliveries late or retried, and an idle period measured from a stale `ts` would fire at once
(or never). What matters is how long the customer has been quiet as far as we know.
"""

from __future__ import annotations

import logging
import random
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from assistant import store
from assistant.bus import Bus, Update
from assistant.clock import Clock, SystemClock
from assistant.config import Config
from assistant.events import Event
from assistant.followups import store as followup_store
from assistant.followups.delivery import Deliverer
from assistant.followups.policy import (
    Cancel,
    Decision,
    Defer,
    PhraseSource,
    Policy,
    builtin_phrases,
    compose,
    decide,
    followup_id,
)
from assistant.followups.store import Key, ReplayEvent, TimerRow
from assistant.followups.timers import Due, Timers
from assistant.hookspecs import Followup, hookimpl
from assistant.ingest import Ingestor
from assistant.plugins import Plugins
from assistant.tasks import TaskSet
from assistant.writer import Writer

log = logging.getLogger(__name__)


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
        self.deliverer = Deliverer(config, plugins, writer, ingestor, self.clock, self.notify, rng=rng)
        self.tasks = TaskSet("followups")
        self._echo: dict[Key, str] = {}  # last text we sent or suggested, per conversation
        plugins.pm.register(BuiltinHooks(self), name="assistant.followups")

    # ---- life cycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Reload timers and pending deliveries, rebuild what a crash lost, start sweeping."""
        if self._sends() and not self.plugins.implementers("deliver_message"):
            log.warning("[followups] mode is 'send' but no enabled hook implements deliver_message")
        if not self.settings.enabled:
            return
        now = self.clock.now_ms()
        span = self.policy.idle_ms * max(1, self.policy.max_per_idle) + self.policy.grace_ms

        def load(conn: sqlite3.Connection) -> tuple[Any, ...]:
            watermark = followup_store.watermark(conn)
            events = followup_store.events_to_replay(conn, watermark, now - span)
            keys = sorted({(e.shop, e.conversation) for e in events})
            return (
                watermark,
                followup_store.pending_followups(conn),
                followup_store.recent_texts(conn, now - span),
                events,
                followup_store.timers_for(conn, keys),
            )

        loaded = await self._load_timers()
        watermark, pending, texts, events, known = await self.writer.submit(load)
        self.timers.resume_from(watermark)
        self._echo.update(texts)
        replayed = self._replay(events, known)
        self.timers.start(self._fire)
        resumed = 0
        for f in pending:
            if now - f.updated_ms <= self.policy.grace_ms:
                self.deliverer.submit(f)
                resumed += 1
            else:
                await self._set_state(f, "missed", "the service was down when it was due")
        log.info(
            "follow-ups: %d timers reloaded, %d rebuilt from the log, %d deliveries resumed, %d missed",
            loaded, replayed, resumed, len(pending) - resumed,
        )  # fmt: skip

    async def _load_timers(self, page: int = 10_000) -> int:
        """Put the armed timers back in the queue, a page at a time (little memory held at once)."""
        loaded = 0
        after: Key = ("", "")
        while True:
            rows = await self.writer.submit(partial(followup_store.armed_timers, after=after, limit=page))
            loaded += self.timers.load(rows)
            if len(rows) < page:
                return loaded
            after = (rows[-1].shop, rows[-1].conversation)

    async def stop(self) -> None:
        """Stop firing and delivering; persist the timers."""
        await self.timers.stop()
        await self.deliverer.close()
        await self.tasks.close()

    @property
    def settled(self) -> bool:
        """Nothing runnable left: due timers fired, changes written, deliveries done or waiting to retry."""
        return self.timers.settled and self.deliverer.settled and len(self.tasks) == 0

    def _sends(self) -> bool:
        return self.settings.mode == "send" or "send" in self.settings.shop_modes.values()

    # ---- events --------------------------------------------------------------------------------

    def handle(self, event: Event, seq: int) -> None:
        """Arm, re-arm or cancel the conversation's timer for a newly logged event."""
        key = (event.shop, event.conversation)
        self.timers.saw(seq)
        self._apply(key, event.type, event.sender, event.agent, event.text, event.followup_id, seq, self.clock.now_ms())
        if event.type == "order_paid":
            timer = self.timers.queue.get(key)
            if timer is not None and not timer.firing:
                self.tasks.spawn(self._cancel_if_paid(key, seq), name="followups-paid-check")

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
    ) -> None:
        if not self.settings.enabled or self.policy.max_per_idle < 1:
            return
        if type == "conversation_closed" or (type == "message" and sender == "customer"):
            self._echo.pop(key, None)
            self.deliverer.cancel_for(key)
            reason = "closed" if type == "conversation_closed" else "customer_replied"
            cancelled = self.timers.cancel(key, seq=seq, reason=reason)
            if cancelled is not None:
                self.publish(key, cancelled.agent, {"state": "cancelled", "reason": reason})
        elif type == "message" and sender == "agent":
            if followup_id is not None or self._is_echo(key, text):
                return  # our own follow-up coming back from the platform
            self._echo.pop(key, None)
            timer = self.timers.arm(key, due_ms=at_ms + self.policy.idle_ms, armed_seq=seq, armed_ms=at_ms, agent=agent)
            self.publish(key, agent, {"state": "armed", "due_ms": timer.due_ms, "armed_ms": at_ms})

    def _is_echo(self, key: Key, text: str | None) -> bool:
        sent = self._echo.get(key)
        return sent is not None and text is not None and text.strip() == sent.strip()

    async def _cancel_if_paid(self, key: Key, seq: int) -> None:
        since = self.clock.now_ms() - self.policy.window_ms
        unpaid = await self.writer.submit(lambda conn: store.unpaid_orders(conn, key[0], key[1], since))
        timer = self.timers.queue.get(key)
        if not unpaid and timer is not None and not timer.firing and timer.armed_seq < seq:
            self.timers.cancel(key, seq=seq, reason="paid")
            self.publish(key, timer.agent, {"state": "cancelled", "reason": "paid"})

    def _replay(self, events: Sequence[ReplayEvent], known: Mapping[Key, TimerRow]) -> int:
        """Apply events logged after the last persisted timer state (a crash between log and flush)."""
        applied = 0
        for e in events:
            key = (e.shop, e.conversation)
            row = known.get(key)
            timer = self.timers.queue.get(key)
            newest = max(row.armed_seq if row else 0, timer.armed_seq if timer else 0)
            self.timers.saw(e.seq)
            if e.seq <= newest:
                continue
            self._apply(key, e.type, e.sender, e.agent, e.text, e.followup_id, e.seq, e.received_ms)
            applied += 1
        return applied

    # ---- firing --------------------------------------------------------------------------------

    async def _fire(self, batch: list[Due]) -> None:
        """Decide, render and record a batch of due timers in one transaction, then act on it."""
        now = self.clock.now_ms()

        def job(conn: sqlite3.Connection) -> list[tuple[Due, Decision | None, Followup | None, bool]]:
            return [self._fire_isolated(conn, due, now) for due in batch]

        for due, decision, f, new in await self.writer.submit(job):
            timer = due.timer
            if decision is None:
                if not self.timers.retry_later(due.key, timer):
                    await self._give_up(due)
            elif isinstance(decision, Cancel):
                if self.timers.settle(due.key, timer, next_due=None):
                    self.publish(due.key, due.agent, {"state": "cancelled", "reason": decision.reason})
            elif isinstance(decision, Defer):
                if self.timers.settle(due.key, timer, next_due=decision.due_ms):
                    self.publish(due.key, due.agent, {"state": "deferred", "due_ms": decision.due_ms})
            else:
                assert f is not None
                current = self.timers.settle(due.key, timer, next_due=decision.next_due, fired=due.fired + 1)
                if not new:
                    if f.state == "pending":
                        self.deliverer.submit(f)  # fired before a crash, not delivered yet
                    continue
                if not current and f.state in ("pending", "suggested"):
                    await self._set_state(f, "cancelled", "the conversation moved on while it was being chosen")
                    continue
                self._after_create(f)

    def _fire_isolated(
        self, conn: sqlite3.Connection, due: Due, now: int
    ) -> tuple[Due, Decision | None, Followup | None, bool]:
        """`_fire_one` in its own savepoint: a timer that fails is retried later, alone."""
        conn.execute("SAVEPOINT fire_one")
        try:
            outcome = self._fire_one(conn, due, now)
        except Exception:
            conn.execute("ROLLBACK TO fire_one")
            conn.execute("RELEASE fire_one")
            log.exception("firing the timer of %s/%s failed", *due.key)
            return due, None, None, False
        conn.execute("RELEASE fire_one")
        return outcome

    def _fire_one(self, conn: sqlite3.Connection, due: Due, now: int) -> tuple[Due, Decision, Followup | None, bool]:
        shop, conversation = due.key
        ctx = followup_store.fire_context(conn, shop, conversation, due.armed_seq, now - self.policy.window_ms)
        decision = decide(ctx, due, now, self.policy, self.settings.mode_for(shop))
        timer = TimerRow(shop, conversation, due.armed_seq, due.armed_ms, due.due_ms, due.fired, due.agent)
        if isinstance(decision, Cancel):
            followup_store.save_timers(conn, [_with(timer, state="cancelled", reason=decision.reason)], now)
            return due, decision, None, False
        if isinstance(decision, Defer):
            followup_store.save_timers(conn, [_with(timer, due_ms=decision.due_ms, reason="quiet_hours")], now)
            return due, decision, None, False
        n = due.fired + 1
        fid = followup_id(shop, conversation, ctx.armed_event_id or f"#{due.armed_seq}", n)
        sources = (self.phrases(), self.builtin_phrases)
        phrase_id, text = compose(decision.kind, ctx, fid, sources, self.config.shop.name)
        draft = Followup(
            id=fid, shop=shop, conversation=conversation, customer=ctx.customer or "", agent=ctx.agent or due.agent,
            kind=decision.kind, phrase_id=phrase_id, text=text, mode=self.settings.mode_for(shop),
            state=decision.state, attempts=0, last_error=None, armed_seq=due.armed_seq, due_ms=due.due_ms,
            fired_ms=now, updated_ms=now,
        )  # fmt: skip
        stored, new = followup_store.insert_followup(conn, draft)
        if decision.next_due is not None:
            row = _with(timer, due_ms=decision.next_due, fired=n)
        else:
            row = _with(timer, fired=n, state="missed" if decision.state == "missed" else "done")
        followup_store.save_timers(conn, [row], now)
        return due, decision, stored, new

    async def _give_up(self, due: Due) -> None:
        """A timer that failed to fire again and again: record it missed, never retry it."""
        now = self.clock.now_ms()
        row = TimerRow(*due.key, due.armed_seq, due.armed_ms, due.due_ms, due.fired, due.agent, "missed", "error")
        await self.writer.submit(lambda conn: followup_store.save_timers(conn, [row], now))
        if self.timers.settle(due.key, due.timer, next_due=None):
            self.publish(due.key, due.agent, {"state": "missed", "reason": "error"})

    def _after_create(self, f: Followup) -> None:
        key = (f.shop, f.conversation)
        if f.state == "missed":
            log.warning(
                "follow-up %s for %s/%s missed: due %d ms ago", f.id, f.shop, f.conversation, f.fired_ms - f.due_ms
            )
        if f.state in ("pending", "suggested"):
            self._echo[key] = f.text
        self.notify(f)
        if f.state == "pending":
            self.deliverer.submit(f)

    async def _set_state(self, f: Followup, state: str, error: str | None) -> None:
        now = self.clock.now_ms()
        updated = await self.writer.submit(
            lambda conn: followup_store.update_followup(
                conn, f.id, state=state, now_ms=now, last_error=error, from_states=("pending", "suggested")
            )
        )
        if updated is not None:
            self.notify(updated)

    # ---- telling others ------------------------------------------------------------------------

    def notify(self, f: Followup) -> None:
        """Tell the plugins (the agent panel among them) about a created or changed follow-up."""
        self.plugins.on_followup(f)

    def publish(self, key: Key, agent: str | None, payload: dict[str, Any]) -> None:
        self.bus.publish(Update(kind="followup", shop=key[0], conversation=key[1], agent=agent, payload=payload))


def _with(row: TimerRow, **changes: Any) -> TimerRow:
    return replace(row, **changes)


class BuiltinHooks:
    """The service's own hook implementations: timers follow events; the agent panel sees follow-ups."""

    def __init__(self, service: FollowupService) -> None:
        self.service = service

    @hookimpl(tryfirst=True)
    def on_event(self, event: Event, seq: int) -> None:
        self.service.handle(event, seq)

    @hookimpl(tryfirst=True)
    def on_followup(self, followup: Followup) -> None:
        payload = followup.to_json()
        payload["followup_id"] = payload.pop("id")
        self.service.publish((followup.shop, followup.conversation), followup.agent, payload)
