"""The interaction log: the event writer's SQL and read queries (the schema is in schema.py).

The log lives in SQLite (a file) or PostgreSQL (`[store] url`, assistant/pg); `connect` opens either and
both answer through sqlite3's interface, so the queries below serve both.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

import msgspec

from assistant import pg
from assistant.events import Event

log = logging.getLogger(__name__)

# Where the log lives: an SQLite file, or a PostgreSQL database.
Location = Path | pg.Location


@dataclass(frozen=True)
class Annotation:
    """What the assistant computed for a customer message, logged with it."""

    intent: str | None = None
    customer_type: str | None = None
    suggestions: Sequence[dict[str, Any]] = field(
        default_factory=tuple
    )  # full suggestion JSON; logged: id, code, score
    customer_type_detail: dict[str, Any] | None = None  # not logged; kept for live panels
    qa: Sequence[dict[str, Any]] = field(default_factory=tuple)  # quality-inspection flags (assistant/qa)
    # Why it was answered without suggestions (`suggestions_withheld`, e.g. matching_busy); logged, so that a card
    # rebuilt from the log says it too
    withheld: str | None = None

    def merged(self, other: Annotation) -> Annotation:
        """This annotation with every field `other` sets (annotators each fill their own fields)."""
        changes = {f.name: getattr(other, f.name) for f in fields(other) if getattr(other, f.name)}
        return replace(self, **changes)


@dataclass(frozen=True)
class Written:
    """The outcome of logging one event."""

    event: Event
    seq: int | None
    duplicate: bool
    annotation: Annotation | None = None
    prior: int | None = None  # PostgreSQL's: the conversation's latest seq before it, as its insert saw (0: none)


BUSY_TIMEOUT_S = 5.0


def connect(
    path: Location | str, *, readonly: bool = False, busy_timeout_s: float = BUSY_TIMEOUT_S
) -> sqlite3.Connection:
    """Open the database with the pragmas the service relies on; a new file is created private (0600).

    A PostgreSQL location gives a pooled connection that speaks the same interface (assistant/pg).
    """
    if isinstance(path, pg.Location):
        return cast(sqlite3.Connection, pg.connect(path, readonly=readonly, busy_timeout_s=busy_timeout_s))
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False, isolation_level=None)
    else:
        create_private(Path(path))
        conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit survives power loss, not only a process crash; group commit keeps it cheap.
        conn.execute("PRAGMA synchronous=FULL")
    conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
    conn.row_factory = sqlite3.Row
    return conn


def dialect(conn: sqlite3.Connection) -> str:
    """'sqlite' or 'postgresql': which statements to use where the two cannot share one."""
    return "postgresql" if isinstance(conn, pg.Connection) else "sqlite"


def exists(location: Location) -> bool:
    """Whether the log is there to read (a PostgreSQL database is always assumed to be)."""
    return isinstance(location, pg.Location) or location.exists()


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    """Whether the database holds table `name` (an older or empty log may not)."""
    if dialect(conn) == "postgresql":
        sql = "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?"
    else:
        sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
    return conn.execute(sql, (name,)).fetchone() is not None


def columns(conn: sqlite3.Connection, table: str) -> list[str]:
    """The column names of `table`, in order (none if there is no such table)."""
    if dialect(conn) == "postgresql":
        sql = (
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
            " AND table_name = ? ORDER BY ordinal_position"
        )
        return [row[0] for row in conn.execute(sql, (table,))]
    return [row[1] for row in conn.execute("SELECT * FROM pragma_table_info(?)", (table,))]


def create_private(path: Path) -> None:
    """Create `path` (and its directory) readable by its owner only, unless it exists (SQLite gives the -wal and
    -shm files the mode of the database file, so they are private too)."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass  # another process created it first


class InUse(RuntimeError):
    """A service process, another or this one, holds the SQLite file (`hold_alone`)."""


# One descriptor per database file for the life of the process, never closed: closing any descriptor of a file
# drops every POSIX lock the process holds on it, SQLite's own included. The service checking its own lock that
# way (the daily log page) lost them, and the next command to close its connection took the -wal for its own and
# deleted it: every event acknowledged afterwards went into a deleted file.
_DESCRIPTORS: dict[tuple[int, int], int] = {}
_HELD: set[int] = set()


def hold_alone(path: Path) -> int:
    """Take the service's own lock on the SQLite file and return its descriptor (`let_go` it, never close it);
    raise InUse when a service process holds it, this one included. Two services on one file each armed the
    other's timers and sent every follow-up twice. The lock is `flock`, apart from SQLite's own locks: commands
    that read or write the log (report, log, simulate) do not take it and are not kept out.
    """
    create_private(path)
    fd = _descriptor(path)
    if fd in _HELD:
        raise InUse(str(path))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise InUse(str(path)) from None
    _HELD.add(fd)
    make_private(path)
    return fd


def let_go(held: int) -> None:
    """Release a `hold_alone` lock; the descriptor stays open (see _DESCRIPTORS)."""
    _HELD.discard(held)
    fcntl.flock(held, fcntl.LOCK_UN)


def _descriptor(path: Path) -> int:
    """This process's descriptor of the file at `path`, opened the first time only (an open descriptor keeps its
    file's inode number from being reused, so (device, inode) names one file)."""
    info = os.stat(path)
    fd = _DESCRIPTORS.get((info.st_dev, info.st_ino))
    if fd is None:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        opened = os.fstat(fd)  # the file may have been replaced since the stat: register what was opened
        fd = _DESCRIPTORS.setdefault((opened.st_dev, opened.st_ino), fd)
    return fd


def make_private(path: Path) -> None:
    """The database file and its -wal and -shm made readable by their owner only, when they were not (a file
    restored from a backup at 0644): others read the raw chats, and could hold a lock on the file that stopped
    the service's start or every write."""
    for each in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            mode = each.stat().st_mode & 0o777
            if mode & 0o077:
                each.chmod(mode & 0o700)
                log.warning("%s was open to other users (mode %o); made private (%o)", each, mode, mode & 0o700)
        except FileNotFoundError:
            continue


def file_identity(path: str | Path) -> tuple[int, int] | None:
    """(device, inode) of the file at `path` now, or None when there is none."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return info.st_dev, info.st_ino


def now_ms() -> int:
    return int(time.time() * 1000)


def believed(event: Event, received_ms: int, max_ahead_ms: int | None) -> Event:
    """`event` as logged: a `ts` more than `max_ahead_ms` after its receipt is not believed and is logged as the
    receipt + that much (the raw event keeps the platform's own), so that later events of that clock stay after it."""
    if max_ahead_ms is None or event.ts_ms <= received_ms + max_ahead_ms:
        return event
    return replace(event, ts_ms=received_ms + max_ahead_ms)


def insert_event(
    conn: sqlite3.Connection, event: Event, annotation: Annotation | None = None, *, max_ahead_ms: int | None = None
) -> Written:
    """Log one event and its normalized rows; a known event id is reported as a duplicate."""
    received = now_ms()
    event = believed(event, received, max_ahead_ms)
    one = _EVENTS_ONE if dialect(conn) == "sqlite" else _EVENTS_ONE_PRIOR
    rows = conn.execute(one, _event_row(event, received)).fetchall()  # read to the end: then the next
    if not rows:
        return Written(event, None, True)
    seq = int(rows[0][0])
    _normalize(conn, seq, event, annotation)
    return Written(event, seq, False, annotation, None if len(rows[0]) < 2 else int(rows[0][1] or 0))


def insert_events(
    conn: sqlite3.Connection, items: Sequence[tuple[Event, Annotation | None]], *, max_ahead_ms: int | None = None
) -> list[Written]:
    """Log events in order, as `insert_event` would one by one; on SQLite in a few statements for all of them.

    A statement per row costs more than the row: each lets the writer thread's GIL go and wait to get it back
    while the event loop is busy. Here each table gets one statement that reads its rows from one JSON array.
    """
    if len(items) < 2 or dialect(conn) != "sqlite":
        return [insert_event(conn, event, annotation, max_ahead_ms=max_ahead_ms) for event, annotation in items]
    received = now_ms()
    items = [(believed(event, received, max_ahead_ms), annotation) for event, annotation in items]
    doc = _json_rows([_event_row(event, received) for event, _ in items])
    if doc is None:  # a batch holding U+0000 goes row by row
        return [insert_event(conn, event, annotation, max_ahead_ms=max_ahead_ms) for event, annotation in items]
    before = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
    conn.execute(_EVENTS_MANY, (doc,))
    added = conn.execute("SELECT json_group_array(json_array(id, seq)) FROM events WHERE seq > ?", (before,))
    seqs: dict[str, int] = dict(json.loads(added.fetchone()[0]))
    written: list[Written] = []
    rows: dict[str, list[tuple[Any, ...]]] = {name: [] for name in _NORMALIZED}
    for event, annotation in items:
        seq = seqs.pop(event.id, None)  # popped: the same id again later in the batch is a duplicate
        if seq is None:
            written.append(Written(event, None, True))
            continue
        written.append(Written(event, seq, False, annotation))
        table, row = _normalized_row(seq, event, annotation)
        if table is not None:
            rows[table].append(row)
        if event.type in _MONEY_TYPES:
            rows["payments"].append(_payment_row(seq, event))
        rows["conversations"].append(_conversation_row(event, annotation))
    for table, sql in _NORMALIZED.items():  # the conversations last, as insert_event touches them
        _insert_rows(conn, sql, _COLUMNS[table], rows[table])
    return written


def _insert_rows(conn: sqlite3.Connection, sql: str, columns: str, rows: Sequence[Sequence[Any]]) -> None:
    """Run an INSERT (or upsert) for each row, in order; `sql` holds a `{values}` slot for the rows.

    On SQLite one statement reads all the rows from one JSON array (see `insert_events`); elsewhere, or when a
    value holds U+0000, executemany.
    """
    if not rows:
        return
    doc = _json_rows(rows) if len(rows) > 1 and dialect(conn) == "sqlite" else None
    if doc is not None:
        conn.execute(_statement(sql, columns, many=True), (doc,))
    else:
        conn.executemany(_statement(sql, columns, many=False), rows)


def _json_rows(rows: Sequence[Sequence[Any]]) -> bytes | None:
    """The rows as one JSON array for `_from_json`; None if a value holds U+0000 (SQLite's JSON ends a string there)."""
    doc = _JSON.encode(rows)
    return None if b"\\u0000" in doc else doc


@lru_cache(maxsize=64)
def _statement(sql: str, columns: str, *, many: bool) -> str:
    return sql.format(values=_from_json(columns) if many else f"VALUES ({_marks(columns)})")


_JSON = msgspec.json.Encoder()
_EVENT_COLUMNS = "id, type, ts_ms, shop, conversation, customer, agent, received_ms, raw"
_COLUMNS = {
    "messages": "seq, shop, conversation, customer, sender, agent, text, ts_ms, followup_id, intent, customer_type,"
    " suggestions, qa, suggestions_withheld",
    "order_created": "shop, order_id, customer, conversation, agent, amount, created_ms, created_seq",
    "order_paid": "shop, order_id, customer, conversation, agent, paid_ms, paid_amount, paid_seq",
    "payments": "shop, order_id, paid_ms, cents, seq",
    "suggestion_uses": "seq, shop, conversation, customer, agent, phrase_id, ts_ms",
    "order_closed": "shop, order_id, customer, conversation, agent, closed_ms, closed_seq",
    "conversations": "shop, conversation, customer, agent, status, opened_ms, last_ts_ms, last_customer_ms,"
    " last_agent_ms, closed_ms, customer_type",
}


def _marks(columns: str) -> str:
    return ", ".join("?" * (columns.count(",") + 1))


def _from_json(columns: str) -> str:
    """The rows of a JSON array of arrays (the statement's one parameter), one column per element."""
    picks = ", ".join(f"value ->> {i}" for i in range(columns.count(",") + 1))
    return f"SELECT {picks} FROM json_each(?) WHERE true"  # WHERE: an upsert's ON CONFLICT then parses


# Each normalized table's INSERT; {values} is a VALUES list for one row, or _from_json's SELECT for many.
_NORMALIZED = {
    "messages": f"INSERT INTO messages ({_COLUMNS['messages']}) {{values}}",
    # Created and paid commute (each upsert sets only its own fields, or keeps the first value): a batch
    # may run all its creations before its payments.
    "order_created": f"INSERT INTO orders ({_COLUMNS['order_created']}) {{values}}"
    " ON CONFLICT (shop, order_id) DO UPDATE SET customer = excluded.customer,"
    " conversation = excluded.conversation, agent = coalesce(excluded.agent, orders.agent),"
    " amount = excluded.amount, created_ms = excluded.created_ms, created_seq = excluded.created_seq",
    "order_paid": f"INSERT INTO orders ({_COLUMNS['order_paid']}) {{values}}"
    " ON CONFLICT (shop, order_id) DO UPDATE SET agent = coalesce(orders.agent, excluded.agent),"
    " paid_ms = CASE WHEN orders.paid_ms IS NULL OR excluded.paid_ms < orders.paid_ms"
    " THEN excluded.paid_ms ELSE orders.paid_ms END,"
    " paid_amount = coalesce(orders.paid_amount, excluded.paid_amount),"
    " paid_seq = coalesce(orders.paid_seq, excluded.paid_seq)",
    # Every payment (deposit and balance) and refund of the order, one row each; the same one again adds nothing.
    "payments": f"INSERT INTO payments ({_COLUMNS['payments']}) {{values}} ON CONFLICT DO NOTHING",
    "suggestion_uses": f"INSERT INTO suggestion_uses ({_COLUMNS['suggestion_uses']}) {{values}}",
    # An order closed (cancelled, or closed unpaid by the platform): out of the payment reminders. Its first
    # closing stands; it may come before the order's creation.
    "order_closed": f"INSERT INTO orders ({_COLUMNS['order_closed']}) {{values}}"
    " ON CONFLICT (shop, order_id) DO UPDATE SET closed_ms = coalesce(orders.closed_ms, excluded.closed_ms),"
    " closed_seq = coalesce(orders.closed_seq, excluded.closed_seq)",
    # Last: it runs once per event, after the event's own row, as insert_event does.
    "conversations": f"INSERT INTO conversations ({_COLUMNS['conversations']}) {{values}}"
    " ON CONFLICT (shop, conversation) DO UPDATE SET"
    " agent = CASE WHEN excluded.agent IS NOT NULL AND excluded.last_ts_ms >= conversations.last_ts_ms"
    "   THEN excluded.agent ELSE coalesce(conversations.agent, excluded.agent) END,"
    " opened_ms = min(conversations.opened_ms, excluded.opened_ms),"
    " last_ts_ms = max(conversations.last_ts_ms, excluded.last_ts_ms),"
    " last_customer_ms = max(coalesce(conversations.last_customer_ms, 0), coalesce(excluded.last_customer_ms, 0)),"
    " last_agent_ms = max(coalesce(conversations.last_agent_ms, 0), coalesce(excluded.last_agent_ms, 0)),"
    " closed_ms = CASE WHEN excluded.closed_ms IS NOT NULL THEN excluded.closed_ms ELSE conversations.closed_ms END,"
    # A closure stamped before the conversation's latest message (it arrived late) closes nothing.
    " status = CASE WHEN excluded.closed_ms IS NOT NULL AND excluded.closed_ms"
    "   >= max(coalesce(conversations.last_customer_ms, 0), coalesce(conversations.last_agent_ms, 0)) THEN 'closed'"
    "   WHEN excluded.status = 'open' AND excluded.last_ts_ms > coalesce(conversations.closed_ms, 0)"
    "     AND (excluded.last_customer_ms IS NOT NULL OR excluded.last_agent_ms IS NOT NULL) THEN 'open'"
    "   ELSE conversations.status END,"
    " customer_type = coalesce(excluded.customer_type, conversations.customer_type)",
}
_EVENTS_ONE = (
    f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES ({_marks(_EVENT_COLUMNS)}) ON CONFLICT (id) DO NOTHING RETURNING seq"
)
_EVENTS_ONE_PRIOR = f"{_EVENTS_ONE}, (SELECT max(p.seq) FROM events p WHERE p.shop = events.shop AND p.conversation = events.conversation AND p.seq < events.seq)"  # fmt: skip
_EVENTS_MANY = f"INSERT INTO events ({_EVENT_COLUMNS}) {_from_json(_EVENT_COLUMNS)} ON CONFLICT (id) DO NOTHING"


def _event_row(event: Event, received_ms: int) -> tuple[Any, ...]:
    return (
        event.id,
        event.type,
        event.ts_ms,
        event.shop,
        event.conversation,
        event.customer,
        event.agent,
        received_ms,
        _JSON.encode(event.raw).decode(),  # compact, Chinese as UTF-8: json.dumps' output, faster
    )


def _normalize(conn: sqlite3.Connection, seq: int, event: Event, annotation: Annotation | None) -> None:
    table, row = _normalized_row(seq, event, annotation)
    if table is not None:
        conn.execute(_statement(_NORMALIZED[table], _COLUMNS[table], many=False), row)
    if event.type in _MONEY_TYPES:
        conn.execute(_statement(_NORMALIZED["payments"], _COLUMNS["payments"], many=False), _payment_row(seq, event))
    conn.execute(
        _statement(_NORMALIZED["conversations"], _COLUMNS["conversations"], many=False),
        _conversation_row(event, annotation),
    )


def _normalized_row(seq: int, event: Event, annotation: Annotation | None) -> tuple[str | None, tuple[Any, ...]]:
    """The table an event's own row goes to (None: only the conversation's), and the row."""
    if event.type == "message":
        ann = annotation or Annotation()
        qa = json.dumps(list(ann.qa), ensure_ascii=False, separators=(",", ":")) if ann.qa else None
        return "messages", (
            seq,
            event.shop,
            event.conversation,
            event.customer,
            event.sender,
            event.agent,
            event.text,
            event.ts_ms,
            event.followup_id,
            ann.intent,
            ann.customer_type,
            _logged_suggestions(ann.suggestions),
            qa,
            ann.withheld,
        )
    if event.type == "order_created":
        who = (event.shop, event.order, event.customer, event.conversation, event.agent)
        return "order_created", (*who, event.amount, event.ts_ms, seq)
    if event.type == "order_paid":
        who = (event.shop, event.order, event.customer, event.conversation, event.agent)
        return "order_paid", (*who, event.ts_ms, event.amount, seq)
    if event.type == "order_closed":
        return "order_closed", (
            event.shop,
            event.order,
            event.customer,
            event.conversation,
            event.agent,
            event.ts_ms,
            seq,
        )
    if event.type == "suggestion_used":
        return "suggestion_uses", (
            seq,
            event.shop,
            event.conversation,
            event.customer,
            event.agent,
            event.phrase_id,
            event.ts_ms,
        )
    return None, ()


# The events that move an order's money: a payment is a row of its fen, a refund (`order_refunded`) a row of its fen
# below zero, so that the same refund notified twice is one row too and an order's rows add up to what it kept.
_MONEY_TYPES = ("order_paid", "order_refunded")


def _payment_row(seq: int, event: Event) -> tuple[Any, ...]:
    fen = cents(event.amount or 0.0)
    return (event.shop, event.order, event.ts_ms, -fen if event.type == "order_refunded" else fen, seq)


# What an order was paid and not refunded before one of its refunds, in fen (below 0: refunds before took more than
# was paid), NULL when no payment of the order is logged: the report and the daily log take no more than this off
# (docs/kpi.md). Every payment counts, whenever it is stamped (a refund may be delivered before its payment); the
# refunds before are those stamped before it, or at its time and logged first. One definition for both.
REFUNDABLE = (
    "(SELECT CASE WHEN count(CASE WHEN y.cents > 0 THEN 1 END) > 0 THEN sum(CASE WHEN y.cents > 0"
    " OR y.paid_ms < {ts} OR y.paid_ms = {ts} AND y.seq < {seq} THEN y.cents ELSE 0 END) END"
    " FROM payments y WHERE y.shop = {shop} AND y.order_id = {order})"
)


def refundable_cents(conn: sqlite3.Connection, shop: str, order: str, ts_ms: int, fen: int) -> int | None:
    """`REFUNDABLE` for a refund of `fen` logged (the same refund notified again is the first notification)."""
    first = "(SELECT x.seq FROM payments x WHERE x.shop = :shop AND x.order_id = :order AND x.paid_ms = :ts AND x.cents = :neg)"
    sql = "SELECT " + REFUNDABLE.format(ts=":ts", seq=first, shop=":shop", order=":order")
    value = conn.execute(sql, {"ts": ts_ms, "neg": -fen, "shop": shop, "order": order}).fetchone()[0]
    return None if value is None else int(value)


def cents(amount: float) -> int:
    """Yuan (≥ 0) in fen, rounded half up with the float arithmetic of schema.PAYMENTS' SQL."""
    return int(amount * 100 + 0.5)


def _logged_suggestions(suggestions: Sequence[dict[str, Any]]) -> str | None:
    if not suggestions:
        return None
    kept = [{"phrase_id": s["phrase_id"], "code": s.get("code"), "score": s.get("score")} for s in suggestions]
    return json.dumps(kept, ensure_ascii=False)


def _conversation_row(event: Event, annotation: Annotation | None) -> tuple[Any, ...]:
    is_customer = event.type == "message" and event.sender == "customer"
    is_agent = event.type == "message" and event.sender == "agent"
    closed = event.type == "conversation_closed"
    return (
        event.shop,
        event.conversation,
        event.customer,
        event.agent,
        "closed" if closed else "open",
        event.ts_ms,
        event.ts_ms,
        event.ts_ms if is_customer else None,
        event.ts_ms if is_agent else None,
        event.ts_ms if closed else None,
        annotation.customer_type if annotation else None,
    )


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:  # SQLite itself rolls a transaction back on a full disk or an I/O error
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


# ---- reads -------------------------------------------------------------------------------------


def conversation_messages(
    conn: sqlite3.Connection, shop: str, conversation: str, *, limit: int = 200
) -> list[sqlite3.Row]:
    """The latest messages of a conversation, oldest first."""
    # Found by conversation, then sorted: ordered by time alone, the shop's messages would be walked back from
    # the newest until this conversation's were found (there is no index by conversation and time, schema.py).
    rows = conn.execute(
        "SELECT * FROM (SELECT seq, sender, agent, text, ts_ms, followup_id, intent, customer_type, suggestions, qa,"
        " suggestions_withheld FROM messages INDEXED BY messages_kpi_conversation WHERE shop = ? AND conversation = ?"
        " ORDER BY ts_ms DESC, seq DESC LIMIT ?) AS latest ORDER BY ts_ms, seq",
        (shop, conversation, limit),
    ).fetchall()
    return list(rows)


def open_orders(conn: sqlite3.Connection, shop: str, conversation: str) -> list[sqlite3.Row]:
    """Every order of a conversation with its payment state, newest first."""
    return list(
        conn.execute(
            "SELECT order_id, amount, created_ms, paid_ms FROM orders WHERE shop = ? AND conversation = ?"
            " ORDER BY created_ms DESC LIMIT 50",
            (shop, conversation),
        )
    )


UNPAID_ORDERS = (  # (shop, conversation, since_ms): also sent with the other reads of a firing follow-up
    "SELECT * FROM orders WHERE shop = ? AND conversation = ? AND created_ms >= ? AND paid_ms IS NULL"
    " AND closed_ms IS NULL ORDER BY created_ms DESC"
)


def unpaid_orders(conn: sqlite3.Connection, shop: str, conversation: str, since_ms: int) -> list[sqlite3.Row]:
    """Orders created in a conversation since `since_ms` that have no payment and were not closed."""
    return list(conn.execute(UNPAID_ORDERS, (shop, conversation, since_ms)))


def adoption_counts(conn: sqlite3.Connection, shop: str) -> tuple[dict[str, int], int]:
    """How often agents of a shop used each phrase, and the latest use's seq they count (0: none)."""
    row = conn.execute("SELECT max(seq) FROM suggestion_uses WHERE shop = ?", (shop,)).fetchone()
    through = int(row[0] or 0)
    sql = "SELECT phrase_id, count(*) FROM suggestion_uses WHERE shop = ? AND seq <= ? GROUP BY phrase_id"
    return {r[0]: int(r[1]) for r in conn.execute(sql, (shop, through))}, through


def open_conversations(
    conn: sqlite3.Connection, *, agent: str | None = None, quiet_ms: int | None = None
) -> list[sqlite3.Row]:
    """Open conversations, optionally of one agent, the most recently active 500; with `quiet_ms`, only those
    with an event in the `quiet_ms` before `log_now_ms`."""
    sql = "SELECT * FROM conversations WHERE status = 'open'"
    params: list[Any] = []
    if agent is not None:
        sql += " AND agent = ?"
        params.append(agent)
    if quiet_ms is not None:
        sql += " AND last_ts_ms >= ?"
        params.append(log_now_ms(conn) - quiet_ms)
    sql += " ORDER BY last_ts_ms DESC LIMIT 500"
    return list(conn.execute(sql, params))


def log_now_ms(conn: sqlite3.Connection) -> int:
    """Now on the conversations' clock: the newest time stamped on an event (one step of the events_ts index;
    not the last event logged, which may be a late delivery of an old one), or the wall clock when that is
    later than the newest (an empty log, a replay of an old day) or when a platform's clock runs ahead."""
    row = conn.execute("SELECT max(ts_ms) FROM events").fetchone()
    now = now_ms()
    return now if row is None or row[0] is None else min(now, int(row[0]))


def has_events_except(conn: sqlite3.Connection, shop: str, conversation: str, id_prefixes: Sequence[str]) -> bool:
    """Whether the conversation holds an event whose id starts with none of `id_prefixes`."""
    sql = "SELECT 1 FROM events WHERE shop = ? AND conversation = ?"
    for _ in id_prefixes:
        sql += " AND substr(id, 1, ?) != ?"
    params: list[Any] = [shop, conversation]
    for prefix in id_prefixes:
        params += [len(prefix), prefix]
    return conn.execute(sql + " LIMIT 1", params).fetchone() is not None
