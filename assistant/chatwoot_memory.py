"""What the Chatwoot integration remembers between deliveries, in the log's database (see schema 050)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from assistant import store
from assistant.chatwoot import Notes


class ChatwootMemory:
    """Reads on its own read-only connection; writes are jobs for the single writer (`record`).

    `lock` serializes status deliveries, so two announcements of one resolve are decided one after the other.
    """

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.lock = asyncio.Lock()
        self._conn: sqlite3.Connection | None = None

    def _one(self, sql: str, params: tuple[str, ...]) -> sqlite3.Row | None:
        if self._conn is None:
            self._conn = store.connect(self.db_path, readonly=True)
        row: sqlite3.Row | None = self._conn.execute(sql, params).fetchone()
        return row

    def followup_of(self, account: str, message: str) -> str | None:
        sql = "SELECT followup_id FROM chatwoot_followups WHERE account = ? AND message_id = ?"
        row = self._one(sql, (account, message))
        return str(row[0]) if row else None

    def account_of_inbox(self, inbox: str) -> str | None:
        row = self._one("SELECT account FROM chatwoot_inboxes WHERE inbox = ?", (inbox,))
        return str(row[0]) if row else None

    def last_status(self, account: str, conversation: str) -> tuple[str, int] | None:
        sql = "SELECT status, changed_ms FROM chatwoot_statuses WHERE account = ? AND conversation = ?"
        row = self._one(sql, (account, conversation))
        return (str(row[0]), int(row[1])) if row else None

    def agent_name(self, account: str, user: str) -> str | None:
        row = self._one("SELECT name FROM chatwoot_agents WHERE account = ? AND user_id = ?", (account, user))
        return str(row[0]) if row else None

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
        return Notes(inbox=inbox, followup=followup, status=status, agents=agents)

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
    for agent in notes.agents:  # the first name seen for a user id stays its name
        conn.execute("INSERT OR IGNORE INTO chatwoot_agents (account, user_id, name) VALUES (?, ?, ?)", agent)
    if notes.status is not None:
        conn.execute(
            "INSERT INTO chatwoot_statuses (account, conversation, status, changed_ms) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (account, conversation) DO UPDATE SET status = excluded.status,"
            " changed_ms = excluded.changed_ms WHERE excluded.changed_ms >= chatwoot_statuses.changed_ms",
            notes.status,
        )
