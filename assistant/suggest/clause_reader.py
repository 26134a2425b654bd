"""A message's clauses as the matcher reads them: the library's clause splitter, and the topics of a message that asks
of several things, each asking clause read as a message of its own (`plan.topics`)."""

from __future__ import annotations

from assistant.suggest.clauses import ClauseSplitter, Message, clip, is_social
from assistant.suggest.keywords import KeywordSpotter
from assistant.suggest.phrases import Library
from assistant.suggest.plan import Alone, topics
from assistant.suggest.textnorm import Normalizer


class ClauseReader:
    """The library's clause splitter (`splitter`), a text's split as the matcher reads it, and a message's topics."""

    def __init__(self, library: Library, normalizer: Normalizer, keywords: KeywordSpotter) -> None:
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

    def split(self, text: str) -> Message:
        """The message's clauses and focus as the matcher reads them (a pasted essay on its head and tail)."""
        return self.splitter.split(clip(text))

    def topics(self, message: Message, alone: Alone, one: bool) -> dict[str, float]:
        """`plan.topics` of the message: `alone` reads an asking clause as a message of its own."""
        return topics(message, self.splitter.asks, alone, one, self.social)
