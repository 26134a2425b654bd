"""A follow-up delivery's parts that hold no logic of their own: its job record, its backoff, its `auto` message id."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

from assistant.followups.store import Key
from assistant.hookspecs import Followup


class LeftPending(Exception):
    """The delivery's reads and writes met a locked database `max_attempts` times: it stops, the follow-up stays
    pending in the database as it was last written."""

    def __init__(self, what: str, cause: BaseException) -> None:
        super().__init__(what, cause)
        self.what = what
        self.cause = cause


def auto_event_id(followup_id: str) -> str:
    """The id of the `auto` message logged for a delivered follow-up (one per follow-up, ever)."""
    return f"auto-{followup_id}"


def backoff_ms(attempt: int, base_s: float, max_s: float, rng: random.Random) -> int:
    """Wait after failed attempt number `attempt` (1-based): exponential, capped, half of it jittered."""
    ceiling: float = min(max_s, base_s * 2.0 ** (attempt - 1))
    return round((ceiling / 2 + rng.uniform(0, ceiling / 2)) * 1000)


@dataclass
class Job:
    """One follow-up being delivered (Deliverer's task for it) and what its delivery knows."""

    followup: Followup
    cancel_requested: str | None = None  # why it must not go out (last_error of the cancelled follow-up)
    settle_as: str = "cancelled"  # the state it ends in when it does not go out
    retry_at: int | None = None  # while waiting out a backoff
    wake: asyncio.Future[None] | None = field(default=None, repr=False)
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    attempting: bool = False  # an attempt is in flight
    busy: int = 0  # its reads and writes that met a locked database
    held_for: str | None = None  # the credential the platform refused at its last attempt (kept, tried again)
    after: list[asyncio.Task[None]] = field(default_factory=list, repr=False)  # an earlier one's, dropped: ends first

    @property
    def key(self) -> Key:
        return (self.followup.shop, self.followup.conversation)
