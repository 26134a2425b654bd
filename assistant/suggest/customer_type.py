"""Customer type (陌生/性急/讲价…) from a conversation: evidence weighed by strength and recency, waits measured."""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, TypeGuard, cast

from assistant.suggest.textnorm import Analysis, Normalizer
from assistant.suggest.type_evidence import CUE, IN_OFFER, ORDERED, PATTERN, Clue, EvidenceReader, MessageSignals
from assistant.suggest.vocabulary import DEFAULT_TYPE, TYPE_IDS, CustomerTypeSpec, TypeCues

SURE = 0.4  # a type is named when its evidence reaches this: one cue word, or weak ones beside a stronger
FAINT = 0.3  # below SURE but at least this: the panel says "not sure" instead of naming the default
# Weak words alone (今天能发, 什么时候能到, 最快: a routine delivery question) lean towards a type, however many:
# a type whose strongest piece of evidence is this weak is at most "not sure".
WEAK_ONLY = 0.2
WEAK_CAP = 0.39
REPEAT_FACTOR = 0.5  # the same cue again counts half as much as the time before
# Evidence of earlier turns fades towards this share of its strength (a type shows over the whole chat).
OLD_SHARE = 0.8
FADE = 0.8  # per turn
# Without the agent's reply times, messages this close together are one turn: the agent could not have answered.
TURN_GAP_MS = 20_000
# Re-asking (在吗, the same question again) after waiting this long for an answer is impatience.
WAIT_MS = 40_000
WAIT_STRENGTH = 0.55
LONG_WAIT_MS = 180_000  # ... and the longer the wait, the clearer (up to WAIT_STRENGTH + 0.2 at this wait)
UNANSWERED_PRESENCE = 0.25  # replies unknown: 在吗 or "？" in a later turn suggests the last one went unanswered
# A type whose customers also show the broader type's signs: clear evidence of it wins over the broader one.
NARROWER = {"bargainer": "pressuring"}
# A threat to walk is over the price unless its words and the conversation name none.
PRICE_THREAT = "pressuring"
HAGGLING = frozenset({"bargainer", "budget", "freebie"})
_PRICE = re.compile(r"价|便宜|贵|降|少|优惠|折|钱|块|元|包邮|送|券|[0-9]")
# A type whose evidence came turns earlier keeps the badge over one this close to it: evidence fades with age, so a
# single newer message of another kind (急用, then 能便宜点吗) would otherwise outweigh it by its freshness alone.
TIE = 0.05
# Types whose talk track serves a customer with an order too (a wait, a flaw, a doubt, a complaint); every
# other type's track is about choosing and buying, and gives way to the after-order track once the words
# show an order (a returning buyer's complaint gets no "这次想看点什么").
TRACK_AFTER_ORDER = frozenset({"impatient", "picky", "suspicious", "demanding"})
MAX_MESSAGES = 50  # the type is settled by then; older messages add nothing but time
MAX_CHARS = 500  # a pasted essay is read on its head
# Messages whose signals are remembered: a conversation's history is re-read each time. A short text's signals
# hold about 0.1 KiB, a 500-character head's about 31 KiB: longer texts are remembered apart, fewer of them.
SIGNAL_CACHE = 50_000  # texts of up to CACHED_TEXT_CHARS characters
LONG_SIGNAL_CACHE = 500
CACHED_TEXT_CHARS = 64
SHOWN_CHARS = 12  # a re-asked question is shown by its head
ORDER = {t: n for n, t in enumerate(TYPE_IDS)}  # ties go to the type listed first
# A buyer the log shows paying for an order in another of the shop's conversations has been served before (熟悉的
# 客户买的是热情, the seeds): as much as one cue word of `returning`, so it names the type when nothing else weighs
# more, and the buyer's own words of another type (急用, 便宜点, 我要投诉) or of being new (第一次买) decide over it.
RETURNING = "returning"
PAST_ORDERS = CUE
Messages = Sequence[tuple[int, str]]  # (ts_ms, text), oldest first


@dataclass(frozen=True)
class CustomerType:
    """The customer's likely type with the buyer's words that point to it and the agent's talk track.

    `sure` is False when some evidence points away from the default type but not far enough to name
    another: the answer is then the default type and the panel says "not sure" (不确定). `rival` is another
    named type whose evidence is as strong within `TIE` (a near tie): the panel shows both, the leading one first.
    `past_orders`: the buyer's paid orders in the shop's other conversations, as the log knows them (a fact the card
    shows, not words of the buyer's).
    """

    type: str
    label: str
    confidence: float
    evidence: tuple[str, ...]
    script: tuple[str, ...]
    sure: bool = True
    rival: str = ""
    rival_label: str = ""
    past_orders: int = 0


def named_type(t: CustomerType) -> str | None:
    """The type the customer's own words, waits or earlier orders name; None for the default taken for want of
    evidence."""
    return t.type if t.sure and (t.evidence or (t.type == RETURNING and t.past_orders > 0)) else None


def customer_type_json(t: CustomerType) -> dict[str, Any]:
    """The JSON shape of a customer type."""
    return {
        "type": t.type,
        "label": t.label,
        "confidence": t.confidence,
        "sure": t.sure,
        "evidence": list(t.evidence),
        "script": list(t.script),
        "rival": {"type": t.rival, "label": t.rival_label} if t.rival else None,
        "past_orders": t.past_orders,
    }


class TypeClassifier:
    """Scores each customer type from the clues of the customer's messages and the waits between them; pure."""

    def __init__(
        self,
        types: Mapping[str, CustomerTypeSpec],
        normalizer: Normalizer,
        extra: Mapping[str, TypeCues] | None = None,
        intent_evidence: Callable[[Analysis, str], Mapping[str, float]] | None = None,
        exclusions: Mapping[str, tuple[str, ...]] | None = None,
        spoken: Callable[[str], str | None] | None = None,
    ) -> None:
        self._types = types
        self.reader = EvidenceReader(types, normalizer, extra, intent_evidence, exclusions, spoken)
        self._signals_short = lru_cache(maxsize=SIGNAL_CACHE)(self.reader.read)
        self._signals_long = lru_cache(maxsize=LONG_SIGNAL_CACHE)(self.reader.read)

    def release(self) -> None:
        """Let go of the remembered signals and of the reader's cycles (`Matcher.release`)."""
        self._signals_short.cache_clear()
        self._signals_long.cache_clear()
        self.reader.release()

    def signals(self, text: str) -> MessageSignals:
        """One message's signals, remembered (a long text among fewer others)."""
        if len(text) <= CACHED_TEXT_CHARS:
            return self._signals_short(text)
        return self._signals_long(text)

    def default(self) -> CustomerType:
        """The default type with no evidence."""
        return self._result(DEFAULT_TYPE, 0.5, ())

    def _result(
        self, type_id: str, confidence: float, evidence: Sequence[str], sure: bool = True, ordered: bool = False
    ) -> CustomerType:
        spec = self._types.get(type_id)
        script = (spec.ordered_script if spec and ordered else ()) or (spec.script if spec else ())
        return CustomerType(
            type=type_id,
            label=spec.label if spec else type_id,
            confidence=round(min(1.0, max(0.0, confidence)), 2),
            evidence=_distinct(evidence),
            script=script,
            sure=sure,
        )

    def classify(
        self, messages: Messages, replies: Sequence[int] | None = None, *, ordered: bool = False, past_orders: int = 0
    ) -> CustomerType:
        """The best-supported type for these (ts_ms, text) customer messages, oldest first.

        `replies` are the times of the agent's messages in the same conversation; None when they are not
        known (a labeled set, one message on the command line): turns are then told apart by the gaps alone
        and no wait is measured. `ordered`: the conversation's events show an order (created, paid or closed),
        whatever the customer's words say: as sure as words that show one (收到了, 退款). `past_orders`: the buyer's
        paid orders in the shop's other conversations (`PAST_ORDERS`); the result carries the count for the card.
        """
        past = past_orders if _is_ms(past_orders) and past_orders > 0 else 0
        kind = self._classify(messages, replies, ordered, past)
        return replace(kind, past_orders=past) if past else kind

    def _classify(self, messages: Messages, replies: Sequence[int] | None, ordered: bool, past: int) -> CustomerType:
        timed = _timed(messages)[-MAX_MESSAGES:]
        if not timed:
            return self.default()
        # Any item is looked at: compiled, the declared item type would be enforced before `_is_ms` could.
        answers = sorted(r for r in cast("Sequence[object]", replies) if _is_ms(r)) if replies is not None else None
        # The same string object each time, so that its hash is not computed again for the cache.
        read = [self.signals(text if len(text) <= MAX_CHARS else text[:MAX_CHARS]) for _, text in timed]
        turns = _turns([ts for ts, _ in timed], answers)
        last_turn = turns[-1]
        chances: dict[str, float] = {ORDERED: 0.0} if ordered else {}  # type → chance that none of its evidence holds
        shown: dict[str, list[tuple[float, str]]] = {}
        repeats: dict[tuple[str, str], int] = {}

        strongest: dict[str, float] = {}  # type → its strongest single piece of evidence
        first: dict[str, int] = {}  # type → the turn its evidence first showed in

        def weigh(clue: Clue, turn: int) -> None:
            strongest[clue.type] = max(strongest.get(clue.type, 0.0), clue.strength)
            first[clue.type] = min(first.get(clue.type, turn), turn)
            seen = repeats.get((clue.type, clue.key), 0)
            repeats[(clue.type, clue.key)] = seen + 1
            recency = OLD_SHARE + (1.0 - OLD_SHARE) * FADE ** (last_turn - turn)
            strength = clue.strength * recency * REPEAT_FACTOR**seen
            chances[clue.type] = chances.get(clue.type, 1.0) * (1.0 - strength)
            if clue.shown:
                shown.setdefault(clue.type, []).append((strength, clue.shown))

        offered = False  # the message before made a haggling offer
        for turn, signals in zip(turns, read):
            for clue in signals.clues:
                if not (offered and clue.type in IN_OFFER):
                    weigh(clue, turn)
            # A gift asked for, or a purchase promised, in the message after a haggling offer (能少点吗, then 那送点
            # 小礼物吧) is the offer's next step, as inside one message (type_evidence.IN_OFFER): the haggle's.
            offered = any(c.type == "bargainer" and c.strength >= PATTERN for c in signals.clues)
        for clue, turn in _waiting(timed, read, turns, answers):
            weigh(clue, turn)
        if past and RETURNING in self._types:
            weigh(Clue(RETURNING, PAST_ORDERS, "past orders", ""), last_turn)  # a standing fact: never faded
        score = {t: 1.0 - miss for t, miss in chances.items() if t != ORDERED}
        for t, piece in strongest.items():
            if t in score and piece <= WEAK_ONLY:
                score[t] = min(score[t], WEAK_CAP)  # weak words alone lean towards a type, never name it
        decided = self._decide(score, shown, first)
        if ORDERED in chances and decided.type == DEFAULT_TYPE:
            # A customer who has ordered is no stranger: not named so, and not given the welcome track.
            words = [*decided.evidence, *_words(shown, ORDERED)]
            return self._result(DEFAULT_TYPE, decided.confidence, words, sure=False, ordered=True)
        if ORDERED in chances and decided.type not in TRACK_AFTER_ORDER:
            default = self._types.get(DEFAULT_TYPE)
            if default is not None and default.ordered_script:
                return replace(decided, script=default.ordered_script)
        return decided

    def _decide(
        self, score: Mapping[str, float], shown: Mapping[str, list[tuple[float, str]]], first: Mapping[str, int]
    ) -> CustomerType:
        """Name the best-supported type when its evidence is clear; otherwise the default, sure or not."""
        named = {t: s for t, s in score.items() if t != DEFAULT_TYPE}
        plain = score.get(DEFAULT_TYPE, 0.0)
        best = max(named, key=lambda t: (named[t], -ORDER.get(t, 99)), default=None)
        if best is not None and named[best] >= SURE:  # of the types it names, the one shown first when close
            close = [t for t in named if named[t] >= SURE and named[best] - named[t] < TIE]
            best = min(close, key=lambda t: (first.get(t, 0), -named[t], ORDER.get(t, 99)))
        if best is None or named[best] < FAINT or plain >= named[best]:
            # Nothing points elsewhere, or the customer says they are new: the default type, named with confidence.
            return self._result(DEFAULT_TYPE, max(0.5, plain), _words(shown, DEFAULT_TYPE))
        narrower = NARROWER.get(best)
        if narrower is not None and named.get(narrower, 0.0) >= SURE:
            best = narrower  # a threat to walk comes with haggling: the haggling does not make it a mere bargainer
        if best == PRICE_THREAT and not any(_PRICE.search(w) for _, w in shown.get(best, ())):
            # The seeds' threat is over the price (就这个价格啦…不行我就去别家): one with no price in it, in a
            # conversation without haggling, presses for what else the buyer asked (能就拍 不能我换一家 after
            # 今天能发吗 wants the time, not the price held): that type's track answers it.
            pressed = [t for t in named if t not in HAGGLING and t != best and named[t] >= SURE]
            if pressed and not any(named.get(t, 0.0) > 0.0 for t in HAGGLING):
                best = max(pressed, key=lambda t: (named[t], -ORDER.get(t, 99)))
        if named[best] < SURE:
            return self._result(DEFAULT_TYPE, 1.0 - named[best], _words(shown, best), sure=False)
        runner_up = max((s for t, s in score.items() if t != best), default=0.0)
        margin = max(0.0, named[best] - runner_up)
        # A close runner-up lowers the confidence shown, never below the strength at which a type is named:
        # the badge's percentage of a named type is not one the docs call "not sure".
        discounted = named[best] * (0.75 + 0.25 * min(1.0, margin / 0.3))
        rival = _rival(named, best)
        if rival is None:
            return self._result(best, max(SURE, discounted), _words(shown, best))
        # A near tie: the badge shows both types, and the words of each.
        decided = self._result(best, max(SURE, discounted), [*_words(shown, best), *_words(shown, rival)])
        spec = self._types.get(rival)
        return replace(decided, rival=rival, rival_label=spec.label if spec else rival)


def _rival(named: Mapping[str, float], best: str) -> str | None:
    """A named type whose evidence is within `TIE` of the leading one's: a near tie the badge does not hide.

    A broader type beside its narrower one is no tie (a threat to walk comes with haggling).
    """
    close = [
        t
        for t, s in named.items()
        if t != best
        and s >= SURE
        and abs(named[best] - s) < TIE
        and NARROWER.get(t) != best
        and NARROWER.get(best) != t
    ]
    return max(close, key=lambda t: (named[t], -ORDER.get(t, 99)), default=None)


def _words(shown: Mapping[str, list[tuple[float, str]]], type_id: str) -> list[str]:
    """The buyer's words that point to a type, the strongest first."""
    return [w for _, w in sorted(shown.get(type_id, ()), key=lambda s: -s[0])]


def _waiting(
    timed: Sequence[tuple[int, str]],
    read: Sequence[MessageSignals],
    turns: Sequence[int],
    answers: Sequence[int] | None,
) -> list[tuple[Clue, int]]:
    """Impatience shown by time: asking again after a wait for an answer (known replies), or 在吗 turn after turn."""
    clues: list[tuple[Clue, int]] = []
    turn_start = 0
    for i, ((ts, text), signals, turn) in enumerate(zip(timed, read, turns)):
        if i == 0 or turn != turns[i - 1]:
            turn_start = i
            if answers is None and turn > 0 and (signals.presence or (signals.nudge and not signals.form)):
                clues.append((Clue("impatient", UNANSWERED_PRESENCE, f"presence@{turn}", _head(text)), turn))
            continue
        if answers is None:
            continue
        asked_again = signals.nudge or (
            len(signals.form) >= 2 and any(read[j].form == signals.form for j in range(turn_start, i))
        )
        wait = ts - timed[turn_start][0]
        if asked_again and wait >= WAIT_MS:
            extra = 0.2 * min(1.0, (wait - WAIT_MS) / (LONG_WAIT_MS - WAIT_MS))
            clues.append((Clue("impatient", WAIT_STRENGTH + extra, f"wait@{turn}", _head(text)), turn))
    return clues


def _turns(stamps: Sequence[int], answers: Sequence[int] | None) -> list[int]:
    """The turn of each customer message: a new one after an agent's reply (or, replies unknown, after a pause)."""
    turns: list[int] = []
    turn = 0
    for i, ts in enumerate(stamps):
        if i > 0:
            previous = stamps[i - 1]
            if answers is None:
                new = ts - previous > TURN_GAP_MS
            else:
                new = bisect_left(answers, ts) > bisect_left(answers, previous)  # a reply at or after the last message
            turn += new
        turns.append(turn)
    return turns


def _timed(messages: Sequence[Any]) -> list[tuple[int, str]]:
    """Messages with text, their times made usable: a missing or backward time is the previous one.

    Any item is looked at (typed so: compiled, a declared item type would be enforced before the checks here).
    """
    out: list[tuple[int, str]] = []
    last = None
    for item in messages:
        try:
            ts, text = item
        except (TypeError, ValueError):
            continue
        if not isinstance(text, str):
            continue
        if not _is_ms(ts):
            ts = last if last is not None else 0
        if last is not None and ts < last:
            ts = last
        out.append((ts, text))
        last = ts
    return out


def _is_ms(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _head(text: str) -> str:
    """The start of a message, as shown for a re-ask."""
    return text.strip()[:SHOWN_CHARS]


def _distinct(evidence: Sequence[str]) -> tuple[str, ...]:
    """Each piece of evidence once, leaving out words already shown inside a longer one (别家 in 别家才卖)."""
    unique = list(dict.fromkeys(e for e in evidence if e))
    return tuple(e for e in unique if not any(e != other and e in other for other in unique))
