"""Alerts on their way to the `on_alert` plugins: one delivery per (alert, plugin), retried with backoff.

Each delivery is recorded before each attempt and marked sent right after the plugin's answer, so a
restart resumes what was pending and never repeats what was sent. A crash in the instant between a
robot's answer and that mark would repeat that one message: group robots take no idempotency key.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

from assistant.clock import Clock, local_day
from assistant.config import Config
from assistant.followups.delivery import backoff_ms
from assistant.hookspecs import Alert, DeliveryResult
from assistant.kpi.report import log_link
from assistant.plugins import Plugins, call_impl
from assistant.privacy import mask
from assistant.qa import store as qa_store
from assistant.qa.store import AlertRow, Delivery
from assistant.tasks import TaskSet
from assistant.writer import Writer

log = logging.getLogger(__name__)


def as_alert(config: Config, row: AlertRow) -> Alert:
    """The hook's view of a stored alert: text masked as configured, a link to the conversation."""
    link = log_link(row.shop, local_day(row.ts_ms, config.tz).isoformat(), row.conversation)
    if config.qa.public_url:
        link = config.qa.public_url.rstrip("/") + link
    return Alert(
        id=row.id,
        level=row.level,
        shop=row.shop,
        conversation=row.conversation,
        customer=row.customer,
        agent=row.agent,
        sender=row.sender,
        event_id=row.event_id,
        ts_ms=row.ts_ms,
        text=mask(row.text) if config.privacy.mask else row.text,
        flags=tuple(qa_store.masked_flags(row.flags, row.text)) if config.privacy.mask else row.flags,
        created_ms=row.created_ms,
        link=link,
    )


@dataclass
class _Job:
    delivery: Delivery
    retry_at: int | None = None


class AlertDeliverer:
    """One background task per delivery being made; `notify` hears every change of state."""

    def __init__(
        self,
        config: Config,
        plugins: Plugins,
        writer: Writer,
        clock: Clock,
        notify: Callable[[AlertRow, str, str], None],
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.settings = config.qa
        self.plugins = plugins
        self.writer = writer
        self.clock = clock
        self.notify = notify  # (alert, plugin, state)
        self.rng = rng or random.Random()
        self.tasks = TaskSet("qa-alerts")
        self._jobs: dict[tuple[str, str], _Job] = {}
        self.active = 0

    def submit(self, delivery: Delivery) -> None:
        key = (delivery.alert.id, delivery.plugin)
        if key in self._jobs:
            return
        job = self._jobs[key] = _Job(delivery)
        self.active += 1
        self.tasks.spawn(self._run(job), name=f"alert {delivery.alert.id} → {delivery.plugin}")

    @property
    def settled(self) -> bool:
        """Every delivery done or waiting for a retry time still ahead (for tests with a FakeClock)."""
        now = self.clock.now_ms()
        return self.active == 0 and all(j.retry_at is not None and j.retry_at > now for j in self._jobs.values())

    async def close(self) -> None:
        await self.tasks.close()

    async def _run(self, job: _Job) -> None:
        d = job.delivery
        alert = as_alert(self.config, d.alert)
        attempts = d.attempts
        try:
            while True:
                attempts += 1
                await self._record(d, "pending", attempts, d.last_error)
                result = await self._attempt(d.plugin, alert)
                if result is None:
                    await self._finish(d, "skipped", attempts, None)
                    return
                if result.ok:
                    await self._finish(d, "sent", attempts, None)
                    log.info("alert %s sent through %s, attempt %d", d.alert.id, d.plugin, attempts)
                    return
                error = result.error or "failed"
                final = not result.retryable or attempts >= self.settings.max_attempts
                log.warning(
                    "alert %s through %s: attempt %d/%d failed: %s%s", d.alert.id, d.plugin, attempts,
                    self.settings.max_attempts, error, "" if final else " (will retry)",
                )  # fmt: skip
                if final:
                    await self._finish(d, "failed", attempts, error)
                    return
                d = Delivery(d.alert, d.plugin, "pending", attempts, error)
                await self._record(d, "pending", attempts, error)
                delay = backoff_ms(attempts, self.settings.backoff_base_s, self.settings.backoff_max_s, self.rng)
                job.retry_at = self.clock.now_ms() + delay
                self.active -= 1
                try:
                    await self.clock.sleep_until(job.retry_at)
                finally:
                    self.active += 1
                    job.retry_at = None
        finally:
            self.active -= 1
            self._jobs.pop((d.alert.id, d.plugin), None)

    async def _attempt(self, plugin: str, alert: Alert) -> DeliveryResult | None:
        impls = [i for i in self.plugins.pm.hook.on_alert.get_hookimpls() if i.plugin_name == plugin]
        if not impls:
            return DeliveryResult.reject(f"plugin {plugin} is not enabled any more")
        impl = impls[0]
        values = {"config": self.config, "http": self.plugins.http, "alert": alert}
        try:
            outcome = await asyncio.wait_for(call_impl(impl, values), self.settings.delivery_timeout_s)
        except TimeoutError:
            return DeliveryResult.retry(f"timed out after {self.settings.delivery_timeout_s:g} s")
        except Exception as exc:  # a plugin's bug or a network error it let through: worth another try
            log.exception("on_alert of %s failed for alert %s", plugin, alert.id)
            return DeliveryResult.retry(f"{type(exc).__name__}: {exc}")
        if outcome is None or isinstance(outcome, DeliveryResult):
            return outcome
        return DeliveryResult.reject(f"on_alert returned {type(outcome).__name__}, not a DeliveryResult")

    async def _record(self, d: Delivery, state: str, attempts: int, error: str | None) -> None:
        now = self.clock.now_ms()
        await self.writer.submit(
            lambda conn: qa_store.update_delivery(
                conn, d.alert.id, d.plugin, state=state, attempts=attempts, error=error, now_ms=now
            )
        )

    async def _finish(self, d: Delivery, state: str, attempts: int, error: str | None) -> None:
        await self._record(d, state, attempts, error)
        self.notify(d.alert, d.plugin, state)
