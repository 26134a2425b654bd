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
    # A Windows path in double quotes ("D:\shop\phrases") was refused in tomllib's English, as were these.
    "Unescaped '\\' in a string": N_(
        "a backslash in double-quoted text: write / instead (D:/shop), or two backslashes, or put the text in single quotes"
    ),
    "Unclosed inline table": N_("an inline table { … } without its closing } (it must end on the same line)"),
    "Expected \"'\"": N_("text without its closing single quote"),
    "Expected \"'''\"": N_("text without its closing '''"),
    "Invalid hex value": N_("a \\u escape needs 4 hexadecimal digits (\\U needs 8)"),
    "Escaped character is not a Unicode scalar value": N_("a \\u or \\U escape that names no character"),
    "Invalid date or datetime": N_("not a date or time (2026-11-20, 2026-11-20T10:00:00+08:00): text goes in double quotes"),
}  # fmt: skip
# tomllib's messages that name what they are about (`Duplicate inline table key 'a'`): the name kept.
_NAMED: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^Duplicate inline table key '(?P<name>.*)'$"), N_("the key %(name)s is written twice in { … }")),
    (
        re.compile(r"^Cannot (?:mutate immutable|redefine) namespace \((?P<name>.*?),?\)$"),
        N_("%(name)s is already a whole value (an inline table { … } or a list of tables): it cannot be added to here"),
    ),
    (
        re.compile(r"^(?:Found invalid|Illegal) character (?P<name>'.*')$"),
        N_("the control character %(name)s is not allowed here"),
    ),
)
_WHERE = re.compile(r"^(?P<message>.*) \(at (?:line (?P<line>\d+), column (?P<column>\d+)|end of document)\)$", re.S)
_TWICE = re.compile(r"^Cannot declare \((?P<names>.*?),?\) twice$")
# The key of a `key = value` line (bare, quoted or dotted), to name the key a file writes twice.
_PART = r"""(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""
_ASSIGNED = re.compile(rf"^\s*(?P<key>{_PART}(?:\s*\.\s*{_PART})*)\s*=")


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
        raise tomllib.TOMLDecodeError(explain(str(exc), text)) from None


def explain(error: str, text: str = "") -> str:
    """tomllib's `Invalid value (at line 3, column 8)` as `line 3, column 8: <what to do>`; with the file's `text`,
    a key written twice is named (the key = value of the line tomllib points at)."""
    found = _WHERE.match(error)
    if found is None:
        return error
    message = found["message"]
    if twice := _TWICE.match(message):
        what = _("the table [%(table)s] is written twice: merge the two into one", table=_dotted(twice["names"]))
    elif message == "Cannot overwrite a value" and (key := _assigned_key(text, found["line"])):
        what = _("the key %(key)s is written twice: each key once per table", key=key)
    elif message in _MISTAKES:
        what = _(_MISTAKES[message])
    else:
        named = ((pattern.match(message), said) for pattern, said in _NAMED)
        what = next((_(said, name=_dotted(m["name"])) for m, said in named if m), message)
    if found["line"] is None:
        return _("at the end of the file: %(error)s", error=what)
    return _("line %(line)s, column %(column)s: %(error)s", line=found["line"], column=found["column"], error=what)


def _dotted(names: str) -> str:
    """tomllib's key tuple (`'shop', 'names'`) as the file writes it (`shop.names`)."""
    return ".".join(name.strip().strip("'\"") for name in names.split(","))


def _assigned_key(text: str, line: str | None) -> str | None:
    """The key `key = value` assigns on line `line` (1-based) of `text`, as written; None when it assigns none."""
    lines = text.splitlines()
    if line is None or not 0 < int(line) <= len(lines):
        return None
    found = _ASSIGNED.match(lines[int(line) - 1])
    return found["key"] if found else None
