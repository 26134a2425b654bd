"""The hooks plugins implement (pluggy project "assistant"); see docs/hooks.md.

Every hook may be a plain function or return an awaitable (e.g. be an `async def`): the
service awaits what it gets. Implementations take any subset of the arguments, by name. Every hook
gets `config` and `http` (the application's one outbound HTTP session, `assistant.outbound.Outbound`).
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import msgspec
import pluggy

from assistant.config import Config
from assistant.events import Event
from assistant.outbound import DeliveryResult, Outbound

__all__ = [
    "FOLLOWUP_STATES",
    "Alert",
    "CannotConfirm",
    "DeliveryResult",
    "DoNotSend",
    "Followup",
    "Outbound",
    "hookimpl",
    "hookspec",
    "reads_only",
]

PROJECT = "assistant"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
READS_ONLY = "assistant_reads_only"  # the attribute `reads_only` sets on a hook function


FOLLOWUP_STATES = ("pending", "sent", "suggested", "failed", "missed", "dropped", "cancelled", "stale")


class CannotConfirm(RuntimeError):
    """The platform could not be asked whether it holds a message; `final`: it never will be (refused access);
    `credential`: it refused that credential (a revoked token), which may be put right: asked again after it."""

    def __init__(self, message: str, *, final: bool = False, credential: str | None = None) -> None:
        super().__init__(message)
        self.final = final
        self.credential = credential


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
    # The last attempt may have created the message (in flight, timed out, a gateway's 502/504): not answered
    # with an error status that says nothing was created.
    outcome_unknown: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DoNotSend:
    """What `adjust_followup` returns to keep a follow-up from the buyer: it is recorded `cancelled`, `reason` (the
    plugin's own words, shown to supervisors as written) after the plugin's name."""

    reason: str = ""


@dataclass(frozen=True)
class Alert:
    """A quality-inspection alert for supervisors: a flagged message (level 1) or its escalation (level 2).

    `id` is the idempotency key; `text` is the message as written, masked when `[privacy] mask` is on;
    `flags` are the message's flags (category, label, rule, severity, match); `link` is the conversation
    in the daily log (absolute when `[qa] public_url` is set).
    """

    id: str
    level: int
    shop: str
    conversation: str
    customer: str
    agent: str | None
    sender: str
    event_id: str
    ts_ms: int
    text: str
    flags: tuple[dict[str, Any], ...]
    created_ms: int
    link: str

    @property
    def escalation(self) -> bool:
        return self.level > 1

    @property
    def labels(self) -> list[str]:
        """The distinct labels of the flags, in order."""
        return list(dict.fromkeys(str(f.get("label") or f.get("category")) for f in self.flags))

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        body["flags"] = list(self.flags)
        return body


def reads_only(function: F) -> F:
    """Mark an `on_suggestions` that never changes what it is handed (under `@hookimpl`): when every plugin's is
    marked, they get the service's own suggestions and customer type, not a copy made for each customer message."""
    setattr(function, READS_ONLY, True)
    return function


def unshared(value: T) -> T:
    """A copy of JSON-shaped data a plugin may change: through msgspec's JSON (about a sixth of `copy.deepcopy`'s
    time on a message's suggestions, which took about 160 Python calls of the event loop's per customer
    message); anything JSON does not carry as it is (a tuple, NaN, another type) is deep-copied instead."""
    try:
        copied = msgspec.json.decode(msgspec.json.encode(value))
    except (TypeError, msgspec.EncodeError):
        return copy.deepcopy(value)
    return copied if copied == value else copy.deepcopy(value)


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


@hookspec(firstresult=True)
def confirm_delivery(
    config: Config, http: Outbound, conversation: dict[str, Any], idempotency_key: str, kind: str, since_ms: int
) -> Awaitable[bool | None] | bool | None:
    """Whether the platform already holds the message `idempotency_key`, asked before a delivery is made
    again after an attempt whose outcome is unknown (cut short by a restart, timed out, failed).

    True: it is there (it is not sent again); False: it is not (it is sent); None: not this plugin's
    conversation, or its platform cannot be asked. Raise when the platform could not be asked: nothing is
    sent, and the assistant asks again after a backoff (`CannotConfirm(final=True)`: asking again cannot help,
    the token may not list messages). `since_ms`: no earlier message can be this one.
    """


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
    customer: str,
    suggestions: list[dict[str, Any]],
    customer_type: dict[str, Any] | None,
) -> Awaitable[None] | None:
    """React to the reply suggestions (and customer type) computed for a customer message of `customer`."""


@hookspec
def adjust_suggestions(
    config: Config,
    http: Outbound,
    shop: str,
    conversation: str,
    customer: str,
    text: str,
    customer_type: dict[str, Any] | None,
    suggestions: list[Any],
) -> list[Any] | None:
    """Reorder, drop or add (a library phrase's code) the suggestions before anyone sees them; None: unchanged."""


@hookspec
def adjust_followup(
    config: Config, http: Outbound, followup: Followup, conversation: dict[str, Any]
) -> str | DoNotSend | None:
    """The text a follow-up is recorded and sent with, or DoNotSend(reason) to keep it from the buyer; None: unchanged."""


@hookspec
def on_alert(config: Config, http: Outbound, alert: Alert) -> Awaitable[DeliveryResult | None] | DeliveryResult | None:
    """Deliver a quality-inspection alert (e.g. to a group robot); None when not this plugin's. Retried until sent."""
