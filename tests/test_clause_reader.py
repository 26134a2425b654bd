"""A message's asking clauses read as messages of their own (`ClauseReader.topics`): only those that could name a topic."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from assistant.suggest.clauses import TEXT
from assistant.suggest.matcher import Matcher
from assistant.suggest.plan import topics

DATA = Path(__file__).parent / "data"


def _read_already(matcher: Matcher, *texts: str) -> list[bool]:
    """For each text, whether its reading was remembered (read before), by the reading cache's hits."""
    found = []
    for text in texts:
        hits = matcher._read_short.cache_info().hits
        matcher.read(text)
        found.append(matcher._read_short.cache_info().hits > hits)
    return found


def test_a_clause_without_a_topic_word_is_not_read_alone(shipped_matcher: Matcher) -> None:
    # Two clauses ask, but 怎么弄呀 holds no key word: it can name no topic, and the invoice question alone is no list
    # of topics either, so neither clause is read as a message of its own (their features and the scorer's
    # probabilities were computed for nothing: about 0.1 ms each).
    message = "这个台灯能开发票吗 怎么弄呀"
    shipped_matcher.clear_caches()
    first = shipped_matcher.suggest(message)
    assert first and first[0].intent == "invoice"
    assert _read_already(shipped_matcher, "怎么弄呀", "这个台灯能开发票吗") == [False, False]
    shipped_matcher.clear_caches()
    assert shipped_matcher.suggest(message) == first  # read with nothing remembered, the same


def test_two_clauses_with_topic_words_are_each_read(shipped_matcher: Matcher) -> None:
    shipped_matcher.clear_caches()
    found = shipped_matcher.suggest("充电宝什么时候发货 可以便宜一点吗")
    assert [s.intent for s in found][:2] == ["shipping_time", "price_bargain"]  # each question answered, in order
    assert _read_already(shipped_matcher, "充电宝什么时候发货", "可以便宜一点吗") == [True, True]


def test_topics_are_those_read_without_the_key_word_check(shipped_matcher: Matcher) -> None:
    # Every message of the labelled sets with two clauses or more: the topics found when a clause's key words are
    # checked first are those found reading every asking clause, whenever the suggestions use them (a single
    # topic counts only when the message's own reading shows nothing: `one`).
    matcher = shipped_matcher
    texts = {
        line.split("\t")[-1].split(" | ")[-1]
        for name in (
            "intents.tsv",
            "holdout_intents.tsv",
            "final_intents.tsv",
            "message_forms.tsv",
            "written_beside.tsv",
        )
        for line in (DATA / name).read_text(encoding="utf-8").splitlines()
        if "\t" in line and not line.startswith("#")
    }
    reads: list[str] = []

    def alone(t: str) -> tuple[dict[str, float], float, Mapping[str, float]]:
        reads.append(t)
        return (*matcher.intent_confidences(t), matcher.read(t).keyword)

    compared = skipped_reads = 0
    for text in sorted(texts):
        message = matcher.read(text).message
        if sum(c.kind == TEXT for c in message.clauses) < 2:
            continue
        for one in (True, False):
            everything = topics(message, matcher.splitter.asks, alone, one, matcher.clauses.social)
            read_all = len(reads)
            checked = matcher.clauses.topics(message, alone, one)
            skipped_reads += 2 * read_all - len(reads)
            reads.clear()
            if one or len(everything) > 1:
                assert checked == everything, text
            else:
                assert len(checked) <= 1, text
            compared += 1
    assert compared > 100
    assert skipped_reads > 0  # some clauses were not read
