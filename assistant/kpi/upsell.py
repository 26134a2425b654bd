"""追销 (seed 002: 卖家下单后我们再让他们买点别的): the orders an agent brought after the buyer's earlier order, and the
bonus per success that the shop's tiers pay (`[[kpi.upsell]]`, docs/kpi.md "Upsells")."""

from __future__ import annotations

import sqlite3
from decimal import ROUND_HALF_UP, Decimal

from assistant.config import KpiConfig

# An order placed in the period (created, or first paid when its creation was not logged) is an upsell when the same
# buyer placed another order in the shop within the upsell window before it, an agent wrote to the buyer after the
# first of those and before it, and it is paid as the funnel counts payments: stamped by `now` and within the payment
# window after the order, not all refunded. The credit is the agent who last wrote to the buyer before it (their
# push is the one the buyer followed). The buyer, not the conversation: a platform may open a new conversation for
# the same buyer (Chatwoot's reopened chats), and the window bounds it.
_UPSELLS = """
WITH later AS MATERIALIZED (
  SELECT o.order_id, o.customer, coalesce(o.created_ms, o.paid_ms) AS placed_ms FROM orders o
  WHERE o.shop = :shop AND (o.created_ms >= :start AND o.created_ms < :end
    OR o.created_ms IS NULL AND o.paid_ms >= :start AND o.paid_ms < :end)
), after_first AS MATERIALIZED (
  SELECT l.order_id, l.customer, l.placed_ms, (
      SELECT min(coalesce(e.created_ms, e.paid_ms)) FROM orders e
      WHERE e.shop = :shop AND e.customer = l.customer AND e.order_id <> l.order_id
        AND coalesce(e.created_ms, e.paid_ms) >= l.placed_ms - :upsell_window
        AND coalesce(e.created_ms, e.paid_ms) < l.placed_ms) AS first_ms
  FROM later l
), credited AS MATERIALIZED (
  SELECT a.order_id, a.placed_ms, (
      SELECT x.agent FROM messages x
      WHERE x.shop = :shop AND x.customer = a.customer AND x.sender = 'agent'
        AND x.ts_ms > a.first_ms AND x.ts_ms < a.placed_ms
      ORDER BY x.ts_ms DESC, x.seq DESC LIMIT 1) AS agent
  FROM after_first a WHERE a.first_ms IS NOT NULL
), money AS (
  SELECT c.agent,
    count(CASE WHEN y.cents >= 0 THEN 1 END) AS payments,
    coalesce(sum(CASE WHEN y.cents > 0 THEN y.cents END), 0) AS gross,
    coalesce(-sum(CASE WHEN y.cents < 0 THEN y.cents END), 0) AS refunded
  FROM credited c LEFT JOIN payments y ON y.shop = :shop AND y.order_id = c.order_id AND y.paid_ms <= :now
    AND y.paid_ms < c.placed_ms + :window
  WHERE c.agent IS NOT NULL
  GROUP BY c.order_id, c.agent
)
SELECT agent, count(*) FROM money WHERE payments > 0 AND (refunded = 0 OR refunded < gross) GROUP BY agent
"""


def upsells(
    conn: sqlite3.Connection, shop: str, start_ms: int, end_ms: int, *, kpi: KpiConfig, now_ms: int
) -> dict[str, int]:
    """Each agent's upsells of orders placed in [start_ms, end_ms) (the report's period), paid by `now_ms`."""
    params = {
        "shop": shop,
        "start": start_ms,
        "end": end_ms,
        "now": now_ms,
        "window": round(kpi.payment_window_hours * 3_600_000),
        "upsell_window": round(kpi.upsell_window_hours * 3_600_000),
    }
    return {str(agent): int(count) for agent, count in conn.execute(_UPSELLS, params)}


def upsell_bonus(count: int, kpi: KpiConfig) -> float:
    """Yuan for `count` upsells: each at the bonus of the highest tier whose floor the count reaches (seed 002: 10
    or more in a month pay 1 元 each, every one of them); 0 below every floor."""
    bonus = 0.0
    for tier in sorted(kpi.upsell, key=lambda t: t.min_count):
        if count >= tier.min_count:
            bonus = tier.bonus
    total = Decimal(count) * Decimal(str(bonus))
    return float(total.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
