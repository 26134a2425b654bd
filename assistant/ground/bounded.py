"""A map of at most `size` entries, the first in its order let go past the size: the one way the service keeps
per-conversation, per-buyer and per-event memory from growing for weeks.

Its order is the order of insertion, and two rules move an entry already held to the end:
- `on_write`: `put` of a key held moves it (the latest written go last; without it a key keeps its first place);
- `on_read`: a `get` that finds the key moves it (least recently used go first).

Written through `put` only (it keeps the size); read with `get` (the one read that follows `on_read`) or as a dict
(`in`, `[]`, `pop`, iteration never move an entry). An OrderedDict underneath: on the event loop a plain read costs
what a dict's does, `get` one Python call (with `on_read`, in place of a dict's get and a move_to_end), `put` one
(in place of a write, a len and, past the size, a popitem).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TypeVar, overload

K = TypeVar("K")
V = TypeVar("V")
D = TypeVar("D")


class Bounded(OrderedDict[K, V]):
    """At most `size` entries; `put` past it drops the first in order (see the module's rules)."""

    def __init__(self, size: int, *, on_read: bool = False, on_write: bool = False) -> None:
        super().__init__()
        self.size = size
        self.on_read = on_read
        self.on_write = on_write

    def put(self, key: K, value: V) -> None:
        """Write `key`: a key held is moved to the end with `on_write`; a new one past `size` drops the first entry."""
        if key in self:
            self[key] = value
            if self.on_write:
                self.move_to_end(key)
        else:
            self[key] = value
            if len(self) > self.size:
                self.popitem(last=False)

    @overload
    def get(self, key: K, default: None = None, /) -> V | None: ...

    @overload
    def get(self, key: K, default: V, /) -> V: ...

    @overload
    def get(self, key: K, default: D, /) -> V | D: ...

    def get(self, key: K, default: object = None, /) -> object:
        """The value of `key`, else `default`; with `on_read`, a key found moves to the end."""
        if key in self:
            if self.on_read:
                self.move_to_end(key)
            return self[key]
        return default
