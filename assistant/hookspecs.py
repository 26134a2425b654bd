"""The hooks plugins implement (pluggy project "assistant"); see docs/hooks.md.

Every hook may be a plain function or return an awaitable (e.g. be an `async def`): the
service awaits what it gets. Implementations take any subset of the arguments, by name.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

import pluggy

from assistant.config import Config
from assistant.events import Event
from assistant.followup_store import Followup

PROJECT = "assistant"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


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
def on_startup(config: Config) -> Awaitable[None] | None:
    """Check the plugin's config and open its resources; raise ConfigError to stop the start."""


@hookspec
def on_shutdown(config: Config) -> Awaitable[None] | None:
    """Close what on_startup opened."""


@hookspec(firstresult=True)
def deliver_message(
    config: Config, conversation: dict[str, Any], text: str, idempotency_key: str, kind: str
) -> Awaitable[DeliveryResult | None] | DeliveryResult | None:
    """Send `text` into `conversation` on the chat platform; return (or resolve to) None if not this plugin's."""


@hookspec
def on_event(config: Config, event: Event, seq: int) -> Awaitable[None] | None:
    """React to a newly logged event (never called for a duplicate delivery)."""


@hookspec
def on_followup(config: Config, followup: Followup) -> Awaitable[None] | None:
    """React to a follow-up that was created or changed state."""


@hookspec
def on_suggestions(
    config: Config, shop: str, conversation: str, suggestions: list[dict[str, Any]], customer_type: dict[str, Any] | None
) -> Awaitable[None] | None:
    """React to the reply suggestions (and customer type) computed for a customer message."""
