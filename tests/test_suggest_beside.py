"""A word of one topic beside another's question: a price beside a doubt, postage beside a defect, refunds withdrawn."""

from __future__ import annotations

from assistant.suggest.matcher import Matcher
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
