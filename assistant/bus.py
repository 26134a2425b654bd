"""In-process publish/subscribe of live updates (panels subscribe; ingest and follow-ups publish)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
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
    """A subscriber's bounded queue; a slow subscriber loses its oldest updates, never blocks publishers."""

    def __init__(self, bus: Bus, accept: Filter, maxsize: int) -> None:
        self.bus = bus
        self.accept = accept
        self.queue: asyncio.Queue[Update] = asyncio.Queue(maxsize)
        self.dropped = 0

    def offer(self, update: Update) -> None:
        if not self.accept(update):
            return
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(update)

    async def get(self) -> Update:
        return await self.queue.get()

    def close(self) -> None:
        self.bus.unsubscribe(self)


class Bus:
    """Fan-out of updates to every matching subscription."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        # The live journal's read position (set by the relay when instances share a database).
        self.position: Callable[[], int] | None = None

    def subscribe(self, accept: Filter = lambda u: True, *, maxsize: int = 1000) -> Subscription:
        sub = Subscription(self, accept, maxsize)
        self._subscriptions.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscriptions.discard(sub)

    def publish(self, update: Update) -> None:
        if self.position is not None and update.position is None:
            update = dataclasses.replace(update, position=self.position())
        for sub in tuple(self._subscriptions):
            try:
                sub.offer(update)
            except Exception:
                log.exception("subscriber failed")

    @property
    def subscribers(self) -> int:
        return len(self._subscriptions)
