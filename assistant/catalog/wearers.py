"""Whose body a buyer's numbers measure: each message split at the people it names (我, 老公, 宝宝, 她 …) (pure).

A buyer who shops for two ("我160 100斤，我老公175 140斤穿什么码") or for someone else after themselves ("我160
100斤", then "我老公穿什么码") gives measures of different people: each person's are read apart, so one
person's weight never completes another's height and a size is never advised to the wrong person.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.catalog import measures

SELF = "self"
CHILD = "child"
HE = "he"
SHE = "she"
# The people buyers name. 宝贝 is the goods, not a child; 其他 and 吉他 are no 他. 我 names the buyer only where
# their measures follow (我160, 我身高…, 我一米六) or in 我自己, 自己穿, 本人: 我想问下 speaks of no one.
_NAMED = re.compile(
    r"(?P<child>宝宝|孩子|小孩|小朋友|娃|儿子|女儿|闺女)"
    r"|(?P<he>老公|男朋友|男友|爸爸|老爸|我爸|公公|爷爷|外公|哥哥|弟弟|(?<![其吉])他)"
    r"|(?P<she>老婆|女朋友|女友|妈妈|老妈|我妈|婆婆|奶奶|外婆|姐姐|妹妹|她)"
    r"|(?P<self>我自己|自己穿|本人|我(?=\s*(?:净身高|身高|体重|个子|[0-9０-９一二两三四五六七八九])))"
)


@dataclass(frozen=True)
class Person:
    """Someone the conversation measures: who (SELF, CHILD, HE or SHE) and their body as far as it tells."""

    who: str
    body: measures.Body


def named_last(texts: Sequence[str]) -> str | None:
    """Who the newest message naming anyone names last, or None when no message names anyone."""
    for text in reversed(texts):
        found = [m.lastgroup for m in _NAMED.finditer(text) if m.lastgroup]
        if found:
            return found[-1]
    return None


def split(text: str) -> list[tuple[str | None, str]]:
    """The message in parts, each with whom it speaks of (None for the part before anyone is named), without
    the naming word: "我160 100斤，老公175" is [(None, ""), (SELF, "160 100斤，"), (HE, "175")]."""
    parts: list[tuple[str | None, str]] = []
    who: str | None = None
    start = 0
    for match in _NAMED.finditer(text):
        parts.append((who, text[start : match.start()]))
        who, start = match.lastgroup, match.end()
    parts.append((who, text[start:]))
    return parts


def people(texts: Sequence[str], spans: measures.Spans, default: str) -> list[Person]:
    """The people the newest of `texts` (oldest first) gives measures of, in the order it names them, each with
    all the conversation says of them; when it gives none, the person the conversation last spoke of.

    Words before anyone is named speak of whoever was named before, else of `default` (the buyer, or a child on
    a children's chart).
    """
    said: dict[str, list[str]] = {}
    cued: dict[str, list[bool]] = {}
    current = default
    measured: list[str] = []
    for n, text in enumerate(texts):
        about = measures.about_size(text)
        for who, part in split(text):
            current = who or current
            said.setdefault(current, []).append(part)
            cued.setdefault(current, []).append(about)
            newest = n == len(texts) - 1
            if newest and current not in measured and measures.parse(part, spans, about=about) is not None:
                measured.append(current)
    return [Person(who, measures.combine(said.get(who, []), spans, cued.get(who, []))) for who in measured or [current]]
