"""The supervisors' daily log: one local day's conversations, streamed from SQLite with annotations.

Conversations come in the order of their first event of the day, each read in time order, and an
item is yielded as soon as its annotations are settled: memory holds one conversation's unsettled
tail, never the day. docs/daily-log.md defines every annotation.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, NamedTuple, Required, TypedDict
from zoneinfo import ZoneInfo

from assistant import store
from assistant.clock import ServiceHours, day_bounds
from assistant.config import Config
from assistant.daylog.dayrows import rows_cte
from assistant.daylog.notes import FollowupNote, RefundNote, SuggestionNote, flag_notes, json_object, suggestion_notes
from assistant.daylog.search import Key, Sought, sought_conversations
from assistant.daylog.stamps import Stamps
from assistant.daylog.threads import (
    HIDDEN_SQL,
    ConversationRows,
    Listing,
    Row,
    followup_columns,
    read_threads,
)
from assistant.events import ORDER_TYPES
from assistant.kpi.rules import CUSTOMER_COPY_MS, CustomerCopies, Spans, after_hours, open_wait_ms, waited_too_long
from assistant.privacy import mask
from assistant.schema import is_short_reply

MIN_LOOKAHEAD_MS = 3_600_000
# A message masked once per text: agents send the same quick phrases all day, and masking each copy again was half of
# the reading of a big day's items (its inspection, docs/quality.md). Masking is a function of the text alone.
MASKED_TEXTS = 16_384
mask_text = functools.lru_cache(maxsize=MASKED_TEXTS)(mask)


class Item(TypedDict, total=False):
    """One line of the daily log (a JSONL object); optional keys depend on `kind` and sender."""

    kind: Required[str]
    id: Required[str]
    ts: Required[str]
    ts_ms: Required[int]
    shop: Required[str]
    conversation: Required[str]
    customer: Required[str]
    agent: str | None
    sender: str
    text: str
    intent: str | None
    customer_type: str | None
    suggestions: list[SuggestionNote]
    suggestion_used: bool | None
    response_s: float | None  # within the shop's service hours ([shop] service_hours)
    after_hours: bool  # a burst begun while the shop was closed: it waits from the opening
    slow: bool
    unanswered: bool
    short: bool
    followup: FollowupNote
    order: str | None
    amount: float | None
    paid: bool  # an order's closing: the order had been paid by then
    refund: RefundNote  # a refund: what it counts for (absent on a day read back from the archive)
    late: bool  # a payment or refund stamped after its order's payment window: in no figure of the report
    phrase_id: str | None
    qa: list[dict[str, Any]]  # quality-inspection flags (assistant/qa), short replies left to `short`


@dataclass(frozen=True)
class DayQuery:
    """Which part of which local day to read."""

    day: date
    shop: str | None = None
    agent: str | None = None
    conversation: str | None = None
    mask: bool = True
    # Only the conversations with a message that may be sought (a page's search and filters): the others
    # are not read. The caller still checks each item; a conversation read may hold no match.
    sought: Sought | None = None
    # When the day is read (epoch ms; None: the wall clock as reading starts): a burst still waiting then is slow and
    # unanswered only once it has waited longer than `slow_response_s`, as the report counts it (kpi/rules.py).
    now_ms: int | None = None


@dataclass(frozen=True)
class Rules:
    """The thresholds the annotations use (from `[kpi]`)."""

    tz: ZoneInfo
    slow_response_ms: int = 60_000
    recovery_window_ms: int = 1_800_000
    payment_window_ms: int = 72 * 3_600_000  # [kpi] payment_window_hours: a later payment or refund counts nowhere
    hours: Callable[[str], ServiceHours | None] = lambda shop: None  # a shop's service hours (None: always open)

    @classmethod
    def from_config(cls, config: Config) -> Rules:
        return cls(
            config.tz,
            int(config.kpi.slow_response_s * 1000),
            config.kpi.recovery_window_s * 1000,
            round(config.kpi.payment_window_hours * 3_600_000),
            config.shop.hours_of,
        )

    def spans(self, shop: str, day: date) -> Spans | None:
        """The shop's service hours around `day`, as the report reads them (None: always open)."""
        hours = self.hours(shop)
        return None if hours is None else hours.spans(day, self.tz)

    @property
    def lookahead_ms(self) -> int:
        """How far past midnight the log looks to settle the day's last replies, uses and returns."""
        return max(MIN_LOOKAHEAD_MS, self.slow_response_ms, self.recovery_window_ms)


@dataclass
class Conversation:
    """One conversation's items of the day, for pages that filter whole conversations."""

    shop: str
    conversation: str
    customer: str
    items: list[Item] = field(default_factory=list)

    @property
    def agents(self) -> list[str]:
        return sorted({i["agent"] for i in self.items if i.get("sender") == "agent" and i.get("agent")})  # type: ignore[misc]

    @property
    def messages(self) -> list[Item]:
        return [i for i in self.items if i["kind"] == "message"]


has_table = store.has_table


def iter_items(
    conn: sqlite3.Connection,
    query: DayQuery,
    rules: Rules,
    *,
    keys: Iterable[Key] | None = None,
) -> Generator[Item, None, None]:
    """The day's items: conversations in order of their first event of the day, each in time order.

    The conversations are listed (and sorted) in SQL first, or given as `keys` (a block of
    `conversation_keys`); then each conversation's rows are read through the (shop, conversation,
    ts_ms) index. Sorting the day's rows instead would have SQLite sort every row with its text; this
    order also keeps the page cache warm, since conversations that start together are stored together.
    Close the generator (contextlib.closing) before the connection when stopping early.
    """
    start_ms, end_ms = day_bounds(query.day, rules.tz)
    now_ms = store.now_ms() if query.now_ms is None else query.now_ms
    window = {
        "start": start_ms, "end": end_ms, "horizon": end_ms + rules.lookahead_ms,
        "late": reply_horizon_ms(query.day, rules.tz), "copy_from": start_ms - CUSTOMER_COPY_MS,
    }  # fmt: skip
    followups = followup_columns(conn)
    own = not conn.in_transaction
    if own:  # one snapshot for the whole day while the writer goes on
        conn.execute("BEGIN" if store.dialect(conn) == "sqlite" else "BEGIN ISOLATION LEVEL REPEATABLE READ")
    try:
        listing: Listing | Iterable[Key] = (
            _conversations_sql(query, followups, store.dialect(conn)) if keys is None else keys
        )
        if query.sought and isinstance(listing, Listing):
            listing = sought_conversations(
                conn, query.sought, query.shop, listing.sql, {**listing.params, **window}, followups
            )
        # Closed here, not when the garbage collector gets to it: a reader stopped early (a page full, a search
        # that found enough) is joined before the snapshot ends and the caller closes the connection it reads.
        with closing(read_threads(conn, listing, followups, window)) as threads:
            unchecked = _archived_shops(conn, query.day)
            settled = _Settled(end_ms, window["late"], now_ms)
            yield from _annotate(threads, settled, rules, Stamps(rules.tz), query.mask, unchecked, query.day)
    finally:
        if own and conn.in_transaction:
            conn.execute("COMMIT")


def conversation_keys(conn: sqlite3.Connection, query: DayQuery, rules: Rules) -> Generator[Key, None, None]:
    """The day's conversations passing the query's filters, in log order (for splitting the work)."""
    start_ms, end_ms = day_bounds(query.day, rules.tz)
    sql, params = _conversations_sql(query, followup_columns(conn), store.dialect(conn))
    cursor = conn.cursor()
    cursor.row_factory = None
    for shop, conversation, _first in cursor.execute(sql, {**params, "start": start_ms, "end": end_ms}):
        yield shop, conversation


def iter_conversations(items: Iterable[Item]) -> Iterator[Conversation]:
    """Group a stream of items (already ordered by conversation) into conversations."""
    current: Conversation | None = None
    for item in items:
        if current is None or (current.shop, current.conversation) != (item["shop"], item["conversation"]):
            if current is not None:
                yield current
            current = Conversation(item["shop"], item["conversation"], item["customer"])
        current.items.append(item)
    if current is not None:
        yield current


def day_choices(conn: sqlite3.Connection, query: DayQuery, rules: Rules) -> dict[str, list[str]]:
    """The agents, customer types and intents seen on the day (for filter menus)."""
    start_ms, end_ms = day_bounds(query.day, rules.tz)
    if query.shop is not None:  # the (shop, ts_ms) index on messages
        source, where = "messages m", "m.shop = ? AND m.ts_ms >= ? AND m.ts_ms < ?"
        params: tuple[Any, ...] = (query.shop, start_ms, end_ms)
    else:  # the day's events through their ts index, not every message ever logged
        source = "events e JOIN messages m ON m.seq = e.seq"
        where, params = "e.ts_ms >= ? AND e.ts_ms < ?", (start_ms, end_ms)
    # One pass for the three (a DISTINCT of each read the day's messages three times: 1.8 s of a page's 3.4 s
    # on the simulated million-message day, now 0.7 s); sorted by code point, as SQL's ORDER BY here.
    columns = ("agent", "customer_type", "intent")
    seen: list[set[str]] = [set(), set(), set()]
    for row in conn.execute(f"SELECT DISTINCT m.agent, m.customer_type, m.intent FROM {source} WHERE {where}", params):
        for values, value in zip(seen, row):
            if value is not None:
                values.add(value)
    return {column: sorted(values) for column, values in zip(columns, seen)}


# ---- SQL ---------------------------------------------------------------------------------------


def _conversations_sql(query: DayQuery, followups: bool, dialect: str) -> Listing:
    """The day's conversations (passing the shop/agent/conversation filters), earliest first."""
    params: dict[str, Any] = {}
    where = ""
    if query.shop is not None:
        where += " AND shop = :shop"
        params["shop"] = query.shop
    if query.conversation is not None:
        where += " AND conversation = :conversation"
        params["conversation"] = query.conversation
    having = ""
    if query.agent is not None:
        having = " HAVING max(CASE WHEN agent = :agent THEN 1 ELSE 0 END) = 1"
        params["agent"] = query.agent
    # The day's events first, grouped after: a GROUP BY over events of one shop read its whole history on SQLite
    # (daylog/dayrows.py).
    columns = "shop, conversation, ts_ms" + (", agent" if query.agent is not None else "")
    day_events = rows_cte(
        dialect, "day_events", f"SELECT {columns} FROM events WHERE ts_ms >= :start AND ts_ms < :end{where}"
    )
    sql = f"SELECT shop, conversation, min(ts_ms) AS first_ms FROM day_events GROUP BY shop, conversation{having}"
    if followups:
        # A follow-up that never became a message (failed, missed, suggested…) still shows its conversation.
        sql = (
            f"SELECT shop, conversation, min(first_ms) AS first_ms FROM ({sql} UNION ALL"
            " SELECT shop, conversation, min(fired_ms) AS first_ms FROM followups"
            f" WHERE fired_ms >= :start AND fired_ms < :end{where} AND state NOT IN {HIDDEN_SQL}"
            f" GROUP BY shop, conversation{having}) AS firsts GROUP BY shop, conversation"
        )
    return Listing(f"WITH {day_events} {sql} ORDER BY first_ms, shop, conversation", params)


def reply_horizon_ms(day: date, tz: ZoneInfo) -> int:
    """Until when a human reply answers a customer message of `day`: the end of the next day, as the report
    counts replies (docs/kpi.md), past the lookahead the log reads in full."""
    return day_bounds(day + timedelta(days=1), tz)[1]


def _archived_shops(conn: sqlite3.Connection, day: date) -> frozenset[str]:
    """The shops whose `day` is read back from the archive: their refunds are not checked against the payments
    (those of the days before were archived with their days)."""
    rows = conn.execute("SELECT shop FROM archived_days WHERE day = ?", (day.isoformat(),))
    return frozenset(row[0] for row in rows)


class _Settled(NamedTuple):
    """The times the annotations settle against: the day's end, the reply horizon (the end of the next day) and now."""

    end_ms: int
    horizon_ms: int
    now_ms: int


def _annotate(
    threads: Iterable[ConversationRows],
    settled: _Settled,
    rules: Rules,
    clock: Stamps,
    mask: bool,
    unchecked: frozenset[str],
    day: date,
) -> Iterator[Item]:
    """Items with their annotations, each released once nothing later in its conversation can change it.

    Unsettled: the first customer message of a burst until a human replies (response time), a
    customer message with suggestions until the next customer message (which one was used), a sent
    follow-up until the customer writes again or the recovery window passes (came back). Rows after
    midnight only settle; when nothing is left to settle the conversation's remaining rows are skipped.
    """
    slow_ms = rules.slow_response_ms
    window_ms = rules.recovery_window_ms
    iso = clock.iso
    spans: dict[str, Spans | None] = {}
    for shop, conversation, rows in threads:
        if shop not in spans:
            spans[shop] = rules.spans(shop, day)
        yield from _settle(
            shop, conversation, rows, settled, slow_ms, window_ms, rules.payment_window_ms, iso, mask,
            shop not in unchecked, spans[shop],
        )  # fmt: skip


def _settle(
    shop: str,
    conversation: str,
    rows: list[Row],
    settled: _Settled,
    slow_ms: int,
    window_ms: int,
    payment_window_ms: int,
    iso: Callable[[int], str],
    mask: bool,
    checked: bool,
    spans: Spans | None = None,
) -> Iterator[Item]:
    buffer: list[Item] = []
    waiting = 0
    burst: Item | None = None  # first customer message of the burst no human has answered yet
    offered: Item | None = None  # last customer message with suggestions, while its use window is open
    followups: list[Item] = []  # sent follow-ups waiting to see whether the customer comes back
    payments: set[tuple[Any, ...]] = set()  # (kind, order, time, amount) of the order events shown
    copies = CustomerCopies()  # a buyer's message delivered again is shown, and annotates nothing (docs/kpi.md)
    end_ms = settled.end_ms
    for row in rows:
        (ts_ms, _seq, event_id, kind, customer, agent, sender, text,
         intent, customer_type, suggestions, followup_id, raw, followup_state, followup_kind, qa, order_state,
         placed_ms) = row  # fmt: skip
        if kind == "before_day":  # only for the copy rule: not shown
            copies.is_copy(ts_ms, customer, text or "")
            continue
        if followups:
            kept = [f for f in followups if ts_ms - f["ts_ms"] <= window_ms]
            waiting -= len(followups) - len(kept)
            followups = kept
        if kind == "late_reply":  # after the lookahead: it answers the burst still waiting, if one is
            if burst is not None:  # slow, unless the shop was closed most of that time
                waited = open_wait_ms(burst["ts_ms"], ts_ms, spans)
                burst["response_s"], burst["slow"] = waited / 1000, waited > slow_ms
                burst = None
                waiting -= 1
            continue
        extra = json_object(raw) if raw else None
        if kind in ORDER_TYPES and extra is not None:  # a refund, a creation or a closing twice, too: one line
            amount = extra.get("amount")
            fen = round(amount * 100) if isinstance(amount, (int, float)) else amount
            payment = (kind, extra.get("order"), ts_ms, fen)
            if payment in payments:  # the same payment notified twice (docs/events.md): one line, as the report
                continue  # counts it once
            payments.add(payment)
        copy = kind == "message" and sender == "customer" and copies.is_copy(ts_ms, customer, text or "")
        if kind == "message" and sender == "customer" and not copy:
            if offered is not None:
                offered = None
                waiting -= 1
            for sent in followups:
                sent["followup"]["outcome"] = "came_back"
                sent["followup"]["came_back_s"] = (ts_ms - sent["ts_ms"]) / 1000
            waiting -= len(followups)
            followups = []
        elif kind == "message" and sender == "agent":
            if burst is not None:
                waited = open_wait_ms(burst["ts_ms"], ts_ms, spans)
                burst["response_s"] = waited / 1000
                burst["slow"] = waited > slow_ms
                burst = None
                waiting -= 1
        elif kind == "suggestion_used" and offered is not None and extra is not None:
            phrase_id = extra.get("phrase_id")
            for offer in offered["suggestions"]:
                if offer["phrase_id"] == phrase_id:
                    offer["used"] = True
                    offered["suggestion_used"] = True
        if ts_ms >= end_ms:  # the lookahead after midnight
            if not waiting:
                break
            continue
        item: Item
        if kind == "message" or kind == "followup":
            body = text or ""
            shown = mask_text(body) if mask else body
            if sender == "customer":
                notes = suggestion_notes(suggestions)
                item = {"kind": kind, "id": event_id, "ts": iso(ts_ms), "ts_ms": ts_ms, "shop": shop,
                        "conversation": conversation, "customer": customer, "agent": agent, "sender": sender,
                        "text": shown, "intent": intent, "customer_type": customer_type, "suggestions": notes,
                        "suggestion_used": False if notes else None}  # fmt: skip
                if burst is None and not copy:
                    burst = item
                    item["response_s"] = None
                    item["slow"] = False
                    item["unanswered"] = False
                    if after_hours(ts_ms, spans):
                        item["after_hours"] = True
                    waiting += 1
                if notes and not copy:
                    offered = item
                    waiting += 1
            else:
                item = {"kind": kind, "id": event_id, "ts": iso(ts_ms), "ts_ms": ts_ms, "shop": shop,
                        "conversation": conversation, "customer": customer, "agent": agent, "sender": sender,
                        "text": shown}  # fmt: skip
                if sender == "agent":
                    item["short"] = is_short_reply(body)
            flags = flag_notes(qa, mask, body) if qa else None
            if flags:
                item["qa"] = flags
            if followup_id is not None:
                state = followup_state or "sent"
                item["followup"] = {"id": followup_id, "kind": followup_kind, "state": state, "outcome": state,
                                    "came_back_s": None}  # fmt: skip
                if state == "sent":
                    followups.append(item)
                    waiting += 1
        else:
            item = {"kind": kind, "id": event_id, "ts": iso(ts_ms), "ts_ms": ts_ms, "shop": shop,
                    "conversation": conversation, "customer": customer, "agent": agent}  # fmt: skip
            if kind in ORDER_TYPES:
                amount = extra.get("amount") if extra else None
                item["order"] = extra.get("order") if extra else None
                item["amount"] = float(amount) if isinstance(amount, (int, float)) else None
                if kind in ("order_paid", "order_refunded"):  # after the window: in no figure (docs/kpi.md)
                    item["late"] = placed_ms is not None and ts_ms >= int(placed_ms) + payment_window_ms
                if kind == "order_closed":
                    item["paid"] = bool(order_state)
                elif kind == "order_refunded" and checked:
                    left = None if order_state is None else max(int(order_state), 0) / 100
                    counted = None if left is None else min(item["amount"] or 0.0, left)
                    item["refund"] = {"counted": counted, "unrefunded": left}
            elif kind == "suggestion_used":
                item["phrase_id"] = extra.get("phrase_id") if extra else None
        if waiting:
            buffer.append(item)
        else:
            if buffer:
                yield from buffer
                buffer = []
            yield item
    if burst is not None:  # nobody answered by the horizon, or by now: slow once it has waited too long
        burst["unanswered"] = burst["slow"] = waited_too_long(
            burst["ts_ms"], settled.now_ms, settled.horizon_ms, slow_ms, spans
        )
    yield from buffer
