"""The inspection rules as data: TOML files (the shipped `phrases/qa.toml`, then a shop's own layers).

A file may define categories, variant spellings, rules and global exceptions. A later file extends an
earlier one: a rule with a known `id` gains its words, patterns and exceptions (or is switched off with
`enabled = false`); a new `id` adds a rule. docs/quality.md describes the format.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SIDES = ("agent", "customer")
SEVERITIES = ("low", "medium", "high")
VIEWS = ("text", "digits")
_CATEGORY_KEYS = frozenset({"label", "side", "severity", "description"})
_RULE_KEYS = frozenset(
    {"id", "category", "severity", "words", "patterns", "needs", "except", "unless", "view", "enabled", "note"}
)
_FILE_KEYS = frozenset({"categories", "variants", "rules", "except"})
_ID = re.compile(r"[a-z0-9_]+(\.[a-z0-9_]+)*")


class RulesError(Exception):
    """Rules that cannot be used; `problems` names each one (file, where, what)."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class Category:
    """A kind of finding: who writes it (side), how it is shown (label), how bad it is by default."""

    name: str
    label: str
    side: str
    severity: str
    description: str = ""


@dataclass
class RuleSpec:
    """One rule as written (words as given, patterns as source), merged across files."""

    id: str
    category: str
    severity: str | None = None
    words: list[str] = field(default_factory=list)
    patterns: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    unless: list[str] = field(default_factory=list)
    needs: list[str] = field(default_factory=list)  # the patterns run only when one of these words occurs
    view: str = "text"
    enabled: bool = True
    note: str = ""


@dataclass(frozen=True)
class RuleData:
    """Every file merged: categories, variants, rules and the global exceptions, not yet compiled."""

    categories: Mapping[str, Category]
    variants: Mapping[str, str]  # variant spelling → canonical form
    rules: tuple[RuleSpec, ...]
    exceptions: tuple[str, ...]
    sources: tuple[str, ...] = ()


def load_rules(paths: Iterable[Path]) -> RuleData:
    """Read and merge the rule files in order; raise RulesError naming every problem."""
    problems: list[str] = []
    tables: list[tuple[str, dict[str, Any]]] = []
    for path in paths:
        try:
            with path.open("rb") as f:
                tables.append((str(path), tomllib.load(f)))
        except FileNotFoundError:
            problems.append(f"{path}: file not found")
        except tomllib.TOMLDecodeError as exc:
            problems.append(f"{path}: not valid TOML: {exc}")
    if problems:
        raise RulesError(problems)
    return merge_rules(tables)


def merge_rules(tables: Sequence[tuple[str, Mapping[str, Any]]]) -> RuleData:
    """Merge parsed TOML tables (source name, table) in order; raise RulesError naming every problem."""
    problems: list[str] = []
    categories: dict[str, Category] = {}
    variants: dict[str, str] = {}
    specs: dict[str, RuleSpec] = {}
    exceptions: list[str] = []
    for source, data in tables:
        for key in data:
            if key not in _FILE_KEYS:
                problems.append(f"{source}: unknown key {key!r} (expected one of {', '.join(sorted(_FILE_KEYS))})")
        _categories(source, data.get("categories", {}), categories, problems)
        _variants(source, data.get("variants", {}), variants, problems)
        exceptions += _strings(source, "except", data.get("except", []), problems)
        rules = data.get("rules", [])
        if not isinstance(rules, list):
            problems.append(f"{source}: rules: expected an array of tables ([[rules]])")
            rules = []
        seen: set[str] = set()
        for index, table in enumerate(rules):
            _rule(f"{source}: rules[{index}]", table, categories, specs, seen, problems)
    if problems:
        raise RulesError(problems)
    return RuleData(categories, variants, tuple(specs.values()), tuple(exceptions), tuple(s for s, _ in tables))


def _categories(source: str, table: Any, out: dict[str, Category], problems: list[str]) -> None:
    if not isinstance(table, dict):
        problems.append(f"{source}: categories: expected a table")
        return
    for name, spec in table.items():
        where = f"{source}: categories.{name}"
        if not isinstance(spec, dict):
            problems.append(f"{where}: expected a table")
            continue
        for key in spec:
            if key not in _CATEGORY_KEYS:
                problems.append(f"{where}: unknown key {key!r}")
        known = out.get(name)
        label = spec.get("label", known.label if known else name)
        side = spec.get("side", known.side if known else None)
        severity = spec.get("severity", known.severity if known else "medium")
        description = spec.get("description", known.description if known else "")
        if not _ID.fullmatch(name):
            problems.append(f"{where}: a category name is lower case letters, digits and _")
        if side not in SIDES:
            problems.append(f"{where}: side: expected one of {', '.join(SIDES)}, got {side!r}")
            continue
        if severity not in SEVERITIES:
            problems.append(f"{where}: severity: expected one of {', '.join(SEVERITIES)}, got {severity!r}")
            continue
        if not isinstance(label, str) or not isinstance(description, str):
            problems.append(f"{where}: label and description are strings")
            continue
        out[name] = Category(name, label, side, severity, description)


def _variants(source: str, table: Any, out: dict[str, str], problems: list[str]) -> None:
    if not isinstance(table, dict):
        problems.append(f"{source}: variants: expected a table (canonical = [variants])")
        return
    for canonical, spellings in table.items():
        for spelling in _strings(source, f"variants.{canonical}", spellings, problems):
            out[spelling] = canonical


def _rule(
    where: str,
    table: Any,
    categories: Mapping[str, Category],
    specs: dict[str, RuleSpec],
    seen: set[str],
    problems: list[str],
) -> None:
    if not isinstance(table, dict):
        problems.append(f"{where}: expected a table")
        return
    rule_id = table.get("id")
    if not isinstance(rule_id, str) or not _ID.fullmatch(rule_id):
        problems.append(f"{where}: id: required, dotted lower-case words (e.g. 'promise.delivery')")
        return
    where = f"{where} ({rule_id})"
    for key in table:
        if key not in _RULE_KEYS:
            problems.append(f"{where}: unknown key {key!r}")
    if rule_id in seen:
        problems.append(f"{where}: the id appears twice in this file")
        return
    seen.add(rule_id)
    spec = specs.get(rule_id)
    category = table.get("category", spec.category if spec else None)
    if not isinstance(category, str) or category not in categories:
        problems.append(f"{where}: category: unknown {category!r} (define it under [categories])")
        return
    if spec is None:
        spec = specs[rule_id] = RuleSpec(rule_id, category)
    elif category != spec.category:
        problems.append(f"{where}: category: a later file cannot move a rule to another category")
        return
    severity = table.get("severity", spec.severity)
    if severity is not None and severity not in SEVERITIES:
        problems.append(f"{where}: severity: expected one of {', '.join(SEVERITIES)}, got {severity!r}")
        return
    spec.severity = severity
    view = table.get("view", spec.view)
    if view not in VIEWS:
        problems.append(f"{where}: view: expected one of {', '.join(VIEWS)}, got {view!r}")
        return
    spec.view = view
    enabled = table.get("enabled", spec.enabled)
    if not isinstance(enabled, bool):
        problems.append(f"{where}: enabled: expected true or false")
        return
    spec.enabled = enabled
    note = table.get("note", spec.note)
    spec.note = note if isinstance(note, str) else spec.note
    spec.words += _strings(where, "words", table.get("words", []), problems)
    spec.exceptions += _strings(where, "except", table.get("except", []), problems)
    spec.unless += _strings(where, "unless", table.get("unless", []), problems)
    spec.needs += _strings(where, "needs", table.get("needs", []), problems)
    for source in _strings(where, "patterns", table.get("patterns", []), problems):
        try:
            re.compile(source)
        except re.error as exc:
            problems.append(f"{where}: patterns: {source!r} is not a regular expression: {exc}")
            continue
        spec.patterns.append(source)


def _strings(where: str, key: str, value: Any, problems: list[str]) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(f"{where}: {key}: expected a list of strings")
        return []
    empty = [v for v in value if not v.strip()]
    if empty:
        problems.append(f"{where}: {key}: empty string in the list")
    return [v for v in value if v.strip()]
