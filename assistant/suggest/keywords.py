"""Key-word spotting: which intents the words of a message point to, and how strongly."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from assistant.suggest.phrases import IntentSpec
from assistant.suggest.textnorm import Analysis, Normalizer

STRONG_WEIGHT = 0.9
WEIGHT_BY_LENGTH = {1: 0.45, 2: 0.6, 3: 0.7}  # longer key words weigh LONG_WEIGHT
LONG_WEIGHT = 0.75
WEAK_FACTOR = 0.5
PATTERN_WEIGHT = 0.6
WHOLE_SCORE = 0.95
NUMBER = "[0-9零一二两三四五六七八九十百千万半几]+"
_NON_WORD = re.compile(r"[\W_]+")


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

    def __init__(self, intents: Mapping[str, IntentSpec], normalizer: Normalizer) -> None:
        self._normalizer = normalizer
        found: dict[tuple[str, str], Keyword] = {}
        for spec in intents.values():
            lists = ((spec.strong, None), (spec.keywords, 1.0), (spec.weak, WEAK_FACTOR))
            for words, factor in lists:
                for raw in words:
                    keyword = self._keyword(raw, spec.id, factor)
                    if keyword is not None and (keyword.text, spec.id) not in found:
                        found[(keyword.text, spec.id)] = keyword
        self.keywords = sorted(found.values(), key=lambda k: (-k.length, -k.weight, k.text))
        # Only key words whose first character occurs in a message can be in it ("#" ones start anywhere).
        self._by_first: dict[str, list[tuple[int, Keyword]]] = {}
        self._anywhere: list[tuple[int, Keyword]] = []
        for rank, keyword in enumerate(self.keywords):
            first = keyword.text[0]
            if first == "#":
                self._anywhere.append((rank, keyword))
            else:
                self._by_first.setdefault(first, []).append((rank, keyword))
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

    def _keyword(self, raw: str, intent: str, factor: float | None) -> Keyword | None:
        parts = [self._normalizer.normalize(part) for part in raw.split("#")]
        text = "#".join(parts)
        if not _NON_WORD.sub("", text.replace("#", "")):
            return None
        length = len(text.replace("#", "")) + text.count("#")
        weight = STRONG_WEIGHT if factor is None else WEIGHT_BY_LENGTH.get(length, LONG_WEIGHT) * factor
        regex = re.compile(NUMBER.join(re.escape(p) for p in parts)) if "#" in text else None
        return Keyword(text=text, intent=intent, weight=weight, raw=raw, regex=regex)

    def words_of(self, intent: str) -> tuple[str, ...]:
        """The normalized plain key words of one intent."""
        return tuple(k.text for k in self.keywords if k.intent == intent and k.regex is None)

    def hits(self, compact: str) -> list[Hit]:
        """Key words found in `compact`, longest first, without hits inside a longer one of another intent."""
        hits: list[Hit] = []
        candidates = list(self._anywhere)
        for ch in set(compact):
            candidates.extend(self._by_first.get(ch, ()))
        candidates.sort(key=lambda item: item[0])
        for _, keyword in candidates:
            if keyword.regex is None:
                start = compact.find(keyword.text)
                if start < 0:
                    continue
                end = start + len(keyword.text)
            else:
                match = keyword.regex.search(compact)
                if match is None:
                    continue
                start, end = match.span()
            if any(_shadows(h, start, end, keyword.intent) for h in hits):
                continue
            hits.append(Hit(start, end, keyword))
        return hits

    def scores(self, analysis: Analysis, raw: str = "") -> tuple[dict[str, float], dict[str, str]]:
        """Per intent, 0–1 evidence from key words, patterns and whole-message forms; and the word that showed it."""
        clusters: dict[str, list[tuple[int, int, float]]] = {}
        shown: dict[str, tuple[str, float]] = {}
        for hit in sorted(self.hits(analysis.compact), key=lambda h: h.start):
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
    """A whole message as written (spaces dropped) and with its punctuation dropped too."""
    spaced = folded.replace(" ", "")
    bare = _NON_WORD.sub("", spaced)
    return [f for f in dict.fromkeys((spaced, bare)) if f]
