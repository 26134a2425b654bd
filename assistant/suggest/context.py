"""What the matcher is told of a message's conversation besides the message (`Context`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class Context:
    """What else is known about the conversation; everything optional."""

    customer_messages: tuple[tuple[int, str], ...] = ()
    has_unpaid_order: bool = False
    customer_type: str | None = None
    variables: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    adoption: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    item: str = ""  # the title of the conversation's catalog item: a phrase's `goods` may be named there
    shop: str = ""  # the conversation's shop: its own phrases (`[phrases.shops]`) answer there, over shared ones
    opening: bool = False  # the conversation's first message, before any reply: nobody has waited yet
    # When the message came, and when the agent answered the customer's earlier ones (`ConversationState.
    # agent_replies`): how long ago, and how many turns ago, an earlier message named the subject a short question
    # asks of (suggest/subject.py). None: not known, the earlier messages are taken as just sent.
    at_ms: int | None = None
    replies: tuple[int, ...] = ()
