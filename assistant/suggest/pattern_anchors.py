"""Which of many regexes can match a text, in one pass: each regex's anchors (words every match of it holds).

A pattern's anchors are read from its parsed form: a word of one of its required parts (a literal, a set of
alternatives, a repeat taken at least once), the longest such part chosen. A pattern with no anchor (one that
can match without any fixed character) is always a candidate. One Aho-Corasick scan of the text over every
anchor then names the patterns worth a search, where each pattern was searched on its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from itertools import product
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

import ahocorasick

MAX_WORDS = 256  # a part read as more alternative words than this is no anchor (too many to be worth it)
MAX_RANGE = 32  # a character range wider than this ([a-z] is kept, [一-龥] is not) is no anchor
Words = frozenset[str]
NONE: Words = frozenset()


def anchors(pattern: str) -> Words:
    """Words one of which every match of `pattern` contains; empty when none can be told (always a candidate)."""
    try:
        parsed = sre_parse.parse(pattern)
    except re.error:
        return NONE
    if parsed.state.flags & (re.IGNORECASE | re.VERBOSE):
        return NONE
    found = _required(list(parsed))
    return found if found and "" not in found else NONE


def _required(items: Sequence[Any]) -> Words:
    """The best anchor set of a sequence: the most telling of its runs of exact parts or of its other parts."""
    best: Words = NONE
    run: list[Words] = []

    def close() -> None:
        nonlocal best
        # Each stretch of the run, where all of it would be too many words (a long run of alternatives).
        for start in range(len(run)):
            for stop in range(start + 1, len(run) + 1):
                best = _better(best, _concat(run[start:stop]))
        run.clear()

    for item in items:
        exact = _exact(item)
        if exact:
            run.append(exact)
            continue
        close()
        best = _better(best, _required_of(item))
    close()
    return best


def _required_of(item: tuple[Any, Any]) -> Words:
    """Anchors of one part that is not a small set of exact words."""
    op, arg = item
    if op is sre.SUBPATTERN:
        _group, add, _remove, items = arg
        return NONE if add & re.IGNORECASE else _required(list(items))
    if op is sre.BRANCH:
        branches = [_required(list(b)) for b in arg[1]]
        if any(not b or "" in b for b in branches):
            return NONE
        union = frozenset().union(*branches)
        return union if len(union) <= MAX_WORDS else NONE
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
        low, _high, items = arg
        return _required(list(items)) if low >= 1 else NONE
    return NONE


def _exact(item: tuple[Any, Any]) -> Words:
    """Every text one part can match, when they are few and fixed ("" among them when it may match nothing)."""
    op, arg = item
    if op is sre.LITERAL:
        return frozenset({chr(arg)})
    if op is sre.IN:
        return _chars(arg)
    if op is sre.SUBPATTERN:
        _group, add, _remove, items = arg
        return NONE if add & re.IGNORECASE else _exact_seq(list(items))
    if op is sre.BRANCH:
        branches = [_exact_seq(list(b)) for b in arg[1]]
        if any(not b for b in branches):
            return NONE
        union = frozenset().union(*branches)
        return union if len(union) <= MAX_WORDS else NONE
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
        low, high, items = arg
        inner = _exact_seq(list(items))
        if not inner or high > 3 or high is sre.MAXREPEAT:
            return NONE
        words: set[str] = set()
        for times in range(low, high + 1):
            words |= _concat([inner] * times) if times else {""}
            if len(words) > MAX_WORDS:
                return NONE
        return frozenset(words)
    return NONE


def _exact_seq(items: Sequence[Any]) -> Words:
    parts = [_exact(item) for item in items]
    if any(not p for p in parts):
        return NONE
    return _concat(parts) if parts else frozenset({""})


def _chars(arg: Sequence[tuple[Any, Any]]) -> Words:
    """The characters of a class ([0-9], [冲沖]); none for a negated class, a category (\\w) or a wide range."""
    chars: set[str] = set()
    for op, value in arg:
        if op is sre.LITERAL:
            chars.add(chr(value))
        elif op is sre.RANGE and value[1] - value[0] < MAX_RANGE:
            chars.update(chr(c) for c in range(value[0], value[1] + 1))
        else:
            return NONE
    return frozenset(chars)


def _concat(parts: Sequence[Words]) -> Words:
    """Every word one after another of the parts, or none when they are too many."""
    size = 1
    for p in parts:
        size *= len(p)
        if size > MAX_WORDS:
            return NONE
    return frozenset("".join(words) for words in product(*parts))


def _better(a: Words, b: Words) -> Words:
    """The more telling anchor set: its shortest word the longer, then the fewer words."""
    if not b or "" in b:
        return a
    if not a:
        return b
    return b if (min(map(len, b)), -len(b)) > (min(map(len, a)), -len(a)) else a


class AnchorIndex:
    """One Aho-Corasick scan over the anchors of many patterns: which of them may match a text."""

    def __init__(self, patterns: Iterable[re.Pattern[str]]) -> None:
        self.always: list[int] = []  # patterns without anchors: searched every time
        by_word: dict[str, list[int]] = {}
        count = 0
        for n, pattern in enumerate(patterns):
            count += 1
            words = anchors(pattern.pattern) if not pattern.flags & re.IGNORECASE else NONE
            if not words:
                self.always.append(n)
            for word in words:
                by_word.setdefault(word, []).append(n)
        self.size = count
        self._automaton: Any = None
        if by_word:
            self._automaton = ahocorasick.Automaton(ahocorasick.STORE_ANY)
            for word, indexes in by_word.items():
                self._automaton.add_word(word, tuple(indexes))
            self._automaton.make_automaton()

    def candidates(self, text: str) -> list[int]:
        """The indexes of the patterns that may match `text`, in their order."""
        found = set(self.always)
        if self._automaton is not None:
            for _end, indexes in self._automaton.iter(text):
                found.update(indexes)
        return sorted(found)
