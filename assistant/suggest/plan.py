"""Which intents a message's suggestions show and how many phrases of each: the likeliest intent and the next
likeliest ones, or each topic of a message that asks of several things in the order asked; none when the message
is better left unanswered."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from assistant.suggest.clauses import TEXT, Message

ALTERNATE_MIN = 0.01  # a second/third intent is shown when it is at least this likely (the panel dims it)
ALTERNATE_RATIO = 0.4  # without a scorer: ... when its evidence is at least this share of the first
TOPIC_SURE = 0.8  # a question read alone names a topic of the message when its likeliest intent is this likely
TOPIC_WORD = 0.3  # ... and a key word of that intent is in it (weak words alone, such as 多久, name no topic)
_ASKS_LAST = ("不", "没")  # a question in the A不 form (能便宜点不, 有货没)

# A clause read as a message of its own: each intent's confidence, how likely it fits none, its key-word evidence.
Alone = Callable[[str], tuple[Mapping[str, float], float, Mapping[str, float]]]


def plan(
    ranked: list[tuple[float, str]],
    intents: Mapping[str, float],
    confidences: Mapping[str, float],
    none: float,
    k: int,
    min_confidence: float,
    calibrated: bool,
) -> list[tuple[str, int]]:
    """(intent, phrases) to show, the likeliest first; [] when no intent is likely enough, or when fitting no intent
    at all is likelier than all the intents the suggestions would show together (a right answer among three helps).

    `ranked`: (confidence, intent) after context, likeliest first; `confidences`: the message's own; `calibrated`:
    the confidences are a scorer's probabilities (else evidence, whose alternates must come close to the first).
    """
    if not ranked or ranked[0][0] < min_confidence:
        return []
    top = ranked[0][0]
    if calibrated:
        alternates = [i for c, i in ranked[1:3] if c >= ALTERNATE_MIN]
    else:
        floor = max(0.5 * min_confidence, ALTERNATE_RATIO * top)
        alternates = [i for c, i in ranked[1:3] if c >= floor]
    alternates = alternates[: max(0, k - 1)]
    # What earlier messages lent a fragment (短袖呢 after a size question) counts against its fitting no intent.
    lent = sum(max(0.0, c - confidences.get(i, 0.0)) for i, c in intents.items() if i != "payment_reminder")
    if none - lent > top + sum(intents[i] for i in alternates):
        return []
    return [(ranked[0][1], max(1, k - len(alternates)))] + [(i, 1) for i in alternates]


def topics(
    message: Message,
    asks: Callable[[str], bool],
    alone: Alone,
    one: bool = True,
    social: frozenset[str] = frozenset(),
    words: Callable[[str], Mapping[str, float]] | None = None,
) -> dict[str, float]:
    """The topics of a message of several clauses, in the order asked (发什么快递|能便宜点吗), each with its confidence:
    every clause that asks, read alone, whose likeliest intent is sure (`TOPIC_SURE`), named by a key word of its
    own and likelier than no intent. A clause that only tells (收到的杯子碎了) names no topic: it is the story; nor
    does a greeting or thanks (`social` intents) beside a clause asking something else: they decide only when the
    message says nothing else. `one`: a single question is wanted too (else none is read unless two clauses ask, and
    {} is all it can give unless two could name a topic). `words`: a clause's key-word evidence alone (as `alone`
    gives it, for less): a clause without a key word of `TOPIC_WORD` names no topic, so it is not read further."""
    spoken = [c.text for c in message.clauses if c.kind == TEXT]
    questions = [t for t in spoken if asks(t) or t.endswith(_ASKS_LAST)]
    found: dict[str, float] = {}
    wanted = 1 if one else 2
    if len(spoken) < 2 or len(questions) < wanted:
        return found
    if words is not None:
        questions = [t for t in questions if max(words(t).values(), default=0.0) >= TOPIC_WORD]
        if len(questions) < wanted:
            return found
    for text in questions:
        confidences, none, keyword = alone(text)
        intent = max(confidences, key=lambda i: confidences[i], default="")
        sure = confidences.get(intent, 0.0)
        if intent and sure >= TOPIC_SURE and sure > none and keyword.get(intent, 0.0) >= TOPIC_WORD:
            found.setdefault(intent, sure)
    if any(i not in social for i in found):
        return {i: c for i, c in found.items() if i not in social}
    return found


def asked(
    found: Mapping[str, float], k: int, whole: list[tuple[str, int]], intents: Mapping[str, float], floor: float
) -> list[tuple[str, int]]:
    """(intent, phrases) for the topics asked, in order, one phrase each; then the intents the whole message reads
    (`whole`, its plan) at least `floor` likely that no question named (包邮吗 beside 能便宜点吗 and 今天能发吗); the
    surest topic takes the places left (包邮吗 beside 明天能发货吗: more of the shipping times, not a courier no one
    asked for), the first of equally sure ones."""
    order = list(found)[:k]
    order += [i for i, _ in whole if i not in found and intents.get(i, 0.0) >= floor][: k - len(order)]
    if not order:
        return []
    surest = max(order[: len(found)], key=lambda i: found[i])
    return [(i, k - len(order) + 1 if i == surest else 1) for i in order]
