"""`adjust_followup`: a shop's plugins rewrite a follow-up's text (the buyer's name, a VIP's greeting) or keep it from
the buyer (`DoNotSend`: no 催付 to a buyer who asked not to be chased) as it is chosen.

Called in the writer's transaction that records the follow-up, once: the text decided is the one stored, sent,
suggested to the agent and sent again after a restart; a follow-up already recorded (its timer fired again after a
crash) is not asked about again. Plain functions only, chained in pluggy's order (last registered first), each given
the follow-up as the one before left it; a `DoNotSend` ends the chain: the follow-up is recorded `cancelled`, its
reason naming the plugin and the plugin's words (`followups list` shows them). A mistake (it raises, answers neither a
text, `DoNotSend` nor None, or an empty text) leaves the follow-up as it was before that plugin, logged naming it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from typing import Any

from assistant.followups import store as followup_store
from assistant.followups.reasons import WITHHELD, coded
from assistant.hookspecs import DoNotSend, Followup
from assistant.plugins import Plugins

HOOK = "adjust_followup"
UNCHANGED = "the follow-up keeps the text it had before it"
ASKED_STATES = ("pending", "suggested")  # one that is missed or cancelled reaches no buyer: nothing to adjust


class FollowupAdjuster:
    """The plugins' `adjust_followup`, chained; nothing is called when no plugin has it."""

    def __init__(self, plugins: Plugins) -> None:
        self.plugins = plugins
        self.impls = plugins.adjusters(HOOK)

    def adjusted(self, conn: sqlite3.Connection, draft: Followup) -> Followup:
        """The follow-up about to be recorded, as the plugins leave it."""
        if not self.impls or draft.state not in ASKED_STATES:
            return draft
        if followup_store.followup(conn, draft.id) is not None:
            return draft  # recorded before a restart: what was decided then stands (the store keeps it)
        plugins = self.plugins
        conversation = {"shop": draft.shop, "conversation": draft.conversation, "customer": draft.customer,
                        "agent": draft.agent}  # fmt: skip
        values: dict[str, Any] = {"config": plugins.config, "http": plugins.http, "conversation": conversation}
        for impl in self.impls:
            values["followup"] = draft
            ok, answer = plugins.adjusting(HOOK, impl, values, UNCHANGED)
            if not ok or answer is None:
                continue
            if isinstance(answer, DoNotSend):
                words = str(answer.reason).strip() or None
                return replace(draft, state="cancelled", last_error=coded(WITHHELD, words, plugin=impl.plugin_name))
            if isinstance(answer, str) and answer.strip():
                draft = replace(draft, text=answer.strip())
                continue
            if isinstance(answer, str):
                problem = "returned an empty text (return DoNotSend(reason) to keep it from the buyer)"
            else:
                problem = f"returned {type(answer).__name__}, not a text, DoNotSend(reason) or None"
            plugins.mistake(HOOK, impl, "type", problem, UNCHANGED)
        return draft
