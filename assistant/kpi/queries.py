"""The SQL behind the KPIs: one shop's local day read from the interaction log (docs/kpi.md)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from assistant import store
from assistant.kpi.figures import NO_REPLY, RESPONSE_BUCKETS, UNASSIGNED, DayFigures, Flagged, Window
from assistant.kpi.funnel import CREDITED, CREDITS, EXCLUDED, FUNNEL, LATE_ORDERS, ONLY, PAIRS
from assistant.kpi.rules import (
    FIRST_AGENT_COPY_SQL,
    Spans,
    after_hours_sql,
    as_lookups,
    customer_copy_sql,
    open_wait_sql,
    span_params,
    waited_too_long_sql,
)
from assistant.schema import SHORT_REPLY_SQL

# A reply is named by an integer key that sorts like (ts, seq): ((ts − day start) << 32) + seq.
# Replies count until the end of D+1, so ts − day start < 2^28 ms; with seq < 2^32 the key fits in 60 bits.
MAX_SEQ = 2**32
# Page cache per KPI connection: the seeks of a day's report revisit index pages (memory stays bounded).
CACHE_KIB = 32_768


# Bursts: the day's customer messages grouped by the reply that answers them — the first human message
# after them in the conversation, before the horizon — or, unanswered, the conversation's last ones.
# One index seek per customer message (messages_kpi_conversation) and one sort. A burst belongs to its
# replier; an unanswered one to the current agent at its first message, and it is slow once it has waited longer
# than the threshold by the report's time (a report made mid-day does not call a customer who wrote 10 s ago slow:
# they are still waiting; once the horizon has passed every unanswered burst is slow). Truth values are written as
# CASE … THEN 1 ELSE 0 so that the same statements run on SQLite and PostgreSQL.
# SQLite takes a burst's bare columns (conversation, customer, seq) from the row of its min(); the min is
# of (ts_ms, seq) packed in one integer, so two messages of one millisecond give the earlier seq, as
# PostgreSQL's DISTINCT ON over the burst's key ordered by ts_ms, seq does (_BURSTS_B_PG).
# A copy of a customer message (kpi/rules.py) is not one: it starts no burst and adds nothing to a burst's count.
_NOT_A_COPY = f"NOT {customer_copy_sql('m')}"
_BURSTS_D = f"""
WITH d AS MATERIALIZED (
  SELECT m.seq, m.conversation, m.customer, m.ts_ms,
    CASE WHEN m.suggestions IS NOT NULL AND m.suggestions NOT IN ('', '[]') THEN 1 ELSE 0 END AS shown,
    (SELECT ((x.ts_ms - :ds) << 32) + x.seq FROM messages x
     WHERE x.shop = :shop AND x.conversation = m.conversation AND x.sender = 'agent'
       AND x.ts_ms >= m.ts_ms AND x.ts_ms < :he AND (x.ts_ms > m.ts_ms OR x.seq > m.seq)
     ORDER BY x.ts_ms, x.seq LIMIT 1) AS reply_key
  FROM messages m
  WHERE m.shop = :shop AND m.sender = 'customer' AND m.ts_ms >= :ds AND m.ts_ms < :de AND {_NOT_A_COPY} /*share*/
), """
_BURSTS_B = """b AS (
  SELECT conversation, customer, :ds + (min(((ts_ms - :ds) << 32) + seq) >> 32) AS start_ms, seq,
    count(*) AS n, sum(shown) AS shown, reply_key
  FROM d GROUP BY coalesce(reply_key, conversation)
)
"""
_BURSTS_B_PG = """b AS (
  SELECT DISTINCT ON (reply_key, unanswered) conversation, customer, ts_ms AS start_ms, seq, n,
    burst_shown AS shown, reply_key
  FROM (SELECT d.*, CASE WHEN reply_key IS NULL THEN conversation END AS unanswered,
          count(*) OVER w AS n, sum(d.shown) OVER w AS burst_shown
        FROM d WINDOW w AS (PARTITION BY reply_key, CASE WHEN reply_key IS NULL THEN conversation END)) g
  ORDER BY reply_key, unanswered, ts_ms, seq
)
"""
# A burst's wait runs from its first message to its reply, within the service hours when the shop has them
# (kpi/rules.py): {wait} and {waited} are filled by _bursts_sql.
_BURSTS_INSERT = """
INSERT INTO temp.kpi_bursts
  (conversation, customer, start_ms, seq, n, shown, owner, reply_key, wait_ms, first, counted, slow, carried)
SELECT b.conversation, b.customer, b.start_ms, b.seq, b.n, b.shown,
  CASE WHEN b.reply_key IS NOT NULL
    THEN (SELECT r.agent FROM messages r WHERE r.seq = b.reply_key & 4294967295)
    ELSE coalesce((SELECT r.agent FROM messages r WHERE r.seq = b.seq), (
      SELECT x.agent FROM messages x
      WHERE x.shop = :shop AND x.conversation = b.conversation AND x.sender = 'agent'
        AND x.ts_ms <= b.start_ms AND (x.ts_ms < b.start_ms OR x.seq < b.seq)
      ORDER BY x.ts_ms DESC, x.seq DESC LIMIT 1), :unassigned)
  END,
  b.reply_key,
  CASE WHEN b.reply_key IS NOT NULL THEN {wait} END,
  0,
  1,
  CASE WHEN b.reply_key IS NULL AND {waited} OR b.reply_key IS NOT NULL AND {wait} > :slow THEN 1 ELSE 0 END,
  0
FROM b
"""


def _bursts_sql(postgres: bool, hours: bool) -> str:
    """The statement that fills temp.kpi_bursts, in the dialect's form, with waits within service hours or not."""
    wait = open_wait_sql("b.start_ms", ":ds + (b.reply_key >> 32)", hours)
    waited = waited_too_long_sql("b.start_ms", hours)
    insert = _BURSTS_INSERT.replace("{wait}", wait).replace("{waited}", waited)
    return as_lookups(_BURSTS_D + _BURSTS_B_PG + insert) if postgres else _BURSTS_D + _BURSTS_B + insert


_BURSTS = {(postgres, hours): _bursts_sql(postgres, hours) for postgres in (False, True) for hours in (False, True)}
# Bursts that began while the shop was closed (夜间咨询), per agent: said beside the response times they do not weigh.
_AFTER_HOURS = f"""
SELECT owner, count(*) FROM temp.kpi_bursts WHERE counted = 1 AND {after_hours_sql("start_ms")} GROUP BY owner
"""

# An unanswered burst belongs to the agent current at its first message, but each of its messages counts for
# the agent the rule gives for it, its own `agent` field first (docs/kpi.md, choice 6): a customer reassigned
# to B mid-burst is B's consulted customer too, unserved. Nobody wrote after such a burst began, so a message
# without the field has the burst's owner; those with another agent's name move to a row of that agent, a
# row with no response of its own (counted = 0: not a burst, never the conversation's first).
_UNANSWERED_MOVED = (
    """
  m.shop = :shop AND m.conversation = {b}.conversation AND m.sender = 'customer' AND m.ts_ms >= {b}.start_ms
  AND m.ts_ms < :de AND m.agent IS NOT NULL AND m.agent <> {b}.owner AND """
    + _NOT_A_COPY
    + " /*share*/"
)
USE_LOOKAHEAD_MS = 86_400_000  # how long after its message a click is looked for (a card stays on the panel 24 h)
_SHOWN = "CASE WHEN m.suggestions IS NOT NULL AND m.suggestions NOT IN ('', '[]') THEN 1 ELSE 0 END"
# First the bursts give up the moved messages, then the moved messages become their agents' rows. The bursts drive
# the insert (a CROSS JOIN's left table stays outside in SQLite): free, it scanned the day once per burst.
_UNANSWERED_KEEP = f"""
UPDATE temp.kpi_bursts SET
  n = n - (SELECT count(*) FROM messages m WHERE {_UNANSWERED_MOVED.format(b="kpi_bursts")}),
  shown = shown - (SELECT coalesce(sum({_SHOWN}), 0) FROM messages m WHERE {_UNANSWERED_MOVED.format(b="kpi_bursts")})
WHERE reply_key IS NULL
"""
_UNANSWERED_SPLIT = f"""
INSERT INTO temp.kpi_bursts
  (conversation, customer, start_ms, seq, n, shown, owner, reply_key, wait_ms, first, counted, slow, carried)
SELECT b.conversation, b.customer, min(m.ts_ms), min(m.seq), count(*), sum({_SHOWN}), m.agent, NULL, NULL, 0, 0, 0, 0
FROM temp.kpi_bursts b CROSS JOIN messages m
WHERE b.reply_key IS NULL AND {_UNANSWERED_MOVED.format(b="b")}
GROUP BY b.conversation, b.customer, m.agent
"""
# PostgreSQL reorders a CROSS JOIN: where the log's statistics lag it guessed one message a day, put the day's
# customer messages outside and read every burst for each (8.2 s of a 15,706-event report). Each burst's own
# messages through a LATERAL subquery that OFFSET 0 keeps apart: one index seek per burst, whatever the statistics.
_UNANSWERED_SPLIT_PG = as_lookups(f"""
INSERT INTO temp.kpi_bursts
  (conversation, customer, start_ms, seq, n, shown, owner, reply_key, wait_ms, first, counted, slow, carried)
SELECT b.conversation, b.customer, min(m.ts_ms), min(m.seq), count(*), sum(m.shown), m.agent, NULL, NULL, 0, 0, 0, 0
FROM temp.kpi_bursts b CROSS JOIN LATERAL (
  SELECT m.ts_ms, m.seq, m.agent, {_SHOWN} AS shown FROM messages m WHERE {_UNANSWERED_MOVED.format(b="b")} OFFSET 0
) m
WHERE b.reply_key IS NULL
GROUP BY b.conversation, b.customer, m.agent
""")

# `first`: the burst holding the conversation's first customer message of the day (首次响应).
_FIRSTS = """
UPDATE temp.kpi_bursts SET first = 1 WHERE rowid IN (
  SELECT id FROM (SELECT rowid AS id, min(start_ms) FROM temp.kpi_bursts WHERE counted = 1 GROUP BY conversation) AS f)
"""
_FIRSTS_PG = """
UPDATE kpi_bursts SET first = 1 WHERE ctid IN (
  SELECT DISTINCT ON (conversation) ctid FROM kpi_bursts WHERE counted = 1 ORDER BY conversation, start_ms, seq)
"""

# A conversation's first burst of the day may continue one begun the day before: the last message
# before midnight was the customer's and no agent wrote between midnight and the burst. Such a burst is
# `carried`: its messages count today, its response belongs to the day it started. "The last message before
# midnight was the customer's": the customer's last one then, and no agent's after it (two seeks in
# messages_kpi_conversation, however long the conversation).
_CARRIED = """
UPDATE temp.kpi_bursts SET carried = 1, counted = 0, slow = 0
WHERE first = 1
  AND EXISTS (
    SELECT 1 FROM messages c
    WHERE c.seq = (
        SELECT x.seq FROM messages x
        WHERE x.shop = :shop AND x.conversation = kpi_bursts.conversation AND x.sender = 'customer'
          AND x.ts_ms < :ds
        ORDER BY x.ts_ms DESC, x.seq DESC LIMIT 1)
      AND NOT EXISTS (
        SELECT 1 FROM messages y
        WHERE y.shop = :shop AND y.conversation = kpi_bursts.conversation AND y.sender = 'agent'
          AND y.ts_ms >= c.ts_ms AND y.ts_ms < :ds AND (y.ts_ms, y.seq) > (c.ts_ms, c.seq)))
  AND reply_key IS (
    SELECT ((x.ts_ms - :ds) << 32) + x.seq FROM messages x
    WHERE x.shop = :shop AND x.conversation = kpi_bursts.conversation AND x.sender = 'agent'
      AND x.ts_ms >= :ds AND x.ts_ms < :he
    ORDER BY x.ts_ms, x.seq LIMIT 1)
"""


def _histogram_sql() -> str:
    """Counted bursts per RESPONSE_BUCKETS bucket, then the unanswered ones: one pass, no sort."""
    counts, low = [], None
    for _, limit in RESPONSE_BUCKETS:
        terms = ["wait_ms IS NOT NULL"]
        if low is not None:
            terms.append(f"wait_ms > {low}")
        if limit is not None:
            low = int(limit * 1000)
            terms.append(f"wait_ms <= {low}")
        counts.append(f"count(*) FILTER (WHERE {' AND '.join(terms)})")
    counts.append("count(*) FILTER (WHERE wait_ms IS NULL AND slow = 1)")  # not one still waiting within the time
    return f"SELECT {', '.join(counts)} FROM temp.kpi_bursts WHERE counted = 1"


_HISTOGRAM = _histogram_sql()

_SLOW_LIST = """
SELECT b.owner, b.conversation, b.customer, b.start_ms, m.text,
  b.wait_ms AS wait,
  (SELECT r.text FROM messages r WHERE r.seq = b.reply_key & 4294967295) AS reply
FROM temp.kpi_bursts b JOIN messages m ON m.seq = b.seq
WHERE b.slow = 1
ORDER BY b.reply_key IS NOT NULL, wait DESC, b.start_ms, b.seq LIMIT :limit
"""

_FIRST_COPY = FIRST_AGENT_COPY_SQL  # choice 16 (kpi/rules.py)

# Per agent and hour of the local clock (hours since the day's start put a DST day's messages after the change an
# hour off): the hourly volume's agent side comes from the same pass.
_HOUR = "((m.ts_ms + :off + CASE WHEN m.ts_ms >= :shift_at THEN :shift ELSE 0 END) % 86400000) / 3600000"
_AGENT_MESSAGES = f"""
SELECT m.agent, {_HOUR} AS h, count(*) FROM messages m
WHERE m.shop = :shop AND m.sender = 'agent' AND m.ts_ms >= :ds AND m.ts_ms < :de AND {_FIRST_COPY}
GROUP BY m.agent, h
"""

# Short replies through their partial index (schema.py builds the index on SHORT_REPLY_SQL).
_SHORT_REPLIES = f"""
SELECT m.agent, count(*) FROM messages m INDEXED BY messages_kpi_short
WHERE m.shop = :shop AND m.ts_ms >= :ds AND m.ts_ms < :de AND m.sender = 'agent' AND {SHORT_REPLY_SQL} AND {_FIRST_COPY}
GROUP BY m.agent
"""

_HOURLY_CUSTOMERS = f"""
SELECT {_HOUR} AS h, count(*) FROM messages m
WHERE m.shop = :shop AND m.sender = 'customer' AND m.ts_ms >= :ds AND m.ts_ms < :de AND {_NOT_A_COPY} GROUP BY h
"""

_SHORT_LIST = f"""
SELECT m.agent, m.conversation, m.customer, m.ts_ms, m.text
FROM messages m INDEXED BY messages_kpi_short
WHERE m.shop = :shop AND m.ts_ms >= :ds AND m.ts_ms < :de AND m.sender = 'agent' AND {SHORT_REPLY_SQL} AND {_FIRST_COPY}
ORDER BY m.ts_ms, m.seq LIMIT :limit
"""

# Follow-ups sent (sender auto, with a followup_id; not one whose channel refused it after: `failed`), credited
# like an unanswered message; recovered when the customer wrote in the conversation within the recovery window.
_FOLLOWUPS = """
SELECT coalesce(f.agent, (
    SELECT x.agent FROM messages x
    WHERE x.shop = :shop AND x.conversation = f.conversation AND x.sender = 'agent' AND x.ts_ms <= f.ts_ms
    ORDER BY x.ts_ms DESC, x.seq DESC LIMIT 1), :unassigned),
  count(*),
  sum(CASE WHEN EXISTS (
    SELECT 1 FROM messages x
    WHERE x.shop = :shop AND x.conversation = f.conversation AND x.sender = 'customer'
      AND x.ts_ms > f.ts_ms AND x.ts_ms <= f.ts_ms + :recovery) THEN 1 ELSE 0 END)
FROM messages f
WHERE f.shop = :shop AND f.sender = 'auto' AND f.ts_ms >= :ds AND f.ts_ms < :de AND f.followup_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM followups u WHERE u.id = f.followup_id AND u.state = 'failed') GROUP BY 1
"""

# Flagged messages through their partial index (schema.py): an agent's own; a customer's belongs, like any
# customer message, to the agent who answers it, else to the conversation's current agent (its own `agent`
# field, else the last agent who wrote). The field comes after the answer: a complaint sent while the chat was
# 小美's and answered by 阿杰 is 阿杰's customer message in the figures, so its flag is counted there too.
_QA = f"""
SELECT coalesce(CASE WHEN m.sender = 'agent' THEN m.agent END, (
    SELECT x.agent FROM messages x
    WHERE x.shop = :shop AND x.conversation = m.conversation AND x.sender = 'agent' AND x.ts_ms >= m.ts_ms
      AND x.ts_ms < :he AND (x.ts_ms > m.ts_ms OR x.seq > m.seq)
    ORDER BY x.ts_ms, x.seq LIMIT 1), m.agent, (
    SELECT x.agent FROM messages x
    WHERE x.shop = :shop AND x.conversation = m.conversation AND x.sender = 'agent' AND x.ts_ms <= m.ts_ms
    ORDER BY x.ts_ms DESC, x.seq DESC LIMIT 1), :unassigned),
  m.sender, m.conversation, m.customer, m.ts_ms, m.text, m.qa
FROM messages m INDEXED BY messages_qa_shop
WHERE m.shop = :shop AND m.ts_ms >= :ds AND m.ts_ms < :de AND m.qa IS NOT NULL
  AND (m.sender = 'agent' AND {_FIRST_COPY} OR m.sender = 'customer' AND {_NOT_A_COPY})
ORDER BY m.ts_ms, m.seq
"""

# A customer message's suggestions count as used once, however often the agent clicks: a use belongs to the
# conversation's last customer message before it, counted on that message's day (as shown is) when it came with
# suggestions — a click after midnight, or on yesterday's card still on the panel, counts for yesterday's message.
_SUGGESTIONS_USED = f"""
SELECT used.agent, count(*) FROM (
  SELECT DISTINCT u.agent, (
      SELECT a.seq FROM messages a
      WHERE a.shop = u.shop AND a.conversation = u.conversation AND a.sender = 'customer' AND a.ts_ms <= u.ts_ms
        AND NOT {customer_copy_sql("a")}
      ORDER BY a.ts_ms DESC, a.seq DESC LIMIT 1
    ) AS asked
  FROM suggestion_uses u WHERE u.shop = :shop AND u.ts_ms >= :ds AND u.ts_ms < :de + {USE_LOOKAHEAD_MS}
) used JOIN messages m ON m.seq = used.asked WHERE {_SHOWN} = 1 AND m.ts_ms >= :ds AND m.ts_ms < :de
GROUP BY used.agent
"""

_DROP_TEMP = "".join(f"DROP TABLE temp.kpi_{name};" for name in ("bursts", "orders", "pairs", "excluded", "only"))
_TEMP_TABLES = """
CREATE TEMP TABLE kpi_bursts (
  conversation TEXT NOT NULL, customer TEXT NOT NULL, start_ms BIGINT NOT NULL, seq BIGINT NOT NULL,
  n BIGINT NOT NULL, shown BIGINT NOT NULL, owner TEXT NOT NULL, reply_key BIGINT, wait_ms BIGINT,
  first INTEGER NOT NULL, counted INTEGER NOT NULL, slow INTEGER NOT NULL, carried INTEGER NOT NULL);
CREATE TEMP TABLE kpi_orders (order_id TEXT NOT NULL, customer TEXT NOT NULL, agent TEXT NOT NULL,
  created_ms BIGINT NOT NULL, paid INTEGER NOT NULL, cents BIGINT NOT NULL, refunded BIGINT NOT NULL);
CREATE TEMP TABLE kpi_pairs (
  owner TEXT NOT NULL, customer TEXT NOT NULL, msgs BIGINT, shown BIGINT, t0 BIGINT NOT NULL, served BIGINT,
  bursts BIGINT, responses BIGINT, response_ms BIGINT, slow BIGINT, firsts BIGINT, first_ms BIGINT, inquiry BIGINT);
CREATE TEMP TABLE kpi_excluded (order_id TEXT PRIMARY KEY);
CREATE TEMP TABLE kpi_only (customer TEXT PRIMARY KEY);
"""


def day_figures(
    connect: Callable[[], sqlite3.Connection],
    shop: str,
    window: Window,
    *,
    slow_ms: int,
    recovery_ms: int,
    now_ms: int,
    payment_window_ms: int,
    list_limit: int = 200,
    parallel: bool = False,
    exclude_orders: Collection[str] = (),
    late_orders: bool = False,
    spans: Spans | None = None,
) -> DayFigures:
    """Read one shop-day's KPI figures from the log, per agent.

    The customer side and the agent side are independent; `parallel` reads them at once, each on its
    own connection from `connect` (read-only is enough: the scratch tables live in `temp`). An order's payments
    and refunds count when stamped by `now_ms` and within `payment_window_ms` after the order. For a day of a
    range: `exclude_orders` (ids) are credited to no one (the day before did), and `late_orders` collects
    the orders created after the day that it credits (for the next day's `exclude_orders`). `spans`: the shop's
    service hours around the day (clock.ServiceHours.spans), within which waits run; None: always open.
    """
    p = _params(shop, window, slow_ms, recovery_ms, now_ms, payment_window_ms, list_limit, spans)

    def run(job: Callable[[sqlite3.Connection, dict[str, Any]], DayFigures], params: dict[str, Any]) -> DayFigures:
        conn = connect()
        try:
            conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
            return job(conn, params)
        finally:
            conn.close()

    def customers(conn: sqlite3.Connection, params: dict[str, Any]) -> DayFigures:
        return _customer_side(conn, params, exclude_orders, late_orders)

    if parallel:
        conn = connect()
        try:
            pivot = _median_customer(conn, p)
        finally:
            conn.close()
        # Two shares of the customers (names below / from the pivot) and the agent side, each on a connection.
        shares = [p] if pivot is None else [{**p, "share_high": pivot}, {**p, "share_low": pivot}]
        with ThreadPoolExecutor(max_workers=len(shares), thread_name_prefix="kpi") as pool:
            customer_sides = [pool.submit(run, customers, share) for share in shares]
            out = run(_agent_side, p)
            for side in customer_sides:
                out.merge(side.result(), list_limit)
        return out
    out = run(customers, p)
    out.merge(run(_agent_side, p), list_limit)
    return out


def _params(
    shop: str,
    window: Window,
    slow_ms: int,
    recovery_ms: int,
    now_ms: int,
    payment_window_ms: int,
    list_limit: int,
    spans: Spans | None = None,
) -> dict[str, Any]:
    return span_params(spans) | {
        "shop": shop, "ds": window.start_ms, "de": window.end_ms, "he": window.horizon_ms, "now": now_ms,
        "window": payment_window_ms, "slow": slow_ms, "recovery": recovery_ms, "unassigned": UNASSIGNED,
        "limit": list_limit, "off": window.offset_ms, "shift_at": window.shift_at_ms, "shift": window.shift_ms,
    }  # fmt: skip


def customers_of_day(
    connect: Callable[[], sqlite3.Connection],
    shop: str,
    window: Window,
    *,
    slow_ms: int,
    recovery_ms: int,
    now_ms: int,
    customers: Collection[str] = (),
) -> DayFigures:
    """A day's customers' side alone: the orders created after the day that it credits (`late_orders`: a range
    starting the next day leaves them out, as a range leaves out of each day those the day before credits); with
    `customers`, theirs alone (a customer's bursts and pairs are the customer's own), and the credit of each of their
    orders the day holds (`credits`: its agent, and whether an inquiry of the day is behind it; kpi/late.py)."""
    conn = connect()
    try:
        conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        p = _params(shop, window, slow_ms, recovery_ms, now_ms, 0, 0)
        return _customer_side(conn, p, (), True, customers)
    finally:
        conn.close()


def _customer_side(
    conn: sqlite3.Connection, p: dict[str, Any], exclude: Collection[str], late_orders: bool, only: Collection[str] = ()
) -> DayFigures:
    """What follows from the customers' messages: consulted, served, responses, the funnel, suggestions shown."""
    max_seq = conn.execute("SELECT max(seq) FROM events").fetchone()[0] or 0
    if max_seq >= MAX_SEQ:
        raise ValueError(f"event seq {max_seq} ≥ 2^32; the KPI queries need seq < 2^32")
    out = DayFigures()
    conn.execute("PRAGMA temp_store = FILE")
    conn.executescript(_DROP_TEMP.replace("DROP TABLE", "DROP TABLE IF EXISTS") + _TEMP_TABLES)
    try:
        postgres = store.dialect(conn) == "postgresql"
        share = _share_sql(p) + (ONLY.format(t="m") if only else "")
        if only:  # these customers alone (customers_of_day)
            conn.executemany("INSERT INTO temp.kpi_only (customer) VALUES (?)", [(c,) for c in only])
        conn.execute(_BURSTS[postgres, "o0" in p].replace("/*share*/", share), p)
        conn.execute(_dialect(conn, _UNANSWERED_KEEP).replace("/*share*/", share), p)
        conn.execute((_UNANSWERED_SPLIT_PG if postgres else _UNANSWERED_SPLIT).replace("/*share*/", share), p)
        conn.execute(_FIRSTS_PG if postgres else _FIRSTS)
        conn.execute(_dialect(conn, _CARRIED), p)
        conn.execute(PAIRS, p)
        conn.execute("CREATE INDEX temp.kpi_pairs_customer ON kpi_pairs (customer, inquiry, t0)")
        if exclude:
            conn.executemany("INSERT INTO temp.kpi_excluded (order_id) VALUES (?)", [(o,) for o in exclude])
        narrowed = (EXCLUDED if exclude else "") + (ONLY.format(t="r") if only else "")
        conn.execute(_dialect(conn, CREDITED).replace("/*excluded*/", narrowed), p)
        conn.execute("CREATE INDEX temp.kpi_orders_customer ON kpi_orders (customer, agent, created_ms)")
        if late_orders:
            out.late_orders = {order for (order,) in conn.execute(LATE_ORDERS, p)}
        if only:
            out.credits = {str(order): (str(agent), bool(inquiry)) for order, agent, inquiry in conn.execute(CREDITS)}
        for row in conn.execute(FUNNEL, p):
            owner, consulted, served, msgs, shown, bursts, responses, response_ms, slow, firsts, first_ms = row[:11]
            inquiries, ordered, paid, cents, refunds = row[11:]
            out.tally(owner).add(
                consulted=consulted,
                served=served,
                customer_messages=msgs,
                suggestions_shown=shown,
                bursts=bursts,
                responses=responses,
                response_ms=response_ms,
                slow_responses=slow,
                first_responses=firsts,
                first_response_ms=first_ms,
                inquiries=inquiries,
                ordered=ordered,
                paid=paid,
                sales_cents=cents,
                refund_cents=refunds,
            )
        if "o0" in p:  # with service hours
            for owner, count in conn.execute(_AFTER_HOURS, p):
                out.tally(owner).add(after_hours=count)
        labels = [label for label, _ in RESPONSE_BUCKETS] + [NO_REPLY]
        out.histogram = dict(zip(labels, conn.execute(_HISTOGRAM).fetchone()))
        out.slow_responses = [
            Flagged(owner, conv, customer, ts, text, None if wait is None else wait / 1000, reply)
            for owner, conv, customer, ts, text, wait, reply in conn.execute(_SLOW_LIST, p)
        ]
    finally:
        conn.executescript(_DROP_TEMP)
    return out


def _share_sql(p: dict[str, Any]) -> str:
    """The condition on the driving scan that keeps one share's customers, [share_low, share_high)."""
    low = " AND m.customer >= :share_low" if "share_low" in p else ""
    high = " AND m.customer < :share_high" if "share_high" in p else ""
    return low + high


def _median_customer(conn: sqlite3.Connection, p: dict[str, Any]) -> str | None:
    """A customer name near the median of the day's, from 63 seeks spread over the day (for two shares)."""
    names = []
    for k in range(1, 64):
        row = conn.execute(
            "SELECT customer FROM messages WHERE shop = ? AND sender = 'customer' AND ts_ms >= ? AND ts_ms < ?"
            " ORDER BY ts_ms LIMIT 1",
            (p["shop"], p["ds"] + (p["de"] - p["ds"]) * k // 64, p["de"]),
        ).fetchone()
        if row is not None:
            names.append(row[0])
    names.sort()
    return names[len(names) // 2] if names else None


def _agent_side(conn: sqlite3.Connection, p: dict[str, Any]) -> DayFigures:
    """What follows from the agents' and the assistant's messages, and the hourly volume."""
    out = DayFigures()
    agents_hourly = [0] * 24
    for agent, hour, count in conn.execute(_dialect(conn, _AGENT_MESSAGES), p):
        out.tally(agent).add(agent_messages=count)
        agents_hourly[hour] += count
    for agent, count in conn.execute(_dialect(conn, _short_index(conn, _SHORT_REPLIES)), p):
        out.tally(agent).add(short_replies=count)
    customers_hourly = dict(conn.execute(_dialect(conn, _HOURLY_CUSTOMERS), p).fetchall())
    out.hourly = [(customers_hourly.get(hour, 0), agents_hourly[hour]) for hour in range(24)]
    out.short_replies = [Flagged(*row) for row in conn.execute(_dialect(conn, _short_index(conn, _SHORT_LIST)), p)]
    for owner, sent, recovered in conn.execute(_dialect(conn, _FOLLOWUPS), p):
        out.tally(owner).add(followups_sent=sent, followups_recovered=recovered)
    for agent, used in conn.execute(_dialect(conn, _SUGGESTIONS_USED), p):
        out.tally(agent).add(suggestions_used=used)
    _quality(conn, p, out)
    return out


def _quality(conn: sqlite3.Connection, p: dict[str, Any], out: DayFigures) -> None:
    """Counts per agent and category of the day's flagged messages, and the first `limit` of them."""
    for agent, sender, conversation, customer, ts_ms, text, qa in conn.execute(_dialect(conn, _QA), p):
        try:
            flags = tuple(f for f in json.loads(qa) if isinstance(f, dict) and f.get("category") != "short")
        except ValueError:
            continue
        if not flags:
            continue
        counts = out.qa.setdefault(agent, {})
        for category in dict.fromkeys(str(f.get("category")) for f in flags):
            counts[category] = counts.get(category, 0) + 1
        if sender == "agent":
            out.tally(agent).add(qa_flags=1)
        if len(out.qa_flagged) < p["limit"]:
            out.qa_flagged.append(Flagged(agent, conversation, customer, ts_ms, text, flags=flags, sender=sender))


def _dialect(conn: sqlite3.Connection, sql: str) -> str:
    """`sql` as the connection's store runs it best: on PostgreSQL, its copy checks as lookups (kpi/rules.py)."""
    return as_lookups(sql) if store.dialect(conn) == "postgresql" else sql


def _short_index(conn: sqlite3.Connection, sql: str) -> str:
    """`sql` as is, or without its INDEXED BY where the partial index is missing or differs (it then scans)."""
    if store.dialect(conn) == "postgresql":
        return sql  # no index hints there: the planner picks the partial index itself
    row = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'messages_kpi_short'").fetchone()
    return sql if row and SHORT_REPLY_SQL in row[0] else sql.replace(" INDEXED BY messages_kpi_short", "")
