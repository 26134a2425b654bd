"""What a padded garment is filled with (鸭绒还是鹅绒, 是白鸭绒吗, 填充的是什么), asked of its 含绒量 or 填充物 (pure).

Shops write the fill as 90%白鸭绒, or as 90% alone: the fact answers only when it says what was asked (a kind of
down or another fill), and otherwise the answer is that the item's facts do not say, never a guess (docs/catalog.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.catalog.asking import A_NOT_A, VALUE_MARKS, YES_NO_MARKS, about, fold
from assistant.catalog.aspects import ASPECTS

# The columns that hold the fill (充绒量, its weight, says nothing of what the down is).
HEADERS = ("填充物", "含绒量", "填充", "填充材料", "填充成分", "羽绒类型", "绒子", "绒种", "充绒类型", "羽绒成分")
# Kinds of fill a yes/no question or an A还是B names (是白鸭绒吗, 鸭绒还是鹅绒); the longest first.
CLAIMS = (
    "白鸭绒", "灰鸭绒", "白鹅绒", "灰鹅绒", "鸭绒", "鹅绒", "羽绒", "鸭毛", "鹅毛", "羽毛", "棉花", "丝绵", "蚕丝",
    "化纤棉", "太空棉",
)  # fmt: skip
# Words that ask what the fill is (里面填充的是什么, 什么绒): with a question for a value or a yes/no mark.
ASKS = ("填充", "填的", "什么绒", "啥绒", "哪种绒", "绒子", "里面是什么", "里面是啥", "里面装的")
BIRDS = ("鸭", "鹅")
# A value that names one of these says what the fill is; a bird is needed when the question names one.
NAMED_FILLS = (*BIRDS, "棉", "纤维", "丝", "毛", "涤", "聚酯", "腈纶")
DOWN = ("羽绒", "绒")
_WHAT = "填充的是什么"  # what the answer says was not told, for a question that named no kind
# The shell's material (面料, 材质): 里面是棉花吗 asks the fill, though its 棉 names a material.
_SHELL = tuple(h for h in next(a for a in ASPECTS if "面料" in a.headers).headers if h not in HEADERS)


@dataclass(frozen=True)
class FillAsked:
    """A question of what the item is filled with: its fill columns (name, value), whether their values say what
    was asked, and what was asked as an answer repeats it (是鸭绒还是鹅绒, 是不是白鸭绒, 填充的是什么)."""

    facts: tuple[tuple[str, str], ...]
    told: bool
    asked: str


def asked(attrs: Sequence[tuple[str, str]], text: str) -> FillAsked | None:
    """The fill asked of an item with these attributes; None when the message asks no fill, the item has no fill
    column, or the message names the column itself (含绒量多少: the aspects' table answers it)."""
    if not isinstance(text, str) or not text:
        return None
    folded = fold(text[:500])
    facts = tuple((name, value) for name, value in attrs if fold(name) in HEADERS and value.strip())
    if not facts or any(fold(name) in folded for name, _ in facts):
        return None
    kinds = _kinds(folded)
    claimed = [k for k in kinds if about(folded, k, suits=True) or re.search(re.escape(k) + "的?还是", folded)]
    value_asked = any(mark in folded for mark in VALUE_MARKS) or A_NOT_A.search(folded) is not None
    asking = value_asked or any(mark in folded for mark in YES_NO_MARKS)
    if not claimed and not (asking and any(word in folded for word in ASKS)):
        return None
    needed = NAMED_FILLS if any(b in k for k in claimed for b in BIRDS) else (*NAMED_FILLS, *DOWN)
    told = any(word in fold(value) for _, value in facts for word in needed)
    if len(claimed) >= 2:
        said = "是" + "还是".join(claimed)
    elif claimed:
        said = "是不是" + claimed[0]
    else:
        said = _WHAT
    return FillAsked(facts, told, said)


def shell(name: str, text: str) -> bool:
    """Whether attribute `name` is the shell's material and `text` does not name it: a fill question's material
    word (棉 of 棉花) found it, not the buyer."""
    return fold(name) in _SHELL and fold(name) not in fold(text)


def _kinds(folded: str) -> list[str]:
    """The kinds of fill a message names, in its order, each once (白鸭绒, not 鸭绒 inside it as well)."""
    found: list[tuple[int, str]] = []
    taken: set[int] = set()
    for word in CLAIMS:
        for match in re.finditer(re.escape(word), folded):
            span = set(range(match.start(), match.end()))
            if not span & taken:
                found.append((match.start(), word))
                taken |= span
    return list(dict.fromkeys(word for _, word in sorted(found)))
