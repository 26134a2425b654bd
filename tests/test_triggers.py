"""The trigger index: shortlists that do not depend on the process."""

from __future__ import annotations

import dataclasses
import time

import pytest

from assistant.suggest import pacing
from assistant.suggest.matcher import Matcher
from assistant.suggest.pacing import CHECK, PACE
from assistant.suggest.phrases import Phrase
from assistant.suggest.triggers import EAGER_TOPICS, CharWeights, NgramIndex, TriggerIndex, TriggerTopics


def test_shortlist_ties_go_to_earlier_texts_whatever_the_hash_seed() -> None:
    # Thirty texts, each sharing exactly one character pair with the query: all tie.
    chars = [chr(0x4E00 + n) for n in range(31)]
    texts = [chars[n] + chars[n + 1] for n in range(30)]
    index = NgramIndex(list(reversed(texts)))  # the latest pair first, so that id order is not query order
    assert index.shortlist("".join(chars), 5) == [0, 1, 2, 3, 4]


def test_shortlist_puts_the_most_shared_pairs_first() -> None:
    index = NgramIndex(["发货时间", "什么时候发货", "退货运费"])
    assert index.shortlist("什么时候发货呀", 2) == [1, 0]


def slow(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each look at the pacing's clock finds a slice gone: every look hands the GIL over."""
    ticks = iter(range(1_000_000_000))
    monkeypatch.setattr(pacing, "SLICE_S", 1)
    monkeypatch.setattr(pacing, "_now", lambda: next(ticks))


def test_building_an_index_lets_other_threads_run(monkeypatch: pytest.MonkeyPatch) -> None:
    # A reload builds the index in a thread beside the serving event loop; compiled code offers the GIL to no one
    # unless told to, and a 20,000-phrase library held it most of a second at a stretch.
    handed_over: list[float] = []
    monkeypatch.setattr(time, "sleep", handed_over.append)
    slow(monkeypatch)
    texts = [f"第{i}个问题" for i in range(PACE * 4)]
    index = NgramIndex(texts)
    assert handed_over == [0] * (PACE * 4 // CHECK)
    assert index.shortlist("第7个问题", 1) == [7]  # built all the same


def test_releasing_an_index_frees_it_in_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    # A replaced library is freed in a thread beside the serving event loop; freeing the index whole was one C
    # call, the loop waiting 0.4-0.6 s at 20,000 phrases.
    phrases = [Phrase(id=f"p{i}", intent="发货", code=f"c{i}", text="亲，48小时内发货", triggers=(f"第{i}次问发货",)) for i in range(PACE * 3)]  # fmt: skip
    index = TriggerIndex(phrases, {p.id: p.triggers for p in phrases})
    assert index.across("第7次问发货")[1]
    handed_over: list[float] = []
    monkeypatch.setattr(time, "sleep", handed_over.append)
    slow(monkeypatch)
    index.release()
    assert len(handed_over) >= 3 * 4  # its texts, their pairs and characters, its triggers' owners, weights...
    assert index.index.texts == [] and index.phrases_of == [] and index.raw == []


def test_every_pass_of_building_the_trigger_index_lets_other_threads_run(monkeypatch: pytest.MonkeyPatch) -> None:
    # The passes over the phrases and over the texts' characters (the weights) were not paced: at 20,000 phrases
    # they held the GIL 0.5-0.7 s each at a stretch, a reload's build in a thread and the event loop waiting.
    phrases = [Phrase(id=f"p{i}", intent="发货", code=f"c{i}", text="亲，48小时内发货", triggers=("几天发货",)) for i in range(PACE * 4)]  # fmt: skip
    handed_over: list[float] = []
    monkeypatch.setattr(time, "sleep", handed_over.append)
    slow(monkeypatch)
    index = TriggerIndex(phrases, {p.id: p.triggers for p in phrases})  # one text: the other passes are short
    assert len(handed_over) == PACE * 4 // CHECK
    assert index.across("几天发货")[1]
    handed_over.clear()
    CharWeights([f"第{i}个问题" for i in range(PACE * 3)])
    assert handed_over == [0] * (PACE * 3 // CHECK)
    handed_over.clear()
    distinct = [dataclasses.replace(p, triggers=(f"第{i}件几天发货",)) for i, p in enumerate(phrases[: PACE * 2])]
    TriggerIndex(distinct, {p.id: p.triggers for p in distinct})
    # Seven passes of 2 × PACE each: phrases, texts, characters, weights, character sets, owners, the intent's.
    assert len(handed_over) == 7 * (PACE * 2 // CHECK)


def test_a_shipped_size_library_learns_its_trigger_topics_when_built(shipped_matcher: Matcher) -> None:
    # Learned when a phrase was first ranked, they were learned inside a suggestion: 43 of the benchmark's 2,000
    # messages after its warm-up took 0.4-0.5 ms more, its slowest calls. Now no suggestion learns one.
    phrases = len(shipped_matcher.library.phrases)
    assert phrases <= EAGER_TOPICS
    assert shipped_matcher.speaks.learned == phrases
    for text in ("衣服有个洞 寄回去的运费你们出吗", "退货运费谁出", "什么时候发货 能便宜点吗"):
        assert shipped_matcher.suggest(text)
    assert shipped_matcher.speaks.learned == phrases


def test_a_larger_library_learns_a_phrases_trigger_topics_when_first_ranked() -> None:
    # Learning 20,000 phrases' at once would add 11 s to the load: each is learned as before, once, when needed.
    said: list[str] = []

    def scores(text: str) -> dict[str, float]:
        said.append(text)
        return {"质量问题": 0.9} if "坏" in text else {}

    phrases = [Phrase(id=f"p{i}", intent="退货", code=f"c{i}", text="运费我们出", triggers=("坏了退货运费谁出", "退货运费")) for i in range(EAGER_TOPICS + 1)]  # fmt: skip
    topics = TriggerTopics(scores, phrases)
    assert topics.learned == 0 and said == []
    assert topics.of(7, phrases[7]) == {"质量问题": 0.5}
    assert topics.of(7, phrases[7]) == {"质量问题": 0.5} and topics.learned == 1 and len(said) == 2
    few = TriggerTopics(scores, phrases[:3])
    assert few.learned == 3 and few.of(2, phrases[2]) == {"质量问题": 0.5}
