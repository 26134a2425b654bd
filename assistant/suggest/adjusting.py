"""`adjust_suggestions`: the shop's plugins reorder, drop or add (a library phrase, by its code) a customer message's
suggestions before anyone sees them: the webhook's answer, the log, the panel, `GET /v1/suggest`, `on_suggestions`.

Plain functions only (the hot path: a message's suggestions within milliseconds), chained in pluggy's order (last
registered first), each given the list the one before made. A plugin's mistake (it raises, answers something other
than a list, lists a code the shop's library does not have, or an object that is neither a code nor one of the
suggestions it was given) leaves the list as it was before that plugin; the mistake is logged naming the plugin, the
hook, its file and line (`Plugins.mistake`, once a minute per plugin and kind).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

from assistant.plugins import Plugins
from assistant.suggest.matcher import Suggestion
from assistant.suggest.phrases import Library, Phrase

HOOK = "adjust_suggestions"
UNCHANGED = "the suggestions are used as they were before it"


class SuggestionAdjuster:
    """The plugins' `adjust_suggestions`, chained; built only when one plugin has it (none: no call at all)."""

    def __init__(self, plugins: Plugins) -> None:
        self.plugins = plugins
        self.impls = plugins.adjusters(HOOK)

    def __call__(
        self,
        suggestions: list[Suggestion],
        *,
        shop: str,
        conversation: str,
        customer: str,
        text: str,
        customer_type: dict[str, Any] | None,
        find: Callable[[str], Suggestion | None],
    ) -> list[Suggestion]:
        """The suggestions as the plugins leave them; `find`: a phrase of the shop's library by its code, or None."""
        plugins = self.plugins
        values: dict[str, Any] = {
            "config": plugins.config, "http": plugins.http, "shop": shop, "conversation": conversation,
            "customer": customer, "text": text, "customer_type": customer_type,
        }  # fmt: skip
        for impl in self.impls:
            values["suggestions"] = list(suggestions)  # its own list: changed in place, it changes nothing else
            ok, answer = plugins.adjusting(HOOK, impl, values, UNCHANGED)
            if ok and answer is not None:
                made = self._read(impl, answer, suggestions, find)
                if made is not None:
                    suggestions = made
        return suggestions

    def _read(
        self, impl: pluggy.HookImpl, answer: object, given: list[Suggestion], find: Callable[[str], Suggestion | None]
    ) -> list[Suggestion] | None:
        """A plugin's answer as suggestions (a phrase listed twice is kept once, where it first is), or None when
        it is a mistake (logged)."""
        if not isinstance(answer, (list, tuple)):
            problem = f"returned {type(answer).__name__}, not a list of suggestions and phrase codes"
            self.plugins.mistake(HOOK, impl, "type", problem, UNCHANGED)
            return None
        made: list[Suggestion] = []
        seen: set[str] = set()
        for item in answer:
            if isinstance(item, str):
                found = find(item)
                if found is None:
                    problem = f"returned the phrase code {item!r}, which the shop's phrase library does not have"
                    self.plugins.mistake(HOOK, impl, "code", problem, UNCHANGED)
                    return None
            elif isinstance(item, Suggestion) and item in given:
                found = item
            else:
                problem = (
                    f"returned {type(item).__name__} {str(item)[:80]!r} in its list: neither one of the suggestions "
                    "it was given nor a phrase code"
                )
                self.plugins.mistake(HOOK, impl, "type", problem, UNCHANGED)
                return None
            if found.phrase_id not in seen:
                seen.add(found.phrase_id)
                made.append(found)
        return made


class PhraseCodes:
    """A library's phrases by code, as a shop's conversations may get them (its own first, then the shared ones it
    keeps), each shop's index built at its first use: the "/" search found a code by scanning and scoring every
    phrase (0.25 ms a code on the shipped 325 phrases, growing with the library)."""

    def __init__(self, library: Library) -> None:
        self.library = library
        self._by_shop: dict[str, dict[str, Phrase]] = {}  # "": every shop without phrases of its own

    def get(self, shop: str, code: str) -> Phrase | None:
        key = shop if shop in self.library.shop_phrases else ""
        codes = self._by_shop.get(key)
        if codes is None:
            codes = self._by_shop[key] = {}
            for phrase in self.library.visible(key):
                if phrase.code.strip():
                    codes.setdefault(phrase.code.strip().lower(), phrase)
        return codes.get(code.strip().lower())
