"""What the daily log reads back from a logged row's JSON (suggestions, quality flags, an event's raw), and the
notes it puts on an item."""

from __future__ import annotations

import json
from typing import Any, TypedDict

from assistant.privacy import mask_flags


class SuggestionNote(TypedDict):
    phrase_id: str
    code: str | None
    score: float | None
    used: bool


class RefundNote(TypedDict):
    counted: float | None  # what it takes back: its amount, or less when the order was paid less; None: no payment
    unrefunded: float | None  # what the order was paid and not refunded before it; None: no payment of it logged


class FollowupNote(TypedDict):
    id: str
    kind: str | None
    state: str
    outcome: str  # "came_back" once the customer wrote again within the recovery window, else the state
    came_back_s: float | None


def json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def flag_notes(text: str, mask: bool, body: str = "") -> list[dict[str, Any]]:
    """A message's logged quality flags, without `short` (the item's own `short` says that); masked, each flag's
    words as the masked `body` shows them (privacy.mask_flags)."""
    try:
        values = json.loads(text)
        flags = [f for f in values if isinstance(f, dict) and f.get("category") != "short"]
    except (ValueError, TypeError):
        return []
    return mask_flags(flags, body) if mask else flags


def suggestion_notes(text: str | None) -> list[SuggestionNote]:
    """The logged suggestions (phrase_id, code, score) of a customer message, none used yet."""
    if not text:
        return []
    try:
        values = json.loads(text)
        return [
            {"phrase_id": v["phrase_id"], "code": v.get("code"), "score": v.get("score"), "used": False} for v in values
        ]
    except (ValueError, TypeError, KeyError, AttributeError):
        return []
