"""A message's clauses as the matcher reads them: the library's clause splitter, its splits remembered, and the topics
of a message that asks of several things, each asking clause read as a message of its own (`plan.topics`).

A clause is read for its key words first: one without a topic word names no topic, so its features and the scorer's
probabilities (about half of a reading's cost) are computed only for a clause that could, and none at all when too
few clauses could for the topics to count. Its split is remembered, so the reading made after reuses it (as it
reuses the normalizer's analysis and the key words' evidence, which their own caches keep).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from assistant.suggest.clauses import ClauseSplitter, Message, clip, is_social
from assistant.suggest.keywords import KeywordSpotter
from assistant.suggest.phrases import Library
from assistant.suggest.plan import Alone, topics
from assistant.suggest.textnorm import RELEASED, Normalizer

# Splits remembered, as readings are (a split is small: its clauses' texts): texts of up to CACHED_TEXT_CHARS
# characters among many, longer ones among fewer.
SPLIT_CACHE = 20_000
LONG_SPLIT_CACHE = 500
CACHED_TEXT_CHARS = 64


class ClauseReader:
    """The library's clause splitter (`splitter`), each text's split remembered (`split`), and a message's topics."""

    def __init__(self, library: Library, normalizer: Normalizer, keywords: KeywordSpotter) -> None:
        self._normalizer = normalizer
        self._keywords = keywords
        social = self.social = frozenset(library.clauses.social)
        social_words = keywords.presence_test(social)  # skips most clauses before their hits
        self.splitter = ClauseSplitter(
            library.clauses,
            normalizer,
            lambda a: is_social(a, keywords, social, social_words),
            library.questions.markers,
            keywords.rules.exclusions,  # a closer inside an excluded word (花都谢了) is no thanks
            library.questions.which,
            library.questions.judgements,
            library.questions.unasked,
        )
        self._split_short = lru_cache(maxsize=SPLIT_CACHE)(self._split)
        self._split_long = lru_cache(maxsize=LONG_SPLIT_CACHE)(self._split)

    def split(self, text: str) -> Message:
        """The message's clauses and focus as the matcher reads them (a pasted essay on its head and tail)."""
        if len(text) <= CACHED_TEXT_CHARS:
            return self._split_short(text)
        return self._split_long(text)

    def _split(self, text: str) -> Message:
        return self.splitter.split(clip(text))

    def keyword(self, text: str) -> Mapping[str, float]:
        """A text's key-word evidence as its reading has it (`Reading.keyword`), without its features."""
        focus = self.split(text).focus
        return self._keywords.scores(self._normalizer.analyze_folded(focus), focus)[0]

    def topics(self, message: Message, alone: Alone, one: bool) -> dict[str, float]:
        """`plan.topics` of the message: `alone` reads an asking clause whose key words could make it a topic."""
        return topics(message, self.splitter.asks, alone, one, self.social, self.keyword)

    def clear_caches(self) -> None:
        """Forget every remembered split."""
        self._split_short.cache_clear()
        self._split_long.cache_clear()

    def release(self) -> None:
        """Let go of the caches (a replaced library's)."""
        self.clear_caches()
        self._split_short = self._split_long = RELEASED
