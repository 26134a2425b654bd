"""The customer-type reader of a library, with or without the matcher around it (a matcher holds one: `Matcher.reader`):
what the service reads of a conversation's type while matching workers serve (a card's type after an order, a card
answered without suggestions).

The matcher builds the same parts (normalizer, key words, clause splitter, type classifier) beside its trigger index
and scorer; these are the parts that cost a fraction of a second of its build (0.1-0.25 s of 4.2-4.5 s at 20,000
phrases), and their answers are the matcher's (tests/test_reload_lean.py compares them).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from assistant.suggest.clauses import ClauseSplitter, is_social
from assistant.suggest.customer_type import CustomerType, Messages, TypeClassifier
from assistant.suggest.keywords import KeywordSpotter
from assistant.suggest.phrases import Library
from assistant.suggest.textnorm import Normalizer

if TYPE_CHECKING:  # the matcher holds its reader (`Matcher.reader`)
    from assistant.suggest.matcher import Matcher

log = logging.getLogger(__name__)


class TypeReader:
    """`classify` and the default type, as the matcher of the same library gives them."""

    def __init__(self, types: TypeClassifier, strict: bool, parts: Sequence[Normalizer | KeywordSpotter] = ()) -> None:
        self.types = types
        self.strict = strict
        self._parts = parts  # built for this reader alone: released with it (a matcher's are the matcher's)

    @staticmethod
    def of(matcher: Matcher) -> TypeReader:
        """The matcher's own reader (released with the matcher; strict as the matcher is, set before or after)."""
        return matcher.reader

    @classmethod
    def build(cls, library: Library, strict: bool = False) -> TypeReader:
        """The reader alone, wired as `Matcher.__init__` wires it."""
        normalizer = Normalizer(library.normalization)
        keywords = KeywordSpotter(library.intents, normalizer, library.words)
        social = frozenset(library.clauses.social)
        social_words = keywords.presence_test(social)
        splitter = ClauseSplitter(
            library.clauses,
            normalizer,
            lambda a: is_social(a, keywords, social, social_words),
            library.questions.markers,
            keywords.rules.exclusions,
            library.questions.which,
            library.questions.judgements,
            library.questions.unasked,
        )
        types = TypeClassifier(
            library.customer_types,
            normalizer,
            library.type_cues,
            lambda analysis, raw: keywords.scores(analysis, raw)[0],
            keywords.rules.exclusions,
            splitter.spoken,
        )
        return cls(types, strict, (normalizer, keywords))

    def classify(
        self, messages: Messages, replies: Sequence[int] | None = None, *, ordered: bool = False, past_orders: int = 0
    ) -> CustomerType:
        """The customer's type from all their messages so far (oldest first) and the agent's reply times; `ordered`:
        an order of the conversation is known; `past_orders`: the buyer's paid orders in the shop's other ones. An
        error is logged and answers the default type (raised when strict). `Matcher.classify` is this."""
        try:
            return self.types.classify(messages, replies, ordered=ordered, past_orders=past_orders)
        except Exception:
            log.exception("customer type failed for %d messages", len(messages))
            if self.strict:
                raise
            return self.types.default()

    def default(self) -> CustomerType:
        """The default type with no evidence."""
        return self.types.default()

    def release(self) -> None:
        """Let go of what only this reader holds (nothing of a matcher's)."""
        if not self._parts:
            return
        self.types.release()
        for part in self._parts:
            part.release()
        self._parts = ()
