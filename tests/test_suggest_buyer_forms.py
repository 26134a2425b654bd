"""Suggestions for the ways buyers type: durations, counts, a defect beside a cost question, sizes asked after."""

from __future__ import annotations

from assistant.suggest.matcher import Matcher
from assistant.suggest.matching import Request, answer


def live(matcher: Matcher, text: str) -> list[str]:
    """The codes the service suggests for the first message of a conversation."""
    found, _ = answer(matcher, Request(0, text, 0, [], [], False, {}, ""), {})
    return [s.code for s in found]


def test_a_week_is_no_one_star_review(shipped_matcher: Matcher) -> None:
    for text in ("等了快一个星期了", "这个快递走了一个多星期"):  # no trigger's word is there: ts3 is not suggested
        assert "ts3" not in live(shipped_matcher, text), text
    for text in ("包裹在路上走了一星期", "都一星期了还没到", "这单都一星期了"):
        assert live(shipped_matcher, text)[0] != "ts3", text
        assert shipped_matcher.read(text).keyword_words.get("complaint") != "一星", text
    assert live(shipped_matcher, "给你们一星")[0] == "ts3"  # a one-star review still is one


def test_a_week_without_shipping_is_no_question_about_weekends(shipped_matcher: Matcher) -> None:
    for text in ("拍了一个礼拜还没发货", "下单一星期了还不发货"):
        codes = live(shipped_matcher, text)
        assert codes and codes[0] != "fh5", (text, codes)


def test_a_wait_of_days_told_as_a_complaint_is_impatience(shipped_matcher: Matcher) -> None:
    for text in ("等了快一个星期了", "快递跑了五天了", "都两个礼拜了还没收到"):
        assert shipped_matcher.classify([(0, text)]).type == "impatient", text
    assert shipped_matcher.classify([(0, "用了一周就坏了")]).type != "impatient"
