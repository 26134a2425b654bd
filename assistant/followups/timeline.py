"""Each conversation's latest-stamped timer event, so that events apply in the order they happened.

An event's stamp is (event time, seq): its own `ts` (see policy.event_time), ties broken by arrival.
A conversation with an armed timer carries its stamp in the timer; this keeps the stamp of the others
(the last period fired or ended) for as long as a late message could still open an idle period: one
stamped earlier than `horizon_ms` ago is stale whatever it is compared with, so older stamps are let go.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

from assistant.followups.store import Key

Stamp = tuple[int, int]  # (event time in epoch ms, seq)


class Timeline:
    """Latest stamps of conversations without an armed timer, oldest-touched first, bounded in age and size."""

    def __init__(self, horizon_ms: int, *, max_size: int = 200_000) -> None:
        self.horizon_ms = horizon_ms
        self.max_size = max_size
        self._stamps: OrderedDict[Key, Stamp] = OrderedDict()

    def __len__(self) -> int:
        return len(self._stamps)

    def get(self, key: Key) -> Stamp | None:
        return self._stamps.get(key)

    def note(self, key: Key, stamp: Stamp, now_ms: int) -> None:
        """Remember `stamp` for `key` unless a later one is known."""
        known = self._stamps.pop(key, None)
        self._stamps[key] = stamp if known is None or stamp > known else known
        self.prune(now_ms)

    def forget(self, key: Key) -> None:
        """`key` has an armed timer now: the timer carries its stamp."""
        self._stamps.pop(key, None)

    def load(self, stamps: Mapping[Key, Stamp], now_ms: int) -> None:
        for key, stamp in stamps.items():
            self.note(key, stamp, now_ms)

    def prune(self, now_ms: int) -> None:
        # Touched order is nearly stamp order; an entry kept a little past the horizon is harmless.
        limit = now_ms - self.horizon_ms
        stamps = self._stamps
        while stamps:
            key, (at_ms, _) = next(iter(stamps.items()))
            if at_ms >= limit and len(stamps) <= self.max_size:
                return
            del stamps[key]
