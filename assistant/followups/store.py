"""The database side of follow-ups: the `timers` and `followups` tables and their queries (SQLite, PostgreSQL)."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from assistant import store
from assistant.hookspecs import Followup
from assistant.pg.pipeline import Batch, together

Key = tuple[str, str]  # (shop, conversation)
Page = tuple[int, str, str]  # (due_ms, shop, conversation): where a page of armed timers ends

# When an event happened as the idle clock counts it (policy.event_time in SQL): its `ts`, unless that is
# further ahead of its receipt than `:future` ms allows. Never later than `ts_ms`, so `ts_ms >= x` narrows by index.
EVENT_TIME_SQL = "CASE WHEN e.ts_ms > e.received_ms + :future THEN e.received_ms + :future ELSE e.ts_ms END"


@dataclass(frozen=True)
class TimerRow:
    """A persisted timer: the idle period opened at `armed_ms` (event time) by event `armed_seq`, due at `due_ms`."""

    shop: str
    conversation: str
    armed_seq: int
    armed_ms: int
    due_ms: int
    fired: int
    agent: str | None
    state: str = "armed"  # armed | done | cancelled | missed
    reason: str | None = None


@dataclass(frozen=True)
class UnpaidOrder:
    order_id: str
    amount: float | None
    created_ms: int


@dataclass(frozen=True)
class FireContext:
    """What the log says about a conversation when its timer fires."""

    armed_event_id: str | None
    customer: str | None
    agent: str | None
    customer_type: str | None
    replied: bool  # a customer message or conversation_closed stamped after the arming event
    paid: bool  # an order of the conversation paid (by its stamp) after the arming event
    unpaid: tuple[UnpaidOrder, ...]
    superseded: bool = False  # an agent message stamped after the arming event (a newer idle period)
    bought: bool = False  # a recent order of the conversation was paid (its closing thanks, never sells)
    armed_text: str | None = None  # the arming agent message's words
    said: frozenset[str] = frozenset()  # what the agent and the assistant said in it lately (never repeated)


@dataclass(frozen=True)
class ReplayEvent:
    """An event as the timers need it when rebuilding state after a crash."""

    seq: int
    ts_ms: int
    type: str
    shop: str
    conversation: str
    agent: str | None
    sender: str | None
    text: str | None
    followup_id: str | None
    received_ms: int
    id: str = ""


# ---- timers ------------------------------------------------------------------------------------


TIMER_INSERT = (
    "INSERT INTO timers (shop, conversation, armed_seq, armed_ms, due_ms, fired, agent, state, reason, updated_ms)"
)
# A timer row's change: never back to an older idle period, nor a fired one back to armed (see save_timers).
TIMER_UPSERT = (
    "ON CONFLICT (shop, conversation) DO UPDATE SET armed_seq = excluded.armed_seq,"
    " armed_ms = excluded.armed_ms, due_ms = excluded.due_ms, fired = excluded.fired, agent = excluded.agent,"
    " state = excluded.state, reason = excluded.reason, updated_ms = excluded.updated_ms"
    " WHERE (excluded.armed_ms, excluded.armed_seq) > (timers.armed_ms, timers.armed_seq)"
    " OR ((excluded.armed_ms, excluded.armed_seq) = (timers.armed_ms, timers.armed_seq)"
    " AND (timers.state = 'armed' OR excluded.fired > timers.fired))"
)


def save_timers(conn: sqlite3.Connection, rows: Iterable[TimerRow], now_ms: int) -> None:
    """Upsert timers; a row never goes back to an older idle period (ordered by event time, then seq), nor
    a fired one to armed with fewer follow-ups (a flush built before the firing committed, landing after it)."""
    conn.executemany(
        f"{TIMER_INSERT} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) {TIMER_UPSERT}",
        [
            (r.shop, r.conversation, r.armed_seq, r.armed_ms, r.due_ms, r.fired, r.agent, r.state, r.reason, now_ms)
            # In key order: instances flushing the same conversations lock their rows in one order, never
            # each waiting for the other's (PostgreSQL's deadlock, one flush thrown back to retry).
            for r in sorted(rows, key=lambda r: (r.shop, r.conversation))
        ],
    )


def cancel_timers(conn: sqlite3.Connection, cancels: Iterable[tuple[str, str, int, int, str]], now_ms: int) -> None:
    """Cancel armed timers (shop, conversation, cancelling seq, its event time, reason) opened before that event."""
    conn.executemany(
        "UPDATE timers SET state = 'cancelled', reason = ?, updated_ms = ?"
        " WHERE shop = ? AND conversation = ? AND state = 'armed' AND (armed_ms, armed_seq) < (?, ?)",
        [
            (reason, now_ms, shop, conversation, at_ms, seq)
            for shop, conversation, seq, at_ms, reason in sorted(cancels)  # in key order, as save_timers
        ],
    )


def watermark(conn: sqlite3.Connection) -> int:
    """The seq of the last event whose effect on the timers is persisted."""
    return int(conn.execute("SELECT seq FROM timers_watermark WHERE id = 1").fetchone()[0])


def set_watermark(conn: sqlite3.Connection, seq: int) -> None:
    conn.execute("UPDATE timers_watermark SET seq = max(seq, ?) WHERE id = 1", (seq,))


def skip_backfill(conn: sqlite3.Connection, first_seq: int) -> bool:
    """Events from `first_seq` on were loaded in bulk (a back-fill, not live traffic): move the watermark past
    them so that no restart replays them into timers. Only if the timers had applied every earlier event
    (else those still need their replay, and the back-fill is replayed with them: False)."""
    last = conn.execute("SELECT max(seq) FROM events").fetchone()[0]
    if last is None or last < first_seq:
        return True
    cur = conn.execute("UPDATE timers_watermark SET seq = ? WHERE id = 1 AND seq >= ?", (last, first_seq - 1))
    return cur.rowcount == 1


# A timer's reason when `assistant followups skip-due` ended it: its database was restored from a backup, and the
# service that ran on after the backup may have sent its follow-up already.
RESTORED = "restored"


def skip_due(
    conn: sqlite3.Connection, before_ms: int, now_ms: int, idle_ms: int, future_ms: int, note: str, *, dry_run: bool
) -> tuple[int, int]:
    """Mark not sent every armed timer due before `before_ms` (cancelled, reason RESTORED) and every delivery
    still pending that was due before it (cancelled, `note`); (timers, deliveries). An agent message the timers
    had not applied yet (the watermark lags the log by a flush) gets its period's row cancelled as well, so the
    next start's replay does not arm it again. With `dry_run`, only counted."""
    # The idle periods the replay would open: agent messages after the watermark, due (event time + idle) before.
    unapplied = [
        TimerRow(r["shop"], r["conversation"], r["seq"], r["at_ms"], r["at_ms"] + idle_ms, 0, r["agent"], "cancelled",
                 RESTORED)
        for r in conn.execute(
            f"SELECT e.shop, e.conversation, e.seq, e.agent, {EVENT_TIME_SQL} AS at_ms FROM events e"
            " JOIN messages m ON m.seq = e.seq WHERE e.seq > (SELECT seq FROM timers_watermark WHERE id = 1)"
            " AND m.sender = 'agent' AND m.followup_id IS NULL ORDER BY e.seq",
            {"future": future_ms},
        )
        if r["at_ms"] + idle_ms < before_ms
    ]  # fmt: skip
    armed = conn.execute(
        "SELECT shop, conversation FROM timers WHERE state = 'armed' AND due_ms < ?", (before_ms,)
    ).fetchall()
    timers = len({(r[0], r[1]) for r in armed} | {(r.shop, r.conversation) for r in unapplied})
    pending = "state = 'pending' AND due_ms < ?"
    if dry_run:
        return timers, int(conn.execute(f"SELECT count(*) FROM followups WHERE {pending}", (before_ms,)).fetchone()[0])
    save_timers(conn, unapplied, now_ms)
    conn.execute(
        "UPDATE timers SET state = 'cancelled', reason = ?, updated_ms = ? WHERE state = 'armed' AND due_ms < ?",
        (RESTORED, now_ms, before_ms),
    )
    cur = conn.execute(
        f"UPDATE followups SET state = 'cancelled', last_error = ?, updated_ms = ? WHERE {pending}",
        (note, now_ms, before_ms),
    )
    return timers, cur.rowcount


def armed_timers(conn: sqlite3.Connection, *, after: Page = (-1, "", ""), limit: int = -1) -> list[TimerRow]:
    """Armed timers by deadline (then key), from the first after `after` (a page of `limit`; -1: all)."""
    # By timers_armed: the table keeps a row for every conversation it ever timed (a start walked them all).
    sql = (
        "SELECT * FROM timers WHERE state = 'armed' AND (due_ms, shop, conversation) > (?, ?, ?)"
        " ORDER BY due_ms, shop, conversation"
    )
    params: list[Any] = [after[0], after[1], after[2]]
    if limit >= 0:
        sql += " LIMIT ?"
        params.append(limit)
    return [_timer(row) for row in conn.execute(sql, params)]


def timer(conn: sqlite3.Connection, shop: str, conversation: str) -> TimerRow | None:
    row = conn.execute("SELECT * FROM timers WHERE shop = ? AND conversation = ?", (shop, conversation)).fetchone()
    return None if row is None else _timer(row)


def timer_from_row(row: sqlite3.Row) -> TimerRow:
    """A `timers` row read with SELECT *."""
    return _timer(row)


def _timer(row: sqlite3.Row) -> TimerRow:
    return TimerRow(
        shop=row["shop"],
        conversation=row["conversation"],
        armed_seq=row["armed_seq"],
        armed_ms=row["armed_ms"],
        due_ms=row["due_ms"],
        fired=row["fired"],
        agent=row["agent"],
        state=row["state"],
        reason=row["reason"],
    )


# ---- follow-ups --------------------------------------------------------------------------------


def insert_followup(conn: sqlite3.Connection, f: Followup) -> tuple[Followup, bool]:
    """Record a new follow-up; if its id is known, the stored one is returned unchanged (and False)."""
    with together(conn) as batch:
        inserted = send_insert(batch, f)
    return inserted()


def send_insert(batch: Batch, f: Followup) -> Callable[[], tuple[Followup, bool]]:
    """`insert_followup`'s statements, sent in `batch`; what gives its answer once the batch is over."""
    # Its outcome first, and only where the follow-up is not recorded yet (the insert is new): no statement waits
    # for the insert's answer. A follow-up recorded before (a timer fired again after a crash) keeps its own.
    batch.execute(
        "INSERT INTO followup_outcomes (id, unknown) SELECT ?, ? WHERE NOT EXISTS (SELECT 1 FROM followups WHERE id = ?)"
        " ON CONFLICT (id) DO UPDATE SET unknown = excluded.unknown",
        (f.id, int(f.outcome_unknown), f.id),
    )
    cur = batch.execute(
        "INSERT OR IGNORE INTO followups (id, shop, conversation, customer, agent, kind, phrase_id, text, mode, state,"
        " attempts, last_error, armed_seq, due_ms, fired_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
        " ?, ?, ?, ?)",
        (
            f.id, f.shop, f.conversation, f.customer, f.agent, f.kind, f.phrase_id, f.text, f.mode, f.state,
            f.attempts, f.last_error, f.armed_seq, f.due_ms, f.fired_ms, f.updated_ms,
        ),
    )  # fmt: skip
    stored = batch.execute("SELECT * FROM followups WHERE id = ?", (f.id,))

    def inserted() -> tuple[Followup, bool]:
        row = stored.fetchone()
        assert row is not None
        return followup_of(row), cur.rowcount == 1

    return inserted


def update_followup(
    conn: sqlite3.Connection,
    followup_id: str,
    *,
    state: str,
    now_ms: int,
    attempts: int | None = None,
    last_error: str | None = None,
    from_states: Sequence[str] = ("pending",),
    outcome_unknown: bool | None = None,
) -> Followup | None:
    """Move a follow-up in one of `from_states` to `state`; None if unknown or in another state."""
    with together(conn) as batch:  # the row read back with the update: one round trip on PostgreSQL, not two
        updated = send_update(batch, followup_id, state=state, now_ms=now_ms, attempts=attempts, last_error=last_error,
                              from_states=from_states, outcome_unknown=outcome_unknown)  # fmt: skip
    return updated()


def send_update(
    batch: Batch,
    followup_id: str,
    *,
    state: str,
    now_ms: int,
    attempts: int | None = None,
    last_error: str | None = None,
    from_states: Sequence[str] = ("pending",),
    outcome_unknown: bool | None = None,
    unless: tuple[str, Sequence[Any]] | None = None,
) -> Callable[[], Followup | None]:
    """`update_followup`'s statements, sent in `batch`: the row moved (not when the query `unless`, with its
    parameters, finds a row), whether its last attempt's outcome is known (only when it moved: the row now in `state`
    with this update's time), the row read back; then the function giving what `update_followup` returns, once the
    batch is over."""
    marks = ", ".join("?" for _ in from_states)
    sql, params = unless if unless is not None else ("", ())
    cur = batch.execute(
        "UPDATE followups SET state = ?, attempts = coalesce(?, attempts), last_error = coalesce(?, last_error),"
        f" updated_ms = ? WHERE id = ? AND state IN ({marks}){f' AND NOT EXISTS ({sql})' if sql else ''}",
        (state, attempts, last_error, now_ms, followup_id, *from_states, *params),
    )
    if outcome_unknown is not None:
        batch.execute(
            "INSERT INTO followup_outcomes (id, unknown) SELECT ?, ? WHERE EXISTS (SELECT 1 FROM followups WHERE id = ?"
            " AND state = ? AND updated_ms = ?) ON CONFLICT (id) DO UPDATE SET unknown = excluded.unknown",
            (followup_id, int(outcome_unknown), followup_id, state, now_ms),
        )
    row = batch.execute("SELECT * FROM followups WHERE id = ?", (followup_id,))

    def updated() -> Followup | None:
        if cur.rowcount == 0:
            return None
        found = row.fetchone()
        return None if found is None else followup_of(found)

    return updated


def channel_latest(conn: sqlite3.Connection, followup_id: str, stamped_ms: int, *, sent: bool) -> bool:
    """Whether a follow-up's news from its channel (the platform's stamp; a tie: a retry's success, stamped with the
    claim that kept the refusal, wins) is the latest the log has had of it; remembered if so, in the transaction
    that acts on it. The platform's webhook jobs run out of order, and an instance that did not see the newer news
    (restarted since, or another one) let an older refusal fail a follow-up a retry had sent."""
    cur = conn.execute(
        "INSERT INTO followup_outcomes (id, unknown, channel_ms, channel_sent)"
        " SELECT id, 1, ?, ? FROM followups WHERE id = ?"
        " ON CONFLICT (id) DO UPDATE SET channel_ms = excluded.channel_ms, channel_sent = excluded.channel_sent"
        " WHERE followup_outcomes.channel_ms IS NULL"
        " OR (followup_outcomes.channel_ms, followup_outcomes.channel_sent) <= (excluded.channel_ms, excluded.channel_sent)",
        (stamped_ms, int(sent), followup_id),
    )
    return cur.rowcount > 0


def with_outcomes(conn: sqlite3.Connection, found: list[Followup]) -> list[Followup]:
    """Pending follow-ups with whether their last attempt's outcome is known (none recorded: unknown, as for a
    follow-up an older release attempted)."""
    if not found:
        return found
    marks = ", ".join("?" for _ in found)
    sql = f"SELECT id, unknown FROM followup_outcomes WHERE id IN ({marks})"
    known = {row[0]: bool(row[1]) for row in conn.execute(sql, [f.id for f in found])}
    return [dataclasses.replace(f, outcome_unknown=known.get(f.id, True)) for f in found]


def followup(conn: sqlite3.Connection, followup_id: str) -> Followup | None:
    row = conn.execute("SELECT * FROM followups WHERE id = ?", (followup_id,)).fetchone()
    return None if row is None else followup_of(row)


def pending_followups(conn: sqlite3.Connection) -> list[Followup]:
    rows = conn.execute("SELECT * FROM followups WHERE state = 'pending' ORDER BY updated_ms")
    return with_outcomes(conn, [followup_of(r) for r in rows])


def count_pending(conn: sqlite3.Connection) -> int:
    """How many follow-ups are pending (being delivered, or left so), from the pending ones' own index: read at
    every `/readyz`, it never walks the table."""
    return int(
        conn.execute("SELECT count(*) FROM followups INDEXED BY followups_pending WHERE state = 'pending'").fetchone()[
            0
        ]
    )


def claim_stalled_followups(conn: sqlite3.Connection, before_ms: int, now_ms: int, limit: int = 200) -> list[Followup]:
    """Pending deliveries untouched since `before_ms` (their instance is gone), as they were; touching them
    (`updated_ms` = now) claims them for this instance. PostgreSQL only (several instances, one database)."""
    rows = [
        followup_of(r)
        for r in conn.execute(
            "SELECT * FROM followups WHERE state = 'pending' AND updated_ms <= ? ORDER BY updated_ms LIMIT ?"
            " FOR UPDATE SKIP LOCKED",
            (before_ms, limit),
        )
    ]
    conn.executemany("UPDATE followups SET updated_ms = ? WHERE id = ?", [(now_ms, f.id) for f in rows])
    return with_outcomes(conn, rows)


def take_pending(
    conn: sqlite3.Connection, followup_id: str, before_ms: int, now_ms: int, future_ms: int
) -> tuple[Followup, str | None] | None:
    """Follow-up `followup_id` if it is still pending and untouched since `before_ms` (no other instance took it
    over: PostgreSQL's row lock, as `claim_stalled_followups`), touched (`updated_ms` = now) to claim it, with who
    ended its idle period meanwhile (`period_ended_by`); None otherwise."""
    lock = " FOR UPDATE SKIP LOCKED" if store.dialect(conn) == "postgresql" else ""
    row = conn.execute(
        f"SELECT * FROM followups WHERE id = ? AND state = 'pending' AND updated_ms <= ?{lock}",
        (followup_id, before_ms),
    ).fetchone()
    if row is None:
        return None
    conn.execute("UPDATE followups SET updated_ms = ? WHERE id = ?", (now_ms, followup_id))
    [f] = with_outcomes(conn, [dataclasses.replace(followup_of(row), updated_ms=now_ms)])
    return f, period_ended_by(conn, f, future_ms)


def list_followups(
    conn: sqlite3.Connection, *, state: str | None = None, shop: str | None = None, limit: int = 50
) -> list[Followup]:
    """The latest follow-ups, newest first."""
    sql = "SELECT * FROM followups WHERE 1 = 1"
    params: list[Any] = []
    if state is not None:
        sql += " AND state = ?"
        params.append(state)
    if shop is not None:
        sql += " AND shop = ?"
        params.append(shop)
    sql += " ORDER BY fired_ms DESC, id LIMIT ?"
    params.append(limit)
    return [followup_of(r) for r in conn.execute(sql, params)]


def unsettled_followups(conn: sqlite3.Connection, since_ms: int) -> list[Followup]:
    """Each conversation's latest follow-up sent or suggested since `since_ms` that nothing has settled yet: no
    customer message, closure, or agent message of other words is stamped after it. Its text coming back as an
    agent message is our own (an echo), and a suggested one is done once the agent sends it."""
    # Each follow-up seeks its own conversation's later messages, sender by sender. Left to choose, the planner
    # walked every message of the shop stamped after the follow-up, for each follow-up: a start after a busy
    # half hour (47,000 follow-ups, 420,000 messages) read for over ten minutes before it listened.
    sql = (
        "SELECT f.* FROM followups f WHERE f.fired_ms >= ? AND f.state IN ('sent', 'suggested', 'pending')"
        " AND NOT EXISTS (SELECT 1 FROM followups g"
        "   WHERE g.shop = f.shop AND g.conversation = f.conversation AND g.fired_ms > f.fired_ms)"
        " AND NOT EXISTS (SELECT 1 FROM messages m INDEXED BY messages_kpi_conversation"
        "   WHERE m.shop = f.shop AND m.conversation = f.conversation AND m.sender IN ('customer', 'agent')"
        "   AND m.ts_ms > f.fired_ms AND (m.sender = 'customer' OR m.text <> f.text))"
        " AND NOT EXISTS (SELECT 1 FROM events e WHERE e.shop = f.shop AND e.conversation = f.conversation"
        "   AND e.ts_ms > f.fired_ms AND e.type = 'conversation_closed')"
        " ORDER BY f.fired_ms"
    )
    return [followup_of(r) for r in conn.execute(sql, (since_ms,))]


def period_followup(conn: sqlite3.Connection, shop: str, conversation: str, armed_seq: int) -> Followup | None:
    """The latest follow-up of the idle period opened by event `armed_seq` (stale records aside)."""
    row = conn.execute(
        "SELECT * FROM followups WHERE shop = ? AND conversation = ? AND armed_seq = ? AND state != 'stale'"
        " ORDER BY fired_ms DESC, id DESC LIMIT 1",
        (shop, conversation, armed_seq),
    ).fetchone()
    return None if row is None else followup_of(row)


def followup_of(row: sqlite3.Row) -> Followup:
    """A follow-up from its row, read with SELECT * (its outcome not read: `with_outcomes`)."""
    return Followup(**{k: row[k] for k in row.keys()})


# ---- the log, as the timers read it ------------------------------------------------------------


def period_ended_by(conn: sqlite3.Connection, f: Followup, future_ms: int) -> str | None:
    """Who ended the idle period of follow-up `f` according to the log, if anyone did: "customer" (a customer
    message stamped after its arming message), "closed" (a closure) or "agent" (an agent message of other words)."""
    armed = conn.execute(
        f"SELECT {EVENT_TIME_SQL} FROM events e WHERE e.seq = :seq", {"seq": f.armed_seq, "future": future_ms}
    ).fetchone()
    if armed is None:
        return None
    return ender(conn.execute(ENDED_AFTER, ended_after(f, armed[0], future_ms)).fetchone())


# The first event after a follow-up's arming message (stamped at :ms) that ended its idle period (`ender`).
ENDED_AFTER = (
    "SELECT e.type, m.sender FROM events e LEFT JOIN messages m ON m.seq = e.seq WHERE e.shop = :shop"
    " AND e.conversation = :conversation AND e.ts_ms >= :ms AND (e.type = 'conversation_closed'"
    " OR m.sender = 'customer' OR (m.sender = 'agent' AND m.followup_id IS NULL AND m.text <> :text))"
    f" AND ({EVENT_TIME_SQL}, e.seq) > (:ms, :seq) ORDER BY e.seq LIMIT 1"
)


def ended_after(f: Followup, armed_ms: int, future_ms: int) -> dict[str, Any]:
    """ENDED_AFTER's parameters for follow-up `f`, its arming message stamped at `armed_ms`."""
    return {"shop": f.shop, "conversation": f.conversation, "ms": armed_ms, "seq": f.armed_seq,
            "future": future_ms, "text": f.text}  # fmt: skip


def ender(row: Sequence[Any] | None) -> str | None:
    """Who ended the period, from ENDED_AFTER's row (None: nobody)."""
    if row is None:
        return None
    return "agent" if row[1] == "agent" else "closed" if row[0] == "conversation_closed" else "customer"


def events_to_replay(conn: sqlite3.Connection, after_seq: int, since_ms: int) -> list[ReplayEvent]:
    """Events after `after_seq` received at or after `since_ms`, in log order (seq follows receipt)."""
    first = _first_seq_received_since(conn, since_ms)
    if first is None:
        return []
    first = max(first, after_seq + 1)
    rows = conn.execute(
        "SELECT e.seq, e.id, e.ts_ms, e.type, e.shop, e.conversation, e.agent, e.received_ms, m.sender, m.text,"
        " m.followup_id"
        " FROM events e LEFT JOIN messages m ON m.seq = e.seq WHERE e.seq >= ? ORDER BY e.seq",
        (first,),
    )
    return [
        ReplayEvent(
            seq=r["seq"], ts_ms=r["ts_ms"], type=r["type"], shop=r["shop"], conversation=r["conversation"], agent=r["agent"],
            sender=r["sender"], text=r["text"], followup_id=r["followup_id"], received_ms=r["received_ms"], id=r["id"],
        )
        for r in rows
    ]  # fmt: skip


def recent_activity(conn: sqlite3.Connection, since_ms: int, future_ms: int) -> dict[Key, tuple[int, int]]:
    """Per conversation, the latest-stamped (event time, seq) of an agent message, customer message or
    closure stamped at or after `since_ms`: a late message stamped before it opens no idle period."""
    found: dict[Key, tuple[int, int]] = {}
    # MATERIALIZED: read the recent range of events_ts, not the whole log in conversation order.
    # SQLite takes the bare column seq from the row holding the max(); PostgreSQL says it with DISTINCT ON.
    latest = (
        "SELECT DISTINCT ON (shop, conversation) shop, conversation, at_ms, seq FROM recent"
        " ORDER BY shop, conversation, at_ms DESC, seq DESC"
        if store.dialect(conn) == "postgresql"
        else "SELECT shop, conversation, max(at_ms), seq FROM recent GROUP BY shop, conversation"
    )
    for row in conn.execute(
        f"WITH recent AS MATERIALIZED (SELECT e.shop, e.conversation, {EVENT_TIME_SQL} AS at_ms, e.seq"
        " FROM events e LEFT JOIN messages m ON m.seq = e.seq WHERE e.ts_ms >= :since"
        " AND (e.type = 'conversation_closed' OR m.sender = 'customer'"
        " OR (m.sender = 'agent' AND m.followup_id IS NULL))) " + latest,
        {"since": since_ms, "future": future_ms},
    ):
        found[(row[0], row[1])] = (int(row[2]), int(row[3]))
    return found


def _first_seq_received_since(conn: sqlite3.Connection, since_ms: int) -> int | None:
    # Two subqueries: each is one seek at an end of the key; min and max in one SELECT read every row.
    bounds = conn.execute("SELECT (SELECT min(seq) FROM events), (SELECT max(seq) FROM events)").fetchone()
    if bounds[0] is None:
        return None
    lo, hi = int(bounds[0]), int(bounds[1])
    last = conn.execute("SELECT received_ms FROM events WHERE seq = ?", (hi,)).fetchone()
    if last[0] < since_ms:
        return None
    while lo < hi:  # smallest seq whose next logged event was received at or after since_ms
        mid = (lo + hi) // 2
        row = conn.execute("SELECT received_ms FROM events WHERE seq >= ? ORDER BY seq LIMIT 1", (mid,)).fetchone()
        if row[0] >= since_ms:
            hi = mid
        else:
            lo = mid + 1
    return lo


def timers_for(conn: sqlite3.Connection, keys: Sequence[Key]) -> dict[Key, TimerRow]:
    found: dict[Key, TimerRow] = {}
    for shop, conversation in keys:
        row = timer(conn, shop, conversation)
        if row is not None:
            found[(shop, conversation)] = row
    return found


def echoed(conn: sqlite3.Connection, event_id: str) -> bool:
    """Whether the log holds the `auto` message `event_id`: the platform's echo of a delivered follow-up."""
    return conn.execute("SELECT 1 FROM events WHERE id = ?", (event_id,)).fetchone() is not None
