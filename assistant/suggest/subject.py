"""The conversation's subject: what a short question that names none (确定吗, 怎么处理, 要拍照吗) asks of.

A buyer who asked 这件有黑色吗 and then writes 确定吗 asks whether the black one is really there, as an agent reads it;
read alone, the scorer guessed from the few words it has (确定吗 leans to 正品, as in 确定是正品吗; 怎么处理 to a
reminder; 怎么操作 to using the goods). Such a bare question takes its intents mostly from the latest earlier message
that holds a subject (a key word of its own, or words the scorer reads surely as one intent): that message's reading,
already remembered (readings are cached), counts SUBJECT_SHARE of the bare one's. A question with a subject of its own
(有证书吗, 大概多少天能到, 在吗) is read as before; nothing is kept between messages but the conversation's history."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Protocol

from assistant.suggest.clauses import ClauseSplitter, item_fragment
from assistant.suggest.phrases import Library
from assistant.suggest.scorer import blend
from assistant.suggest.textnorm import Analysis

# How many earlier messages, latest first, may hold the subject (the matcher's context window is as long).
SUBJECT_LOOKBACK = 3
# A key word this strong names a subject (weak words alone, such as 多久 or the 保证 of 能保证吗, name none).
SUBJECT_WORD = 0.4
# A weaker key word names it when the scorer reads its intent this surely.
SURE = 0.8
# An earlier message without such a word holds a subject when the scorer reads it this surely (a defect told).
TOLD = 0.9
# The longest question, in characters after normalizing, that can be bare: a longer one says something of its own.
BARE_CHARS = 8
# Of a bare question's intents, the share its subject's reading has: the subject leads (0.6 of a sure reading is
# above what the few words alone give any intent but a sure one), the question's own reading still counts.
SUBJECT_SHARE = 0.6
# A subject named up to SUBJECT_FRESH_MS before the question lends its whole share; one named longer ago lends less,
# down to nothing at SUBJECT_STALE_MS (an hour later, 确定吗 or 怎么处理 asks of something new, or of an answer
# already given).
SUBJECT_FRESH_MS = 10 * 60_000
SUBJECT_STALE_MS = 60 * 60_000
# A subject the agent has answered and then a later message of the customer's too was closed in between (这个是正品吗,
# its answer, 好的谢谢, its answer): a short question after it asks of none of it.
CLOSED_TURNS = 2

# A day or a span a question sets as its deadline (周五之前能到吗, 三天内能发吗, 15号前能收到吗): with a key word of any
# strength it names its subject, the time of what the word speaks of (能保证吗 after it asks for that promise).
DEADLINE = re.compile(
    r"今天|明天|后天|今晚|明早|月底|月初|下周|这周|[周星期礼拜][一二三四五六日天末]"
    r"|[0-9一二三四五六七八九十两几]+(?:天内|天之内|天以内|个工作日|[号日](?:之前|以前|前|能|可以))"
)

Confidences = tuple[dict[str, float], float]


class Read(Protocol):
    """What the subject needs of a reading (the matcher's `Reading`)."""

    @property
    def analysis(self) -> Analysis: ...

    @property
    def keyword(self) -> Mapping[str, float]: ...


class Conversation(Protocol):
    """What the subject needs of the conversation (the matcher's `Context`)."""

    @property
    def customer_messages(self) -> Sequence[tuple[int, str]]: ...

    @property
    def at_ms(self) -> int | None: ...

    @property
    def replies(self) -> Sequence[int]: ...


class Reader(Protocol):
    """What the subject needs of the matcher."""

    splitter: ClauseSplitter

    @property
    def library(self) -> Library: ...

    def read(self, text: str) -> Read: ...

    def intent_confidences(self, text: str) -> Confidences: ...


def names_subject(keyword: Mapping[str, float], found: Mapping[str, float], social: Collection[str]) -> bool:
    """Whether a message names what it is about: a key word of some strength (a greeting's or thanks' names nothing),
    or a weaker one of the intent the scorer is sure of (专票 in 可以开专票吗, 多少天 in 大概多少天能到)."""
    if any(k >= SUBJECT_WORD and i not in social for i, k in keyword.items()):
        return True
    surest = max(found, key=found.__getitem__, default=None)
    return surest is not None and found[surest] >= SURE and surest in keyword and surest not in social


def dated(reading: Read, social: Collection[str]) -> bool:
    """Whether a message sets a deadline for what a key word of it names (周五之前能到吗: the arrival by Friday)."""
    return any(i not in social for i in reading.keyword) and DEADLINE.search(reading.analysis.compact) is not None


def bare(reading: Read, own: Mapping[str, float], asks: Callable[[str], bool]) -> bool:
    """A short question naming no subject of its own (确定吗, 那怎么办, 在哪领); a greeting's or thanks' words say
    what it is (在吗)."""
    analysis = reading.analysis
    return (
        0 < len(analysis.compact) <= BARE_CHARS
        and not names_subject(reading.keyword, own, ())
        and not dated(reading, ())
        and asks(analysis.folded)
    )


def subject_of(reading: Read, found: Mapping[str, float], social: Collection[str]) -> bool:
    """Whether an earlier message holds a subject: named, given a deadline, or told in words the scorer reads surely
    as one (收到的盘子有个缺口: a defect without a key word)."""
    if names_subject(reading.keyword, found, social) or dated(reading, social):
        return True
    surest = max(found, key=found.__getitem__, default=None)
    return surest is not None and found[surest] >= TOLD and surest not in social


def lent(named_ms: int, at_ms: int | None, replies: Sequence[int]) -> float:
    """The share of a bare question's reading that a subject named at `named_ms` lends it: SUBJECT_SHARE when just
    named, less when named long ago, nothing once the conversation moved on past it (`CLOSED_TURNS`)."""
    if at_ms is None:
        return SUBJECT_SHARE  # when the question came is not known: the earlier messages count as just sent
    if sum(1 for r in replies if named_ms < r <= at_ms) >= CLOSED_TURNS:
        return 0.0
    age = at_ms - named_ms
    if age <= SUBJECT_FRESH_MS:
        return SUBJECT_SHARE
    return SUBJECT_SHARE * max(0.0, (SUBJECT_STALE_MS - age) / (SUBJECT_STALE_MS - SUBJECT_FRESH_MS))


def follow(matcher: Reader, reading: Read, own: Confidences, conversation: Conversation) -> Confidences:
    """A message's intents and its fitting none after the customer's earlier messages (time order): a fragment
    (这个呢) lends them all to the earlier messages, a bare question (确定吗) follows the latest subject named, as far
    as its age and the turns since let it (`lent`)."""
    earlier = conversation.customer_messages
    if not earlier:
        return own
    if item_fragment(reading.analysis, reading.keyword, own[0], earlier=True):
        return {}, 0.0  # 这个呢 after 这件有货吗: what the earlier messages asked, asked again
    if not bare(reading, own[0], matcher.splitter.asks):
        return own
    social = matcher.library.clauses.social
    for named_ms, text in earlier[: -SUBJECT_LOOKBACK - 1 : -1]:
        subject = matcher.intent_confidences(text)
        if subject_of(matcher.read(text), subject[0], social):
            share = lent(named_ms, conversation.at_ms, conversation.replies)
            return blend(own, subject, share) if share > 0.0 else own
    return own
