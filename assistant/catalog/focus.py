"""Which item each conversation is about: the last one an event named (`item`) or a message linked to."""

from __future__ import annotations

import json
import logging
import sqlite3

from assistant import store
from assistant.catalog.links import item_in
from assistant.events import Event
from assistant.tasks import FaultLog

LOOKBACK = 50  # messages of a conversation searched for its item when it is not in memory

log = logging.getLogger(__name__)


class LookupFailed(Exception):
    """The log could not be read for a conversation's item (logged; the item is looked up again next time)."""


def event_item(event: Event) -> str | None:
    """The item a message event is about by itself: its `item` field, else a Taobao/Tmall link in its text."""
    if event.type != "message":
        return None
    return event.item or item_in(event.text or "")


class ItemFocus:
    """Looks a conversation's item up in the interaction log (the conversation's state keeps what is found)."""

    def __init__(self, db_path: store.Location) -> None:
        self.db_path = db_path
        self._conn: sqlite3.Connection | None = None
        # A failed read is one per message through an outage: its first line, then one a minute with a count.
        self._faults = FaultLog(log, level=logging.WARNING)

    def lookup(self, shop: str, conversation: str) -> str | None:
        """The item the conversation's latest messages named, or None; raises LookupFailed when the log
        cannot be read (the reason is logged)."""
        if not store.exists(self.db_path):
            return None  # no log yet: nothing was said
        try:
            if self._conn is None:
                self._conn = store.connect(self.db_path, readonly=True)
            rows = self._conn.execute(
                "SELECT e.raw, m.text FROM messages m JOIN events e ON e.seq = m.seq"
                " WHERE m.shop = ? AND m.conversation = ?"
                " AND (json_extract(e.raw, '$.item') IS NOT NULL OR m.text LIKE '%taobao.com%'"
                " OR m.text LIKE '%tmall.%') ORDER BY m.seq DESC LIMIT ?",
                (shop, conversation, LOOKBACK),
            ).fetchall()
        except sqlite3.Error as exc:
            self._faults.log("read", "the item of conversation %s/%s could not be read from the log: %s", shop, conversation, exc)  # fmt: skip
            raise LookupFailed(str(exc)) from exc
        self._faults.cleared("read", "the items of conversations are read from the log again")
        for raw, text in rows:
            item = json.loads(raw).get("item")
            found = item if isinstance(item, str) and item else item_in(text)
            if found:
                return found
        return None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
