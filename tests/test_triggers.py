"""The trigger index: shortlists that do not depend on the process."""

from __future__ import annotations

import time

import pytest

from assistant.suggest.triggers import PACE, NgramIndex


def test_shortlist_ties_go_to_earlier_texts_whatever_the_hash_seed() -> None:
    # Thirty texts, each sharing exactly one character pair with the query: all tie.
    chars = [chr(0x4E00 + n) for n in range(31)]
    texts = [chars[n] + chars[n + 1] for n in range(30)]
    index = NgramIndex(list(reversed(texts)))  # the latest pair first, so that id order is not query order
    assert index.shortlist("".join(chars), 5) == [0, 1, 2, 3, 4]


def test_shortlist_puts_the_most_shared_pairs_first() -> None:
    index = NgramIndex(["发货时间", "什么时候发货", "退货运费"])
    assert index.shortlist("什么时候发货呀", 2) == [1, 0]


def test_building_an_index_lets_other_threads_run(monkeypatch: pytest.MonkeyPatch) -> None:
    # A reload builds the index in a thread beside the serving event loop; compiled code offers the GIL to no one
    # unless told to, and a 20,000-phrase library held it most of a second at a stretch.
    handed_over: list[float] = []
    monkeypatch.setattr(time, "sleep", handed_over.append)
    texts = [f"第{i}个问题" for i in range(PACE * 4)]
    index = NgramIndex(texts)
    assert handed_over == [0] * 4
    assert index.shortlist("第7个问题", 1) == [7]  # built all the same
