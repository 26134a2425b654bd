"""Chatwoot webhook payloads → the assistant's events (pure: what it must remember comes in as `Memory`).

The shapes are Chatwoot's own (docs/chatwoot.md, tests/data/chatwoot/README.md): `Message#webhook_data` for
message events, `Conversations::EventDataPresenter#webhook_data` for conversation events.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, replace
from typing import Any, Protocol

from assistant.events import MAX_NAME_CHARS, MAX_TS_MS, MIN_TS_MS, EventError, clean_name, parse_ts, shows
from assistant.tasks import Throttled

log = logging.getLogger(__name__)

MESSAGE_EVENTS = ("message_created", "message_updated")
# `conversation_resolved` / `conversation_opened` reach agent bots only; the others every webhook.
STATUS_EVENTS = ("conversation_status_changed", "conversation_updated", "conversation_resolved", "conversation_opened")
KNOWN_EVENTS = (*MESSAGE_EVENTS, *STATUS_EVENTS, "conversation_created", "webwidget_triggered")
# Put on messages the assistant posts, so their webhook echo is logged as `auto`, never as an agent reply.
FOLLOWUP_ATTRIBUTE = "assistant_followup_id"
SHOP_PREFIX = "chatwoot"
MAX_ITEM_CHARS = 200
AGENT_NAME_CHARS = MAX_NAME_CHARS - 24  # an agent's name as kept, leaving room for " #<user id>"
MAX_TEXT_CHARS = 150_000  # Chatwoot's own limit on a message's content (app/models/message.rb)
RESOLVED = "resolved"
# Set aside by an agent: a resolve for the assistant (no follow-up) until the conversation is open again.
SET_ASIDE = (RESOLVED, "snoozed")
# How an attachment-only message is logged: the text says what was attached.
ATTACHMENT_WORDS = {
    "image": "图片", "audio": "语音", "video": "视频", "file": "文件", "location": "位置", "contact": "名片",
    "fallback": "附件",
}  # fmt: skip
# A delivery whose time cannot be read is logged at its arrival, which may be much later than it happened.
_UNTIMED = Throttled(
    log,
    "Chatwoot %s of conversation %s has no readable time (%s %r): logged at its arrival time"
    " (%d such deliveries since the last warning)",
)


class Memory(Protocol):
    """What earlier deliveries taught: our follow-ups' message ids, inboxes' accounts, the last status."""

    def followup_of(self, account: str, message: str) -> str | None: ...
    def followup(self, followup: str) -> tuple[str | None, str] | None: ...
    def account_of_inbox(self, inbox: str) -> str | None: ...
    def last_status(self, account: str, conversation: str) -> tuple[str, int] | None: ...
    def agent_name(self, account: str, user: str) -> str | None: ...
    def agent_named(self, name: str) -> str | None: ...
    def merge_of(self, shop: str, conversation: str, contact: str) -> tuple[str, str | None]: ...


class NoMemory:
    """A memory that knows nothing (a first delivery, or a pure mapping in tests)."""

    def followup_of(self, account: str, message: str) -> str | None:
        return None

    def followup(self, followup: str) -> tuple[str | None, str] | None:
        return None

    def account_of_inbox(self, inbox: str) -> str | None:
        return None

    def last_status(self, account: str, conversation: str) -> tuple[str, int] | None:
        return None

    def agent_name(self, account: str, user: str) -> str | None:
        return None

    def agent_named(self, name: str) -> str | None:
        return None

    def merge_of(self, shop: str, conversation: str, contact: str) -> tuple[str, str | None]:
        return contact, None


@dataclass(frozen=True)
class Notes:
    """What a payload teaches, to remember once its events are logged."""

    inbox: tuple[str, str] | None = None  # (inbox, account)
    followup: tuple[str, str, str] | None = None  # (account, message id, follow-up id)
    status: tuple[str, str, str, int] | None = None  # (account, conversation, status, changed at ms)
    agents: tuple[tuple[str, str, str], ...] = ()  # (account, user id, name) of agents first seen
    place: tuple[str, str, str] | None = None  # (shop, conversation, inbox): the inbox a refusal names


@dataclass(frozen=True)
class Mapped:
    """The outcome of mapping one payload: raw assistant events, or the reason it is ignored; and notes."""

    events: tuple[dict[str, Any], ...] = ()
    ignored: str | None = None
    notes: Notes = Notes()
    contact_name: str = ""  # the contact's name as Chatwoot gives it (shown on the panel's card, never logged)
    unusual: bool = False  # ignored for a reason the operator should hear of
    # A follow-up's news from its channel: (its id, why the channel did not deliver it, else None: a retry in Chatwoot
    # went through; when Chatwoot stamped the news, ms).
    channel: tuple[str, str | None, int] | None = None
    merged: tuple[str, str, str] | None = None  # (account, contact merged away, the contact it is now part of)


def shop_id(account: Any, inbox: Any, *, by_inbox: bool) -> str:
    """The assistant's shop for a Chatwoot account (and inbox)."""
    return f"{SHOP_PREFIX}-{account}-{inbox}" if by_inbox and inbox is not None else f"{SHOP_PREFIX}-{account}"


def account_of_shop(shop: str) -> str | None:
    """The Chatwoot account id inside a shop id made by `shop_id`, else None."""
    parts = shop.split("-")
    return parts[1] if len(parts) >= 2 and parts[0] == SHOP_PREFIX and parts[1].isdigit() else None


def shown_agent(shop: str, agent: str) -> str:
    """An agent's name as a buyer or agent reads it in a phrase: in a Chatwoot shop without the ` #<user id>` the
    log adds to tell two users of one name apart (that stays in the log, the reports and the panel's scope)."""
    return _TOLD_APART.sub("", agent) if account_of_shop(shop) is not None else agent


def shown_customer(shop: str, customer: str) -> str:
    """A customer's name as a phrase may use it; empty in a Chatwoot shop, whose log knows the contact only by id."""
    return "" if account_of_shop(shop) is not None else customer


def map_payload(
    payload: dict[str, Any],
    *,
    by_inbox: bool,
    now_ms: int,
    item_attribute: str = "",
    memory: Memory | None = None,
) -> Mapped:
    """Map one Chatwoot webhook, API-inbox or agent-bot payload; `item_attribute` names the item's attribute."""
    memory = memory or NoMemory()
    event = payload.get("event")
    if not isinstance(event, str):
        raise EventError("event", "required string (the Chatwoot event name)")
    if event not in KNOWN_EVENTS:
        return Mapped(ignored=f"event {event!r} is not used")
    if event == "webwidget_triggered":
        return Mapped(ignored="widget opened; nothing to log until the customer writes")
    if event == "conversation_created":
        return Mapped(ignored="conversation created; nothing to log until a message")
    if event in MESSAGE_EVENTS:
        mapped = _map_message(
            payload, event, by_inbox=by_inbox, now_ms=now_ms, item_attribute=item_attribute, memory=memory
        )
    else:
        mapped = _map_status(payload, event, by_inbox=by_inbox, now_ms=now_ms, memory=memory)
    # A conversation now of another contact: Chatwoot merged the two (ContactMergeAction moves the conversations);
    # a late delivery naming the contact merged away is logged under the one it became.
    first = mapped.events[0] if mapped.events else None
    if first is None:
        return mapped
    contact, before = memory.merge_of(first["shop"], first["conversation"], first["customer"])
    if contact != first["customer"]:  # a late delivery naming the contact merged away: its name is not the buyer's
        mapped = replace(mapped, contact_name="")
    for raw in mapped.events:
        raw["customer"] = contact
    return mapped if before is None else replace(mapped, merged=(str(account_of_shop(first["shop"])), before, contact))


def _map_message(
    payload: dict[str, Any], event: str, *, by_inbox: bool, now_ms: int, item_attribute: str, memory: Memory
) -> Mapped:
    if payload.get("private"):
        return Mapped(ignored="private note")
    message_type = payload.get("message_type")
    if message_type in (2, "activity"):
        return Mapped(ignored="activity message")
    attributes = _attributes(payload.get("content_attributes"))
    if attributes.get("deleted"):
        return Mapped(ignored="deleted message (what it said was logged when it was written)")
    text = _text(payload)
    if text is None:
        return Mapped(ignored="message without text or attachments")
    conversation = found if isinstance(found := payload.get("conversation"), dict) else _NOTHING
    conv_id = _given_id(conversation.get("id"), "conversation.id")
    if conv_id is None:
        raise EventError("conversation.id", "required (the conversation's display id)")
    message_id = _chatwoot_id(payload.get("id"), "id")
    if message_id is None:
        raise EventError("id", "required (the message id)")
    inbox_id = found.get("id") if isinstance(found := payload.get("inbox"), dict) else None
    inbox = _given_id(inbox_id, "inbox.id", conversation.get("inbox_id"))
    account = _account(payload, conversation, inbox, memory)
    sender = found if isinstance(found := payload.get("sender"), dict) else _NOTHING
    meta = found if isinstance(found := conversation.get("meta"), dict) else _NOTHING
    contact_of = found if isinstance(found := meta.get("sender"), dict) else _NOTHING
    incoming = message_type in ("incoming", 0)
    contact = _first(contact_of.get("id"), sender.get("id") if incoming else None)  # a contact sender: no `type`
    if contact is None:
        contact = _first(_dict(conversation.get("contact_inbox")).get("contact_id"))
    if contact is None:
        raise EventError("conversation.meta.sender.id", "required (the contact id)")
    agents: list[tuple[str, str, str]] = []
    assignee = _assignee(meta, account, memory, agents)
    carried = attributes.get(FOLLOWUP_ATTRIBUTE)
    carried = carried if isinstance(carried, str) and carried.strip() else None
    # Delete and retry replace content_attributes in a message_updated: our own message is known by its id too.
    ours = carried is None and event == "message_updated" and message_type not in ("incoming", 0)
    followup_id = carried or (memory.followup_of(str(account), str(message_id)) if ours else None)
    role, agent = _sender(message_type, sender, assignee, payload)
    if followup_id:
        # Our own message, whoever's token posted it (an administrator's is a `user` sender): logged as the
        # assistant logs it (the echo may come first), credited to the agent the follow-up was armed for, in the
        # phrase's words (Chatwoot's copy has emoji for the emoticon codes).
        made = memory.followup(followup_id)
        agent = made[0] if made is not None else assignee
        text = made[1] if made is not None else text
    elif role == "agent":
        agent = _agent(sender, account, memory, agents) or agent or "agent"  # its name, else the assignee's
    raw: dict[str, Any] = {
        "id": f"cw-{account}-msg-{message_id}",
        "type": "message",
        "ts": _message_ms(payload, conversation, event, now_ms),
        "shop": shop_id(account, inbox, by_inbox=by_inbox),
        "conversation": str(conv_id),
        "customer": str(contact),
        "sender": role,
        "text": text,
    }
    if agent:
        raw["agent"] = agent
    custom = conversation.get("custom_attributes") if item_attribute else None
    item = _item(custom.get(item_attribute)) if isinstance(custom, dict) else None
    if item is not None:
        raw["item"] = item
    if followup_id:
        raw["sender"] = "auto"
        raw["followup_id"] = followup_id
        # The same id the assistant logged its follow-up under: the echo is a duplicate, not a second message.
        raw["id"] = f"auto-{followup_id}"
    notes = Notes(
        inbox=(str(inbox), str(account)) if inbox is not None else None,
        followup=(str(account), str(message_id), carried) if carried else None,
        status=_status_note(str(account), str(conv_id), conversation, now_ms),
        agents=tuple(agents),
        place=(raw["shop"], str(conv_id), str(inbox)) if inbox is not None else None,
    )
    # WhatsApp, Facebook, a bridge… refused what Chatwoot had taken: the follow-up never reached the buyer; or an
    # agent's retry in Chatwoot (status failed to sent, external_error cleared) sent it after all.
    error = _channel_error(payload, attributes, conversation) if followup_id else None
    channel = None
    if followup_id and (error or event == "message_updated"):  # a message's change touches its conversation
        channel = (followup_id, error, _ts(conversation.get("updated_at")) or now_ms)
    if role != "customer" and event == "message_created" and conversation.get("status") in SET_ASIDE:
        # An agent writing in a resolved or snoozed conversation (a tracking number after the resolve) leaves it closed:
        # no follow-up. A message_updated (read, delivered) carries the status at the update, not when it was written.
        closed = {**raw, "id": f"{raw['id']}-{conversation['status']}", "type": "conversation_closed"}
        for key in ("sender", "text", "item", "followup_id"):
            closed.pop(key, None)
        return Mapped(events=(raw, closed), notes=notes, channel=channel)
    name = _contact_name(contact_of, sender if incoming else _NOTHING)
    return Mapped(events=(raw,), notes=notes, contact_name=name, channel=channel)


def _channel_error(payload: dict[str, Any], attributes: dict[str, Any], conversation: dict[str, Any]) -> str | None:
    """Why the channel did not deliver a message Chatwoot took: its `external_error` (set with status `failed` by the
    channel's send service), or a `failed` status (its own or its copy's in `conversation.messages`); else None."""
    messages = conversation.get("messages")
    same = [m for m in (messages if isinstance(messages, list) else []) if _dict(m).get("id") == payload.get("id")]
    status = _first(payload.get("status"), *(m.get("status") for m in same))
    error = attributes.get("external_error")
    if isinstance(error, str) and error.strip() and status in (None, "failed", 3):  # a retry's claim: sent, error kept
        return " ".join(error.split())[:500]
    return "status failed (the channel gave no reason)" if status in ("failed", 3) else None


def _contact_name(*contacts: dict[str, Any]) -> str:
    """The contact's name: the first of `contacts` (`meta.sender`, the contact whoever wrote, then an incoming message's
    sender) with one that shows; "" when none has one (a contact made without a name)."""
    for contact in contacts:
        name = contact.get("name")
        shown = clean_name(" ".join(name.split())) if isinstance(name, str) else ""
        if shown:
            return shown[:MAX_NAME_CHARS]
    return ""


def _text(payload: dict[str, Any]) -> str | None:
    """The message's text, then what was attached ("[图片]"): either alone when the other is missing; else None."""
    content = payload.get("content")
    text = content if isinstance(content, str) and content.strip() else None
    attachments = payload.get("attachments")
    words = []
    for attachment in attachments if isinstance(attachments, list) else []:
        kind = _dict(attachment).get("file_type")
        words.append(f"[{ATTACHMENT_WORDS.get(kind, '附件') if isinstance(kind, str) else '附件'}]")
    if not words:
        return text
    return " ".join(words) if text is None else f"{text} {' '.join(words)}"


def _sender(
    message_type: Any, sender: dict[str, Any], assignee: str | None, payload: dict[str, Any]
) -> tuple[str, str | None]:
    """(assistant sender, agent) from Chatwoot's message_type and sender."""
    if message_type in ("incoming", 0):
        return "customer", assignee
    if message_type in ("template", 3):
        return "auto", assignee
    if isinstance(extra := payload.get("additional_attributes"), dict) and extra.get("campaign_id") is not None:
        return "auto", assignee  # a campaign: sent in the campaign user's name, not written by them
    if sender.get("type") == "user":
        return "agent", assignee  # named by the caller: by the user's id, the name read only when it is not known
    # An outgoing message from an agent bot, Captain, an automation, or with no sender.
    return "auto", assignee


def _assignee(meta: dict[str, Any], account: str, memory: Memory, seen: list[tuple[str, str, str]]) -> str | None:
    """The assigned agent's name; a bot assignee is no agent."""
    assignee = meta.get("assignee")
    if not isinstance(assignee, dict):
        return None  # no assignee: no name, and no user id to know one by
    if assignee.get("type") == "agent_bot" or meta.get("assignee_type") == "AgentBot":
        return None
    return _agent(assignee, account, memory, seen)


def _agent(user: dict[str, Any], account: str, memory: Memory, seen: list[tuple[str, str, str]]) -> str | None:
    """An agent's one name, keyed on the Chatwoot user id: the name first seen for it, kept across renames.

    Chatwoot does not keep names unique (shops name accounts 售前, 售后): a user first seen with a name another
    user already holds, in this account or another (another shop), is told apart by its id (`小王 #32`), so two
    people never share a row of the report, a panel or a per-agent token (which opens every shop's
    conversations of that name). A user's id is the installation's, the same in every account it belongs to:
    one person serving several shops keeps one name, and one panel.
    """
    user_id = _first(user.get("id"))
    if user_id is None:
        return _user_name(user)
    known = memory.agent_name(account, str(user_id))
    if known is not None:
        return known  # nearly every delivery: the name as sent is not read
    name = _user_name(user, user_id)
    if name is not None:
        holder = memory.agent_named(name)
        holder = holder or next((u for _, u, n in seen if n == name), None)
        # `name #<id>` is how users are told apart: a user who names himself `小王 #555` gets his own id too, or he
        # took the name the real user 555 would get (and that user's panel and report row).
        if holder is not None and holder != str(user_id) or _TOLD_APART.search(name):
            name = f"{name} #{user_id}"
        seen.append((account, str(user_id), name))
    return name


def _map_status(payload: dict[str, Any], event: str, *, by_inbox: bool, now_ms: int, memory: Memory) -> Mapped:
    """A status change → `conversation_closed` once per resolve, in the order Chatwoot made the changes."""
    changed = _changed_keys(payload.get("changed_attributes"))
    if event == "conversation_updated" and "status" not in changed:
        if "assignee_id" in changed:
            return _map_assignment(payload, by_inbox=by_inbox, now_ms=now_ms, memory=memory)
        return Mapped(ignored="conversation updated without a status or assignee change")
    if event == "conversation_updated" and "assignee_id" in changed:
        # One save changed both (the bulk-actions API's `fields`, an auto-assignment on a reopen): the handover
        # counts whether or not `conversation_status_changed` already told the status.
        handed = _map_assignment(payload, by_inbox=by_inbox, now_ms=now_ms, memory=memory)
        told = _map_status(payload, "conversation_status_changed", by_inbox=by_inbox, now_ms=now_ms, memory=memory)
        if not handed.events:
            return told
        seen = tuple(dict.fromkeys((*handed.notes.agents, *told.notes.agents)))
        return Mapped(events=(*handed.events, *told.events), notes=Notes(status=told.notes.status, agents=seen))
    status = payload.get("status")
    if not isinstance(status, str) or not status:
        raise EventError("status", "required string (the conversation's status)")
    found = _conversation_of(payload, memory)
    if isinstance(found, Mapped):
        return found
    account, conv_id = found
    changed_ms = _changed_ms(payload, now_ms)
    note = (str(account), str(conv_id), status, changed_ms)
    last = memory.last_status(str(account), str(conv_id))
    if last is not None and changed_ms < last[1]:
        return Mapped(ignored=f"status {status!r} older than the last change seen ({last[0]!r})")
    if last is not None and last[0] == status:  # the same change announced again (status_changed and updated)
        return Mapped(ignored=f"status {status!r} already known", notes=Notes(status=note))
    if status not in SET_ASIDE:
        return Mapped(ignored=f"conversation status {status!r} needs no event", notes=Notes(status=note))
    meta = _dict(payload.get("meta"))
    raw = _conversation_event(payload, "conversation_closed", status, account, conv_id, changed_ms, by_inbox)
    agents: list[tuple[str, str, str]] = []
    agent = _assignee(meta, str(account), memory, agents)
    if agent:
        raw["agent"] = agent
    return Mapped(events=(raw,), notes=Notes(status=note, agents=tuple(agents)))


def _conversation_of(payload: dict[str, Any], memory: Memory) -> tuple[str, str] | Mapped:
    """A conversation payload's (account, conversation id), or what to answer when its account is unknown."""
    conv_id = _given_id(payload.get("id"), "id")
    if conv_id is None:
        raise EventError("id", "required (the conversation's display id)")
    try:
        return _account(payload, payload, payload.get("inbox_id"), memory), conv_id
    except EventError:
        # Before 4.14.2, a conversation with no chat message, in an inbox no message came from yet: nothing
        # of it is in the log, and guessing an account could close another account's conversation.
        return Mapped(ignored="account unknown (no account, no message, an inbox not seen before)", unusual=True)


def _map_assignment(payload: dict[str, Any], *, by_inbox: bool, now_ms: int, memory: Memory) -> Mapped:
    """A reassignment → `conversation_assigned` to the new agent (unassigned, or to a bot: nothing to log)."""
    found = _conversation_of(payload, memory)
    if isinstance(found, Mapped):
        return found
    account, conv_id = found
    meta = _dict(payload.get("meta"))
    agents: list[tuple[str, str, str]] = []
    agent = _assignee(meta, account, memory, agents)
    if agent is None:
        return Mapped(ignored="unassigned, or assigned to a bot: the conversation keeps its last agent")
    changed_ms = _changed_ms(payload, now_ms)
    raw = _conversation_event(payload, "conversation_assigned", "assigned", account, conv_id, changed_ms, by_inbox)
    raw["agent"] = agent
    return Mapped(events=(raw,), notes=Notes(agents=tuple(agents)))


def _conversation_event(
    payload: dict[str, Any], kind: str, change: str, account: str, conv_id: str, changed_ms: int, by_inbox: bool
) -> dict[str, Any]:
    """The event of a change to a conversation, keyed on the change, not the delivery: every announcement of one
    resolve (or one reassignment) is one event."""
    meta = _dict(payload.get("meta"))
    contact = _first(_dict(meta.get("sender")).get("id"), _dict(payload.get("contact_inbox")).get("contact_id"))
    if contact is None:
        raise EventError("meta.sender.id", "required (the contact id)")
    return {
        "id": f"cw-{account}-conv-{conv_id}-{change}-{changed_ms}",
        "type": kind,
        "ts": changed_ms,
        "shop": shop_id(account, payload.get("inbox_id"), by_inbox=by_inbox),
        "conversation": str(conv_id),
        "customer": str(contact),
    }


def _changed_keys(changed: Any) -> set[str]:
    """The attribute names of `changed_attributes`: a list of single-key dicts (a dict, defensively)."""
    items = [changed] if isinstance(changed, dict) else changed if isinstance(changed, list) else []
    return {str(k) for item in items if isinstance(item, dict) for k in item}


def _changed_ms(conversation: dict[str, Any], now_ms: int) -> int:
    """When the conversation last changed (`updated_at`, a float epoch), else its last activity, else now."""
    value = _first(conversation.get("updated_at"), conversation.get("timestamp"))
    ms = _ts(value)
    if ms is None:
        _UNTIMED.warn(now_ms, "status change", conversation.get("id"), "updated_at", value)
        return now_ms
    return ms


def _message_ms(payload: dict[str, Any], conversation: dict[str, Any], event: str, now_ms: int) -> int:
    """When a message was written: its `created_at`, else the same message's among the conversation's
    `messages` (epoch seconds), else its arrival (warned: a late delivery would look just written)."""
    ms = _ts(payload.get("created_at"))
    if ms is None:
        messages = conversation.get("messages")
        same = [m for m in (messages if isinstance(messages, list) else []) if _dict(m).get("id") == payload.get("id")]
        ms = _ts(same[0].get("created_at")) if same else None
    if ms is None:
        _UNTIMED.warn(now_ms, event, conversation.get("id"), "created_at", payload.get("created_at"))
        return now_ms
    return ms


def _status_note(
    account: str, conv_id: str, conversation: dict[str, Any], now_ms: int
) -> tuple[str, str, str, int] | None:
    """A message's conversation still open at its last change: a reopening the status events may miss.

    Never `resolved`: only a status event logs a closure, and it must not look old against a message's news.
    """
    status = conversation.get("status")
    if not isinstance(status, str) or status in ("", RESOLVED) or conversation.get("updated_at") is None:
        return None
    return (account, conv_id, status, _changed_ms(conversation, now_ms))


def claimed_account(payload: dict[str, Any]) -> str | None:
    """The account a payload names itself (not guessed from an inbox), as text; None when it names none."""
    account = _named_account(payload, _dict(payload.get("conversation")) or payload)
    return None if account is None else str(account)


def _named_account(payload: dict[str, Any], conversation: dict[str, Any]) -> Any:
    """The account id the payload, its conversation or the conversation's last chat message names, as sent."""
    for holder in (payload, conversation):  # the first that names one, looked at no further than needed
        account = holder.get("account")
        account = _first(account.get("id")) if isinstance(account, dict) else None
        if account is not None:
            return account
    messages = conversation.get("messages")
    return _first(_dict(messages[0]).get("account_id")) if isinstance(messages, list) and messages else None


def _account(payload: dict[str, Any], conversation: dict[str, Any], inbox: Any, memory: Memory) -> str:
    """The account: the payload's, the last chat message's, else the one this inbox was seen in."""
    account = _chatwoot_id(_named_account(payload, conversation), "account.id")
    if account is None and inbox is not None:
        # Before 4.14.2 a conversation payload has no `account`; inbox ids are unique across accounts.
        account = memory.account_of_inbox(str(inbox))
    if account is None:
        raise EventError("account.id", "required (the Chatwoot account id; unknown for this inbox)")
    return str(account)


def _user_name(user: dict[str, Any], user_id: Any = None) -> str | None:
    """An agent's one name: the user's `name`, which every payload carries (the panel too), else the id.

    `available_name` (the display name) is only in conversation payloads, so it would split one agent in two.
    """
    name = user.get("name")
    if isinstance(name, str):
        # Chatwoot lets a user name himself anything. Line breaks and tabs part words (a space); what shows
        # nothing is dropped, as docs/chatwoot.md says: "小\u202e美" was "小 美", not the 小美 of /v1/events.
        name = " ".join(_HIDDEN.sub("", " ".join(name.split())).split())
    if isinstance(name, str) and shows(name):  # "ㅤ" (a Hangul filler) shows nothing: the id, as for ""
        # Chatwoot sets no length limit; the log's is MAX_NAME_CHARS, with room for an id to tell two apart.
        return name if len(name) <= AGENT_NAME_CHARS else name[: AGENT_NAME_CHARS - 1] + "…"
    user_id = user.get("id") if user_id is None else user_id
    return str(user_id) if user_id is not None else None


def _ts(value: Any) -> int | None:
    """Chatwoot's times: ISO-8601 strings with a zone ("2026-11-20T02:00:05.123Z") or epoch seconds (or ms); else
    None, as for a time outside the years the log takes (a huge `updated_at` was written to the memory: a 500)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        ms = value * 1000 if abs(value) < 100_000_000_000 else value  # NaN and infinities fall out below
        return int(ms) if MIN_TS_MS <= ms < MAX_TS_MS else None
    if isinstance(value, str):
        try:
            return parse_ts(value.strip())
        except EventError:
            return None
    return None


def _item(value: Any) -> str | None:
    """An item id from a conversation custom attribute (text or number); anything else is not one."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = str(value).strip()
    if not text or len(text) > MAX_ITEM_CHARS or any(ch.isspace() or not ch.isprintable() for ch in text):
        return None
    return text


def _attributes(value: Any) -> dict[str, Any]:
    """`content_attributes` as stored: a hash, or the JSON string a client posted (Chatwoot keeps it as given)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return _dict(value)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else _NOTHING


_ID = re.compile(r"[1-9][0-9]{0,18}")
_TOLD_APART = re.compile(r" #[0-9]+$")
_NOTHING: dict[str, Any] = {}  # an object a payload lacks (read, never written to)
_HIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def _chatwoot_id(value: Any, field: str) -> str | None:
    """A Chatwoot id (a positive integer, as Chatwoot sends them) as text, or None. Anything else is refused: the
    ids go into the API's paths, and `77/../../4/conversations/77` or `1?a=b` chose another endpoint or account
    for the service's token (`04` another spelling of account 4)."""
    if type(value) is int and 0 < value < 10**19:  # as Chatwoot sends them: _ID's integers, no pattern (not a bool)
        return str(value)
    if value is None:
        return None
    if not isinstance(value, str) or not _ID.fullmatch(value):  # an integer here is out of _ID's range
        raise EventError(field, f"expected a Chatwoot id (a positive integer), got {value!r}"[:200])
    return value


def _given_id(value: Any, field: str, otherwise: Any = None) -> str | None:
    """`_chatwoot_id` of the first of `value`, `otherwise` that `_first` takes, in one call."""
    if value is None or value == "" or isinstance(value, (dict, list, bool)):
        value = _first(otherwise)
    return None if value is None else _chatwoot_id(value, field)


def _first(*values: Any) -> Any:
    for value in values:
        if value is not None and value != "" and not isinstance(value, (dict, list, bool)):
            return value
    return None
