"""What the Chatwoot integration remembers between deliveries, in the log's database (see schema 050)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, TypeVar

from assistant import store
from assistant.chatwoot import SHOP_PREFIX, Notes
from assistant.cluster.relay import MEMORY
from assistant.ground.bounded import Bounded

CUSTOMER_MERGED = "customer_merged"  # the `event_type` of the cards a contact merge publishes (no event of the log)
CACHED = 20_000  # entries kept per kind: conversations, agents and inboxes of a busy day
K = TypeVar("K")
V = TypeVar("V")


class _Cache(Bounded[K, V | None]):
    """A bounded map of recent look-ups, least recently used dropped first (read with `in`, then `get`); misses
    (None) are kept only when no other process can fill them in (`misses`), and nothing at all when `size` is 0."""

    def __init__(self, size: int = CACHED, *, misses: bool = True) -> None:
        super().__init__(size, on_read=True, on_write=True)
        self.misses = misses

    def put(self, key: K, value: V | None) -> None:
        if value is None and not self.misses:
            self.pop(key, None)
            return
        Bounded.put(self, key, value)


class ChatwootMemory:
    """Reads on its own read-only connection, through caches; writes are jobs for the single writer (`record`),
    then `learned`. Alone on its database, this process is the only writer of these tables, so the caches
    stay true. With other instances on a shared database (`shared`), what never changes once written is
    cached — an inbox's account, an agent's first name — and what another instance may change (a conversation's
    status, a conversation's contact) only while the live journal is heard (`heard`: the relay's epoch, a number
    that changes at each of its connections, None while it has none): each such change is journaled (a status
    row, a merge's cards) and `heard_of` forgets what it changed; a new connection, which may have missed rows,
    forgets them all. Without a journal heard, they are read every time (`record` keeps the newest status
    whoever writes it).

    `lock` serializes status deliveries, so two announcements of one resolve are decided one after the other
    (across instances, the closure's event id, taken from the status change, makes the second a duplicate).
    """

    def __init__(self, db_path: store.Location, *, shared: bool = False) -> None:
        self.db_path = db_path
        self.lock = asyncio.Lock()
        self._conn: sqlite3.Connection | None = None
        self._inboxes: _Cache[str, str] = _Cache(misses=not shared)
        self._agents: _Cache[tuple[str, str], str] = _Cache(misses=not shared)
        self._statuses: _Cache[tuple[str, str], tuple[str, int]] = _Cache()
        self._places: _Cache[tuple[str, str], str] = _Cache(misses=not shared)  # a conversation's inbox never changes
        # A conversation's contact as the log has it, seen unmerged (another instance may merge: `heard_of`).
        self._contacts: _Cache[tuple[str, str], str] = _Cache(misses=False)
        self.shared = shared
        # Shared: the live journal's epoch (relay.Relay.epoch), None while it is not heard; the epoch cached under.
        self.heard: Callable[[], int | None] | None = None
        self._epoch: int | None = None
        self.tokens_warned: set[str] = set()  # accounts whose missing API token was checked (warned once)

    def _trusted(self) -> bool:
        """Whether the cached statuses and contacts hold: alone on the database, or the journal heard since they
        were cached (a new connection of it, which may have missed rows, or none: they are forgotten)."""
        if not self.shared:
            return True
        epoch = self.heard() if self.heard is not None else None
        if epoch != self._epoch:
            self._statuses.clear()
            self._contacts.clear()
            self._epoch = epoch
        return epoch is not None

    def heard_of(self, kind: str, payload: Mapping[str, Any]) -> None:
        """Another instance journaled a change (relay's `on_remote`): a status it recorded, a merge it made."""
        if kind == MEMORY and payload.get("table") == "chatwoot_statuses":
            self._statuses.pop((str(payload.get("account")), str(payload.get("conversation"))), None)
        elif payload.get("event_type") == CUSTOMER_MERGED:
            self._contacts.clear()  # the merged contact's conversations may be cached under another key too

    def _one(self, sql: str, params: tuple[str, ...]) -> sqlite3.Row | None:
        if self._conn is None:
            self._conn = store.connect(self.db_path, readonly=True)
        row: sqlite3.Row | None = self._conn.execute(sql, params).fetchone()
        return row

    def followup_of(self, account: str, message: str) -> str | None:
        sql = "SELECT followup_id FROM chatwoot_followups WHERE account = ? AND message_id = ?"
        row = self._one(sql, (account, message))
        return str(row[0]) if row else None

    def followup(self, followup: str) -> tuple[str | None, str] | None:
        """A follow-up's agent and text, as the assistant logs it when sent (read as its echo arrives)."""
        row = self._one("SELECT agent, text FROM followups WHERE id = ?", (followup,))
        return (None if row[0] is None else str(row[0]), str(row[1])) if row else None

    def account_of_inbox(self, inbox: str) -> str | None:
        if inbox in self._inboxes:
            account = self._inboxes.get(inbox)
        else:
            row = self._one("SELECT account FROM chatwoot_inboxes WHERE inbox = ?", (inbox,))
            account = str(row[0]) if row else None
            self._inboxes.put(inbox, account)
        return account

    def inbox_in(self, shop: str, conversation: str) -> str | None:
        """The inbox a conversation is in, as a webhook said (conversation_inboxes), else None."""
        if (shop, conversation) in self._places:
            inbox = self._places.get((shop, conversation))
        else:
            sql = "SELECT inbox FROM conversation_inboxes WHERE shop = ? AND conversation = ?"
            row = self._one(sql, (shop, conversation))
            inbox = str(row[0]) if row else None
            self._places.put((shop, conversation), inbox)
        return inbox

    def last_status(self, account: str, conversation: str) -> tuple[str, int] | None:
        trusted = self._trusted()
        if trusted and (account, conversation) in self._statuses:
            status = self._statuses.get((account, conversation))
        else:
            sql = "SELECT status, changed_ms FROM chatwoot_statuses WHERE account = ? AND conversation = ?"
            row = self._one(sql, (account, conversation))
            status = (str(row[0]), int(row[1])) if row else None
            if trusted:
                self._statuses.put((account, conversation), status)
        return status

    def agent_name(self, account: str, user: str) -> str | None:
        """The name a user was first seen with: in this account, else in another (Chatwoot's user ids are the
        installation's: one person in two accounts is one agent)."""
        if (account, user) in self._agents:
            name = self._agents.get((account, user))
        else:
            row = self._one(
                "SELECT name FROM chatwoot_agents WHERE user_id = ? ORDER BY CASE WHEN account = ? THEN 0 ELSE 1 END"
                " LIMIT 1",
                (user, account),
            )
            name = str(row[0]) if row else None
            self._agents.put((account, user), name)
        return name

    def agent_named(self, name: str) -> str | None:
        """The user id already holding `name` in any account, if any (read when a user is first seen)."""
        row = self._one("SELECT user_id FROM chatwoot_agents WHERE name = ? LIMIT 1", (name,))
        return str(row[0]) if row else None

    def merge_of(self, shop: str, conversation: str, contact: str) -> tuple[str, str | None]:
        """(`contact`, or the contact it was merged into; the conversation's contact in the log when another: the
        one merged into `contact`). A conversation's delivery naming the contact last seen for it reads nothing
        (nearly every one; on a shared database, while the journal is heard); otherwise both are read, and a merge
        found forgets every contact seen (the merged one's other conversations name it)."""
        trusted = self._trusted()
        if trusted and self._contacts.get((shop, conversation)) == contact:
            return contact, None
        for _hop in range(8):  # a merge of a merge…
            row = self._one("SELECT merged_into FROM customer_merges WHERE shop = ? AND customer = ?", (shop, contact))
            if row is None:
                break
            contact = str(row[0])
        row = self._one("SELECT customer FROM conversations WHERE shop = ? AND conversation = ?", (shop, conversation))
        logged = str(row[0]) if row else None
        if logged is not None and logged != contact:
            self._contacts.clear()  # the merge is still to be written: nothing seen holds until it is
            return contact, logged
        if trusted:
            self._contacts.put((shop, conversation), contact)
        return contact, None

    def news(self, notes: Notes) -> Notes:
        """The part of `notes` not remembered yet (most deliveries teach nothing new: no write then)."""
        inbox = notes.inbox if notes.inbox and self.account_of_inbox(notes.inbox[0]) != notes.inbox[1] else None
        followup = notes.followup
        if followup and self.followup_of(followup[0], followup[1]) == followup[2]:
            followup = None
        status = notes.status
        if status is not None:
            last = self.last_status(status[0], status[1])
            if last is not None and (last[1] > status[3] or last == (status[2], status[3])):
                status = None
        agents = tuple(a for a in notes.agents if self.agent_name(a[0], a[1]) is None)
        place = notes.place if notes.place and self.inbox_in(*notes.place[:2]) != notes.place[2] else None
        return Notes(inbox=inbox, followup=followup, status=status, agents=agents, place=place)

    def learned(self, notes: Notes) -> None:
        """After `record(notes)` committed: the caches say what the tables now say."""
        if notes.inbox is not None:
            self._inboxes.put(notes.inbox[0], notes.inbox[1])
        if notes.place is not None:
            self._places.put(notes.place[:2], notes.place[2])
        for account, user, name in notes.agents:
            if self.shared:
                continue  # another instance may have written its first name before ours: read it when asked
            if self.agent_name(account, user) is None:
                self._agents.put((account, user), name)
        if notes.status is not None and self._trusted():
            account, conversation, status, changed_ms = notes.status
            last = self.last_status(account, conversation)
            if last is None or changed_ms >= last[1]:
                self._statuses.put((account, conversation), (status, changed_ms))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def record(conn: sqlite3.Connection, notes: Notes) -> None:
    """Remember `notes` (a writer job); a status older than the one remembered is kept out."""
    if notes.inbox is not None:
        conn.execute(
            "INSERT INTO chatwoot_inboxes (inbox, account) VALUES (?, ?)"
            " ON CONFLICT (inbox) DO UPDATE SET account = excluded.account",
            notes.inbox,
        )
    if notes.followup is not None:
        conn.execute(
            "INSERT INTO chatwoot_followups (account, message_id, followup_id) VALUES (?, ?, ?)"
            " ON CONFLICT (account, message_id) DO UPDATE SET followup_id = excluded.followup_id",
            notes.followup,
        )
    if notes.place is not None:
        conn.execute(
            "INSERT INTO conversation_inboxes (shop, conversation, inbox) VALUES (?, ?, ?)"
            " ON CONFLICT (shop, conversation) DO UPDATE SET inbox = excluded.inbox",
            notes.place,
        )
    for agent in notes.agents:  # the first name seen for a user id stays its name
        conn.execute("INSERT OR IGNORE INTO chatwoot_agents (account, user_id, name) VALUES (?, ?, ?)", agent)
    if notes.status is not None:
        conn.execute(
            "INSERT INTO chatwoot_statuses (account, conversation, status, changed_ms) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (account, conversation) DO UPDATE SET status = excluded.status,"
            " changed_ms = excluded.changed_ms WHERE excluded.changed_ms >= chatwoot_statuses.changed_ms",
            notes.status,
        )


# The tables naming a customer, each narrowed to the merged contact's conversations of one shop where no index on
# the customer serves (its rows are found by the conversations its messages and orders are in).
_BY_CUSTOMER = ("messages", "orders")
_BY_CONVERSATION = ("events", "conversations", "suggestion_uses", "followups", "qa_alerts")


class Merged(NamedTuple):
    """What a contact merge changed: the log's rows, and the conversations they are in (their cards change)."""

    rows: int
    conversations: list[tuple[str, str]]


def merge_contacts(conn: sqlite3.Connection, account: str, merged: str, into: str, now_ms: int) -> Merged:
    """Chatwoot merged contact `merged` into `into` (ContactMergeAction: its conversations are `into`'s, it is
    deleted): every row of the log naming `merged` in the account's shops names `into` now, so the KPIs count one
    buyer and the buyer's history is one; `customer_merges` keeps the old id, by which `assistant buyer` still
    finds them (and the archived records under it). A writer job, one transaction."""
    shops = [f"{SHOP_PREFIX}-{account}"] + [
        f"{SHOP_PREFIX}-{account}-{row[0]}"
        for row in conn.execute("SELECT inbox FROM chatwoot_inboxes WHERE account = ?", (account,))
    ]
    changed = 0
    moved: list[tuple[str, str]] = []
    for shop in shops:
        found = conn.execute(
            "SELECT conversation FROM messages WHERE shop = ? AND customer = ?"
            " UNION SELECT conversation FROM orders WHERE shop = ? AND customer = ?",
            (shop, merged, shop, merged),
        ).fetchall()
        conversations = [str(row[0]) for row in found]
        moved.extend((shop, conversation) for conversation in conversations)
        for table in _BY_CUSTOMER:
            sql = f"UPDATE {table} SET customer = ? WHERE shop = ? AND customer = ?"
            changed += conn.execute(sql, (into, shop, merged)).rowcount
        for start in range(0, len(conversations), 500):
            part = conversations[start : start + 500]
            marks = ", ".join("?" for _ in part)
            for table in _BY_CONVERSATION:
                if store.has_table(conn, table):
                    sql = (
                        f"UPDATE {table} SET customer = ? WHERE shop = ? AND customer = ? AND conversation IN ({marks})"
                    )
                    changed += conn.execute(sql, (into, shop, merged, *part)).rowcount
        conn.execute("DELETE FROM customer_names WHERE shop = ? AND customer = ?", (shop, merged))  # a contact no more
        if conversations:
            conn.execute(
                "INSERT INTO customer_merges (shop, customer, merged_into, merged_ms) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (shop, customer) DO UPDATE SET merged_into = excluded.merged_into,"
                " merged_ms = excluded.merged_ms",
                (shop, merged, into, now_ms),
            )
    return Merged(changed, moved)
