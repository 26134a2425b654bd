"""One buyer's data, for a request under PIPL: where it is, all of it as JSON lines, and its erasure everywhere.

A buyer is a `customer` id (of one shop, or of every shop). Their rows are those naming them in the log's tables,
the rows derived from those (payments of their orders, timers and live-journal entries of their conversations,
what was known of their follow-ups' and alerts' deliveries), and their records in the archive files. An erasure
deletes the rows in one transaction and rewrites each archive file holding a record of theirs as the archive
writes one: a temporary file, checked, renamed into place (docs/daily-log.md, "A buyer's data").
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from assistant import logfile, pg, store, upgrade
from assistant.clock import FIRST_YEAR, LAST_YEAR
from assistant.cluster import instances
from assistant.config import Config
from assistant.daylog.archive import (
    SUFFIX,
    ArchiveError,
    archive_root,
    missing_files,
    missing_reason,
    read_checked,
    run_lock,
    shop_dirname,
    shop_of_dir,
)
from assistant.daylog.rewrite import rewrite
from assistant.i18n import _, database_reason

# Each table holding a buyer's rows, in the order an erasure deletes them (rows that others are found through
# last). `{who}` is the buyer's condition on a table with `customer` and `shop` columns; `{theirs}` lists the buyer's
# conversations (shop, conversation), `{followups}` the ids of their follow-ups: the log's, and those of their archived
# records (an archive before leftovers.py left what names them beside the log's tables: `_statement`).
_THEIRS = (
    "SELECT shop, conversation FROM conversations WHERE {who} UNION SELECT shop, conversation FROM events WHERE {who}"
)
_CONVERSATIONS = "(shop, conversation) IN ({theirs})"
# A Chatwoot conversation's last status (chatwoot_statuses) is found through the inbox its webhooks named
# (conversation_inboxes) and that inbox's account, or through the account its shop's id names (chatwoot-<account>,
# chatwoot-<account>-<inbox>: chatwoot.shop_id), so that one whose inbox row is gone is found too (an archive before
# leftovers.py left the status and the inbox of an archived conversation; an erasure then found its inbox alone, and
# its status was left with nothing to find it by): deleted before the inboxes.
_STATUSES = (
    "(account, conversation) IN (SELECT i.account, c.conversation FROM conversation_inboxes c JOIN chatwoot_inboxes i"
    " ON i.inbox = c.inbox WHERE (c.shop, c.conversation) IN ({theirs}))"
    " OR EXISTS (SELECT 1 FROM ({theirs}) AS theirs WHERE theirs.conversation = chatwoot_statuses.conversation"
    " AND (theirs.shop = 'chatwoot-' || chatwoot_statuses.account"
    " OR theirs.shop LIKE 'chatwoot-' || chatwoot_statuses.account || '-%'))"
)
TABLES: tuple[tuple[str, str], ...] = (
    ("chatwoot_statuses", _STATUSES),
    ("conversation_inboxes", _CONVERSATIONS),  # the inbox a conversation is in: nothing of the buyer, but theirs
    ("payments", "(shop, order_id) IN (SELECT shop, order_id FROM orders WHERE {who})"
                 " OR seq IN (SELECT seq FROM events WHERE {who})"),
    ("timers", _CONVERSATIONS),
    ("live_journal", _CONVERSATIONS),
    ("followup_outcomes", "id IN ({followups})"),
    ("chatwoot_followups", "followup_id IN ({followups})"),  # the platform's ids of their follow-ups' messages
    ("qa_deliveries", "alert_id IN (SELECT id FROM qa_alerts WHERE {who})"),
    ("suggestion_uses", "{who}"),
    ("messages", "{who}"),
    ("orders", "{who}"),
    ("followups", "{who}"),
    ("qa_alerts", "{who}"),
    ("customer_names", "{who}"),  # the name a platform gave them (a Chatwoot contact's), shown on cards
    ("customer_merges", "{who}"),  # the ids merged into another (every id of the merge is the buyer's)
    ("conversations", "{who}"),
    ("events", "{who}"),
)  # fmt: skip
# The order an export lists them in: the chat first, what was derived from it after.
EXPORT_ORDER = ("events", "messages", "orders", "payments", "suggestion_uses", "conversations", "customer_names",
                "customer_merges", "followups", "qa_alerts", "qa_deliveries", "followup_outcomes", "chatwoot_followups",
                "timers", "live_journal", "conversation_inboxes", "chatwoot_statuses")  # fmt: skip
# The watermarks that name an event by seq: after an erasure of the latest events, SQLite numbers the next event
# as the erased one was (no AUTOINCREMENT), so a watermark above every event left comes down to the last of them.
WATERMARKS = ("timers_watermark", "derived_watermark")
COMPACT = "VACUUM"  # what compacts the SQLite file after an erasure (tests make it meet a full disk)


class BuyerRefused(RuntimeError):
    """The buyer's data cannot be changed now (the message says why)."""


@dataclass(frozen=True)
class Buyer:
    customer: str
    shop: str | None = None
    # Their conversations whose rows were archived: timers and live-journal entries may still name them.
    archived_conversations: frozenset[tuple[str, str]] = frozenset()
    archived_followups: frozenset[str] = frozenset()  # and the ids of their archived follow-ups
    also: tuple[str, ...] = ()  # the ids a platform merged with theirs (customer_merges): the same buyer

    @property
    def ids(self) -> tuple[str, ...]:
        return (self.customer, *self.also)

    def with_archived(self, archived: dict[Path, list[dict[str, Any]]]) -> Buyer:
        """The buyer with the conversations and follow-ups of their archived records."""
        pairs = {
            (r["event"]["shop"], r["event"]["conversation"]) for rs in archived.values() for r in rs if "event" in r
        }
        followups = {
            str(r["followup"]["id"]) for rs in archived.values() for r in rs if isinstance(r.get("followup"), dict)
        }
        return replace(self, archived_conversations=frozenset(pairs), archived_followups=frozenset(followups))

    def condition(self) -> tuple[str, list[str]]:
        """The SQL condition on a table's `customer` (and `shop`) columns, and its parameters."""
        who = "customer = ?" if not self.also else f"customer IN ({', '.join('?' for _ in self.ids)})"
        if self.shop is None:
            return who, [*self.ids]
        return f"{who} AND shop = ?", [*self.ids, self.shop]

    def owns(self, record: dict[str, Any]) -> bool:
        """Whether an archive record is this buyer's (an event, its message, a follow-up naming them, or their name)."""
        rows = [record[k] for k in ("event", "message", "followup", "customer_name") if isinstance(record.get(k), dict)]
        return any(row.get("customer") in self.ids for row in rows)


@dataclass
class Found:
    """Where a buyer's data is: rows per table, and records per archive file."""

    tables: dict[str, int] = field(default_factory=dict)
    archived: dict[Path, int] = field(default_factory=dict)
    # Archive files that could not be read (cut short, damaged): they may hold records of the buyer.
    unreadable: dict[Path, str] = field(default_factory=dict)
    shops: list[str] = field(default_factory=list)  # the shops holding rows or readable records of the buyer
    # Erased, but the SQLite file not compacted (the room checked before was taken meanwhile): what to do.
    uncompacted: str | None = None

    @property
    def total(self) -> int:
        return sum(self.tables.values()) + sum(self.archived.values())


_PLACEHOLDER = re.compile(r"\{(who|theirs|followups)\}")


def _statement(table: str, where: str, buyer: Buyer) -> tuple[str, list[str]]:
    who, params = buyer.condition()
    pairs = sorted(buyer.archived_conversations)
    theirs, their_values = _THEIRS.format(who=who), params * 2
    if pairs:
        theirs += f" UNION VALUES {', '.join('(?, ?)' for _ in pairs)}"
        their_values += [value for pair in pairs for value in pair]
    ids = sorted(buyer.archived_followups)
    followups, followup_values = f"SELECT id FROM followups WHERE {who}", list(params)
    if ids:
        followups += f" UNION VALUES {', '.join('(?)' for _ in ids)}"
        followup_values += ids
    filled = {"who": (who, params), "theirs": (theirs, their_values), "followups": (followups, followup_values)}
    values: list[str] = []
    for found in _PLACEHOLDER.finditer(where):  # each placeholder's values in the order they come
        values += filled[found.group(1)][1]
    return _PLACEHOLDER.sub(lambda found: filled[found.group(1)][0], where), values


def merged(location: store.Location, buyer: Buyer) -> Buyer:
    """The buyer with every id merged with theirs (a Chatwoot contact merge, either way, merges of merges too)."""
    with _open(location, write=False) as conn:
        if not store.has_table(conn, "customer_merges"):
            return buyer
        ids = {buyer.customer}
        while True:
            marks = ", ".join("?" for _ in ids)
            shop = [buyer.shop] if buyer.shop is not None else []
            sql = f"SELECT customer, merged_into FROM customer_merges WHERE (customer IN ({marks}) OR merged_into IN"
            sql += f" ({marks})){' AND shop = ?' if shop else ''}"
            rows = conn.execute(sql, [*ids, *ids, *shop]).fetchall()
            more = ids | {str(row[0]) for row in rows} | {str(row[1]) for row in rows}
            if more == ids:
                return replace(buyer, also=tuple(sorted(ids - {buyer.customer})))
            ids = more


def _tables(conn: Any) -> list[tuple[str, str]]:
    return [(t, w) for t, w in TABLES if store.has_table(conn, t)]


def count_rows(conn: Any, buyer: Buyer) -> dict[str, int]:
    """The buyer's rows per table (tables with none left out)."""
    counts = {}
    for table, where in _tables(conn):
        sql, params = _statement(table, where, buyer)
        n = int(conn.execute(f"SELECT count(*) FROM {table} WHERE {sql}", params).fetchone()[0])
        if n:
            counts[table] = n
    return counts


def archive_files(config: Config, shop: str | None) -> list[Path]:
    """The archive files of one shop (or of every shop), oldest day first."""
    root = archive_root(config)
    if not root.is_dir():
        return []
    dirs = [root / shop_dirname(shop)] if shop is not None else sorted(p for p in root.iterdir() if p.is_dir())
    return sorted((p for d in dirs if d.is_dir() for p in d.glob(f"*{SUFFIX}")), key=lambda p: (p.name, p.parent.name))


ANY_DAY = (date(FIRST_YEAR, 1, 1), date(LAST_YEAR, 12, 31))  # every day an event can be on


def _archived(
    config: Config, location: store.Location, buyer: Buyer, unreadable: dict[Path, str]
) -> Iterator[tuple[Path, list[dict[str, Any]]]]:
    """Each archive file holding a record of the buyer, with those records (every file read whole and checked);
    a file that cannot be read is put in `unreadable` with what is wrong, and the others are still read (one
    damaged file of another shop blocked every buyer). So is a day the database records as archived whose file
    is missing: an erase that skipped it said it was done, and restoring the archive brought the buyer back."""
    for path in missing_files(config, location, ANY_DAY[0], ANY_DAY[1], buyer.shop):
        unreadable[path] = missing_reason(path)
    for path in archive_files(config, buyer.shop):
        try:
            mine = [record for record in read_checked(path) if buyer.owns(record)]
        except ArchiveError as exc:
            unreadable[path] = str(exc)
            continue
        if mine:
            yield path, mine


def find(config: Config, location: store.Location, buyer: Buyer) -> Found:
    """Where the buyer's data is (`unreadable`: the archive files that could not be looked in)."""
    found = Found()
    archived = dict(_archived(config, location, buyer, found.unreadable))
    with _open(location, write=False) as conn:
        found.tables = count_rows(conn, buyer.with_archived(archived))
        found.shops = _shops(conn, buyer, archived)
    found.archived = {path: len(records) for path, records in archived.items()}
    return found


def _shops(conn: Any, buyer: Buyer, archived: dict[Path, list[dict[str, Any]]]) -> list[str]:
    """The shops holding rows or readable archived records of the buyer."""
    who, params = buyer.condition()
    shops = {row[0] for row in conn.execute(f"SELECT DISTINCT shop FROM events WHERE {who}", params)}
    return sorted(shops | {shop_of_dir(path.parent) for path in archived})


def refusal(buyer: Buyer, found: Found) -> str | None:
    """Why an erasure cannot go on: an archive file that may hold the buyer's records cannot be read (erasing the
    rest would leave them there, unseen). Naming the files, and `--shop` when they are other shops' files."""
    if not found.unreadable:
        return None
    files = "; ".join(found.unreadable.values())
    theirs = set(found.shops)
    if buyer.shop is None and theirs and not theirs & {shop_of_dir(path.parent) for path in found.unreadable}:
        return _(
            "nothing erased: an archive file that may hold records of %(customer)s cannot be read (%(files)s). It"
            " is another shop's file: give --shop (their data is in %(shops)s) to erase without reading it, or"
            " restore it from a backup of the archive directory",
            files=files, customer=buyer.customer, shops=", ".join(found.shops),
        )  # fmt: skip
    return _(
        "nothing erased: an archive file that may hold records of %(customer)s cannot be read (%(files)s)."
        " Restore it from a backup of the archive directory, then erase again",
        files=files, customer=buyer.customer,
    )  # fmt: skip


def export(config: Config, location: store.Location, buyer: Buyer, out: TextIO) -> Found:
    """Write everything kept of the buyer as JSON lines: their rows table by table, then their archived records."""
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    out.write(encode({"buyer": buyer.customer, "shop": buyer.shop}) + "\n")
    found = Found()
    archived = dict(_archived(config, location, buyer, found.unreadable))
    buyer = buyer.with_archived(archived)
    with _open(location, write=False) as conn:
        wheres = dict(_tables(conn))
        for table in (t for t in EXPORT_ORDER if t in wheres):
            sql, params = _statement(table, wheres[table], buyer)
            rows = conn.execute(f"SELECT * FROM {table} WHERE {sql}", params)
            names = [d[0] for d in rows.description]
            for row in rows:
                values = dict(zip(names, row))
                if table == "events":
                    values["raw"] = json.loads(values["raw"])
                out.write(encode({"table": table, "row": values}) + "\n")
                found.tables[table] = found.tables.get(table, 0) + 1
    root = archive_root(config)
    for path, records in archived.items():
        name = str(path.relative_to(root))
        day = path.name[: -len(SUFFIX)]
        for record in records:
            out.write(encode({"archive": name, "shop": shop_of_dir(path.parent), "date": day, "record": record}) + "\n")
        found.archived[path] = len(records)
    return found


def erase(config: Config, location: store.Location, buyer: Buyer, *, dry_run: bool = False) -> Found:
    """Delete the buyer's rows in one transaction, then rewrite each archive file holding a record of theirs;
    what was (or, `dry_run`, would be) removed. On SQLite the deleted pages are overwritten and the file vacuumed,
    so nothing of theirs stays in its free pages."""
    root = archive_root(config)
    with ExitStack() as stack:
        conn = stack.enter_context(_open(location, write=not dry_run))
        if root.is_dir() and not dry_run:
            stack.enter_context(run_lock(root))  # no archive run moves a day meanwhile
        found = Found()
        archived = dict(_archived(config, location, buyer, found.unreadable))
        found.shops = _shops(conn, buyer, archived)
        reason = refusal(buyer, found)
        if reason:
            raise BuyerRefused(reason)
        buyer = buyer.with_archived(archived)
        found.tables = count_rows(conn, buyer)
        found.archived = {path: len(records) for path, records in archived.items()}
        if dry_run:
            return found
        short = room_refusal(location, conn)
        if short:
            raise BuyerRefused(short)
        found.uncompacted = _delete(conn, buyer)
        for path in found.archived:
            rewrite(path, lambda record: not buyer.owns(record))
    return found


def room_refusal(location: store.Location, conn: sqlite3.Connection | None = None) -> str | None:
    """Why an erasure cannot end by compacting the SQLite file now (too little disk space: `logfile.compact_room`)."""
    if isinstance(location, pg.Location):
        return None
    if conn is not None:
        return logfile.compact_room(Path(location), conn)
    with closing(store.connect(location, readonly=True)) as reading:
        return logfile.compact_room(Path(location), reading)


def _delete(conn: Any, buyer: Buyer) -> str | None:
    """Delete the buyer's rows; on SQLite, compact the file after: why it could not be compacted (the disk filled
    since `room_refusal` looked), or None. The rows stay deleted and their bytes overwritten either way, and the
    archive files are rewritten after: an erasure never stops half-way for the compaction."""
    sqlite = store.dialect(conn) == "sqlite"
    if sqlite:
        conn.execute("PRAGMA secure_delete = ON")  # the deleted rows' bytes are overwritten, not left in free pages
    with store.transaction(conn):
        if not sqlite and not instances.exclude(conn):  # one started since `_open` looked
            raise BuyerRefused(running_refusal(instances.running(conn)))
        for table, where in _tables(conn):
            sql, params = _statement(table, where, buyer)
            conn.execute(f"DELETE FROM {table} WHERE {sql}", params)
        last = "(SELECT coalesce(max(seq), 0) FROM events)"
        for table in WATERMARKS:
            if store.has_table(conn, table):
                conn.execute(f"UPDATE {table} SET seq = {last} WHERE seq > {last}")
    if not sqlite:
        return None
    uncompacted = None
    try:  # rows archived (deleted) before held the buyer too; their pages are free but not overwritten
        conn.execute(COMPACT)
    except sqlite3.OperationalError as exc:
        if getattr(exc, "sqlite_errorcode", 0) & 0xFF != upgrade.SQLITE_FULL:
            raise
        uncompacted = _(
            "the log was not compacted (VACUUM: %(reason)s): it keeps its size, and its free pages may still hold the buyer's rows archived before. Make room on the disk and run the same erase again: it finds nothing more and compacts the log",
            reason=database_reason(exc),
        )  # fmt: skip
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return uncompacted


def running_refusal(running: list[str]) -> str:
    """Why an erasure cannot go on while instances run on the PostgreSQL database (`running` names them)."""
    return _(
        "instances of the service are running on this database: %(names)s. Stop them first: they keep the buyer's"
        " conversations in memory and would show and follow them up (erase, then start them)",
        names="; ".join(running),
    )  # fmt: skip


def refuse_running(location: store.Location) -> None:
    """BuyerRefused when service instances run on the PostgreSQL database (on SQLite `_open` asks the file's lock)."""
    if not isinstance(location, pg.Location):
        return
    conn = store.connect(location)
    try:
        running = instances.running(conn)
    finally:
        conn.close()
    if running:
        raise BuyerRefused(running_refusal(running))


class _open:
    """The log for a buyer command: migrated as a command migrates it; to write, no service running meanwhile (on
    SQLite its lock held; on PostgreSQL no instance listening): a running one keeps the buyer's conversations in
    memory."""

    def __init__(self, location: store.Location, *, write: bool) -> None:
        self.location = location
        self.write = write
        self.held: int | None = None

    def __enter__(self) -> Any:
        if self.write and not isinstance(self.location, pg.Location):
            try:
                self.held = store.hold_alone(Path(self.location))
            except store.InUse:
                raise BuyerRefused(
                    _("%(path)s: a service is running on this file: stop it first", path=self.location)
                ) from None
        try:
            if self.write:
                refuse_running(self.location)
            self.conn = store.connect(self.location)
            if self.held is not None:
                upgrade.migrate(self.conn)
            else:
                upgrade.migrate_for_command(self.conn, self.location)
        except BaseException:
            self.__exit__()
            raise
        return self.conn

    def __exit__(self, *exc: object) -> None:
        if hasattr(self, "conn"):
            self.conn.close()
        if self.held is not None:
            store.let_go(self.held)  # never closed: the descriptor names the file (store._descriptor)
            self.held = None
