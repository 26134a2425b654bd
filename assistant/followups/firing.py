"""A batch of due timers fired as one group: every timer's reads sent together, each decided, every write sent
together (assistant/pg/pipeline.py).

On PostgreSQL each statement is a round trip on the writer's thread, and firing one timer took a savepoint, its
claim, thirteen reads, four writes and the savepoint's release, one after the other. Now a batch costs three round
trips whatever its size: the claims and the reads, the catalog items the conversations named (only when one did),
the writes. Nothing of a timer is written before every timer of the batch is decided, so one whose deciding fails
(a phrase's template raises) is left out alone, with nothing to undo. Only a failing statement fails the batch: it is
rolled back to the batch's savepoint, and each timer fires again in a savepoint of its own (`fire_alone`), the others
going on without it. SQLite runs the same statements one by one.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from assistant.followups import store as followup_store
from assistant.followups.context import send_context
from assistant.followups.policy import Cancel, Create, Decision, Defer, closings, compose, decide, followup_id, plain
from assistant.followups.reasons import AGENT_CLOSED
from assistant.followups.shared import CLAIM
from assistant.followups.situation import TalkReads, judge, send_item, send_talk
from assistant.followups.store import FireContext, TimerRow
from assistant.followups.timers import Due
from assistant.hookspecs import Followup
from assistant.pg.pipeline import Sent, together

if TYPE_CHECKING:
    from assistant.followups.service import FollowupService

log = logging.getLogger(__name__)
T = TypeVar("T")

Outcome = tuple[Due, Decision | None, Followup | None, bool]  # the decision (None: failed), what was recorded, new
ELSEWHERE = Cancel("handled by another instance")  # the outcome of a claim another instance holds or settled


@dataclass
class _Timer:
    """One due timer of a batch, as its reads come in."""

    due: Due
    claim: Sent | None
    context: Callable[[], FireContext]
    talk: TalkReads
    item: Sent | None = None
    outcome: Outcome | None = None  # settled before its writes (not claimed, failed) or after them
    row: TimerRow | None = None  # its timer row as the firing leaves it
    draft: Followup | None = None  # its follow-up, to record
    decision: Decision | None = None
    inserted: Callable[[], tuple[Followup, bool]] | None = None


def fire(service: FollowupService, conn: sqlite3.Connection, batch: list[Due], now: int) -> list[Outcome]:
    """Fire `batch` as one group; if one of its statements fails, each timer alone."""
    try:
        return _fire(service, conn, batch, now, "fire_batch")
    except sqlite3.Error:
        if not conn.in_transaction:
            raise
        conn.execute("ROLLBACK TO fire_batch")
        conn.execute("RELEASE fire_batch")
        return [fire_alone(service, conn, due, now) for due in batch]


def fire_alone(service: FollowupService, conn: sqlite3.Connection, due: Due, now: int) -> Outcome:
    """Fire one timer in its own savepoint: a timer that fails is retried later, alone."""
    try:
        [outcome] = _fire(service, conn, [due], now, "fire_one")
    except Exception:
        if not conn.in_transaction:
            raise
        conn.execute("ROLLBACK TO fire_one")
        conn.execute("RELEASE fire_one")
        log.exception("firing the timer of %s/%s failed", *due.key)
        return due, None, None, False
    return outcome


def _fire(
    service: FollowupService, conn: sqlite3.Connection, batch: list[Due], now: int, savepoint: str
) -> list[Outcome]:
    policy, since = service.policy, now - service.policy.window_ms
    with together(conn) as reads:
        reads.execute(f"SAVEPOINT {savepoint}")
        timers = [
            _Timer(
                due,
                reads.execute(CLAIM, due.key) if service.shared is not None else None,
                send_context(reads, *due.key, due.armed_seq, due.armed_ms, since, policy.future_ms),
                send_talk(reads, *due.key, due.armed_seq, due.armed_ms, since, policy.future_ms),
            )
            for due in batch
        ]
    for t in timers:
        if service.shared is not None and t.claim is not None:
            claim = service.shared.claimed(t.claim.fetchone(), t.due)
            if claim != "mine":
                t.outcome = t.due, (None if claim == "busy" else ELSEWHERE), None, False
    named = [(t, item) for t in timers if t.outcome is None and (item := _attempt(t, t.talk.item)) is not None]
    if named:
        with together(conn) as items:
            for t, item in named:
                t.item = send_item(items, item)
    for t in timers:
        if t.outcome is None:
            _attempt(t, partial(_decide, service, conn, t, now))
    with together(conn) as writes:
        for t in timers:
            if t.draft is not None:
                t.inserted = followup_store.send_insert(writes, t.draft)
        rows = [t.row for t in timers if t.row is not None]
        if rows:
            followup_store.save_timers(writes.writes, rows, now)
        writes.execute(f"RELEASE {savepoint}")
    outcomes: list[Outcome] = []
    for t in timers:
        if t.inserted is not None:
            stored, new = t.inserted()
            t.outcome = t.due, t.decision, stored, new
        assert t.outcome is not None
        outcomes.append(t.outcome)
    return outcomes


def _attempt(t: _Timer, step: Callable[[], T]) -> T | None:
    """`step` of timer `t`; a mistake of its own (not the database's) leaves `t` out of the batch, to retry later."""
    try:
        return step()
    except sqlite3.Error:
        raise  # the transaction may be lost: the batch is rolled back
    except Exception:
        log.exception("firing the timer of %s/%s failed", *t.due.key)
        t.outcome, t.row, t.draft = (t.due, None, None, False), None, None
        return None


def _decide(service: FollowupService, conn: sqlite3.Connection, t: _Timer, now: int) -> None:
    """Decide one claimed timer from its reads: its timer row, and the follow-up to record (or its outcome)."""
    due, policy, settings = t.due, service.policy, service.settings
    shop, conversation = due.key
    ctx = t.context()
    situation = judge(t.talk.talk(ctx.said, t.item), ctx.customer_type, service.phrases())
    decision = decide(ctx, due, now, policy, settings.mode_for(shop), situation)
    sources = (service.phrases(), service.builtin_phrases)
    shop_name = service.config.shop_name(shop)
    note = decision.note if isinstance(decision, Create) else None
    if isinstance(decision, Create) and decision.kind == "followup" and decision.state in ("pending", "suggested"):
        if ctx.armed_text and plain(ctx.armed_text) in closings(ctx, sources, shop_name, shop):
            decision, note = replace(decision, state="cancelled", next_due=None), AGENT_CLOSED
    timer = TimerRow(shop, conversation, due.armed_seq, due.armed_ms, due.due_ms, due.fired, due.agent)
    if isinstance(decision, Cancel):
        t.row, t.outcome = replace(timer, state="cancelled", reason=decision.reason), (due, decision, None, False)
        return
    if isinstance(decision, Defer):
        t.row, t.outcome = replace(timer, due_ms=decision.due_ms, reason="quiet_hours"), (due, decision, None, False)
        return
    n = due.fired + 1
    fid = followup_id(shop, conversation, ctx.armed_event_id or f"#{due.armed_seq}", n)
    phrase_id, text = compose(decision.kind, ctx, fid, sources, shop_name, shop, situation=situation)
    draft = Followup(
        id=fid, shop=shop, conversation=conversation, customer=ctx.customer or "", agent=ctx.agent or due.agent,
        kind=decision.kind, phrase_id=phrase_id, text=text, mode=settings.mode_for(shop), state=decision.state,
        attempts=0, last_error=note, armed_seq=due.armed_seq, due_ms=due.due_ms, fired_ms=now, updated_ms=now,
    )  # fmt: skip
    t.draft = service.adjuster.adjusted(conn, draft)  # its text (or DoNotSend) decided once, stored with it
    t.decision = decision
    if decision.next_due is not None:
        t.row = replace(timer, due_ms=decision.next_due, fired=n)
    else:
        t.row = replace(timer, fired=n, state="missed" if decision.state == "missed" else "done")
