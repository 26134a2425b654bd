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

from assistant.config.tomlfile import load_toml
from assistant.i18n import _, os_reason

SIDES = ("agent", "customer")
SEVERITIES = ("low", "medium", "high")
VIEWS = ("text", "digits")
_CATEGORY_KEYS = frozenset({"label", "side", "severity", "description"})
_RULE_KEYS = frozenset(
    {
        "id",
        "category",
        "severity",
        "words",
        "patterns",
        "needs",
        "except",
        "negations",
        "unless",
        "view",
        "enabled",
        "note",
    }
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
    negations: list[str] = field(default_factory=list)  # cancel a match they end inside of or right before
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
    warnings: tuple[str, ...] = ()  # usable, but probably not what was meant (logged, printed by `qa check`)


def load_rules(paths: Iterable[Path]) -> RuleData:
    """Read and merge the rule files in order; raise RulesError naming every problem."""
    problems: list[str] = []
    tables: list[tuple[str, dict[str, Any]]] = []
    for path in paths:
        try:
            tables.append((str(path), load_toml(path)))
        except FileNotFoundError:
            problems.append(_("%(file)s: file not found", file=path))
        except tomllib.TOMLDecodeError as exc:
            problems.append(_("%(file)s: not valid TOML: %(error)s", file=path, error=exc))
        except OSError as exc:
            problems.append(_("%(file)s: %(reason)s", file=path, reason=os_reason(exc)))
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
    warnings: list[str] = []
    for source, data in tables:
        for key in data:
            if key not in _FILE_KEYS:
                expected = ", ".join(sorted(_FILE_KEYS))
                problems.append(
                    _(
                        "%(where)s: unknown key %(key)s (expected one of %(keys)s)",
                        where=source,
                        key=repr(key),
                        keys=expected,
                    )
                )
        _categories(source, data.get("categories", {}), categories, problems)
        _variants(source, data.get("variants", {}), variants, problems)
        exceptions += _strings(source, "except", data.get("except", []), problems)
        rules = data.get("rules", [])
        if not isinstance(rules, list):
            problems.append(_("%(where)s: rules: expected an array of tables ([[rules]])", where=source))
            rules = []
        seen: set[str] = set()
        for index, table in enumerate(rules):
            _rule(
                _("%(where)s: %(problem)s", where=source, problem=f"rules[{index}]"),
                table,
                categories,
                specs,
                seen,
                problems,
            )
        if rules and isinstance(rules[-1], dict):
            last = _("%(where)s: %(problem)s", where=source, problem=f"rules[{len(rules) - 1}]")
            warnings += _stray_except(last, rules[-1])
    if problems:
        raise RulesError(problems)
    sources = tuple(s for s, _ in tables)
    return RuleData(categories, variants, tuple(specs.values()), tuple(exceptions), sources, tuple(warnings))


def _stray_except(where: str, table: Mapping[str, Any]) -> list[str]:
    """A file's last [[rules]] table holds every key written below it: an `except` there that can cancel none of
    the rule's words was most likely meant for every rule (the top-level `except` goes before any table)."""
    words = table.get("words", [])
    stray = [
        word
        for word in table.get("except", [])
        if isinstance(word, str) and not any(isinstance(w, str) and _can_overlap(word, w) for w in words)
    ]
    if not stray or table.get("patterns"):
        return []
    return [
        _(
            "%(where)s (%(rule)s): except %(words)s cancels none of the rule's words; an except of every rule is "
            "written at the top of the file, before the first [[rules]]",
            where=where,
            rule=table.get("id"),
            words=", ".join(map(repr, stray)),
        )
    ]


def _can_overlap(a: str, b: str) -> bool:
    """Whether a match of `b` and an occurrence of `a` can share characters in some text."""
    return a in b or b in a or any(a.endswith(b[:n]) or b.endswith(a[:n]) for n in range(1, min(len(a), len(b))))


def _categories(source: str, table: Any, out: dict[str, Category], problems: list[str]) -> None:
    if not isinstance(table, dict):
        problems.append(_("%(where)s: categories: expected a table", where=source))
        return
    for name, spec in table.items():
        where = _("%(where)s: %(problem)s", where=source, problem=f"categories.{name}")
        if not isinstance(spec, dict):
            problems.append(_("%(where)s: expected a table", where=where))
            continue
        for key in spec:
            if key not in _CATEGORY_KEYS:
                problems.append(_("%(where)s: unknown key %(key)s", where=where, key=repr(key)))
        known = out.get(name)
        label = spec.get("label", known.label if known else name)
        side = spec.get("side", known.side if known else None)
        severity = spec.get("severity", known.severity if known else "medium")
        description = spec.get("description", known.description if known else "")
        if not _ID.fullmatch(name):
            problems.append(_("%(where)s: a category name is lower case letters, digits and _", where=where))
        if side not in SIDES:
            problems.append(_not_one_of(where, "side", SIDES, side))
            continue
        if severity not in SEVERITIES:
            problems.append(_not_one_of(where, "severity", SEVERITIES, severity))
            continue
        if not isinstance(label, str) or not isinstance(description, str):
            problems.append(_("%(where)s: label and description are strings", where=where))
            continue
        out[name] = Category(name, label, side, severity, description)


def _variants(source: str, table: Any, out: dict[str, str], problems: list[str]) -> None:
    if not isinstance(table, dict):
        problems.append(_("%(where)s: variants: expected a table (canonical = [variants])", where=source))
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
    """Check every key of one [[rules]] table (all its problems at once), then merge it into `specs`."""
    if not isinstance(table, dict):
        problems.append(_("%(where)s: expected a table", where=where))
        return
    rule_id = table.get("id")
    if not isinstance(rule_id, str) or not _ID.fullmatch(rule_id):
        problems.append(_("%(where)s: id: required, dotted lower-case words (e.g. 'promise.delivery')", where=where))
        return
    where = f"{where} ({rule_id})"
    found = len(problems)
    for key in table:
        if key not in _RULE_KEYS:
            problems.append(_("%(where)s: unknown key %(key)s", where=where, key=repr(key)))
    if rule_id in seen:
        problems.append(_("%(where)s: the id appears twice in this file", where=where))
        return
    seen.add(rule_id)
    spec = specs.get(rule_id)
    category = table.get("category", spec.category if spec else None)
    if not isinstance(category, str) or category not in categories:
        problems.append(
            _(
                "%(where)s: category: unknown %(category)s (define it under [categories])",
                where=where,
                category=repr(category),
            )
        )
    elif spec is not None and category != spec.category:
        problems.append(_("%(where)s: category: a later file cannot move a rule to another category", where=where))
    severity = table.get("severity", spec.severity if spec else None)
    if severity is not None and severity not in SEVERITIES:
        problems.append(_not_one_of(where, "severity", SEVERITIES, severity))
    view = table.get("view", spec.view if spec else "text")
    if view not in VIEWS:
        problems.append(_not_one_of(where, "view", VIEWS, view))
    enabled = table.get("enabled", spec.enabled if spec else True)
    if not isinstance(enabled, bool):
        problems.append(_("%(where)s: enabled: expected true or false", where=where))
    lists = {
        key: _strings(where, key, table.get(key, []), problems)
        for key in ("words", "except", "negations", "unless", "needs", "patterns")
    }
    for source in lists["patterns"]:
        try:
            re.compile(source)
        except re.error as exc:
            problems.append(
                _(
                    "%(where)s: patterns: %(pattern)s is not a regular expression: %(error)s",
                    where=where,
                    pattern=repr(source),
                    error=exc,
                )
            )
    if len(problems) > found:
        return  # nothing of a rule with a problem is merged (the whole load fails anyway)
    assert isinstance(category, str) and isinstance(enabled, bool)
    if spec is None:
        spec = specs[rule_id] = RuleSpec(rule_id, category)
    spec.severity = severity
    spec.view = view
    spec.enabled = enabled
    note = table.get("note", spec.note)
    spec.note = note if isinstance(note, str) else spec.note
    spec.words += lists["words"]
    spec.exceptions += lists["except"]
    spec.negations += lists["negations"]
    spec.unless += lists["unless"]
    spec.needs += lists["needs"]
    spec.patterns += lists["patterns"]


def _not_one_of(where: str, key: str, choices: Iterable[str], value: Any) -> str:
    return _(
        "%(where)s: %(key)s: expected one of %(choices)s, got %(value)s",
        where=where, key=key, choices=", ".join(choices), value=repr(value),
    )  # fmt: skip


def _strings(where: str, key: str, value: Any, problems: list[str]) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(_("%(where)s: %(key)s: expected a list of strings", where=where, key=key))
        return []
    empty = [v for v in value if not v.strip()]
    if empty:
        problems.append(_("%(where)s: %(key)s: empty string in the list", where=where, key=key))
    return [v for v in value if v.strip()]
