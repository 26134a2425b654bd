"""The one reader of the TOML files a shop's engineer edits: config.toml, phrase files, quality rules."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from assistant.i18n import _


def load_toml(path: Path) -> dict[str, Any]:
    """A TOML file's tables. A leading byte-order mark is skipped: Windows Notepad's "UTF-8 with BOM", the
    default on many shops' machines, was refused as "Invalid statement (at line 1, column 1)".

    Raises OSError when the file cannot be read, tomllib.TOMLDecodeError when it is not TOML or not UTF-8.
    """
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:  # a ValueError of its own: it escaped every caller's TOML error
        raise tomllib.TOMLDecodeError(
            _("not UTF-8 text (byte %(at)s): save the file as UTF-8", at=exc.start + 1)
        ) from None
    return tomllib.loads(text)
