"""The variables a phrase of the assistant's own intents may use (docs/phrases.md), checked with the rest of it."""

from __future__ import annotations

from collections.abc import Mapping

from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment

from assistant.i18n import _

# The assistant's own messages go out without an agent reading them first, filled with what the follow-up knows
# (followups/policy.py): the shop, agent and customer, and for a reminder the unpaid order and its amount. Any
# other variable would always read as its neutral default (a closing's {{ order }} as 您的订单).
_ALWAYS = frozenset({"shop", "agent", "customer"})
INTENT_VARIABLES: Mapping[str, frozenset[str]] = {
    "followup": _ALWAYS,
    "followup_paid": _ALWAYS,
    "payment_reminder": _ALWAYS | {"order", "amount"},
}


def intent_problems(env: SandboxedEnvironment, intent: str, source: str) -> list[str]:
    """What is wrong with a phrase's variables for its intent: the assistant's own intents use only the variables
    INTENT_VARIABLES allows."""
    reasons = []
    allowed = INTENT_VARIABLES.get(intent)
    if allowed is not None and any(mark in source for mark in ("{{", "{%")):
        used = meta.find_undeclared_variables(env.parse(source)) - allowed
        if used:
            reasons.append(
                _(
                    "%(intent)s phrases may use only %(allowed)s, not %(names)s",
                    intent=intent,
                    allowed="、".join(f"{{{{ {v} }}}}" for v in sorted(allowed)),
                    names="、".join(f"{{{{ {v} }}}}" for v in sorted(used)),
                )
            )
    return reasons
