"""Reply suggestions: read a customer message, score the intents it may be about, rank the quick phrases.

With a trained scorer (`scorer.npz` beside the library) the intents' confidences are the scorer's calibrated
probabilities; without one, they come from key-word and trigger-similarity evidence alone.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Literal

from mypy_extensions import mypyc_attr
from rapidfuzz import fuzz

from assistant.suggest.answers import distinct
from assistant.suggest.clause_reader import ClauseReader
from assistant.suggest.clauses import Message, asking, clip, item_fragment, presence_check
from assistant.suggest.context import Context
from assistant.suggest.customer_type import CustomerType, Messages, TypeClassifier, customer_type_json
from assistant.suggest.examples import NONE
from assistant.suggest.goods import GoodsWords, Said
from assistant.suggest.keywords import STRONG_WEIGHT, KeywordSpotter
from assistant.suggest.phrases import ASSISTANT_INTENTS, Library, Phrase
from assistant.suggest.plan import asked, plan
from assistant.suggest.scorer import Encoded, Features, Scorer, blend, features
from assistant.suggest.subject import follow
from assistant.suggest.textnorm import RELEASED, Analysis, Normalizer
from assistant.suggest.training import load_scorer
from assistant.suggest.triggers import ANSWERS_MIN_SIMILARITY, NgramIndex, OwnPhrases, TriggerIndex, TriggerTopics
from assistant.suggest.type_reader import TypeReader

log = logging.getLogger(__name__)

__all__ = ["Context", "CustomerType", "Matcher", "Reading", "Suggestion", "customer_type_json", "suggestion_json"]

DEFAULT_MIN_CONFIDENCE = 0.25
FUZZ_FLOOR = 20.0  # similarity two unrelated short Chinese texts reach by chance
FUZZ_SHARE = 0.8  # how far trigger similarity alone can take an intent (key words take it the rest)
CONTEXT_WEIGHTS = (0.35, 0.2, 0.1)  # most recent earlier message first
ASKED = 0.5  # of a message that complains and asks (太慢了 能换顺丰吗), the share its question's own reading has
# A phrase suiting the customer's named type counts as this many points (of 100) more like the message, when its trigger
# is at least TYPE_MIN_SIMILARITY like it: enough to choose between phrases that answer about equally well, never more.
TYPE_BOOST = 4.0
TYPE_MIN_SIMILARITY = 40.0
# A phrase of the shop's own layer (a later `[phrases] path` directory: its policy, in its words) that resembles
# the message comes before the shipped demo's phrases of the same intent, whose facts are generic: this many points
# of score, the whole span trigger similarity moves a phrase at full confidence.
SHOP_LIFT = 15.0
# Readings remembered: a conversation's earlier messages are read again for each new one, and buyers send the same
# short texts all day. Bounded by memory too: a reading holds about 14 KiB (a short text) to 85 KiB (300 characters
# and more, read on their head and tail), so longer texts are remembered apart, fewer of them (docs/scaling.md).
READING_CACHE = 20_000  # texts of up to CACHED_TEXT_CHARS characters: at most ~0.4 GB
LONG_READING_CACHE = 500  # longer ones: at most ~45 MB
CACHED_TEXT_CHARS = 64


@mypyc_attr(allow_interpreted_subclasses=True)  # an item's answer is a suggestion too (item_answers.py)
@dataclass(frozen=True)
class Suggestion:
    """A quick phrase proposed for a message.

    `confidence` (0–1) is how likely the message is about the phrase's intent; `score` (0–100) ranks phrases
    (confidence, the trigger's similarity, customer type, adoption); `trigger` is the phrase's example
    question closest to the message and `evidence` the message's words that made the intent.
    """

    phrase_id: str
    intent: str
    code: str
    text: str
    score: float
    trigger: str
    confidence: float = 1.0
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reading:
    """One message as the matcher reads it: its clauses, the focus text, key-word evidence and features."""

    message: Message
    analysis: Analysis  # of the focus text
    keyword: Mapping[str, float]
    keyword_words: Mapping[str, str]
    features: Features
    encoded: Encoded | None  # the features the scorer knows (None without a scorer)
    why: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False)  # explanations, once computed
    # What depends on the text alone, once computed: the intents' confidences, each intent's close triggers.
    # Readings are cached, so a text buyers send all day (在吗, 发什么快递) is scored once.
    memo: dict[Any, Any] = field(default_factory=dict, compare=False)


def suggestion_json(s: Suggestion) -> dict[str, Any]:
    """The JSON shape of a suggestion."""
    return {
        "phrase_id": s.phrase_id, "intent": s.intent, "code": s.code, "text": s.text, "score": s.score,
        "confidence": s.confidence, "trigger": s.trigger, "evidence": list(s.evidence),
    }  # fmt: skip


class Matcher:
    """Pure matcher over one `Library`; build once (preprocesses triggers), then call from anywhere.

    `scorer`: "auto" reads `scorer.npz` from the library's directory when there is one; None scores from
    evidence alone.
    """

    def __init__(
        self,
        library: Library,
        *,
        k: int = 3,
        min_confidence: float = DEFAULT_MIN_CONFIDENCE,
        strict: bool = False,
        scorer: Scorer | Literal["auto"] | None = "auto",
    ) -> None:
        self.library = library
        self.k, self.min_confidence = k, min_confidence
        self.normalizer = Normalizer(library.normalization)
        self._phrases: list[Phrase] = list(library.phrases)
        self._by_intent: dict[str, list[int]] = {}
        self._index_of: dict[str, int] = {}
        # The kind of goods a phrase is written for (坏果: fruit): one of these words must have been said.
        self.goods = GoodsWords(self.normalizer.normalize)
        # The shop's own phrases, when a shipped demo layer is under them (`Library.load` names a later layer's
        # file `layer/name.toml`): intent → their indexes, in file order.
        self._shop: dict[str, list[int]] = {}
        layered = any("/" in p.file for p in self._phrases) and any("/" not in p.file for p in self._phrases)
        for i, p in enumerate(self._phrases):
            if layered and "/" in p.file:
                self._shop.setdefault(p.intent, []).append(i)
            self.goods.add(i, p.goods)
            self._by_intent.setdefault(p.intent, []).append(i)
            self._index_of[p.id] = i
        # The callbacks below hold these, never the matcher: no reference cycle keeps a replaced one (`release`).
        keywords = self.keywords = KeywordSpotter(library.intents, self.normalizer, library.words)
        normalizer = self.normalizer
        forms: dict[str, Sequence[str]] = {}
        for p in self._phrases:
            known = library.normalized_triggers.get(p.id)
            ok = known is not None and len(known) == len(p.triggers)
            forms[p.id] = known if known is not None and ok else tuple(self.normalizer.normalize(t) for t in p.triggers)
        self.triggers = TriggerIndex(self._phrases, forms, (k.text for k in self.keywords.keywords))
        pairs = zip(self.triggers.raw, self.triggers.index.texts)  # [words.exclusions]' triggers (一星) → their form
        self._excludable: dict[str, str] = {r: n for r, n in pairs if n in self.keywords.rules.exclusions}
        self.speaks = TriggerTopics(lambda t: keywords.scores(normalizer.analyze(t), t)[0], self._phrases)
        # Each shop's own phrases follow the shared ones in `_phrases`, with a small trigger index of their own:
        # a shop with none, or a set-up without shops, ranks exactly the shared library.
        self._shared_count = len(self._phrases)
        self._own: dict[str, OwnPhrases] = {}
        for shop, own in library.shop_phrases.items():
            self._own[shop] = self._add_own(own, library.hidden.get(shop, frozenset()))
        self.clauses = ClauseReader(library, normalizer, keywords)  # the clause splitter, its splits remembered
        self.splitter = self.clauses.splitter
        self.scorer = load_scorer(library) if scorer == "auto" else scorer
        self._columns: list[tuple[int, str]] = []
        self._none: int | None = None
        if self.scorer is not None:
            self._columns = [(n, c) for n, c in enumerate(self.scorer.classes) if c != NONE]
            self._none = self.scorer.classes.index(NONE) if NONE in self.scorer.classes else None
        self._search_texts: NgramIndex | None = None
        self._read_short = lru_cache(maxsize=READING_CACHE)(self._read)
        self._read_long = lru_cache(maxsize=LONG_READING_CACHE)(self._read)
        self.types = TypeClassifier(
            library.customer_types,
            self.normalizer,
            library.type_cues,
            lambda analysis, raw: keywords.scores(analysis, raw)[0],
            self.keywords.rules.exclusions,
            self.splitter.spoken,
        )
        self.reader = TypeReader(self.types, strict)  # the customer types as the service reads them (`classify`)

    @property
    def strict(self) -> bool:
        """An internal error raises (tests, tools), else is logged and answered without (the service's webhook)."""
        return self.reader.strict

    @strict.setter
    def strict(self, value: bool) -> None:
        self.reader.strict = value

    def _add_own(self, own: Sequence[Phrase], hidden_ids: frozenset[str]) -> OwnPhrases:
        start = len(self._phrases)
        by_intent: dict[str, list[int]] = {}
        index_of: dict[str, int] = {}
        forms: dict[str, Sequence[str]] = {}
        for i, p in enumerate(own, start):
            self._phrases.append(p)
            self.goods.add(i, p.goods)
            by_intent.setdefault(p.intent, []).append(i)
            index_of[p.id] = i
            forms[p.id] = tuple(self.normalizer.normalize(t) for t in p.triggers)
        hidden = frozenset(self._index_of[pid] for pid in hidden_ids if pid in self._index_of)
        return OwnPhrases(start, by_intent, index_of, hidden, TriggerIndex(list(own), forms))

    # -- reading a message ---------------------------------------------------------------------------------

    def read(self, text: str) -> Reading:
        """The message as the matcher reads it, remembered (a long text among fewer others)."""
        if len(text) <= CACHED_TEXT_CHARS:
            return self._read_short(text)
        return self._read_long(text)

    def _read(self, text: str) -> Reading:
        message = self.clauses.split(text)
        analysis = self.normalizer.analyze_folded(message.focus)
        keyword, words = self.keywords.scores(analysis, message.focus)
        spoken = [n for n, c in enumerate(message.clauses) if c.kind == "text"]
        social = [n for n, c in enumerate(message.clauses) if c.kind == "social"] if spoken else []
        found = features(
            analysis,
            keyword,
            has_card=message.has_card,
            social_before=bool(social) and social[0] < spoken[0],
            social_after=bool(social) and social[-1] > spoken[-1],
        )
        encoded = self.scorer.encode(found) if self.scorer is not None else None
        return Reading(message, analysis, MappingProxyType(keyword), MappingProxyType(words), found, encoded)

    def clear_caches(self) -> None:
        """Forget every remembered reading (benchmarks measure messages seen for the first time)."""
        self._read_short.cache_clear()
        self._read_long.cache_clear()
        self.clauses.clear_caches()
        self.normalizer.clear_caches()
        self.keywords.clear_caches()
        self.library.clear_caches()

    def release(self) -> None:
        """Let go of a replaced library (not used again) for reference counting to free: caches, cycles, indexes."""
        self.clear_caches()
        self._read_short = self._read_long = RELEASED
        self.clauses.release()
        for index in (self.triggers, *(own.triggers for own in self._own.values())):
            index.release()
        self.normalizer.release()
        self.keywords.release()
        self.types.release()
        self.library.release()

    # The public methods take any value and answer nothing for a non-string (typed so: compiled, a declared
    # `str` would be enforced before their own check).
    def keyword_scores(self, text: object) -> Mapping[str, float]:
        """Per intent, 0–1 evidence from key words alone (no fuzzy matching) for a raw message's focus."""
        return self.read(text).keyword if isinstance(text, str) else MappingProxyType({})

    def intent_confidences(self, text: str) -> tuple[dict[str, float], float]:
        """Each intent's 0–1 confidence for a text alone, and how likely it fits no intent (phrase import)."""
        return self._confidences(self.read(text))

    # -- intents -------------------------------------------------------------------------------------------

    def _confidences(self, reading: Reading) -> tuple[dict[str, float], float]:
        """Each intent's 0–1 confidence for the message alone (the scorer's, or from evidence), and how likely
        the message fits no intent at all (0 without a scorer)."""
        known = reading.memo.get("confidences")
        if known is None:
            known = reading.memo["confidences"] = self._confidences_uncached(reading)
        return dict(known[0]), known[1]

    def _confidences_uncached(self, reading: Reading) -> tuple[dict[str, float], float]:
        if not reading.analysis.compact and not reading.keyword:
            # Nothing to read: an image, a sticker or an emoji alone ([图片], [表情], 😀), or an empty text. The
            # scorer, which has seen only "？？" with no words, would call it a reminder; the agent must look.
            return {}, 1.0
        if self.scorer is not None and reading.encoded is not None:
            probabilities = self.scorer.probabilities(reading.encoded)
            none = probabilities[self._none] if self._none is not None else 0.0
            found = {c: probabilities[n] for n, c in self._columns if probabilities[n] >= 0.005}
            if item_fragment(reading.analysis, reading.keyword, found):
                return {}, 0.0  # its goods told a chance intent: what earlier messages lend it decides, or nothing
            # A complaint beside a question with a topic word of its own (太慢了|能换顺丰吗): the question counts.
            asked = asking(reading.message, self.splitter.asks, found)
            if asked is None or max(self.read(asked).keyword.values(), default=0.0) < STRONG_WEIGHT:
                return found, none
            return blend((found, none), self._confidences(self.read(asked)), ASKED)
        return {i: s / 100.0 for i, s in self._evidence(reading).items()}, 0.0

    def _evidence(self, reading: Reading) -> dict[str, float]:
        """Without a scorer: key words and trigger similarity combined, 0–100 per intent."""
        analysis = reading.analysis
        similar, _ = self.triggers.across(analysis.compact)
        scores: dict[str, float] = {}
        for intent in set(similar) | set(reading.keyword):
            sim = similar.get(intent, 0.0)
            # A message that is one of the library's own example questions is as sure as it gets.
            f = 1.0 if sim >= 100.0 else FUZZ_SHARE * max(0.0, (sim - FUZZ_FLOOR) / (100.0 - FUZZ_FLOOR))
            scores[intent] = 100.0 * (1.0 - (1.0 - f) * (1.0 - reading.keyword.get(intent, 0.0)))
        fallback = self.library.questions.fallback
        threshold = 100.0 * self.min_confidence
        if (
            fallback is not None
            and analysis.compact
            and max(scores.values(), default=0.0) < threshold
            and self.splitter.asks(analysis.folded)
        ):
            # A question nothing else claims is most likely about the goods; say so at the lowest confidence.
            scores[fallback] = threshold
        return scores

    def intent_scores(self, text: object, context: Context | None = None) -> dict[str, float]:
        """Every intent with some confidence for `text`, 0–1, after context re-ranking."""
        if not isinstance(text, str):
            return {}
        return self._rerank(self._confidences(self.read(text))[0], context or Context())

    def _rerank(self, scores: dict[str, float], context: Context) -> dict[str, float]:
        scores = dict(scores)
        earlier = [t for _, t in context.customer_messages[-len(CONTEXT_WEIGHTS) :]][::-1]
        if earlier:
            top = max(scores.values(), default=0.0)
            for weight, text in zip(CONTEXT_WEIGHTS, earlier):
                for intent, k in self.keyword_scores(text).items():
                    # Earlier topics only help a message that says little by itself ("还没到呢").
                    scores[intent] = scores.get(intent, 0.0) + weight * k * (1.0 - top)
        for intent in ASSISTANT_INTENTS:
            scores.pop(intent, None)
        if context.has_unpaid_order and scores.get("payment", 0.0) >= self.min_confidence:
            scores["payment_reminder"] = min(1.0, scores["payment"] + 0.05)
        return {i: min(1.0, s) for i, s in scores.items() if s > 0.0}

    # -- public API ----------------------------------------------------------------------------------------

    def suggest(self, text: object, context: Context = Context()) -> list[Suggestion]:
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

    def _suggest(self, text: object, context: Context) -> list[Suggestion]:
        if not isinstance(text, str) or self.k <= 0:
            return []
        reading = self.read(text)
        confidences, none = self._confidences(reading)
        confidences, none = follow(self, reading, (confidences, none), context)  # 这个呢, 确定吗
        intents = self._rerank(confidences, context)
        if context.opening and "urge" in intents and presence_check(reading.message, reading.keyword):
            # 喂喂 有人吗 opening a conversation checks someone is there: a reminder comes only after a wait.
            intents["greeting"] = min(1.0, intents.get("greeting", 0.0) + intents.pop("urge"))
        own = self._own.get(context.shop) if self._own else None
        answered = self._by_intent if own is None else {**self._by_intent, **own.by_intent}
        ranked = sorted(((c, i) for i, c in intents.items() if i in answered), reverse=True)
        shown = plan(ranked, intents, confidences, none, self.k, self.min_confidence, self.scorer is not None)
        # A message asking of several things (发什么快递 能便宜点吗): each one's answer, in the order asked; and a
        # question after a story that leaves the whole message unread (… 想问下几天能到北京) is answered alone.
        found = {i: c for i, c in self._topics(reading, not shown).items() if i in answered}
        if len(found) > 1 or (found and not shown):
            intents.update({i: max(c, intents.get(i, 0.0)) for i, c in found.items()})
            shown = asked(found, self.k, shown, intents, self.min_confidence)
        if not shown:
            return []
        chosen: list[Suggestion] = []
        used: set[int] = set()
        said = Said(lambda: self.said(reading, context))  # read only if a phrase naming goods comes up
        for intent, count in shown:
            # An alternate shows one phrase: a few close triggers are enough to choose it.
            limit = 12 if intent == shown[0][0] else 4
            by = self._asked_in(intent, reading, confidences, context)
            for pi, score, trigger in self._rank_phrases(intent, intents[intent], by, context, said, limit)[:count]:
                chosen.append(self._suggestion(pi, score, trigger, intents[intent], reading, context))
                used.add(pi)
        if len(chosen) < self.k:  # fewer alternates or phrases than planned: fill with the top intent
            top_intent, top = shown[0][0], intents[shown[0][0]]
            by = self._asked_in(top_intent, reading, confidences, context)
            for pi, score, trigger in self._rank_phrases(top_intent, top, by, context, said):
                if len(chosen) >= self.k:
                    break
                if pi not in used:
                    chosen.append(self._suggestion(pi, score, trigger, top, reading, context))
                    used.add(pi)
        return chosen[: self.k]

    def _asked_in(self, intent: str, reading: Reading, own: Mapping[str, float], context: Context) -> Reading:
        """The message its phrases of `intent` are ranked by: itself, or for an intent only its earlier messages lent
        it and none of its words names (那这个呢 after 是正品吗), the latest earlier one that names it (是正品吗: zp1,
        not zp4's low price)."""
        if own.get(intent, 0.0) > 0.0 or reading.keyword.get(intent, 0.0) > 0.0:
            return reading
        for _, text in context.customer_messages[: -len(CONTEXT_WEIGHTS) - 1 : -1]:
            if self.keyword_scores(text).get(intent, 0.0) > 0.0:
                return self.read(text)
        return reading

    def _topics(self, reading: Reading, one: bool) -> dict[str, float]:
        """`plan.topics` of the message, each asking clause read as a message of its own (remembered)."""
        if ("topics", one) not in reading.memo:
            read = self.read
            alone = lambda t: (*self._confidences(read(t)), read(t).keyword)  # noqa: E731
            reading.memo[("topics", one)] = self.clauses.topics(reading.message, alone, one)
        return dict(reading.memo[("topics", one)])

    def said(self, reading: Reading, context: Context) -> str:
        """What the conversation has said of its goods: the message, the customer's earlier ones, the item's title."""
        earlier = (self.normalizer.normalize(t) for _, t in context.customer_messages)
        return "|".join((reading.analysis.compact, *earlier, self.normalizer.normalize(context.item)))

    def _rank_phrases(
        self,
        intent: str,
        confidence: float,
        reading: Reading,
        context: Context,
        said: Said | None = None,
        limit: int = 12,
    ) -> list[tuple[int, float, str]]:
        """The best `self.k` phrases of one intent: confidence, own trigger similarity, type and adoption.

        `said`: what the conversation said of its goods; `limit`: how many of the intent's triggers
        most like the message are compared closely.
        """
        fallback = reading.keyword_words.get(intent, "")
        similar = reading.memo.get(("within", intent, limit))
        if similar is None:
            similar = reading.memo[("within", intent, limit)] = self._within(reading.analysis.compact, intent, limit)
        # Phrases no trigger matched tie at the same score: the first few that fit (file order, where an
        # intent's generic answers come first) fill the places no trigger claims, so the intent is never left
        # without an answer; this keeps ranking cheap in a library of 20,000 phrases.
        mine = self._own.get(context.shop) if self._own else None
        hidden = mine.hidden if mine is not None else _NONE_HIDDEN
        candidates: set[int] = set()
        for pi in self._by_intent.get(intent, ()):
            if len(candidates) >= self.k:
                break
            if self.goods.fits(pi, said) and pi not in hidden:
                candidates.add(pi)
        candidates.update(similar)
        candidates.update([pi for pi in self._shop.get(intent, ()) if self.goods.fits(pi, said)][: self.k])
        shop = self._shop.get(intent, ())
        if mine is not None:  # the conversation's shop's own phrases: found by their triggers and the intent
            similar = {**similar, **mine.similar(reading.memo, reading.analysis.compact, context.shop, intent, limit)}
            candidates.update(similar)
            candidates.update([pi for pi in mine.by_intent.get(intent, ()) if self.goods.fits(pi, said)][: self.k])
        for phrase_id in context.adoption:
            found = mine.index_of.get(phrase_id) if mine is not None else None
            found = found if found is not None else self._index_of.get(phrase_id)
            if found is not None and self._phrases[found].intent == intent:
                candidates.add(found)
        out = []
        for pi in candidates:
            if not self.goods.fits(pi, said) or pi in hidden:
                continue
            phrase = self._phrases[pi]
            own, trigger = similar.get(pi, (0.0, fallback or (phrase.triggers[0] if phrase.triggers else "")))
            close = own
            if close >= TYPE_MIN_SIMILARITY:  # a phrase no trigger brings close does not answer: nothing lifts it
                own += TYPE_BOOST if context.customer_type and context.customer_type in phrase.types else 0.0
            if close >= ANSWERS_MIN_SIMILARITY:
                own += self.speaks.points(pi, phrase, reading.keyword)
            score = 100.0 * confidence * (0.85 + 0.15 * own / 100.0)
            if close >= TYPE_MIN_SIMILARITY and (pi in shop or pi >= self._shared_count > 0):
                score += SHOP_LIFT
            used = context.adoption.get(phrase.id, 0)
            if used > 0:
                score += min(10.0, 4.0 * math.log2(1 + used))
            out.append((pi, score, trigger))
        # Ranked before the score is cut to 100: a lift (the shop's own phrase, adoption) counts when the demo's trigger
        # matches closely (最低价多少: yj2, yj01 tie at 100); of a tie, goods the message names first (耳机续航多久: cp24).
        compact = reading.analysis.compact
        out.sort(key=lambda item: (-round(item[1], 1), not self.goods.named(item[0], compact), -item[1], item[0]))
        return [(pi, min(100.0, score), trigger) for pi, score, trigger in distinct(out, self._phrases, self.k)]

    def _within(self, compact: str, intent: str, limit: int) -> dict[int, tuple[float, str]]:
        """`TriggerIndex.within`, without a one-word trigger the message holds only inside a longer word that
        `[words.exclusions]` names for it (一星 in 一星期): a trigger is read on word boundaries like a key word."""
        found = self.triggers.within(compact, intent, limit)
        ex = self._excludable
        if ex:
            rules = self.keywords.rules
            found = {
                pi: hit for pi, hit in found.items() if hit[1] not in ex or not rules.excluded(compact, ex[hit[1]])
            }
        return found

    def _suggestion(
        self, pi: int, score: float, trigger: str, confidence: float, reading: Reading | None, context: Context
    ) -> Suggestion:
        phrase = self._phrases[pi]
        evidence = self._why(reading, phrase.intent) if reading is not None else ()
        return Suggestion(
            phrase_id=phrase.id,
            intent=phrase.intent,
            code=phrase.code,
            text=self.library.render(phrase.id, context.variables, shop=phrase.shop),
            score=round(max(0.0, min(100.0, score)), 1),
            trigger=trigger,
            confidence=round(max(0.0, min(1.0, confidence)), 3),
            evidence=evidence,
        )

    def _why(self, reading: Reading, intent: str) -> tuple[str, ...]:
        """The message's words that made `intent`: its key word first, then what the scorer weighed most.

        The scorer's words are looked for only for the first intent asked about (the likeliest one): an
        alternate is explained by its key word and its phrase's trigger.
        """
        known = reading.why.get(intent)
        if known is not None:
            return known
        words: list[str] = []
        keyword = reading.keyword_words.get(intent)
        if keyword:
            words.append(keyword)
        if self.scorer is not None and reading.encoded is not None and not reading.why:
            for word in self.scorer.reasons(reading.encoded, intent):
                if not any(word in w or w in word for w in words):
                    words.append(word)
        reading.why[intent] = tuple(words[:3])
        return reading.why[intent]

    def classify(
        self, messages: Messages, replies: Sequence[int] | None = None, *, ordered: bool = False, past_orders: int = 0
    ) -> CustomerType:
        """The customer's type from their messages so far (oldest first), as the reader gives it (`TypeReader`)."""
        return self.reader.classify(messages, replies, ordered=ordered, past_orders=past_orders)

    def search(self, query: object, limit: int = 10, context: Context = Context()) -> list[Suggestion]:
        """The agent's "/" search: phrases whose code starts with `query`, then fuzzy matches on their text;
        among the shared phrases and the own ones of the context's shop, rendered with its variables."""
        if not isinstance(query, str) or limit <= 0:
            return []
        raw = query.strip().lstrip("/").strip().lower()
        if not raw:
            return []
        mine = self._own.get(context.shop) if self._own else None
        hidden = mine.hidden if mine is not None else _NONE_HIDDEN
        end = mine.start + len(mine.index_of) if mine is not None else 0

        def allowed(pi: int) -> bool:
            return pi not in hidden if pi < self._shared_count else mine is not None and mine.start <= pi < end

        found: dict[int, float] = {}
        for pi, phrase in enumerate(self._phrases):
            if not allowed(pi):
                continue
            code = phrase.code.lower()
            if code == raw:
                found[pi] = 100.0
            elif code.startswith(raw):
                found[pi] = max(80.0, 99.0 - (len(code) - len(raw)))
        norm = self.normalizer.normalize(clip(raw))
        if norm:
            index = self._search_index()
            for tid in index.shortlist(norm, 4 * limit + 20 + len(self._phrases) - self._shared_count):
                if not allowed(tid):
                    continue
                score = fuzz.partial_ratio(norm, index.texts[tid]) if len(norm) <= len(index.texts[tid]) else 0.0
                score = max(score, fuzz.ratio(norm, index.texts[tid]))
                if score >= 60.0 and score > found.get(tid, 0.0):
                    found[tid] = score * 0.95
        ranked = sorted(found.items(), key=lambda item: (-item[1], item[0]))[:limit]
        return [self._suggestion(pi, score, self._phrases[pi].code, 1.0, None, context) for pi, score in ranked]

    def _search_index(self) -> NgramIndex:
        if self._search_texts is None:
            texts = [self.normalizer.normalize(self.library.render(p.id, shop=p.shop)) for p in self._phrases]
            self._search_texts = NgramIndex(texts)
        return self._search_texts

    def render(self, phrase_id: str, variables: Mapping[str, str]) -> str:
        """Render one phrase; unknown ids raise KeyError."""
        return self.library.render(phrase_id, variables)

    def phrases_for(self, intent: str) -> Iterable[Phrase]:
        """The library's phrases of one intent, in file order (e.g. `followup` for the idle timer)."""
        return (self._phrases[i] for i in self._by_intent.get(intent, ()))


_NONE_HIDDEN: frozenset[int] = frozenset()
