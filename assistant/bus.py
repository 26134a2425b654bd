"""In-process publish/subscribe of live updates (panels subscribe; ingest and follow-ups publish)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Update:
    """One live update: `kind` (e.g. "message", "followup"), its shop/conversation/agent, and a JSON payload."""

    kind: str
    shop: str
    conversation: str
    agent: str | None
    payload: dict[str, Any] = field(default_factory=dict)
    remote: bool = False  # published by another instance of the same database (assistant/cluster/relay.py)
    # On a shared database: every live-journal row up to this id reached this bus before this update
    # (stamped by `Bus.publish`), so a panel that saw it can resume on another instance from there.
    position: int | None = None


Filter = Callable[[Update], bool]


class Subscription:
    """A subscriber's bounded backlog, read by one task; a slow subscriber loses its oldest updates, never blocks
    publishers.

    Not an `asyncio.Queue`: every logged agent message publishes an update (its follow-up's countdown), and the
    queue's put and get took about 12 Python calls of the event loop's per event; this takes 3.
    """

    def __init__(self, bus: Bus, accept: Filter, maxsize: int) -> None:
        self.bus = bus
        self.accept = accept
        self.maxsize = maxsize
        self.dropped = 0
        self._backlog: deque[Update] = deque()
        self._waiter: asyncio.Future[None] | None = None

    def offer(self, update: Update) -> None:
        if not self.accept(update):
            return
        backlog = self._backlog
        if len(backlog) >= self.maxsize:
            backlog.popleft()
            self.dropped += 1
        backlog.append(update)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def get(self) -> Update:
        """The oldest update, waiting for one."""
        while not self._backlog:
            waiter = asyncio.get_running_loop().create_future()
            self._waiter = waiter
            try:
                await waiter
            finally:
                if self._waiter is waiter:
                    self._waiter = None
        return self._backlog.popleft()

    def drain(self, limit: int | None = None) -> list[Update]:
        """The updates waiting now, oldest first (at most `limit`), without waiting."""
        backlog = self._backlog
        n = len(backlog) if limit is None else min(limit, len(backlog))
        return [backlog.popleft() for _ in range(n)]

    def __len__(self) -> int:
        return len(self._backlog)

    def close(self) -> None:
        self.bus.unsubscribe(self)


class Bus:
    """Fan-out of updates to every matching subscription."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        # The live journal's read position (set by the relay when instances share a database).
        self.position: Callable[[], int] | None = None
        # On a shared database, what the live journal must hold before any subscriber hears it (the relay's `hold`:
        # whether it took the update, to `deliver` it once journaled), so that what one panel was sent reaches a
        # panel resuming on another instance, even when this one is killed right after.
        self.journal: Callable[[Update], bool] | None = None

    def subscribe(self, accept: Filter = lambda u: True, *, maxsize: int = 1000) -> Subscription:
        sub = Subscription(self, accept, maxsize)
        self._subscriptions.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscriptions.discard(sub)

    def publish(self, update: Update) -> None:
        if self.journal is not None and self.journal(update):
            return  # delivered once journaled
        self.deliver(update)

    def deliver(self, update: Update) -> None:
        """Hand an update to every matching subscription now."""
        if self.position is not None and update.position is None:
            update = dataclasses.replace(update, position=self.position())
        for sub in tuple(self._subscriptions):
            try:
                sub.offer(update)
            except Exception:
                log.exception("subscriber failed")

    def heard_only_by(self, update: Update, subscription: Subscription) -> bool:
        """Whether `subscription` is the only one that would take `update` and nothing journals it first."""
        if self.journal is not None:
            return False
        if len(self._subscriptions) == 1:  # the usual case: no supervisor's page open
            return subscription in self._subscriptions
        return all(sub is subscription or not sub.accept(update) for sub in self._subscriptions)

    @property
    def subscribers(self) -> int:
        return len(self._subscriptions)
