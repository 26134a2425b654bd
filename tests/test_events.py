"""Event schema: time parsing and per-type validation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant.events import EventError, parse_event, parse_ts
from tests.conftest import make_event


def test_parse_ts_iso_with_offset() -> None:
    assert parse_ts("2026-11-20T10:00:00+08:00") == 1_795_140_000_000
    assert parse_ts("2026-11-20T02:00:00Z") == 1_795_140_000_000
    assert parse_ts("2026-11-20T02:00:00.250+00:00") == 1_795_140_000_250


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
