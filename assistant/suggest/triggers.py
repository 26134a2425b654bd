"""Fuzzy matching of a message against the phrases' triggers: which phrase's example question it resembles."""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from rapidfuzz import fuzz, process

from assistant.suggest.pacing import empty_paced, paced
from assistant.suggest.phrases import Phrase
from assistant.suggest.textnorm import char_ngrams

SHORTLIST = 80  # triggers re-scored with rapidfuzz after the bigram shortlist (all intents)
INTENT_SHORTLIST = 12  # ... within one intent, when ranking its phrases
IDF_MIX = 0.5  # share of the fuzzy score kept whatever characters matched; the rest scales with their weight
_ID_SPAN = 1 << 32  # above any text id of an index


class NgramIndex:
    """Character-bigram inverted index over short texts: shortlists candidates before fuzzy scoring."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = list(texts)
        bigrams: dict[str, list[int]] = {}
        chars: dict[str, list[int]] = {}
        for i, text in paced(self.texts):
            for gram in char_ngrams(text, 2):
                bigrams.setdefault(gram, []).append(i)
            for ch in set(text):
                chars.setdefault(ch, []).append(i)
        self._bigrams = bigrams
        self._chars = chars
        # Bigrams found in a large share of texts ("什么") say little and cost much at 20k phrases.
        self._common = max(500, len(self.texts) // 20)

    def release(self) -> None:
        """Empty the index a piece at a time (a replaced library is freed beside the serving loop: `pacing`)."""
        empty_paced(self._bigrams, self._chars, self.texts)

    def shortlist(self, query: str, limit: int, chars: bool = True) -> list[int]:
        """Ids of up to `limit` texts sharing the most bigrams with `query`; when none shares one, those sharing
        the most characters (unless `chars` is False)."""
        counts: Counter[int] = Counter()
        postings = [p for p in (self._bigrams.get(g) for g in char_ngrams(query, 2)) if p]
        rare = [p for p in postings if len(p) <= self._common]
        for posting in rare or postings:
            counts.update(posting)
        if not counts and chars:
            for ch in dict.fromkeys(query):
                counts.update(self._chars.get(ch, ()))
        # Ties go to the earlier text: a shortlist (so a suggestion) must not differ between two processes. Count
        # and id in one integer (more shared first, then the lower id) let the heap compare without a key function.
        ranked = heapq.nlargest(limit, [count * _ID_SPAN - i for i, count in counts.items()])
        return [-key % _ID_SPAN for key in ranked]


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

    def __init__(self, documents: Sequence[str]) -> None:
        df: Counter[str] = Counter()
        n = 0
        for _, doc in paced(documents):  # 120,000 triggers at 20,000 phrases: 0.5 s of the GIL at once, loaded
            df.update(set(doc))
            n += 1
        self._idf = {c: math.log((n + 1) / (d + 1)) + 1.0 for c, d in df.items()}
        self._unknown = math.log(n + 1) + 1.0

    def release(self) -> None:
        """Forget the weights a piece at a time (`pacing`)."""
        empty_paced(self._idf)

    def of(self, text: str) -> dict[str, float]:
        """Weight of each distinct character of `text`."""
        return {c: self._idf.get(c, self._unknown) for c in dict.fromkeys(text)}

    def weight(self, chars: Iterable[str]) -> float:
        """Summed weight of distinct characters, added in the order they come (a set's order, and so the sum's last
        bits, would change with the hash seed)."""
        return sum(self._idf.get(c, self._unknown) for c in dict.fromkeys(chars))


class TriggerIndex:
    """The phrases' triggers, normalized once: similarity of a message to them, across or within intents."""

    def __init__(
        self, phrases: Sequence[Phrase], forms: Mapping[str, Sequence[str]], extra_words: Iterable[str] = ()
    ) -> None:
        ids: dict[str, int] = {}
        self.raw: list[str] = []
        self.phrases_of: list[list[int]] = []
        for i, p in paced(phrases):  # a reload builds it in a thread beside the serving loop (`pacing`)
            for norm, raw in zip(forms[p.id], p.triggers):
                if not norm:
                    continue
                tid = ids.setdefault(norm, len(ids))
                if tid == len(self.phrases_of):
                    self.raw.append(raw)
                    self.phrases_of.append([])
                if i not in self.phrases_of[tid]:
                    self.phrases_of[tid].append(i)
        self.index = NgramIndex(list(ids))
        self.weights = CharWeights([*ids, *extra_words])
        self._weight = [self.weights.weight(t) for _, t in paced(self.index.texts)]
        self._chars = [frozenset(t) for _, t in paced(self.index.texts)]
        self._intent_of = [p.intent for p in phrases]
        by_intent: dict[str, list[int]] = {}
        for tid, owners in paced(self.phrases_of):
            for intent in {self._intent_of[pi] for pi in owners}:
                by_intent.setdefault(intent, []).append(tid)
        # One small index per intent: ranking an intent's phrases reads only its own triggers.
        self._within = {i: (tids, NgramIndex([self.index.texts[t] for t in tids])) for i, tids in by_intent.items()}

    def release(self) -> None:
        """Empty the index a piece at a time: a replaced library's, freed in a thread beside the serving event
        loop, which freeing it whole kept waiting 0.4-0.6 s at 20,000 phrases (`pacing`). Not used again."""
        self.index.release()
        for _, index in self._within.values():
            index.release()
        self.weights.release()
        empty_paced(self._within, self.phrases_of, self.raw, self._weight, self._chars, self._intent_of)

    def _score(self, query: str, weights: Mapping[str, float], total: float, tid: int) -> float:
        chars = self._chars[tid]
        common = sum(w for c, w in weights.items() if c in chars)  # in the query's order, whatever the hash seed
        overlap = 2.0 * common / (total + self._weight[tid]) if common else 0.0
        return similarity(query, self.index.texts[tid]) * (IDF_MIX + (1.0 - IDF_MIX) * overlap)

    def across(self, query: str) -> tuple[dict[str, float], dict[int, tuple[float, str]]]:
        """Best similarity per intent (0–100) and per phrase (with its trigger), over a shortlist of all triggers."""
        phrase: dict[int, tuple[float, str]] = {}
        best: dict[str, float] = {}
        weights = self.weights.of(query)
        total = sum(weights.values())
        for tid in self.index.shortlist(query, SHORTLIST):
            score = self._score(query, weights, total, tid)
            for pi in self.phrases_of[tid]:
                if score > phrase.get(pi, (-1.0, ""))[0]:
                    phrase[pi] = (score, self.raw[tid])
                    intent = self._intent_of[pi]
                    best[intent] = max(best.get(intent, 0.0), score)
        return best, phrase

    def within(self, query: str, intent: str, limit: int = INTENT_SHORTLIST) -> dict[int, tuple[float, str]]:
        """Per phrase of `intent`: its best trigger's similarity to `query` (0–100) and the trigger.

        Only the `limit` triggers sharing most character pairs with the query are compared. A trigger that shares
        no pair with a message of several characters shares no word with it either, only scattered characters (一星
        and 一个星期): it is not close, and the intent's first phrases answer (docs/phrases.md).
        """
        entry = self._within.get(intent)
        if entry is None or not query:
            return {}
        tids, index = entry
        shortlist = [tids[local] for local in index.shortlist(query, limit, chars=len(query) <= 2)]
        if not shortlist:
            return {}
        # One call for all: choosing among an intent's phrases needs only plain similarity.
        scores = process.cdist([query], [self.index.texts[t] for t in shortlist], scorer=fuzz.ratio)[0]
        phrase: dict[int, tuple[float, str]] = {}
        for tid, score in zip(shortlist, scores.tolist()):
            for pi in self.phrases_of[tid]:
                if self._intent_of[pi] == intent and score > phrase.get(pi, (-1.0, ""))[0]:
                    phrase[pi] = (score, self.raw[tid])
        return phrase


class OwnPhrases:
    """A shop's own phrases in the matcher: where they start in `_phrases`, by intent and id, the shared phrases
    they replace in that shop, and their triggers."""

    __slots__ = ("by_intent", "hidden", "index_of", "start", "triggers")

    def __init__(
        self,
        start: int,
        by_intent: dict[str, list[int]],
        index_of: dict[str, int],
        hidden: frozenset[int],
        triggers: TriggerIndex,
    ) -> None:
        self.start, self.by_intent, self.index_of, self.hidden, self.triggers = (
            start, by_intent, index_of, hidden, triggers
        )  # fmt: skip

    def similar(
        self, memo: dict[Any, Any], compact: str, shop: str, intent: str, limit: int
    ) -> dict[int, tuple[float, str]]:
        """The phrases of `intent` whose triggers resemble the message's `compact` text (indexes into the matcher's
        phrases), remembered in the message's reading (`memo`)."""
        key = ("own", shop, intent, limit)
        found = memo.get(key)
        if found is None:
            local = self.triggers.within(compact, intent, limit)
            found = memo[key] = {self.start + i: hit for i, hit in local.items()}
        return dict(found)


# A phrase whose triggers also speak of what else the message names (a defect beside a return-cost question: th6's
# triggers name quality issues, th5's only the cost) counts up to this many points more like it, by the share of
# its triggers naming each and the message's evidence for it: enough for a defect told in a word of 0.6 (裂缝) to
# outweigh the closer wording of th5's 退货运费谁出. Only a phrase whose trigger is at least ANSWERS_MIN_SIMILARITY
# like the message gains them: a long question (衣服有个洞 寄回去的运费你们出吗) is no closer than that to any trigger,
# and a phrase of the intent that fits it less than that answers something else.
ANSWERS_MORE = 20.0
ANSWERS_MIN_SIMILARITY = 30.0
# The message names another intent with a key word (0.45 and more), not with weak words alone (多久 in 续航多久 is no
# delivery question).
ANSWERS_MIN_EVIDENCE = 0.4
# A phrase whose triggers nearly all name another intent presumes it (th6: a defect, so we pay the return): when the
# message says nothing of it, not even weakly (有问题 is weak evidence of a defect), the phrase counts up to
# ANSWERS_MORE points less like it, by that share, and an intent's phrase that presumes nothing comes first
# (寄回去的运费你们出吗: th5, the buyer's own return, not th6).
PRESUMES_SHARE = 0.8


# A library of up to this many phrases learns what their triggers speak of when its matcher is built (the shipped
# 327 phrases: about 0.1 s of CPU more to build), where a phrase first ranked learned it inside a suggestion: 43 of
# the benchmark's 2,000 messages after its warm-up, 0.4-0.5 ms more each, its slowest calls. A larger library learns a
# phrase's as it is first ranked (20,000 phrases would take 11 s more to load).
EAGER_TOPICS = 2_000


class TriggerTopics:
    """The intents each phrase's triggers speak of besides its own: learned for every phrase of `phrases` when they
    are `EAGER_TOPICS` or fewer, else when the phrase is first ranked.

    `scores` gives a text's key-word evidence per intent; an intent counts for a trigger at 0.5 or more.
    th6 (质量问题退货运费, 坏了退货运费谁出, 开胶了退回去邮费谁付 …) speaks of quality issues as well as returns, and
    presumes a defect: a message that names none gets it after th5.
    """

    def __init__(self, scores: Callable[[str], Mapping[str, float]], phrases: Sequence[Phrase] = ()) -> None:
        self._scores = scores
        self._known: dict[int, dict[str, float]] = {}
        if len(phrases) <= EAGER_TOPICS:
            for pi, phrase in paced(phrases):  # a reload builds the matcher beside the serving loop (`pacing`)
                self.of(pi, phrase)

    @property
    def learned(self) -> int:
        """How many phrases' topics are known."""
        return len(self._known)

    def of(self, pi: int, phrase: Phrase) -> dict[str, float]:
        """Each other intent the phrase's triggers name, with the share of its triggers naming it."""
        known = self._known.get(pi)
        if known is None:
            named: Counter[str] = Counter()
            for trigger in phrase.triggers:
                named.update(i for i, s in self._scores(trigger).items() if s >= 0.5 and i != phrase.intent)
            count = max(1, len(phrase.triggers))
            known = self._known[pi] = {i: n / count for i, n in named.items()}
        return known

    def points(self, pi: int, phrase: Phrase, evidence: Mapping[str, float]) -> float:
        """Similarity points for answering more of the message (its evidence for what the triggers also name),
        less those for presuming what it does not name (what nearly all the triggers name)."""
        total = 0.0
        for intent, share in self.of(pi, phrase).items():
            named = evidence.get(intent, 0.0)
            if named >= ANSWERS_MIN_EVIDENCE:
                total += share * named
            elif share >= PRESUMES_SHARE and not named:
                total -= share
        return ANSWERS_MORE * total
