"""Attribute values the catalog suggests word for word that the agent-side quality rules flag (an import warning).

Shops copy attribute values from their listing titles, which are full of absolute words: with 材质 = 顶级头层牛皮
the catalog suggests 亲，这款材质是顶级头层牛皮哦~, and the agent who sends it gets 极限用语「顶级」 in the report.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from assistant.catalog.answers import answerable
from assistant.catalog.store import Item
from assistant.i18n import _
from assistant.qa.inspector import SHORT, Inspector


@dataclass(frozen=True)
class FlaggedValue:
    """An attribute value the inspection flags: the item, the attribute, its value and each flag (label, words)."""

    item: str
    attribute: str
    value: str
    flags: tuple[tuple[str, str], ...]

    def __str__(self) -> str:
        return _(
            "warning: item %(id)s: %(attribute)s %(value)s is suggested word for word, and the quality inspection "
            "flags it: %(flags)s",
            id=self.item,
            attribute=self.attribute,
            value=f"「{self.value}」",
            flags=", ".join(f"{label}「{words}」" for label, words in self.flags),
        )


def flagged_values(items: Iterable[Item], inspector: Inspector) -> list[FlaggedValue]:
    """Every answerable attribute value of `items` that an agent's reply holding it would be flagged for."""
    found = []
    for item in items:
        for name, value in item.attrs:
            if not answerable(name):
                continue
            flags = [f for f in inspector.inspect(value, "agent") if f.category != SHORT.name]
            if flags:
                labelled = tuple((inspector.label(f.category), f.match) for f in flags)
                found.append(FlaggedValue(item.id, name, value, labelled))
    return found
