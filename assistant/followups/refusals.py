"""Credentials a platform refuses (Chatwoot: a revoked or rotated token, 401): said once, shown by `/readyz`.

A follow-up whose attempt met such a refusal is kept `pending` and tried again with the backoff (delivery.py): the
token may be put right (a restart with the new one, a bot given back its account), and what is still within
`late_grace_s` of coming due then goes out. The refusal is said once, as an error, when first met; `/readyz`
shows it until an attempt with that credential goes through.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

REFUSED = (
    "%s was refused: %s. Follow-ups are kept and tried again: those still within late_grace_s (%gs) of coming due"
    " are sent once it is accepted, later ones are recorded missed. Secrets are read at start: after putting a new"
    " token in the environment, restart the service"
)
# Why a follow-up kept for a refused credential was not sent (`last_error`); the refusal itself follows it.
TOO_LATE = "its credential was refused until more than late_grace_s after it came due: too late to send"


class Refusals:
    """The credentials refused since the start (or since they were last accepted), with the platform's answer."""

    def __init__(self) -> None:
        self._refused: dict[str, str] = {}

    def refused(self, credential: str, error: str, grace_s: float) -> None:
        """An attempt met `credential` refused: said once (an error), until it is accepted again."""
        if credential not in self._refused:
            log.error(REFUSED, credential, error, grace_s)
        self._refused[credential] = error

    def accepted(self, credential: str) -> None:
        """An attempt with `credential` went through."""
        if self._refused.pop(credential, None) is not None:
            log.warning("%s is accepted again: the follow-ups kept for it are sent", credential)

    def shown(self, held: list[str]) -> dict[str, dict[str, object]]:
        """What `/readyz` says: each refused credential, the platform's answer and how many follow-ups wait for it."""
        return {name: {"error": error, "held": held.count(name)} for name, error in self._refused.items()}
