"""A delivery's own records, each in one writer job whose statements go together (one round trip on PostgreSQL): an
attempt recorded with the inbox its conversation is in, read beside it; and the follow-up recorded `sent` in the
transaction that logs its text as the `auto` message (a passenger of that event's job), where each was a writer
group of its own (22 round trips a follow-up delivered: tests/test_pg_delivery_round_trips.py)."""

from __future__ import annotations

import sqlite3
from typing import Any

from assistant import store
from assistant.events import Event, parse_event
from assistant.followups import store as followup_store
from assistant.followups.jobs import auto_event_id
from assistant.followups.reasons import CLOSED, CUSTOMER_WROTE
from assistant.hookspecs import Followup
from assistant.pg.pipeline import together


def _event_time(e: str) -> str:
    """An event's time as the follow-ups read it (policy.event_time: a `ts` too far ahead is its receipt + tolerance),
    for events alias `e`, its two parameters [webhook] signature_tolerance_s in ms."""
    return f"CASE WHEN {e}.ts_ms > {e}.received_ms + ? THEN {e}.received_ms + ? ELSE {e}.ts_ms END"


# A customer message or closure of the follow-up's conversation stamped after its arming message (event `?`), ties by
# log order: its idle period is over, as a reply's transaction reads it on another instance (shared.PENDING_ENDED).
ENDER = (
    "SELECT e.type FROM events a JOIN events e ON e.shop = a.shop AND e.conversation = a.conversation"
    f" AND e.ts_ms >= {_event_time('a')} LEFT JOIN messages m ON m.seq = e.seq WHERE a.seq = ?"
    " AND (e.type = 'conversation_closed' OR m.sender = 'customer')"
    f" AND ({_event_time('e')}, e.seq) > ({_event_time('a')}, a.seq) ORDER BY e.seq LIMIT 1"
)
# On PostgreSQL, the follow-up's row locked before the log is read: a reply's transaction holding it (it locks the
# pending follow-ups of the periods it ends) has committed by then, and the statements after the lock see its message.
# Without it the attempt's update waited for that lock and read the log as it was before the wait: a reply
# acknowledged while an earlier attempt's outcome was unknown did not stop the retry.
LOCK = "SELECT id FROM followups WHERE id = ? FOR UPDATE"


def record_attempt(
    conn: sqlite3.Connection, f: Followup, *, attempts: int, last_error: str | None, now_ms: int, future_ms: int
) -> tuple[Followup | None, str | None]:
    """Record attempt `attempts` of pending follow-up `f` about to be made, its outcome unknown until it ends, or,
    when the log holds a customer message or closure stamped after its arming message (`future_ms`: how far ahead a
    stamp is believed), cancel it instead: the row as updated (None when it is no longer pending; `cancelled` when
    its idle period ended), and the platform's inbox the conversation is in as its webhooks said (a refusal names
    it), else None. A delivery records each attempt here after asking the platform about an earlier one of unknown
    outcome, so a reply logged through any instance while it waited stops it, unless the platform held that one."""
    key = (f.shop, f.conversation)
    ended = (ENDER, (future_ms, future_ms, f.armed_seq, *(future_ms,) * 4))
    with together(conn) as batch:
        inbox = batch.execute("SELECT inbox FROM conversation_inboxes WHERE shop = ? AND conversation = ?", key)
        if store.dialect(conn) == "postgresql":
            batch.execute(LOCK, (f.id,))
        updated = followup_store.send_update(
            batch, f.id, state="pending", now_ms=now_ms, attempts=attempts, last_error=last_error,
            outcome_unknown=True, unless=ended,
        )  # fmt: skip
        ender = batch.execute(*ended)
    row, by = inbox.fetchone(), ender.fetchone()
    recorded = updated()
    if recorded is None and by is not None:  # the attempt's record was refused: the period is over, by the log
        why = CLOSED if by[0] == "conversation_closed" else CUSTOMER_WROTE
        recorded = followup_store.update_followup(conn, f.id, state="cancelled", now_ms=now_ms, last_error=why)
    return recorded, None if row is None else str(row[0])


class SentRecord:
    """A passenger of the ingest that logs a delivered follow-up's `auto` message: the follow-up recorded `sent` in
    that transaction (`updated`: its row then, None when it was no longer pending or the transaction failed)."""

    def __init__(self, followup_id: str, attempts: int, now_ms: int) -> None:
        self.followup_id = followup_id
        self.attempts = attempts
        self.now_ms = now_ms
        self.updated: Followup | None = None

    def __call__(self, conn: sqlite3.Connection) -> None:
        self.updated = followup_store.update_followup(
            conn, self.followup_id, state="sent", now_ms=self.now_ms, attempts=self.attempts, last_error=None
        )

    def committed(self) -> None:
        pass

    def failed(self) -> None:
        self.updated = None


def auto_message(f: Followup, now_ms: int, max_text_chars: int) -> Event:
    """The `auto` message logging delivered follow-up `f` (its id makes a repeat, or the platform's echo, a duplicate)."""
    raw: dict[str, Any] = {
        "id": auto_event_id(f.id),
        "type": "message",
        "ts": now_ms,
        "shop": f.shop,
        "conversation": f.conversation,
        "customer": f.customer,
        "sender": "auto",
        "text": f.text,
        "followup_id": f.id,
    }
    if f.agent:
        raw["agent"] = f.agent
    return parse_event(raw, max_text_chars=max_text_chars)
