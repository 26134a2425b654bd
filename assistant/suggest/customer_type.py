"""Customer type (陌生/性急/讲价…) from the customer's messages: cue words, patterns and behaviour."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from assistant.suggest.keywords import NUMBER
from assistant.suggest.textnorm import Analysis, Normalizer
from assistant.suggest.vocabulary import DEFAULT_TYPE, TYPE_IDS, CustomerTypeSpec, TypeCues

CUE_WEIGHT = {1: 0.5, 2: 1.0, 3: 1.3}  # by cue length in characters; longer cues weigh 1.6
PATTERN_WEIGHT = 1.5
REPEAT_WEIGHT = 0.4  # the same cue again in a later message
MIN_SCORE = 0.9  # below this the evidence is too thin to leave `newcomer`
BURST_WINDOW_MS = 10_000
BURST_COUNT = 3
BURST_WEIGHT = 1.6
PRESENCE_CHECKS = ("在吗", "在不在", "在么", "在嘛", "有人吗", "有人没", "人呢", "没人")
PRESENCE_WEIGHT = 1.6
INTENT_MIN = 0.5  # key-word evidence for an intent that counts as the customer asking about it
INTENT_WEIGHT = 0.6
REPEAT_INTENT_WEIGHT = 1.0  # the same kind of question in two or more messages ("repeated price questions")
# A type whose customers also show the broader type's signs: clear evidence of it wins over the broader one.
NARROWER = {"bargainer": "pressuring"}
MAX_MESSAGES = 50  # the type is settled by then; older messages add nothing but time
SIGNAL_CACHE = 50_000  # messages whose signals are remembered: a conversation's history is re-read each time


@dataclass(frozen=True)
class MessageSignals:
    """What one message says about the customer's type, independent of the other messages."""

    cues: tuple[tuple[str, float, str], ...]  # (type, weight, cue)
    patterns: tuple[tuple[str, str, str], ...]  # (type, pattern, matched text)
    presence: bool  # asks whether anyone is there (在吗)
    intents: tuple[tuple[str, float], ...]  # (intent, strength) of intents tied to a type


@dataclass(frozen=True)
class CustomerType:
    """The customer's likely type with the cues that point to it and the agent's talk track."""

    type: str
    label: str
    confidence: float
    evidence: tuple[str, ...]
    script: tuple[str, ...]


def customer_type_json(t: CustomerType) -> dict[str, Any]:
    """The JSON shape of a customer type."""
    return {
        "type": t.type,
        "label": t.label,
        "confidence": t.confidence,
        "evidence": list(t.evidence),
        "script": list(t.script),
    }


class TypeClassifier:
    """Scores each customer type from cue hits, regex patterns, intents and message rhythm; pure."""

    def __init__(
        self,
        types: Mapping[str, CustomerTypeSpec],
        normalizer: Normalizer,
        extra: Mapping[str, TypeCues] | None = None,
        intent_evidence: Callable[[Analysis, str], Mapping[str, float]] | None = None,
        intent_labels: Mapping[str, str] | None = None,
    ) -> None:
        self._intent_labels = dict(intent_labels or {})
        self._types = types
        self._normalizer = normalizer
        self._intent_evidence = intent_evidence
        cues: dict[tuple[str, str], tuple[str, str, float, str]] = {}
        number_cues: list[tuple[re.Pattern[str], str, float, str]] = []
        patterns: list[tuple[re.Pattern[str], str]] = []
        intent_types: dict[str, list[str]] = {}
        sources: list[tuple[str, Sequence[str], Sequence[str]]] = [(t.id, t.cues, t.patterns) for t in types.values()]
        sources += [(t.id, t.cues, t.patterns) for t in (extra or {}).values()]
        for type_id, type_cues, type_patterns in sources:
            for raw in type_cues:
                if "#" in raw:  # "少#块": a number stands in the gap, as in intent key words
                    parts = [normalizer.normalize(part) for part in raw.split("#")]
                    if any(parts):
                        size = sum(map(len, parts)) + len(parts) - 1
                        regex = re.compile(NUMBER.join(re.escape(part) for part in parts))
                        number_cues.append((regex, type_id, CUE_WEIGHT.get(size, 1.6), raw))
                    continue
                norm = normalizer.normalize(raw)
                if norm and (norm, type_id) not in cues:
                    cues[(norm, type_id)] = (norm, type_id, CUE_WEIGHT.get(len(norm), 1.6), raw)
            for pattern in type_patterns:
                try:
                    patterns.append((re.compile(pattern), type_id))
                except re.error:
                    continue  # the library rejects bad patterns at load; a hand-built spec may not have been checked
        for spec in (extra or {}).values():
            for intent in spec.intents:
                intent_types.setdefault(intent, []).append(spec.id)
        self._cues = sorted(cues.values(), key=lambda c: -len(c[0]))
        self._number_cues = number_cues
        self._patterns = patterns
        self._intent_types = intent_types
        self._presence = tuple(normalizer.normalize(p) or p for p in PRESENCE_CHECKS)
        self.signals = lru_cache(maxsize=SIGNAL_CACHE)(self._signals)

    def default(self) -> CustomerType:
        """`newcomer` with no evidence."""
        return self._result(DEFAULT_TYPE, 0.5, ())

    def _result(self, type_id: str, confidence: float, evidence: Sequence[str]) -> CustomerType:
        spec = self._types.get(type_id)
        return CustomerType(
            type=type_id,
            label=spec.label if spec else type_id,
            confidence=round(confidence, 2),
            evidence=_distinct(evidence),
            script=spec.script if spec else (),
        )

    def cue_hits(self, compact: str) -> list[tuple[str, float, str]]:
        """(type, weight, cue) for each cue in `compact`, ignoring a cue found inside a longer one."""
        found: list[tuple[int, int, str, float, str]] = []
        for regex, type_id, weight, raw in self._number_cues:
            match = regex.search(compact)
            if match is not None:
                found.append((match.start(), match.end(), type_id, weight, raw))
        for norm, type_id, weight, raw in self._cues:
            start = compact.find(norm)
            if start >= 0:
                found.append((start, start + len(norm), type_id, weight, raw))
        found.sort(key=lambda f: f[0] - f[1])  # longest first
        spans: list[tuple[int, int]] = []
        hits: list[tuple[str, float, str]] = []
        for start, end, type_id, weight, raw in found:
            if any(s <= start and end <= e and (e - s) > (end - start) for s, e in spans):
                continue
            spans.append((start, end))
            hits.append((type_id, weight, raw))
        return hits

    def _signals(self, text: str) -> MessageSignals:
        analysis = self._normalizer.analyze(text)
        raw_text = unicodedata.normalize("NFKC", text).lower()
        patterns = []
        for pattern, type_id in self._patterns:
            found = pattern.search(raw_text) or pattern.search(analysis.folded)
            if found:
                patterns.append((type_id, pattern.pattern, found.group(0)))
        intents: list[tuple[str, float]] = []
        if self._intent_evidence is not None and self._intent_types:
            intents = [
                (intent, strength)
                for intent, strength in self._intent_evidence(analysis, text).items()
                if strength >= INTENT_MIN and intent in self._intent_types
            ]
        return MessageSignals(
            cues=tuple(self.cue_hits(analysis.compact)),
            patterns=tuple(patterns),
            presence=any(p in analysis.compact for p in self._presence),
            intents=tuple(intents),
        )

    def classify(self, messages: Sequence[tuple[int, str]]) -> CustomerType:
        """The best-supported type for these (ts_ms, text) messages, oldest first."""
        messages = [(ts, text) for ts, text in messages if isinstance(text, str)][-MAX_MESSAGES:]
        score: dict[str, float] = {}
        evidence: dict[str, list[str]] = {}
        longest: dict[str, int] = {}

        def add(type_id: str, weight: float, why: str, length: int = 0) -> None:
            score[type_id] = score.get(type_id, 0.0) + weight
            evidence.setdefault(type_id, []).append(why)
            longest[type_id] = max(longest.get(type_id, 0), length)

        seen: set[tuple[str, str]] = set()
        presence = 0
        intent_messages: dict[str, int] = {}
        for _, text in messages:
            signals = self.signals(text[:500])
            for type_id, weight, raw in signals.cues:
                add(type_id, weight if (type_id, raw) not in seen else REPEAT_WEIGHT, raw, len(raw))
                seen.add((type_id, raw))
            counted = [(t, raw) for t, _, raw in signals.cues]
            for type_id, pattern, found in signals.patterns:
                weight = PATTERN_WEIGHT if (type_id, pattern) not in seen else REPEAT_WEIGHT
                if any(t == type_id and (raw in found or found.strip() in raw) for t, raw in counted):
                    weight = min(weight, REPEAT_WEIGHT)  # the same words, already counted as a cue or pattern
                counted.append((type_id, found.strip() or pattern))
                seen.add((type_id, pattern))
                add(type_id, weight, found.strip() or pattern, len(found))
            presence += signals.presence
            for intent, strength in signals.intents:
                intent_messages[intent] = intent_messages.get(intent, 0) + 1
                for type_id in self._intent_types[intent]:
                    add(type_id, INTENT_WEIGHT * strength, self._intent_labels.get(intent, intent))
        if presence >= 2:
            add("impatient", PRESENCE_WEIGHT + 0.6 * (presence - 2), f"反复问在吗({presence}次)")
        burst = _largest_burst([ts for ts, _ in messages])
        if burst >= BURST_COUNT:
            add("impatient", BURST_WEIGHT + 0.3 * (burst - BURST_COUNT), f"{BURST_WINDOW_MS // 1000}秒内连发{burst}条")
        for intent, count in intent_messages.items():
            if count >= 2:
                for type_id in self._intent_types[intent]:
                    add(type_id, REPEAT_INTENT_WEIGHT, f"多次{self._intent_labels.get(intent, intent)}({count}次)")
        if not score:
            return self.default()
        order = {t: n for n, t in enumerate(TYPE_IDS)}
        best = max(score, key=lambda t: (score[t], longest.get(t, 0), -order.get(t, 99)))
        narrower = NARROWER.get(best)
        if narrower is not None and score.get(narrower, 0.0) >= MIN_SCORE:
            best = narrower  # a threat to walk comes with haggling: the haggling does not make it a mere bargainer
        if best != DEFAULT_TYPE and score[best] < MIN_SCORE:
            return self._result(DEFAULT_TYPE, 0.5, ())
        others = sorted((s for t, s in score.items() if t != best), reverse=True)
        margin = score[best] - (others[0] if others else 0.0)
        confidence = min(0.95, (1.0 - math.exp(-score[best] / 1.5)) * (0.7 + 0.3 * min(1.0, margin / 1.0)))
        return self._result(best, max(0.3, confidence), evidence[best])


def _distinct(evidence: Sequence[str]) -> tuple[str, ...]:
    """Each piece of evidence once, leaving out words already shown inside a longer one (别家 in 别家才卖)."""
    unique = list(dict.fromkeys(evidence))
    return tuple(e for e in unique if not any(e != other and e in other for other in unique))


def _largest_burst(timestamps: Sequence[int]) -> int:
    """Most messages inside any BURST_WINDOW_MS window."""
    stamps = sorted(t for t in timestamps if isinstance(t, int) and not isinstance(t, bool))
    best = start = 0
    for end, ts in enumerate(stamps):
        while ts - stamps[start] > BURST_WINDOW_MS:
            start += 1
        best = max(best, end - start + 1)
    return best
