"""Names an earlier release left behind: it archived a buyer's last day without their name (`customer_names`), which
stayed in the database with no message of theirs, personal data kept for no purpose. `assistant archive` takes
each such name into the archive file of the buyer's last archived day, as it takes a name today (names.py), where
`assistant buyer` finds, exports and erases it (docs/daily-log.md, "Names left by an earlier release").

A name goes to the newest file of its shop holding an event of the buyer. Each file is read whole and checked
against its footer; one that adds names is rewritten as the archive writes one (a temporary file, fsynced, re-read
and checked, renamed into place); then one transaction deletes the names placed. A run stopped in between is
finished by the next: a name already in its file is not written twice.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant import store, upgrade
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
)
from assistant.daylog.buyer import ANY_DAY
from assistant.daylog.query import has_table
from assistant.daylog.rewrite import rewrite
from assistant.i18n import _

# The names of buyers with no message left and no event either (whose every row was archived). Messages are found
# through messages_customer_ts, a seek a name; events, which have no index by buyer, in one pass over them, and only
# when a name is left without messages.
_LEFT = """
INSERT INTO temp.left_names (shop, customer, name) SELECT n.shop, n.customer, n.name FROM customer_names n
WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.shop = n.shop AND m.customer = n.customer)
"""
_WITH_EVENTS = """
SELECT DISTINCT e.shop, e.customer FROM events e JOIN temp.left_names l ON l.shop = e.shop AND l.customer = e.customer
"""
# Unless renamed meanwhile, or a message of theirs came in.
_FORGET = """
DELETE FROM customer_names WHERE shop = ? AND customer = ? AND name = ?
  AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.shop = customer_names.shop AND m.customer = customer_names.customer)
"""


@dataclass
class Taken:
    """What one run did with the names left."""

    left: int = 0  # names found with no message or event of their buyer in the database
    placed: dict[Path, int] = field(default_factory=dict)  # names taken into each archive file
    dropped: int = 0  # names of buyers of whom no archive file of their shop holds anything: deleted
    kept: dict[str, str] = field(default_factory=dict)  # shop → why its names stay (its archive cannot be read)


def left_names(conn: sqlite3.Connection) -> dict[str, dict[str, str]]:
    """The names left by an earlier release: {shop: {customer: name}}."""
    if not has_table(conn, "customer_names"):
        return {}
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS left_names"
        " (shop TEXT NOT NULL, customer TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (shop, customer))"
    )
    conn.execute("DELETE FROM temp.left_names")
    conn.execute(_LEFT)
    left: dict[str, dict[str, str]] = {}
    for shop, customer, name in conn.execute(
        "SELECT shop, customer, name FROM temp.left_names ORDER BY shop, customer"
    ):
        left.setdefault(shop, {})[customer] = name
    if left:
        for shop, customer in conn.execute(_WITH_EVENTS).fetchall():
            left[shop].pop(customer, None)  # a buyer with events and no message yet keeps their name
    conn.execute("DELETE FROM temp.left_names")
    return {shop: names for shop, names in left.items() if names}


def take(config: Config, location: store.Location, *, dry_run: bool = False) -> Taken:
    """Take every name left by an earlier release into the archive (`dry_run`: count them, change nothing)."""
    conn = store.connect(location)
    try:
        upgrade.migrate_for_command(conn, location)
        left = left_names(conn)
        taken = Taken(left=sum(len(names) for names in left.values()))
        if dry_run or not left:
            return taken
        root = archive_root(config)
        if not root.is_dir():
            taken.kept = {shop: _("no archive directory %(path)s", path=root) for shop in left}
            return taken
        forget: list[tuple[str, str, str]] = []
        with run_lock(root):  # no archive run or erasure changes a file meanwhile
            for shop, names in left.items():
                placing = _place(config, location, shop, names, taken)
                if placing is None:
                    continue
                for path, adding in placing.items():
                    _add_names(path, shop, adding)
                    taken.placed[path] = len(adding)
                placed = {customer for adding in placing.values() for customer in adding}
                taken.dropped += len(names) - len(placed)
                forget += [(shop, customer, name) for customer, name in names.items()]
            with store.transaction(conn):
                conn.executemany(_FORGET, forget)
    finally:
        conn.close()
    return taken


def _place(
    config: Config, location: store.Location, shop: str, names: dict[str, str], taken: Taken
) -> dict[Path, dict[str, str]] | None:
    """Which file each name goes to: the newest of the shop holding an event of the buyer. None (the shop's names
    kept, `taken.kept` says why) when a file cannot be read or a day archived has no file: the buyer's last day
    may be there. A name whose buyer no file holds is left out (their name is all that is left of them)."""
    missing = missing_files(config, location, ANY_DAY[0], ANY_DAY[1], shop)
    if missing:
        taken.kept[shop] = missing_reason(missing[0])
        return None
    folder = archive_root(config) / shop_dirname(shop)
    files = sorted(folder.glob(f"*{SUFFIX}"), reverse=True) if folder.is_dir() else []
    if not files:
        taken.kept[shop] = _("no archive file of the shop in %(path)s", path=folder)
        return None
    pending = dict(names)
    placing: dict[Path, dict[str, str]] = {}
    for path in files:
        if not pending:
            break
        try:
            buyers = {r["event"].get("customer") for r in read_checked(path) if isinstance(r.get("event"), dict)}
        except ArchiveError as exc:
            taken.kept[shop] = str(exc)
            return None
        here = {customer: pending.pop(customer) for customer in sorted(buyers & pending.keys())}
        if here:
            placing[path] = here
    return placing


def _add_names(path: Path, shop: str, names: dict[str, str]) -> None:
    """The file with a name record for each buyer of `names` (in place of one it holds of them), its footer counted
    again: written beside it, fsynced, re-read and checked, renamed into place, the directory fsynced. Nothing is
    written when the file already holds those names (a run stopped before deleting them)."""
    held: dict[str, str] = {}
    for record in read_checked(path):
        named = record.get("customer_name")
        if isinstance(named, dict) and named.get("customer") in names:
            held[str(named["customer"])] = str(named.get("name"))
    if held == names:
        return

    def keep(record: dict[str, Any]) -> bool:
        named = record.get("customer_name")
        return not (isinstance(named, dict) and named.get("customer") in names)

    added = [{"customer_name": {"shop": shop, "customer": c, "name": n}} for c, n in names.items()]
    rewrite(path, keep, added)
