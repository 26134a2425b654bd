"""Pattern anchors: the words every match of a regex holds, and the one scan that names the patterns worth a search."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.suggest.matcher import Matcher
from assistant.suggest.pattern_anchors import AnchorIndex, anchors
from tests.helpers import ROOT

LABELED = ("types.tsv", "holdout_types.tsv", "final_types.tsv", "written_types.tsv", "intents.tsv")


def labeled_messages() -> list[str]:
    """Every message of the labeled sets, one by one."""
    texts: list[str] = []
    for name in LABELED:
        for line in (ROOT / "tests" / "data" / name).read_text(encoding="utf-8").splitlines():
            for field in line.split("\t")[1:]:
                texts += [t.strip() for t in field.split("|") if t.strip()]
    return texts


def test_anchors_take_the_most_telling_required_part() -> None:
    assert anchors("(别家|其他店).{0,8}便宜") == {"便宜"}  # one word of two characters over two
    assert anchors("(?<!比)别家.{0,4}(才卖|只卖)") == {"别家"}  # of two as long, the one of fewer words
    assert anchors("我(要求|不管)") == {"我要求", "我不管"}  # a run of exact parts is read whole
    assert anchors("(我|那我)?(就)?去别家") == {"去别家"}  # the longer words hold it: no more telling
    assert anchors("[0-9]+号") == {"号"}
    assert anchors("[冲沖]{2,}") == {"冲", "沖"}


def test_a_part_that_may_match_nothing_is_no_anchor() -> None:
    for pattern in ("(我)?(就)?", "[a-z]*", "\\w+", "[^，。]{1,3}", "(?i)abc", "a|b?", ".{0,3}"):
        assert anchors(pattern) == set(), pattern
    # ... and the index searches such a pattern for every text.
    index = AnchorIndex([re.compile("别家"), re.compile(".{0,3}好"), re.compile("[^a]b?")])
    assert index.candidates("你好") == [1, 2]
    assert index.candidates("别家") == [0, 2]


def test_the_index_names_every_shipped_pattern_that_matches_a_labeled_message(shipped_matcher: Matcher) -> None:
    patterns = [p for p, _, _ in shipped_matcher.types.reader._patterns]
    index = AnchorIndex(patterns)
    matched = 0
    for text in labeled_messages():
        folded = shipped_matcher.normalizer.analyze(text).folded
        candidates = set(index.candidates(folded))
        for n, pattern in enumerate(patterns):
            if pattern.search(folded):
                matched += 1
                assert n in candidates, (pattern.pattern, folded)
    assert matched > 200  # the sets exercise the patterns
    assert len(index.always) <= 2  # nearly every shipped pattern has anchors


PIECES = ["别家", "便宜", "我", "就", "去", "不", "降", "送", "点", "3", "号", "了", "天", "等", "，", " ", "a"]
PATTERNS = [
    "(别家|其他店).{0,8}便宜",
    "(不|再不).{0,4}(降|便宜).{0,8}(就|我就).{0,4}(走|去)",
    "(我|那我)?(就)?去别家",
    "(?<!不)送(点|我)",
    "等了[0-9]+天",
    "[0-9]{1,2}号(之前|前)?",
    "(等|降)了?(便宜|点)+",
]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=12).map("".join))
def test_a_match_always_holds_one_of_its_patterns_anchors(text: str) -> None:
    index = AnchorIndex([re.compile(p) for p in PATTERNS])
    candidates = index.candidates(text)
    for n, pattern in enumerate(PATTERNS):
        found = re.search(pattern, text)
        if found is not None:
            assert n in candidates, (pattern, text)
            assert any(word in found.group(0) for word in anchors(pattern)), (pattern, text)
