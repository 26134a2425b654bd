"""What one customer message says about the customer's type: cue words on word boundaries, read in context."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import rjieba

from assistant.suggest.pattern_anchors import AnchorIndex
from assistant.suggest.textnorm import RELEASED, Analysis, Normalizer
from assistant.suggest.vocabulary import NUMBER, CustomerTypeSpec, TypeCues

# How much one piece of evidence says, 0–1; a type's pieces combine as independent chances.
STRONG = 0.7  # settles the type on its own
CUE = 0.45  # points to it: names it unless other evidence weighs more
WEAK = 0.2  # leans towards it: names it only together with other evidence
PATTERN = 0.5
INTENT = 0.2  # an intent's key words tied to the type ([types.<id>] intents in intents.toml)
ORDERED = "ordered"  # not a type: the customer's words show they have ordered (收到了, 退款)
# Cues match whole segmenter words only ("送" is not in 送到, "数据" is not in 数据线, "优惠" is not in 优惠券).
# A negation just before a cue undoes it (不急, 没那么着急); up to one degree word may stand between.
NEGATORS = frozenset({"不", "没", "别", "不用", "不要", "无需", "没有", "不必", "不是", "并不", "也不", "都不", "不太"})
# ... and so does a dismissal right after it, in the same clause (预算不用考虑, 价格没问题, 我要求不高), or words left
# unread (参数没细看就是喜欢: no interest in the specifications).
_DISMISSED = re.compile(
    r"(?:的话|方面|这块|这方面|上|也|都|就|倒|倒是|还)?(?:不用考虑|不考虑|没问题|不是问题|无所谓|不重要|不在乎|不用管|不高|不严"
    r"|(?:没|没有|不用|不)(?:仔细|细)?看(?!到|见|懂|明白|清))"
)
# A purchase told of someone else (我同事在你家买过, 她之前买过) is no sign of a returning buyer: the person
# named last before it decides; 我 alone is the buyer.
_PERSON = re.compile(
    r"我?(?:同事|朋友|闺蜜|室友|同学|老公|老婆|对象|男朋友|女朋友|妈妈|妈|爸爸|爸|家里人|家人|姐姐|姐|妹妹|妹|哥哥|哥"
    r"|弟弟|弟|亲戚|邻居|领导|别人)|(?<!其)[她他](?!们家)|我"
)
# A gift promised or missing (说好送的赠品没有, 赠品没收到) is owed on an order: a complaint, not a wish for extras.
_PROMISED = re.compile(r"(?:说好|答应|承诺|不是说|说了)")
_MISSING = re.compile(
    r"(?:呢|的)?(?:没有|没收到|没给|没送|没发|没到|没看到|没见到|没见|不见|少了|漏了|忘了|忘记)(?![吗么嘛])"
)
# 满299减30 is the shop's own promotion read out, not a cut asked for.
_PROMOTION = re.compile(r"满[0-9零一二两三四五六七八九十百千]+(?:块|元)?$")
HOW_ABOUT = frozenset({"那", "还是", "那就", "或者", "不然"})  # words before 要不 when it means "how about"
DEGREE = frozenset({"很", "太", "那么", "这么", "是", "特别", "怎么", "一点", "有点", "是很", "算"})
# Doubt and threats are often phrased with a negation (不会是假的吧, 不降我就走).
NEGATION_KEEPS = frozenset({"suspicious", "pressuring"})
# What a haggling offer holds is the offer's: its gift (包邮加送小样行不), the purchase it promises (包邮我立马下单).
IN_OFFER = frozenset({"freebie", "impulsive"})
# Politeness and questions soften a demand (不好意思，我要求换一个可以吗).
POLITE = ("不好意思", "麻烦", "请问", "请", "谢谢", "辛苦", "拜托", "打扰", "抱歉", "劳驾", "受累")
ASKING = ("吗", "么", "可以不", "可不可以", "能不能", "行不行", "好不好", "是不是", "要不要")
SOFTENED = {"demanding": 0.35}
# ... and a polite word softens "let me think it over" (好的，我考虑一下，谢谢; 那我先看看别的，谢谢): the courteous way a
# stranger takes leave, below the strength that names a type alone; a second sign of doubt still names it.
POLITE_SOFTENED = {"hesitant": 0.55}
# A message that only checks someone is there; with a wait before it, it is a re-ask.
PRESENCE = ("在吗", "在么", "在嘛", "在不在", "在不", "有人吗", "有人么", "有人没", "有没有人", "人呢", "还在吗", "还在么",
            "客服呢", "客服在吗", "在线吗", "人在吗", "都不在吗")  # fmt: skip
NUDGES = ("你好", "您好", "hello", "hi", "喂", "回复一下", "回一下", "回复", "回我", "理我一下", "看到了吗", "看到没")
ONLY_CHARS = 10  # a message longer than this says more than 在吗
FOLD_CACHE = 8192  # characters whose folded form is remembered
_BREAK = re.compile(r"[，,。!?;；~～…、\s]|\.(?!\d)")  # in folded text (full-width marks are folded)
_QUESTION_MARKS = re.compile(r"[?？]")
_SPACE = re.compile(r"\s+")
_PUNCTUATION = re.compile(r"[，,。!?;；~～…、]|\.(?!\d)")  # the breaks of `_BREAK` but spaces
_WORD = re.compile(r"\w")
_NON_WORD = re.compile(r"[\W_]+")
# A named price asked to be accepted: 70块行不行, 两件50可以吗, 一百元卖不卖. A unit other than money (38码, 3天) rules it out.
_OFFER = re.compile(
    r"(?<![0-9a-z.:：])(?:[0-9]{2,6}(?:\.[0-9]{1,2})?(?:块钱|块|元|rmb)?|[0-9](?:\.[0-9]{1,2})?(?:块钱|块|元|rmb)"
    r"|[一二两三四五六七八九十百千]+(?:块钱|块|元)|[一二两三四五六七八九]?[十百千][一二两三四五六七八九十]*)"
    r"\s*(?:包邮|到手)?\s*(?:的话)?\s*"
    r"(?:行不行|行吗|行么|行不|可以吗|可以么|可以不|可不可以|能不能卖|能卖吗|卖不卖|卖吗|卖么|出不出|出吗|成不成|成吗|成交"
    r"|拿走|好不好|能行吗|能拍吗|我就拍|就拍|我就买|就买|我就要|卖我|给我吧|吧|呗)"
)


@dataclass(frozen=True)
class Clue:
    """One piece of evidence for a type in a message, with the buyer's own words that show it."""

    type: str
    strength: float
    key: str  # what makes two clues the same (the cue or pattern): a repeat adds less
    shown: str  # the words as the buyer wrote them; "" when they cannot be pointed at


@dataclass(frozen=True)
class MessageSignals:
    """What one message says about the customer's type, independent of the other messages."""

    clues: tuple[Clue, ...]
    presence: bool  # nothing but a check that someone is there (在吗, 人呢)
    nudge: bool  # a presence check or a bare nudge (你好？, ？？): a re-ask after a wait
    form: str  # its words without punctuation or spaces: the same form again is the same question asked again


@dataclass(frozen=True)
class Cue:
    """One normalized cue word of a type; `regex` is set when it holds a "#" number slot."""

    text: str
    type: str
    strength: float
    regex: re.Pattern[str] | None = None


class CueSpotter:
    """Finds the types' cue words in a segmented text, on word boundaries; a hit inside a longer hit does not count.

    A word boundary is where the segmenter cuts, with or without its guesses at unknown words (guessing, it
    keeps 没揽收 whole; without, it cuts 没/揽/收): a cue may start and end at either. Kept in one place so
    that it can follow the suggestion engine's key words when they match the same way.
    """

    def __init__(self, cues: Iterable[Cue], exclusions: Mapping[str, tuple[str, ...]] | None = None) -> None:
        # `[words.exclusions]` in normalized form: a cue is never read inside these longer words (选哪个 in 选哪个码).
        self._exclusions = exclusions or {}
        best: dict[tuple[str, str], Cue] = {}
        for cue in cues:
            known = best.get((cue.text, cue.type))
            if known is None or known.strength < cue.strength:
                best[(cue.text, cue.type)] = cue
        self.cues = sorted(best.values(), key=lambda c: (-len(c.text), -c.strength, c.text))
        self._by_text: dict[str, list[Cue]] = {}
        # Cues with a number slot, by regex; one that ends in the slot may run into its measure word (再来两袋).
        self._slotted: list[tuple[Cue, re.Pattern[str], bool]] = []
        for cue in self.cues:
            if cue.regex is not None:
                self._slotted.append((cue, cue.regex, cue.text.endswith("#")))
            else:
                self._by_text.setdefault(cue.text, []).append(cue)
        # One search tells whether any of them can match (most texts have none).
        self._any_slotted = re.compile("|".join(r.pattern for _, r, _ in self._slotted)) if self._slotted else None
        # Cues are looked up by the text between two word boundaries, up to the longest cue.
        self._longest = max(map(len, self._by_text), default=0)

    def hits(self, analysis: Analysis) -> list[tuple[int, int, Cue]]:
        """(start, end, cue) in `analysis.compact`, longest first, each starting and ending on a word boundary."""
        compact = analysis.compact
        if not compact:
            return []
        bounds = _bounds(analysis.tokens) | _bounds(rjieba.cut(compact, False))
        ordered = sorted(bounds)
        found: list[tuple[int, int, Cue]] = []
        longest = self._longest
        by_text = self._by_text
        for i, start in enumerate(ordered):
            for end in ordered[i + 1 :]:
                if end - start > longest:
                    break
                cues = by_text.get(compact[start:end])
                if cues and not self._excluded(compact, start, end, compact[start:end]):
                    found.extend((start, end, cue) for cue in cues)
        slotted = self._slotted if self._any_slotted is not None and self._any_slotted.search(compact) else ()
        for cue, regex, open_end in slotted:
            for match in regex.finditer(compact):
                at, stop = match.span()
                if at in bounds and (open_end or stop in bounds) and not self._excluded(compact, at, stop, cue.text):
                    found.append((at, stop, cue))
                    break
        found.sort(key=lambda f: (f[0] - f[1], -f[2].strength, f[0]))
        kept: list[tuple[int, int, Cue]] = []
        seen: set[tuple[str, str]] = set()
        for start, end, cue in found:
            if (cue.text, cue.type) in seen:
                continue  # a cue counts once per clause
            if any(s <= start and end <= e and (e - s) > (end - start) for s, e, _ in kept):
                continue
            seen.add((cue.text, cue.type))
            kept.append((start, end, cue))
        return kept

    def _excluded(self, compact: str, start: int, end: int, word: str) -> bool:
        """Whether `word` (a cue, "#" a number slot) at `compact[start:end]` lies inside one of its longer
        excluded words there."""
        for longer in self._exclusions.get(word, ()):
            at = compact.find(longer, max(0, end - len(longer)))
            if 0 <= at <= start:
                return True
        return False


def _bounds(words: Iterable[str]) -> set[int]:
    """Where words start and end in the text they join into."""
    bounds = {0}
    at = 0
    for word in words:
        at += len(word)
        bounds.add(at)
    return bounds


class EvidenceReader:
    """Reads the type evidence of one message: cues, patterns, named prices, negation and politeness; pure."""

    def __init__(
        self,
        types: Mapping[str, CustomerTypeSpec],
        normalizer: Normalizer,
        extra: Mapping[str, TypeCues] | None = None,
        intent_evidence: Callable[[Analysis, str], Mapping[str, float]] | None = None,
        exclusions: Mapping[str, tuple[str, ...]] | None = None,
        spoken: Callable[[str], str | None] | None = None,
    ) -> None:
        self._normalizer = normalizer
        self._intent_evidence = intent_evidence
        # The message without pasted cards, listings and emoticon codes (folded); None when it has none.
        self._spoken = spoken
        cues: list[Cue] = []
        patterns: list[tuple[re.Pattern[str], str, str]] = []
        intent_types: dict[str, list[str]] = {}
        for spec in types.values():
            for words, strength in ((spec.strong, STRONG), (spec.cues, CUE), (spec.weak, WEAK)):
                cues += [c for c in (self._cue(w, spec.id, strength) for w in words) if c is not None]
            cues += [c for c in (self._cue(w, ORDERED, 1.0) for w in spec.ordered) if c is not None]
            patterns += _compiled(spec.id, spec.patterns)
        for extra_spec in (extra or {}).values():
            cues += [c for c in (self._cue(w, extra_spec.id, CUE) for w in extra_spec.cues) if c is not None]
            patterns += _compiled(extra_spec.id, extra_spec.patterns)
            for intent in extra_spec.intents:
                intent_types.setdefault(intent, []).append(extra_spec.id)
        self.spotter = CueSpotter(cues, exclusions)
        self._fold = lru_cache(maxsize=FOLD_CACHE)(self._fold_char)  # one character at a time, to show words
        self._patterns = patterns
        # The patterns whose anchors a text holds, found in one scan: most texts leave none to search.
        self._anchors = AnchorIndex(p for p, _, _ in patterns)
        self._intent_types = intent_types
        self._presence = tuple(sorted({self._form(p) for p in PRESENCE} - {""}, key=len, reverse=True))
        self._nudges = tuple(sorted({self._form(p) for p in (*PRESENCE, *NUDGES)} - {""}, key=len, reverse=True))

    def _form(self, text: str) -> str:
        return _NON_WORD.sub("", self._normalizer.fold(text))

    def _cue(self, raw: str, type_id: str, strength: float) -> Cue | None:
        parts = [self._normalizer.normalize(part) for part in raw.split("#")]
        if not "".join(parts):
            return None
        if len(parts) == 1:
            return Cue(parts[0], type_id, strength)
        regex = re.compile(NUMBER.join(re.escape(p) for p in parts))
        return Cue("#".join(parts), type_id, strength, regex)

    def release(self) -> None:
        """Let go of the cache and the cycle it makes (`textnorm.RELEASED`)."""
        self._fold.cache_clear()
        self._fold = RELEASED

    def read(self, text: str) -> MessageSignals:
        """The signals of one raw customer message."""
        # The whole message is normalized and segmented once, as for its suggestions (the same cached analysis).
        analysis = self._normalizer.analyze(text)
        clues = self._clues(text, analysis, text)
        spoken = self._spoken(text) if self._spoken is not None else None
        if spoken is not None:
            # A pasted card or listing title (【官方正品】…, 316不锈钢 …) is the shop's wording, not the buyer's: the
            # type is read from the rest, as the suggestions are. An order card still shows an order exists.
            own = self._clues(spoken, self._normalizer.analyze_folded(spoken), text)
            clues = [c for c in clues if c.type == ORDERED] + [c for c in own if c.type != ORDERED]
        # A picture sent again ([图片], [图片]) is no question asked again: the form is of the buyer's own words.
        form = _NON_WORD.sub("", analysis.folded if spoken is None else spoken)
        return MessageSignals(
            clues=tuple(clues),
            presence=_only(form, self._presence),
            nudge=(not form and bool(_QUESTION_MARKS.search(text))) or _only(form, self._nudges),
            form=form,
        )

    def _clues(self, text: str, analysis: Analysis, shown_in: str) -> list[Clue]:
        """The clues of `text` (`analysis` is its own), its words shown as `shown_in` has them."""
        clues: list[Clue] = []
        polite = any(p in text for p in POLITE)
        clauses = list(_clauses(analysis))
        # Two clauses apart by a space alone may be one sentence typed with a pause (还没看详情 就是喜欢): a pattern
        # is also read over the two together.
        spaced = _spaced(analysis.folded, clauses)
        # A pattern that matches no clause does not match them all together: only those whose anchors the clauses
        # hold are looked at, and of those, with several clauses, only those found in them all together.
        joined = "\n".join([*(clause.folded for clause, *_ in clauses), *(a + b for a, b in spaced)])
        patterns = [self._patterns[n] for n in self._anchors.candidates(joined)]
        if len(clauses) > 1:
            patterns = [p for p in patterns if p[0].search(joined)]
        for clause, asking, _, _ in clauses:
            clues += self._clause(shown_in, clause, polite, asking, patterns)
        for before, after in spaced:
            clues = self._across(shown_in, before, after, polite, patterns, clues)
        if self._intent_evidence is not None and self._intent_types:
            for intent, strength in self._intent_evidence(analysis, text).items():
                for type_id in self._intent_types.get(intent, ()):
                    clues.append(Clue(type_id, INTENT * min(1.0, strength), f"intent:{intent}", ""))
        return clues

    def _clause(
        self,
        text: str,
        analysis: Analysis,
        polite: bool,
        asking: bool,
        patterns: Sequence[tuple[re.Pattern[str], str, str]],
    ) -> list[Clue]:
        """The clues of one clause (`analysis` covers the clause alone); words are shown as `text` has them."""
        out: list[tuple[Clue, str]] = []  # each clue with the words it covers (compact form)
        starts = _token_starts(analysis.tokens)
        for start, end, cue in self.spotter.hits(analysis):
            if cue.type not in NEGATION_KEEPS and (
                _negated(analysis.tokens, starts, start) or _DISMISSED.match(analysis.compact, end)
            ):
                continue
            if _not_the_buyers(cue.type, analysis.compact[:start]):
                continue
            if cue.type == "freebie" and _owed(analysis.compact[:start], analysis.compact, end):
                shown = self._shown(text, analysis.compact[start:end])
                out.append((Clue(ORDERED, 1.0, "owed gift", shown), analysis.compact[start:end]))
                continue
            strength = cue.strength
            if cue.type in SOFTENED and (polite or asking):
                strength *= SOFTENED[cue.type]
            elif polite and cue.type in POLITE_SOFTENED:
                strength *= POLITE_SOFTENED[cue.type]
            words = analysis.compact[start:end]
            out.append((Clue(cue.type, strength, cue.text, self._shown(text, words)), words))
        folded = analysis.folded
        for pattern, type_id, source in patterns:
            found = pattern.search(folded)
            if found is None or (type_id not in NEGATION_KEEPS and _DISMISSED.match(folded, found.end())):
                continue
            if _not_the_buyers(type_id, folded[: found.start()]):
                continue
            if type_id == "freebie" and _owed(folded[: found.start()], folded, found.end()):
                continue
            words = _NON_WORD.sub("", found.group(0))
            if not words:
                continue
            strength = PATTERN * (SOFTENED[type_id] if type_id in SOFTENED and (polite or asking) else 1.0)
            if polite and type_id in POLITE_SOFTENED:
                strength *= POLITE_SOFTENED[type_id]
            # Overlapping words are one piece of evidence, as strong as the strongest reading of them.
            same = [(c, w) for c, w in out if c.type == type_id and _overlap(w, words)]
            if any(c.strength >= strength for c, _ in same):
                continue
            out = [item for item in out if item not in same]
            out.append((Clue(type_id, strength, source, locate(text, words, self._fold)), words))
        # A gift asked for inside a haggling offer (包邮加送小样行不: no cut, then the gift instead) is the haggler's
        # next step (the seeds: a buyer who will not let the price go is given a small gift), and the purchase it
        # promises (包邮我立马下单, 少10块马上拍) its condition, no impulse: one piece of evidence with the offer.
        offers = [w for c, w in out if c.type == "bargainer" and c.strength >= PATTERN]
        clues = [clue for clue, w in out if not (clue.type in IN_OFFER and any(w in o for o in offers))]
        offer = _OFFER.search(folded)
        if offer is not None:
            clues.append(Clue("bargainer", CUE + 0.1, "named price", locate(text, offer.group(0), self._fold)))
        return clues

    def _across(
        self,
        text: str,
        before: str,
        after: str,
        polite: bool,
        patterns: Sequence[tuple[re.Pattern[str], str, str]],
        clues: list[Clue],
    ) -> list[Clue]:
        """`clues` with those of patterns read over two clauses apart by a space alone, running from one into the
        other; a pattern already found in either clause, or another reading of the same words, adds nothing."""
        folded = before + after
        for pattern, type_id, source in patterns:
            found = next((f for f in pattern.finditer(folded) if f.start() < len(before) < f.end()), None)
            if found is None or any(c.key == source for c in clues):
                continue
            if type_id not in NEGATION_KEEPS and _DISMISSED.match(folded, found.end()):
                continue
            if _not_the_buyers(type_id, folded[: found.start()]) or type_id == "freebie":
                continue  # a gift asked for or owed is told apart within one clause
            shown = locate(text, found.group(0), self._fold)
            if not shown:
                continue
            strength = PATTERN
            if polite and type_id in POLITE_SOFTENED:
                strength *= POLITE_SOFTENED[type_id]
            elif type_id in SOFTENED and (polite or _clause_asks(after)):
                strength *= SOFTENED[type_id]
            # Words of the same type inside the pattern's are one piece of evidence with it, as in one clause.
            same = [c for c in clues if c.type == type_id and c.shown and c.shown in shown and c.strength <= strength]
            clues = [c for c in clues if c not in same]
            clues.append(Clue(type_id, strength, source, shown))
        return clues

    def _shown(self, text: str, words: str) -> str:
        """`words` as the buyer wrote them, or the abbreviation that was expanded into them (pyd for 便宜点)."""
        shown = locate(text, words, self._fold)
        if shown:
            return shown
        for written in self._normalizer.written_as(words):
            shown = locate(text, written, self._fold)
            if shown:
                return shown
        return ""

    def _fold_char(self, ch: str) -> str:
        return self._normalizer.fold(ch) if ch.strip() else ""


def _clauses(analysis: Analysis) -> Iterable[tuple[Analysis, bool, int, int]]:
    """The clauses of a message (split at punctuation and spaces), each with whether it asks something and where
    it starts and ends in the folded text."""
    folded = analysis.folded
    tokens: list[str] = []
    first = last = at = 0
    for token in analysis.tokens:
        found = folded.find(token, at)
        if found < 0:  # a word that lost a character in cleaning (1.5 → 15): keep it in the current clause
            tokens.append(token)
            continue
        if tokens and _BREAK.search(folded, last, found):
            yield _clause_of(folded, tokens, first, last)
            tokens = []
        if not tokens:
            first = found
        tokens.append(token)
        at = last = found + len(token)
    if tokens:
        yield _clause_of(folded, tokens, first, last)


def _clause_of(folded: str, tokens: list[str], start: int, end: int) -> tuple[Analysis, bool, int, int]:
    text = folded[start:end]
    asking = "?" in folded[end : end + 2] or _clause_asks(text)
    return Analysis(folded=text, tokens=tuple(tokens), compact="".join(tokens)), asking, start, end


def _clause_asks(text: str) -> bool:
    plain = text.replace("什么", "")  # the 么 of 什么 asks nothing (凭什么, 什么态度)
    return any(a in plain for a in ASKING)


def _spaced(folded: str, clauses: Sequence[tuple[Analysis, bool, int, int]]) -> list[tuple[str, str]]:
    """Each two neighbouring clauses split by a space alone, as folded text up to the space and after it (words
    left out of the clauses, 就是 in 还没看详情 就是喜欢, are kept; the spaces are not)."""
    pairs: list[tuple[str, str]] = []
    for (_, _, start, end), (_, _, next_start, next_end) in zip(clauses, clauses[1:]):
        gap = folded[end:next_start]
        space = _SPACE.search(gap)
        if space is None or _PUNCTUATION.search(gap):
            continue
        before = folded[start : end + space.start()]
        pairs.append((before, _SPACE.sub("", folded[end + space.end() : next_end])))
    return pairs


def _compiled(type_id: str, patterns: Sequence[str]) -> list[tuple[re.Pattern[str], str, str]]:
    out = []
    for pattern in patterns:
        try:
            out.append((re.compile(pattern), type_id, pattern))
        except re.error:
            continue  # the library rejects bad patterns at load; a hand-built spec may not have been checked
    return out


def _only(form: str, words: Sequence[str]) -> bool:
    """`form` is made of these words alone (with at most two other characters)."""
    if not form or len(form) > ONLY_CHARS:
        return False
    rest = form
    for word in words:
        rest = rest.replace(word, "")
    return len(rest) < len(form) and len(rest) <= 2


def _not_the_buyers(type_id: str, before: str) -> bool:
    """Words that read as another's purchase (我朋友在你家买过) or the shop's promotion (满299减30), not the buyer's."""
    if type_id == "returning":
        people = _PERSON.findall(before)
        return bool(people) and people[-1] != "我"
    return type_id == "bargainer" and bool(_PROMOTION.search(before))


def _owed(before: str, text: str, end: int) -> bool:
    """A gift the buyer says was promised (说好送的) or is missing (赠品没收到): owed on an order, not asked for."""
    return bool(_PROMISED.search(before)) or _MISSING.match(text, end) is not None


def _overlap(a: str, b: str) -> bool:
    """Two readings of the same words: one inside the other, or sharing two characters where they meet."""
    if a in b or b in a:
        return True
    return any(a.endswith(b[:n]) or b.endswith(a[:n]) for n in range(2, min(len(a), len(b))))


def _token_starts(tokens: Sequence[str]) -> dict[int, int]:
    """Token index by the position it starts at in the compact text."""
    starts: dict[int, int] = {}
    at = 0
    for n, token in enumerate(tokens):
        starts[at] = n
        at += len(token)
    return starts


def _negated(tokens: Sequence[str], starts: Mapping[int, int], start: int) -> bool:
    """A negation word right before the hit, or one degree word before it (不急, 没那么急, 不是很着急)."""
    index = starts.get(start)
    if index is None:
        return False
    before = tokens[max(0, index - 2) : index]
    if len(before) == 2 and tuple(before) == ("要", "不") and (index == 2 or tokens[index - 3] in HOW_ABOUT):
        return False  # 要不 opening a clause is "how about" (要不先不买了), not a negation of what follows
    if before and before[-1] in NEGATORS:
        return True
    return len(before) == 2 and before[0] in NEGATORS and before[1] in DEGREE


def locate(raw: str, words: str, fold: Callable[[str], str]) -> str:
    """The stretch of `raw` that reads as `words` once folded (case, width, traditional forms, spaces); or ""."""
    target = _NON_WORD.sub("", words)
    if not target:
        return ""
    if target in raw:
        return target
    chars: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(raw):
        for c in fold(ch):
            if c.isalnum():
                chars.append(c)
                where.append(i)
    at = "".join(chars).find(target)
    if at < 0:
        return ""
    return raw[where[at] : where[at + len(target) - 1] + 1]
