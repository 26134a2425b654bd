"""The caches of per-text results are bounded by memory too: a long text is remembered among few others."""

from __future__ import annotations

import pytest

from assistant.catalog import measures
from assistant.qa import inspector as inspector_module
from assistant.qa.inspector import Inspector
from assistant.suggest import customer_type
from assistant.suggest import matcher as matcher_module
from assistant.suggest.matcher import Matcher
from assistant.suggest.phrases import Library
from tests.helpers import ROOT

# A buyer's pasted essay: 400 characters, different each time.
LONG = [f"第{n}个问题：" + "这件衣服的面料怎么样会不会起球洗了以后缩水吗" * 20 for n in range(12)]


@pytest.fixture(scope="module")
def library() -> Library:
    return Library.load(ROOT / "phrases", {"shop": "测试店"})


def test_matcher_remembers_few_long_texts(library: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    # 50,000 readings of long texts (85 KiB each) held gigabytes: a worker grew without levelling.
    monkeypatch.setattr(matcher_module, "LONG_READING_CACHE", 5)
    matcher = Matcher(library, strict=True)
    for text in LONG:
        matcher.suggest(text)
    matcher.suggest("在吗")
    assert matcher._read_long.cache_info().currsize == 5
    assert matcher._read_short.cache_info().currsize == 1  # a buyer's short text is kept among many
    assert matcher.read(LONG[-1]) is matcher.read(LONG[-1])  # the latest long ones are still remembered


def test_customer_types_remember_few_long_texts(library: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(customer_type, "LONG_SIGNAL_CACHE", 5)
    matcher = Matcher(library, strict=True)
    for n, text in enumerate(LONG):
        matcher.classify([(n * 1000, text)])
    matcher.classify([(0, "快点发货")])
    assert matcher.types._signals_long.cache_info().currsize == 5
    assert matcher.types._signals_short.cache_info().currsize == 1


def test_inspector_remembers_few_long_texts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inspector_module, "LONG_INSPECT_CACHE", 5)
    inspector = Inspector.load([ROOT / "phrases" / "qa.toml"])
    for text in LONG:
        inspector.inspect(text, "customer")
    inspector.inspect("在吗", "customer")
    assert inspector._inspect_long.cache_info().currsize == 5
    assert inspector._inspect.cache_info().currsize == 1


def test_measures_remember_few_long_texts() -> None:
    measures._parse_long.cache_clear()
    for text in LONG * 50:  # 600 parses of 12 texts
        measures.parse(text + "身高165体重110")
    assert measures._parse_long.cache_info().currsize == len(LONG)
    assert measures._parse_long.cache_info().maxsize == measures.LONG_PARSE_CACHE < measures.PARSE_CACHE
