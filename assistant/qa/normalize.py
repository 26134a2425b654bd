"""Text as the rules see it: full width folded, case folded, separators dropped, evasive spellings mapped.

Agents dodge word lists with spacing (加 微 信), symbols (V❤), look-alike characters (薇信, 威信),
full-width letters and digit-split numbers (1 3 8-…); buyers and agents write traditional characters
(投訴, 這款), folded to the simplified ones the rules are written in (`traditional.TRADITIONAL`). A `View` keeps, for each character it holds,
the index of the original character it came from, so a match maps back to a span of the message.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

import ahocorasick

from assistant.privacy import NUMERALS, WORD_EMOJI
from assistant.qa.traditional import TRADITIONAL

# Symbols that carry meaning in a claim or an evasion and survive the dropping of separators.
KEPT_SYMBOLS = frozenset("+%")
# Symbols folded to a kept one first (NFKC leaves these alone): ➕v is +v.
# Emoji written for a word (加我🐧 is 加我企鹅, QQ; 🛰 a 卫星, WeChat) are read as it; other emoji only separate.
SPECIAL = {"➕": "+", "﹢": "+", "٪": "%", **WORD_EMOJI}
# Chinese numerals (and 幺, "one" when reading out numbers) as digits, for the digits view only: the table masking
# reads phone numbers with (privacy.py), so a number this view finds is one masking hides.
_NUMERAL_TABLE = str.maketrans(NUMERALS)


@dataclass(frozen=True)
class View:
    """A normalized text and, per character, the index of the original character it stands for."""

    text: str
    origins: tuple[int, ...]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original [start, end) of the view's [start, end)."""
        return self.origins[start], self.origins[end - 1] + 1


def _fold(ch: str) -> str:
    """One character folded (traditional to simplified, NFKC, case) or "" when it only separates (spaces,
    punctuation, emoji)."""
    if ch.isascii():
        if ch.isalnum():
            return ch.lower()
        return ch if ch in KEPT_SYMBOLS else ""
    ch = TRADITIONAL.get(ch, ch)
    folded = unicodedata.normalize("NFKC", SPECIAL.get(ch, ch)).casefold()
    kept = []
    for c in folded:
        category = unicodedata.category(c)
        if category[0] in "LN" or c in KEPT_SYMBOLS:
            kept.append(c)
    return "".join(kept)


class _FoldTable(dict[int, str | None]):
    """`str.translate` table folding each character, filled on first sight (a message costs one C pass)."""

    def __missing__(self, code: int) -> str | None:
        folded = _fold(chr(code)) or None
        if len(self) < 100_000:
            self[code] = folded
        return folded


class Normalizer:
    """Folds text and maps variant spellings to their canonical form (longest variant first).

    `text` is the fast way (no positions), `view` the one that keeps where each character came from;
    both give the same string, so a match found on the first can be placed with the second.
    """

    def __init__(self, variants: Mapping[str, str]) -> None:
        self.variants: dict[str, str] = {}
        automaton = ahocorasick.Automaton()
        for variant, written in variants.items():
            folded, canonical = compact(variant), compact(written)
            if folded:  # an identity entry keeps a longer spelling whole (qq群 stays qq群)
                self.variants[folded] = canonical
                automaton.add_word(folded, (len(folded), canonical))
        self._automaton = automaton if self.variants else None
        if self._automaton is not None:
            self._automaton.make_automaton()
        self._cache: dict[str, str] = {}
        self._table = _FoldTable()

    def text(self, text: str) -> str:
        """The normalized text alone."""
        folded = text.translate(self._table)
        if self._automaton is None or not folded:
            return folded
        return self._replace(folded, list(range(len(folded)))).text if self._has_variant(folded) else folded

    def _has_variant(self, text: str) -> bool:
        for _ in self._automaton.iter(text):  # type: ignore[union-attr]
            return True
        return False

    def view(self, text: str) -> View:
        """The folded, compacted text with its variants replaced."""
        chars: list[str] = []
        origins: list[int] = []
        cache = self._cache
        for i, ch in enumerate(text):
            folded = cache.get(ch)
            if folded is None:
                folded = _fold(ch)
                if len(cache) < 50_000:
                    cache[ch] = folded
            for c in folded:
                chars.append(c)
                origins.append(i)
        folded_text = "".join(chars)
        if self._automaton is None or not folded_text:
            return View(folded_text, tuple(origins))
        return self._replace(folded_text, origins)

    def _replace(self, text: str, origins: list[int]) -> View:
        # Leftmost-longest: at each position the longest variant starting there wins.
        starts: dict[int, tuple[int, str]] = {}
        for end, (length, canonical) in self._automaton.iter(text):  # type: ignore[union-attr]
            start = end - length + 1
            best = starts.get(start)
            if best is None or best[0] < length:
                starts[start] = (length, canonical)
        if not starts:
            return View(text, tuple(origins))
        out: list[str] = []
        out_origins: list[int] = []
        i = 0
        while i < len(text):
            hit = starts.get(i)
            if hit is None:
                out.append(text[i])
                out_origins.append(origins[i])
                i += 1
                continue
            length, canonical = hit
            first, last = origins[i], origins[i + length - 1]
            for k, c in enumerate(canonical):
                out.append(c)
                out_origins.append(last if k == len(canonical) - 1 else first)
            i += length
        return View("".join(out), tuple(out_origins))

    def word(self, text: str) -> str:
        """A rule word as the matcher sees it (the same folding and variants as messages)."""
        return self.view(text).text


def compact(text: str) -> str:
    """Folded and compacted, without variant mapping."""
    return "".join(_fold(ch) for ch in text)


def digits(view: View) -> View:
    """The view with Chinese numerals read as digits (for phone and QQ numbers spelled out)."""
    return View(view.text.translate(_NUMERAL_TABLE), view.origins)


_NUMERAL_CHAR = re.compile("[" + "".join(NUMERALS) + "]")


def digit_text(text: str) -> str:
    """`digits` of a bare normalized text (the same text when it holds no numeral)."""
    return text.translate(_NUMERAL_TABLE) if _NUMERAL_CHAR.search(text) else text
