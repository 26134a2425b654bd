"""Which phrase of an intent comes first: trigger similarity and the customer's named type."""

from __future__ import annotations

from typing import Any

import pytest

from assistant.suggest.customer_type import named_type
from assistant.suggest.matcher import Context, Matcher
from assistant.suggest.matching import Request, answer
from assistant.suggest.phrases import Library


def _p(code: str, intent: str, text: str, *triggers: str, **keys: Any) -> dict[str, Any]:
    return {"id": f"{intent}.{code}", "intent": intent, "code": code, "text": text, "triggers": list(triggers), **keys}


PHRASES = [
    _p("fk1", "payment", "亲，支持支付宝和花呗付款哦~", "怎么付款", "付款方式有几种"),
    _p("fk2", "payment", "亲，付款失败可以换一种方式再试试~", "付款失败", "付不了款"),
    _p(
        "fk5",
        "payment",
        "亲，平台担保交易，请放心付款~",
        "付款安全吗",
        "付款方式有保障",
        types=["newcomer", "suspicious"],
    ),
    _p("fk6", "payment", "亲，淘宝不支持货到付款哦~", "货到付款", "到付"),
]
INTENTS: dict[str, Any] = {
    "intent": {
        "payment": {"label": "付款", "strong": ["付款"]},
    }
}
TYPES: dict[str, Any] = {
    "type": [
        {"id": "newcomer", "label": "陌生", "script": ["您好", "欢迎"]},
        {"id": "suspicious", "label": "多疑", "cues": ["骗"], "script": ["放心", "保证"]},
    ]
}


@pytest.fixture(scope="module")
def small() -> Matcher:
    library = Library.build([("t.toml", {"group": "测试", "phrase": PHRASES})], INTENTS, TYPES)
    return Matcher(library, strict=True)


def first(matcher: Matcher, text: str, context: Context = Context()) -> str:
    found = matcher.suggest(text, context)
    assert found, text
    return found[0].code


def live(matcher: Matcher, text: str) -> list[str]:
    """The codes the service suggests for the first message of a conversation (the worker's request)."""
    found, _ = answer(matcher, Request(0, text, 0, [], [], False, {}, ""), {})
    return [s.code for s in found]


def test_a_default_type_leaves_the_order_alone(shipped_matcher: Matcher) -> None:
    for text in ("可以货到付款吗", "敏感肌能用吗", "店铺券在哪领", "付款一直失败 咋回事"):
        assert named_type(shipped_matcher.classify([(0, text)])) is None
        assert live(shipped_matcher, text) == [s.code for s in shipped_matcher.suggest(text)]


def test_a_named_type_breaks_a_tie_between_close_phrases(small: Matcher) -> None:
    assert first(small, "付款方式有哪些") == "fk1"  # as close to fk5's trigger as to fk1's: file order
    assert first(small, "付款方式有哪些", Context(customer_type="suspicious")) == "fk5"
    assert first(small, "付款方式有几种", Context(customer_type="suspicious")) == "fk1"


def test_a_named_type_lifts_no_phrase_over_one_that_answers(small: Matcher) -> None:
    for kind in (None, "newcomer", "suspicious"):
        assert first(small, "可以货到付款吗", Context(customer_type=kind)) == "fk6"
        assert first(small, "付款一直失败", Context(customer_type=kind)) == "fk2"
