"""The event schema: parsing and validation of inbound chat events."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, Literal, get_args

from mypy_extensions import mypyc_attr

from assistant.clock import FIRST_YEAR, LAST_YEAR

EventType = Literal[
    "message",
    "order_created",
    "order_paid",
    "order_closed",
    "order_refunded",
    "conversation_closed",
    "conversation_assigned",
    "suggestion_used",
]
Sender = Literal["customer", "agent", "auto"]
# Trimmed off shop, customer and agent names at intake, and off the customer and agent names of a log written
# before (schema.py's migrations 100 and 120): "小美 " is 小美.
NAME_PADDING = " \u00a0\u3000"
# Removed from those names wherever they are, as characters that show nothing and join nothing (a spreadsheet's
# byte-order mark, a zero-width space; a zero-width joiner stays: it builds emoji such as 👩‍💻); schema.py's
# migration 120 cleaned a log written before so too.
UNSEEN_CHARS = "\u200b\u2060\ufeff\u00ad"

EVENT_TYPES: tuple[str, ...] = get_args(EventType)
# The events about one order (`order`): placed, paid, closed (cancelled, or closed unpaid by the platform), refunded.
ORDER_TYPES: tuple[str, ...] = ("order_created", "order_paid", "order_closed", "order_refunded")
SENDERS: tuple[str, ...] = ("customer", "agent", "auto")
MAX_ID_CHARS = 200
MAX_NAME_CHARS = 200
# Epoch milliseconds accepted: 2000-01-01 .. 2100-01-01; anything else is a unit mistake.
MIN_TS_MS = 946_684_800_000
MAX_TS_MS = 4_102_444_800_000
MAX_AMOUNT = 1e12  # yuan; far beyond any order, and exact in a float
# The fields read as ids and names: kept exactly, so a lone surrogate in one is refused (the body's decoder keeps it).
NAME_FIELDS = frozenset(
    {"id", "type", "shop", "conversation", "customer", "sender", "agent", "order", "phrase_id", "followup_id", "item"}
)


class EventError(ValueError):
    """An event that does not follow the schema; `field` names the offending key."""

    def __init__(self, field: str, message: str, index: int | None = None) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.index = index

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": "invalid_event", "field": self.field, "message": self.message}
        if self.index is not None:
            body["index"] = self.index
        return body


# A Python class when compiled too (assistant/suggest/native.py): its cached properties and parse_event's quick
# way need an instance `__dict__`, which a compiled class has not.
@mypyc_attr(native_class=False)
@dataclass(frozen=True)
class Event:
    """One validated chat event."""

    id: str
    type: str
    ts_ms: int
    shop: str
    conversation: str
    customer: str
    sender: str | None = None
    text: str | None = None
    agent: str | None = None
    order: str | None = None
    amount: float | None = None
    phrase_id: str | None = None
    followup_id: str | None = None
    item: str | None = None  # the product the message is about (docs/catalog.md)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    # Worked out once an event (parse_event's quick way gives them with the fields): the listeners ask each event.
    @cached_property
    def is_customer_message(self) -> bool:
        return self.type == "message" and self.sender == "customer"

    @cached_property
    def is_agent_message(self) -> bool:
        return self.type == "message" and self.sender == "agent"


def brief(value: Any, limit: int = 60) -> str:
    """`repr(value)`, cut short: an oversized value is never echoed whole in an error or a log line."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def parse_batch(doc: Any, max_batch: int) -> list[dict[str, Any]]:
    """A decoded request body (one object or an array of objects) as a list of raw event objects."""
    if isinstance(doc, dict):
        return [doc]
    if isinstance(doc, list):
        if not doc:
            raise EventError("body", "empty batch")
        if len(doc) > max_batch:
            raise EventError("body", f"batch of {len(doc)} events exceeds max_batch {max_batch}")
        for i, item in enumerate(doc):
            if not isinstance(item, dict):
                raise EventError(f"[{i}]", "each event must be a JSON object", index=i)
        return doc
    raise EventError("body", "expected a JSON object or an array of objects")


_new = object.__new__
_setattr = object.__setattr__


def parse_event(raw: dict[str, Any], *, max_text_chars: int) -> Event:
    """Validate one raw event object and return the typed event.

    A message (nearly every event) whose fields are all plain is taken after one run of checks, on the loop,
    without a call per field: together they pass only what `check_event` passes, and it is the same event.
    Anything else, and any message they do not pass, is `check_event`'s, which names the first field wrong.
    """
    get = raw.get
    if get("type") == "message" and "order" not in raw and "phrase_id" not in raw:  # every name field read below
        event_id, conversation, ts, text = get("id"), get("conversation"), get("ts"), get("text")
        shop, customer, sender, agent = get("shop"), get("customer"), get("sender"), get("agent")
        followup_id, item = get("followup_id"), get("item")
        # An ASCII id printable and not only spaces passes `_string`; a printable name that shows passes it and
        # `_name` keeps it but for its spaces (each hiding, unseen, padding or surrogate character is unprintable
        # but the space: such a name is `check_event`'s). An int `ts` in range is what `parse_ts` makes of it.
        ts_ms = ts if type(ts) is int and MIN_TS_MS <= ts < MAX_TS_MS else _ts_or_none(ts)
        if (
            ts_ms is not None
            and type(text) is str
            and len(text) <= max_text_chars
            and "\x00" not in text
            and (sender == "customer" or sender == "auto" or (sender == "agent" and agent is not None))
            and type(event_id) is str
            and 0 < len(event_id) <= MAX_ID_CHARS
            and event_id.isascii()
            and event_id.isprintable()
            and not event_id.isspace()
            and type(conversation) is str
            and 0 < len(conversation) <= MAX_ID_CHARS
            and conversation.isascii()
            and conversation.isprintable()
            and not conversation.isspace()
            and type(shop) is str
            and 0 < len(shop) <= MAX_NAME_CHARS
            and shop.isprintable()
            and (not shop.isspace() if shop.isascii() else _VISIBLE.search(shop) is not None)
            and type(customer) is str
            and 0 < len(customer) <= MAX_NAME_CHARS
            and customer.isprintable()
            and (not customer.isspace() if customer.isascii() else _VISIBLE.search(customer) is not None)
            and (
                agent is None
                or type(agent) is str
                and 0 < len(agent) <= MAX_NAME_CHARS
                and agent.isprintable()
                and (not agent.isspace() if agent.isascii() else _VISIBLE.search(agent) is not None)
            )
            and (
                followup_id is None
                or type(followup_id) is str
                and 0 < len(followup_id) <= MAX_ID_CHARS
                and followup_id.isascii()
                and followup_id.isprintable()
                and not followup_id.isspace()
            )
            and (
                item is None
                or type(item) is str
                and 0 < len(item) <= MAX_ID_CHARS
                and item.isascii()
                and item.isprintable()
                and not item.isspace()
            )
        ):
            # Its fields given whole: the dataclass's `__init__` sets each of the 15 through object.__setattr__
            # (frozen), which took more than the checks above. The same event (==, hash, repr), and raw is kept;
            # its two cached properties given too.
            event = _new(Event)
            _setattr(
                event,
                "__dict__",
                {
                    "id": event_id,
                    "type": "message",
                    "ts_ms": ts_ms,
                    "shop": shop.strip(NAME_PADDING),
                    "conversation": conversation,
                    "customer": customer.strip(NAME_PADDING),
                    "sender": sender,
                    "text": text,
                    "agent": None if agent is None else agent.strip(NAME_PADDING),
                    "order": None,
                    "amount": None,
                    "phrase_id": None,
                    "followup_id": followup_id,
                    "item": item,
                    "raw": raw,
                    "is_customer_message": sender == "customer",
                    "is_agent_message": sender == "agent",
                },
            )
            return event
    return check_event(raw, max_text_chars=max_text_chars)


def check_event(raw: dict[str, Any], *, max_text_chars: int) -> Event:
    """`parse_event` field by field: each is checked in turn, and the first wrong named (`EventError`)."""
    # The keys first: `frozenset & keys` is a set (the keys' `__rand__`), which compiled code takes for a frozenset.
    for key in raw.keys() & NAME_FIELDS:  # whether or not this type reads it: nothing half-decoded is stored
        value = raw[key]  # (an ASCII string holds no surrogate: most ids are searched for none)
        if isinstance(value, str) and not value.isascii() and _LONE_SURROGATE.search(value):
            # Replaced by U+FFFD, two ids each ending in a different half were one, the second a "duplicate".
            raise EventError(key, "must not contain a lone UTF-16 surrogate (half a character, e.g. \\ud83d)")
    event_id = _string(raw, "id", max_len=MAX_ID_CHARS)
    event_type = _string(raw, "type")
    if event_type not in EVENT_TYPES:
        raise EventError("type", f"unknown type {brief(event_type)}; expected one of {', '.join(EVENT_TYPES)}")
    ts_ms = parse_ts(raw.get("ts"))
    common = {
        "id": event_id,
        "type": event_type,
        "ts_ms": ts_ms,
        "shop": _name(raw, "shop"),
        "conversation": _string(raw, "conversation", max_len=MAX_ID_CHARS),
        "customer": _name(raw, "customer"),
        "raw": raw,
    }
    agent = _name(raw, "agent", required=False)
    if event_type == "message":
        sender = _string(raw, "sender")
        if sender not in SENDERS:
            raise EventError("sender", f"unknown sender {brief(sender)}; expected one of {', '.join(SENDERS)}")
        text = raw.get("text")
        if not isinstance(text, str):
            raise EventError("text", "required string" if text is None else "must be a string")
        if len(text) > max_text_chars:
            raise EventError("text", f"{len(text)} characters exceeds max_text_chars {max_text_chars}")
        if "\x00" in text:
            raise EventError("text", "must not contain NUL characters")
        if sender == "agent" and agent is None:
            raise EventError("agent", "required when sender is 'agent'")
        followup_id = _string(raw, "followup_id", required=False, max_len=MAX_ID_CHARS)
        item = _string(raw, "item", required=False, max_len=MAX_ID_CHARS)
        return Event(**common, sender=sender, text=text, agent=agent, followup_id=followup_id, item=item)
    if event_type in ("order_created", "order_paid"):
        return Event(**common, order=_string(raw, "order", max_len=MAX_ID_CHARS), amount=_amount(raw), agent=agent)
    if event_type == "order_refunded":  # a refund of nothing is no refund: its amount is above zero
        amount = _amount(raw)
        if amount <= 0:
            raise EventError("amount", "the refunded sum must be above 0 (yuan)")
        return Event(**common, order=_string(raw, "order", max_len=MAX_ID_CHARS), amount=amount, agent=agent)
    if event_type == "order_closed":
        return Event(**common, order=_string(raw, "order", max_len=MAX_ID_CHARS), agent=agent)
    if event_type in ("suggestion_used", "conversation_assigned"):
        if agent is None:
            raise EventError("agent", f"required for {event_type}")
        if event_type == "conversation_assigned":
            return Event(**common, agent=agent)
        return Event(**common, agent=agent, phrase_id=_string(raw, "phrase_id", max_len=MAX_ID_CHARS))
    return Event(**common, agent=agent)


def _ts_or_none(value: Any) -> int | None:
    """`parse_ts(value)`, None where it refuses it (`check_event` then says why, after any field before)."""
    try:
        return parse_ts(value)
    except EventError:
        return None


def parse_ts(value: Any) -> int:
    """ISO-8601 with an offset, or epoch milliseconds → epoch milliseconds."""
    if value is None:
        raise EventError("ts", "required (ISO-8601 with offset, or epoch milliseconds)")
    if isinstance(value, bool):
        raise EventError("ts", "must be an ISO-8601 string or epoch milliseconds")
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise EventError("ts", "must be finite")
        if not MIN_TS_MS <= value < MAX_TS_MS:
            raise EventError("ts", f"epoch milliseconds out of range: {brief(value)} (seconds given instead of ms?)")
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        # A leap second (RFC 3339 allows `23:59:60`), which Python does not read: taken as the next second.
        text, leap = _LEAP_SECOND.subn(r"\g<1>59", text, count=1)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise EventError("ts", f"not an ISO-8601 timestamp: {brief(value)}") from None
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            raise EventError("ts", f"ISO-8601 timestamp needs an offset (e.g. +08:00): {brief(value)}")
        # The years as written (not the UTC instant): "2000-01-01T00:30:00+08:00" is in range.
        if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
            raise EventError("ts", f"timestamp out of range (years {FIRST_YEAR}-{LAST_YEAR}): {brief(value)}")
        return round((parsed + timedelta(seconds=leap)).timestamp() * 1000)
    raise EventError("ts", "must be an ISO-8601 string or epoch milliseconds")


_LEAP_SECOND = re.compile(r"([Tt ]\d{2}:59:)60(?=[.,]\d|[Zz+-]|$)")


def _name(raw: dict[str, Any], key: str, *, required: bool = True) -> Any:
    """A shop, customer or agent name without the spaces platforms leave around nicknames ("小美 " is 小美) and
    without the characters that show nothing (a spreadsheet's byte-order mark, a zero-width space): each made one
    agent two look-alike rows of the report, and reached buyers inside a phrase's {{ agent }}."""
    value = _string(raw, key, required=required)
    if value is None:
        return None
    # clean_name's rule, without its call for every name of every event: an ASCII name has no unseen character.
    return value.strip(NAME_PADDING) if value.isascii() else _UNSEEN.sub("", value).strip(NAME_PADDING)


def clean_name(value: str) -> str:
    """A name as the log keeps it: without the characters that show nothing, and the spaces around it (the
    panel's `?agent=` and `assistant panel-url --agent` read names so too: a spreadsheet's \\ufeff小美 is 小美)."""
    return _UNSEEN.sub("", value).strip(NAME_PADDING)


def _string(raw: dict[str, Any], key: str, *, required: bool = True, max_len: int = MAX_NAME_CHARS) -> Any:
    value = raw.get(key)
    if value is None:
        if required:
            raise EventError(key, "required string")
        return None
    if not isinstance(value, str):
        raise EventError(key, f"must be a string, got {type(value).__name__}")
    if not value.strip():
        raise EventError(key, "must not be empty")
    if len(value) > max_len:
        raise EventError(key, f"longer than {max_len} characters")
    # Every NUL, control, separator and format character is unprintable: most names are checked by that alone.
    if not value.isprintable():
        if "\x00" in value:
            raise EventError(key, "must not contain NUL characters")
        if _HIDING.search(value):  # a name shown blank, reversed or on two lines in every panel, page and workbook
            raise EventError(key, "must not contain control, line-break or text-direction characters")
    # Printable ASCII that is not only spaces (checked above) shows.
    if not (value.isascii() or shows(value)):
        raise EventError(key, "must not be empty (only invisible characters)")
    return value


def shows(name: str) -> bool:
    """Whether a name has a character that shows: not only spaces, zero-width or format characters, or the
    fillers that draw nothing (ㅤ U+3164, U+115F, ⠀ U+2800), which nicknames use to look blank."""
    return _VISIBLE.search(name) is not None


# Control characters (line breaks and tabs too), the line and paragraph separators, and the bidirectional
# overrides and isolates.
_HIDING = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")
_UNSEEN = re.compile(f"[{UNSEEN_CHARS}]")
# Something that shows: not a space, and not one of Unicode's default-ignorable characters (zero-width, format,
# variation selectors, the Hangul fillers) nor the blank Braille pattern U+2800. docs/openapi.yaml's Name says so too.
_VISIBLE = re.compile(
    r"[^\s\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f"
    r"\u2800\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8]"
)


def _amount(raw: dict[str, Any]) -> float:
    value = raw.get("amount")
    if value is None:
        raise EventError("amount", "required number (yuan)")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise EventError("amount", "must be a number (yuan)")
    if (isinstance(value, float) and not math.isfinite(value)) or value < 0:
        raise EventError("amount", "must be a finite number ≥ 0")
    if value > MAX_AMOUNT:
        raise EventError("amount", f"larger than {MAX_AMOUNT:.0f}")
    return round(float(value), 2)
