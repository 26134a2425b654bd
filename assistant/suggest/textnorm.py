"""Normalize and segment Chinese chat text so that customer messages and library triggers compare alike."""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import ahocorasick
import rjieba

# Used when no library data is at hand; the shipped list lives in phrases/intents.toml.
DEFAULT_FILLERS = frozenset({"亲", "亲亲", "亲爱的", "呀", "啊", "哦", "呢", "吧", "嘛", "哈", "啦", "噢", "喔"})

# Emoji, pictographs, dingbats, arrows, variation selectors, zero-width and bidi marks, private use,
# lone surrogates and C0/C1 controls. Tab and newline are turned into spaces separately.
_STRIP = re.compile(
    "["
    "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad"
    "\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufe00-\ufe0f\ufeff\ufff0-\uffff"
    "\u20d0-\u20ff\u2190-\u21ff\u2300-\u23ff\u2460-\u24ff\u25a0-\u27bf\u2900-\u2bff"
    "\u3030\u303d\u3297\u3299"
    + f"{chr(0xD800)}-{chr(0xDFFF)}"  # as code points: mypyc refuses surrogates in literals
    + "\ue000-\uf8ff"
    "\U0001f000-\U0001faff\U000e0000-\U000e007f\U000f0000-\U0010ffff"
    "]+"
)
_JOINERS = re.compile("[\u200d\ufe0e\ufe0f]")
# Wangwang's and QQ's emoticon codes as exported or relayed text (/:^_^, /:068, /:8-), /::), /:(OK), /:girl): a
# picture, not words. Dropped before synonyms read them (the OK of /:(OK) is no thanks, the 8 of /:8-) no number).
_EMOTICON_CODE = re.compile(r"/:(?:(?!/:)[!-~]){1,8}")
# A Latin word typed over and over (okok, okokok): the word once, as 亲亲亲 reads as 亲 (when it is a synonym).
_REPEATED_LATIN = re.compile(r"(?<![a-z0-9])([a-z]{2,8}?)\1+(?![a-z0-9])")
# Question and exclamation marks drawn as emoji are marks: ❓❓❓ asks as ？？？ does.
_MARKS = {"❓": "?", "❔": "?", "❗": "!", "❕": "!"}
# A character that folds into a word character: a text with one is not pictures alone (most messages have one).
_WORDLIKE = re.compile("[0-9A-Za-z\u4e00-\u9fff]")
_SPACE = re.compile(r"\s+")
_REPEATED_PUNCT = re.compile(r"([^\w\s])\1+")
_NON_WORD = re.compile(r"[\W_]+")
_ASCII_CHAR = re.compile(r"[a-z0-9]")
# A link is no words: synonyms are not applied inside one (?tk= in every Taobao share link read as 退款, and the
# link, no longer one run of ASCII, was not cut out as a card). As the library's cards find links, once folded.
_LINK = re.compile(r"https?:/+[!-~]+|(?<![!-~])(?:[a-z0-9-]+\.)+(?:com|cn|net)(?:/[!-~]*)?")


def _released(*args: Any) -> Any:
    raise RuntimeError("a released library part is used again")


# What a released object's caches become: each cache held the object's own method, a reference cycle that only a
# full collection frees once the heap is frozen (a second or more on a busy service); without it, reference
# counting frees the object as soon as the last reference goes (`release`).
RELEASED: Any = lru_cache(maxsize=1)(_released)


@dataclass(frozen=True)
class NormalizationData:
    """What normalization needs from the library: synonyms, a traditional→simplified table, fillers."""

    synonyms: Mapping[str, str] = field(default_factory=dict)
    traditional: Mapping[str, str] = field(default_factory=dict)
    fillers: frozenset[str] = DEFAULT_FILLERS
    # Words that contain a filler ("花呗", "人呢"): a filler inside one of them is kept.
    protected: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Analysis:
    """One text, normalized: `folded` keeps punctuation, `tokens` are content words, `compact` joins them.

    `offsets` are where each token starts in `compact`, then its length: the segmenter's word boundaries.
    """

    folded: str
    tokens: tuple[str, ...]
    compact: str
    offsets: tuple[int, ...] = (0,)

    def inside_word(self, start: int, end: int) -> bool:
        """Whether `compact[start:end]` lies inside one longer word of the segmenter (单号 in 订单号)."""
        i = bisect_right(self.offsets, start) - 1
        if i < 0 or i + 1 >= len(self.offsets):
            return False
        word_start, word_end = self.offsets[i], self.offsets[i + 1]
        return end <= word_end and (word_end - word_start) > (end - start)


# Each customer message weighs the conversation's earlier ones again (up to 40: the context's key words, the goods
# it named): their analyses are remembered for as many texts as the matcher's readings (a cache of 2,048 for every
# length was cycled through by a few hundred conversations, every earlier text analysed again for each message).
ANALYSIS_CACHE = 20_000  # texts of up to CACHED_TEXT_CHARS characters, about 1.5 KiB each
LONG_ANALYSIS_CACHE = 2048  # longer ones (a 3,000-character text's analysis is about 0.1 MB)
CACHED_TEXT_CHARS = 64


class Normalizer:
    """Turns raw chat text into comparable forms; build once per library, then call freely."""

    def __init__(self, data: NormalizationData | None = None) -> None:
        data = data or NormalizationData()
        # A message is folded for its clauses and again for its customer type: the second time is remembered.
        self.fold = lru_cache(maxsize=2048)(self._fold)
        # Traditional characters as simplified ones, and the marks drawn as emoji as marks, in one pass.
        self._table = str.maketrans({**{k: v for k, v in data.traditional.items() if len(k) == 1}, **_MARKS})
        self._fillers = frozenset(data.fillers)
        self.fillers = self._fillers  # words that only fill a pause (那个, 就是, 呃): dropped before matching
        synonyms: dict[str, str] = {}
        for key, value in data.synonyms.items():
            folded_key = self._fold_chars(key)
            if folded_key:
                synonyms[folded_key] = self._fold_chars(value)
        self._synonyms = synonyms
        self._synonym_re = _synonym_pattern(synonyms)
        # The same replacement in one pass (leftmost, longest key first); the regex only settles the rare
        # text where an ASCII key is found inside a longer ASCII word.
        self._synonym_scan: Any = None
        if synonyms:
            self._synonym_scan = ahocorasick.Automaton(ahocorasick.STORE_ANY)
            for key in synonyms:
                self._synonym_scan.add_word(key, key)
            self._synonym_scan.make_automaton()
        protected = {self.fold(w).replace(" ", "") for w in data.protected}
        # For each filler, the protected words it occurs in: only those need looking for.
        self._protected: dict[str, tuple[str, ...]] = {
            f: tuple(sorted(w for w in protected if f in w and w != f)) for f in self._fillers
        }
        self._analyze_short = lru_cache(maxsize=ANALYSIS_CACHE)(self._analyze)
        self._analyze_long = lru_cache(maxsize=LONG_ANALYSIS_CACHE)(self._analyze)
        self.analyze_folded = lru_cache(maxsize=2048)(self._analyze_folded)

    def analyze(self, text: str) -> Analysis:
        """`text` folded and segmented: its content words, their compact join and where each starts (remembered)."""
        if len(text) <= CACHED_TEXT_CHARS:
            return self._analyze_short(text)
        return self._analyze_long(text)

    def clear_caches(self) -> None:
        """Forget every remembered folding and analysis."""
        for cache in (self.fold, self._analyze_short, self._analyze_long, self.analyze_folded):
            cache.cache_clear()

    def release(self) -> None:
        """Let go of the caches and the cycles they make: not used again, freed once no longer referenced."""
        self.clear_caches()
        self.fold = self._analyze_short = self._analyze_long = self.analyze_folded = RELEASED

    def _fold_chars(self, text: str) -> str:
        folded = unicodedata.normalize("NFKC", text).lower().translate(self._table)
        return _JOINERS.sub("", folded).strip()

    def pictures_only(self, text: str) -> bool:
        """Whether `text` is emoji and pictographs alone (👍👍, 🙏): a picture sent, however synonyms read it."""
        if _WORDLIKE.search(text):
            return False
        folded = self._fold_chars(text)
        return bool(folded) and not _STRIP.sub("", folded).strip()

    def _fold(self, text: str) -> str:
        """NFKC, lower case, simplified characters, no emoticon codes, synonyms, no emoji/controls, punctuation runs
        collapsed."""
        text = self._fold_chars(text)
        if "/:" in text:
            text = _EMOTICON_CODE.sub(" ", text)
        if self._synonym_scan is not None:
            if _REPEATED_LATIN.search(text):
                text = _REPEATED_LATIN.sub(self._once, text)
            text = self._apply_synonyms(text)
        text = _STRIP.sub("", text)
        text = _REPEATED_PUNCT.sub(r"\1", text)
        return _SPACE.sub(" ", text).strip()

    def _apply_synonyms(self, text: str) -> str:
        if ("http" in text or "." in text) and _LINK.search(text):
            out: list[str] = []
            pos = 0
            for link in _LINK.finditer(text):
                out += [self._apply_synonyms_plain(text[pos : link.start()]), link.group(0)]
                pos = link.end()
            return "".join([*out, self._apply_synonyms_plain(text[pos:])])
        return self._apply_synonyms_plain(text)

    def _once(self, match: re.Match[str]) -> str:
        return match.group(1) if match.group(1) in self._synonyms else match.group(0)

    def _apply_synonyms_plain(self, text: str) -> str:
        parts: list[str] = []
        pos = 0
        for last, key in self._synonym_scan.iter_long(text):
            start = last + 1 - len(key)
            if start < pos:  # inside the end of a word the synonym already wrote
                continue
            # A key's Latin letters or digits at its edge stand alone: hb is not in hbo, by吗 not in baby吗, and the 7
            # of 7天 not in 17天.
            if (_ASCII_CHAR.match(key[0]) and start > 0 and _ASCII_CHAR.match(text[start - 1])) or (
                _ASCII_CHAR.match(key[-1]) and _ASCII_CHAR.match(text[last + 1 : last + 2])
            ):
                assert self._synonym_re is not None
                return self._synonym_re.sub(self._replace, text)
            value = self._synonyms[key]
            parts.append(text[pos:start])
            parts.append(value)
            pos = last + 1 + _overlap(value, text, last + 1)
        if not parts:
            return text
        parts.append(text[pos:])
        return "".join(parts)

    def written_as(self, words: str) -> tuple[str, ...]:
        """The synonyms that fold into text overlapping `words` (pyd for 便宜点), as written before folding."""
        if not words:
            return ()
        return tuple(k for k, v in self._synonyms.items() if v and (v in words or words in v))

    def _replace(self, match: re.Match[str]) -> str:
        return self._synonyms.get(match.group(0), match.group(0))

    def _analyze(self, text: str) -> Analysis:
        return self.analyze_folded(self.fold(text))

    def _analyze_folded(self, folded: str) -> Analysis:
        """`analyze` for text that `fold` has already folded (clauses of a folded message)."""
        if not folded:
            return Analysis(folded="", tokens=(), compact="")
        cleaned = ((_NON_WORD.sub("", token), start, end) for token, start, end in rjieba.tokenize(folded))
        spans = [(w, start, end) for w, start, end in cleaned if w]
        present = {w for w, _, _ in spans if w in self._fillers}
        keep = self._protected_positions(folded, present) if present else set()
        words = [(w, w in present and not any(i in keep for i in range(start, end))) for w, start, end in spans]
        # A message that is nothing but filler ("亲？") keeps it: it is all the customer said.
        kept = [w for w, filler in words if not filler] or [w for w, _ in words]
        offsets = [0]
        for word in kept:
            offsets.append(offsets[-1] + len(word))
        return Analysis(folded=folded, tokens=tuple(kept), compact="".join(kept), offsets=tuple(offsets))

    def _protected_positions(self, folded: str, fillers: set[str]) -> set[int]:
        positions: set[int] = set()
        for word in {w for f in fillers for w in self._protected.get(f, ())}:
            start = folded.find(word)
            while start >= 0:
                positions.update(range(start, start + len(word)))
                start = folded.find(word, start + 1)
        return positions

    def normalize(self, text: str) -> str:
        """The compact form used for matching: content words only, no spaces or punctuation."""
        return self.analyze(text).compact

    def tokens(self, text: str) -> tuple[str, ...]:
        """Content words of `text` (segmented with rjieba, fillers dropped)."""
        return self.analyze(text).tokens


def _overlap(value: str, text: str, at: int) -> int:
    """How many characters of `text` from `at` repeat the end of a synonym's `value`: the buyer abbreviated the head
    of a word and typed its end (ok的 is 好的, not 好的的)."""
    for size in range(min(len(value) - 1, len(text) - at), 0, -1):
        if text[at : at + size] == value[len(value) - size :]:
            return size
    return 0


def _synonym_pattern(synonyms: Mapping[str, str]) -> re.Pattern[str] | None:
    """One alternation, longest key first; a key's ASCII edges must stand alone so "hb" does not bite "hbo"."""
    if not synonyms:
        return None
    parts = []
    for key in sorted(synonyms, key=lambda k: (-len(k), k)):
        escaped = re.escape(key)
        if _ASCII_CHAR.match(key[0]):
            escaped = f"(?<![a-z0-9]){escaped}"
        if _ASCII_CHAR.match(key[-1]):
            escaped = f"{escaped}(?![a-z0-9])"
        parts.append(escaped)
    return re.compile("|".join(parts))


_DEFAULT = Normalizer()


def fold(text: str) -> str:
    """`Normalizer.fold` with built-in defaults only (no synonyms or traditional table)."""
    return _DEFAULT.fold(text)


def normalize(text: str) -> str:
    """`Normalizer.normalize` with built-in defaults only."""
    return _DEFAULT.normalize(text)


def segment(text: str) -> list[str]:
    """Words of `text` as rjieba cuts it, after folding; punctuation and spaces dropped."""
    folded = _DEFAULT.fold(text)
    return [w for w in (_NON_WORD.sub("", t) for t in rjieba.cut(folded)) if w] if folded else []


def char_ngrams(text: str, n: int = 2) -> dict[str, None]:
    """The distinct character n-grams of `text` as a dict's keys, in the order they first occur (a set's order changes
    with the hash seed from one process to the next, and with it the work done over them); the text itself when
    shorter than n. One comprehension, compiled as a set's is: a list given to `dict.fromkeys` cost twice as much."""
    if len(text) < n:
        return {text: None} if text else {}
    return {text[i : i + n]: None for i in range(len(text) - n + 1)}


def unique(items: Iterable[str]) -> tuple[str, ...]:
    """Items in first-seen order without repeats or empties."""
    return tuple(dict.fromkeys(i for i in items if i))
