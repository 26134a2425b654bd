"""Promotion words, a low price doubted, postage beside a defect, refunds withdrawn, 好几 that tells, tags and returns."""

from __future__ import annotations

from assistant.suggest.matcher import Matcher
from tests.helpers import ROOT, live_codes, written_codes

PROMOTIONS = ROOT / "tests/data/written_promotions.tsv"
# Messages whose first suggestion answers, of the set's 87. Measured when the set was written: 59 (promotion words
# read as another coupon or activity, a low price doubted read as bargaining, a refund withdrawn read as its
# progress, torn tags read as the seven-day terms, a return parcel's 签收 read as a refused delivery).
PROMOTIONS_FLOOR = 59


def test_promotion_and_price_doubt_messages_get_an_answering_phrase_first(shipped_matcher: Matcher) -> None:
    rows = written_codes(PROMOTIONS)
    assert len(rows) >= 80
    wrong = [
        (text, want, codes[:3])
        for want, text in rows
        if not (codes := live_codes(shipped_matcher, text)) or codes[0] not in want.split("|")
    ]
    assert len(rows) - len(wrong) >= PROMOTIONS_FLOOR, wrong


def test_the_promotions_set_names_only_codes_of_the_library(shipped_matcher: Matcher) -> None:
    codes = {p.code for p in shipped_matcher.library.phrases}
    named = {code for want, _ in written_codes(PROMOTIONS) for code in want.split("|")}
    assert named and named <= codes, named - codes
