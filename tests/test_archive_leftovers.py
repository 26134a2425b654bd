"""`assistant archive` deletes the rows an earlier release's archive left of the conversations it archived (their
Chatwoot status, inbox and follow-ups' message ids, the quality alerts of their messages, their follow-up timers): those older than
retention_days whose conversation (or message) the database no longer holds, never a live one's, once
(daylog/orphan_rows.py)."""

from __future__ import annotations

from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from assistant import store
from assistant.cli.log import run_archive
from assistant.config import Config
from assistant.daylog import leftovers
from assistant.daylog.archive import archive
from assistant.qa.store import AlertRow, insert_alert
from tests.helpers import BACKENDS
from tests.test_archive import NOW, TODAY, add_events, archiving_on, day_ts
from tests.test_erase_leftovers import ACCOUNT, GONE, INBOX, KEPT, SHOP, chatwoot_rows, log

pytestmark = BACKENDS
NEW = "43"  # a conversation Chatwoot told the status of a minute ago, before its first message is logged
QUIET = "44"  # a conversation of the account's inbox shop, its status changed long ago, a message of yesterday
INBOX_SHOP = f"chatwoot-{ACCOUNT}-{INBOX}"


@pytest.fixture
def config(config: Config, tmp_path: Path, db_path: store.Location, monkeypatch: pytest.MonkeyPatch) -> Config:
    return archiving_on(config, tmp_path, db_path, monkeypatch)


def left_by_an_earlier_archive(config: Config, db: store.Location, monkeypatch: pytest.MonkeyPatch) -> None:
    """An archived conversation (GONE, 200 days ago), yesterday's (KEPT), and the two live ones with no event (NEW)
    or none of late in the account's shop (QUIET), archived by a release before leftovers.py."""
    log(db, GONE, 200)
    log(db, KEPT, 1)
    yesterday = TODAY - timedelta(days=1)
    add_events(db, [{"shop": INBOX_SHOP, "conversation": QUIET, "customer": "contact-44", "id": "44-q",
                     "type": "message", "ts": day_ts(yesterday, 9), "sender": "customer", "text": "在吗"}])  # fmt: skip
    long_ago = int((NOW - timedelta(days=200)).timestamp() * 1000)
    with closing(store.connect(db)) as conn, store.transaction(conn):
        for conversation, changed_ms in ((NEW, int(NOW.timestamp() * 1000) - 60_000), (QUIET, long_ago)):
            conn.execute("INSERT INTO conversation_inboxes (shop, conversation, inbox) VALUES (?, ?, ?)",
                         (INBOX_SHOP, conversation, INBOX))  # fmt: skip
            conn.execute("INSERT INTO chatwoot_statuses (account, conversation, status, changed_ms) VALUES (?, ?, ?, ?)",
                         (ACCOUNT, conversation, "open", changed_ms))  # fmt: skip
    with closing(store.connect(db)) as conn, store.transaction(conn):
        for conversation, days_ago in ((GONE, 200), (KEPT, 1)):  # each flags its buyer's message
            seq, event_id, ts_ms = conn.execute("SELECT seq, id, ts_ms FROM events WHERE id = ?",
                                                (f"{conversation}-q",)).fetchone()  # fmt: skip
            made_ms = int((NOW - timedelta(days=days_ago)).timestamp() * 1000)
            insert_alert(conn, AlertRow(f"qa-{conversation}", 1, SHOP, conversation, f"contact-{conversation}", None,
                                        "customer", event_id, seq, ts_ms, "什么时候发货", (), made_ms),
                         ["dingtalk"], made_ms)  # fmt: skip
    with monkeypatch.context() as earlier:
        earlier.setattr(leftovers, "STATEMENTS", ())
        archive(config, db, NOW)


def alert_rows(db: store.Location) -> tuple[list[Any], list[Any]]:
    """The quality alerts' conversations, and the alerts their deliveries are of."""
    with closing(store.connect(db)) as conn:
        alerts = [row[0] for row in conn.execute("SELECT conversation FROM qa_alerts ORDER BY conversation")]
        deliveries = [row[0] for row in conn.execute("SELECT alert_id FROM qa_deliveries ORDER BY alert_id")]
    return alerts, deliveries


KEEPS: dict[str, list[tuple[Any, ...]]] = {
    "chatwoot_statuses": [(ACCOUNT, KEPT), (ACCOUNT, NEW), (ACCOUNT, QUIET)],
    "conversation_inboxes": [("chatwoot-7", KEPT), (INBOX_SHOP, NEW), (INBOX_SHOP, QUIET)],
    "chatwoot_followups": [(f"f-{KEPT}",)],
}


def test_archive_deletes_the_chatwoot_rows_an_earlier_archive_left(
    config: Config, db_path: store.Location, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    left_by_an_earlier_archive(config, db_path, monkeypatch)
    before = chatwoot_rows(db_path)
    assert before == {  # the archived conversation's rows, left beside the live ones'
        "chatwoot_statuses": sorted([(ACCOUNT, GONE), *KEEPS["chatwoot_statuses"]]),
        "conversation_inboxes": sorted([("chatwoot-7", GONE), *KEEPS["conversation_inboxes"]]),
        "chatwoot_followups": sorted([(f"f-{GONE}",), *KEEPS["chatwoot_followups"]]),
    }
    assert alert_rows(db_path) == ([GONE, KEPT], [f"qa-{GONE}", f"qa-{KEPT}"])  # the archived message's alert too
    capsys.readouterr()

    assert run_archive(config, db_path, dry_run=True, pause_after=None, now=NOW) == 0
    out = capsys.readouterr().out
    assert "Chatwoot 表中的记录，将删除：会话状态 1 条，收件箱 1 条，跟进消息 ID 1 条" in out
    assert "旧版本归档的消息留下的质检提醒，将删除：1 条" in out
    assert chatwoot_rows(db_path) == before
    assert alert_rows(db_path) == ([GONE, KEPT], [f"qa-{GONE}", f"qa-{KEPT}"])

    assert run_archive(config, db_path, dry_run=False, pause_after=None, now=NOW) == 0
    out = capsys.readouterr().out
    assert "已删除旧版本归档的会话留在 Chatwoot 表中的记录：会话状态 1 条，收件箱 1 条，跟进消息 ID 1 条" in out
    assert "已删除旧版本归档的消息留下的质检提醒：1 条" in out
    assert chatwoot_rows(db_path) == KEEPS
    assert alert_rows(db_path) == ([KEPT], [f"qa-{KEPT}"])  # yesterday's message is in the log: its alert stays

    assert run_archive(config, db_path, dry_run=False, pause_after=None, now=NOW) == 0
    assert "旧版本归档的" not in capsys.readouterr().out  # nothing left to delete: said nothing
    assert chatwoot_rows(db_path) == KEEPS
    assert alert_rows(db_path) == ([KEPT], [f"qa-{KEPT}"])


def test_archive_keeps_an_archived_conversations_status_changed_within_retention(
    config: Config, db_path: store.Location, monkeypatch: pytest.MonkeyPatch
) -> None:
    log(db_path, GONE, 200)
    within = int((NOW - timedelta(days=30)).timestamp() * 1000)  # resolved again 30 days ago, no message since
    with closing(store.connect(db_path)) as conn, store.transaction(conn):
        conn.execute("UPDATE chatwoot_statuses SET changed_ms = ? WHERE conversation = ?", (within, GONE))
    with monkeypatch.context() as earlier:
        earlier.setattr(leftovers, "STATEMENTS", ())
        archive(config, db_path, NOW)

    assert run_archive(config, db_path, dry_run=False, pause_after=None, now=NOW) == 0

    assert chatwoot_rows(db_path) == {
        "chatwoot_statuses": [(ACCOUNT, GONE)],
        "conversation_inboxes": [("chatwoot-7", GONE)],
        "chatwoot_followups": [],  # its follow-up was archived with its day
    }


def timer_rows(db: store.Location) -> list[tuple[Any, ...]]:
    with closing(store.connect(db)) as conn:
        return sorted(tuple(r) for r in conn.execute("SELECT shop, conversation, state FROM timers"))


def test_archive_deletes_the_follow_up_timers_an_earlier_archive_left(
    config: Config, db_path: store.Location, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found: the timers of conversations an earlier release archived (ids, states and times) stayed in the database
    # past retention_days, and kept their conversations' Chatwoot statuses there too (a timer holds its conversation).
    log(db_path, GONE, 200)
    log(db_path, KEPT, 1)
    now_ms = int(NOW.timestamp() * 1000)
    with closing(store.connect(db_path)) as conn, store.transaction(conn):
        for conversation, updated_ms, state in (
            (GONE, now_ms - 200 * 86_400_000, "sent"),  # archived: goes
            (KEPT, now_ms - 200 * 86_400_000, "cancelled"),  # its conversation wrote yesterday: stays
            (NEW, now_ms - 60_000, "armed"),  # changed a minute ago: stays, whatever the log holds
        ):
            conn.execute(
                "INSERT INTO timers (shop, conversation, armed_seq, armed_ms, due_ms, state, updated_ms)"
                " VALUES (?, ?, 1, ?, ?, ?, ?)",
                (SHOP, conversation, updated_ms, updated_ms + 300_000, state, updated_ms),
            )
    with monkeypatch.context() as earlier:
        earlier.setattr(leftovers, "STATEMENTS", ())
        archive(config, db_path, NOW)
    left = [(SHOP, GONE, "sent"), (SHOP, KEPT, "cancelled"), (SHOP, NEW, "armed")]
    assert timer_rows(db_path) == sorted(left)
    assert (ACCOUNT, GONE) in chatwoot_rows(db_path)["chatwoot_statuses"]
    capsys.readouterr()

    assert run_archive(config, db_path, dry_run=True, pause_after=None, now=NOW) == 0
    out = capsys.readouterr().out
    assert "旧版本归档的会话留下的跟进计时器，将删除：1 条" in out
    # The status and inbox only that timer held are counted as the real run deletes them (it deletes the timer
    # first): the dry run counted them as still held (会话状态 0 条，收件箱 0 条).
    assert "Chatwoot 表中的记录，将删除：会话状态 1 条，收件箱 1 条，跟进消息 ID 1 条" in out
    assert timer_rows(db_path) == sorted(left)
    assert (ACCOUNT, GONE) in chatwoot_rows(db_path)["chatwoot_statuses"]

    assert run_archive(config, db_path, dry_run=False, pause_after=None, now=NOW) == 0
    out = capsys.readouterr().out
    assert "已删除旧版本归档的会话留下的跟进计时器：1 条" in out
    assert "已删除旧版本归档的会话留在 Chatwoot 表中的记录：会话状态 1 条，收件箱 1 条，跟进消息 ID 1 条" in out
    assert timer_rows(db_path) == sorted(left[1:])
    assert (ACCOUNT, GONE) not in chatwoot_rows(db_path)["chatwoot_statuses"]  # its timer no longer holds it

    assert run_archive(config, db_path, dry_run=False, pause_after=None, now=NOW) == 0
    assert "跟进计时器" not in capsys.readouterr().out
    assert timer_rows(db_path) == sorted(left[1:])
