"""Retention: days older than `[store] retention_days` move to compressed JSONL, one file per shop per day.

Crash safety (docs/daily-log.md, "Retention"): a day's file is written to `<name>.tmp`, fsynced,
re-read and checked (record count and a checksum of the ids), renamed into place, and only then are
the day's rows deleted, in one transaction. A file at its final name is therefore always complete; a
`.tmp` file never is, and is redone. A rerun that finds a complete file whose rows are still in the
database deletes them (after merging any rows the file lacks), so nothing is lost and nothing kept twice.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from tqdm import tqdm

from assistant import i18n, store, upgrade
from assistant.clock import day_bounds, local_day
from assistant.config import Config
from assistant.daylog import leftovers
from assistant.daylog import names as customer_names
from assistant.daylog.dayrows import rows_cte
from assistant.daylog.query import has_table
from assistant.i18n import _

FORMAT_VERSION = 1
SUFFIX = ".jsonl.gz"
TMP_SUFFIX = ".jsonl.gz.tmp"
# Follow-ups still waiting to fire stay in the database whatever their age.
KEEP_FOLLOWUP_STATES = ("pending",)

Step = Callable[[str, "ShopDay"], None]


class ArchiveError(RuntimeError):
    """An archive file that cannot be trusted; the database rows of that day are left alone."""


@dataclass(frozen=True, order=True)
class ShopDay:
    day: date
    shop: str

    def __str__(self) -> str:
        return f"{self.shop} {self.day.isoformat()}"


@dataclass(frozen=True)
class Summary:
    """What an archive holds: record count and an order-independent checksum of the record keys."""

    records: int
    checksum: int

    def to_json(self) -> dict[str, Any]:
        return {"records": self.records, "checksum": f"{self.checksum:016x}"}


@dataclass
class Outcome:
    """What one `archive` run did."""

    days: list[tuple[ShopDay, int]] = field(default_factory=list)  # (shop-day, rows deleted from the database)
    written: int = 0  # files written or rewritten
    dry_run: bool = False


# ---- paths ---------------------------------------------------------------------------------------


def archive_root(config: Config) -> Path:
    return config.resolve(config.store.archive_dir)


def shop_dirname(shop: str) -> str:
    """A shop name as one safe path component (no separators, no leading dot); reversible."""
    return quote(shop, safe="").replace(".", "%2E")


def archive_path(config: Config, shop_day: ShopDay) -> Path:
    return archive_root(config) / shop_dirname(shop_day.shop) / f"{shop_day.day.isoformat()}{SUFFIX}"


def archived_days(config: Config, day: date, shop: str | None = None) -> list[Path]:
    """The archive files of `day` (one shop's, or every shop's)."""
    root = archive_root(config)
    if not root.is_dir():
        return []
    dirs = [root / shop_dirname(shop)] if shop is not None else sorted(p for p in root.iterdir() if p.is_dir())
    return [d / f"{day.isoformat()}{SUFFIX}" for d in dirs if (d / f"{day.isoformat()}{SUFFIX}").is_file()]


def archived_in(config: Config, first: date, last: date, shop: str | None = None) -> list[date]:
    """The days from `first` to `last` that are in the archive (the report does not read them)."""
    days = (first + timedelta(days=n) for n in range((last - first).days + 1))
    return [day for day in days if archived_days(config, day, shop)]


def shop_of_dir(path: Path) -> str:
    return unquote(path.name)


def missing_files(
    config: Config, location: store.Location, first: date, last: date, shop: str | None = None
) -> list[Path]:
    """The files of the shop-days from `first` to `last` that the database records as archived and that are not
    there (the database restored without the archive directory): those days are neither in it nor in a file."""
    if not store.exists(location):
        return []
    conn = store.connect(location, readonly=True)
    try:
        if not has_table(conn, "archived_days"):
            return []
        sql = "SELECT shop, day FROM archived_days WHERE day >= ? AND day <= ?" + (" AND shop = ?" if shop else "")
        params = [first.isoformat(), last.isoformat()] + ([shop] if shop else [])
        rows = conn.execute(sql + " ORDER BY day, shop", params).fetchall()
    finally:
        conn.close()
    paths = (archive_path(config, ShopDay(date.fromisoformat(day), name)) for name, day in rows)
    return [path for path in paths if not path.is_file()]


def refuse_missing(config: Config, location: store.Location, first: date, last: date, shop: str | None) -> None:
    """ArchiveError naming the first missing file of those days (`missing_files`), if any."""
    missing = missing_files(config, location, first, last, shop)
    if missing:
        raise ArchiveError(missing_reason(missing[0]))


def missing_reason(path: Path) -> str:
    """What is wrong with an archived day's file that is not there."""
    return _(
        "%(path)s: missing; the database records this day as archived, so its rows are only in that file:"
        " restore [store] archive_dir from the backup",
        path=path,
    )


# ---- the run -------------------------------------------------------------------------------------


def archive(
    config: Config,
    db_path: store.Location,
    now: datetime | None = None,
    *,
    dry_run: bool = False,
    progress: bool | None = None,
    on_step: Step | None = None,
) -> Outcome:
    """Move every shop-day older than the retention period out of the database into archive files."""
    tz = config.tz
    today = (now or datetime.now(tz)).astimezone(tz).date()
    cutoff_day = today - timedelta(days=config.store.retention_days)
    cutoff_ms = day_bounds(cutoff_day, tz)[0]
    conn = store.connect(db_path)
    outcome = Outcome(dry_run=dry_run)
    try:
        upgrade.migrate_for_command(conn, db_path)
        plan = list(_plan(conn, config, cutoff_ms))
        if dry_run:
            outcome.days = [(shop_day, count) for shop_day, count in plan]
            return outcome
        root = archive_root(config)
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        total = sum(count for _shop_day, count in plan)
        # disable=None: tqdm shows the bar only when stderr is a terminal.
        disable = None if progress is None else not progress
        with run_lock(root), tqdm(total=total, unit="rows", desc="archive", disable=disable) as bar:
            _prepare_temp(conn)
            for shop_day, _count in plan:
                deleted, wrote = _archive_day(conn, config, shop_day, bar, on_step or _no_step)
                outcome.days.append((shop_day, deleted))
                outcome.written += wrote
    finally:
        conn.close()
    return outcome


def _no_step(step: str, shop_day: ShopDay) -> None:
    return None


def _plan(conn: sqlite3.Connection, config: Config, cutoff_ms: int) -> Iterator[tuple[ShopDay, int]]:
    """Each (shop-day, rows) before the cutoff, oldest first, found day by day through the ts index."""
    tz = config.tz
    followups = _followups_table(conn)
    cursor_ms = -(2**62)
    while True:
        first = conn.execute("SELECT min(ts_ms) FROM events WHERE ts_ms >= ? AND ts_ms < ?", (cursor_ms, cutoff_ms))
        first_ms = first.fetchone()[0]
        if followups:
            row = conn.execute(
                f"SELECT min(fired_ms) FROM followups WHERE fired_ms >= ? AND fired_ms < ? AND state NOT IN {_KEEP_SQL}",
                (cursor_ms, cutoff_ms),
            ).fetchone()
            if row[0] is not None and (first_ms is None or row[0] < first_ms):
                first_ms = row[0]
        if first_ms is None:
            return
        day = local_day(first_ms, tz)
        start_ms, end_ms = day_bounds(day, tz)
        counts: dict[str, int] = {}
        for shop, n in conn.execute(
            "SELECT shop, count(*) FROM events WHERE ts_ms >= ? AND ts_ms < ? GROUP BY shop", (start_ms, end_ms)
        ):
            counts[shop] = counts.get(shop, 0) + n
        if followups:
            for shop, n in conn.execute(
                f"SELECT shop, count(*) FROM followups WHERE fired_ms >= ? AND fired_ms < ? AND state NOT IN {_KEEP_SQL}"
                " GROUP BY shop",
                (start_ms, end_ms),
            ):
                counts[shop] = counts.get(shop, 0) + n
        for shop in sorted(counts):
            yield ShopDay(day, shop), counts[shop]
        cursor_ms = end_ms


_KEEP_SQL = "(" + ", ".join(f"'{s}'" for s in KEEP_FOLLOWUP_STATES) + ")"


def _followups_table(conn: sqlite3.Connection) -> bool:
    if not has_table(conn, "followups"):
        return False
    return {"id", "shop", "fired_ms", "state"} <= set(store.columns(conn, "followups"))


@contextmanager
def run_lock(root: Path) -> Iterator[None]:
    """One archive run at a time per archive directory."""
    with (root / ".lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ArchiveError(_("another archive run holds %(path)s", path=root / ".lock")) from None
        yield


def _prepare_temp(conn: sqlite3.Connection) -> None:
    conn.executescript(
        """
        CREATE TEMP TABLE IF NOT EXISTS archive_seqs (seq BIGINT PRIMARY KEY);
        CREATE TEMP TABLE IF NOT EXISTS archive_followups (id TEXT PRIMARY KEY);
        CREATE TEMP TABLE IF NOT EXISTS archive_conversations (conversation TEXT PRIMARY KEY);
        CREATE TEMP TABLE IF NOT EXISTS archive_keys (key TEXT PRIMARY KEY);
        CREATE TEMP TABLE IF NOT EXISTS archive_names (customer TEXT PRIMARY KEY, name TEXT NOT NULL);
        """
    )


def _clear_temp(conn: sqlite3.Connection) -> None:
    for table in ("archive_seqs", "archive_followups", "archive_conversations", "archive_keys", "archive_names"):
        conn.execute(f"DELETE FROM temp.{table}")


def _archive_day(
    conn: sqlite3.Connection,
    config: Config,
    shop_day: ShopDay,
    bar: tqdm,
    step: Step,  # type: ignore[type-arg,unused-ignore]
) -> tuple[int, int]:
    """Archive one shop-day; returns (rows deleted, files written)."""
    path = archive_path(config, shop_day)
    tmp = path.with_name(path.name[: -len(SUFFIX)] + TMP_SUFFIX)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    step("begin", shop_day)
    tmp.unlink(missing_ok=True)  # never complete: an earlier run died before renaming it
    existing = read_summary(path) if path.exists() else None
    _clear_temp(conn)
    start_ms, end_ms = day_bounds(shop_day.day, config.tz)
    source = _DaySource(conn, shop_day.shop, start_ms, end_ms)
    wrote = 0
    # One read snapshot for everything this day writes and then deletes.
    conn.execute("BEGIN" if store.dialect(conn) == "sqlite" else "BEGIN ISOLATION LEVEL REPEATABLE READ")
    try:
        source.note()
        if existing is None:
            expected = _write(tmp, config, shop_day, source.records(), bar, step)
        else:
            in_db = source.summary()
            if in_db.records == 0:
                conn.execute("COMMIT")
                return 0, 0
            if _covers(existing, in_db):
                expected = None  # an earlier run wrote the file and died before deleting
                bar.update(in_db.records)
            else:
                source.load_keys(path)
                records = _chain(read_records(path), source.records(skip_archived=True))
                expected = _write(tmp, config, shop_day, records, bar, step)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    if expected is not None:
        found = read_summary(tmp)
        if found != expected:
            tmp.unlink(missing_ok=True)
            raise ArchiveError(
                _(
                    "%(path)s: re-read %(found)s, expected %(expected)s; database rows kept",
                    path=tmp,
                    found=found,
                    expected=expected,
                )
            )
        step("written", shop_day)
        os.replace(tmp, path)
        fsync_dir(path.parent)
        wrote = 1
        step("renamed", shop_day)
    deleted = _delete(conn, shop_day)
    step("deleted", shop_day)
    return deleted, wrote


def _covers(archived: Summary, in_db: Summary) -> bool:
    """Whether the database rows are exactly the archived ones (same count and key checksum)."""
    return archived == in_db


def _chain(*iterators: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for it in iterators:
        yield from it


class _DaySource:
    """The rows of one shop-day in the live database, as archive records."""

    def __init__(self, conn: sqlite3.Connection, shop: str, start_ms: int, end_ms: int) -> None:
        self.conn = conn
        self.shop = shop
        self.params = (shop, start_ms, end_ms)
        self.followups = _followups_table(conn)

    def note(self) -> None:
        """Note every row of the shop-day as one to delete (in the temp tables); inside the read
        snapshot, these are exactly the rows that the records and the summary read."""
        where = "shop = ? AND ts_ms >= ? AND ts_ms < ?"
        self.conn.execute(f"INSERT INTO temp.archive_seqs SELECT seq FROM events WHERE {where}", self.params)
        day_rows = rows_cte(store.dialect(self.conn), "day_rows", f"SELECT conversation FROM events WHERE {where}")
        self.conn.execute(
            f"WITH {day_rows} INSERT OR IGNORE INTO temp.archive_conversations SELECT DISTINCT conversation FROM day_rows",
            self.params,
        )
        if self.followups:
            self.conn.execute(
                "INSERT OR IGNORE INTO temp.archive_followups SELECT id FROM followups"
                f" WHERE shop = ? AND fired_ms >= ? AND fired_ms < ? AND state NOT IN {_KEEP_SQL}",
                self.params,
            )
        customer_names.note(self.conn, *self.params)  # of the buyers whose last message is of the day

    def records(self, *, skip_archived: bool = False) -> Iterator[dict[str, Any]]:
        """Each event (with its message row), each name noted, then each follow-up; `skip_archived`: those not in
        the file."""
        skip = " AND NOT EXISTS (SELECT 1 FROM temp.archive_keys k WHERE k.key = 'e:' || e.id)" if skip_archived else ""
        rows = self.conn.execute(
            "SELECT e.*, m.* FROM events e LEFT JOIN messages m ON m.seq = e.seq"
            f" WHERE e.shop = ? AND e.ts_ms >= ? AND e.ts_ms < ?{skip} ORDER BY e.ts_ms, e.seq",
            self.params,
        )
        names = [d[0] for d in rows.description]
        split = names.index("seq", 1)  # events columns, then messages columns
        for row in rows:
            event = dict(zip(names[:split], row[:split]))
            event["raw"] = json.loads(event["raw"])
            record: dict[str, Any] = {"event": event}
            if row[split] is not None:
                record["message"] = dict(zip(names[split:], row[split:]))
            yield record
        yield from customer_names.records(self.conn, self.shop, skip_archived=skip_archived)
        if not self.followups:
            return
        skip = " AND NOT EXISTS (SELECT 1 FROM temp.archive_keys k WHERE k.key = 'f:' || f.id)" if skip_archived else ""
        rows = self.conn.execute(
            f"SELECT f.* FROM followups f WHERE f.shop = ? AND f.fired_ms >= ? AND f.fired_ms < ?"
            f" AND f.state NOT IN {_KEEP_SQL}{skip} ORDER BY f.fired_ms, f.id",
            self.params,
        )
        names = [d[0] for d in rows.description]
        for row in rows:
            yield {"followup": dict(zip(names, row))}

    def summary(self) -> Summary:
        """Count and key checksum of the day's rows."""
        total = Summary(0, 0)
        for (event_id,) in self.conn.execute(
            "SELECT id FROM events WHERE shop = ? AND ts_ms >= ? AND ts_ms < ?", self.params
        ):
            total = add_key(total, "e:" + event_id)
        if self.followups:
            for (followup_id,) in self.conn.execute(
                f"SELECT id FROM followups WHERE shop = ? AND fired_ms >= ? AND fired_ms < ? AND state NOT IN {_KEEP_SQL}",
                self.params,
            ):
                total = add_key(total, "f:" + followup_id)
        for key in customer_names.keys(self.conn):
            total = add_key(total, key)
        return total

    def load_keys(self, path: Path) -> None:
        self.conn.executemany(
            "INSERT OR IGNORE INTO temp.archive_keys VALUES (?)", ((record_key(r),) for r in read_records(path))
        )


def _delete(conn: sqlite3.Connection, shop_day: ShopDay) -> int:
    """Delete the noted rows in one transaction; order and conversation rows go with their last event, a buyer's
    name with their last message. The shop-day is recorded as archived in the same transaction."""
    shop = shop_day.shop
    with store.transaction(conn):
        if has_table(conn, "archived_days"):
            conn.execute(
                "INSERT INTO archived_days (shop, day, archived_ms) VALUES (?, ?, ?) ON CONFLICT (shop, day) DO NOTHING",
                (shop, shop_day.day.isoformat(), int(time.time() * 1000)),
            )
        conn.execute("DELETE FROM messages WHERE seq IN (SELECT seq FROM temp.archive_seqs)")
        conn.execute("DELETE FROM suggestion_uses WHERE seq IN (SELECT seq FROM temp.archive_seqs)")
        if store.has_table(conn, "payments"):
            conn.execute("DELETE FROM payments WHERE seq IN (SELECT seq FROM temp.archive_seqs)")
        deleted = conn.execute("DELETE FROM events WHERE seq IN (SELECT seq FROM temp.archive_seqs)").rowcount
        conn.execute(
            "DELETE FROM orders WHERE shop = ? AND conversation IN (SELECT conversation FROM temp.archive_conversations)"
            " AND (created_seq IS NULL OR NOT EXISTS (SELECT 1 FROM events e WHERE e.seq = orders.created_seq))"
            " AND (paid_seq IS NULL OR NOT EXISTS (SELECT 1 FROM events e WHERE e.seq = orders.paid_seq))"
            " AND (closed_seq IS NULL OR NOT EXISTS (SELECT 1 FROM events e WHERE e.seq = orders.closed_seq))",
            (shop,),
        )
        conn.execute(
            "DELETE FROM conversations WHERE shop = ?"
            " AND conversation IN (SELECT conversation FROM temp.archive_conversations)"
            " AND NOT EXISTS (SELECT 1 FROM events e WHERE e.shop = conversations.shop"
            " AND e.conversation = conversations.conversation)",
            (shop,),
        )
        customer_names.forget(conn, shop)
        if _followups_table(conn):
            deleted += conn.execute(
                "DELETE FROM followups WHERE id IN (SELECT id FROM temp.archive_followups)"
            ).rowcount
            if has_table(conn, "followup_outcomes"):  # what the delivery knew of them: not a row of the day's log
                conn.execute("DELETE FROM followup_outcomes WHERE id IN (SELECT id FROM temp.archive_followups)")
        leftovers.delete(conn, shop)
    return deleted


# ---- the file --------------------------------------------------------------------------------------


def record_key(record: dict[str, Any]) -> str:
    """What identifies a record across runs: the event id, the follow-up id, or the buyer a name is of."""
    if "event" in record:
        return "e:" + str(record["event"]["id"])
    if "customer_name" in record:
        return "n:" + str(record["customer_name"]["customer"])
    return "f:" + str(record["followup"]["id"])


def add_key(summary: Summary, key: str) -> Summary:
    digest = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")
    return Summary(summary.records + 1, (summary.checksum + digest) % 2**64)


def _write(
    tmp: Path,
    config: Config,
    shop_day: ShopDay,
    records: Iterator[dict[str, Any]],
    bar: tqdm,  # type: ignore[type-arg,unused-ignore]
    step: Step,
) -> Summary:
    """Write header, records and footer to `tmp`, fsynced; returns what was written."""
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    total = Summary(0, 0)
    header = {"archive": FORMAT_VERSION, "shop": shop_day.shop, "date": shop_day.day.isoformat(),
              "timezone": config.shop.timezone}  # fmt: skip
    # Private like the database it comes from: the archive holds the raw, unmasked chat text.
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as raw:
        os.fchmod(raw.fileno(), 0o600)  # a tmp file left by an earlier run keeps its old mode otherwise
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6) as out:
            out.write((encode(header) + "\n").encode())
            for record in records:
                out.write((encode(record) + "\n").encode())
                total = add_key(total, record_key(record))
                if total.records % 1000 == 0:
                    bar.update(1000)
                if total.records == 1:
                    out.flush()
                    raw.flush()
                    os.fsync(raw.fileno())
                    step("partial", shop_day)  # a started file on disk, without its footer
            out.write((encode({"end": True, **total.to_json()}) + "\n").encode())
        bar.update(total.records % 1000)
        raw.flush()
        os.fsync(raw.fileno())
    return total


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_summary(path: Path) -> Summary:
    """Re-read a whole file: header, records, footer; the footer must match what was read (`read_checked`)."""
    total = Summary(0, 0)
    for record in read_checked(path):
        total = add_key(total, record_key(record))
    return total


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a complete archive file (header and footer left out)."""
    for record in _lines(path):
        if record.get("end") is not True:
            yield record


def read_checked(path: Path) -> Iterator[dict[str, Any]]:
    """The records of an archive file, checked against its footer as they are read: after the last one, an
    ArchiveError when the file was cut short or lost records (a reader stops before showing a part as the whole)."""
    total = Summary(0, 0)
    footer: dict[str, Any] | None = None
    for record in _lines(path):
        if footer is not None:
            raise ArchiveError(_("%(path)s: data after the footer", path=path))
        if record.get("end") is True:
            footer = record
            continue
        total = add_key(total, record_key(record))
        yield record
    if footer is None:
        raise ArchiveError(
            _(
                "%(path)s: no footer, the file was cut short (%(records)s records read)",
                path=path,
                records=total.records,
            )
        )
    if footer.get("records") != total.records or footer.get("checksum") != total.to_json()["checksum"]:
        raise ArchiveError(
            _(
                "%(path)s: damaged, its footer says %(records)s records, %(read)s read"
                " (checksum %(checksum)s, records read give %(found)s)",
                path=path,
                records=footer.get("records"),
                read=total.records,
                checksum=footer.get("checksum"),
                found=total.to_json()["checksum"],
            )
        )


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            header = json.loads(handle.readline() or "null")
            if not isinstance(header, dict) or header.get("archive") != FORMAT_VERSION:
                raise ArchiveError(
                    _("%(path)s: not an archive file of version %(version)s", path=path, version=FORMAT_VERSION)
                )
            for line in handle:
                record = json.loads(line)
                if not isinstance(record, dict):
                    raise ArchiveError(_("%(path)s: a line is not an object", path=path))
                yield record
    except (OSError, EOFError, ValueError, UnicodeDecodeError) as exc:  # gzip.BadGzipFile is an OSError
        reason = i18n.os_reason(exc) if isinstance(exc, OSError) and exc.errno is not None else str(exc)
        raise ArchiveError(_("%(path)s: unreadable (%(reason)s)", path=path, reason=reason)) from None
