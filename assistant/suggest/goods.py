"""The kinds of goods phrases are written for (坏果: fruit) and what a conversation has said of its goods."""

from __future__ import annotations

from collections.abc import Callable, Iterable


class GoodsWords:
    """Each phrase's `goods` words, normalized, by the phrase's index in the matcher's list."""

    def __init__(self, normalize: Callable[[str], str]) -> None:
        self._normalize = normalize
        self._words: dict[int, tuple[str, ...]] = {}

    def add(self, index: int, goods: Iterable[str]) -> None:
        """Remember the goods a phrase is written for (none: it suits every kind)."""
        words = tuple(g for g in (self._normalize(w) for w in goods) if g)
        if words:
            self._words[index] = words

    def fits(self, index: int, said: Said | None) -> bool:
        """Whether a phrase may answer: it names no kind of goods, or the conversation spoke of its kind."""
        goods = self._words.get(index)
        if goods is None:
            return True
        text = said.text() if said is not None else ""
        return any(g in text for g in goods)

    def named(self, index: int, text: str) -> bool:
        """Whether `text` (normalized) names one of the goods a phrase is written for."""
        goods = self._words.get(index)
        return goods is not None and any(g in text for g in goods)


class Said:
    """What a conversation has said of its goods, read once and only when a phrase naming goods is considered:
    most messages meet none, and normalizing the customer's earlier messages for each of them cost a quarter of a
    matching worker's time."""

    __slots__ = ("_read", "_text")

    def __init__(self, read: Callable[[], str]) -> None:
        self._read = read
        self._text: str | None = None

    def text(self) -> str:
        """The message, the customer's earlier messages and the catalog item's title, normalized."""
        if self._text is None:
            self._text = self._read()
        return self._text
