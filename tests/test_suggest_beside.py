"""A word of one topic beside another's question: a price beside a doubt, postage beside a defect, refunds withdrawn,
far regions; and a fragment (那这个呢) answered as its earlier question was."""

from __future__ import annotations

from assistant.suggest.matcher import Matcher
from assistant.suggest.matching import Request, answer
from tests.helpers import ROOT, live_codes, written_codes

BESIDE = ROOT / "tests/data/written_beside.tsv"
# Messages whose first suggestion answers, of the set's 63. Measured when the set was written: 46.
BESIDE_FLOOR = 46


def test_a_word_beside_another_topics_question_gets_an_answering_phrase_first(shipped_matcher: Matcher) -> None:
    rows = written_codes(BESIDE)
    assert len(rows) >= 60
    wrong = [
        (text, want, codes[:3])
        for want, text in rows
        if not (codes := live_codes(shipped_matcher, text)) or codes[0] not in want.split("|")
    ]
    assert len(rows) - len(wrong) >= BESIDE_FLOOR, wrong


def test_the_beside_set_names_only_codes_of_the_library(shipped_matcher: Matcher) -> None:
    codes = {p.code for p in shipped_matcher.library.phrases}
    named = {code for want, _ in written_codes(BESIDE) for code in want.split("|")}
    assert named and named <= codes, named - codes


def codes_after(matcher: Matcher, earlier: list[str], text: str) -> list[str]:
    """The codes suggested for `text` after the customer's `earlier` messages (an agent replied in between)."""
    history = [(1_000 * n, t) for n, t in enumerate(earlier)]
    found, _ = answer(matcher, Request(0, text, 60_000, history, [500], False, {}, ""), {})
    return [s.code for s in found]


def test_a_fragment_is_answered_as_its_earlier_question_was(shipped_matcher: Matcher) -> None:
    # 那这个呢 took the intent of the question before it, but that intent's first phrases in file order: after 是正品吗
    # the low price's answer (zp4), after 包邮吗 «不发这家快递了» (kd5).
    assert codes_after(shipped_matcher, ["是正品吗"], "那这个呢")[0] == live_codes(shipped_matcher, "是正品吗")[0]
    assert codes_after(shipped_matcher, ["包邮吗"], "那这个呢")[0] == "kd12"
    assert codes_after(shipped_matcher, ["包邮吗"], "那这个呢")[0] == live_codes(shipped_matcher, "包邮吗")[0]
    assert live_codes(shipped_matcher, "那这个呢") == []
