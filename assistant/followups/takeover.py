"""What the take-over sweep reads (several instances on one PostgreSQL database: followups/shared.py), its statements
sent together where none needs another's answer (psycopg's pipeline mode, `pg/pipeline.py`): the timers left armed
a lease past their deadline and the deliveries left pending that long in one round trip, where they were two one
after the other (the sweep every instance makes every `lease_s / 4`, nearly always finding nothing); those deliveries
claimed, their outcomes and their arming messages' times in a second, and who ended each one's idle period meanwhile
in a third, whatever their number (each was two statements more, after two for the claim and the outcomes)."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

from assistant.followups import store as followup_store
from assistant.followups.store import ENDED_AFTER, EVENT_TIME_SQL, TimerRow, ended_after, ender
from assistant.hookspecs import Followup
from assistant.pg.pipeline import together

OVERDUE = "SELECT * FROM timers WHERE state = 'armed' AND due_ms <= ? ORDER BY due_ms LIMIT 1000"
# A pending delivery untouched for a lease: its instance is gone (or a locked database stopped it). Touching it claims
# it (the row lock keeps another instance's sweep off it meanwhile).
STALLED = (
    "SELECT * FROM followups WHERE state = 'pending' AND updated_ms <= ? ORDER BY updated_ms LIMIT ?"
    " FOR UPDATE SKIP LOCKED"
)


def left_behind(
    conn: sqlite3.Connection, before_ms: int, now_ms: int, future_ms: int, limit: int = 200
) -> tuple[list[TimerRow], list[Followup], dict[str, str]]:
    """The timers armed and due before `before_ms`; the deliveries pending untouched since then, claimed (touched: as
    touched, an attempt of unknown outcome its instance may still be making is waited out); and who ended the idle
    period of each of those meanwhile (`period_ended_by`), by follow-up id, when anyone did."""
    with together(conn) as batch:
        timers = batch.execute(OVERDUE, (before_ms,))
        pending = batch.execute(STALLED, (before_ms, limit))
    rows = [followup_store.timer_from_row(r) for r in timers.fetchall()]
    found = [replace(followup_store.followup_of(r), updated_ms=now_ms) for r in pending.fetchall()]
    if not found:
        return rows, [], {}
    ids = [f.id for f in found]
    marks = ", ".join(f":f{i}" for i in range(len(ids)))
    seqs = ", ".join(f":s{i}" for i in range(len(found)))
    with together(conn) as batch:
        batch.executemany("UPDATE followups SET updated_ms = ? WHERE id = ?", [(now_ms, id_) for id_ in ids])
        outcomes = batch.execute(
            f"SELECT id, unknown FROM followup_outcomes WHERE id IN ({marks})",
            {f"f{i}": id_ for i, id_ in enumerate(ids)},
        )
        armed = batch.execute(
            f"SELECT e.seq, {EVENT_TIME_SQL} FROM events e WHERE e.seq IN ({seqs})",
            {"future": future_ms, **{f"s{i}": f.armed_seq for i, f in enumerate(found)}},
        )
    known = {str(row[0]): bool(row[1]) for row in outcomes.fetchall()}
    stalled = [replace(f, outcome_unknown=known.get(f.id, True)) for f in found]  # none recorded: an older release's
    times = {int(row[0]): int(row[1]) for row in armed.fetchall()}
    asked = [f for f in stalled if f.armed_seq in times]  # its arming message archived: nobody to tell
    with together(conn) as batch:
        after = [batch.execute(ENDED_AFTER, ended_after(f, times[f.armed_seq], future_ms)) for f in asked]
    ended = {f.id: by for f, sent in zip(asked, after) if (by := ender(sent.fetchone())) is not None}
    return rows, stalled, ended
