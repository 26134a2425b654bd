"""Key-word spotting: which intents the words of a message point to, and how strongly.

`WordFinder` is the shared way to find library words in a message (intent key words, customer-type cues):
on the segmenter's word boundaries, with the library's free substrings and exclusions (`[words]`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Generic, TypeVar

import ahocorasick
from mypy_extensions import mypyc_attr

from assistant.suggest.phrases import IntentSpec, WordSpec
from assistant.suggest.textnorm import RELEASED, Analysis, Normalizer
from assistant.suggest.vocabulary import NUMBER, holds

STRONG_WEIGHT = 0.9
WEIGHT_BY_LENGTH = {1: 0.45, 2: 0.6, 3: 0.7}  # longer key words weigh LONG_WEIGHT
LONG_WEIGHT = 0.75
WEAK_FACTOR = 0.5
PATTERN_WEIGHT = 0.6
WHOLE_SCORE = 0.95
_NON_WORD = re.compile(r"[\W_]+")
_REPEATED = re.compile(r"(.+?)\1+")  # a word said over and over: 亲亲亲亲, 在在在
EVIDENCE_CACHE = 4096  # analyses whose key-word evidence is remembered
T = TypeVar("T")


@mypyc_attr(native_class=False)  # compiled, a generic frozen dataclass cannot be built
@dataclass(frozen=True)
class Term(Generic[T]):
    """A library word in normalized form, with what it stands for; `regex` when it holds a "#" number slot."""

    text: str
    raw: str
    value: T
    regex: re.Pattern[str] | None = None


@mypyc_attr(native_class=False)  # compiled, a generic frozen dataclass cannot be built
@dataclass(frozen=True)
class Found(Generic[T]):
    """Where a term was found in a message's compact text."""

    start: int
    end: int
    term: Term[T]


class WordRules:
    """The library's `[words]` rules in normalized form: which words match anywhere, which never inside what."""

    def __init__(self, spec: WordSpec, normalizer: Normalizer) -> None:
        self.free = frozenset(w for w in (_norm(normalizer, raw) for raw in spec.free) if w)
        exclusions: dict[str, tuple[str, ...]] = {}
        for raw, longer in spec.exclusions.items():
            word = _norm(normalizer, raw)
            if word:
                forms = tuple(f for f in (_norm(normalizer, x) for x in longer) if holds(f, word) and f != word)
                exclusions[word] = exclusions.get(word, ()) + forms
        self.exclusions = exclusions

    def allows(self, analysis: Analysis, start: int, end: int, text: str) -> bool:
        """Whether the word `text` found at `compact[start:end]` counts there."""
        if text not in self.free and "#" not in text and analysis.inside_word(start, end):
            return False
        for longer in self.exclusions.get(text, ()):
            # Every place the longer word occurs that would cover this hit.
            at = analysis.compact.find(longer, max(0, end - len(longer)))
            while 0 <= at <= start:
                if at + len(longer) >= end:
                    return False
                at = analysis.compact.find(longer, at + 1)
        return True

    def excluded(self, compact: str, text: str) -> bool:
        """Whether `text` occurs in `compact` only inside its exclusions (一星 only in 一星期)."""
        longer = self.exclusions.get(text)
        if not longer or text not in compact:
            return False
        at = compact.find(text)
        while at >= 0:
            # A longer form covers this place when its first occurrence that could end past it starts before it.
            if not any(0 <= compact.find(form, max(0, at + len(text) - len(form))) <= at for form in longer):
                return False
            at = compact.find(text, at + 1)
        return True


class WordFinder(Generic[T]):
    """Finds library words in messages by their normalized form, obeying the `[words]` rules.

    Words are given raw (as the library writes them); "#" in a word stands for any number ("少#块").
    `find` returns each word's first place that the rules allow. Plain words are found in one pass
    (Aho-Corasick); a word with a number slot is tried only when all its fixed parts are in the message.
    """

    def __init__(self, words: Iterable[tuple[str, T]], normalizer: Normalizer, rules: WordRules) -> None:
        self.rules = rules
        terms: list[Term[T]] = []
        for raw, value in words:
            term = make_term(raw, value, normalizer)
            if term is not None:
                terms.append(term)
        self.terms = terms
        self._automaton: Any = None
        by_text: dict[str, list[int]] = {}
        # A word with a number slot is looked for only when its longest fixed part is in the message.
        by_part: dict[str, list[int]] = {}
        self._anywhere: list[int] = []
        for n, term in enumerate(terms):
            if term.regex is None:
                by_text.setdefault(term.text, []).append(n)
                continue
            parts = [p for p in term.text.split("#") if p]
            if parts:
                by_part.setdefault(max(parts, key=len), []).append(n)
            else:
                self._anywhere.append(n)
        self._automaton = _automaton({t: (len(t), tuple(ns)) for t, ns in by_text.items()})
        self._parts = _automaton({t: tuple(ns) for t, ns in by_part.items()})

    def find(self, analysis: Analysis) -> list[Found[T]]:
        """Every term present in the message (first allowed place of each), in the order they were given."""
        compact = analysis.compact
        if not compact:
            return []
        places: dict[int, tuple[int, int]] = {}
        if self._automaton is not None:
            allows = self.rules.allows
            for last, (length, numbers) in self._automaton.iter(compact):
                if numbers[0] in places:
                    continue
                start, end = last + 1 - length, last + 1
                if allows(analysis, start, end, compact[start:end]):
                    for n in numbers:
                        places[n] = (start, end)
        slotted = set(self._anywhere)
        if self._parts is not None:
            for _, numbers in self._parts.iter(compact):
                slotted.update(numbers)
        for n in slotted:
            place = self._slot_place(analysis, self.terms[n])
            if place is not None:
                places[n] = place
        return [Found(start, end, self.terms[n]) for n, (start, end) in sorted(places.items())]

    def _slot_place(self, analysis: Analysis, term: Term[T]) -> tuple[int, int] | None:
        assert term.regex is not None
        for match in term.regex.finditer(analysis.compact):
            if self.rules.allows(analysis, match.start(), match.end(), term.text):
                return match.span()
        return None


def _automaton(words: Mapping[str, Any]) -> Any:
    """An Aho-Corasick automaton over `words`, each carrying its value; None for no words."""
    if not words:
        return None
    automaton = ahocorasick.Automaton(ahocorasick.STORE_ANY)
    for text, value in words.items():
        automaton.add_word(text, value)
    automaton.make_automaton()
    return automaton


def make_term(raw: str, value: T, normalizer: Normalizer) -> Term[T] | None:
    """A raw library word in normalized form; None when nothing is left of it."""
    parts = [normalizer.normalize(part) for part in raw.split("#")]
    text = "#".join(parts)
    if not _NON_WORD.sub("", text.replace("#", "")):
        return None
    regex = re.compile(NUMBER.join(re.escape(p) for p in parts)) if "#" in text else None
    return Term(text=text, raw=raw, value=value, regex=regex)


def _norm(normalizer: Normalizer, raw: str) -> str:
    return "#".join(normalizer.normalize(part) for part in raw.split("#"))


@dataclass(frozen=True)
class Keyword:
    """One normalized key word of an intent; `regex` is set when it holds a "#" number slot."""

    text: str
    intent: str
    weight: float
    raw: str
    regex: re.Pattern[str] | None = None

    @property
    def length(self) -> int:
        return len(self.text)


@dataclass(frozen=True)
class Hit:
    """Where a key word was found in the compact text."""

    start: int
    end: int
    keyword: Keyword


class KeywordSpotter:
    """Finds intents' key words in normalized text; a hit inside a longer hit does not count."""

    def __init__(
        self, intents: Mapping[str, IntentSpec], normalizer: Normalizer, words: WordSpec | None = None
    ) -> None:
        self._normalizer = normalizer
        found: dict[tuple[str, str], Keyword] = {}
        for spec in intents.values():
            lists = ((spec.strong, None), (spec.keywords, 1.0), (spec.weak, WEAK_FACTOR))
            for raw_words, factor in lists:
                for raw in raw_words:
                    keyword = self._keyword(raw, spec.id, factor)
                    if keyword is not None and (keyword.text, spec.id) not in found:
                        found[(keyword.text, spec.id)] = keyword
        self.keywords = sorted(found.values(), key=lambda k: (-k.length, -k.weight, k.text))
        self.rules = WordRules(words or WordSpec(), normalizer)
        self.finder = WordFinder(((k.raw, k) for k in self.keywords), normalizer, self.rules)
        self._hits = lru_cache(maxsize=EVIDENCE_CACHE)(self._hits_uncached)
        self._scores = lru_cache(maxsize=EVIDENCE_CACHE)(self._scores_uncached)
        self._whole: dict[str, str] = {}
        for spec in intents.values():
            for raw in spec.whole:
                form = normalizer.fold(raw).replace(" ", "")
                if form:
                    self._whole.setdefault(form, spec.id)
        self._patterns: list[tuple[re.Pattern[str], str, str]] = []
        for spec in intents.values():
            for pattern in spec.patterns:
                try:
                    self._patterns.append((re.compile(pattern), spec.id, pattern))
                except re.error:
                    continue  # rejected at library load; a hand-built spec may not have been checked

    def presence_test(self, intents: frozenset[str]) -> Callable[[Analysis], bool]:
        """A quick test for messages with no key word or whole form of `intents`: False means none is there.

        True only says one may be: the test looks for each word's text (its longest fixed part when it holds
        a number slot) anywhere, without the `[words]` rules that `hits` applies.
        """
        parts: dict[str, None] = {}
        always = False
        for keyword in self.keywords:
            if keyword.intent in intents:
                fixed = [p for p in keyword.text.split("#") if p]
                if fixed:
                    parts[max(fixed, key=len)] = None
                else:
                    always = True
        automaton = _automaton(parts)
        forms = frozenset(form for form, intent in self._whole.items() if intent in intents)

        def present(analysis: Analysis) -> bool:
            if always or (automaton is not None and next(automaton.iter(analysis.compact), None) is not None):
                return True
            return bool(forms) and any(form in forms for form in _whole_forms(analysis.folded))

        return present

    def clear_caches(self) -> None:
        """Forget remembered evidence."""
        self._hits.cache_clear()
        self._scores.cache_clear()

    def release(self) -> None:
        """Let go of the caches and the cycles they make (`textnorm.RELEASED`); the normalizer is its owner's."""
        self.clear_caches()
        self._hits = self._scores = RELEASED

    def _keyword(self, raw: str, intent: str, factor: float | None) -> Keyword | None:
        term = make_term(raw, intent, self._normalizer)
        if term is None:
            return None
        text = term.text
        length = len(text.replace("#", "")) + text.count("#")
        weight = STRONG_WEIGHT if factor is None else WEIGHT_BY_LENGTH.get(length, LONG_WEIGHT) * factor
        return Keyword(text=text, intent=intent, weight=weight, raw=raw, regex=term.regex)

    def words_of(self, intent: str) -> tuple[str, ...]:
        """The normalized plain key words of one intent."""
        return tuple(k.text for k in self.keywords if k.intent == intent and k.regex is None)

    def hits(self, analysis: Analysis) -> list[Hit]:
        """Key words found in the message, longest first, without hits inside a longer one of another intent."""
        return list(self._hits(analysis))

    def _hits_uncached(self, analysis: Analysis) -> tuple[Hit, ...]:
        hits: list[Hit] = []
        for found in self.finder.find(analysis):
            keyword = found.term.value
            if any(_shadows(h, found.start, found.end, keyword.intent) for h in hits):
                continue
            hits.append(Hit(found.start, found.end, keyword))
        return tuple(hits)

    def scores(self, analysis: Analysis, raw: str = "") -> tuple[dict[str, float], dict[str, str]]:
        """Per intent, 0–1 evidence from key words, patterns and whole-message forms; and the word that showed it."""
        # Cached: a message's clauses and focus are often the same text, read for clauses, intents and types.
        scores, words = self._scores(analysis, raw)
        return dict(scores), dict(words)

    def _scores_uncached(self, analysis: Analysis, raw: str) -> tuple[dict[str, float], dict[str, str]]:
        clusters: dict[str, list[tuple[int, int, float]]] = {}
        shown: dict[str, tuple[str, float]] = {}
        for hit in sorted(self._hits(analysis), key=lambda h: h.start):
            weight = hit.keyword.weight
            spans = clusters.setdefault(hit.keyword.intent, [])
            # Overlapping hits of one intent are one piece of evidence, as strong as its strongest word.
            if spans and hit.start < spans[-1][1]:
                s, e, w = spans[-1]
                spans[-1] = (s, max(e, hit.end), max(w, weight))
            else:
                spans.append((hit.start, hit.end, weight))
            if shown.get(hit.keyword.intent, ("", 0.0))[1] < weight:
                shown[hit.keyword.intent] = (hit.keyword.raw, weight)
        miss: dict[str, float] = {}
        for intent, spans in clusters.items():
            for _, _, weight in spans:
                miss[intent] = miss.get(intent, 1.0) * (1.0 - weight)
        if raw and self._patterns:
            text = unicodedata.normalize("NFKC", raw).lower()
            for pattern, intent, source in self._patterns:
                found = pattern.search(text)
                if found:
                    miss[intent] = miss.get(intent, 1.0) * (1.0 - PATTERN_WEIGHT)
                    # The words that matched mean more to an agent than the regex behind them.
                    shown.setdefault(intent, (found.group(0).strip() or source, PATTERN_WEIGHT))
        scores = {intent: 1.0 - m for intent, m in miss.items()}
        for form in _whole_forms(analysis.folded):
            intent_id = self._whole.get(form)
            if intent_id is not None:
                scores[intent_id] = max(scores.get(intent_id, 0.0), WHOLE_SCORE)
                shown[intent_id] = (form, WHOLE_SCORE)
                break
        return scores, {intent: word for intent, (word, _) in shown.items()}


def _shadows(hit: Hit, start: int, end: int, intent: str) -> bool:
    """An accepted, longer hit of another intent hides a new one inside it (same-intent hits merge later)."""
    longer = (hit.end - hit.start) > (end - start)
    return hit.keyword.intent != intent and longer and hit.start <= start and end <= hit.end


def _whole_forms(folded: str) -> Iterable[str]:
    """A whole message as written (spaces dropped), with its punctuation dropped too, and a word said over and over
    as the word once (亲亲亲亲 is 亲, 在在在 is 在)."""
    spaced = folded.replace(" ", "")
    bare = _NON_WORD.sub("", spaced)
    repeated = _REPEATED.fullmatch(bare)
    return [f for f in dict.fromkeys((spaced, bare, repeated.group(1) if repeated else "")) if f]
