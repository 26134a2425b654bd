"""Rules that the KPI SQL and the daily log both apply, each defined once here (docs/kpi.md, choices 8, 16, 17):
a copy of a message under another event id, and when a burst nobody answered yet counts as slow."""

from __future__ import annotations

from collections import deque
from functools import lru_cache

from assistant.kpi.seeks import keyed

Spans = tuple[tuple[int, int], ...]  # a day's service hours: (opening, closing) epoch ms (clock.ServiceHours.spans)
SPAN_COUNT = 3

# A buyer's message delivered again under a new id (a platform's retry, a relay's resend) comes with the same words
# within a couple of seconds; a buyer who writes 在吗 again takes longer than that to do it (docs/kpi.md, choice 17).
CUSTOMER_COPY_MS = 2_000


def _seek(m: str, sender: str) -> str:
    """The start of a copy check: the messages of `m`'s conversation from `sender`, by index."""
    return (
        f"SELECT 1 FROM messages c WHERE c.shop = {m}.shop AND c.conversation = {m}.conversation"
        f" AND c.sender = '{sender}'"
    )


def customer_copy_sql(m: str = "m", *, lookup: bool = False) -> str:
    """SQL true when the customer message `m` is a copy: the same conversation, customer and words as a customer
    message before it (by time, then arrival) stamped at most CUSTOMER_COPY_MS earlier. One seek of the
    (shop, conversation, sender, ts_ms, seq) index finds nothing for almost every message. `lookup`: PostgreSQL's
    form (`as_lookups`)."""
    found = f"""{_seek(m, "customer")} AND c.ts_ms >= {m}.ts_ms - {CUSTOMER_COPY_MS} AND c.ts_ms <= {m}.ts_ms
  AND (c.ts_ms < {m}.ts_ms OR c.seq < {m}.seq) AND c.customer = {m}.customer AND c.text = {m}.text"""
    return f"(({found} LIMIT 1) IS NOT NULL)" if lookup else f"EXISTS ({found})"


# An agent message is counted once: the same words by the same agent in the same conversation at the same
# millisecond under another event id are a platform's retry, not a second reply (choice 16). Each message
# seeks its own copies by index (they are rare: the seek finds nothing).
_AGENT_COPY = f"""{_seek("m", "agent")} AND c.ts_ms = m.ts_ms AND c.seq < m.seq AND c.agent = m.agent
  AND c.text = m.text"""
FIRST_AGENT_COPY_SQL = f"NOT EXISTS ({_AGENT_COPY})"


# PostgreSQL turns an EXISTS into a semi- or anti-join, and on a log whose statistics lag (a bulk import, a restore,
# autovacuum behind) it guessed one message a day and joined every message of the day to every other (15.7 s over
# 6,075 events, 0.03 s analyzed). There the checks are scalar subqueries (the first copy's 1, else NULL), which stay a
# lookup per message whatever the statistics (docs/kpi.md, "Reports on PostgreSQL"); SQLite keeps EXISTS, its own
# lookup, which costs it less (the scalar form took 1.13x the report's CPU there).
@lru_cache(maxsize=64)
def as_lookups(sql: str) -> str:
    """`sql` with its copy checks in PostgreSQL's form, and its seeks (kpi/seeks.py)."""
    for m in ("m", "a"):
        sql = sql.replace(customer_copy_sql(m), customer_copy_sql(m, lookup=True))
    return keyed(sql.replace(FIRST_AGENT_COPY_SQL, f"(({_AGENT_COPY} LIMIT 1) IS NULL)"))


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
# when no reply can count any more), or it has waited longer than `slow_response_s` by then (within service hours):
# asked mid-day, a customer who wrote seconds ago is still waiting, neither slow nor unanswered (choice 8). `:now`,
# `:he` and `:slow` are the queries' parameters.
def waited_too_long_sql(start: str, hours: bool) -> str:
    """SQL true when the burst starting at `start` has waited too long by `:now`."""
    return f"(:now >= :he OR {open_wait_sql(start, ':now', hours)} > :slow)"


def waited_too_long(start_ms: int, now_ms: int, horizon_ms: int, slow_ms: int, spans: Spans | None = None) -> bool:
    """The Python twin of `waited_too_long_sql`."""
    return now_ms >= horizon_ms or open_wait_ms(start_ms, now_ms, spans) > slow_ms


# Service hours ([shop] service_hours): a buyer's wait runs only while the shop is open, so a message written at
# night waits from the next opening, and one answered before it opens waited nothing (docs/kpi.md, "Service hours").
# The day's spans (clock.ServiceHours.spans: the day before, the day, the day after) are the queries' parameters
# :o0, :c0 … :o2, :c2; without service hours a wait is the plain difference (no cost to shops open all day).


def open_wait_ms(start_ms: int, end_ms: int, spans: Spans | None) -> int:
    """How long the shop was open between `start_ms` and `end_ms` (all of it when `spans` is None)."""
    if spans is None:
        return end_ms - start_ms
    return sum(max(0, min(end_ms, close) - max(start_ms, opening)) for opening, close in spans)


def open_wait_sql(start: str, end: str, hours: bool) -> str:
    """The SQL twin of `open_wait_ms` over the spans' parameters (CASE, not max()/greatest(): both dialects)."""
    if not hours:
        return f"({end} - {start})"
    terms = [
        f"CASE WHEN {end} > :o{i} AND {start} < :c{i} THEN (CASE WHEN {end} < :c{i} THEN {end} ELSE :c{i} END)"
        f" - (CASE WHEN {start} > :o{i} THEN {start} ELSE :o{i} END) ELSE 0 END"
        for i in range(SPAN_COUNT)
    ]
    return "(" + " + ".join(terms) + ")"


def after_hours(ts_ms: int, spans: Spans | None) -> bool:
    """Whether the shop was closed at `ts_ms` (never without service hours)."""
    return spans is not None and not any(opening <= ts_ms < close for opening, close in spans)


def after_hours_sql(ts: str) -> str:
    """The SQL twin of `after_hours` with service hours."""
    return "NOT (" + " OR ".join(f"{ts} >= :o{i} AND {ts} < :c{i}" for i in range(SPAN_COUNT)) + ")"


def span_params(spans: Spans | None) -> dict[str, int]:
    """The spans as the queries' parameters (none without service hours)."""
    return {f"{edge}{i}": ms for i, span in enumerate(spans or ()) for edge, ms in zip("oc", span)}
