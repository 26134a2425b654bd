"""The inspector: one message in, its flags out (category, rule, matched span, severity).

Words of every rule go into one Aho-Corasick automaton per side (pyahocorasick), so thousands of words
cost one pass over the message; patterns run on the same normalized view. An exception that overlaps a
match cancels it ("第一次" keeps "第一" in 第一次购买 ordinary); a negation that starts before a match and
ends inside it or right where it begins cancels it too (不能保证 keeps 不能保证百分百不起球 honest); a rule's
`unless` words anywhere in the message cancel the rule. Agent replies under four characters get today's `short` flag.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import ahocorasick

from assistant.config import Config, ConfigError
from assistant.i18n import _
from assistant.qa.normalize import Normalizer, View, digit_text
from assistant.qa.rules import SIDES, Category, RuleData, RulesError, load_rules
from assistant.schema import is_short_reply

log = logging.getLogger(__name__)

SHORT = Category("short", "短回复", "agent", "low", "a human reply under 4 characters once whitespace is removed")
MAX_FLAGS = 20  # per message: a pasted wall of text should not flood the log
INSPECT_CACHE = 20_000  # (text, side) pairs whose flags are remembered, texts of up to CACHED_TEXT_CHARS characters
LONG_INSPECT_CACHE = 500  # longer ones, fewer: the key keeps the whole text (up to 20 kB at max_text_chars)
CACHED_TEXT_CHARS = 64
_GLOBAL = -1  # an exception of every rule
# The buyer's own words quoted back to them (您说"说了好几遍都没人理"): the agent repeats them, does not say them.
# Only after 您/你 + a verb of saying: quotation marks alone are also how shops dress up their own claims.
_BUYER_QUOTED = re.compile(
    r"[您你](?:是|刚才|刚刚|之前|上面|前面)?(?:说|提到|问|讲|反映|写)[的过道]?[：:，,]?\s*"
    r"[\"“「『‘'](?P<quoted>[^\"”」』’'\n]+)[\"”」』’']"
)


@dataclass(frozen=True)
class Flag:
    """One finding in one message: `start`/`end` index the original text, `match` is that span."""

    category: str
    rule: str
    severity: str
    start: int
    end: int
    match: str

    def to_json(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "rule": self.rule,
            "severity": self.severity,
            "start": self.start,
            "end": self.end,
            "match": self.match,
        }


@dataclass(frozen=True)
class _Rule:
    id: str
    category: str
    severity: str
    patterns: tuple[re.Pattern[str], ...]
    unless: tuple[str, ...]
    digits: bool


class Inspector:
    """Compiled rules: `inspect(text, side)` is pure and takes microseconds."""

    def __init__(self, data: RuleData) -> None:
        # Agents paste the same replies and buyers ask the same things all day: a text is inspected once.
        self._inspect = lru_cache(maxsize=INSPECT_CACHE)(self._inspect_uncached)
        self._inspect_long = lru_cache(maxsize=LONG_INSPECT_CACHE)(self._inspect_uncached)
        problems: list[str] = []
        self.normalizer = Normalizer(data.variants)
        self.categories: dict[str, Category] = {SHORT.name: SHORT, **data.categories}
        self.sources = data.sources
        self.warnings = data.warnings
        self.rules: list[_Rule] = []
        words: dict[str, dict[str, list[tuple[int, int]]]] = {side: {} for side in SIDES}
        exceptions: dict[str, list[tuple[int, int, bool]]] = {}  # word → (rule, length, is a negation)
        pattern_rules: dict[str, list[int]] = {side: [] for side in SIDES}
        needs: dict[str, dict[str, list[tuple[int, int]]]] = {side: {} for side in SIDES}
        self.word_count = 0
        for spec in data.rules:
            if not spec.enabled:
                continue
            category = data.categories[spec.category]
            index = len(self.rules)
            unless = tuple(w for w in (self._word(u, spec.id, problems) for u in spec.unless) if w)
            self.rules.append(
                _Rule(
                    spec.id,
                    spec.category,
                    spec.severity or category.severity,
                    tuple(re.compile(p) for p in spec.patterns),
                    unless,
                    spec.view == "digits",
                )
            )
            if spec.patterns:
                pattern_rules[category.side].append(index)
                for word in spec.needs:
                    folded = self._word(word, spec.id, problems)
                    if folded:
                        needs[category.side].setdefault(folded, []).append((index, len(folded)))
            for word in spec.words:
                folded = self._word(word, spec.id, problems)
                if folded:
                    words[category.side].setdefault(folded, []).append((index, len(folded)))
                    self.word_count += 1
            for cancelling, negation in ((spec.exceptions, False), (spec.negations, True)):
                for word in cancelling:
                    folded = self._word(word, spec.id, problems)
                    if folded:
                        exceptions.setdefault(folded, []).append((index, len(folded), negation))
        for word in data.exceptions:
            folded = self._word(word, "except", problems)
            if folded:
                exceptions.setdefault(folded, []).append((_GLOBAL, len(folded), False))
        if problems:
            raise RulesError(problems)
        self._words = {side: _automaton(table) for side, table in words.items()}
        self._exceptions = _automaton(exceptions)
        self._pattern_rules = {side: tuple(indexes) for side, indexes in pattern_rules.items()}
        # Rules whose patterns wait for one of their `needs` words (a cheap pass instead of every regex).
        self._gated = frozenset(rule for table in needs.values() for hits in table.values() for rule, _ in hits)
        self._needs = {side: _automaton(table) for side, table in needs.items()}

    @classmethod
    def load(cls, paths: Iterable[Path]) -> Inspector:
        """Load, merge and compile rule files; RulesError names every problem."""
        return cls(load_rules(paths))

    def _word(self, word: str, rule: str, problems: list[str]) -> str:
        folded = self.normalizer.word(word)
        if not folded:
            problems.append(
                _("rule %(rule)s: %(word)s is nothing but separators once normalized", rule=rule, word=repr(word))
            )
        return folded

    def inspect(self, text: str, side: str) -> list[Flag]:
        """Every flag of `text` written by `side` ("agent" or "customer"), in order of position."""
        if len(text) <= CACHED_TEXT_CHARS:
            return list(self._inspect(text, side))
        return list(self._inspect_long(text, side))

    def clear_cache(self) -> None:
        """Forget every remembered text (benchmarks measure texts inspected for the first time)."""
        self._inspect.cache_clear()
        self._inspect_long.cache_clear()

    def release(self) -> None:
        """Let go of replaced rules: each cache holds this inspector's own method, a reference cycle that only a
        full collection of the frozen heap frees; without them reference counting frees it. Not used again."""
        self.clear_cache()
        del self._inspect, self._inspect_long

    def _inspect_uncached(self, text: str, side: str) -> tuple[Flag, ...]:
        flags = self._rule_flags(text, side) if text else []
        if side == "agent" and is_short_reply(text):
            flags.append(Flag(SHORT.name, "short.chars", SHORT.severity, 0, len(text), text))
        return tuple(flags)

    def _rule_flags(self, text: str, side: str) -> list[Flag]:
        # Matching runs on the bare normalized text; only a message with a match pays for the positions.
        normalized = self.normalizer.text(text)
        if not normalized:
            return []
        found: list[tuple[int, int, int]] = []  # (rule, start, end) in normalized positions
        automaton = self._words.get(side)
        if automaton is not None:
            for end, hits in automaton.iter(normalized):
                for rule, length in hits:
                    found.append((rule, end - length + 1, end + 1))
        numbers: str | None = None
        needed: set[int] = set()
        gate = self._needs.get(side)
        if gate is not None:
            for _end, hits in gate.iter(normalized):
                needed.update(rule for rule, _ in hits)
        for rule in self._pattern_rules.get(side, ()):
            if rule in self._gated and rule not in needed:
                continue
            spec = self.rules[rule]
            target = normalized
            if spec.digits:
                numbers = numbers if numbers is not None else digit_text(normalized)
                target = numbers
            for pattern in spec.patterns:
                for m in pattern.finditer(target):
                    if m.end() > m.start():
                        found.append((rule, m.start(), m.end()))
        if not found:
            return []
        view = self.normalizer.view(text)
        if view.text != normalized:  # the two ways must agree; if they ever do not, the positions would lie
            log.error("normalizer disagreement on %r: %r vs %r", text, view.text, normalized)
            return []
        flags = self._settle(text, view, found)
        if side == "agent" and flags:
            quoted = [m.span("quoted") for m in _BUYER_QUOTED.finditer(text)]
            flags = [f for f in flags if not any(s <= f.start and f.end <= e for s, e in quoted)]
        return flags

    def _settle(self, text: str, view: View, found: list[tuple[int, int, int]]) -> list[Flag]:
        """Drop cancelled and nested matches; map the rest back to the original text."""
        excepted: list[tuple[int, int, int, bool]] = []
        if self._exceptions is not None:
            for end, hits in self._exceptions.iter(view.text):
                for rule, length, negation in hits:
                    excepted.append((rule, end - length + 1, end + 1, negation))
        kept: list[tuple[int, int, int]] = []
        for rule, start, end in sorted(found, key=lambda f: (f[1], -f[2])):
            spec = self.rules[rule]
            if any(r in (rule, _GLOBAL) and _cancels(s, e, n, start, end) for r, s, e, n in excepted):
                continue
            if spec.unless and any(word in view.text for word in spec.unless):
                continue
            for i, (r, s, e) in enumerate(kept):
                # Overlaps or touches a match of the same rule: one flag, the union (再不处理我就投诉了 was
                # 「不处理我就」 and 「投诉」, one threat cut in two and counted twice).
                if r == rule and start <= e:
                    kept[i] = (r, s, max(e, end))
                    break
            else:
                kept.append((rule, start, end))
        flags = []
        for rule, start, end in kept[:MAX_FLAGS]:
            spec = self.rules[rule]
            s, e = view.span(start, end)
            flags.append(Flag(spec.category, spec.id, spec.severity, s, e, text[s:e]))
        return flags

    def label(self, category: str) -> str:
        known = self.categories.get(category)
        return known.label if known else category

    def flag_json(self, flag: Flag) -> dict[str, Any]:
        """A flag as the API answers it (with its category's label)."""
        return {**flag.to_json(), "label": self.label(flag.category)}

    def labels(self) -> Mapping[str, str]:
        return {name: c.label for name, c in self.categories.items()}


def _cancels(s: int, e: int, negation: bool, start: int, end: int) -> bool:
    """An exception [s, e) cancels a match [start, end) it overlaps; a negation, one it starts before and
    reaches (没法保证 in 没法保证明天到) or ends right before (不能说 in 不能说百分百不掉色), not one it starts
    with (不用 leaves 不用拍 a violation)."""
    if negation:
        return s < start <= e
    return s < end and start < e


def _automaton(table: Mapping[str, Sequence[tuple[Any, ...]]]) -> Any:
    if not table:
        return None
    automaton = ahocorasick.Automaton()
    for word, hits in table.items():
        automaton.add_word(word, tuple(hits))
    automaton.make_automaton()
    return automaton


def load_inspector(config: Config) -> Inspector:
    """The configured rule files (relative to the phrase directory), merged and compiled; RulesError names
    every problem, what looks like a mistake is logged."""
    data = load_rules(config.qa_rule_files())
    for warning in data.warnings:
        log.warning("quality rules: %s", warning)
    inspector = Inspector(data)
    unknown = [c for c in config.qa.alert_categories if c not in inspector.categories]
    if unknown:
        raise ConfigError(
            _(
                "%(key)s: unknown %(names)s (not a category of the rules; they have %(known)s)",
                key="[qa] alert_categories",
                names=", ".join(unknown),
                known="、".join(sorted(inspector.categories)),
            )
        )
    from assistant.qa.review import reviewer_of  # the day's inspection reads the daily log; messages do not

    reviewer_of(config.qa, inspector.categories)  # [qa] deductions names categories of these rules, or checks
    return inspector
