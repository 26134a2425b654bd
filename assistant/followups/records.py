"""A delivery's own records, each in one writer job whose statements go together (one round trip on PostgreSQL): an
attempt recorded with the inbox its conversation is in, read beside it; and the follow-up recorded `sent` in the
transaction that logs its text as the `auto` message (a passenger of that event's job), where each was a writer
group of its own (22 round trips a follow-up delivered: tests/test_pg_delivery_round_trips.py)."""

from __future__ import annotations

import sqlite3
from typing import Any

from assistant.events import Event, parse_event
from assistant.followups import store as followup_store
from assistant.followups.jobs import auto_event_id
from assistant.followups.store import Key
from assistant.hookspecs import Followup
from assistant.pg.pipeline import together


def record_attempt(
    conn: sqlite3.Connection, followup_id: str, key: Key, *, attempts: int, last_error: str | None, now_ms: int
) -> tuple[Followup | None, str | None]:
    """Record attempt `attempts` of pending follow-up `followup_id` about to be made, its outcome unknown until it
    ends: the row as updated (None when it is no longer pending), and the platform's inbox the conversation is in
    as its webhooks said (a refusal names it), else None."""
    with together(conn) as batch:
        inbox = batch.execute("SELECT inbox FROM conversation_inboxes WHERE shop = ? AND conversation = ?", key)
        updated = followup_store.send_update(
            batch, followup_id, state="pending", now_ms=now_ms, attempts=attempts, last_error=last_error,
            outcome_unknown=True,
        )  # fmt: skip
    row = inbox.fetchone()
    return updated(), None if row is None else str(row[0])


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
