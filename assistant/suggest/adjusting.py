"""`adjust_suggestions`: the shop's plugins reorder, drop or add (a library phrase, by its code) a customer message's
suggestions before anyone sees them: the webhook's answer, the log, the panel, `GET /v1/suggest`, `on_suggestions`.

Plain functions only (the hot path: a message's suggestions within milliseconds), chained in pluggy's order (last
registered first), each given the list the one before made. A plugin's mistake (it raises, answers something other
than a list, lists a code the shop's library does not have, or an object that is neither a code nor one of the
suggestions it was given) leaves the list as it was before that plugin; the mistake is logged naming the plugin, the
hook, its file and line (`Plugins.mistake`, once a minute per plugin and kind).

A plain function cannot be stopped, so each call is measured: a plugin whose calls take SLOW_CALL_S or more of their
own time SLOW_STRIKES times within STRIKE_WINDOW_MS (a look-up over the network per message, a file read per call) is
switched off until the service restarts, said in one line of the log and in `/readyz` (`hooks_switched_off`): while
it ran, every message (and every request behind it) waited for it; without it, the suggestions are the matcher's. A
call's own time is its wall time less the time its thread was preempted (runnable, waiting for a processor:
`clock.RunQueueWait`): a sound plugin descheduled on an overloaded machine is not switched off, one that computes or
waits (a sleep, the network) that long is. One slow call (a collection, a cold cache) is only logged, with the part
of it preempted. `adjust_followup` is never switched off: its answer may keep a message from a buyer, and it is asked
once per follow-up, not per message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pluggy

from assistant.plugins import SLOW_CALL_S, Plugins, where
from assistant.suggest.matcher import Suggestion
from assistant.suggest.phrases import Library, Phrase

log = logging.getLogger(__name__)

HOOK = "adjust_suggestions"
UNCHANGED = "the suggestions are used as they were before it"
SLOW_STRIKES = 5  # calls of SLOW_CALL_S or more within STRIKE_WINDOW_MS that switch a plugin's adjust_suggestions off
STRIKE_WINDOW_MS = 60_000


class SuggestionAdjuster:
    """The plugins' `adjust_suggestions`, chained; built only when one plugin has it (none: no call at all)."""

    def __init__(self, plugins: Plugins) -> None:
        self.plugins = plugins
        self.impls = plugins.adjusters(HOOK)
        self.switched_off: dict[str, str] = {}  # plugin name: why (`/readyz`)
        self._strikes: dict[str, list[int]] = {}  # plugin name: when its recent slow calls ended (clock ms)

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
            if plugins.last_own_s >= SLOW_CALL_S:  # its own time: preempted on a busy machine, a sound one is not slow
                self._slow(impl, plugins.last_own_s)
            if ok and answer is not None:
                made = self._read(impl, answer, suggestions, find)
                if made is not None:
                    suggestions = made
        return suggestions

    def _slow(self, impl: pluggy.HookImpl, took_s: float) -> None:
        """Count a slow call of `impl`; the SLOW_STRIKES-th within STRIKE_WINDOW_MS switches it off (its answer to
        this call is still used)."""
        now = self.plugins.clock.now_ms()
        strikes = [t for t in self._strikes.get(impl.plugin_name, []) if now - t < STRIKE_WINDOW_MS] + [now]
        self._strikes[impl.plugin_name] = strikes
        if len(strikes) < SLOW_STRIKES:
            return
        self.impls = [i for i in self.impls if i is not impl]
        why = (
            f"{HOOK}: {len(strikes)} calls of {SLOW_CALL_S:g} s or more within {STRIKE_WINDOW_MS // 1000} s "
            f"(the last {took_s:.2f} s)"
        )
        self.switched_off[impl.plugin_name] = why
        file, line = where(impl.function)
        log.error(
            "%s of %s (%s, line %s) switched off until the service restarts: %d calls of %g s or more within %d s "
            "(the last %.2f s), each holding every message meanwhile; the suggestions are used without it "
            "(make it answer from memory: docs/hooks.md)",
            HOOK, impl.plugin_name, file, line, len(strikes), SLOW_CALL_S, STRIKE_WINDOW_MS // 1000, took_s,
        )  # fmt: skip

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
