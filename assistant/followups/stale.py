"""The record of an agent message that came too late to arm: a `stale` follow-up (never sent or prompted).

It is written when the message arrives, and by the replay after a restart when the process that took the
message was killed before writing it; its id (the first follow-up of the message's idle period) makes it once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from assistant.followups import store as followup_store
from assistant.followups.policy import Cancel, PhraseSource, Policy, compose, followup_id, kind_for
from assistant.followups.store import Key
from assistant.hookspecs import Followup
from assistant.i18n import N_

ARRIVED_LATE = N_("the agent message arrived %(seconds)s s after its idle period ended")


def insert_stale(
    conn: sqlite3.Connection,
    policy: Policy,
    sources: Sequence[PhraseSource | None],
    shop_name: str,
    mode: str,
    key: Key,
    seq: int,
    at_ms: int,
    arrived_ms: int,
    now: int,
) -> Followup | None:
    """Record the agent message `seq` (stamped `at_ms`, received `arrived_ms`) as stale, unless the log shows
    its period ended anyway or it is recorded already; the new record, else None."""
    shop, conversation = key
    due_ms = at_ms + policy.idle_ms
    ctx = followup_store.fire_context(
        conn, shop, conversation, seq, at_ms, due_ms - policy.window_ms, policy.future_ms, check_superseded=True
    )
    kind = kind_for(ctx)
    if isinstance(kind, Cancel) or ctx.superseded or ctx.armed_event_id is None:
        return None  # the customer wrote, paid, or the agent wrote again: no follow-up was owed
    fid = followup_id(shop, conversation, ctx.armed_event_id, 1)
    phrase_id, text = compose(kind, ctx, fid, sources, shop_name, shop)
    draft = Followup(
        id=fid, shop=shop, conversation=conversation, customer=ctx.customer or "", agent=ctx.agent, kind=kind,
        phrase_id=phrase_id, text=text, mode=mode, state="stale", attempts=0,
        last_error=ARRIVED_LATE % {"seconds": f"{(arrived_ms - due_ms) / 1000:.0f}"},
        # Dated when it would have fired, not when it was found late: the daily log shows it on its conversation's
        # own day (a back-fill put yesterday's records among today's messages, as if written today).
        armed_seq=seq, due_ms=due_ms, fired_ms=due_ms, updated_ms=now,
    )  # fmt: skip
    stored, new = followup_store.insert_followup(conn, draft)
    return stored if new else None
