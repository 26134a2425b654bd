"""The trigger index: shortlists that do not depend on the process."""

from __future__ import annotations

from assistant.suggest.triggers import NgramIndex


def test_shortlist_ties_go_to_earlier_texts_whatever_the_hash_seed() -> None:
    # Thirty texts, each sharing exactly one character pair with the query: all tie.
    chars = [chr(0x4E00 + n) for n in range(31)]
    texts = [chars[n] + chars[n + 1] for n in range(30)]
    index = NgramIndex(list(reversed(texts)))  # the latest pair first, so that id order is not query order
    assert index.shortlist("".join(chars), 5) == [0, 1, 2, 3, 4]


def test_shortlist_puts_the_most_shared_pairs_first() -> None:
    index = NgramIndex(["发货时间", "什么时候发货", "退货运费"])
    assert index.shortlist("什么时候发货呀", 2) == [1, 0]
