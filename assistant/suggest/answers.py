"""Phrases that give the same answer: a team's copies of one answer take one place among the suggestions."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from rapidfuzz import fuzz

from assistant.suggest.phrases import Phrase

# Two texts this alike, read without punctuation, emoticons and spaces, give the same answer (a signature or a
# particle apart: 亲，48小时内发货哦~（小美） and 亲 48小时内发货呢); the shipped library's closest two answers of one
# intent are at 83.
SAME_ANSWER = 92.0
_NOT_WORDS = re.compile(r"[\W_]+")


def distinct(
    ranked: Sequence[tuple[int, float, str]], phrases: Sequence[Phrase], k: int
) -> list[tuple[int, float, str]]:
    """The first `k` of ranked (phrase index, score, trigger) whose answers differ: of a shop's many copies of one
    answer (a team's Qianniu export, each agent's wording) the best ranked one, and the next answers after it."""
    if len(ranked) <= 1:
        return list(ranked)
    kept: list[tuple[int, float, str]] = []
    forms: list[str] = []
    for hit in ranked:
        if len(kept) >= k:
            break
        form = _answer_form(phrases[hit[0]].text)
        for other in forms:  # texts whose lengths differ by more than the bound allows are never alike: not compared
            if 200 * min(len(form), len(other)) >= SAME_ANSWER * (len(form) + len(other)) and fuzz.ratio(
                form, other, score_cutoff=SAME_ANSWER
            ):
                break
        else:
            kept.append(hit)
            forms.append(form)
    return kept


@functools.lru_cache(maxsize=4096)
def _answer_form(text: str) -> str:
    return _NOT_WORDS.sub("", text)
