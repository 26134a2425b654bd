"""The 询单 funnel's SQL: which customers are inquiries, which orders are theirs and to whom (docs/kpi.md).

Run by kpi/queries.py after the day's bursts are in temp.kpi_bursts: PAIRS, then CREDITED, then FUNNEL.
"""

from __future__ import annotations

# Per customer–agent pair, then per agent: consulted, served, messages, responses, and the funnel:
# 询单 (no order before the pair's first message of the day), 下单 (an order credited to the agent after
# that message, before the horizon), 付款 (that order paid), 询单销售额 (those payments, less their refunds).
# The pairs are kept in a scratch table: the orders are credited from it, and a day of a range reads from it
# which orders of D+1 it credited. An order known only by its payment (its creation event lost) existed by then.
PAIRS = """
WITH pairs AS MATERIALIZED (
  SELECT owner, customer, sum(n) AS msgs, sum(shown) AS shown, min(start_ms) AS t0,
    CASE WHEN count(wait_ms) > 0 THEN 1 ELSE 0 END AS served,
    sum(counted) AS bursts, count(CASE WHEN counted = 1 THEN wait_ms END) AS responses,
    sum(CASE WHEN counted = 1 THEN wait_ms END) AS response_ms, sum(slow) AS slow,
    count(CASE WHEN first = 1 THEN wait_ms END) AS firsts, sum(CASE WHEN first = 1 THEN wait_ms END) AS first_ms
  FROM temp.kpi_bursts GROUP BY owner, customer
)
INSERT INTO temp.kpi_pairs
  (owner, customer, msgs, shown, t0, served, bursts, responses, response_ms, slow, firsts, first_ms, inquiry)
SELECT p.*, CASE WHEN NOT EXISTS (
    SELECT 1 FROM orders o WHERE o.shop = :shop AND o.customer = p.customer
      AND (o.created_ms < p.t0 OR o.created_ms IS NULL AND o.paid_ms < p.t0)
  ) THEN 1 ELSE 0 END
FROM pairs p
"""

# Orders created D..D+1 (or, with no creation logged, first paid then), credited (下单判定) to one of the agents
# whose inquiry the order follows (the pair's first message before it): the order's agent if it is one of them,
# else the one of them who last wrote to the customer before the order, else the one whose inquiry began last.
# So no inquiry's order is lost to an agent who never had the customer. An order that follows no inquiry keeps
# its own agent (it counts in no figure). Its money is its payments and refunds (the payments table: a refund is a
# row below zero) stamped by `now` and within the payment window after the order was placed, each once; later ones
# never reach the day, so a day is final once the window has passed after its horizon (docs/kpi.md). It is paid
# when it has such a payment and they were not all refunded; its refunds are what they took back of its payments.
# In a range, /*excluded*/ leaves out the orders the day before credited.
CREDITED = """
WITH o AS MATERIALIZED (
  SELECT r.order_id, r.customer, r.agent, coalesce(r.created_ms, r.paid_ms) AS placed_ms,
    count(CASE WHEN y.cents >= 0 THEN 1 END) AS payments,
    coalesce(sum(CASE WHEN y.cents > 0 THEN y.cents END), 0) AS gross,
    coalesce(-sum(CASE WHEN y.cents < 0 THEN y.cents END), 0) AS refunded
  FROM orders r LEFT JOIN payments y ON y.shop = r.shop AND y.order_id = r.order_id AND y.paid_ms <= :now
    AND y.paid_ms < coalesce(r.created_ms, r.paid_ms) + :window
  WHERE r.shop = :shop AND (r.created_ms >= :ds AND r.created_ms < :he
    OR r.created_ms IS NULL AND r.paid_ms >= :ds AND r.paid_ms < :he) /*excluded*/
  GROUP BY r.order_id, r.customer, r.agent, r.created_ms, r.paid_ms
)
INSERT INTO temp.kpi_orders (order_id, customer, agent, created_ms, paid, cents, refunded)
SELECT o.order_id, o.customer, coalesce(
    (SELECT p.owner FROM temp.kpi_pairs p
     WHERE p.customer = o.customer AND p.owner = o.agent AND p.inquiry = 1 AND p.t0 < o.placed_ms),
    (SELECT x.agent FROM messages x
     WHERE x.shop = :shop AND x.customer = o.customer AND x.sender = 'agent' AND x.ts_ms < o.placed_ms
       AND EXISTS (SELECT 1 FROM temp.kpi_pairs p
                   WHERE p.customer = o.customer AND p.owner = x.agent AND p.inquiry = 1 AND p.t0 < o.placed_ms)
     ORDER BY x.ts_ms DESC, x.seq DESC LIMIT 1),
    (SELECT p.owner FROM temp.kpi_pairs p WHERE p.customer = o.customer AND p.inquiry = 1 AND p.t0 < o.placed_ms
     ORDER BY p.t0 DESC, p.owner LIMIT 1),
    o.agent, :unassigned),
  o.placed_ms,
  CASE WHEN o.payments > 0 AND (o.refunded = 0 OR o.refunded < o.gross) THEN 1 ELSE 0 END,
  CASE WHEN o.refunded < o.gross THEN o.gross - o.refunded ELSE 0 END,
  CASE WHEN o.refunded < o.gross THEN o.refunded ELSE o.gross END
FROM o
"""
EXCLUDED = " AND r.order_id NOT IN (SELECT e.order_id FROM temp.kpi_excluded e)"

FUNNEL = """
WITH funnel AS (
  SELECT p.*,
    CASE WHEN p.inquiry = 1 AND EXISTS (
      SELECT 1 FROM temp.kpi_orders c WHERE c.customer = p.customer AND c.agent = p.owner AND c.created_ms > p.t0
    ) THEN 1 ELSE 0 END AS ordered,
    CASE WHEN p.inquiry = 1 THEN (
      SELECT sum(c.cents) FROM temp.kpi_orders c
      WHERE c.customer = p.customer AND c.agent = p.owner AND c.created_ms > p.t0 AND c.paid = 1
    ) END AS paid_cents,
    CASE WHEN p.inquiry = 1 THEN (
      SELECT sum(c.refunded) FROM temp.kpi_orders c
      WHERE c.customer = p.customer AND c.agent = p.owner AND c.created_ms > p.t0
    ) END AS refund_cents
  FROM temp.kpi_pairs p
)
SELECT owner, count(*), sum(served), sum(msgs), sum(shown), sum(bursts), sum(responses), sum(response_ms), sum(slow),
  sum(firsts), sum(first_ms), sum(inquiry), sum(ordered), count(paid_cents), coalesce(sum(paid_cents), 0),
  coalesce(sum(refund_cents), 0)
FROM funnel GROUP BY owner
"""
# The orders of the customers asked for (temp.kpi_only, kpi/late.py) the day holds, each with its agent and whether
# an inquiry of the day is behind it (else the order keeps its own agent and counts in no figure, as above).
CREDITS = """
SELECT c.order_id, c.agent, CASE WHEN EXISTS (
    SELECT 1 FROM temp.kpi_pairs p WHERE p.customer = c.customer AND p.owner = c.agent AND p.inquiry = 1 AND p.t0 < c.created_ms
  ) THEN 1 ELSE 0 END
FROM temp.kpi_orders c
"""
# Keeps the customers asked for: on the scan of the day's messages (m) and of its orders (r).
ONLY = " AND {t}.customer IN (SELECT k.customer FROM temp.kpi_only k)"
# The orders created after the day (on D+1) that the funnel credited: one seek per inquiry pair, as above.
LATE_ORDERS = """
SELECT c.order_id FROM temp.kpi_pairs p
JOIN temp.kpi_orders c ON c.customer = p.customer AND c.agent = p.owner AND c.created_ms > p.t0
WHERE p.inquiry = 1 AND c.created_ms >= :de
"""
