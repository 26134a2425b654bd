"""The SQL of quality inspection: alerts, their deliveries per hook, escalations, and recent flags."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from assistant.privacy import mask_flags
from assistant.schema import NOTABLE_FLAGS_SQL
from assistant.store import Written

DELIVERY_STATES = ("pending", "sent", "failed", "skipped")
ESCALATION_STATES = ("armed", "answered", "escalated")


@dataclass(frozen=True)
class AlertRow:
    """One stored alert, as in `qa_alerts`."""

    id: str
    level: int
    shop: str
    conversation: str
    customer: str
    agent: str | None
    sender: str
    event_id: str
    seq: int
    ts_ms: int
    text: str
    flags: tuple[dict[str, Any], ...]
    created_ms: int
    escalate_ms: int | None = None
    escalation: str | None = None


@dataclass(frozen=True)
class Delivery:
    """An alert on its way to one plugin."""

    alert: AlertRow
    plugin: str
    state: str
    attempts: int
    last_error: str | None


def alert_id(event_id: str, level: int) -> str:
    """The id of the alert a message raises (level 1) or of its escalation (level 2): stable across restarts."""
    return "qa-" + hashlib.sha256(f"{event_id}\x1f{level}".encode()).hexdigest()[:24]


_COLUMNS = (
    "id, level, shop, conversation, customer, agent, sender, event_id, seq, ts_ms, text, flags, created_ms,"
    " escalate_ms, escalation"
)


def _row(row: Sequence[Any]) -> AlertRow:
    values = list(row)
    values[11] = tuple(json.loads(values[11]))
    return AlertRow(*values)


def insert_alert(conn: sqlite3.Connection, alert: AlertRow, plugins: Sequence[str], now_ms: int) -> bool:
    """Store an alert and a pending delivery per plugin; False when the alert was already there."""
    cur = conn.execute(
        f"INSERT OR IGNORE INTO qa_alerts ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            alert.id, alert.level, alert.shop, alert.conversation, alert.customer, alert.agent, alert.sender,
            alert.event_id, alert.seq, alert.ts_ms, alert.text,
            json.dumps(list(alert.flags), ensure_ascii=False, separators=(",", ":")),
            alert.created_ms, alert.escalate_ms, alert.escalation,
        ),
    )  # fmt: skip
    if cur.rowcount == 0:
        return False
    conn.executemany(
        "INSERT OR IGNORE INTO qa_deliveries (alert_id, plugin, state, attempts, updated_ms) VALUES (?, ?, 'pending', 0, ?)",
        [(alert.id, plugin, now_ms) for plugin in plugins],
    )
    return True


def get_alert(conn: sqlite3.Connection, alert_id: str) -> AlertRow | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM qa_alerts WHERE id = ?", (alert_id,)).fetchone()
    return _row(row) if row is not None else None


def pending_deliveries(conn: sqlite3.Connection) -> list[Delivery]:
    """Deliveries not finished yet (after a restart: to resume)."""
    rows = conn.execute(
        f"SELECT {', '.join('a.' + c.strip() for c in _COLUMNS.split(','))}, d.plugin, d.state, d.attempts, d.last_error"
        " FROM qa_deliveries d JOIN qa_alerts a ON a.id = d.alert_id WHERE d.state = 'pending' ORDER BY a.created_ms"
    ).fetchall()
    return [Delivery(_row(r[:15]), r[15], r[16], r[17], r[18]) for r in rows]


def update_delivery(
    conn: sqlite3.Connection, alert_id: str, plugin: str, *, state: str, attempts: int, error: str | None, now_ms: int
) -> None:
    conn.execute(
        "UPDATE qa_deliveries SET state = ?, attempts = ?, last_error = ?, updated_ms = ? WHERE alert_id = ? AND plugin = ?",
        (state, attempts, error, now_ms, alert_id, plugin),
    )


def deliveries_of(conn: sqlite3.Connection, alert_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """The delivery states of some alerts, by alert id."""
    found: dict[str, list[dict[str, Any]]] = {}
    for i in range(0, len(alert_ids), 500):
        chunk = list(alert_ids[i : i + 500])
        marks = ", ".join("?" for _ in chunk)
        for alert, plugin, state, attempts, error in conn.execute(
            f"SELECT alert_id, plugin, state, attempts, last_error FROM qa_deliveries WHERE alert_id IN ({marks})"
            " ORDER BY plugin",
            chunk,
        ):
            found.setdefault(alert, []).append({"plugin": plugin, "state": state, "attempts": attempts, "error": error})
    return found


def awaiting_answer(conn: sqlite3.Connection, shop: str, conversation: str) -> bool:
    """A buyer's alert in the conversation still waits for an agent's answer (its escalation is armed)."""
    sql = (
        "SELECT 1 FROM qa_alerts WHERE shop = ? AND conversation = ? AND sender = 'customer'"
        " AND escalation = 'armed' LIMIT 1"
    )
    return conn.execute(sql, (shop, conversation)).fetchone() is not None


def flagged_since(conn: sqlite3.Connection, shop: str, conversation: str, seq: int, limit: int = 3) -> list[str]:
    """The buyer's flagged messages of the conversation logged after the message `seq` (the first `limit`)."""
    sql = (
        "SELECT text FROM messages WHERE shop = ? AND conversation = ? AND sender = 'customer' AND seq > ?"
        " AND qa IS NOT NULL ORDER BY seq LIMIT ?"
    )
    return [str(row[0]) for row in conn.execute(sql, (shop, conversation, seq, limit))]


def current_agent(conn: sqlite3.Connection, shop: str, conversation: str, before_seq: int) -> str | None:
    """The agent who wrote last in the conversation before the message `before_seq` (one index seek)."""
    sql = (
        "SELECT agent FROM messages WHERE shop = ? AND conversation = ? AND sender = 'agent' AND agent IS NOT NULL"
        " AND seq < ? ORDER BY ts_ms DESC, seq DESC LIMIT 1"
    )
    row = conn.execute(sql, (shop, conversation, before_seq)).fetchone()
    return None if row is None else str(row[0])


def armed_escalations(conn: sqlite3.Connection) -> list[AlertRow]:
    return [_row(r) for r in conn.execute(f"SELECT {_COLUMNS} FROM qa_alerts WHERE escalation = 'armed'")]


def disarm_late(conn: sqlite3.Connection, fresh_ms: int) -> int:
    """Take the escalation off alerts whose message was logged more than `fresh_ms` after it was written (a
    back-filled day: an older release armed them; this one raises no alert for such a message); how many."""
    sql = "UPDATE qa_alerts SET escalation = NULL, escalate_ms = NULL WHERE escalation = 'armed' AND created_ms - ts_ms > ?"
    return conn.execute(sql, (fresh_ms,)).rowcount


def overdue_escalations(conn: sqlite3.Connection, before_ms: int) -> list[AlertRow]:
    """Escalations still armed though due before `before_ms` (an instance sharing the database died)."""
    sql = f"SELECT {_COLUMNS} FROM qa_alerts WHERE escalation = 'armed' AND escalate_ms <= ? LIMIT 1000"
    return [_row(r) for r in conn.execute(sql, (before_ms,))]


def claim_stalled_deliveries(conn: sqlite3.Connection, before_ms: int, now_ms: int) -> list[Delivery]:
    """Pending deliveries untouched since `before_ms` (their instance is gone), claimed by touching them
    (PostgreSQL: rows another instance is claiming are skipped)."""
    claimed = conn.execute(
        "UPDATE qa_deliveries SET updated_ms = ? WHERE (alert_id, plugin) IN (SELECT alert_id, plugin"
        " FROM qa_deliveries WHERE state = 'pending' AND updated_ms <= ? ORDER BY updated_ms LIMIT 200"
        " FOR UPDATE SKIP LOCKED) RETURNING alert_id, plugin",
        (now_ms, before_ms),
    ).fetchall()
    keys = {(str(r[0]), str(r[1])) for r in claimed}
    return [d for d in pending_deliveries(conn) if (d.alert.id, d.plugin) in keys]


def answered(conn: sqlite3.Connection, alert: AlertRow) -> bool:
    """Whether an agent has written in the alert's conversation since its message."""
    row = conn.execute(
        "SELECT 1 FROM messages WHERE shop = ? AND conversation = ? AND sender = 'agent' AND seq > ? LIMIT 1",
        (alert.shop, alert.conversation, alert.seq),
    ).fetchone()
    return row is not None


def set_escalation(conn: sqlite3.Connection, alert_id: str, state: str) -> bool:
    """Move an armed escalation to `state`; False when it was not armed any more."""
    cur = conn.execute("UPDATE qa_alerts SET escalation = ? WHERE id = ? AND escalation = 'armed'", (state, alert_id))
    return cur.rowcount > 0


def recent_alerts(conn: sqlite3.Connection, since_ms: int, limit: int) -> list[AlertRow]:
    """Alerts created since `since_ms`, newest first: the alerts of one batch share `created_ms`, and come in the
    order of their messages' time (then of the log), not of their ids."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM qa_alerts WHERE created_ms >= ? ORDER BY created_ms DESC, ts_ms DESC, seq DESC, level"
        " DESC LIMIT ?",
        (since_ms, limit),
    ).fetchall()
    return [_row(r) for r in rows]


# A page of the walk: on PostgreSQL a statement's rows all reach the client, so the walk reads `limit` at a time.
RECENT_FLAGS_SQL = (
    "SELECT e.id, m.seq, m.shop, m.conversation, m.customer, m.sender, m.agent, m.text, m.ts_ms, m.qa, e.received_ms"
    f" FROM messages m INDEXED BY messages_qa_notable JOIN events e ON e.seq = m.seq WHERE {NOTABLE_FLAGS_SQL}"
    " AND m.seq < ? ORDER BY m.seq DESC LIMIT ?"
)


def recent_flags(conn: sqlite3.Connection, since_ms: int, limit: int) -> list[dict[str, Any]]:
    """Flagged messages received since `since_ms` (short replies left out), newest first: by the time they were
    received, then, within one batch, by the messages' own time.

    Walks the partial index of messages flagged for more than a short reply (schema.NOTABLE_FLAGS_SQL) backwards
    from the newest, `limit` rows at a time; stops at the first one older. The index of every flagged message
    walked every short reply of the last day as well (to the day's start when fewer than `limit` others were
    flagged), and on PostgreSQL every flagged message of the log, all sent to the client in one statement.
    """
    found: list[tuple[int, int, int, dict[str, Any]]] = []
    before = 2**63 - 1
    while True:
        rows = conn.execute(RECENT_FLAGS_SQL, (before, limit)).fetchall()
        for row in rows:
            if row[10] < since_ms:
                break
            flags = [f for f in json.loads(row[9]) if f.get("category") != "short"]
            if flags:
                item = flag_item(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8], flags)
                found.append((row[10], row[8], row[1], item))
                if len(found) == limit:
                    break
        else:  # the page read whole: the next one, if it was full
            if len(rows) == limit:
                before = rows[-1][1]
                continue
        break
    found.sort(key=lambda f: f[:3], reverse=True)
    return [item for *_, item in found]


def flag_item(
    event_id: str,
    seq: int | None,
    shop: str,
    conversation: str,
    customer: str,
    sender: str | None,
    agent: str | None,
    text: str,
    ts_ms: int,
    flags: list[dict[str, Any]],
) -> dict[str, Any]:
    """A flagged message as the supervisor page lists it."""
    return {
        "event_id": event_id, "seq": seq, "shop": shop, "conversation": conversation, "customer": customer,
        "sender": sender, "agent": agent, "text": text, "ts_ms": ts_ms, "flags": flags,
    }  # fmt: skip


def masked_flags(flags: Sequence[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """Flags as the masked `text` shows them (privacy.mask_flags: `match` is the masked text's span at the moved
    offsets). Each flag's words masked alone showed what masking hides in the message (加我qq 11010119900 of an ID
    number) on the panel, the quality page, /v1/qa/recent and the alerts."""
    return mask_flags(flags, text)


def written_flags(written: Written) -> list[dict[str, Any]]:
    """The flags logged with a newly written message (none for other events)."""
    annotation = written.annotation
    return list(annotation.qa) if annotation is not None else []


def carried_on(conn: sqlite3.Connection, start_ms: int, end_ms: int, shop: str | None) -> set[tuple[str, str]]:
    """(shop, conversation) of each conversation with a message in [start_ms, end_ms): those of a day that went on
    the next one, which did not end on it (the day's inspection owes them no closing yet)."""
    sql = "SELECT DISTINCT shop, conversation FROM events WHERE ts_ms >= :start AND ts_ms < :end AND type = 'message'"
    params: dict[str, Any] = {"start": start_ms, "end": end_ms}
    if shop is not None:
        sql += " AND shop = :shop"
        params["shop"] = shop
    return {(s, c) for s, c in conn.execute(sql, params)}
