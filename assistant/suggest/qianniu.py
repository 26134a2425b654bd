"""Qianniu-style quick-phrase tables (分组 / 快捷编码 / 快捷短语) to and from the TOML library."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from assistant.safetext import CsvWriter, cell
from assistant.suggest.matcher import Matcher
from assistant.suggest.phrases import (
    ASSISTANT_INTENTS,
    MIN_CHARS,
    PRODUCT_INTENTS,
    PRODUCT_MIN_CHARS,
    Library,
    check_template,
    make_environment,
    visible_length,
)

COLUMNS = ("分组", "快捷编码", "快捷短语")
# Header spellings seen in exports of Qianniu and similar tools, by the column they mean.
HEADER_ALIASES: Mapping[str, tuple[str, ...]] = {
    "group": ("分组", "分组名", "分组名称", "类目", "分类", "类别", "group", "category"),
    "code": ("快捷编码", "编码", "快捷键", "快捷码", "短语编码", "编号", "code", "shortcut", "key"),
    "text": ("快捷短语", "短语", "短语内容", "内容", "回复", "回复内容", "话术", "文本", "text", "phrase", "content"),
}
TRIGGERS_PER_PHRASE = 4
_CODE = re.compile(r"^[0-9A-Za-z_\-]{1,20}$")


class TableError(Exception):
    """The file is not a table we can read (wrong type, no recognizable header)."""


@dataclass(frozen=True)
class Skipped:
    """A row not imported: its 1-based row number in the file and why."""

    row: int
    reason: str


@dataclass(frozen=True)
class ImportedPhrase:
    """A phrase built from one row, ready to be written as TOML."""

    id: str
    intent: str
    code: str
    text: str
    triggers: tuple[str, ...]
    group: str
    row: int


@dataclass(frozen=True)
class ImportResult:
    """What an import produced: phrases taken and rows left out with their reasons."""

    phrases: tuple[ImportedPhrase, ...] = ()
    skipped: tuple[Skipped, ...] = field(default=())


def read_table(path: Path) -> list[list[str]]:
    """All rows of a .csv (UTF-8 with or without BOM, or GB18030) or .xlsx file (first sheet), as strings."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        raw = path.read_bytes()
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                text = raw.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise TableError(f"{path.name}: not UTF-8 or GB18030 text")
        return [[cell.strip() for cell in row] for row in csv.reader(io.StringIO(text))]
    if suffix == ".xlsx":
        from openpyxl import load_workbook

        try:
            book = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:
            raise TableError(f"{path.name}: cannot open as .xlsx: {exc}") from None
        try:
            sheet = book.worksheets[0]
            return [["" if v is None else str(v).strip() for v in row] for row in sheet.iter_rows(values_only=True)]
        finally:
            book.close()
    raise TableError(f"{path.name}: expected a .csv or .xlsx file")


def map_header(header: Sequence[str]) -> dict[str, int]:
    """Column index of `group`, `code` and `text` in a header row; headers are matched loosely."""
    found: dict[str, int] = {}
    cleaned = [re.sub(r"[\s*:：()（）\[\]]", "", h).lower() for h in header]
    for column, aliases in HEADER_ALIASES.items():
        for alias in aliases:  # exact spellings first, then headers that contain one
            hits = [i for i, h in enumerate(cleaned) if h == alias.lower() and i not in found.values()]
            if not hits:
                hits = [i for i, h in enumerate(cleaned) if alias.lower() in h and i not in found.values()]
            if hits:
                found[column] = hits[0]
                break
    return found


def import_rows(rows: Sequence[Sequence[str]], matcher: Matcher) -> ImportResult:
    """Turn table rows (header first) into phrases; intents are guessed from the group name, then the text."""
    header_at = next((i for i, row in enumerate(rows) if "text" in map_header(row)), None)
    if header_at is None:
        raise TableError(f"no header with a phrase column (one of: {', '.join(HEADER_ALIASES['text'][:6])}…)")
    columns = map_header(rows[header_at])
    library = matcher.library
    env = make_environment()
    codes = {p.code.lower() for p in library.phrases}
    ids = set(library.by_id)
    phrases: list[ImportedPhrase] = []
    skipped: list[Skipped] = []
    for n, row in enumerate(rows[header_at + 1 :], header_at + 2):
        cell = {name: row[i].strip() if i < len(row) else "" for name, i in columns.items()}
        text, group, code = cell.get("text", ""), cell.get("group", ""), cell.get("code", "")
        if not any(cell.values()):
            continue
        if not text:
            skipped.append(Skipped(n, "empty phrase text"))
            continue
        intent = guess_intent(matcher, group, text)
        if intent is None:
            reason = f"cannot tell the intent from group {group!r} or the text; name the group after one"
            skipped.append(Skipped(n, reason))
            continue
        template, reasons = check_template(env, text, library.variables)
        if template is None:
            skipped.append(Skipped(n, "; ".join(reasons)))
            continue
        length = visible_length(template, library.variables)
        minimum = PRODUCT_MIN_CHARS if intent in PRODUCT_INTENTS else MIN_CHARS
        if length < minimum:
            skipped.append(Skipped(n, f"text too short for {intent}: {length} characters (min {minimum})"))
            continue
        if code and not _CODE.match(code):
            skipped.append(Skipped(n, f"code {code!r} must be letters, digits, '-' or '_' (at most 20)"))
            continue
        code = code or _free_code(intent, codes)
        if code.lower() in codes:
            skipped.append(Skipped(n, f"duplicate code {code!r}"))
            continue
        codes.add(code.lower())
        pid = _free_id(f"{intent}.imported_{code.lower()}", ids)
        ids.add(pid)
        triggers = suggest_triggers(matcher, intent, text)
        phrases.append(ImportedPhrase(pid, intent, code, text, triggers, group or library.intents[intent].label, n))
    return ImportResult(tuple(phrases), tuple(skipped))


def guess_intent(matcher: Matcher, group: str, text: str) -> str | None:
    """The intent a group name points to (its label or key words), else the one the text's key words point to."""
    for source, weight in ((group, 1.0), (text, 0.6)):
        if not source:
            continue
        for spec in matcher.library.intents.values():
            if spec.label and spec.label == source.strip() and spec.id not in ASSISTANT_INTENTS:
                return spec.id
        scores = {i: s * weight for i, s in matcher.keyword_scores(source).items() if i not in ASSISTANT_INTENTS}
        if scores:
            best = max(scores, key=lambda i: scores[i])
            if scores[best] >= 0.3:
                return best
    return None


def suggest_triggers(matcher: Matcher, intent: str, text: str) -> tuple[str, ...]:
    """Triggers for an imported phrase: the intent's key words found in its text, else its first key words."""
    spec = matcher.library.intents[intent]
    words = [w for w in (*spec.strong, *spec.keywords) if "#" not in w]
    compact = matcher.normalizer.normalize(text)
    found = [w for w in words if matcher.normalizer.normalize(w) in compact]
    chosen = list(dict.fromkeys(found + words))[:TRIGGERS_PER_PHRASE]
    return tuple(chosen) or (spec.label,)


def to_toml(result: ImportResult, source: str = "") -> str:
    """The imported phrases as a phrase file (written by tomli-w, so any text reads back exactly)."""
    groups = list(dict.fromkeys(p.group for p in result.phrases))
    first = groups[0] if groups else "导入"
    phrases = []
    for p in result.phrases:
        entry: dict[str, Any] = {"id": p.id, "intent": p.intent, "code": p.code}
        if p.group != first:
            entry["group"] = p.group
        entry["text"] = p.text
        entry["triggers"] = list(p.triggers)
        phrases.append(entry)
    header = [
        f"# Imported from {source}" if source else "# Imported quick phrases",
        "# Triggers were guessed from key words: review them.",
    ]
    header = [" ".join(line.splitlines()) for line in header]  # a file name cannot break out of its comment
    return "\n".join(header) + "\n" + tomli_w.dumps({"group": first, "phrase": phrases})


def export_rows(library: Library, *, raw: bool = False) -> list[list[str]]:
    """Header and one row per phrase: 分组, 快捷编码, 快捷短语 (rendered with the library's defaults unless raw)."""
    rows = [list(COLUMNS)]
    for p in library.phrases:
        rows.append([p.group, p.code, p.text if raw else library.render(p.id)])
    return rows


def write_table(rows: Iterable[Sequence[str]], path: Path) -> None:
    """Write rows as .csv (UTF-8 with BOM, so Excel reads the Chinese) or .xlsx."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open("w", encoding="utf-8-sig", newline="") as f:
            CsvWriter(f, lineterminator="\r\n").writerows(rows)
    elif suffix == ".xlsx":
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.title = "快捷短语"
        for row in rows:
            sheet.append([cell(v) for v in row])  # openpyxl takes a text starting with "=" as a formula
        book.save(path)
    else:
        raise TableError(f"{path.name}: expected a .csv or .xlsx file")


def _free_code(intent: str, taken: set[str]) -> str:
    prefix = "".join(part[0] for part in intent.split("_"))
    n = 1
    while f"{prefix}{n}".lower() in taken:
        n += 1
    return f"{prefix}{n}"


def _free_id(base: str, taken: set[str]) -> str:
    base = re.sub(r"[^0-9a-z_.\-]", "_", base.lower())
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    return candidate
