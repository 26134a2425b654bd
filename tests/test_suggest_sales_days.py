"""What buyers ask around promotion days: multi-buy discounts, 价保 and 退差价, coupons, 88VIP, presale deposits."""

from __future__ import annotations

from assistant.suggest.matcher import Matcher
from tests.helpers import ROOT, live_codes, written_codes

SALES_DAYS = ROOT / "tests/data/written_sales_days.tsv"
# Messages whose first suggestion answers, of the set's 66. Measured when the set was written: 38 (a multi-buy
# question read as the lowest price, coupons failing read as the current activities, the deposit's discount with no
# phrase of its own).
SALES_DAYS_FLOOR = 38


def test_promotion_day_questions_get_an_answering_phrase_first(shipped_matcher: Matcher) -> None:
    rows = written_codes(SALES_DAYS)
    assert len(rows) >= 60
    wrong = [
        (text, want, codes[:3])
        for want, text in rows
        if not (codes := live_codes(shipped_matcher, text)) or codes[0] not in want.split("|")
    ]
    assert len(rows) - len(wrong) >= SALES_DAYS_FLOOR, wrong


def test_the_sales_days_set_names_only_codes_of_the_library(shipped_matcher: Matcher) -> None:
    codes = {p.code for p in shipped_matcher.library.phrases}
    named = {code for want, _ in written_codes(SALES_DAYS) for code in want.split("|")}
    assert named and named <= codes, named - codes
