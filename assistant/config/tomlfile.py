"""The one reader of the TOML files a shop's engineer edits: config.toml, phrase files, quality rules."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from assistant.i18n import N_, _

# tomllib's own words for the mistakes people make most, said as what to do, in the interface language.
_MISTAKES: dict[str, str] = {
    "Cannot overwrite a value": N_("a key written twice (a shop listed twice?): each key once per table"),
    "Expected newline or end of document after a statement": N_(
        "something follows the value on the same line: one key = value per line, text in double quotes, comments after #"
    ),
    "Invalid value": N_('not a TOML value: text in double quotes ("…"), true or false, a number, or a list [ … ]'),
    "Invalid statement": N_("neither key = value nor a [table] header"),
    "Unterminated string": N_("text without its closing double quote"),
    "Illegal character '\\n'": N_("text without its closing double quote"),
    "Expected '=' after a key in a key/value pair": N_("a key without = and its value"),
    "Expected ']' at the end of a table declaration": N_("a [table] header without its closing ]"),
    "Expected ']]' at the end of an array declaration": N_("a [[table]] header without its closing ]]"),
    "Unclosed array": N_("a list [ … ] without its closing ]"),
    "Invalid initial character for a key part": N_('a key that must be quoted ("键" = …)'),
}
_WHERE = re.compile(r"^(?P<message>.*) \(at (?:line (?P<line>\d+), column (?P<column>\d+)|end of document)\)$", re.S)
_TWICE = re.compile(r"^Cannot declare \((?P<names>.*?),?\) twice$")


def load_toml(path: Path) -> dict[str, Any]:
    """A TOML file's tables. A leading byte-order mark is skipped: Windows Notepad's "UTF-8 with BOM", the
    default on many shops' machines, was refused as "Invalid statement (at line 1, column 1)".

    Raises OSError when the file cannot be read, tomllib.TOMLDecodeError when it is not TOML or not UTF-8 (its
    text says where and what to do, in the interface language).
    """
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:  # a ValueError of its own: it escaped every caller's TOML error
        raise tomllib.TOMLDecodeError(
            _("not UTF-8 text (byte %(at)s): save the file as UTF-8", at=exc.start + 1)
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise tomllib.TOMLDecodeError(explain(str(exc))) from None


def explain(error: str) -> str:
    """tomllib's `Invalid value (at line 3, column 8)` as `line 3, column 8: <what to do>`."""
    found = _WHERE.match(error)
    if found is None:
        return error
    message = found["message"]
    if twice := _TWICE.match(message):
        names = ".".join(name.strip().strip("'\"") for name in twice["names"].split(","))
        what = _("the table [%(table)s] is written twice: merge the two into one", table=names)
    else:
        what = _(_MISTAKES[message]) if message in _MISTAKES else message
    if found["line"] is None:
        return _("at the end of the file: %(error)s", error=what)
    return _("line %(line)s, column %(column)s: %(error)s", line=found["line"], column=found["column"], error=what)
