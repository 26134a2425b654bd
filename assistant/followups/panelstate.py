"""What an agent panel shows of a conversation's follow-up, rebuilt after a restart from the timers and the
database (the live feed's memory starts empty)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from assistant import store
from assistant.followups import store as followup_store
from assistant.followups.store import Key
from assistant.followups.timers import Timer, TimerQueue
from assistant.hookspecs import Followup


def followup_payload(f: Followup) -> dict[str, Any]:
    """A follow-up as the panel hears of it (`followup_id` rather than `id`)."""
    payload = f.to_json()
    payload["followup_id"] = payload.pop("id")
    return payload


def is_latest(f: Followup, timer: Timer | None, made_ms: int | None) -> bool:
    """Whether a change of `f` is its conversation's follow-up line, as the database orders them (`_panel_state`):
    of the idle period `timer` (the conversation's, if armed) counts down, and fired no earlier than the latest
    follow-up made (`made_ms`). A delivery that ends after a later one's (a slow platform held it) changes no line:
    the live line showed the earlier follow-up where the database, and every panel after a restart, the later."""
    return (timer is None or timer.armed_seq == f.armed_seq) and (made_ms is None or f.fired_ms >= made_ms)


def panel_states(path: store.Location, queue: TimerQueue, keys: Sequence[Key]) -> dict[Key, dict[str, Any]]:
    """The follow-up line of each conversation, as the last live update for it said."""
    if not keys:
        return {}
    try:
        conn = store.connect(path, readonly=True)
    except sqlite3.OperationalError:  # no database yet
        return {}
    try:
        return {key: state for key in keys if (state := _panel_state(conn, queue, key)) is not None}
    except sqlite3.OperationalError:  # not migrated yet
        return {}
    finally:
        conn.close()


def _panel_state(conn: sqlite3.Connection, queue: TimerQueue, key: Key) -> dict[str, Any] | None:
    # The same rules as the live updates: a countdown while armed (unless a follow-up of this idle
    # period is out, or quiet hours moved it), else the latest follow-up of the last period, unless
    # that period was cancelled. The in-memory timers are current; the table may lag behind them.
    timer = queue.get(key)
    row = followup_store.timer(conn, *key)
    if timer is not None:
        deferred = row is not None and row.reason == "quiet_hours" and row.armed_seq == timer.armed_seq
        if deferred and row is not None and row.due_ms == timer.due_ms:
            return {"state": "deferred", "due_ms": timer.due_ms, "armed_ms": timer.armed_ms}
        if timer.fired > 0:
            f = followup_store.period_followup(conn, *key, timer.armed_seq)
            if f is not None:
                return followup_payload(f)
        return {"state": "armed", "due_ms": timer.due_ms, "armed_ms": timer.armed_ms}
    if row is None or row.state == "cancelled":
        return None
    f = followup_store.period_followup(conn, *key, row.armed_seq)
    return followup_payload(f) if f is not None else None
