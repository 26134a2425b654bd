"""An archive file rewritten in place: a buyer's records taken out (`assistant buyer erase`), names added
(`assistant archive`, names an earlier release left behind). Records kept keep their lines byte for byte."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from assistant.daylog.archive import (
    SUFFIX,
    TMP_SUFFIX,
    ArchiveError,
    Summary,
    add_key,
    fsync_dir,
    read_summary,
    record_key,
)
from assistant.i18n import _

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def rewrite(path: Path, keep: Callable[[dict[str, Any]], bool], added: Sequence[dict[str, Any]] = ()) -> None:
    """The file with its header, the records `keep` keeps and then `added`, its footer counted again: written beside
    it (the archive's mode: it holds the raw chat text), fsynced, re-read and checked, renamed into place (atomic),
    the directory fsynced. ArchiveError, the file left as it was, when the re-read does not count what was written;
    a damaged file is not rewritten (it would be made to look whole)."""
    read_summary(path)
    tmp = path.with_name(path.name[: -len(SUFFIX)] + TMP_SUFFIX)
    total = Summary(0, 0)
    with gzip.open(path, "rb") as source, open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as raw:
        os.fchmod(raw.fileno(), 0o600)
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6) as out:
            out.write(source.readline())  # the header
            for line in source:
                record = json.loads(line)
                if record.get("end") is True or not keep(record):
                    continue
                out.write(line)
                total = add_key(total, record_key(record))
            for record in added:
                out.write((_encode(record) + "\n").encode())
                total = add_key(total, record_key(record))
            out.write((_encode({"end": True, **total.to_json()}) + "\n").encode())
        raw.flush()
        os.fsync(raw.fileno())
    found = read_summary(tmp)
    if found != total:
        tmp.unlink(missing_ok=True)
        raise ArchiveError(
            _(
                "%(tmp)s: re-read %(found)s, expected %(expected)s; %(path)s left as it was",
                tmp=tmp,
                found=found,
                expected=total,
                path=path,
            )  # fmt: skip
        )
    os.replace(tmp, path)
    fsync_dir(path.parent)
