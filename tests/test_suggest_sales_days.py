"""What buyers ask around promotion days: multi-buy discounts, 价保 and 退差价, coupons, 88VIP, presale deposits."""

from __future__ import annotations

from assistant.suggest.matcher import Matcher
from tests.helpers import ROOT, live_codes, written_codes

SALES_DAYS = ROOT / "tests/data/written_sales_days.tsv"
# Messages whose first suggestion answers, of the set's 66. Measured when the set was written: 38 (a multi-buy
# question read as the lowest price, coupons failing read as the current activities, the deposit's discount with no
# phrase of its own). The fourteen left: a 价保 question beside a festival or a price drop gets the festival's or
# the refund's answer first (双11价保吗; 价保 and 保价 are price words now, as their answer yj14 is); a price
# drop told as a complaint, or beside a coupon or an activity price, gets that topic's answer; 还有吗 after 买二送一
# reads as stock; 88VIP beside 95折 or 参加 reads as the lowest price or 满减.
SALES_DAYS_FLOOR = 52


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


def test_a_deposits_discount_has_its_own_answer(shipped_matcher: Matcher) -> None:
    # No phrase told how a presale deposit counts against the balance (定金膨胀): the current activities (hd1) came first.
    for text in ("定金膨胀怎么算的 付50能抵多少", "预售付定金有啥优惠吗"):
        assert live_codes(shipped_matcher, text)[0] == "hd14", text
    assert live_codes(shipped_matcher, "定金付了不想要了 能退不")[0] == "tk12"  # a deposit refunded stays the refund's


def test_price_protection_and_a_far_region_read_as_their_answers_intent(shipped_matcher: Matcher) -> None:
    # 价保 and 保价 were promotion words while their answer (yj14) is a price phrase, and the far region's answer (wl9)
    # a delivery phrase while 西藏, 新疆 and 偏远 are courier words: the intent read was never the answer's.
    intent_of = {p.code: p.intent for p in shipped_matcher.library.phrases}
    for text, code in (("你家价保有几天啊", "yj14"), ("这个保价不 怕买亏", "yj14"), ("西藏那边寄得到不", "wl9")):
        scores = shipped_matcher.keyword_scores(text)
        assert max(scores, key=scores.__getitem__) == intent_of[code], (text, scores)


def test_where_88vips_coupons_are_claimed_is_the_platforms_answer(shipped_matcher: Matcher) -> None:
    # No phrase said 88VIP's coupons and discount are the platform's: the stacking answer (hd11) came first.
    assert live_codes(shipped_matcher, "88会员的券到底去哪儿领")[0] == "hd15"
    assert live_codes(shipped_matcher, "你们店铺会员的券怎么领")[0] != "hd15"  # the shop's own membership
