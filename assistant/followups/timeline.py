"""Each conversation's latest-stamped timer event, so that events apply in the order they happened.

An event's stamp is (event time, seq): its own `ts` (see policy.event_time), ties broken by arrival.
A conversation with an armed timer carries its stamp in the timer; this keeps the stamp of the others
(the last period fired or ended) for as long as a late message could still open an idle period: one
stamped earlier than `horizon_ms` ago is stale whatever it is compared with, so older stamps are let go.

It also keeps when each conversation's latest follow-up went out (or was suggested): an agent message stamped
before that belongs to an idle period the follow-up already ended, and opens none of its own.
"""

from __future__ import annotations

from collections import OrderedDict

from assistant.followups.store import Key

Stamp = tuple[int, int]  # (event time in epoch ms, seq)
PRUNE_EVERY = 256  # notes between prunes: letting go of old stamps is for memory only, never for correctness


class Timeline:
    """Latest stamps of conversations without an armed timer, oldest-touched first, bounded in age and size."""

    def __init__(self, horizon_ms: int, *, max_size: int = 200_000) -> None:
        self.horizon_ms = horizon_ms
        self.max_size = max_size
        self._stamps: OrderedDict[Key, Stamp] = OrderedDict()
        self._followups: OrderedDict[Key, int] = OrderedDict()  # when the latest follow-up was made
        self._notes = 0

    def __len__(self) -> int:
        return len(self._stamps)

    def get(self, key: Key) -> Stamp | None:
        return self._stamps.get(key)

    def note(self, key: Key, stamp: Stamp, now_ms: int) -> None:
        """Remember `stamp` for `key` unless a later one is known."""
        stamps = self._stamps
        known = stamps.get(key)
        if known is None:
            stamps[key] = stamp
        else:
            stamps.move_to_end(key)
            if stamp > known:
                stamps[key] = stamp
        self._notes += 1
        if self._notes >= PRUNE_EVERY or len(stamps) > self.max_size:
            self._notes = 0
            self.prune(now_ms)

    def followup_made(self, key: Key, at_ms: int, now_ms: int) -> None:
        """A follow-up of `key` was sent (or suggested) at `at_ms`."""
        made = self._followups
        made[key] = max(at_ms, made.pop(key, at_ms))
        if len(made) > self.max_size:
            self._prune_followups(now_ms)

    def followup_at(self, key: Key) -> int | None:
        """When the latest follow-up of `key` known here was made."""
        return self._followups.get(key)

    def forget(self, key: Key) -> None:
        """`key` has an armed timer now: the timer carries its stamp."""
        self._stamps.pop(key, None)

    def _prune_followups(self, now_ms: int) -> None:
        limit = now_ms - self.horizon_ms
        made = self._followups
        while made:
            key, at_ms = next(iter(made.items()))
            if at_ms >= limit and len(made) <= self.max_size:
                return
            del made[key]

    def prune(self, now_ms: int) -> None:
        # Touched order is nearly stamp order; an entry kept a little past the horizon is harmless.
        self._prune_followups(now_ms)
        limit = now_ms - self.horizon_ms
        stamps = self._stamps
        while stamps:
            key, (at_ms, _) = next(iter(stamps.items()))
            if at_ms >= limit and len(stamps) <= self.max_size:
                return
            del stamps[key]
