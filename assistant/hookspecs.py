"""The hooks plugins implement (pluggy project "assistant"); see docs/hooks.md.

Every hook may be a plain function or return an awaitable (e.g. be an `async def`): the
service awaits what it gets. Implementations take any subset of the arguments, by name. Every hook
gets `config` and `http` (the application's one outbound HTTP session, `assistant.outbound.Outbound`).
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import pluggy

from assistant.config import Config
from assistant.events import Event

if TYPE_CHECKING:
    from assistant.outbound import Outbound

PROJECT = "assistant"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


FOLLOWUP_STATES = ("pending", "sent", "suggested", "failed", "missed", "dropped", "cancelled")


@dataclass(frozen=True)
class Followup:
    """One follow-up: chosen, rendered, and where its delivery stands. `id` is the idempotency key."""

    id: str
    shop: str
    conversation: str
    customer: str
    agent: str | None
    kind: str  # "followup" | "payment_reminder"
    phrase_id: str | None
    text: str
    mode: str  # "send" | "suggest"
    state: str  # one of FOLLOWUP_STATES
    attempts: int
    last_error: str | None
    armed_seq: int
    due_ms: int
    fired_ms: int
    updated_ms: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DeliveryResult:
    """How one delivery attempt went: `ok`, or whether trying again may help (`retryable`)."""

    ok: bool
    retryable: bool = False
    status: int | None = None
    error: str = ""

    @classmethod
    def sent(cls, status: int | None = None) -> DeliveryResult:
        return cls(ok=True, status=status)

    @classmethod
    def retry(cls, error: str, status: int | None = None) -> DeliveryResult:
        return cls(ok=False, retryable=True, status=status, error=error)

    @classmethod
    def reject(cls, error: str, status: int | None = None) -> DeliveryResult:
        return cls(ok=False, retryable=False, status=status, error=error)

    @classmethod
    def from_status(cls, status: int, error: str = "") -> DeliveryResult:
        """2xx sent; 5xx, 408 and 429 worth retrying; any other status final."""
        if 200 <= status < 300:
            return cls.sent(status)
        if status >= 500 or status in (408, 429):
            return cls.retry(error or f"HTTP {status}", status)
        return cls.reject(error or f"HTTP {status}", status)


@hookspec
def on_startup(config: Config, http: Outbound) -> Awaitable[None] | None:
    """Check the plugin's config and open its resources; raise ConfigError to stop the start."""


@hookspec
def on_shutdown(config: Config, http: Outbound) -> Awaitable[None] | None:
    """Close what on_startup opened."""


@hookspec(firstresult=True)
def deliver_message(
    config: Config, http: Outbound, conversation: dict[str, Any], text: str, idempotency_key: str, kind: str
) -> Awaitable[DeliveryResult | None] | DeliveryResult | None:
    """Send `text` into `conversation` on the chat platform; return (or resolve to) None if not this plugin's."""


@hookspec
def on_event(config: Config, http: Outbound, event: Event, seq: int) -> Awaitable[None] | None:
    """React to a newly logged event (never called for a duplicate delivery)."""


@hookspec
def on_followup(config: Config, http: Outbound, followup: Followup) -> Awaitable[None] | None:
    """React to a follow-up that was created or changed state."""


@hookspec
def on_suggestions(
    config: Config,
    http: Outbound,
    shop: str,
    conversation: str,
    suggestions: list[dict[str, Any]],
    customer_type: dict[str, Any] | None,
) -> Awaitable[None] | None:
    """React to the reply suggestions (and customer type) computed for a customer message."""
