"""A message comparing items (two links, 这两款哪个…): each item's fact or size, said item by item (pure).

The answer is given only where every item compared answers the same way (each has the fact asked, or each
chart gives a size for the buyer); otherwise none, since an answer about some of them would read as the
comparison's (docs/catalog.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from types import MappingProxyType

from assistant.catalog.answers import FACT, SIZE, Answer, Fact, answers, spoken
from assistant.catalog.store import Item

COMPARE = "compare"
ORDINALS = "一二三四五六七八九"
MAX_ITEMS = len(ORDINALS)
# 这两款哪个厚, 这俩哪个好, 两件有什么区别: the message is about two items, though it links none.
_BOTH = re.compile(r"[这那]?(?:两|俩|2)\s*(?:款|件|个链接|个宝贝|条|双|种|套)|这俩|那俩")


def speaks_of_two(text: str) -> bool:
    """Whether a message speaks of two items at once (这两款, 这俩), so an answer about one would mislead."""
    return isinstance(text, str) and _BOTH.search(text[:500]) is not None


def compared(
    items: Sequence[Item], text: str, earlier: Sequence[str] = (), *, intent: str | None = None
) -> list[Answer]:
    """The answers comparing `items` (catalog Items, in the order the buyer named them): their sizes for the
    buyer and the facts asked, each said of 第一款, 第二款 …; [] when not every item answers alike."""
    if not 2 <= len(items) <= MAX_ITEMS:
        return []
    given = [answers(item, text, earlier, intent=intent) for item in items]
    found: list[Answer] = []
    sizes = [[a for a in each if a.kind != FACT] for each in given]
    if all(len(s) == 1 and s[0].kind == SIZE for s in sizes):
        said = {s[0].values["measures"] for s in sizes}
        lead = f"按{said.pop()}，" if len(said) == 1 else ""
        parts = [f"第{ORDINALS[n]}款建议拿{s[0].values['size']}" for n, s in enumerate(sizes)]
        facts = tuple(Fact(f"第{ORDINALS[n]}款{f.name}", f.value) for n, s in enumerate(sizes) for f in s[0].facts)
        values = {"answers": lead + "，".join(parts)}
        found.append(Answer(COMPARE, "size_advice", MappingProxyType(values), facts, sizes[0][0].trigger))
    facts_of = [[f for a in each if a.kind == FACT for f in a.facts] for each in given]
    if all(facts_of):
        parts = [f"第{ORDINALS[n]}款" + "，".join(spoken(f) for f in fs) for n, fs in enumerate(facts_of)]
        facts = tuple(Fact(f"第{ORDINALS[n]}款{f.name}", f.value) for n, fs in enumerate(facts_of) for f in fs)
        trigger = "、".join(dict.fromkeys(f.name for fs in facts_of for f in fs))
        found.append(Answer(COMPARE, "product_info", MappingProxyType({"answers": "；".join(parts)}), facts, trigger))
    return found
