"""The words of a simulated day: customer messages drawn from the library's own wording, read by the real
matcher (suggestions, customer type), and the agents' answers (the suggested phrase, or their own)."""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.suggest.vocabulary import ASSISTANT_INTENTS

if TYPE_CHECKING:
    from assistant.suggest.matcher import Matcher

SHIPPED_PHRASES = Path(__file__).resolve().parents[2] / "phrases"
AFTERSALE_INTENTS = frozenset(
    {"logistics", "return_exchange", "refund", "quality_issue", "invoice", "complaint", "address_change", "recharge"}
)
SOCIAL_INTENTS = frozenset({"thanks_bye", "urge"})  # said along the way, never what a customer comes for
# How buyers dress up the same question: a greeting in front, a particle or a question mark after.
PREFIXES = ("", "", "", "亲，", "请问", "你好，")
SUFFIXES = ("", "", "？", "呀", "呢")
ENDINGS = frozenset("吗呢呀啊吧嘛？?！!~。.")
POOL_PER_STAGE = 80  # distinct questions a simulated day draws from, per stage (readings are cached)
OWN_WORDS = ("亲，我帮您看一下哦，请稍等~", "好的亲，马上为您处理", "亲，稍等，我确认一下再回复您")


@dataclass(frozen=True)
class Reading:
    """What the matcher made of one customer message: its intent and suggestions (as the log keeps them)."""

    intent: str | None
    suggestions: tuple[dict[str, Any], ...]


class Chatter:
    """Customer messages and agent replies for a simulated day, from one library and its matcher."""

    def __init__(self, matcher: Matcher, rng: random.Random) -> None:
        self.matcher = matcher
        self.library = library = matcher.library
        by_intent: dict[str, list[str]] = {}
        for p in library.phrases:
            if p.intent not in ASSISTANT_INTENTS and p.intent not in SOCIAL_INTENTS:
                by_intent.setdefault(p.intent, []).extend(p.triggers)
        for example in library.examples:
            labels = [x for x in example.labels if x in by_intent]
            if len(labels) == 1:
                by_intent[labels[0]].append(example.text)
        presale = sorted({t for i, ts in by_intent.items() if i not in AFTERSALE_INTENTS for t in ts if _typical(t)})
        aftersale = sorted({t for i, ts in by_intent.items() if i in AFTERSALE_INTENTS for t in ts if _typical(t)})
        self.presale = rng.sample(presale, min(POOL_PER_STAGE, len(presale)))
        self.aftersale = rng.sample(aftersale, min(POOL_PER_STAGE, len(aftersale)))
        self.answers: dict[str, list[str]] = {}  # intent → the rendered texts of its phrases
        for p in library.phrases:
            if p.id not in library.item_phrases:
                self.answers.setdefault(p.intent, []).append(p.id)
        self._readings: dict[str, Reading] = {}
        self._types: dict[tuple[str, ...], str] = {}

    def question(self, rng: random.Random, aftersale: bool) -> str:
        """A customer's message: a question from the library's wording, dressed up as buyers do."""
        base = rng.choice(self.aftersale if aftersale and self.aftersale else self.presale)
        suffix = "" if base[-1] in ENDINGS else rng.choice(SUFFIXES)  # never "吗呢"
        return f"{rng.choice(PREFIXES)}{base}{suffix}"

    def read(self, text: str) -> Reading:
        """The matcher's suggestions for a message (cached: a day repeats its questions)."""
        found = self._readings.get(text)
        if found is None:
            suggestions = self.matcher.suggest(text)
            logged = tuple({"phrase_id": s.phrase_id, "code": s.code, "score": s.score} for s in suggestions)
            found = self._readings[text] = Reading(suggestions[0].intent if suggestions else None, logged)
        return found

    def customer_type(self, texts: Sequence[str]) -> str:
        """The customer type the matcher reads from a customer's first messages."""
        key = tuple(texts[:3])
        found = self._types.get(key)
        if found is None:
            kind = self.matcher.classify([(n * 20_000, t) for n, t in enumerate(key)])
            found = self._types[key] = kind.type
        return found

    def text(self, phrase_id: str) -> str:
        """A phrase as the agent sends it (the library's defaults for its variables)."""
        return _render(self.library, phrase_id)

    def own_answer(self, rng: random.Random, reading: Reading) -> str:
        """What an agent types instead of a suggestion: another phrase of the intent, or a holding line."""
        used = {s["phrase_id"] for s in reading.suggestions[:1]}
        others = [p for p in self.answers.get(reading.intent or "", []) if p not in used]
        return self.text(rng.choice(others)) if others and rng.random() < 0.8 else rng.choice(OWN_WORDS)

    def followup(self, rng: random.Random, unpaid: bool) -> str:
        """The idle follow-up the assistant sends: a payment reminder (催付) when an order waits, else a closing."""
        ids = self.answers.get("payment_reminder" if unpaid else "followup") or self.answers.get("followup") or []
        return self.text(rng.choice(ids)) if ids else "亲，还在考虑吗？有问题随时找我哦~"


def _typical(text: str) -> bool:
    """A question most buyers would write: Chinese, a few characters or more (examples also hold rare ones)."""
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    return len(text) >= 3 and latin <= 1


@functools.cache
def _render_cache() -> dict[tuple[int, str], str]:
    return {}


def _render(library: Any, phrase_id: str) -> str:
    cache = _render_cache()
    key = (id(library), phrase_id)
    if key not in cache:
        cache[key] = library.render(phrase_id)
    return cache[key]


@functools.cache
def shipped_matcher() -> Matcher:
    """The shipped library's matcher, for simulated days run without a configured one."""
    from assistant.suggest.matcher import Matcher
    from assistant.suggest.phrases import Library

    return Matcher(Library.load(SHIPPED_PHRASES))
