"""SQLite's spelling of a statement turned into PostgreSQL's (assistant/pg runs every statement through it).

The queries are written once, in SQLite's dialect; the few spellings that differ (placeholders, `INSERT OR IGNORE`,
scalar min/max, `IS` between values, `INDEXED BY`, `temp.`, a JSON field) are rewritten here.
"""

from __future__ import annotations

import re
from functools import lru_cache

_LITERAL = re.compile(r"('(?:[^']|'')*')")
_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_IS_VALUE = re.compile(r"\bIS\s+(?!NULL\b|NOT\b|TRUE\b|FALSE\b|DISTINCT\b)", re.I)
_IS_NOT_VALUE = re.compile(r"\bIS\s+NOT\s+(?!NULL\b|TRUE\b|FALSE\b|DISTINCT\b)", re.I)
_MINMAX = re.compile(r"\b(min|max)\s*\(", re.I)
_SIMPLE = (
    (re.compile(r"\bBEGIN\s+IMMEDIATE\b", re.I), "BEGIN"),
    (re.compile(r"\s+INDEXED\s+BY\s+\w+", re.I), ""),
    (re.compile(r"\btemp\.(?=\w)", re.I), ""),
    (re.compile(r"\bchar\s*\(", re.I), "chr("),
    (re.compile(r"\binstr\s*\(", re.I), "strpos("),
    (re.compile(r"\bAS\s+REAL\b", re.I), "AS DOUBLE PRECISION"),
    (re.compile(r"\bAS\s+INTEGER\b\s*\)", re.I), "AS BIGINT)"),
)
# json_extract(col, '$.key') → (col::json ->> 'key'), matched before the literals are set apart (its path is one).
# json, not jsonb: jsonb refuses a text holding \u0000 anywhere, which a logged event may.
_JSON_FIELD = re.compile(r"\bjson_extract\(([\w.]+),\s*'\$\.(\w+)'\)", re.I)
_OR_IGNORE = re.compile(r"\bINSERT\s+OR\s+IGNORE\s+INTO\b", re.I)
_RETURNING = re.compile(r"\bRETURNING\b", re.I)


@lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """SQLite's spelling of a statement → PostgreSQL's (placeholders become psycopg's)."""
    parts = _LITERAL.split(_JSON_FIELD.sub(r"(\1::json ->> '\2')", sql))
    out = []
    for i, part in enumerate(parts):
        if i % 2:  # a string literal: only psycopg's own escape
            out.append(part.replace("%", "%%"))
            continue
        part = part.replace("%", "%%").replace("?", "%s")
        part = _NAMED.sub(r"%(\1)s", part)
        for pattern, repl in _SIMPLE:
            part = pattern.sub(repl, part)
        part = _IS_NOT_VALUE.sub("IS DISTINCT FROM ", part)
        part = _IS_VALUE.sub("IS NOT DISTINCT FROM ", part)
        out.append(part)
    text = _scalar_minmax("".join(out))
    if _OR_IGNORE.search(text):
        text = _OR_IGNORE.sub("INSERT INTO", text)
        found = _RETURNING.search(text)
        if found:
            text = text[: found.start()] + "ON CONFLICT DO NOTHING " + text[found.start() :]
        else:
            text = text.rstrip().rstrip(";") + " ON CONFLICT DO NOTHING"
    return text


@lru_cache(maxsize=1024)
def translate_bare(sql: str) -> str:
    """`translate` for a statement run without parameters: psycopg then sends it as it is, so the `%%` that only
    its placeholder parsing would read as `%` go back to `%` (a literal '5%' would reach PostgreSQL as '5%%', and a
    partial index whose predicate holds a `%` would not be seen to match the query's)."""
    return translate(sql).replace("%%", "%")


def _scalar_minmax(sql: str) -> str:
    """min(a, b) and max(a, b) of SQLite (scalar, two or more arguments) → LEAST / GREATEST."""
    pieces: list[str] = []
    pos = 0
    for found in _MINMAX.finditer(sql):
        depth, commas, i = 0, 0, found.end() - 1
        while i < len(sql):
            ch = sql[i]
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    break
            elif ch == "," and depth == 1:
                commas += 1
            elif ch == "'":
                i = sql.index("'", i + 1)
            i += 1
        if commas:
            pieces.append(sql[pos : found.start()])
            pieces.append("LEAST(" if found.group(1).lower() == "min" else "GREATEST(")
            pos = found.end()
    pieces.append(sql[pos:])
    return "".join(pieces)
