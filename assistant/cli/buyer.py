"""`assistant buyer find|export|erase`: one buyer's data, for a request under PIPL (docs/daily-log.md)."""

from __future__ import annotations

import io
import os
import sys
import zipfile
from pathlib import Path

import click

from assistant.cli.common import NAME, common_options, db_path, load, refuses_log
from assistant.cli.log import unmasked_refusal
from assistant.config import Config
from assistant.daylog.archive import ArchiveError, archive_root
from assistant.daylog.buyer import (
    Buyer,
    BuyerRefused,
    Found,
    erase,
    export,
    find,
    merged,
    refusal,
    refuse_running,
    room_refusal,
)
from assistant.i18n import N_, _, ngettext


@click.group("buyer", help=N_("one buyer's data (a request under PIPL): where it is, export it, erase it"))
def buyer_group() -> None:
    pass


def buyer_options(func: click.decorators.FC) -> click.decorators.FC:
    """`--customer ID` (required) and `--shop S`, with `--config` and `--db`."""
    func = click.option("--shop", type=NAME, default=None, help=N_("only this shop's (default: every shop's)"))(func)
    func = click.option("--customer", type=NAME, required=True, help=N_("the buyer's id, as events give it"))(func)
    return common_options(func)


@buyer_group.command("find", help=N_("list where the buyer's data is: rows per table, records per archived day"))
@buyer_options
def find_command(config_path: Path, db: str | None, customer: str, shop: str | None) -> int:
    config = load(config_path, db)
    if refuses_log(db_path(config)):
        return 1
    try:
        found = find(config, db_path(config), merged(db_path(config), Buyer(customer, shop)))
    except (ArchiveError, BuyerRefused) as exc:
        return _refuse(str(exc))
    _show(config, found)
    print(_("%(customer)s: %(num)d rows and records in all", customer=customer, num=found.total))
    return _incomplete(found)


@buyer_group.command(
    "export",
    help=N_(
        "write everything kept of the buyer (messages, orders, payments, follow-ups, quality alerts, archived"
        " records) to a file as JSON lines, or in a zip when the file ends in .zip; unmasked: the file is"
        " created 0600 in a directory you own"
    ),
)
@buyer_options
@click.option("--out", type=click.Path(path_type=Path), required=True, help=N_("the file to write (.jsonl or .zip)"))
def export_command(config_path: Path, db: str | None, customer: str, shop: str | None, out: Path) -> int:
    config = load(config_path, db)
    if refuses_log(db_path(config)):
        return 1
    refusal = unmasked_refusal(config, None, out)
    if refusal:
        return _refuse(refusal)
    text = io.StringIO()
    try:
        found = export(config, db_path(config), merged(db_path(config), Buyer(customer, shop)), text)
    except (ArchiveError, BuyerRefused) as exc:
        return _refuse(str(exc))
    data = text.getvalue().encode()
    if out.suffix.lower() == ".zip":
        packed = io.BytesIO()
        with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{out.stem}.jsonl", data)
        data = packed.getvalue()
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    os.fchmod(fd, 0o600)
    with open(fd, "wb") as handle:
        handle.write(data)
    _show(config, found)
    print(_("%(num)d rows and records of %(customer)s written to %(path)s", num=found.total, customer=customer, path=out))  # fmt: skip
    return _incomplete(found)


@buyer_group.command(
    "erase",
    help=N_(
        "delete the buyer's data everywhere: every table in one transaction, and their records in the archive"
        " files (each file rewritten and checked); the KPIs of past days are counted again without them."
        " Stop the service (every instance) first: refused while one runs"
    ),
)
@buyer_options
@click.option("--dry-run", is_flag=True, help=N_("list what would be erased; change nothing"))
@click.option("--yes", is_flag=True, help=N_("do not ask for confirmation"))
def erase_command(config_path: Path, db: str | None, customer: str, shop: str | None, dry_run: bool, yes: bool) -> int:
    config = load(config_path, db)
    location = db_path(config)
    if refuses_log(location):
        return 1
    try:
        buyer = merged(location, Buyer(customer, shop))  # a contact merged with theirs is the same buyer
        if not dry_run:
            refuse_running(location)  # before asking
        if not dry_run and not yes:
            shown = find(config, location, buyer)
            _show(config, shown)
            reason = refusal(buyer, shown) or room_refusal(location)
            if reason:  # refused before asking
                return _refuse(reason)
            if not sys.stdin.isatty():
                return _refuse(_("give --yes to erase without a terminal to confirm on"))
            if not click.confirm(_("erase all of this for good?"), default=False):
                return 1
        found = erase(config, location, buyer, dry_run=dry_run)
    except (ArchiveError, BuyerRefused) as exc:
        return _refuse(str(exc))
    _show(config, found)
    if dry_run:
        print(_("%(num)d rows and records of %(customer)s would be erased", num=found.total, customer=customer))
    else:
        print(_("erased %(num)d rows and records of %(customer)s", num=found.total, customer=customer))
    if found.uncompacted:  # erased all the same: the compaction alone is to be done again
        print(_("assistant: %(reason)s", reason=found.uncompacted), file=sys.stderr)
        return 3
    return 0


def _show(config: Config, found: Found) -> None:
    for table, n in found.tables.items():
        print(f"  {table}  " + ngettext("%(num)d row", "%(num)d rows", n))
    root = archive_root(config)
    for path, n in found.archived.items():
        print(f"  {path.relative_to(root)}  " + ngettext("%(num)d record", "%(num)d records", n))


def _incomplete(found: Found) -> int:
    """0, or 3 when archive files could not be read: the answer may lack the buyer's records in them."""
    if not found.unreadable:
        return 0
    for reason in found.unreadable.values():
        print(_("assistant: %(reason)s", reason=reason), file=sys.stderr)
    message = ngettext(
        "%(num)d archive file could not be read: the buyer may have records in it that are not listed here",
        "%(num)d archive files could not be read: the buyer may have records in them that are not listed here",
        len(found.unreadable),
    )
    print(_("assistant: %(reason)s", reason=message), file=sys.stderr)
    return 3


def _refuse(line: str) -> int:
    print(_("assistant: %(reason)s", reason=line), file=sys.stderr)
    return 1
