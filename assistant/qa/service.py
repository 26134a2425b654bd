"""Quality inspection at work: flags on every message, alerts written with the message that raises them,
their delivery through `on_alert`, escalation of unanswered ones, and the supervisors' live updates.

Ingest calls `annotate` (flags → the message's annotation and the response), `record` inside the logging
transaction (an alert is durable with its message), and `on_written` after the commit (deliveries start,
the supervisors' pages hear of it). Escalation deadlines run on the injectable clock from the server's
receive time and are kept in `qa_alerts`, so they survive a restart.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import random
import sqlite3
from typing import Any

from assistant import pg
from assistant.bus import Bus, Subscription, Update
from assistant.clock import Clock, SystemClock
from assistant.config import Config, ConfigError
from assistant.events import Event
from assistant.ground.bounded import Bounded
from assistant.ingest import Enrichment
from assistant.plugins import FRESH_MS, Plugins
from assistant.privacy import mask
from assistant.qa import store as qa_store
from assistant.qa.alerts import AlertDeliverer, as_alert
from assistant.qa.inspector import SHORT, Inspector, load_inspector
from assistant.qa.rules import RulesError
from assistant.qa.store import AlertRow, Delivery
from assistant.store import Annotation, Written
from assistant.tasks import FaultLog, TaskSet
from assistant.writer import Writer

log = logging.getLogger(__name__)

FEED_KINDS = frozenset({"qa", "alert", "alert_delivery", "close"})  # what a supervisor page hears
_STASH = 10_000  # alerts written but not yet seen committed (a rolled-back batch leaves its entries)


class QaService:
    """Owns the inspector, the alert deliveries and the escalation schedule."""

    def __init__(
        self,
        config: Config,
        inspector: Inspector,
        writer: Writer,
        bus: Bus,
        plugins: Plugins,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.settings = config.qa
        self.inspector = inspector
        self.writer = writer
        self.bus = bus
        self.plugins = plugins
        self.clock: Clock = clock or SystemClock()
        self.deliverer = AlertDeliverer(config, plugins, writer, self.clock, self._delivered, rng=rng)
        self.alert_categories = frozenset(config.qa.alert_categories)
        self.alert_plugins: list[str] = []
        self.tasks = TaskSet("qa")
        self._stash: Bounded[str, AlertRow] = Bounded(_STASH)  # by event id, in the order written
        self._armed: dict[str, AlertRow] = {}  # alert id → alert whose escalation is armed
        self._by_conversation: dict[tuple[str, str], set[str]] = {}  # (shop, conversation) → armed alert ids
        self._heap: list[tuple[int, str]] = []
        self._wake = asyncio.Event()
        self._busy = 0
        self._feeds: set[Subscription] = set()
        self._faults = FaultLog(log)

    # ---- life cycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Resume pending deliveries and armed escalations; start the escalation sweeper."""
        self.alert_plugins = sorted(set(self.plugins.implementers("on_alert")))
        if self.alert_categories and not self.alert_plugins:
            log.info("[qa] no enabled hook implements on_alert: alerts show on the supervisor page only")

        shared = isinstance(self.writer.path, pg.Location)
        now = self.clock.now_ms()
        lease_ms = int(self.config.followups.lease_s * 1000)

        def load(conn: sqlite3.Connection) -> tuple[list[Delivery], list[AlertRow]]:
            late = qa_store.disarm_late(conn, FRESH_MS)  # paged the supervisors about yesterday's back-fill
            if late:
                log.info("quality inspection: %d escalations of messages logged late not armed", late)
            # On a shared database a delivery another live instance is sending is its own: only those untouched
            # for a lease are claimed (a rolling restart sent every alert in flight to the group twice).
            if shared:
                pending = qa_store.claim_stalled_deliveries(conn, now - lease_ms, now)
            else:
                pending = qa_store.pending_deliveries(conn)
            return pending, qa_store.armed_escalations(conn)

        pending, armed = await self.writer.submit(load)
        for delivery in pending:
            self.deliverer.submit(delivery)
        for alert in armed:
            self._arm(alert)
        self.tasks.spawn(self._sweep(), name="qa-escalations")
        if shared:
            self.tasks.spawn(self._take_over(), name="qa-take-over")
        log.info("quality inspection: %d rule words, %d deliveries resumed, %d escalations armed",
                 self.inspector.word_count, len(pending), len(armed))  # fmt: skip

    async def stop(self) -> None:
        self.close_feeds()
        await self.tasks.close()
        await self.deliverer.close()

    def prepare(self) -> tuple[Inspector | None, list[str]]:
        """Freshly loaded rules to `install`, or None and what is wrong with them (the old ones keep inspecting)."""
        try:
            return load_inspector(self.config), []
        except (RulesError, ConfigError) as exc:
            problems = exc.problems if isinstance(exc, RulesError) else [str(exc)]
            log.error("quality rules not reloaded; the previous ones keep inspecting:\n%s", "\n".join(problems))
            return None, problems

    def install(self, inspector: Inspector) -> Inspector:
        """Inspect with `inspector` from now on; the replaced one, for the caller to `release`."""
        replaced, self.inspector = self.inspector, inspector
        files = ", ".join(self.config.qa.rules)
        log.info("quality rules reloaded: %d words from %s ([qa] rules as at start)", inspector.word_count, files)
        return replaced

    @property
    def settled(self) -> bool:
        """Nothing runnable: deliveries done or waiting to retry, no escalation due, no sweep running."""
        due = bool(self._heap) and self._heap[0][0] <= self.clock.now_ms()
        return self.deliverer.settled and not due and self._busy == 0

    # ---- ingest ------------------------------------------------------------------------------

    def inspect(self, text: str, side: str) -> list[dict[str, Any]]:
        """Flags of a text as the API answers them."""
        inspector = self.inspector
        return [inspector.flag_json(f) for f in inspector.inspect(text, side)]

    def annotate(self, event: Event) -> Enrichment | None:
        """Annotator: the flags of an agent's or a customer's message, logged with it and answered (masked as
        configured)."""
        if event.type != "message" or event.sender not in ("agent", "customer"):
            return None
        flags = self.inspect(event.text or "", event.sender)
        # Logged whole (the log masks what it shows); answered masked like every other flag shown.
        answered = qa_store.masked_flags(flags, event.text or "") if flags and self.config.privacy.mask else flags
        return Enrichment(Annotation(qa=tuple(flags)) if flags else None, {"qa": answered})

    def record(self, conn: sqlite3.Connection, written: Written) -> None:
        """Recorder (in the logging transaction): a message flagged in an alert category writes its alert."""
        event = written.event
        flags = qa_store.written_flags(written)
        if not flags or written.seq is None or not any(f["category"] in self.alert_categories for f in flags):
            return
        now = self.clock.now_ms()
        if now - event.ts_ms > FRESH_MS:
            return  # history (a replay, a back-fill): flagged on the message, no one to call about it now
        if event.sender == "customer" and qa_store.awaiting_answer(conn, event.shop, event.conversation):
            return  # the buyer's earlier alert is still waiting for an agent: one alert (and escalation) is enough
        escalates = event.sender == "customer" and self.settings.escalate_after_s > 0
        # A buyer's message rarely names the agent: the alert names who has the conversation (the report counts
        # it for whoever answers), where it named nobody.
        agent = event.agent
        if agent is None and event.sender == "customer":
            agent = qa_store.current_agent(conn, event.shop, event.conversation, written.seq)
        alert = AlertRow(
            id=qa_store.alert_id(event.id, 1), level=1, shop=event.shop, conversation=event.conversation,
            customer=event.customer, agent=agent, sender=event.sender or "", event_id=event.id,
            seq=written.seq, ts_ms=event.ts_ms, text=event.text or "", flags=tuple(flags), created_ms=now,
            escalate_ms=now + self.settings.escalate_after_s * 1000 if escalates else None,
            escalation="armed" if escalates else None,
        )  # fmt: skip
        if qa_store.insert_alert(conn, alert, self.alert_plugins, now):
            self._stash.put(event.id, alert)

    def on_written(self, written: Written) -> None:
        """Listener (after the commit): supervisors hear of the flags; a new alert goes out."""
        event = written.event
        if event.type != "message":
            return
        if event.sender == "agent":
            self._answered(event.shop, event.conversation)
        written_flags = qa_store.written_flags(written)
        flags = [f for f in written_flags if f["category"] != SHORT.name] if written_flags else None
        if flags:
            shown = qa_store.masked_flags(flags, event.text or "") if self.config.privacy.mask else flags
            item = qa_store.flag_item(
                event.id, written.seq, event.shop, event.conversation, event.customer, event.sender, event.agent,
                self._shown(event.text or ""), event.ts_ms, shown,
            )  # fmt: skip
            self.bus.publish(Update("qa", event.shop, event.conversation, event.agent, item))
        alert = self._stash.pop(event.id, None)
        if alert is not None:
            self._raise(alert)

    # ---- alerts ------------------------------------------------------------------------------

    def _raise(self, alert: AlertRow) -> None:
        self.publish_alert(alert, [{"plugin": p, "state": "pending"} for p in self.alert_plugins])
        for plugin in self.alert_plugins:
            self.deliverer.submit(Delivery(alert, plugin, "pending", 0, None))
        if alert.escalation == "armed":
            self._arm(alert)

    def alert_json(self, alert: AlertRow, deliveries: list[dict[str, Any]]) -> dict[str, Any]:
        """An alert as the supervisor page shows it (text masked as configured)."""
        body = as_alert(self.config, alert).to_json()
        body["escalation"] = alert.escalation
        body["deliveries"] = deliveries
        return body

    def publish_alert(self, alert: AlertRow, deliveries: list[dict[str, Any]]) -> None:
        payload = self.alert_json(alert, deliveries)
        self.bus.publish(Update("alert", alert.shop, alert.conversation, alert.agent, payload))

    def _delivered(self, alert: AlertRow, plugin: str, state: str) -> None:
        payload = {"id": alert.id, "plugin": plugin, "state": state}
        self.bus.publish(Update("alert_delivery", alert.shop, alert.conversation, alert.agent, payload))

    def _shown(self, text: str) -> str:
        return mask(text) if self.config.privacy.mask else text

    # ---- several instances on one database ----------------------------------------------------

    async def _take_over(self) -> None:
        """Every quarter lease (`[followups] lease_s`), take over what a dead instance left: escalations
        a lease past due, deliveries a lease untouched. Deciding an escalation is conditional, so one
        instance escalates it however many have it armed."""
        lease_ms = int(self.config.followups.lease_s * 1000)
        while True:
            await asyncio.sleep(lease_ms / 4000)  # real time: the lease is counted on the shared clock
            try:
                await self.take_over(lease_ms)
                self._faults.cleared("take-over", "taking over alerts left by other instances works again")
            except Exception as exc:
                self._faults.failed("take-over", exc, "taking over alerts left by other instances failed; trying again")

    async def take_over(self, lease_ms: int) -> int:
        now = self.clock.now_ms()

        def load(conn: sqlite3.Connection) -> tuple[list[AlertRow], list[Delivery]]:
            before = now - lease_ms
            return qa_store.overdue_escalations(conn, before), qa_store.claim_stalled_deliveries(conn, before, now)

        overdue, stalled = await self.writer.submit(load)
        fresh = [alert for alert in overdue if alert.id not in self._armed]
        for alert in fresh:
            self._arm(alert)
        for delivery in stalled:
            self.deliverer.submit(delivery)  # one already running here is not started twice
        if fresh or stalled:
            log.info("took over %d escalations and %d alert deliveries from other instances", len(fresh), len(stalled))
        return len(fresh) + len(stalled)

    # ---- escalation ----------------------------------------------------------------------------

    def _arm(self, alert: AlertRow) -> None:
        if alert.escalate_ms is None:
            return
        self._armed[alert.id] = alert
        self._by_conversation.setdefault((alert.shop, alert.conversation), set()).add(alert.id)
        heapq.heappush(self._heap, (alert.escalate_ms, alert.id))
        self._wake.set()

    def _answered(self, shop: str, conversation: str) -> None:
        """An agent wrote: the conversation's armed escalations are over."""
        ids = self._by_conversation.pop((shop, conversation), None)
        if ids is None:  # nothing armed in it (nearly every reply): no list built
            return
        done = [alert for alert in (self._armed.pop(i, None) for i in ids) if alert is not None]
        if not done:
            return
        self._busy += 1
        self.tasks.spawn(self._settle_answered(done), name="qa-answered")

    def _disarm(self, alert: AlertRow) -> None:
        key = (alert.shop, alert.conversation)
        ids = self._by_conversation.get(key)
        if ids is not None:
            ids.discard(alert.id)
            if not ids:
                del self._by_conversation[key]

    async def _settle_answered(self, alerts: list[AlertRow]) -> None:
        try:
            changed = await self.writer.submit(
                lambda conn: [a for a in alerts if qa_store.set_escalation(conn, a.id, "answered")]
            )
            for alert in changed:
                self._publish_escalation(alert, "answered")
        finally:
            self._busy -= 1

    def _publish_escalation(self, alert: AlertRow, state: str) -> None:
        payload = {"id": alert.id, "escalation": state}
        self.bus.publish(Update("alert_delivery", alert.shop, alert.conversation, alert.agent, payload))

    async def _sweep(self) -> None:
        while True:
            self._wake.clear()
            now = self.clock.now_ms()
            while self._heap and (self._heap[0][1] not in self._armed):
                heapq.heappop(self._heap)  # answered meanwhile
            if self._heap and self._heap[0][0] <= now:
                _, alert_id = heapq.heappop(self._heap)
                alert = self._armed.pop(alert_id, None)
                if alert is not None:
                    self._disarm(alert)
                    self._busy += 1
                    try:
                        await self._escalate(alert)
                    except Exception:
                        log.exception("escalating alert %s failed", alert_id)
                    finally:
                        self._busy -= 1
                continue
            sleeper = asyncio.ensure_future(self.clock.sleep_until(self._heap[0][0])) if self._heap else None
            waker = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait([f for f in (sleeper, waker) if f is not None], return_when=asyncio.FIRST_COMPLETED)
            finally:
                for f in (sleeper, waker):
                    if f is not None:
                        f.cancel()

    async def _escalate(self, alert: AlertRow) -> None:
        """Due: no agent reply since the alert's message → a level-2 alert; else the escalation is over."""
        now = self.clock.now_ms()
        plugins = self.alert_plugins

        def job(conn: sqlite3.Connection) -> AlertRow | str | None:
            if qa_store.answered(conn, alert):
                return "answered" if qa_store.set_escalation(conn, alert.id, "answered") else None
            if not qa_store.set_escalation(conn, alert.id, "escalated"):
                return None
            # What the buyer said since, flagged too (我要打12315 after 再不处理我就给差评): the group saw the first only.
            said = [alert.text, *qa_store.flagged_since(conn, alert.shop, alert.conversation, alert.seq)]
            again = AlertRow(
                id=qa_store.alert_id(alert.event_id, 2), level=2, shop=alert.shop, conversation=alert.conversation,
                customer=alert.customer, agent=alert.agent, sender=alert.sender, event_id=alert.event_id,
                seq=alert.seq, ts_ms=alert.ts_ms, text="\n".join(said), flags=alert.flags, created_ms=now,
            )  # fmt: skip
            return again if qa_store.insert_alert(conn, again, plugins, now) else None

        outcome = await self.writer.submit(job)
        if outcome == "answered":
            self._publish_escalation(alert, "answered")
        elif isinstance(outcome, AlertRow):
            log.warning("alert %s: no agent reply within %d s, escalated", alert.id, self.settings.escalate_after_s)
            self._publish_escalation(alert, "escalated")
            self._raise(outcome)

    # ---- the supervisors' live pages -----------------------------------------------------------

    def open_feed(self) -> Subscription:
        sub = self.bus.subscribe(lambda u: u.kind in FEED_KINDS, maxsize=2000)
        self._feeds.add(sub)
        return sub

    def close_feed(self, sub: Subscription) -> None:
        self._feeds.discard(sub)
        sub.close()

    def close_feeds(self) -> None:
        """On shutdown: end every supervisor stream promptly."""
        for sub in tuple(self._feeds):
            sub.offer(Update("close", "", "", None))
