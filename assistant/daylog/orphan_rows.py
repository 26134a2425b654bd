"""Rows an earlier release's archive left behind: the last status, the inbox and the follow-ups' message ids of
conversations it archived in Chatwoot's tables (ids, statuses and times), and the quality alerts of their messages
(the words of the message each flags) with their deliveries (leftovers.py deletes them with the day since): kept
past `[store] retention_days`; `assistant archive` deletes them after the days (docs/daily-log.md, "Rows left by an
earlier release").

Which rows are left cannot be told by SQL alone: a conversation whose status webhook came before its first message
has a status and no event either. The rule is the row's own time, beside the log's rows:

- a status goes when it last changed before the archive's cutoff (the start of the day `retention_days` ago) and the
  database holds nothing of its conversation in the account's shops (no event, conversation row, timer or follow-up):
  a conversation just begun has a status changed just now, and one silent that long has all of its days archived;
- a conversation's inbox goes with its status (in the same transaction): the inbox row has no time, and
  one whose status is not old is kept, as is one with no status;
- a follow-up's Chatwoot message id goes when the log holds neither its follow-up nor its message (`auto-<id>`): a
  follow-up's row is written before its message is posted, so its Chatwoot id names a follow-up the log held, which
  leaves the log only with its archived day (or its buyer's erasure, which deletes the id too).

- a quality alert goes when it was made before the cutoff and the log no longer holds the message it flags (its
  `seq`): an alert is written after its message, in the service that logged it, and leaves the log only with that
  message's archived day (or its buyer's erasure, which deletes the alert too).

- a follow-up timer (`timers`: ids, state and times, no words) goes when it last changed before the cutoff and the log
  holds neither an event nor a follow-up of its conversation: a timer is armed by an event of its conversation and
  written with it, and leaves the log only with its conversation's archived days. They go before the statuses: a
  status whose conversation only such a timer held goes in the same run, and a dry run (which deletes no timer)
  counts it so.

Each statement re-reads the row it deletes: on PostgreSQL, a status another instance changed meanwhile is new, and
stays. A second run finds nothing.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta

from assistant import store, upgrade
from assistant.chatwoot import account_of_shop
from assistant.clock import day_bounds
from assistant.config import Config
from assistant.daylog.query import has_table

# The tables a conversation's rows are in, each led by an index on (shop, conversation).
_HOLDERS = ("events", "conversations", "timers", "followups")
# The shops of each of these tables, read through its index on shop, one seek a shop (not a pass over the rows).
_SHOPS = """
WITH RECURSIVE s (shop) AS (
  SELECT min(shop) FROM {table}
  UNION ALL SELECT (SELECT min(shop) FROM {table} WHERE shop > s.shop) FROM s WHERE s.shop IS NOT NULL
) SELECT shop FROM s WHERE shop IS NOT NULL
"""
BATCH = 500  # conversations (or message ids) whose rows one transaction deletes
_FOLLOWUP_IDS = (
    "FROM chatwoot_followups WHERE account = ? AND message_id IN ({marks})"
    " AND NOT EXISTS (SELECT 1 FROM followups f WHERE f.id = chatwoot_followups.followup_id)"
    " AND NOT EXISTS (SELECT 1 FROM events e WHERE e.id = 'auto-' || chatwoot_followups.followup_id)"
)
_TIMERS = (
    "FROM timers WHERE updated_ms < ?"
    " AND NOT EXISTS (SELECT 1 FROM events e WHERE e.shop = timers.shop AND e.conversation = timers.conversation)"
    " AND NOT EXISTS (SELECT 1 FROM followups f WHERE f.shop = timers.shop AND f.conversation = timers.conversation)"
)
_ALERTS = "FROM qa_alerts WHERE created_ms < ? AND NOT EXISTS (SELECT 1 FROM events e WHERE e.seq = qa_alerts.seq)"


@dataclass
class Cleared:
    """The rows an earlier archive left that one run deleted (or, dry, would delete)."""

    statuses: int = 0
    inboxes: int = 0
    followups: int = 0
    alerts: int = 0  # quality alerts, each with its deliveries
    timers: int = 0  # follow-up timers

    @property
    def chatwoot(self) -> int:
        return self.statuses + self.inboxes + self.followups


def clear(config: Config, location: store.Location, now: datetime | None = None, *, dry_run: bool = False) -> Cleared:
    """Delete the Chatwoot rows and quality alerts of conversations archived (or gone) before the cutoff (`dry_run`:
    count them), BATCH conversations, message ids or alerts a transaction (the running service waits for each, not
    for all)."""
    tz = config.tz
    today = (now or datetime.now(tz)).astimezone(tz).date()
    cutoff_ms = day_bounds(today - timedelta(days=config.store.retention_days), tz)[0]
    conn = store.connect(location)
    try:
        upgrade.migrate_for_command(conn, location)
        cleared = Cleared(
            alerts=_clear_alerts(conn, cutoff_ms, dry_run), timers=_clear_timers(conn, cutoff_ms, dry_run)
        )
        if not has_table(conn, "chatwoot_statuses"):
            return cleared
        shops = _account_shops(conn)
        old = conn.execute("SELECT account, conversation FROM chatwoot_statuses WHERE changed_ms < ?", (cutoff_ms,))
        for account, conversations in _by_account(old.fetchall()).items():
            for batch in _batches(conversations):
                statuses, params = _old_statuses(account, shops.get(account, []), cutoff_ms, batch)
                places = shops.get(account, [])
                inboxes = (
                    f"FROM conversation_inboxes WHERE shop IN ({_marks(places)}) AND conversation IN ({_marks(batch)})"
                    " AND inbox IN (SELECT inbox FROM chatwoot_inboxes WHERE account = ?)"
                    f" AND conversation IN (SELECT conversation {statuses})"
                )
                with store.transaction(conn):
                    if places:
                        cleared.inboxes += _delete(conn, inboxes, (*places, *batch, account, *params), dry_run)
                    cleared.statuses += _delete(conn, statuses, params, dry_run)
        ids = conn.execute("SELECT account, message_id FROM chatwoot_followups").fetchall()
        for account, messages in _by_account(ids).items():
            for batch in _batches(messages):
                with store.transaction(conn):
                    cleared.followups += _delete(
                        conn, _FOLLOWUP_IDS.format(marks=_marks(batch)), (account, *batch), dry_run
                    )
    finally:
        conn.close()
    return cleared


def _clear_alerts(conn: sqlite3.Connection, cutoff_ms: int, dry_run: bool) -> int:
    """The quality alerts made before the cutoff whose message the log no longer holds, with their deliveries."""
    if not has_table(conn, "qa_alerts"):
        return 0
    ids = [str(i) for (i,) in conn.execute(f"SELECT id {_ALERTS}", (cutoff_ms,)).fetchall()]
    deleted = 0
    for batch in _batches(ids):
        alerts = f"{_ALERTS} AND id IN ({_marks(batch)})"
        with store.transaction(conn):
            if not dry_run:
                conn.execute(f"DELETE FROM qa_deliveries WHERE alert_id IN (SELECT id {alerts})", (cutoff_ms, *batch))
            deleted += _delete(conn, alerts, (cutoff_ms, *batch), dry_run)
    return deleted


def _clear_timers(conn: sqlite3.Connection, cutoff_ms: int, dry_run: bool) -> int:
    """The follow-up timers unchanged since before the cutoff whose conversation the log no longer holds."""
    if not has_table(conn, "timers"):
        return 0
    keys = conn.execute(f"SELECT shop, conversation {_TIMERS}", (cutoff_ms,)).fetchall()
    deleted = 0
    for start in range(0, len(keys), BATCH):
        batch = [(str(shop), str(conversation)) for shop, conversation in keys[start : start + BATCH]]
        timers = f"{_TIMERS} AND (shop, conversation) IN (VALUES {', '.join(['(?, ?)'] * len(batch))})"
        with store.transaction(conn):
            deleted += _delete(conn, timers, (cutoff_ms, *(part for key in batch for part in key)), dry_run)
    return deleted


def _by_account(rows: list[tuple[object, object]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for account, key in rows:
        found.setdefault(str(account), []).append(str(key))
    return found


def _batches(keys: list[str]) -> list[list[str]]:
    return [keys[i : i + BATCH] for i in range(0, len(keys), BATCH)]


def _marks(values: list[str]) -> str:
    return ", ".join("?" * len(values))


def _account_shops(conn: sqlite3.Connection) -> dict[str, list[str]]:
    """Each Chatwoot account's shops that any table holding a conversation's rows names ({account: [shop]})."""
    found: dict[str, set[str]] = {}
    for table in (*_HOLDERS, "conversation_inboxes"):
        if not has_table(conn, table):
            continue
        for (shop,) in conn.execute(_SHOPS.format(table=table)):
            account = account_of_shop(str(shop))
            if account is not None:
                found.setdefault(account, set()).add(str(shop))
    return {account: sorted(shops) for account, shops in found.items()}


def _old_statuses(
    account: str, shops: list[str], cutoff_ms: int, conversations: list[str]
) -> tuple[str, tuple[str | int, ...]]:
    """The FROM clause of the account's statuses of `conversations` older than the cutoff with nothing of their
    conversation in the account's shops, and its parameters."""
    sql = f"FROM chatwoot_statuses WHERE account = ? AND conversation IN ({_marks(conversations)}) AND changed_ms < ?"
    params: list[str | int] = [account, *conversations, cutoff_ms]
    if shops:
        marks = ", ".join("?" * len(shops))
        for table in _HOLDERS:
            sql += (
                f" AND NOT EXISTS (SELECT 1 FROM {table} h WHERE h.shop IN ({marks})"
                " AND h.conversation = chatwoot_statuses.conversation"
            )
            params += shops
            if table == "timers":
                # A timer unchanged since before the cutoff holds its conversation only beside an event or a
                # follow-up of it (which hold it themselves): without, it is a leftover the run deletes first
                # (`_clear_timers`), and a dry run, which deletes nothing, counted its status as held.
                sql += " AND h.updated_ms >= ?"
                params.append(cutoff_ms)
            sql += ")"
    return sql, tuple(params)


def _delete(conn: sqlite3.Connection, rows: str, params: tuple[str | int, ...], dry_run: bool) -> int:
    if dry_run:
        return int(conn.execute(f"SELECT count(*) {rows}", params).fetchone()[0])
    return int(conn.execute(f"DELETE {rows}", params).rowcount)
