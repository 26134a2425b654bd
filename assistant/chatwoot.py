"""Chatwoot webhook payloads → the assistant's events (pure; parses defensively across versions)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from assistant.events import EventError, parse_ts

MESSAGE_EVENTS = ("message_created", "message_updated")
CONVERSATION_EVENTS = ("conversation_created", "conversation_status_changed", "conversation_updated")
KNOWN_EVENTS = (*MESSAGE_EVENTS, *CONVERSATION_EVENTS, "webwidget_triggered")
# Put on messages the assistant posts, so their webhook echo is logged as `auto`, never as an agent reply.
FOLLOWUP_ATTRIBUTE = "assistant_followup_id"
SHOP_PREFIX = "chatwoot"
MAX_ITEM_CHARS = 200


@dataclass(frozen=True)
class Mapped:
    """The outcome of mapping one payload: raw assistant events, or the reason it is ignored."""

    events: tuple[dict[str, Any], ...] = ()
    ignored: str | None = None


def shop_id(account: Any, inbox: Any, *, by_inbox: bool) -> str:
    """The assistant's shop for a Chatwoot account (and inbox)."""
    if by_inbox and inbox is not None:
        return f"{SHOP_PREFIX}-{account}-{inbox}"
    return f"{SHOP_PREFIX}-{account}"


def account_of_shop(shop: str) -> str | None:
    """The Chatwoot account id inside a shop id made by `shop_id`, else None."""
    parts = shop.split("-")
    if len(parts) >= 2 and parts[0] == SHOP_PREFIX and parts[1].isdigit():
        return parts[1]
    return None


def map_payload(
    payload: dict[str, Any], *, delivery: str | None, by_inbox: bool, now_ms: int, item_attribute: str = ""
) -> Mapped:
    """Map one Chatwoot webhook or agent-bot payload; `item_attribute` names the custom attribute with the item."""
    event = payload.get("event")
    if not isinstance(event, str):
        raise EventError("event", "required string (the Chatwoot event name)")
    if event not in KNOWN_EVENTS:
        return Mapped(ignored=f"event {event!r} is not used")
    if event == "webwidget_triggered":
        return Mapped(ignored="widget opened; nothing to log until the customer writes")
    if event in MESSAGE_EVENTS:
        return _map_message(payload, by_inbox=by_inbox, now_ms=now_ms, item_attribute=item_attribute)
    return _map_conversation(payload, event, delivery=delivery, by_inbox=by_inbox, now_ms=now_ms)


def _map_message(payload: dict[str, Any], *, by_inbox: bool, now_ms: int, item_attribute: str = "") -> Mapped:
    if payload.get("private"):
        return Mapped(ignored="private note")
    message_type = payload.get("message_type")
    if message_type in (2, "activity"):
        return Mapped(ignored="activity message")
    content = payload.get("content")
    if not isinstance(content, str) or not content.strip():
        return Mapped(ignored="message without text (attachment only)")
    conversation = _dict(payload.get("conversation"))
    conv_id = _first(conversation.get("display_id"), conversation.get("id"))
    if conv_id is None:
        raise EventError("conversation.id", "required (the conversation's display id)")
    message_id = payload.get("id")
    if message_id is None:
        raise EventError("id", "required (the message id)")
    account = _account(payload, conversation)
    inbox = _first(_dict(payload.get("inbox")).get("id"), conversation.get("inbox_id"))
    sender = _dict(payload.get("sender"))
    meta = _dict(conversation.get("meta"))
    contact = _first(
        _dict(meta.get("sender")).get("id"),
        _dict(payload.get("contact")).get("id"),
        sender.get("id") if sender.get("type") == "contact" else None,
        _dict(conversation.get("contact_inbox")).get("contact_id"),
    )
    if contact is None:
        raise EventError("conversation.meta.sender.id", "required (the contact id)")
    assignee = _dict(meta.get("assignee"))
    assignee_name = _agent_name(assignee)
    attributes = _dict(payload.get("content_attributes"))
    followup_id = attributes.get(FOLLOWUP_ATTRIBUTE)
    role, agent = _sender(message_type, sender, assignee_name)
    if followup_id:
        role = "auto"
    raw: dict[str, Any] = {
        "id": f"cw-{account}-msg-{message_id}",
        "type": "message",
        "ts": _ts(payload.get("created_at"), now_ms),
        "shop": shop_id(account, inbox, by_inbox=by_inbox),
        "conversation": str(conv_id),
        "customer": str(contact),
        "sender": role,
        "text": content,
    }
    if agent:
        raw["agent"] = agent
    item = _item(_dict(conversation.get("custom_attributes")).get(item_attribute)) if item_attribute else None
    if item is not None:
        raw["item"] = item
    if followup_id and isinstance(followup_id, str):
        raw["followup_id"] = followup_id
        # The same id the assistant logged its follow-up under: the echo is a duplicate, not a second message.
        raw["id"] = f"auto-{followup_id}"
    return Mapped(events=(raw,))


def _sender(message_type: Any, sender: dict[str, Any], assignee: str | None) -> tuple[str, str | None]:
    """(assistant sender, agent) from Chatwoot's message_type and sender."""
    if message_type in ("incoming", 0):
        return "customer", assignee
    if message_type in ("template", 3):
        return "auto", assignee
    kind = sender.get("type")
    if kind == "user":
        return "agent", _agent_name(sender) or assignee or "agent"
    # An outgoing message from an agent bot, an automation, or with no sender.
    return "auto", assignee


def _map_conversation(
    payload: dict[str, Any], event: str, *, delivery: str | None, by_inbox: bool, now_ms: int
) -> Mapped:
    status = payload.get("status")
    changed = _dict(payload.get("changed_attributes"))
    if event == "conversation_updated" and "status" not in changed and status != "resolved":
        return Mapped(ignored="conversation updated without a status change")
    if status != "resolved":
        return Mapped(ignored=f"conversation status {status!r} needs no event")
    conv_id = _first(payload.get("display_id"), payload.get("id"))
    if conv_id is None:
        raise EventError("id", "required (the conversation's display id)")
    account = _account(payload, payload)
    meta = _dict(payload.get("meta"))
    contact = _first(_dict(meta.get("sender")).get("id"), _dict(payload.get("contact_inbox")).get("contact_id"))
    if contact is None:
        raise EventError("meta.sender.id", "required (the contact id)")
    stamp = _first(payload.get("timestamp"), payload.get("last_activity_at"))
    key = delivery or f"{stamp}"
    raw: dict[str, Any] = {
        "id": f"cw-{account}-conv-{conv_id}-resolved-{key}",
        "type": "conversation_closed",
        "ts": _ts(stamp, now_ms),
        "shop": shop_id(account, payload.get("inbox_id"), by_inbox=by_inbox),
        "conversation": str(conv_id),
        "customer": str(contact),
    }
    agent = _agent_name(_dict(meta.get("assignee")))
    if agent:
        raw["agent"] = agent
    return Mapped(events=(raw,))


def _account(payload: dict[str, Any], conversation: dict[str, Any]) -> str:
    messages = conversation.get("messages")
    first_message = _dict(messages[0]) if isinstance(messages, list) and messages else {}
    account = _first(
        _dict(payload.get("account")).get("id"),
        payload.get("account_id"),
        conversation.get("account_id"),
        first_message.get("account_id"),
    )
    if account is None:
        raise EventError("account.id", "required (the Chatwoot account id)")
    return str(account)


def _agent_name(user: dict[str, Any]) -> str | None:
    name = _first(user.get("available_name"), user.get("name"))
    if isinstance(name, str) and name.strip():
        return name.strip()
    return str(user["id"]) if user.get("id") is not None else None


def _ts(value: Any, now_ms: int) -> int:
    """Chatwoot's times: ISO strings ("…Z", "2020-03-03 13:05:57 UTC") or epoch seconds; else now."""
    if isinstance(value, bool) or value is None:
        return now_ms
    if isinstance(value, (int, float)):
        return int(value * 1000) if value < 100_000_000_000 else int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(" UTC"):
            try:
                parsed = datetime.strptime(text[:-4], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
                return int(parsed.timestamp() * 1000)
            except ValueError:
                pass
        try:
            return parse_ts(text)
        except EventError:
            return now_ms
    return now_ms


def _item(value: Any) -> str | None:
    """An item id from a conversation custom attribute (text or number); anything else is not one."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = str(value).strip()
    if not text or len(text) > MAX_ITEM_CHARS or any(ch.isspace() or not ch.isprintable() for ch in text):
        return None
    return text


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _first(*values: Any) -> Any:
    for value in values:
        if value is not None and value != "":
            return value
    return None
