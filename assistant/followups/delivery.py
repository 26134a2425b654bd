"""Sending follow-ups through the `deliver_message` hook: retries with backoff and jitter, then the log.

An attempt is recorded before it starts, and the follow-up id is the idempotency key of every attempt. An
attempt the platform answered with an error status created nothing, and the next one is made without asking.
Before an attempt is made again after one whose outcome is unknown (cut short by a restart, timed out, a
gateway's 502 or 504), the log is read for the platform's echo of it (Chatwoot: `message_created` carrying our
id, logged as `auto-<id>`), then the platform is asked whether it holds the message (`confirm_delivery`;
Chatwoot: our id in the conversation's messages): either way it is sent and is not posted twice. When the
platform cannot be asked (Chatwoot refuses an agent bot's token to list messages), the echo decides for an
attempt this instance saw end: none within `delivery_timeout_s` after it, and it was not created. After a
restart the question waits until the interrupted attempt's time limit is over, so a slow platform has finished
with it; whether the last attempt's outcome is known is stored with the follow-up, so a delivery that waited to
retry after an error status is resumed without a question. A platform no plugin can ask gets it at least once,
with the same key; one that refuses the question for good (Chatwoot: an agent bot's token) leaves an interrupted
attempt unconfirmed, and the follow-up is `failed` at once rather than risk posting it twice. A receiver's
`Retry-After` (a 429's, a 503's) is waited out, up to `retry_after_max_s` at once; no attempt is made, nor waited
for, past `max_late_s` after the follow-up came due (refusals.too_late): it is `missed` then.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

from assistant import store
from assistant.clock import Clock
from assistant.config import Config
from assistant.followups import store as followup_store
from assistant.followups.jobs import Job, LeftPending, auto_event_id, backoff_ms
from assistant.followups.reasons import (
    CUSTOMER_WROTE,
    ENDED_BY,
    GONE,
    LOCKED_TOO_LONG,
    NO_HOOK,
    NOT_POSTED_AGAIN,
    ORDER_SETTLED,
    REFUSED_TOO_LATE,
    SUPERSEDED,
    TIMED_OUT,
    WAS_CLOSED,
    coded,
    english,
)
from assistant.followups.records import SentRecord, auto_message, record_attempt
from assistant.followups.refusals import (
    CredentialRefused,
    FinalRefusal,
    Refusals,
    channel_news,
    confirm,
    too_late,
)
from assistant.followups.store import Key
from assistant.hookspecs import DeliveryResult, Followup
from assistant.ingest import Ingestor
from assistant.plugins import Plugins
from assistant.tasks import TaskSet
from assistant.writer import Writer, is_busy

log = logging.getLogger(__name__)
T = TypeVar("T")

# A gateway's answers: the proxy gave up on the platform, which may still have created the message.
GATEWAY_STATUSES = (502, 504)
LEFT_PENDING = (
    "follow-up %s left pending: %s met a locked database %d times (%s); it is taken up again after [followups]"
    " lease_s (%gs), unless its conversation went on%s"
)
TAKEN_UP = "follow-up %s left pending by a locked database: taken up again%s"

UNREAD_PAYMENT = (
    "whether %s/%s has an unpaid order left could not be read: the database was locked %d times (%s); a payment"
    " reminder being delivered asks again before its attempt, and the idle timer's firing reads the log"
)


class Deliverer:
    """Runs one background task per follow-up being delivered; never blocks the caller."""

    def __init__(
        self,
        config: Config,
        plugins: Plugins,
        writer: Writer,
        ingestor: Ingestor,
        clock: Clock,
        notify: Callable[[Followup], None],
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.settings = config.followups
        self.plugins = plugins
        self.writer = writer
        self.ingestor = ingestor
        self.clock = clock
        self.notify = notify
        self.rng = rng or random.Random()
        self.tasks = TaskSet("followup-delivery")
        self._jobs: dict[str, Job] = {}
        self.active = 0  # jobs (and take-ups) doing something other than waiting out a backoff
        self.left_pending = 0  # deliveries stopped by a locked database (LEFT_PENDING), since the start
        # Those not taken up again yet (their id → when they are): a lease after, the database read again.
        self.left: dict[str, int] = {}
        self.lease_ms = round(self.settings.lease_s * 1000)
        self.future_ms = config.webhook.signature_tolerance_s * 1000  # policy.future_ms
        self.checks_waiting = 0  # payment checks (`unpaid_left`) waiting out a backoff after a locked database
        self.checks_given_up = 0  # and those that met it `max_attempts` times (UNREAD_PAYMENT)
        # Follow-ups the platform took whose `sent` record a locked database refused: never posted again here.
        self._handed: dict[str, int] = {}
        self.stopping = False  # a clean stop: attempts in flight finish, none starts
        self.refusals = Refusals()
        self.held: dict[str, int] = {}  # resumed by a start: no attempt before then (held-back messages come first)

    def submit(self, followup: Followup, *, cancel: str | None = None, settle_as: str = "cancelled") -> None:
        """Start delivering `followup` (pending) unless it is already on its way; with `cancel`, only to settle
        it (`settle_as`, for that reason) without sending: after an interrupted attempt has run out its time
        limit, and unless the platform says that attempt arrived (then it is `sent`)."""
        if followup.id in self._jobs:
            return
        job = Job(followup, cancel_requested=cancel, settle_as=settle_as)
        # Two of one conversation (the next due while one waits to retry; both resumed): the later goes, not both.
        for other in [o for o in self._jobs.values() if o.key == job.key]:
            earlier = other if other.followup.fired_ms <= followup.fired_ms else job
            self._drop(earlier, earlier.cancel_requested or SUPERSEDED)
            if earlier is other and other.task is not None:
                job.after.append(other.task)
        self._jobs[followup.id] = job
        self.active += 1
        job.task = self.tasks.spawn(self._run(job), name=f"deliver {followup.id}")

    def cancel_for(self, key: Key, reason: str = CUSTOMER_WROTE, *, kind: str | None = None) -> None:
        """The customer wrote (or the chat closed, or the agent wrote again): drop deliveries of `key` still
        waiting to retry (of `kind` only, when given)."""
        for job in self._jobs.values():
            if job.key == key and (kind is None or job.followup.kind == kind):
                self._drop(job, reason)

    @staticmethod
    def _drop(job: Job, reason: str) -> None:
        """Settle `job` without another attempt (an attempt in flight runs to its end), for `reason`."""
        job.cancel_requested = reason
        if job.wake is not None and not job.wake.done():
            job.wake.set_result(None)

    async def counts(self) -> dict[str, int]:
        """What `/readyz` shows of follow-ups: pending now (in the database, every instance's), and since the
        start the deliveries a locked database left pending (`left_pending`; `left_pending_now` of them not taken
        up again yet) and the payment checks it made give up (`checks_given_up`)."""
        counts: dict[str, Any] = {
            "pending": await self.writer.submit(followup_store.count_pending, together=True),
            "left_pending": self.left_pending,
            "left_pending_now": len(self.left),
            "checks_given_up": self.checks_given_up,
        }
        # A refused token: said here until it is accepted again.
        if refused := self.refusals.shown([job.held_for for job in self._jobs.values() if job.held_for]):
            counts["credentials_refused"] = refused
        return counts

    async def channel_news(self, followup_id: str, refusal: str | None, stamped_ms: int) -> Followup | None:
        """The platform took `followup_id`, then its channel refused it, or a retry sent it: refusals.channel_news."""
        return await channel_news(self.writer, self.clock, self.notify, followup_id, refusal, stamped_ms)

    def resume(self, f: Followup, ended_by: str | None) -> None:
        """Resume pending `f` (its delivery stopped: a restart, a take-over, a locked database), or, when its idle
        period ended meanwhile (`ended_by`, followup_store.period_ended_by), only settle it: cancelled, or `sent`
        when the platform holds an interrupted attempt."""
        if ended_by is not None:
            self.submit(f, cancel=ENDED_BY[ended_by])
        else:
            self.submit(f)

    @property
    def in_flight(self) -> int:
        return len(self._jobs)

    @property
    def settled(self) -> bool:
        """Every delivery is waiting for a retry time still ahead (for tests with a FakeClock)."""
        now = self.clock.now_ms()
        return self.active == 0 and all(j.retry_at is not None and j.retry_at > now for j in self._jobs.values())

    async def close(self) -> None:
        """Stop: attempts in flight run to their end (at most `delivery_timeout_s`) and their outcome is recorded,
        so a clean restart neither posts them again nor leaves their outcome unknown; no attempt starts. What
        is left (waiting to retry) stays pending and resumes after a restart."""
        self.stopping = True
        for job in self._jobs.values():
            if job.wake is not None and not job.wake.done():
                job.wake.set_result(None)
        flying = [job.task for job in self._jobs.values() if job.attempting and job.task is not None]
        if flying:
            log.info("waiting for %d follow-up deliveries in flight", len(flying))
            await asyncio.wait(flying, timeout=self.settings.delivery_timeout_s + 1)
        await self.tasks.close()

    async def _run(self, job: Job) -> None:
        f = job.followup
        try:
            await self._deliver(job)
        except LeftPending as exc:
            self.left_pending += 1
            handed = self._handed.get(f.id)
            fate = (
                "; nothing was sent"
                if handed is None
                else f"; attempt {handed} reached the platform: recorded of unknown outcome, so it is looked for"
                " (its echo, the platform) before any other attempt"
            )
            log.warning(LEFT_PENDING, f.id, exc.what, job.busy, exc.cause, self.settings.lease_s, fate)
            if not self.stopping:  # else the next start resumes it
                self.left[f.id] = self.clock.now_ms() + self.lease_ms
                self.active += 1  # until its task sleeps
                self.tasks.spawn(self._take_up(f.id), name=f"take up {f.id}")
        finally:
            self.active -= 1
            self._jobs.pop(f.id, None)

    async def _take_up(self, followup_id: str) -> None:
        """A lease after a locked database stopped its delivery, resume `followup_id` as a start does: only if it
        is still pending and untouched since (no other instance took it over, nothing settled it), and only to
        settle it if its conversation went on meanwhile. Read again a lease later while the database is locked.
        Counted `active` from its spawn, but while it sleeps. Taken up more than `late_grace_s` after the first
        lease ran out (the database locked all along), it is recorded `missed`, as a start records one due while
        the service was down: a closing or a reminder hours late is worse than none."""
        first_ms = self.left[followup_id]
        try:
            while not self.stopping:
                self.active -= 1
                try:
                    await self.clock.sleep_until(self.left[followup_id])
                finally:
                    self.active += 1
                if self.stopping:  # the next start resumes it
                    return
                if followup_id in self._jobs:  # resumed meanwhile (a take-over): not started twice
                    self.left.pop(followup_id, None)
                    return
                now = self.clock.now_ms()
                try:
                    found = await self.writer.submit(
                        partial(followup_store.take_pending, followup_id=followup_id, before_ms=now - self.lease_ms,
                                now_ms=now, future_ms=self.future_ms)
                    )  # fmt: skip
                except Exception as exc:
                    if not is_busy(exc):
                        self.left.pop(followup_id, None)
                        raise
                    log.info("follow-up %s: taking it up again met a locked database (%s); again in %gs",
                             followup_id, exc, self.settings.lease_s)  # fmt: skip
                    self.left[followup_id] = now + self.lease_ms
                    continue
                del self.left[followup_id]
                if found is None:
                    log.info(TAKEN_UP, followup_id, ": no longer pending here (settled, or taken over), nothing to do")
                    return
                f, ended_by = found
                if ended_by is None and now - first_ms > self.settings.late_grace_s * 1000:
                    log.warning(TAKEN_UP, followup_id, f", only to record it missed: {(now - first_ms) / 1000:.0f} s"
                                " after the first lease ran out, more than late_grace_s")  # fmt: skip
                    self.submit(f, cancel=LOCKED_TOO_LONG, settle_as="missed")
                    return
                log.info(TAKEN_UP, followup_id, f", only to settle it: its conversation went on ({ended_by})" if ended_by else "")  # fmt: skip
                self.resume(f, ended_by)
                return
        finally:
            self.active -= 1

    async def _deliver(self, job: Job) -> None:
        f = job.followup
        attempts = f.attempts
        last_error = f.last_error
        unknown = attempts > 0 and f.outcome_unknown  # an attempt was made, and whether it arrived is not known
        ended_ms: int | None = None  # when this instance saw its own attempt of unknown outcome end
        hold_ms = self.held.pop(f.id, 0)  # resumed by a start: no post before the messages held back meanwhile came
        if job.after:  # an earlier follow-up of the conversation, dropped: its attempt in flight ends first
            await asyncio.wait(job.after)
        if f.id in self._handed:  # the platform took it, and a locked database kept its record: record it now
            await self._record_sent(job, f, self._handed[f.id])
            log.info("follow-up %s: taken by the platform at attempt %d, recorded sent", f.id, self._handed[f.id])
            return
        if unknown:  # made by the process before a restart: let it run out its time limit first
            await self._wait(job, f.updated_ms + round(self.settings.delivery_timeout_s * 1000))
        while not self.stopping:
            if job.cancel_requested is not None:
                # An attempt whose outcome is unknown may have reached the customer: the record says what
                # the platform holds (a `missed` or `cancelled` follow-up the customer read was wrong).
                if unknown and await self._landed(job, f, ended_ms) is True:
                    await self._record_sent(job, f, attempts)
                    log.info("follow-up %s found on the platform after attempt %d: recorded sent", f.id, attempts)
                    return
                await self._finish(job, f, job.settle_as, attempts, job.cancel_requested)
                return
            if unknown:
                held = await self._landed(job, f, ended_ms)
                if isinstance(held, CredentialRefused):  # a revoked token: kept for it, then asked again
                    if await self._hold(job, f, attempts, held, held.credential, unknown=True):
                        continue
                    return
                if isinstance(held, bool):
                    self._accepted(job)  # the platform answered: the token refused before works again
                if held is True:
                    await self._record_sent(job, f, attempts)
                    log.info("follow-up %s found on the platform after attempt %d: not sent again", f.id, attempts)
                    return
                if job.cancel_requested is not None:
                    continue  # cancelled while waiting for the echo: settle it
                if isinstance(held, str):  # the platform could not be asked: send nothing, ask again later
                    attempts += 1
                    last_error = held
                    log.warning("follow-up %s: %s", f.id, english(held))
                    if isinstance(held, FinalRefusal):  # asking again cannot help: at most once, so no post
                        await self._finish(job, f, "failed", attempts, coded(NOT_POSTED_AGAIN, held))
                        return
                    if attempts >= self.settings.max_attempts:
                        await self._finish(job, f, "failed", attempts, last_error)
                        return
                    await self._update(job, f, "pending", attempts, last_error)
                    await self._backoff(job, attempts, error=last_error)
                    continue
            if self.stopping:
                return  # stays pending: resumed after the restart
            if hold_ms > self.clock.now_ms():
                await self._wait(job, hold_ms)
                if job.cancel_requested is not None or self.stopping:
                    continue
            if (late := too_late(f, self.clock.now_ms(), self.settings.max_late_s, last_error)) is not None:
                self._give_up(job, late)  # resumed (a start, a take-up) or held back past its useful time
                continue
            if f.kind == "payment_reminder":
                if not await self._write(job, "whether its order was paid", lambda: self._unpaid(f)):
                    job.cancel_requested = ORDER_SETTLED  # paid or closed while it waited: settle it, send nothing
                    continue
            attempts += 1
            was_unknown, unknown = unknown, True
            job.attempting = True
            try:
                recorded, inbox = await self._write(job, "recording it pending", partial(self._record_attempt, f, attempts, last_error))  # fmt: skip
                if recorded is None or recorded.state != "pending":
                    # Settled meanwhile (a take-over's or take-up's copy read before another delivery ended it), or
                    # cancelled by that record: the log shows its period over (the buyer wrote through another instance).
                    log.info("follow-up %s is no longer pending (%s): not attempted", f.id, recorded and recorded.state)
                    if recorded is not None:
                        self.notify(recorded)
                    return
                if job.cancel_requested is not None or self.stopping:  # while that write waited for a lock
                    attempts, unknown = attempts - 1, was_unknown  # no attempt was made
                    continue
                result = await self._attempt(f, inbox)
            finally:
                job.attempting = False
            if result.ok:
                self._accepted(job)
                self._handed[f.id] = attempts
                await self._record_sent(job, f, attempts)
                log.info("follow-up %s (%s) sent to %s/%s, attempt %d", f.id, f.kind, f.shop, f.conversation, attempts)
                return
            last_error = result.error or "failed"
            if result.gone or result.closed:  # nobody to follow up, or set aside there: a cancel, not an error
                why = GONE if result.gone else WAS_CLOSED
                log.info("follow-up %s cancelled: %s (%s)", f.id, english(why), last_error)
                await self._finish(job, f, "cancelled", attempts, why)
                return
            if result.refused_credential is not None:  # an error status: nothing was created, nothing to ask
                unknown = False
                if await self._hold(job, f, attempts, last_error, result.refused_credential):
                    continue
                return
            # Answered with an error status, the platform created nothing: the next attempt needs no question.
            unknown = not result.unposted and (result.unknown or result.status in (None, *GATEWAY_STATUSES))
            ended_ms = self.clock.now_ms() if unknown else None
            final = not result.retryable or attempts >= self.settings.max_attempts
            log.warning(
                "follow-up %s attempt %d/%d failed: %s%s", f.id, attempts, self.settings.max_attempts, english(last_error),
                "" if final else " (will retry)",
            )  # fmt: skip
            if final:
                if unknown and await self._landed(job, f, ended_ms) is True:  # the last attempt arrived after all
                    await self._record_sent(job, f, attempts)
                    return
                await self._finish(job, f, "failed", attempts, last_error)
                return
            await self._update(job, f, "pending", attempts, last_error, unknown=unknown)
            await self._backoff(job, attempts, result.retry_after_s, last_error)

    def _accepted(self, job: Job) -> None:
        """The credential refused at the job's last attempt or question works again: those kept for it go now."""
        if job.held_for is not None:
            self.refusals.accepted(job.held_for)
            for other in self._jobs.values():
                if other.held_for == job.held_for and other.wake is not None and not other.wake.done():
                    other.wake.set_result(None)
            job.held_for = None

    async def _hold(
        self, job: Job, f: Followup, attempts: int, error: str, credential: str, *, unknown: bool = False
    ) -> bool:
        """The platform refused `credential`: keep `f` pending and wait a backoff (True: try again), capped at the
        end of its useful time, `late_grace_s` after it came due; past it, record it `missed` (False). `unknown`:
        whether its last attempt arrived is still to be asked (the refusal met the question, not an attempt)."""
        job.held_for = credential
        self.refusals.refused(credential, error, self.settings.late_grace_s)
        until_ms = f.fired_ms + round(self.settings.late_grace_s * 1000)
        now = self.clock.now_ms()
        if now >= until_ms:
            missed = coded(REFUSED_TOO_LATE, error)[:1000]
            log.warning("follow-up %s for %s/%s missed: %s", f.id, f.shop, f.conversation, english(missed))
            await self._finish(job, f, "missed", attempts, missed)
            return False
        log.info("follow-up %s kept: %s refused at attempt %d; tried again after a backoff", f.id, credential, attempts)
        await self._update(job, f, "pending", attempts, error, unknown=unknown)
        delay = backoff_ms(attempts, self.settings.backoff_base_s, self.settings.backoff_max_s, self.rng)
        await self._wait(job, min(now + delay, until_ms))
        return True

    async def _backoff(
        self, job: Job, attempts: int, retry_after_s: float | None = None, error: str | None = None
    ) -> None:
        """Wait before the next attempt (`error`: the last one's) or the next try of a locked database's write; a
        delivery whose next attempt would come past `max_late_s` after it came due gives up instead (missed)."""
        delay = backoff_ms(attempts, self.settings.backoff_base_s, self.settings.backoff_max_s, self.rng)
        now = self.clock.now_ms()
        if retry_after_s is not None:  # the receiver said when: sooner would be refused again and keep it throttled
            delay = max(delay, round(min(retry_after_s, self.settings.retry_after_max_s) * 1000))
        if error is not None:  # by when the receiver asked to wait, even beyond retry_after_max_s
            asked = max(delay, round((retry_after_s or 0) * 1000))
            if (
                late := too_late(job.followup, now + asked, self.settings.max_late_s, error, retry_after_s)
            ) is not None:
                self._give_up(job, late)
                return
        await self._wait(job, now + delay)

    def _give_up(self, job: Job, why: str) -> None:
        """Too late to send: settle the delivery `missed` (an attempt of unknown outcome is looked for first)."""
        f = job.followup
        log.warning("follow-up %s for %s/%s missed: %s", f.id, f.shop, f.conversation, english(why))
        job.cancel_requested, job.settle_as = why[:1000], "missed"

    async def _wait(self, job: Job, until_ms: int) -> None:
        """Sleep until `until_ms` on the clock, or until the delivery is cancelled or the service stops."""
        if until_ms <= self.clock.now_ms() or self.stopping:
            return
        loop = asyncio.get_running_loop()
        job.wake = loop.create_future()
        job.retry_at = until_ms
        sleeper = loop.create_task(self.clock.sleep_until(job.retry_at))
        self.active -= 1
        try:
            await asyncio.wait([sleeper, job.wake], return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.active += 1
            sleeper.cancel()
            job.wake = None
            job.retry_at = None

    async def _landed(self, job: Job, f: Followup, ended_ms: int | None) -> bool | str | None:
        """Whether an attempt of unknown outcome created the message: its echo in the log, else the platform's
        answer; when the platform cannot be asked, the echo's absence `delivery_timeout_s` after an attempt this
        instance saw end (`ended_ms`), else a message saying why it cannot tell."""
        if await self._echoed(job, f):
            return True
        held = await confirm(self.plugins, _conversation(f), f, self.settings.delivery_timeout_s)
        if not isinstance(held, str) or ended_ms is None:
            return held  # answered, or nobody can tell (None), or cut by a restart: the echo may have come meanwhile
        await self._wait(job, ended_ms + round(self.settings.delivery_timeout_s * 1000))
        if await self._echoed(job, f):
            return True
        log.info("follow-up %s: %s; no echo of the attempt arrived, so it was not created", f.id, held)
        return False

    async def _unpaid(self, f: Followup) -> bool:
        """Whether the conversation of payment reminder `f` still has an unpaid order to remind of."""
        since = self.clock.now_ms() - self.settings.payment_reminder_window_s * 1000
        return await self.writer.submit(
            lambda conn: bool(store.unpaid_orders(conn, f.shop, f.conversation, since)), together=True
        )

    async def _write(self, job: Job, what: str, work: Callable[[], Awaitable[T]]) -> T:
        """`work()` (a read or write of the database), done again after the delivery's backoff while another
        process holds the database past busy_timeout_s; the delivery's `max_attempts`-th such failure (or one
        while the service stops) raises LeftPending. Nothing is sent in between, so doing it again sends nothing
        twice; a delivery that once ended here stayed in its in-between state until a restart."""
        while True:
            try:
                return await work()
            except Exception as exc:
                if not is_busy(exc):
                    raise
                job.busy += 1
                if self.stopping or job.busy >= self.settings.max_attempts:
                    raise LeftPending(what, exc) from exc
                log.info(
                    "follow-up %s: %s met a locked database (%s); again after a backoff", job.followup.id, what, exc
                )
                await self._backoff(job, job.busy)

    async def unpaid_left(self, key: Key, since_ms: int) -> bool | None:
        """Whether `key` has an order created since `since_ms` unpaid, asked again after the delivery's backoff
        while another process holds the database; None (logged) when it still did at the `max_attempts`-th."""
        tried = 0
        while True:
            try:
                return await self.writer.submit(
                    lambda conn: bool(store.unpaid_orders(conn, key[0], key[1], since_ms)), together=True
                )
            except Exception as exc:
                if not is_busy(exc):
                    raise
                tried += 1
                if self.stopping or tried >= self.settings.max_attempts:
                    self.checks_given_up += 1
                    log.warning(UNREAD_PAYMENT, *key, tried, exc)
                    return None
            self.checks_waiting += 1
            try:
                delay = backoff_ms(tried, self.settings.backoff_base_s, self.settings.backoff_max_s, self.rng)
                await self.clock.sleep_until(self.clock.now_ms() + delay)
            finally:
                self.checks_waiting -= 1

    def has(self, key: Key, kind: str) -> bool:  # a delivery of `kind` for `key` under way
        return any(job.key == key and job.followup.kind == kind for job in self._jobs.values())

    async def _echoed(self, job: Job, f: Followup) -> bool:
        """The platform's echo of the follow-up is in the log (logged under the id of its `auto` message)."""
        event_id = auto_event_id(f.id)
        echoed = partial(self.writer.submit, lambda conn: followup_store.echoed(conn, event_id), together=True)
        return await self._write(job, "looking for its echo", echoed)

    async def _attempt(self, f: Followup, inbox: str | None) -> DeliveryResult:
        conversation = {**_conversation(f), "inbox": inbox}  # the inbox a webhook named: a refusal names it
        try:
            outcome = await asyncio.wait_for(
                self.plugins.deliver(conversation=conversation, text=f.text, idempotency_key=f.id, kind=f.kind),
                self.settings.delivery_timeout_s,
            )  # fmt: skip
            if outcome is None:
                return DeliveryResult.reject(NO_HOOK)
        except TimeoutError:
            return DeliveryResult.retry(coded(TIMED_OUT, seconds=f"{self.settings.delivery_timeout_s:g}"))
        except Exception as exc:  # a plugin's bug or a network error it let through: worth another try
            log.exception("deliver_message failed for follow-up %s", f.id)
            return DeliveryResult.retry(f"{type(exc).__name__}: {exc}")
        if not isinstance(outcome, DeliveryResult):
            return DeliveryResult.reject(f"deliver_message returned {type(outcome).__name__}, not a DeliveryResult")
        return outcome

    async def _record_sent(self, job: Job, f: Followup, attempts: int) -> None:
        """The platform holds `f`: log its text and record it `sent`, one transaction (done again while the database
        is locked)."""
        sent = await self._write(job, "logging it sent", lambda: self._log_sent(f, attempts))
        if sent is not None:
            self.notify(sent)
        self._handed.pop(f.id, None)

    async def _log_sent(self, f: Followup, attempts: int) -> Followup | None:
        """Log the delivered text as an `auto` message (its id makes a repeat a duplicate), `f` recorded `sent` in its
        transaction: its row then (None when it was no longer pending)."""
        now = self.clock.now_ms()
        event = auto_message(f, now, max(len(f.text), self.config.webhook.max_text_chars))
        record = SentRecord(f.id, attempts, now)
        await self.ingestor.ingest([event], passengers=[record])
        return record.updated

    async def _record_attempt(
        self, f: Followup, attempts: int, error: str | None
    ) -> tuple[Followup | None, str | None]:
        now = self.clock.now_ms()
        return await self.writer.submit(partial(record_attempt, f=f, attempts=attempts, last_error=error, now_ms=now, future_ms=self.future_ms))  # fmt: skip

    async def _update(
        self, job: Job, f: Followup, state: str, attempts: int, error: str | None, *, unknown: bool | None = None
    ) -> Followup | None:
        def update(conn: sqlite3.Connection) -> Followup | None:
            return followup_store.update_followup(
                conn, f.id, state=state, now_ms=now, attempts=attempts, last_error=error, outcome_unknown=unknown
            )

        now = self.clock.now_ms()
        return await self._write(job, f"recording it {state}", lambda: self.writer.submit(update))

    async def _finish(self, job: Job, f: Followup, state: str, attempts: int, error: str | None) -> None:
        updated = await self._update(job, f, state, attempts, error)
        if updated is not None:
            self.notify(updated)


def _conversation(f: Followup) -> dict[str, Any]:
    return {"shop": f.shop, "conversation": f.conversation, "customer": f.customer, "agent": f.agent}
