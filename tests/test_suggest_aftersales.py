"""After-sales questions as buyers type them: returns, exchanges, refunds chased, defects, goods missing or wrong."""

from __future__ import annotations

from assistant.suggest.matcher import Matcher
from tests.helpers import ROOT, live_codes, written_codes

AFTERSALES = ROOT / "tests/data/written_aftersales.tsv"
# First suggestions that answer, of the set's 77 messages. Measured when the set was written: 57; the one left is a
# return parcel asked after with 有人签收吗 (read as a parcel sent back to the shop by the courier, wl12). 标签被我扯了
# (th1's tags-kept terms before th10's torn-tag answer) was the other, until th10 had triggers of tags torn or cut
# with 还能退吗.
AFTERSALES_FLOOR = 76


def test_after_sales_questions_get_an_answering_phrase_first(shipped_matcher: Matcher) -> None:
    rows = written_codes(AFTERSALES)
    assert len(rows) >= 60
    wrong = []
    for want, text in rows:
        codes = live_codes(shipped_matcher, text)
        if not codes or codes[0] not in want.split("|"):
            wrong.append((text, want, codes[:3]))
    assert len(rows) - len(wrong) >= AFTERSALES_FLOOR, wrong


def test_the_set_names_only_codes_of_the_library(shipped_matcher: Matcher) -> None:
    codes = {p.code for p in shipped_matcher.library.phrases}
    named = {code for want, _ in written_codes(AFTERSALES) for code in want.split("|")}
    assert named and named <= codes, named - codes


def test_a_swapped_size_is_an_exchange_not_size_advice(shipped_matcher: Matcher) -> None:
    # 换大一号 read as size advice (cm3 拍大一码, 0.66) through 大一号: the buyer has the goods and asks to swap them.
    assert live_codes(shipped_matcher, "裤子小了 能换大一号吗")[0] == "th3"
    assert live_codes(shipped_matcher, "平时穿m 这款拍大一号吗")[0].startswith("cm")  # choosing a size still is advice


def test_a_size_measured_against_the_listing_is_a_defect(shipped_matcher: Matcher) -> None:
    # 量了下比写的尺寸小好多 got the size chart (cm6, 0.60): what was stated is not what came.
    assert live_codes(shipped_matcher, "量了下比写的尺寸小好多")[0] == "zl12"


def test_a_refund_chased_gets_its_progress(shipped_matcher: Matcher) -> None:
    # 退款怎么还没通过 got the rejected-refund answer (tk5), 退款呢 with days waited the not-shipped refund (tk2).
    assert live_codes(shipped_matcher, "退款怎么还没通过啊 急")[0] == "tk6"
    assert live_codes(shipped_matcher, "退款呢😡 都一个礼拜了")[0] == "tk6"


def test_a_shops_membership_level_is_answered(shipped_matcher: Matcher) -> None:
    # 你们店铺的会员等级怎么升 was silent: the platform's membership (plus, 88VIP) is none, the shop's own is hd8.
    assert live_codes(shipped_matcher, "你们店的会员等级要怎么升")[0] == "hd8"
    assert live_codes(shipped_matcher, "plus会员怎么续费") == []
