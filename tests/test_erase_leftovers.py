"""`assistant buyer erase` of a buyer whose conversation an earlier release archived: that archive left the
conversation's Chatwoot status, its inbox and its follow-up's Chatwoot message id in the database
(daylog/leftovers.py deletes them with the day since); the erasure finds and deletes them."""

from __future__ import annotations

from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from assistant import store
from assistant.config import Config
from assistant.daylog import buyer, leftovers
from assistant.daylog.archive import archive
from tests.helpers import BACKENDS
from tests.test_archive import NOW, TODAY, add_events, archiving_on, day_ts, insert_followup

pytestmark = BACKENDS
SHOP, ACCOUNT, INBOX = "chatwoot-7", "7", "3"  # a Chatwoot account's shop: its id names the account
GONE, KEPT = "41", "42"  # the conversations: the erased buyer's, archived long ago, and another buyer's, of yesterday


@pytest.fixture
def config(config: Config, tmp_path: Path, db_path: store.Location, monkeypatch: pytest.MonkeyPatch) -> Config:
    return archiving_on(config, tmp_path, db_path, monkeypatch)


def log(db: store.Location, conversation: str, days_ago: int) -> None:
    """A chat with a sent follow-up, and what Chatwoot's webhooks taught of it: its inbox, its status, the
    follow-up's message id."""
    day = TODAY - timedelta(days=days_ago)
    who = {"shop": SHOP, "conversation": conversation, "customer": f"contact-{conversation}"}
    add_events(db, [
        {**who, "id": f"{conversation}-q", "type": "message", "ts": day_ts(day, 10), "sender": "customer",
         "text": "什么时候发货"},
        {**who, "id": f"{conversation}-a", "type": "message", "ts": day_ts(day, 10, 1), "sender": "agent",
         "agent": "小美", "text": "亲，今天发"},
    ])  # fmt: skip
    with closing(store.connect(db)) as conn, store.transaction(conn):
        fired = conn.execute("SELECT max(ts_ms) FROM events WHERE conversation = ?", (conversation,)).fetchone()[0]
        insert_followup(conn, id=f"f-{conversation}", shop=SHOP, conversation=conversation,
                        customer=f"contact-{conversation}", state="sent", fired_ms=fired + 300_000)  # fmt: skip
        conn.execute("INSERT OR IGNORE INTO chatwoot_inboxes (inbox, account) VALUES (?, ?)", (INBOX, ACCOUNT))
        conn.execute("INSERT INTO conversation_inboxes (shop, conversation, inbox) VALUES (?, ?, ?)",
                     (SHOP, conversation, INBOX))  # fmt: skip
        conn.execute("INSERT INTO chatwoot_statuses (account, conversation, status, changed_ms) VALUES (?, ?, ?, ?)",
                     (ACCOUNT, conversation, "resolved", fired))  # fmt: skip
        conn.execute("INSERT INTO chatwoot_followups (account, message_id, followup_id) VALUES (?, ?, ?)",
                     (ACCOUNT, f"m-{conversation}", f"f-{conversation}"))  # fmt: skip


def chatwoot_rows(db: store.Location) -> dict[str, list[tuple[Any, ...]]]:
    with closing(store.connect(db)) as conn:
        return {
            "chatwoot_statuses": sorted(tuple(r) for r in conn.execute("SELECT account, conversation FROM chatwoot_statuses")),
            "conversation_inboxes": sorted(tuple(r) for r in conn.execute("SELECT shop, conversation FROM conversation_inboxes")),
            "chatwoot_followups": sorted(tuple(r) for r in conn.execute("SELECT followup_id FROM chatwoot_followups")),
        }  # fmt: skip


@pytest.mark.parametrize("inbox_row", ["kept", "gone"])
def test_buyer_erase_finds_what_an_earlier_archive_left_of_their_conversation(
    config: Config, db_path: store.Location, monkeypatch: pytest.MonkeyPatch, inbox_row: str
) -> None:
    log(db_path, GONE, 200)
    log(db_path, KEPT, 1)
    with monkeypatch.context() as earlier:
        earlier.setattr(leftovers, "STATEMENTS", ())  # the archive of a release before leftovers.py
        archive(config, db_path, NOW)
    left = chatwoot_rows(db_path)
    assert left == {  # what that archive left of the archived conversation, beside the other one's
        "chatwoot_statuses": [(ACCOUNT, GONE), (ACCOUNT, KEPT)],
        "conversation_inboxes": [(SHOP, GONE), (SHOP, KEPT)],
        "chatwoot_followups": [(f"f-{GONE}",), (f"f-{KEPT}",)],
    }
    if inbox_row == "gone":  # its inbox row already deleted (an erasure that found the inbox but not the status)
        with closing(store.connect(db_path)) as conn, store.transaction(conn):
            conn.execute("DELETE FROM conversation_inboxes WHERE conversation = ?", (GONE,))

    found = buyer.erase(config, db_path, buyer.merged(db_path, buyer.Buyer(f"contact-{GONE}", SHOP)))

    assert found.tables.get("chatwoot_statuses") == 1 and found.tables.get("chatwoot_followups") == 1
    assert chatwoot_rows(db_path) == {
        "chatwoot_statuses": [(ACCOUNT, KEPT)],
        "conversation_inboxes": [(SHOP, KEPT)],
        "chatwoot_followups": [(f"f-{KEPT}",)],
    }
