"""Rules that the KPI SQL and the daily log both apply, each defined once here (docs/kpi.md, choices 8, 16, 17):
a copy of a message under another event id, and when a burst nobody answered yet counts as slow."""

from __future__ import annotations

from collections import deque

# A buyer's message delivered again under a new id (a platform's retry, a relay's resend) comes with the same words
# within a couple of seconds; a buyer who writes 在吗 again takes longer than that to do it (docs/kpi.md, choice 17).
CUSTOMER_COPY_MS = 2_000


def customer_copy_sql(m: str = "m") -> str:
    """SQL true when the customer message `m` is a copy: the same conversation, customer and words as a customer
    message before it (by time, then arrival) stamped at most CUSTOMER_COPY_MS earlier. One seek of the
    (shop, conversation, sender, ts_ms, seq) index finds nothing for almost every message."""
    return f"""EXISTS (SELECT 1 FROM messages c WHERE c.shop = {m}.shop AND c.conversation = {m}.conversation
  AND c.sender = 'customer' AND c.ts_ms >= {m}.ts_ms - {CUSTOMER_COPY_MS} AND c.ts_ms <= {m}.ts_ms
  AND (c.ts_ms < {m}.ts_ms OR c.seq < {m}.seq) AND c.customer = {m}.customer AND c.text = {m}.text)"""


# An agent message is counted once: the same words by the same agent in the same conversation at the same
# millisecond under another event id are a platform's retry, not a second reply (choice 16). Each message
# seeks its own copies by index (they are rare: the seek finds nothing).
FIRST_AGENT_COPY_SQL = """NOT EXISTS (SELECT 1 FROM messages c WHERE c.shop = m.shop AND c.conversation = m.conversation
  AND c.sender = 'agent' AND c.ts_ms = m.ts_ms AND c.seq < m.seq AND c.agent = m.agent AND c.text = m.text)"""


class CustomerCopies:
    """The Python twin of `customer_copy_sql` for one conversation's messages read in time order (then arrival)."""

    def __init__(self) -> None:
        self._recent: deque[tuple[int, str, str]] = deque()  # (ts_ms, customer, text) of the last CUSTOMER_COPY_MS

    def is_copy(self, ts_ms: int, customer: str, text: str) -> bool:
        """Whether this customer message copies one seen before it; it is remembered either way."""
        while self._recent and self._recent[0][0] < ts_ms - CUSTOMER_COPY_MS:
            self._recent.popleft()
        copy = any(c == customer and t == text for _ts, c, t in self._recent)
        self._recent.append((ts_ms, customer, text))
        return copy


# A burst nobody has answered is slow once the report's (or the log's) time is past the horizon (the end of D+1,
# when no reply can count any more), or it has waited longer than `slow_response_s` by then: asked mid-day, a
# customer who wrote seconds ago is still waiting, neither slow nor unanswered (choice 8). `:now`, `:he` and `:slow`
# are the queries' parameters.
WAITED_TOO_LONG_SQL = "(:now >= :he OR :now - {start} > :slow)"


def waited_too_long(start_ms: int, now_ms: int, horizon_ms: int, slow_ms: int) -> bool:
    """The Python twin of WAITED_TOO_LONG_SQL."""
    return now_ms >= horizon_ms or now_ms - start_ms > slow_ms
