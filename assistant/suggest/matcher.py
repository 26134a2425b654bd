"""Reply suggestions: score a customer message against the phrase library and rank the quick phrases."""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from rapidfuzz import fuzz

from assistant.suggest.customer_type import CustomerType, TypeClassifier, customer_type_json
from assistant.suggest.keywords import KeywordSpotter
from assistant.suggest.phrases import ASSISTANT_INTENTS, Library, Phrase
from assistant.suggest.textnorm import Analysis, Normalizer, char_ngrams

log = logging.getLogger(__name__)

__all__ = [
    "Context", "CustomerType", "Matcher", "Suggestion", "customer_type_json", "suggestion_json",
]  # fmt: skip

DEFAULT_THRESHOLD = 32.0
MAX_QUERY_CHARS = 300  # customer questions are short; a pasted essay is matched on its head and tail
SHORTLIST = 80  # triggers re-scored with rapidfuzz after the bigram shortlist
ALTERNATE_RATIO = 0.4  # a second/third intent is shown when it scores at least this share of the first
ALTERNATE_FLOOR = 0.5  # ... and at least this share of the threshold: a weak second guess beats a third copy
FUZZ_FLOOR = 20.0  # similarity two unrelated short Chinese texts reach by chance
FUZZ_SHARE = 0.8  # how far trigger similarity alone can take an intent (key words take it the rest)
CONTEXT_WEIGHTS = (0.35, 0.2, 0.1)  # most recent earlier message first
TYPE_BOOST = 5.0
KEYWORD_CACHE = 50_000  # earlier messages whose key-word scores are remembered for context re-ranking
IDF_MIX = 0.5  # share of the fuzzy score kept whatever characters matched; the rest scales with their weight


@dataclass(frozen=True)
class Suggestion:
    """A quick phrase proposed for a message: rendered `text`, `score` 0–100, the `trigger` that matched."""

    phrase_id: str
    intent: str
    code: str
    text: str
    score: float
    trigger: str


@dataclass(frozen=True)
class Context:
    """What else is known about the conversation; everything optional."""

    customer_messages: tuple[tuple[int, str], ...] = ()
    has_unpaid_order: bool = False
    customer_type: str | None = None
    variables: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    adoption: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))


def suggestion_json(s: Suggestion) -> dict[str, Any]:
    """The JSON shape of a suggestion."""
    return {
        "phrase_id": s.phrase_id, "intent": s.intent, "code": s.code, "text": s.text, "score": s.score,
        "trigger": s.trigger,
    }  # fmt: skip


class NgramIndex:
    """Character-bigram inverted index over short texts: shortlists candidates before fuzzy scoring."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = list(texts)
        bigrams: dict[str, list[int]] = {}
        chars: dict[str, list[int]] = {}
        for i, text in enumerate(self.texts):
            for gram in char_ngrams(text, 2):
                bigrams.setdefault(gram, []).append(i)
            for ch in set(text):
                chars.setdefault(ch, []).append(i)
        self._bigrams = bigrams
        self._chars = chars
        # Bigrams found in a large share of texts ("什么") say little and cost much at 20k phrases.
        self._common = max(500, len(self.texts) // 20)

    def shortlist(self, query: str, limit: int) -> list[int]:
        """Ids of up to `limit` texts sharing the most bigrams (or characters) with `query`."""
        counts: Counter[int] = Counter()
        postings = [p for p in (self._bigrams.get(g) for g in char_ngrams(query, 2)) if p]
        rare = [p for p in postings if len(p) <= self._common]
        for posting in rare or postings:
            counts.update(posting)
        if not counts:
            for ch in set(query):
                counts.update(self._chars.get(ch, ()))
        return [i for i, _ in counts.most_common(limit)]


def similarity(query: str, text: str) -> float:
    """0–100: `ratio`, or `partial_ratio` discounted when the shorter side covers little of the longer."""
    if not query or not text:
        return 0.0
    ratio = fuzz.ratio(query, text)
    short, long = sorted((len(query), len(text)))
    factor = 0.5 + 0.5 * min(1.0, 1.6 * short / long)
    if factor * 100.0 <= ratio:
        return ratio  # partial_ratio cannot beat it
    # score_cutoff lets rapidfuzz stop early (returning 0) when partial_ratio cannot beat `ratio` either.
    partial = fuzz.partial_ratio(query, text, score_cutoff=ratio / factor)
    return max(ratio, partial * factor)


class CharWeights:
    """Inverse document frequency of characters: 吗/的/有 say little, 券/票/码 say much."""

    def __init__(self, documents: Iterable[str]) -> None:
        df: Counter[str] = Counter()
        n = 0
        for doc in documents:
            df.update(set(doc))
            n += 1
        self._idf = {c: math.log((n + 1) / (d + 1)) + 1.0 for c, d in df.items()}
        self._unknown = math.log(n + 1) + 1.0

    def of(self, text: str) -> dict[str, float]:
        """Weight of each distinct character of `text`."""
        return {c: self._idf.get(c, self._unknown) for c in set(text)}

    def weight(self, chars: Iterable[str]) -> float:
        """Summed weight of distinct characters."""
        return sum(self._idf.get(c, self._unknown) for c in set(chars))

    @staticmethod
    def overlap(
        query: Mapping[str, float], query_total: float, text_chars: frozenset[str], text_weight: float
    ) -> float:
        """Weighted Dice coefficient of two character sets, 0–1, from weights computed beforehand."""
        common = sum(query[c] for c in text_chars & query.keys())
        return 2.0 * common / (query_total + text_weight) if common else 0.0


@dataclass
class _Scores:
    """Per-query working state: intent scores and each phrase's best trigger."""

    intent: dict[str, float]
    keyword_hits: dict[str, str]
    phrase: dict[int, tuple[float, str]]


class Matcher:
    """Pure matcher over one `Library`; build once (preprocesses triggers), then call from anywhere."""

    def __init__(
        self, library: Library, *, k: int = 3, threshold: float = DEFAULT_THRESHOLD, strict: bool = False
    ) -> None:
        self.library = library
        # Not strict (the service): an internal error is logged and the message gets no suggestion, so a
        # panel never takes the webhook down. Strict (tests, tools): the error propagates.
        self.strict = strict
        self.k = k
        self.threshold = threshold
        self.normalizer = Normalizer(library.normalization)
        self._phrases: list[Phrase] = list(library.phrases)
        self._by_intent: dict[str, list[int]] = {}
        self._by_intent_type: dict[tuple[str, str], list[int]] = {}
        self._index_of: dict[str, int] = {}
        for i, p in enumerate(self._phrases):
            self._by_intent.setdefault(p.intent, []).append(i)
            self._index_of[p.id] = i
            for t in p.types:
                self._by_intent_type.setdefault((p.intent, t), []).append(i)
        trigger_ids: dict[str, int] = {}
        self._trigger_raw: list[str] = []
        self._trigger_phrases: list[list[int]] = []
        for i, p in enumerate(self._phrases):
            known = library.normalized_triggers.get(p.id)
            forms = known if known is not None and len(known) == len(p.triggers) else None
            for n, raw in enumerate(p.triggers):
                norm = forms[n] if forms is not None else self.normalizer.normalize(raw)
                if not norm:
                    continue
                tid = trigger_ids.setdefault(norm, len(trigger_ids))
                if tid == len(self._trigger_phrases):
                    self._trigger_raw.append(raw)
                    self._trigger_phrases.append([])
                if i not in self._trigger_phrases[tid]:
                    self._trigger_phrases[tid].append(i)
        self._triggers = NgramIndex(list(trigger_ids))
        self.keywords = KeywordSpotter(library.intents, self.normalizer, library.words)
        self._markers = tuple(m for m in (self.normalizer.fold(m) for m in library.questions.markers) if m)
        self.weights = CharWeights([*trigger_ids, *(k.text for k in self.keywords.keywords)])
        self._trigger_weight = [self.weights.weight(t) for t in self._triggers.texts]
        self._trigger_chars = [frozenset(t) for t in self._triggers.texts]
        self._search_texts: NgramIndex | None = None
        self._keyword_scores = lru_cache(maxsize=KEYWORD_CACHE)(self._keyword_scores_uncached)
        self.types = TypeClassifier(
            library.customer_types,
            self.normalizer,
            library.type_cues,
            lambda analysis, raw: self.keywords.scores(analysis, raw)[0],
            {i: spec.label for i, spec in library.intents.items()},
        )

    def keyword_scores(self, text: str) -> Mapping[str, float]:
        """Per intent, 0–1 evidence from key words alone (no fuzzy matching) for a raw message."""
        # Cached: context re-ranking reads the same earlier messages of a conversation again and again.
        return self._keyword_scores(text)

    def _keyword_scores_uncached(self, text: str) -> Mapping[str, float]:
        return MappingProxyType(self.keywords.scores(self.normalizer.analyze(_clip(text)), text)[0])

    def _score(self, analysis: Analysis, raw: str) -> _Scores:
        query = analysis.compact
        keyword, keyword_hits = self.keywords.scores(analysis, raw)
        phrase: dict[int, tuple[float, str]] = {}
        fuzzy: dict[str, float] = {}
        query_weights = self.weights.of(query)
        query_total = sum(query_weights.values())
        texts = self._triggers.texts
        for tid in self._triggers.shortlist(query, SHORTLIST):
            text = texts[tid]
            overlap = self.weights.overlap(
                query_weights, query_total, self._trigger_chars[tid], self._trigger_weight[tid]
            )
            score = similarity(query, text) * (IDF_MIX + (1.0 - IDF_MIX) * overlap)
            for pi in self._trigger_phrases[tid]:
                if score > phrase.get(pi, (-1.0, ""))[0]:
                    phrase[pi] = (score, self._trigger_raw[tid])
                    intent = self._phrases[pi].intent
                    if score > fuzzy.get(intent, 0.0):
                        fuzzy[intent] = score
        intent_scores: dict[str, float] = {}
        for intent in set(fuzzy) | set(keyword):
            similar = fuzzy.get(intent, 0.0)
            # A message that is one of the library's own example questions is as sure as it gets.
            f = 1.0 if similar >= 100.0 else FUZZ_SHARE * max(0.0, (similar - FUZZ_FLOOR) / (100.0 - FUZZ_FLOOR))
            intent_scores[intent] = 100.0 * (1.0 - (1.0 - f) * (1.0 - keyword.get(intent, 0.0)))
        return _Scores(intent_scores, keyword_hits, phrase)

    def intent_scores(self, text: str, context: Context | None = None) -> dict[str, float]:
        """Every intent with evidence for `text`, 0–100, after context re-ranking."""
        clipped = _clip(text)
        scores = self._score(self.normalizer.analyze(clipped), clipped)
        return self._rerank(scores.intent, context or Context())

    def _rerank(self, scores: dict[str, float], context: Context) -> dict[str, float]:
        scores = dict(scores)
        earlier = [t for _, t in context.customer_messages[-len(CONTEXT_WEIGHTS) :]][::-1]
        if earlier:
            top = max(scores.values(), default=0.0)
            for weight, text in zip(CONTEXT_WEIGHTS, earlier):
                previous = self.keyword_scores(text)
                for intent, k in previous.items():
                    # Earlier topics only help a message that says little by itself ("还没到呢").
                    scores[intent] = scores.get(intent, 0.0) + 100.0 * weight * k * (1.0 - top / 100.0)
        for intent in ASSISTANT_INTENTS:
            scores.pop(intent, None)
        if context.has_unpaid_order and scores.get("payment", 0.0) >= self.threshold:
            scores["payment_reminder"] = min(100.0, scores["payment"] + 5.0)
        return {i: min(100.0, s) for i, s in scores.items() if s > 0.0}

    # -- public API ----------------------------------------------------------------------------------------

    def suggest(self, text: str, context: Context = Context()) -> list[Suggestion]:
        """Top-k quick phrases for a customer message; [] when nothing scores above the threshold."""
        try:
            return self._suggest(text, context)
        except Exception:
            log.exception(
                "suggestions failed for a message of %d characters", len(text) if isinstance(text, str) else 0
            )
            if self.strict:
                raise
            return []

    def _suggest(self, text: str, context: Context) -> list[Suggestion]:
        if not isinstance(text, str) or self.k <= 0:
            return []
        clipped = _clip(text)
        analysis = self.normalizer.analyze(clipped)
        scores = self._score(analysis, clipped)
        intents = self._rerank(scores.intent, context)
        fallback = self.library.questions.fallback
        if (
            fallback is not None
            and analysis.compact
            and max(intents.values(), default=0.0) < self.threshold
            and any(m in analysis.folded for m in self._markers)
        ):
            # A question nothing else claims is most likely about the goods; say so at the lowest confidence.
            intents[fallback] = self.threshold
        ranked = sorted(((s, i) for i, s in intents.items() if i in self._by_intent), reverse=True)
        if not ranked or ranked[0][0] < self.threshold:
            return []
        top_score = ranked[0][0]
        alternates = [
            i for s, i in ranked[1:3] if s >= ALTERNATE_FLOOR * self.threshold and s >= ALTERNATE_RATIO * top_score
        ][: max(0, self.k - 1)]
        plan = [(ranked[0][1], max(1, self.k - len(alternates)))] + [(i, 1) for i in alternates]
        chosen: list[Suggestion] = []
        used: set[int] = set()
        for intent, count in plan:
            for pi, score, trigger in self._rank_phrases(intent, intents[intent], scores, context)[:count]:
                chosen.append(self._suggestion(pi, score, trigger, context))
                used.add(pi)
        if len(chosen) < self.k:  # fewer alternates or phrases than planned: fill with the top intent
            top_intent = ranked[0][1]
            for pi, score, trigger in self._rank_phrases(top_intent, top_score, scores, context):
                if len(chosen) >= self.k:
                    break
                if pi not in used:
                    chosen.append(self._suggestion(pi, score, trigger, context))
                    used.add(pi)
        return chosen[: self.k]

    def _rank_phrases(
        self, intent: str, intent_score: float, scores: _Scores, context: Context
    ) -> list[tuple[int, float, str]]:
        """The best `self.k` phrases of one intent: intent score, own trigger similarity, type and adoption."""
        fallback = scores.keyword_hits.get(intent, "")
        # Phrases no trigger matched and nothing lifts tie at the same score, so only the first few of them
        # (file order) can make it; this keeps ranking cheap in a library of 20,000 phrases.
        members = self._by_intent.get(intent, [])
        candidates = set(members[: self.k])
        candidates.update(pi for pi in scores.phrase if self._phrases[pi].intent == intent)
        for phrase_id in context.adoption:
            found = self._index_of.get(phrase_id)
            if found is not None and self._phrases[found].intent == intent:
                candidates.add(found)
        if context.customer_type:
            candidates.update(self._by_intent_type.get((intent, context.customer_type), ()))
        out = []
        for pi in candidates:
            phrase = self._phrases[pi]
            own, trigger = scores.phrase.get(pi, (0.0, fallback or (phrase.triggers[0] if phrase.triggers else "")))
            score = intent_score * (0.85 + 0.15 * own / 100.0)
            if context.customer_type and context.customer_type in phrase.types:
                score += TYPE_BOOST
            used = context.adoption.get(phrase.id, 0)
            if used > 0:
                score += min(10.0, 4.0 * math.log2(1 + used))
            out.append((pi, min(100.0, score), trigger))
        out.sort(key=lambda item: (-item[1], item[0]))
        return out[: self.k]

    def _suggestion(self, pi: int, score: float, trigger: str, context: Context) -> Suggestion:
        phrase = self._phrases[pi]
        return Suggestion(
            phrase_id=phrase.id,
            intent=phrase.intent,
            code=phrase.code,
            text=self.library.render(phrase.id, context.variables),
            score=round(max(0.0, min(100.0, score)), 1),
            trigger=trigger,
        )

    def classify(self, messages: Sequence[tuple[int, str]]) -> CustomerType:
        """The customer's type from all their messages so far (oldest first); `newcomer` without evidence."""
        try:
            return self.types.classify(messages)
        except Exception:
            log.exception("customer type failed for %d messages", len(messages))
            if self.strict:
                raise
            return self.types.default()

    def search(self, query: str, limit: int = 10) -> list[Suggestion]:
        """The agent's "/" search: phrases whose code starts with `query`, then fuzzy matches on their text."""
        if not isinstance(query, str) or limit <= 0:
            return []
        raw = query.strip().lstrip("/").strip().lower()
        if not raw:
            return []
        found: dict[int, float] = {}
        for pi, phrase in enumerate(self._phrases):
            code = phrase.code.lower()
            if code == raw:
                found[pi] = 100.0
            elif code.startswith(raw):
                found[pi] = max(80.0, 99.0 - (len(code) - len(raw)))
        norm = self.normalizer.normalize(_clip(raw))
        if norm:
            index = self._search_index()
            for tid in index.shortlist(norm, 4 * limit + 20):
                score = fuzz.partial_ratio(norm, index.texts[tid]) if len(norm) <= len(index.texts[tid]) else 0.0
                score = max(score, fuzz.ratio(norm, index.texts[tid]))
                if score >= 60.0 and score > found.get(tid, 0.0):
                    found[tid] = score * 0.95
        ranked = sorted(found.items(), key=lambda item: (-item[1], item[0]))[:limit]
        return [self._suggestion(pi, score, self._phrases[pi].code, Context()) for pi, score in ranked]

    def _search_index(self) -> NgramIndex:
        if self._search_texts is None:
            texts = [self.normalizer.normalize(self.library.render(p.id)) for p in self._phrases]
            self._search_texts = NgramIndex(texts)
        return self._search_texts

    def render(self, phrase_id: str, variables: Mapping[str, str]) -> str:
        """Render one phrase; unknown ids raise KeyError."""
        return self.library.render(phrase_id, variables)

    def phrases_for(self, intent: str) -> Iterable[Phrase]:
        """The library's phrases of one intent, in file order (e.g. `followup` for the idle timer)."""
        return (self._phrases[i] for i in self._by_intent.get(intent, ()))


def _clip(text: str) -> str:
    if len(text) <= MAX_QUERY_CHARS:
        return text
    head = MAX_QUERY_CHARS * 2 // 3
    return text[:head] + " " + text[-(MAX_QUERY_CHARS - head) :]
