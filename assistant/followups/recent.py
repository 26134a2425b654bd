"""A map of the latest keys written, the oldest let go past its size: per-conversation memory that the
conversations which simply go quiet (most do, after their follow-up) would otherwise grow for weeks."""

from __future__ import annotations

from collections import OrderedDict
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Recent(OrderedDict[K, V]):
    """An OrderedDict of at most `size` entries, in the order they were last written; writing one past the
    size drops the least recently written."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def __setitem__(self, key: K, value: V) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        if len(self) > self.size:
            self.popitem(last=False)
