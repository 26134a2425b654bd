"""Event schema: time parsing and per-type validation."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant.clock import parse_day
from assistant.events import EVENT_TYPES, EventError, parse_event, parse_ts
from tests.helpers import make_event


def test_parse_ts_iso_with_offset() -> None:
    assert parse_ts("2026-11-20T10:00:00+08:00") == 1_795_140_000_000
    assert parse_ts("2026-11-20T02:00:00Z") == 1_795_140_000_000
    assert parse_ts("2026-11-20T02:00:00.250+00:00") == 1_795_140_000_250


def test_parse_ts_takes_a_leap_second_as_the_next_second() -> None:
    # RFC 3339 allows 23:59:60; it was refused, and a platform that logs one lost that event.
    assert parse_ts("2026-12-31T23:59:60Z") == parse_ts("2027-01-01T00:00:00Z")
    assert parse_ts("2026-12-31T23:59:60.250Z") == parse_ts("2027-01-01T00:00:00.250Z")
    assert parse_ts("2027-01-01T07:59:60+08:00") == parse_ts("2027-01-01T00:00:00Z")
    for not_leap in ("2026-12-31T12:30:60Z", "2026-12-31T23:59:61Z"):
        with pytest.raises(EventError, match="not an ISO-8601 timestamp"):
            parse_ts(not_leap)


def test_parse_ts_epoch_milliseconds() -> None:
    assert parse_ts(1_795_140_000_000) == 1_795_140_000_000
    assert parse_ts(1_795_140_000_000.9) == 1_795_140_000_000


def test_parse_ts_rejects_naive_iso() -> None:
    with pytest.raises(EventError, match="offset"):
        parse_ts("2026-11-20T10:00:00")


def test_parse_ts_rejects_epoch_seconds() -> None:
    with pytest.raises(EventError, match="seconds"):
        parse_ts(1_763_604_000)


@pytest.mark.parametrize("value", [None, True, "", "20/11/2026", [], {}, float("nan")])
def test_parse_ts_rejects_garbage(value: object) -> None:
    with pytest.raises(EventError) as info:
        parse_ts(value)
    assert info.value.field == "ts"


@given(st.integers(min_value=946_684_800_000, max_value=4_102_444_799_999))
def test_parse_ts_epoch_roundtrip(ms: int) -> None:
    assert parse_ts(ms) == ms


def test_days_asked_for_span_the_years_events_may_carry() -> None:
    # The reports' and the log's `date`, `from` and `to` take the days an event can be on, and no others.
    assert parse_ts("2000-01-01T00:00:00+00:00") and parse_day("2000-01-01") == date(2000, 1, 1)
    assert parse_ts("2099-12-31T23:59:59+00:00") and parse_day("2099-12-31") == date(2099, 12, 31)
    for outside in ("1999-12-31", "2100-01-01", "0001-01-01", "9999-12-31"):
        with pytest.raises(EventError):
            parse_ts(f"{outside}T12:00:00+00:00")
        with pytest.raises(ValueError, match=f"years 2000-2099, got {outside}"):
            parse_day(outside)
    with pytest.raises(ValueError, match="expected YYYY-MM-DD, got '2026-02-30'"):
        parse_day("2026-02-30")


def test_parse_event_suggestion_used_needs_phrase_id() -> None:
    raw = make_event("suggestion_used")
    del raw["phrase_id"]
    with pytest.raises(EventError) as info:
        parse_event(raw, max_text_chars=100)
    assert info.value.field == "phrase_id"


def test_parse_event_conversation_closed_minimal() -> None:
    event = parse_event(make_event("conversation_closed"), max_text_chars=100)
    assert event.type == "conversation_closed" and event.sender is None


def test_parse_event_keeps_optional_agent_on_customer_message() -> None:
    event = parse_event(make_event(agent="小美"), max_text_chars=100)
    assert event.agent == "小美" and event.is_customer_message


def test_parse_event_trims_the_spaces_around_shop_customer_and_agent_names() -> None:
    raw = make_event(sender="agent", agent="小美 ", shop=" shop1", customer="cust1\u3000", text="亲，在的")
    event = parse_event(raw, max_text_chars=100)
    assert (event.shop, event.customer, event.agent) == ("shop1", "cust1", "小美")
    assert event.raw["agent"] == "小美 "  # the raw event is logged as it came


def test_parse_event_drops_the_characters_that_show_nothing_from_names() -> None:
    """A byte-order mark left by a spreadsheet or a zero-width space made one agent several look-alike rows."""
    for agent in ("\ufeff小美", "小美\u200b", "小\u2060美", "\u00ad小美 "):
        event = parse_event(make_event(sender="agent", agent=agent, text="亲，在的"), max_text_chars=100)
        assert event.agent == "小美", repr(agent)
    family = parse_event(make_event(customer="买家👩\u200d💻", text="在吗"), max_text_chars=100)
    assert family.customer == "买家👩\u200d💻"  # a joiner builds the emoji: it stays


@pytest.mark.parametrize("blank", ["\u3164", "\u2800", "\u115f", "\u1160\uffa0", " \u3164 ", "\ufe0f", "\u180e\u034f"])
@pytest.mark.parametrize("field", ["shop", "customer", "agent"])
def test_parse_event_refuses_a_name_of_fillers_that_show_nothing(field: str, blank: str) -> None:
    # "ㅤ" (HANGUL FILLER) or "⠀" (BRAILLE BLANK) was stored and showed blank in every panel and report row.
    with pytest.raises(EventError, match=r"only invisible characters") as refused:
        parse_event(make_event(sender="agent", text="亲", **{"agent": "小美", field: blank}), max_text_chars=100)
    assert refused.value.field == field
    shown = parse_event(make_event(sender="agent", agent="小美", customer="ㅤ买家\u2800", text="亲"), max_text_chars=100)
    assert shown.customer == "ㅤ买家\u2800" and parse_event(make_event(customer="❤\ufe0f"), max_text_chars=100)


@pytest.mark.parametrize("separator", ["\u2028", "\u2029"])
def test_parse_event_refuses_a_line_or_paragraph_separator_in_a_name(separator: str) -> None:
    with pytest.raises(EventError, match="line-break") as refused:
        parse_event(make_event(shop=f"甲店{separator}乙店"), max_text_chars=100)
    assert refused.value.field == "shop"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=6,
)
FIELDS = [
    "id",
    "type",
    "ts",
    "shop",
    "conversation",
    "customer",
    "sender",
    "text",
    "agent",
    "order",
    "amount",
    "phrase_id",
    "followup_id",
]


@given(
    st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, max_size=len(FIELDS)),
    st.sampled_from(
        [
            "message",
            "order_created",
            "order_paid",
            "order_closed",
            "order_refunded",
            "conversation_closed",
            "suggestion_used",
        ]
    ),
)
def test_parse_event_any_input_is_an_event_or_a_named_error(raw: dict[str, object], kind: str) -> None:
    """Whatever a platform sends, the result is a valid Event or an EventError naming a field — nothing else."""
    base = make_event(kind)
    candidate = {**base, **raw}
    try:
        event = parse_event(candidate, max_text_chars=100)
    except EventError as exc:
        assert exc.field in FIELDS or exc.field == "body"
        assert exc.message
    else:
        assert event.type in EVENT_TYPES
        assert isinstance(event.ts_ms, int) and isinstance(event.id, str) and event.id.strip()


def test_parse_event_order_refunded_takes_the_refunded_sum() -> None:
    # Found: a refund could not be entered at all (no event; a negative order_paid was refused).
    event = parse_event(make_event("order_refunded", order="O-RF", amount=120.5), max_text_chars=100)
    assert (event.type, event.order, event.amount) == ("order_refunded", "O-RF", 120.5)
    for amount, message in ((None, "required"), (-5, "≥ 0"), (0, "above 0"), (0.001, "above 0"), ("5", "number")):
        with pytest.raises(EventError) as err:
            parse_event(make_event("order_refunded", amount=amount), max_text_chars=100)
        assert err.value.field == "amount" and message in err.value.message
    raw = make_event("order_refunded")
    del raw["order"]
    with pytest.raises(EventError) as err:
        parse_event(raw, max_text_chars=100)
    assert err.value.field == "order"


def test_parse_event_order_closed_names_its_order() -> None:
    # Found: a cancelled order could not be told (`order_closed` was an unknown type), so it got 催付 for a day.
    event = parse_event(make_event("order_closed", order="O-CX"), max_text_chars=100)
    assert (event.type, event.order, event.amount) == ("order_closed", "O-CX", None)
    raw = make_event("order_closed")
    del raw["order"]
    with pytest.raises(EventError) as err:
        parse_event(raw, max_text_chars=100)
    assert err.value.field == "order"
