"""What the log says about a conversation when its timer fires (a FireContext): its reads sent together.

`send_context` puts the reads in a batch (assistant/pg/pipeline.py: on PostgreSQL one round trip for every timer of a
firing batch, where each read of each timer was one) and returns what builds the FireContext once the batch is over;
`fire_context` does both for one conversation.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from assistant import store
from assistant.followups.store import EVENT_TIME_SQL, FireContext, UnpaidOrder
from assistant.pg import Connection
from assistant.pg.pipeline import Batch, together

# Who the conversation is with and the customer's type: the conversation's, else its latest message's that has one
# (coalesce reads the messages only when the conversation has none); a row even for a conversation not known.
CONVERSATION_SQL = (
    "SELECT c.customer, c.agent, coalesce(c.customer_type, (SELECT m.customer_type FROM messages m"
    " WHERE m.shop = :shop AND m.conversation = :conversation AND m.customer_type IS NOT NULL"
    " ORDER BY m.seq DESC LIMIT 1)) AS customer_type"
    " FROM (SELECT 1 AS one) AS here LEFT JOIN conversations c ON c.shop = :shop AND c.conversation = :conversation"
)


def send_context(
    batch: Batch,
    shop: str,
    conversation: str,
    armed_seq: int,
    armed_ms: int,
    orders_since_ms: int,
    future_ms: int,
    *,
    check_superseded: bool = False,
) -> Callable[[], FireContext]:
    """Send the reads for one firing timer: who, which customer type, replied or paid since arming (by event time,
    not arrival: a reply that arrives first still counts), unpaid orders; what builds the FireContext after."""
    conv = batch.execute(CONVERSATION_SQL, {"shop": shop, "conversation": conversation})
    armed = batch.execute(
        "SELECT e.id, e.customer, e.agent, m.text FROM events e LEFT JOIN messages m ON m.seq = e.seq WHERE e.seq = ?",
        (armed_seq,),
    )
    said = batch.execute(
        "SELECT text FROM messages INDEXED BY messages_kpi_conversation WHERE shop = ? AND conversation = ?"
        " AND sender IN ('agent', 'auto') AND ts_ms >= ? ORDER BY ts_ms DESC LIMIT 50",
        (shop, conversation, orders_since_ms),
    )
    after = {"shop": shop, "conversation": conversation, "ms": armed_ms, "seq": armed_seq, "future": future_ms}
    replied = batch.execute(
        "SELECT 1 FROM events e LEFT JOIN messages m ON m.seq = e.seq WHERE e.shop = :shop"
        " AND e.conversation = :conversation AND e.ts_ms >= :ms AND (e.type = 'conversation_closed'"
        f" OR m.sender = 'customer') AND ({EVENT_TIME_SQL}, e.seq) > (:ms, :seq) LIMIT 1",
        after,
    )
    superseded = (
        batch.execute(
            "SELECT 1 FROM events e JOIN messages m ON m.seq = e.seq WHERE e.shop = :shop"
            " AND e.conversation = :conversation AND e.ts_ms >= :ms AND m.sender = 'agent' AND m.followup_id IS NULL"
            f" AND ({EVENT_TIME_SQL}, e.seq) > (:ms, :seq) LIMIT 1",
            after,
        )
        if check_superseded
        else None
    )
    # By the payment event's time as the idle clock counts it, like the arming message's `armed_ms`: compared
    # with the raw `paid_ms`, a platform clock running ahead made a payment made before the reply look later.
    paid = batch.execute(
        "SELECT 1 FROM orders o JOIN events e ON e.seq = o.paid_seq WHERE o.shop = :shop"
        f" AND o.conversation = :conversation AND ({EVENT_TIME_SQL}, o.paid_seq) > (:ms, :seq) LIMIT 1",
        after,
    )
    unpaid = batch.execute(store.UNPAID_ORDERS, (shop, conversation, orders_since_ms))
    bought = batch.execute(
        # An order whose payment came before its creation (or without one) is bought as well: by its payment's time.
        "SELECT 1 FROM orders WHERE shop = ? AND conversation = ? AND coalesce(created_ms, paid_ms) >= ?"
        " AND paid_ms IS NOT NULL LIMIT 1",
        (shop, conversation, orders_since_ms),
    )

    def context() -> FireContext:
        who, first = conv.fetchone(), armed.fetchone()
        return FireContext(
            armed_event_id=first["id"] if first is not None else None,
            customer=who["customer"] or (first["customer"] if first else None),
            agent=(first["agent"] if first is not None else None) or who["agent"],
            customer_type=who["customer_type"],
            replied=replied.fetchone() is not None,
            paid=paid.fetchone() is not None,
            unpaid=tuple(UnpaidOrder(r["order_id"], r["amount"], r["created_ms"]) for r in unpaid.fetchall()),
            superseded=superseded is not None and superseded.fetchone() is not None,
            bought=bought.fetchone() is not None,
            armed_text=first["text"] if first is not None else None,
            said=frozenset(row[0] for row in said.fetchall()),
        )

    return context


def fire_context(
    conn: sqlite3.Connection | Connection,
    shop: str,
    conversation: str,
    armed_seq: int,
    armed_ms: int,
    orders_since_ms: int,
    future_ms: int,
    *,
    check_superseded: bool = False,
) -> FireContext:
    """The FireContext of one conversation (its reads in one round trip on PostgreSQL)."""
    with together(conn) as batch:
        context = send_context(
            batch,
            shop,
            conversation,
            armed_seq,
            armed_ms,
            orders_since_ms,
            future_ms,
            check_superseded=check_superseded,
        )
    return context()
