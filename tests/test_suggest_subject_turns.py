"""A short question naming no subject (确定吗) asks of the last subject named while it is fresh and only its own answer
came between; a subject named an hour ago, or answered and talked past, lends it less or nothing."""

from __future__ import annotations

import re

from assistant.suggest.context import Context
from assistant.suggest.matcher import Matcher
from assistant.suggest.matching import Request, answer
from assistant.suggest.subject import SUBJECT_FRESH_MS, SUBJECT_SHARE, SUBJECT_STALE_MS, lent
from tests.helpers import ROOT, written_codes

TURNS = ROOT / "tests/data/written_subject_turns.tsv"
PAUSE = re.compile(r"（(\d+)分钟后）")
STEP_MS = 30_000


def conversation(items: list[str]) -> tuple[str, Context]:
    """The last message and its context from a row's items: customer messages, agent answers, pauses."""
    now, earlier, replies = 0, [], []
    for item in items[:-1]:
        if pause := PAUSE.fullmatch(item):
            now += int(pause.group(1)) * 60_000
            continue
        if item.startswith("客服："):
            replies.append(now)
        else:
            earlier.append((now, item))
        now += STEP_MS
    return items[-1], Context(customer_messages=tuple(earlier), at_ms=now, replies=tuple(replies))


def first_intent(matcher: Matcher, items: list[str]) -> str:
    text, context = conversation(items)
    found = matcher.suggest(text, context)
    return found[0].intent if found else "none"


def test_the_written_conversations_follow_only_open_subjects(shipped_matcher: Matcher) -> None:
    # Measured when the set was written, every subject lending its whole share whatever its age and turns: 8 of 16.
    rows = written_codes(TURNS)
    assert len(rows) >= 16
    wrong = []
    for want, row in rows:
        got = first_intent(shipped_matcher, row.split(" | "))
        right = got not in want[1:].split("|") if want.startswith("!") else got in want.split("|")
        if not right:
            wrong.append((row, want, got))
    assert not wrong


def test_a_subject_fades_with_its_age() -> None:
    assert lent(0, SUBJECT_FRESH_MS, ()) == SUBJECT_SHARE
    halfway = (SUBJECT_FRESH_MS + SUBJECT_STALE_MS) // 2
    assert 0.0 < lent(0, halfway, ()) < SUBJECT_SHARE
    assert lent(0, SUBJECT_STALE_MS, ()) == 0.0
    assert lent(0, None, ()) == SUBJECT_SHARE  # the question's time not known: as just sent


def test_a_subject_answered_and_talked_past_lends_nothing() -> None:
    assert lent(0, 90_000, (30_000,)) == SUBJECT_SHARE  # its own answer: 确定吗 doubts it
    assert lent(0, 150_000, (30_000, 90_000)) == 0.0  # a later message answered too
    assert lent(60_000, 150_000, (30_000, 90_000)) == SUBJECT_SHARE  # an answer before it is not of it
    assert lent(0, 150_000, (30_000, 200_000)) == SUBJECT_SHARE  # an answer after the question is not between


def test_a_stale_subject_leaves_the_question_as_it_reads_alone(shipped_matcher: Matcher) -> None:
    alone = first_intent(shipped_matcher, ["确定吗"])
    assert first_intent(shipped_matcher, ["这件卫衣有灰色的吗", "（70分钟后）", "确定吗"]) == alone != "stock"
    assert first_intent(shipped_matcher, ["这件卫衣有灰色的吗", "（5分钟后）", "确定吗"]) == "stock"


def test_a_message_matched_on_arrival_is_told_its_time_and_the_answers(shipped_matcher: Matcher) -> None:
    # The worker's request carries the message's time and the agent's answers: a subject an hour old lends nothing.
    def answer_to(ts_ms: int, replies: list[int]) -> str:
        request = Request(1, "确定吗", ts_ms, [(0, "这件卫衣有灰色的吗")], replies, False, {}, "")
        found, _ = answer(shipped_matcher, request, {})
        return found[0].intent if found else "none"

    assert answer_to(60_000, [30_000]) == "stock"
    assert answer_to(70 * 60_000, [30_000]) != "stock"
    assert answer_to(150_000, [30_000, 90_000]) != "stock"
