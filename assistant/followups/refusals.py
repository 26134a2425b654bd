"""Credentials a platform refuses (Chatwoot: a revoked or rotated token, 401): said once, shown by `/readyz`.

A follow-up whose attempt met such a refusal is kept `pending` and tried again with the backoff (delivery.py): the
token may be put right (a restart with the new one, a bot given back its account), and what is still within
`late_grace_s` of coming due then goes out. The refusal is said once, as an error, when first met; `/readyz`
shows it until an attempt with that credential goes through.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from typing import Any

from assistant.clock import Clock
from assistant.followups import store as followup_store
from assistant.followups.reasons import CHANNEL_REFUSED, RETRIED, TOO_LATE, UNCONFIRMED, code_of, coded, english
from assistant.hookspecs import CannotConfirm, Followup
from assistant.plugins import Plugins
from assistant.writer import Writer

log = logging.getLogger(__name__)

REFUSED = (
    "%s was refused: %s. Follow-ups are kept and tried again: those still within late_grace_s (%gs) of coming due"
    " are sent once it is accepted, later ones are recorded missed. Secrets are read at start: after putting a new"
    " token in the environment, restart the service"
)


class FinalRefusal(str):
    """Why the platform cannot be asked whether it holds a message, and never will be (refused access)."""


class CredentialRefused(str):
    """Why the platform could not be asked whether it holds a message: it refused `credential` (a revoked token),
    which may be put right. The follow-up is kept for it, as after a refused attempt, and asked about again."""

    credential: str

    def __new__(cls, why: str, credential: str) -> CredentialRefused:
        made = super().__new__(cls, why)
        made.credential = credential
        return made


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


async def channel_news(
    writer: Writer,
    clock: Clock,
    notify: Callable[[Followup], None],
    followup_id: str,
    refusal: str | None,
    stamped_ms: int,
) -> Followup | None:
    """The platform took `followup_id`, then its channel did not deliver it (`refusal`: Chatwoot's `external_error`):
    recorded `failed` with the channel's reason, whether its `sent` was recorded yet or not (a delivery still at it
    finds it no longer pending and records nothing more); never sent again by the assistant. `refusal` None: an
    agent retried it in the platform and it went out (Chatwoot: failed to sent, `external_error` cleared): one the
    channel had refused is `sent`. None when nothing changed (the news twice, news older than news the log had of it
    (`stamped_ms`, the platform's stamp), or no follow-up of this log)."""

    def fail(conn: sqlite3.Connection) -> Followup | None:
        if not followup_store.channel_latest(conn, followup_id, stamped_ms, sent=False):
            return None
        error = coded(CHANNEL_REFUSED, refusal)[:1000]
        states = ("pending", "sent")
        return followup_store.update_followup(
            conn, followup_id, state="failed", now_ms=now, last_error=error, from_states=states
        )

    def sent(conn: sqlite3.Connection) -> Followup | None:
        if not followup_store.channel_latest(conn, followup_id, stamped_ms, sent=True):
            return None
        known = followup_store.followup(conn, followup_id)
        if known is None or known.state != "failed" or code_of(known.last_error) != CHANNEL_REFUSED:
            return None  # sent already, or failed otherwise: nothing the platform's retry changes
        error = coded(RETRIED, known.last_error)[:1000]
        return followup_store.update_followup(
            conn, followup_id, state="sent", now_ms=now, last_error=error, from_states=("failed",)
        )

    now = clock.now_ms()
    updated = await writer.submit(fail if refusal is not None else sent)
    if updated is not None and refusal is not None:
        log.warning("follow-up %s of %s/%s not delivered: %s", followup_id, updated.shop, updated.conversation, english(updated.last_error or ""))  # fmt: skip
    elif updated is not None:
        log.info("follow-up %s of %s/%s sent: %s", followup_id, updated.shop, updated.conversation, english(updated.last_error or ""))  # fmt: skip
    if updated is not None:
        notify(updated)
    return updated


def too_late(f: Followup, at_ms: int, max_late_s: float, error: str | None, asked_s: float | None = None) -> str | None:
    """Why `f` is not tried at `at_ms` (its `last_error`, ending with the platform's last answer `error`), or None while
    it is within `max_late_s` of coming due: a closing or a reminder an hour late reads wrong, worse than none.
    `asked_s`: the receiver's `Retry-After`, which set that time."""
    late_s = (at_ms - f.fired_ms) / 1000
    if late_s <= max_late_s:
        return None
    asked = {"asked_s": f"{asked_s:g}"} if asked_s else {}
    # The platform's last answer follows, if an attempt was made.
    return coded(TOO_LATE, error or None, max_late_s=f"{max_late_s:g}", late_s=f"{late_s:.0f}", **asked)


async def confirm(plugins: Plugins, conversation: dict[str, Any], f: Followup, timeout_s: float) -> bool | str | None:
    """The platform's answer to "do you hold this follow-up?", or why it could not tell: a FinalRefusal when it never
    will (the token may not list messages), a CredentialRefused when it refused the token (a revoked one)."""
    try:
        held = await asyncio.wait_for(
            plugins.confirm(conversation=conversation, idempotency_key=f.id, kind=f.kind, since_ms=f.fired_ms),
            timeout_s,
        )
    except TimeoutError:
        return coded(UNCONFIRMED, f"no answer within {timeout_s:g} s")
    except Exception as exc:
        why = coded(UNCONFIRMED, f"{type(exc).__name__}: {exc}")
        if isinstance(exc, CannotConfirm) and exc.credential is not None:
            return CredentialRefused(why, exc.credential)
        return FinalRefusal(why) if isinstance(exc, CannotConfirm) and exc.final else why
    return held if isinstance(held, bool) else None
