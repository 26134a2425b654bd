"""The refunds no day's figures hold: stamped after their order's payment window (docs/kpi.md, "Late refunds").

A day's figures stay final, so a refund after its order's window (after delivery, under 7天无理由退货) never
changes the order's day. A report says the ones stamped on its days, beside the figures and not in them, per agent
credited with the order and for the team (the commission is the supervisor's to adjust), each counted as the daily
log counts it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from assistant import store
from assistant.clock import local_day
from assistant.kpi.figures import UNASSIGNED, Window
from assistant.kpi.queries import customers_of_day
from assistant.schema import PAYMENT_SOURCE

# The refund events stamped in the period, once each (the first notification: the payments row's seq), whose
# order was placed (created, or first paid) at least the payment window before them; what each takes back is
# what its order was paid and not refunded before it (store.REFUNDABLE, as the daily log says it).
_LATE = """
SELECT p.order_id, p.paid_ms, -p.cents, r.agent, coalesce(r.created_ms, r.paid_ms), {refundable}, r.customer
FROM events e
JOIN payments p ON p.shop = e.shop AND p.order_id = {order} AND p.paid_ms = e.ts_ms AND p.seq = e.seq
JOIN orders r ON r.shop = p.shop AND r.order_id = p.order_id
WHERE e.shop = :shop AND e.ts_ms >= :start AND e.ts_ms < :end AND e.ts_ms <= :now AND e.type = 'order_refunded'
  AND p.cents < 0 AND p.paid_ms >= coalesce(r.created_ms, r.paid_ms) + :window
ORDER BY p.paid_ms, p.seq
"""


@dataclass(frozen=True)
class LateRefund:
    """One refund after its order's payment window: `cents` asked, `counted_cents` what it takes back."""

    order: str
    ts_ms: int
    cents: int
    counted_cents: int  # no more than the order was paid and not refunded before it; 0: no payment logged
    placed_ms: int
    agent: str | None  # the order's agent as logged (the credit may differ: its day's funnel decides it)
    customer: str = ""
    credited: str = UNASSIGNED  # the agent credited with the order, as a report of its day credits it (`credit`)

    def to_json(self) -> dict[str, Any]:
        return {
            "order": self.order,
            "ts_ms": self.ts_ms,
            "amount": self.cents / 100,
            "counted": self.counted_cents / 100,
            "placed_ms": self.placed_ms,
            "agent": self.agent,
            "credited_to": self.credited,
        }


def late_refunds(
    conn: sqlite3.Connection, shop: str, start_ms: int, end_ms: int, *, window_ms: int, now_ms: int
) -> list[LateRefund]:
    """The refunds of `shop` stamped in [start_ms, end_ms) and by `now_ms`, after their order's window."""
    if not store.has_table(conn, "payments"):
        return []
    order = PAYMENT_SOURCE[store.dialect(conn)][0].replace("raw", "e.raw")
    refundable = store.REFUNDABLE.format(ts="p.paid_ms", seq="p.seq", shop="p.shop", order="p.order_id")
    params = {"shop": shop, "start": start_ms, "end": end_ms, "now": now_ms, "window": window_ms}
    found = []
    for order_id, ts_ms, fen, agent, placed_ms, left, customer in conn.execute(
        _LATE.format(order=order, refundable=refundable), params
    ):
        counted = 0 if left is None else max(0, min(int(fen), int(left)))
        found.append(LateRefund(str(order_id), int(ts_ms), int(fen), counted, int(placed_ms), agent, str(customer)))
    return found


def credit(
    refunds: list[LateRefund],
    connect: Callable[[], sqlite3.Connection],
    shop: str,
    tz: ZoneInfo,
    window_of: Callable[[date], Window],
    **ms: int,
) -> list[LateRefund]:
    """Each refund with the agent credited with its order, as a report credits orders: a day credits those placed
    until the end of the next, so the day before the order's credits it when an inquiry of its own is behind it
    (a range credits an order on the earliest day that does), else the order's day (an order that follows no
    inquiry keeps the agent it names). Only the orders' customers are read, on those days (`customers_of_day`);
    `ms`: slow_ms, recovery_ms, now_ms."""
    placed = {r.order: local_day(r.placed_ms, tz) for r in refunds}
    days: dict[date, set[str]] = {}
    for r in refunds:
        for day in (placed[r.order] - timedelta(days=1), placed[r.order]):
            days.setdefault(day, set()).add(r.customer)
    credits = {day: customers_of_day(connect, shop, window_of(day), customers=sorted(who), **ms).credits for day, who in days.items()}  # fmt: skip
    out = []
    for r in refunds:
        before = credits[placed[r.order] - timedelta(days=1)].get(r.order)
        own = credits[placed[r.order]].get(r.order)
        agent = before[0] if before and before[1] else own[0] if own else r.agent or UNASSIGNED
        out.append(replace(r, credited=agent))
    return out
