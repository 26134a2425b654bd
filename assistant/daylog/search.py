"""The daily log's search and message filters: which of the day's conversations hold a message that may match.

A page that searches the day, or filters it by intent, customer type or quality flag, reads only those
conversations; the rest of the day is never read. The page still checks every item it shows.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from assistant.privacy import may_contain, search_fold

Key = tuple[str, str]  # (shop, conversation)


@dataclass(frozen=True)
class Sought:
    """What one message of the day must be or may show; every condition given holds for the same message."""

    text: str = ""  # may show this, casefolded (a follow-up's text counts when nothing else is sought)
    intent: str | None = None
    customer_type: str | None = None
    qa: str | None = None  # a quality category, or "any"

    def __bool__(self) -> bool:
        return bool(self.text or self.intent or self.customer_type or self.qa)


def sought_conversations(
    conn: sqlite3.Connection,
    sought: Sought,
    shop: str | None,
    listing_sql: str,
    params: dict[str, Any],
    followups: bool,
) -> list[Key]:
    """The conversations `listing_sql` lists, in order, with a message of the day that may be what is sought.

    One pass over the day's messages, where reading every conversation to check it took 21-38 s on the
    simulated million-message day for a word or an intent found nowhere. `params` holds the listing's own
    and the day's bounds (`start`, `end`); `followups`: whether the follow-ups table is there to read.
    """
    where = ["m.intent = :intent"] if sought.intent else []
    where += ["m.customer_type = :customer_type"] if sought.customer_type else []
    where += ["m.qa IS NOT NULL"] if sought.qa else []
    values = {**params, "shop": shop, "intent": sought.intent, "customer_type": sought.customer_type}
    if shop is not None:  # the (shop, ts_ms) index on messages
        source = "messages m WHERE m.shop = :shop AND m.ts_ms >= :start AND m.ts_ms < :end"
    else:  # the day's events through their ts index, not every message ever logged
        source = "events e JOIN messages m ON m.seq = e.seq WHERE e.ts_ms >= :start AND e.ts_ms < :end"
    # The buyer's id counts on the buyer's own messages, as the page checks it (`Filters.hits`).
    sources = [
        f"SELECT m.shop, m.conversation, m.text, m.qa, CASE WHEN m.sender = 'customer' THEN m.customer END"
        f" FROM {source}" + "".join(f" AND {w}" for w in where)
    ]
    of_shop = " AND shop = :shop" if shop is not None else ""
    if followups and not where:  # a follow-up that never became a message shows its text alone
        sources.append(
            "SELECT shop, conversation, text, NULL, NULL FROM followups"
            f" WHERE fired_ms >= :start AND fired_ms < :end{of_shop}"
        )
    if sought.text and not where:  # an order shows its id (in the raw event); it has no intent, type or flag
        sources.append(
            "SELECT shop, conversation, raw, NULL, NULL FROM events WHERE ts_ms >= :start AND ts_ms < :end"
            f" AND type IN ('order_created', 'order_paid', 'order_closed', 'order_refunded'){of_shop}"
        )
    folded = search_fold(sought.text)
    cursor = conn.cursor()
    cursor.row_factory = None
    found: set[Key] = set()
    for sql in sources:
        for row_shop, conversation, text, qa, customer in cursor.execute(sql, values):
            key = (row_shop, conversation)
            if key in found:
                continue
            if folded and not (text and may_contain(text, folded)) and folded not in search_fold(customer or ""):
                continue
            if sought.qa not in (None, "any") and sought.qa not in qa:  # a superset of the flags' categories
                continue
            found.add(key)
    keys = ((row_shop, conversation) for row_shop, conversation, _first in cursor.execute(listing_sql, params))
    return [key for key in keys if key in found]
