"""A customer type told over several messages: a gift asked for in the message after a haggling offer is the
haggler's next step, as inside one message; a gift asked for without a haggle before it is a wish for extras."""

from __future__ import annotations

from assistant.suggest.evaluation import evaluate, read_labeled
from assistant.suggest.matcher import Matcher
from tests.helpers import ROOT

ACROSS = ROOT / "tests/data/written_types_across.tsv"


def kind(matcher: Matcher, messages: list[str]) -> str:
    """The type of these customer messages, 30 s apart, the agent's replies unknown."""
    return matcher.classify([(n * 30_000, text) for n, text in enumerate(messages)], None).type


def test_the_written_conversations_get_their_type(shipped_matcher: Matcher) -> None:
    # Measured when the set was written, each message's gift read as a wish for extras: 12 of 16.
    rows, bad = read_labeled(ACROSS)
    assert not bad and len(rows) >= 16
    report = evaluate(shipped_matcher, None, ACROSS)
    assert report.type_accuracy == 1.0, report.format(misses=True)


def test_a_gift_asked_after_a_haggle_is_the_hagglers(shipped_matcher: Matcher) -> None:
    assert kind(shipped_matcher, ["这个台灯能少点吗", "那送点小礼物吧"]) == "bargainer"
    # Alone, or after a message that haggles not, the same words wish for extras.
    assert kind(shipped_matcher, ["那送点小礼物吧"]) == "freebie"
    assert kind(shipped_matcher, ["这个台灯是充电的吗", "那送点小礼物吧"]) == "freebie"


def test_only_the_next_message_carries_the_haggle(shipped_matcher: Matcher) -> None:
    # A message between (the agent's answer taken, 好的) ends the offer: the gift asked after it is a wish of its own.
    assert kind(shipped_matcher, ["能少点吗", "好的", "送点小礼物吧"]) == "freebie"
