"""Which item each conversation is about: the last one an event named (`item`) or a message linked to."""

from __future__ import annotations

import json
import sqlite3
from collections import OrderedDict

from assistant import store
from assistant.catalog.links import item_in
from assistant.events import Event

LOOKBACK = 50  # messages of a conversation searched for its item when it is not in memory


def event_item(event: Event) -> str | None:
    """The item a message event is about by itself: its `item` field, else a Taobao/Tmall link in its text."""
    if event.type != "message":
        return None
    return event.item or item_in(event.text or "")


class ItemFocus:
    """A bounded memory of each conversation's item; a miss is looked up in the interaction log."""

    def __init__(self, db_path: store.Location, *, capacity: int = 20_000) -> None:
        self.db_path = db_path
        self.capacity = capacity
        self._items: OrderedDict[tuple[str, str], str | None] = OrderedDict()
        self._conn: sqlite3.Connection | None = None

    def item_of(self, shop: str, conversation: str) -> str | None:
        """The conversation's item, or None when no message has named one."""
        key = (shop, conversation)
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        found = self._lookup(shop, conversation)
        self._remember(key, found)
        return found

    def observe(self, event: Event) -> None:
        """Listener: a newly logged message that names an item makes it the conversation's item."""
        item = event_item(event)
        if item is not None:
            self._remember((event.shop, event.conversation), item)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _remember(self, key: tuple[str, str], item: str | None) -> None:
        self._items[key] = item
        self._items.move_to_end(key)
        if len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def _lookup(self, shop: str, conversation: str) -> str | None:
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
        except sqlite3.OperationalError:  # no database yet: nothing was said
            return None
        for raw, text in rows:
            item = json.loads(raw).get("item")
            found = item if isinstance(item, str) and item else item_in(text)
            if found:
                return found
        return None
