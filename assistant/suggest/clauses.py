"""Clauses of a customer message: pasted cards apart, social words split off, the informative part kept."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import rjieba

from assistant.suggest.keywords import STRONG_WEIGHT, KeywordSpotter
from assistant.suggest.textnorm import Analysis, Normalizer
from assistant.suggest.vocabulary import ClauseSpec

# A clause runs to its closing punctuation (folded text: ASCII marks, 。 and 、 stay); a full stop or comma
# between digits belongs to a number (7.5折, 1,299).
_CLAUSE = re.compile(r"(?:[0-9][.,:](?=[0-9])|[^!?;:~…、。.,\n])+[!?;:~…、。.,\n]*")
# A space separates clauses unless it stands between two Latin letters or digits ("iphone 12 pro").
_SPACE = re.compile(r"(?<![a-z0-9])\s+|\s+(?![a-z0-9])")
# Codes that stand for an emoticon or a hidden value: [微笑], [数字x], #e-s14.
_CODE = re.compile(r"\[[^\[\]\n]{1,10}\]|#e-[a-z]?\d{1,3}")
# A Taobao share text (淘口令) pasted whole: its sign (【淘宝】), its code (¥AbCd1234¥, CZ0001), the item's title in
# 「」 or 【】 and the instructions around them (点击链接直接打开, 复制这条信息…打开手机淘宝): the app's and the shop's
# words, not the buyer's (a title's 316不锈钢 is no expert's spec, its 宽松 no size question). Folded text.
_SHARE_SIGN = re.compile(
    r"【(?:手机)?(?:淘宝|天猫|闲鱼|淘特)】|[¥$€][0-9a-z]{8,14}[¥$€]|点击链接直接打开|复制这条信息|淘宝搜索直接打开"
)
_SHARE = re.compile(
    r"【[^【】\n]{1,60}】|「[^「」\n]{1,60}」|[0-9]?[¥$€][0-9a-z]{8,14}[¥$€]|(?<![0-9a-z])[a-z]{2}[0-9]{4}(?![0-9a-z])"
    r"|点击链接直接打开|(?:或者\s*)?淘宝搜索直接打开|复制这条信息|(?:打开|去)(?:手机)?(?:淘宝|天猫)(?:app)?|即可看到|直接打开"
)
# A link to an item's page, or the app's card of an item ([商品], [宝贝], [链接]), on the folded text: the buyer shows
# an item. Sent alone (or with a greeting, with its share text or listing), it reads as ITEM_SHOWN.
_ITEM = re.compile(
    r"item\.taobao\.com|tmall\.com/item|m\.tb\.cn/|item\.jd\.com/|\[(?:商品|宝贝|链接|宝贝链接|商品链接)\]"
)
ITEM_SHOWN = "发你链接了"  # what a buyer sending an item alone means: the library answers it (asks what to tell)
_EMPTY = re.compile(r"^[\W_]*$")
_FRAGMENT = re.compile(r"呢[\W_]*$")
FRAGMENT_CHARS = 6  # a longer text ending in 呢 says something of its own (把人当傻子呢)


class Asking:
    """Whether a clause asks: one of the `[questions] markers` in it, outside the `unasked` words that only hold one
    (the 几 of 好几天 counts days, 几乎 is "almost": 等了好几天还不发货 tells, it does not ask how many days)."""

    def __init__(
        self,
        fold: Callable[[str], str],
        markers: tuple[str, ...],
        unasked: tuple[str, ...] = (),
        greetings: frozenset[str] = frozenset(),
    ) -> None:
        self.markers = ("?", *(m for m in map(fold, markers) if m))
        # A greeting read first keeps its own letters: 你好几天可以到 is 你好 and 几天能到, which asks.
        self._greetings = frozenset(g for g in greetings if any(w[:1] in g for w in unasked))
        words = sorted({*self._greetings, *(w for w in map(fold, unasked) if w)}, key=len, reverse=True)
        self._unasked = re.compile("|".join(map(re.escape, words))) if unasked else None

    def __call__(self, text: str) -> bool:
        if self._unasked is not None:
            text = self._unasked.sub(self._blank, text)
        return any(m in text for m in self.markers)

    def _blank(self, match: re.Match[str]) -> str:
        return match.group() if match.group() in self._greetings else " "


_WHAT_ABOUT = "那"  # 那红色呢, 那明天呢: "and what about …", the question asked before
_THIS = "这"  # 这个呢: "and this one?", after an earlier question
FRAGMENT_SURE = 0.8  # an "and the X?" fragment's own reading counts when this sure (结果呢 is a reminder)
_TRAILING = ",;~、…"
GRIEVANCES = (
    "complaint",
    "urge",
)  # intents of a complaint that may come beside the question asked now  # clause ends that say nothing (a "?" or "!" says something, and stays)

MAX_QUERY_CHARS = 300  # longer texts are matched on their head and tail
SOCIAL_MAX_CHARS = 16  # a clause longer than this (punctuation included) is never only a greeting or thanks
SOCIAL_SHARE = 0.5  # a clause is social when greeting/thanks key words cover at least this share of it
SOCIAL_WORDS_CHARS = 12  # ... and its words (punctuation dropped) are this short: a longer one says something
_ASKING = ("问", "咨询", "请教")  # a social clause with one of these asks (请问, 我想咨询一下): a question follows
_NEGATIONS = "不没"
_PRONOUNS = tuple("我你您他她它")  # 不好, 没用: a judgement negated is a verdict (那个不好), not a question
_UNDECIDED = "?"
SOCIAL = "social"
CARD = "card"
TEXT = "text"
PAUSE = "pause"  # fillers alone (额, 哈哈): nothing said, and no greeting or thanks either


@dataclass(frozen=True)
class Clause:
    """One clause as folded text and what it is: `text` (says something), `social`, `pause` or `card`."""

    text: str
    kind: str


@dataclass(frozen=True)
class Message:
    """A message split into clauses; `focus` is the text that decides its intent."""

    clauses: tuple[Clause, ...]
    focus: str
    has_card: bool

    @property
    def social_only(self) -> bool:
        """Nothing but greetings, thanks, pauses or cards."""
        return not any(c.kind == TEXT for c in self.clauses)


class ClauseSplitter:
    """Splits messages by the library's `[clauses]` data; `is_social` tells a greeting or thanks clause."""

    def __init__(
        self,
        spec: ClauseSpec,
        normalizer: Normalizer,
        is_social: Callable[[Analysis], bool],
        markers: tuple[str, ...] = (),
        exclusions: Mapping[str, tuple[str, ...]] | None = None,
        which: tuple[str, ...] = (),
        judgements: tuple[str, ...] = (),
        unasked: tuple[str, ...] = (),
    ) -> None:
        self._normalizer = normalizer
        self._exclusions = exclusions or {}  # `[words.exclusions]`: a closer in 花都谢了 is no thanks
        self._is_social = is_social
        # One alternation: a message is scanned once for every kind of card.
        self._cards = re.compile("|".join(f"(?:{p})" for p in spec.cards)) if spec.cards else None
        self._listings = re.compile("|".join(f"(?:{p})" for p in spec.listings)) if spec.listings else None
        self._openers = frozenset(normalizer.fold(w) for w in spec.openers)
        self._closers = frozenset(normalizer.fold(w) for w in spec.closers)
        self._edges = self._openers | self._closers
        self.asks = Asking(normalizer.fold, markers, unasked, self._openers)  # a listing's title never asks
        self._intensifiers = frozenset(normalizer.fold(w) for w in spec.intensifiers)
        self._fillers = frozenset(normalizer.fold(w) for w in normalizer.fillers)
        # `[questions] which`: 那个, 那种 … typed for 哪个, 哪种 (longest first); `judgements` end a "which" clause.
        forms = sorted({f for f in (normalizer.fold(w) for w in which) if f.startswith("那") and len(f) > 1}, key=len)
        self._which = re.compile("|".join(re.escape(f) for f in reversed(forms))) if forms else None
        self._judgements = tuple(j for j in (normalizer.fold(w) for w in judgements) if j)
        self._item_shown = normalizer.fold(ITEM_SHOWN)

    def split(self, text: str) -> Message:
        """The clauses of `text`, in order, and its focus: the clauses that say something, else all of it."""
        if self._normalizer.pictures_only(text):  # an emoji alone (👍, 👌) is a sticker: the agent looks at it
            return Message(clauses=(), focus="", has_card=False)
        whole = self._normalizer.fold(text)
        folded, has_card, listed = self._cut_pasted(whole)
        shown = listed or _ITEM.search(whole) is not None
        folded = _CODE.sub("", folded)
        clauses: list[Clause] = []
        for piece in _pieces(folded):
            clauses.extend(self._social_edges(piece))
        undecided = [n for n, c in enumerate(clauses) if c.kind == _UNDECIDED]
        for n in undecided:
            # Whether a clause only greets or thanks matters only beside another clause that may say more.
            # ... and a long clause says something of its own: only a short one is looked at.
            text = clauses[n].text
            short = len(undecided) > 1 and len(text) <= SOCIAL_MAX_CHARS
            said = short and self._is_social(self._normalizer.analyze_folded(text))
            clauses[n] = Clause(clauses[n].text, SOCIAL if said else TEXT)
        if self._which is not None:
            clauses = self._asking_which(clauses, self._which)
        if shown and not any(c.kind == TEXT for c in clauses):
            clauses.append(Clause(self._item_shown, TEXT))
        if has_card:
            clauses.append(Clause("", CARD))
        spoken = [c.text for c in clauses if c.kind == TEXT]
        social = [c.text for c in clauses if c.kind == SOCIAL]
        # Nothing but punctuation ("？？？") is still what the customer said.
        focus = "，".join(spoken or social) or folded.strip()
        return Message(clauses=tuple(clauses), focus=focus, has_card=has_card)

    def _asking_which(self, clauses: list[Clause], which: re.Pattern[str]) -> list[Clause]:
        """The clauses with 那 typed for 哪 read with 哪: those with no question marker that open with a `which`
        word and end in a judgement (那个颜色好看, 那款比较好), or hold one after an asking opener (请问|用那种)."""
        out: list[Clause] = []
        asked = False
        for clause in clauses:
            if clause.kind == SOCIAL:
                asked = asked or any(w in clause.text for w in _ASKING)
            elif clause.kind == TEXT and which.search(clause.text) and not self.asks(clause.text):
                opening = which.match(clause.text)
                # 那个我觉得挺好 judges "that one": a pronoun after the word says it points, not asks.
                opens = opening is not None and not clause.text[opening.end() :].startswith(_PRONOUNS)
                if asked or (opens and self._judged(clause.text)):
                    clause = Clause(which.sub(lambda m: "哪" + m.group(0)[1:], clause.text), TEXT)
            out.append(clause)
        return out

    def _judged(self, text: str) -> bool:
        """Whether a clause ends in a judgement of goods (好看, 合适), not negated (不好看)."""
        compact = self._normalizer.analyze_folded(text).compact
        for judgement in self._judgements:
            if compact.endswith(judgement):
                before = compact[: len(compact) - len(judgement)]
                return not before.endswith(tuple(_NEGATIONS))
        return False

    def spoken(self, text: str) -> str | None:
        """`text` folded, with the cards, item listings and emoticon or placeholder codes ([怀疑], [图片]) in it cut
        out; None when it has none."""
        folded = self._normalizer.fold(text)
        cut, pasted, _ = self._cut_pasted(folded)
        cut, codes = _CODE.subn("", cut)
        return cut if pasted or codes else None

    def _cut_pasted(self, folded: str) -> tuple[str, bool, bool]:
        """The folded text without its cards, share texts and item listings (fields and title), whether it had any,
        and whether one was an item's (a share text or a listing)."""
        listed = _SHARE_SIGN.search(folded) is not None
        if listed:
            folded = _SHARE.sub(" , ", folded)
        has_card = listed
        if self._cards is not None:
            folded, cards = self._cards.subn(" ， ", folded)
            has_card = has_card or cards > 0
        if self._listings is not None:
            folded, listing = self._cut_listing(self._listings, folded)
            listed = listed or listing
        return folded, has_card or listed, listed

    def _cut_listing(self, listings: re.Pattern[str], folded: str) -> tuple[str, bool]:
        """A pasted item listing cut out: its fields (¥680, 月销1000+) and, before them, its title (the clauses
        that ask nothing: 【官方正品】兰蔻小黑瓶精华 30ml); whether there was one."""
        spans = [m.span() for m in listings.finditer(folded) if m.end() > m.start()]
        if not spans:
            return folded, False
        kept: list[str] = []
        start = 0
        for field_start, field_end in spans:
            kept.extend(p for p in _pieces(folded[start:field_start]) if self.asks(p))
            start = field_end
        kept.append(folded[start:])
        return " ， ".join(kept), True

    def _social_edges(self, piece: str) -> list[Clause]:
        """The piece as one clause, or its opening and closing social words split off as clauses of their own."""
        words = [(w, s, e) for w, s, e in rjieba.tokenize(piece) if not _EMPTY.match(w)]
        head = 0
        opened = False
        while head < len(words):  # openers may be several words as the segmenter cuts them (在/吗, 好/的)
            size = _starts_with(words, head, len(words), self._openers)
            size = 0 if size and self._excluded(piece, words, head, head + size) else size
            # Fillers among the openers go with them ("嗯|就是|我想问一下|就是|…"), never alone ("就是这个").
            if size:
                opened = True
            elif words[head][0] in self._fillers:
                size = 1
            else:
                break
            head += size
        if not opened:
            head = 0
        elif head == len(words):  # nothing but social words ("嗯嗯 就是 我想咨询一下 …")
            return [Clause(piece, SOCIAL)]
        tail = len(words)
        closed = tail
        while tail > head + 1:
            size = _ends_with(words, head + 1, tail, self._closers)
            size = 0 if size and self._excluded(piece, words, tail - size, tail) else size
            if size:
                closed = tail - size
            elif words[tail - 1][0] in self._fillers:
                size = 1
            else:
                break
            tail -= size
        if closed == len(words):
            tail = len(words)
        out: list[Clause] = []
        if head:
            out.append(Clause(piece[: words[head][1]].strip(), SOCIAL))
        middle = piece[words[head][1] :].strip() if words else ""
        if tail < len(words):
            middle = piece[words[head][1] : words[tail][1]].strip()
        if middle:
            said = "".join(w for w, _, _ in words[head:tail])
            # Only intensifiers beside a social word ("非常|感谢", "你好|呀") are part of it, not a clause.
            empty = (head or tail < len(words)) and all(w in self._intensifiers for w, _, _ in words[head:tail])
            # A clause of fillers alone ("额", "哈哈") is a pause, not something said; and no greeting or thanks
            # either: a laugh after a question (你的微信也可以吗 哈哈) does not close the chat.
            filled = all(w in self._fillers for w, _, _ in words[head:tail])
            if filled and not head and tail == len(words):
                out.append(Clause(middle, PAUSE))
            else:
                out.append(Clause(middle, SOCIAL if said in self._edges or empty or filled else _UNDECIDED))
        if tail < len(words):
            out.append(Clause(piece[words[tail][1] :].strip(), SOCIAL))
        return out

    def _excluded(self, piece: str, words: list[tuple[str, int, int]], first: int, stop: int) -> bool:
        """Whether the social word made of `words[first:stop]` lies inside one of its excluded longer words."""
        start, end = words[first][1], words[stop - 1][2]
        for longer in self._exclusions.get("".join(w for w, _, _ in words[first:stop]), ()):
            at = piece.find(longer, max(0, end - len(longer)))
            if 0 <= at <= start:
                return True
        return False


def _starts_with(words: list[tuple[str, int, int]], start: int, stop: int, table: frozenset[str]) -> int:
    """How many words from `start` (ending before `stop`) form an entry of `table`; 0 if none."""
    joined: list[str] = []
    text = ""
    for word, _, _ in words[start : min(start + 4, stop)]:
        text += word
        joined.append(text)
    for size in range(len(joined), 0, -1):  # the longest entry first
        if joined[size - 1] in table:
            return size
    return 0


def _ends_with(words: list[tuple[str, int, int]], start: int, stop: int, table: frozenset[str]) -> int:
    """How many words ending at `stop` (beginning at or after `start`) form an entry of `table`; 0 if none."""
    joined: list[str] = []
    text = ""
    for word, _, _ in reversed(words[max(start, stop - 4) : stop]):
        text = word + text
        joined.append(text)
    for size in range(len(joined), 0, -1):
        if joined[size - 1] in table:
            return size
    return 0


def _pieces(folded: str) -> list[str]:
    """Punctuation- and space-separated pieces with something in them."""
    out = []
    for chunk in _CLAUSE.findall(folded):
        for piece in _SPACE.split(chunk):
            piece = piece.strip().rstrip(_TRAILING).strip()
            if piece and not _EMPTY.match(piece):
                out.append(piece)
    return out


def asking(message: Message, asks: Callable[[str], bool], intents: Mapping[str, float]) -> str | None:
    """The clauses that ask, when the message reads most as a complaint (`GRIEVANCES`) and others beside them do not
    ask (太慢了|能换顺丰吗); else None."""
    if max(intents, key=lambda i: intents[i], default="") not in GRIEVANCES:
        return None
    spoken = [c.text for c in message.clauses if c.kind == TEXT]
    asking = [text for text in spoken if asks(text)]
    return "，".join(asking) if asking and len(asking) < len(spoken) else None


def clip(text: str) -> str:
    """A pasted essay as matched: its head and tail (customer questions are short)."""
    if len(text) <= MAX_QUERY_CHARS:
        return text
    head = MAX_QUERY_CHARS * 2 // 3
    return text[:head] + " " + text[-(MAX_QUERY_CHARS - head) :]


def is_social(
    analysis: Analysis, keywords: KeywordSpotter, social: frozenset[str], words: Callable[[Analysis], bool]
) -> bool:
    """A clause that only greets or thanks: its key words are all of social intents and cover most of it."""
    if not analysis.compact:
        return True
    if len(analysis.compact) > SOCIAL_WORDS_CHARS or not words(analysis):
        return False
    hits = keywords.hits(analysis)
    if not hits or any(h.keyword.intent not in social for h in hits):
        scores, _ = keywords.scores(analysis)
        return bool(scores) and set(scores) <= social and max(scores.values()) >= 0.95  # a whole form
    covered = sum(h.end - h.start for h in hits)
    return covered >= SOCIAL_SHARE * len(analysis.compact)


def item_fragment(
    analysis: Analysis, keyword: Mapping[str, float], found: Mapping[str, float], earlier: bool = False
) -> bool:
    """A bare "and the X?" (台灯呢, 那条围巾呢, 那两件呢) that the scorer does not read for sure: a few words and 呢,
    no key word, or none that settles an intent after a "what about" 那 (件呢 asks for a parcel, not in 那两件呢);
    it asks what was asked before. After `earlier` messages, so does one pointing at something (这个呢: alone,
    beside a picture, it asks what the item is)."""
    if len(analysis.compact) > FRAGMENT_CHARS or _FRAGMENT.search(analysis.folded) is None:
        return False
    if max(found.values(), default=0.0) >= FRAGMENT_SURE:
        return False  # 结果呢 is a reminder
    if not keyword:
        return True
    pointer = _WHAT_ABOUT + _THIS if earlier else _WHAT_ABOUT
    return analysis.folded.startswith(tuple(pointer)) and max(keyword.values()) < STRONG_WEIGHT


def presence_check(message: Message, keyword: Mapping[str, float]) -> bool:
    """A message that only calls or greets (在吗在吗, 喂喂 有人吗): no key word but a reminder's, beside a greeting."""
    return set(keyword) <= {"urge"} and any(c.kind == SOCIAL for c in message.clauses)
