"""One conversation's rows as the daily log reads them: the SQL of a conversation's day (with the moments before it
and its first reply after the lookahead) and the thread that reads conversation after conversation ahead of the
annotating one."""

from __future__ import annotations

import queue
import re
import sqlite3
import threading
from collections.abc import Generator, Iterable, Iterator
from typing import Any, NamedTuple

from assistant import store
from assistant.daylog.interrupts import stop_if_stopping
from assistant.daylog.search import Key

Row = tuple[Any, ...]
# Follow-up states not shown: nothing happened (yet) that a supervisor reads.
HIDDEN_FOLLOWUP_STATES = ("pending", "cancelled")
HIDDEN_SQL = "(" + ", ".join(f"'{s}'" for s in HIDDEN_FOLLOWUP_STATES) + ")"


class Listing(NamedTuple):
    """The SQL that lists the day's conversations, and its parameters (less the day's bounds)."""

    sql: str
    params: dict[str, Any]


# A conversation's first human reply after the lookahead and before the reply horizon: one seek of the
# (shop, conversation, sender, ts_ms) index, so a burst answered the next morning shows its wait, not 未回复.
_LATE_REPLY = (
    " UNION ALL SELECT * FROM (SELECT m.ts_ms, m.seq, NULL, 'late_reply', NULL, m.agent, 'agent', NULL, NULL, NULL,"
    " NULL, NULL, NULL, NULL, NULL, NULL, 0, CAST(NULL AS BIGINT) FROM messages m"
    " WHERE m.shop = :shop AND m.conversation = :conversation"
    " AND m.sender = 'agent' AND m.ts_ms >= :horizon AND m.ts_ms < :late ORDER BY m.ts_ms LIMIT 1) AS late"
)


# An order_closed: whether its order had been paid by then (its first payment, through the orders' key): a paid order
# closed shows so, not as an unpaid one closing (docs/daily-log.md); its money changes only with a refund. An
# order_refunded: what its order was paid and not refunded before it (store.REFUNDABLE, as the report counts it).
_ORDER_STATE = (
    " CASE WHEN e.type = 'order_closed' THEN CASE WHEN EXISTS (SELECT 1 FROM orders o WHERE o.shop = e.shop"
    " AND o.order_id = json_extract(e.raw, '$.order') AND o.paid_ms <= e.ts_ms) THEN 1 ELSE 0 END"
    " WHEN e.type = 'order_refunded' THEN "
    + store.REFUNDABLE.format(ts="e.ts_ms", seq="e.seq", shop="e.shop", order="json_extract(e.raw, '$.order')")
    + " END"
)
# A payment's or a refund's order: when it was placed (created, or first paid when its creation was not logged), which
# the payment window runs from, as the report counts them (kpi/funnel.py).
_PLACED = (
    " CASE WHEN e.type IN ('order_paid', 'order_refunded') THEN (SELECT coalesce(o.created_ms, o.paid_ms) FROM orders o"
    " WHERE o.shop = e.shop AND o.order_id = json_extract(e.raw, '$.order')) END"
)


# The conversation's customer messages in the moments before the day: a copy of one stamped just after midnight is
# known as a copy (rules.CustomerCopies), as the report knows it. One seek of the (shop, conversation, ts_ms) index.
_BEFORE_DAY = (
    " UNION ALL SELECT m.ts_ms, m.seq, NULL, 'before_day', m.customer, NULL, 'customer', m.text, NULL, NULL, NULL,"
    " NULL, NULL, NULL, NULL, NULL, 0, CAST(NULL AS BIGINT) FROM messages m"
    " WHERE m.shop = :shop AND m.conversation = :conversation"
    " AND m.sender = 'customer' AND m.ts_ms >= :copy_from AND m.ts_ms < :start"
)


def _thread_body(followups: bool) -> str:
    """The rows of the conversation `:shop`, `:conversation`, unordered (see `thread_sql`)."""
    sql = (
        "SELECT e.ts_ms, e.seq, e.id, e.type, e.customer, e.agent, m.sender, m.text, m.intent, m.customer_type,"
        " m.suggestions, m.followup_id,"
        " CASE WHEN e.type IN ('order_created', 'order_paid', 'order_closed', 'order_refunded', 'suggestion_used')"
        " THEN e.raw END,"
        + (" f.state, f.kind" if followups else " NULL, NULL")
        + ", m.qa,"
        + _ORDER_STATE
        + ","
        + _PLACED
        + " FROM events e LEFT JOIN messages m ON m.seq = e.seq"
        + (" LEFT JOIN followups f ON f.id = m.followup_id" if followups else "")
        + " WHERE e.shop = :shop AND e.conversation = :conversation AND e.ts_ms >= :start AND e.ts_ms < :horizon"
    )
    if not followups:
        return f"{sql}{_LATE_REPLY}{_BEFORE_DAY}"
    return (
        f"{sql}{_LATE_REPLY}{_BEFORE_DAY} UNION ALL"
        " SELECT f.fired_ms, NULL, f.id, 'followup', f.customer, f.agent, 'auto', f.text,"
        " NULL, NULL, NULL, f.id, NULL, f.state, f.kind, NULL, 0, CAST(NULL AS BIGINT) FROM followups f"
        " WHERE f.shop = :shop AND f.conversation = :conversation AND f.fired_ms >= :start AND f.fired_ms < :end"
        f" AND f.state NOT IN {HIDDEN_SQL}"
        " AND NOT EXISTS (SELECT 1 FROM messages mm WHERE mm.followup_id = f.id)"
    )


def thread_sql(followups: bool) -> str:
    """One conversation's rows from the start of the day to the lookahead horizon (read by position), its customer
    messages just before the day, and its first human reply after the horizon; in time order, then arrival order
    (then by id: two follow-ups of one moment come in one order whichever statement reads them)."""
    return f"SELECT * FROM ({_thread_body(followups)}) AS thread ORDER BY 1, 2, 3"


_KEY = re.compile(r":(shop|conversation)\b")


def threads_sql(followups: bool) -> str:
    """`thread_sql` of several conversations in one statement (PostgreSQL): the arrays `:shops` and
    `:conversations` name them, each row led by its conversation's place in them (from 1), rows in that order, each
    conversation's as `thread_sql` orders them. The same index seeks per conversation, in one round trip."""
    body = _KEY.sub(lambda found: f"k.{found.group(1)}", _thread_body(followups))
    return (
        "SELECT k.ord, thread.* FROM unnest(CAST(:shops AS TEXT[]), CAST(:conversations AS TEXT[]))"
        f" WITH ORDINALITY AS k(shop, conversation, ord) CROSS JOIN LATERAL ({body}) AS thread ORDER BY 1, 2, 3, 4"
    )


def followup_columns(conn: sqlite3.Connection) -> bool:
    """Whether the follow-ups table (from the follow-up feature) is there with the columns used here."""
    if not store.has_table(conn, "followups"):
        return False
    columns = set(store.columns(conn, "followups"))
    return {"id", "shop", "conversation", "customer", "agent", "kind", "text", "state", "fired_ms"} <= columns


# ---- annotation ----------------------------------------------------------------------------------


_BATCH = 512  # rows handed from the reading thread to the annotating one at a time


ConversationRows = tuple[str, str, list[Row]]  # (shop, conversation, its rows in time order)


# PostgreSQL: conversations read per statement. One statement each was one round trip each: on a big day's inspection
# (3,001 conversations) 25 of its 45 s were the reading thread waiting on the server. SQLite, in this process, reads
# one conversation per statement as fast (bench_qa_day, bench_daylog; docs/daily-log.md, "Speed").
CONVERSATIONS_PER_STATEMENT = {"sqlite": 1, "postgresql": 100}


def _threads_here(
    conn: sqlite3.Connection, listing: Listing | Iterable[Key], followups: bool, window: dict[str, int]
) -> Generator[ConversationRows, None, None]:
    """Each conversation with its rows, in order, read in this thread."""
    outer = conn.cursor()
    outer.row_factory = None
    inner = conn.cursor()
    inner.row_factory = None
    keys: Iterable[Key]
    if isinstance(listing, Listing):
        keys = ((shop, conv) for shop, conv, _first in outer.execute(listing.sql, {**listing.params, **window}))
    else:
        keys = listing
    per_statement = CONVERSATIONS_PER_STATEMENT[store.dialect(conn)]
    try:
        if per_statement == 1:
            sql = thread_sql(followups)
            for shop, conversation in keys:
                rows = inner.execute(sql, {**window, "shop": shop, "conversation": conversation}).fetchall()
                yield shop, conversation, rows
            return
        sql = threads_sql(followups)
        for chunk in _chunks(keys, per_statement):
            shops, conversations = [shop for shop, _c in chunk], [conversation for _s, conversation in chunk]
            rows = inner.execute(sql, {**window, "shops": shops, "conversations": conversations}).fetchall()
            yield from _each_conversation(chunk, rows)
    finally:
        # The listing's statement reset now: left pending (its cursor kept alive by an error's traceback until the
        # collector came), it held the day's snapshot after the connection's close, and the writer's checkpoint
        # at the stop waited [store] busy_timeout_s for it. (PostgreSQL's statements end with their transaction.)
        for cursor in (outer, inner) if isinstance(outer, sqlite3.Cursor) else ():
            cursor.close()


def _chunks(keys: Iterable[Key], size: int) -> Iterator[list[Key]]:
    """The keys, `size` at a time (the listing read on as the statements go: no more of the day held than that)."""
    chunk: list[Key] = []
    for key in keys:
        chunk.append(key)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _each_conversation(chunk: list[Key], rows: list[Row]) -> Iterator[ConversationRows]:
    """`threads_sql`'s rows (each led by its conversation's place in `chunk`, from 1) as each conversation's own."""
    at = 0
    for place, (shop, conversation) in enumerate(chunk, 1):
        own: list[Row] = []
        while at < len(rows) and rows[at][0] == place:
            own.append(rows[at][1:])
            at += 1
        yield shop, conversation, own


def read_threads(
    conn: sqlite3.Connection,
    listing: Listing | Iterable[Key],
    followups: bool,
    window: dict[str, int],
) -> Generator[ConversationRows, None, None]:
    """Each conversation with its rows, in order, read by a helper thread.

    SQLite releases the GIL while it searches and sorts, so reading the next conversations overlaps
    with annotating and writing the previous ones. The hand-off queue is bounded: memory stays flat.
    """
    handoff: queue.Queue[list[ConversationRows] | BaseException | None] = queue.Queue(maxsize=8)
    stop = threading.Event()

    def put(value: list[ConversationRows] | BaseException | None) -> bool:
        while not stop.is_set():
            try:
                handoff.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        threads = _threads_here(conn, listing, followups, window)
        try:
            batch: list[ConversationRows] = []
            size = 0
            for thread in threads:
                batch.append(thread)
                size += len(thread[2])
                if size >= _BATCH:
                    if not put(batch):
                        return
                    batch, size = [], 0
            if batch and not put(batch):
                return
            put(None)
        except BaseException as exc:  # handed over, and raised in the consuming generator
            put(exc)
        finally:
            threads.close()  # its cursors closed, whatever holds this frame (the error's traceback)

    reader = threading.Thread(target=read, name="daylog-reader", daemon=True)
    reader.start()
    try:
        while True:
            got = handoff.get()
            if got is None:
                return
            if isinstance(got, BaseException):
                raise got
            # The reader, its hand-off full, starts no statement to be interrupted at the stop while this thread
            # works through the batches queued: it ends here instead, its snapshot released (daylog/interrupts.py).
            stop_if_stopping()
            yield from got
    finally:
        stop.set()
        reader.join()
