"""`parse_event`'s one run of checks for a message against `check_event`, the field-by-field way: the same
event, or the same error naming the same field, whatever the fields hold."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from assistant.events import Event, EventError, check_event, parse_event

TS = 1_795_140_000_000
BASE: dict[str, Any] = {
    "id": "e1", "type": "message", "ts": TS, "shop": "小熊家居", "conversation": "c1", "customer": "爱吃橘子的猫",
    "sender": "agent", "agent": "张美玲", "text": "亲，今天付款今天发哦",
}  # fmt: skip
# What names and ids hold in the wild and what each check is there for: ASCII, Chinese, spaces of each width
# (trimmed), the unseen (removed), the hiding (refused), fillers that draw nothing, a lone surrogate half, NUL.
CHARS = "a1- _.小美\u00a0\u3000\u200b\u00ad\ufeff\u2060\u200d\u202e\u2028\n\t\x00\x7f\u3164\u2800\ufe0f\ud83d👩"
FIELDS = ("id", "type", "ts", "shop", "conversation", "customer", "sender", "agent", "text", "followup_id", "item")
ODD = ("order", "phrase_id", "amount")  # fields of other types, which a message may still carry


def outcome(parse: Any, raw: dict[str, Any], limit: int) -> tuple[str, Any]:
    """The event made (its fields, its hash, its repr, whether it holds raw itself), or the error raised."""
    try:
        event: Event = parse(raw, max_text_chars=limit)
    except EventError as exc:
        return "refused", (exc.field, exc.message, exc.index)
    fields = [getattr(event, f.name) for f in dataclasses.fields(event)]
    kinds = (event.is_customer_message, event.is_agent_message)
    return "taken", (event, fields, kinds, hash(event), repr(event), event.raw is raw)


values = st.one_of(
    st.none(),
    st.text(st.sampled_from(CHARS), max_size=6),
    st.sampled_from(["", " ", "message", "order_paid", "customer", "agent", "auto", "x" * 200, "x" * 201]),
    st.sampled_from(["小" * 200, "小" * 201, "2026-11-20T10:00:00+08:00", "2026-11-20T10:00:00"]),
    st.sampled_from([TS, TS + 0.5, 999, 946_684_800_000, 4_102_444_800_000, True, 1, 0, -1, [], {}]),
)


@settings(max_examples=1500, deadline=None)
@given(
    st.dictionaries(st.sampled_from(FIELDS + ODD), values, max_size=2),  # one or two odd: each check is met alone
    st.sets(st.sampled_from(FIELDS), max_size=1),
    st.sampled_from([2, 5000]),
)
@example({"customer": "\u3164"}, set(), 5000)  # a filler that is printable and shows nothing
@example({"conversation": "\u3164", "item": "\u2800"}, set(), 5000)
@example({"agent": "小美\u3000 "}, set(), 5000)
@example({"order": "o\ud83d"}, set(), 5000)
@example({"ts": "2026-11-20T10:00:00Z"}, set(), 5000)
def test_a_message_is_parsed_as_check_event_parses_it(changed: dict[str, Any], dropped: set[str], limit: int) -> None:
    raw = {**BASE, **changed}
    for key in dropped:
        raw.pop(key, None)
    assert outcome(parse_event, raw, limit) == outcome(check_event, raw, limit)


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(FIELDS + ODD), st.sampled_from(CHARS), st.integers(0, 8), st.sampled_from([2, 5000]))
@example("text", "\x00", 1, 5000)
@example("phrase_id", "\ud83d", 1, 5000)
@example("followup_id", "\ud83d", 0, 5000)
def test_one_character_more_in_a_field_is_parsed_as_check_event_parses_it(
    key: str, char: str, at: int, limit: int
) -> None:
    raw = dict(BASE)
    value = str(raw.get(key, "o1"))
    raw[key] = value[:at] + char + value[at:]
    assert outcome(parse_event, raw, limit) == outcome(check_event, raw, limit)


@pytest.mark.parametrize(
    ("changed", "field", "message"),
    [
        ({"customer": "\u3164"}, "customer", "must not be empty (only invisible characters)"),
        ({"agent": "小\u202e美"}, "agent", "must not contain control, line-break or text-direction characters"),
        ({"shop": "s\x00"}, "shop", "must not contain NUL characters"),
        ({"agent": None}, "agent", "required when sender is 'agent'"),
        ({"order": "o\ud83d"}, "order", "must not contain a lone UTF-16 surrogate (half a character, e.g. \\ud83d)"),
        ({"conversation": "c" * 201}, "conversation", "longer than 200 characters"),
        ({"ts": "2026-11-20T10:00:00", "id": " "}, "id", "must not be empty"),
    ],
)
def test_a_message_the_checks_do_not_pass_is_refused_naming_its_field(
    changed: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(EventError) as caught:
        parse_event({**BASE, **changed}, max_text_chars=5000)
    assert (caught.value.field, caught.value.message) == (field, message)


def test_names_are_kept_as_check_event_keeps_them() -> None:
    raw = {**BASE, "shop": " 小熊家居 ", "agent": "张美玲 ", "ts": "2026-11-20T02:00:00Z", "item": "sku-1"}
    event = parse_event(raw, max_text_chars=5000)
    assert (event.shop, event.agent, event.ts_ms, event.item) == ("小熊家居", "张美玲", TS, "sku-1")
    assert event.raw is raw
    unseen = parse_event({**raw, "customer": "\ufeff猫\u200b", "agent": "张美玲\u3000"}, max_text_chars=5000)
    assert (unseen.customer, unseen.agent) == ("猫", "张美玲")
