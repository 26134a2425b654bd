"""The report's per-message seeks in a form PostgreSQL cannot plan on the wrong index (docs/kpi.md, "Reports on
PostgreSQL").

Each seek reads one conversation's (or one buyer's) messages from one sender between two times, for each message of
the day. Written as equalities and a time range, it fits several indexes; without statistics (a bulk import, a
restore, autovacuum behind, and a reporting role that may not ANALYZE) the planner guesses one row for each of them
and took the smallest: `messages_shop_ts` (the shop's messages of the time range, read for each message) or
`messages_kpi_sender` (the shop's agent messages): a report of 24,871 unanalyzed messages took 200-222 s for a role
with SELECT only, 2.7-2.8 s analyzed. Here the sender and the times of a conversation's seek are row comparisons over
messages_kpi_conversation's key after (shop, conversation), read in that key's order with LIMIT 1: no other index can
bound its scan by them, so another reads the shop's messages and sorts them, and the planner takes the seek's own
index whatever it knows of the rows; a buyer's seek leaves out its sender for messages_customer_ts. With statistics
the plans are those of the equalities. Each rewrite is the SQLite statement's text beside PostgreSQL's; SQLite keeps
its text (its plans do not follow statistics). The database sorts text by code point (upgrade.collation_problem),
so a range over (conversation, sender, ...) holds exactly the rows the equalities did.
"""

from __future__ import annotations

import re
from functools import lru_cache

# The conversation's next agent message after m (the reply that answers it), by messages_kpi_conversation.
_REPLY = (
    """WHERE x.shop = :shop AND x.conversation = m.conversation AND x.sender = 'agent'
       AND x.ts_ms >= m.ts_ms AND x.ts_ms < :he AND (x.ts_ms > m.ts_ms OR x.seq > m.seq)
     ORDER BY x.ts_ms, x.seq LIMIT 1""",
    """WHERE x.shop = :shop AND x.conversation = m.conversation
       AND (x.conversation, x.sender, x.ts_ms, x.seq) > (m.conversation, 'agent', m.ts_ms, m.seq)
       AND (x.conversation, x.sender, x.ts_ms) < (m.conversation, 'agent', :he)
     ORDER BY x.conversation, x.sender, x.ts_ms, x.seq LIMIT 1""",
)
# The conversation's first agent message of the day (a carried burst's reply), by messages_kpi_conversation.
_FIRST_REPLY = (
    """WHERE x.shop = :shop AND x.conversation = kpi_bursts.conversation AND x.sender = 'agent'
      AND x.ts_ms >= :ds AND x.ts_ms < :he
    ORDER BY x.ts_ms, x.seq LIMIT 1""",
    """WHERE x.shop = :shop AND x.conversation = kpi_bursts.conversation
      AND (x.conversation, x.sender, x.ts_ms) >= (kpi_bursts.conversation, 'agent', :ds)
      AND (x.conversation, x.sender, x.ts_ms) < (kpi_bursts.conversation, 'agent', :he)
    ORDER BY x.conversation, x.sender, x.ts_ms, x.seq LIMIT 1""",
)
# Whether an agent wrote in the conversation after the buyer's last message before midnight (a burst carried from the
# day before), by messages_kpi_conversation.
_ANSWERED_BEFORE_MIDNIGHT = (
    """NOT EXISTS (
        SELECT 1 FROM messages y
        WHERE y.shop = :shop AND y.conversation = kpi_bursts.conversation AND y.sender = 'agent'
          AND y.ts_ms >= c.ts_ms AND y.ts_ms < :ds AND (y.ts_ms, y.seq) > (c.ts_ms, c.seq))""",
    """(
        SELECT 1 FROM messages y
        WHERE y.shop = :shop AND y.conversation = kpi_bursts.conversation
          AND (y.conversation, y.sender, y.ts_ms, y.seq) > (kpi_bursts.conversation, 'agent', c.ts_ms, c.seq)
          AND (y.conversation, y.sender, y.ts_ms) < (kpi_bursts.conversation, 'agent', :ds)
        ORDER BY y.conversation, y.sender, y.ts_ms, y.seq LIMIT 1) IS NULL""",
)
# Whether the buyer wrote in the conversation within the recovery window after a follow-up (a lookup, not EXISTS:
# an EXISTS drops its ORDER BY), by messages_kpi_conversation.
_RECOVERED = (
    """EXISTS (
    SELECT 1 FROM messages x
    WHERE x.shop = :shop AND x.conversation = f.conversation AND x.sender = 'customer'
      AND x.ts_ms > f.ts_ms AND x.ts_ms <= f.ts_ms + :recovery)""",
    """(
    SELECT 1 FROM messages x
    WHERE x.shop = :shop AND x.conversation = f.conversation
      AND (x.conversation, x.sender, x.ts_ms) > (f.conversation, 'customer', f.ts_ms)
      AND (x.conversation, x.sender, x.ts_ms) <= (f.conversation, 'customer', f.ts_ms + :recovery)
    ORDER BY x.conversation, x.sender, x.ts_ms LIMIT 1) IS NOT NULL""",
)
# The buyer's last agent message before the order, from an agent who served them that day (any conversation), by
# messages_customer_ts. The sender is a filter there (that index has no sender column), written so that no index
# takes it: as an equality, messages_kpi_sender's (shop, sender) looked the narrower seek. The check of its agent is a
# lookup too: as EXISTS it became a join driven by the day's agents, each agent's messages of all time read by
# messages_shop_agent_ts.
_LAST_AGENT_TO_BUYER = (
    """WHERE x.shop = :shop AND x.customer = o.customer AND x.sender = 'agent' AND x.ts_ms < o.placed_ms
       AND EXISTS (SELECT 1 FROM temp.kpi_pairs p
                   WHERE p.customer = o.customer AND p.owner = x.agent AND p.inquiry = 1 AND p.t0 < o.placed_ms)
     ORDER BY x.ts_ms DESC, x.seq DESC LIMIT 1)""",
    """WHERE x.shop = :shop AND x.customer = o.customer AND (x.sender = 'agent') IS TRUE AND x.ts_ms < o.placed_ms
       AND (SELECT 1 FROM temp.kpi_pairs p
            WHERE p.customer = o.customer AND p.owner = x.agent AND p.inquiry = 1 AND p.t0 < o.placed_ms LIMIT 1) = 1
     ORDER BY x.ts_ms DESC, x.seq DESC LIMIT 1)""",
)
# An unanswered burst's messages from its start to the end of the day (those another agent's field moves), by
# messages_kpi_conversation: a count, not one row, so the seek's range alone makes that index the narrower one.
_BURST_MESSAGES = tuple(
    (
        f"""m.shop = :shop AND m.conversation = {b}.conversation AND m.sender = 'customer' AND m.ts_ms >= {b}.start_ms
  AND m.ts_ms < :de""",
        f"""m.shop = :shop AND m.conversation = {b}.conversation
  AND (m.conversation, m.sender, m.ts_ms) >= ({b}.conversation, 'customer', {b}.start_ms)
  AND (m.conversation, m.sender, m.ts_ms) < ({b}.conversation, 'customer', :de)""",
    )
    for b in ("kpi_bursts", "b")
)
SEEKS = (_REPLY, _FIRST_REPLY, _ANSWERED_BEFORE_MIDNIGHT, _RECOVERED, _LAST_AGENT_TO_BUYER, *_BURST_MESSAGES)


def _flexible(text: str) -> re.Pattern[str]:
    """`text` as a pattern that any run of white space matches where it has one (the statements' indents differ)."""
    return re.compile(r"\s+".join(re.escape(word) for word in text.split()))


_PATTERNS = tuple((_flexible(sqlite), postgres) for sqlite, postgres in SEEKS)


@lru_cache(maxsize=64)
def keyed(sql: str) -> str:
    """`sql` with its seeks in PostgreSQL's form (those it does not hold are left as they are)."""
    for pattern, postgres in _PATTERNS:
        sql = pattern.sub(postgres.replace("\\", "\\\\"), sql)  # a replacement string: no group references in it
    return sql
