"""Why a follow-up was not sent, or how its delivery went, as stored (`last_error`): a code, its values, then the
platform's own words or the reason it wraps: `too_late(max_late_s=900, late_s=1000): HTTP 429 from Chatwoot: …`.

What a supervisor reads (`assistant followups list`) is the code's text in the interface's language, the platform's
words as they came; the service's log says it in English (`english`). Rows written before the codes hold the
English text itself: shown translated when it is one of the texts below, else as written.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from assistant.i18n import N_, _

Gettext = Callable[..., str]

NO_HOOK = "no_hook"
CUSTOMER_WROTE = "customer_wrote"  # why a delivery was cancelled
AGENT_WROTE = "agent_wrote"  # its idle period is over: a new one has begun
CLOSED = "closed"
SUPERSEDED = "superseded"  # the conversation's next one came due: sent after it, it would be out of order
ORDER_SETTLED = "order_settled"  # a payment reminder whose order was paid (or closed) meanwhile
GONE = "gone"  # the platform no longer has the conversation (Chatwoot: deleted, 404): nobody to chase
WAS_CLOSED = "was_closed"  # the platform shows it resolved or snoozed, though no closure reached the log
LOCKED_TOO_LONG = "locked_too_long"
TIMED_OUT = "timed_out"
TOO_LATE = "too_late"  # the platform refused it or asked to wait until past max_late_s (its last answer follows)
REFUSED_TOO_LATE = "refused_too_late"  # kept for a refused credential past late_grace_s (the refusal follows)
NOT_POSTED_AGAIN = "not_posted_again"  # an interrupted attempt that cannot be confirmed (why follows)
UNCONFIRMED = "unconfirmed"  # the platform could not be asked whether it holds it (its answer follows)
CHANNEL_REFUSED = "channel_refused"  # the platform took it, its channel did not deliver it (the channel's reason)
RETRIED = "retried"  # sent by a retry in the platform after its channel refused it (that refusal follows)
MOVED_ON = "moved_on"
AGENT_SENT = "agent_sent"  # a suggested follow-up the agent sent: it must not invite a second send
AGENT_CLOSED = "agent_closed"  # the agent's own last message was a closing: two goodbyes
DOWN_WHEN_DUE = "down_when_due"
LATE_REPLY = "late_reply"
ARRIVED_LATE = "arrived_late"
WENT_ON = "went_on"  # a stale record voided: the conversation went on after it
AFTER_SALE = "after_sale"
RESTORED = "restored"
WITHHELD = "withheld"  # a plugin's adjust_followup kept it from the buyer (the plugin's words follow)
# A resumed delivery's cancel, by who ended its idle period meanwhile (followup_store.period_ended_by).
ENDED_BY = {"agent": AGENT_WROTE, "closed": CLOSED, "customer": CUSTOMER_WROTE}

TEXTS: dict[str, str] = {
    NO_HOOK: N_("no deliver_message hook handled it (enable one in [hooks] enabled)"),
    CUSTOMER_WROTE: N_("the customer wrote before it was delivered"),
    AGENT_WROTE: N_("the agent wrote again before it was delivered"),
    CLOSED: N_("the conversation was closed before it was delivered"),
    SUPERSEDED: N_("the conversation's next follow-up came due before it was delivered"),
    ORDER_SETTLED: N_("no unpaid order was left before it was delivered"),
    GONE: N_("the conversation no longer exists on the chat platform (deleted): nobody to follow up"),
    WAS_CLOSED: N_("the conversation was resolved or snoozed on the chat platform before it was delivered"),
    LOCKED_TOO_LONG: N_("the database stayed locked more than late_grace_s past the lease: too late to send"),
    TIMED_OUT: N_("timed out after %(seconds)s s"),
    TOO_LATE: N_(
        "not delivered within max_late_s (%(max_late_s)s s) of coming due: too late to send: the next attempt would be"
        " %(late_s)s s after it came due"
    ),
    REFUSED_TOO_LATE: N_("its credential was refused until more than late_grace_s after it came due: too late to send"),
    NOT_POSTED_AGAIN: N_("not posted again: the interrupted attempt may have reached the customer"),
    UNCONFIRMED: N_("could not confirm the earlier attempt"),
    CHANNEL_REFUSED: N_("the channel did not deliver it after the platform took it"),
    RETRIED: N_("sent by a retry in the platform after the channel refused it"),
    MOVED_ON: N_("the conversation moved on while it was being chosen"),
    AGENT_SENT: N_("the agent sent it"),
    AGENT_CLOSED: N_("the agent's last message was a closing"),
    DOWN_WHEN_DUE: N_("the service was down when it was due"),
    LATE_REPLY: N_("the customer wrote, or the conversation was closed, before it was suggested (delivered late)"),
    ARRIVED_LATE: N_("the agent message arrived %(seconds)s s after its idle period ended"),
    WENT_ON: N_("the agent message arrived after its idle period ended, but the conversation went on after it"),
    AFTER_SALE: N_("the buyer's latest words are an after-sale matter or a complaint (%(word)s): no closing"),
    WITHHELD: N_("kept from the buyer by adjust_followup of %(plugin)s"),
    RESTORED: N_("the database was restored from a backup: the service that ran after the backup may have sent it"),
}
ASKED = N_("%(reason)s (%(asked_s)s s asked for by Retry-After)")
FOLLOWED = N_("%(reason)s: %(detail)s")  # a reason, then the platform's words (or the reason it wraps)
# What a supervisor reads of the reasons that hold a time: the time as minutes or hours when it is that long (`3300
# 秒` read as an hour's fraction to work out; `55 分钟` is read). The stored values and the log stay in seconds.
SPOKEN: dict[str, str] = {
    TIMED_OUT: N_("timed out after %(seconds)s"),
    TOO_LATE: N_(
        "not delivered within max_late_s (%(max_late_s)s) of coming due: too late to send: the next attempt would be"
        " %(late_s)s after it came due"
    ),
    ARRIVED_LATE: N_("the agent message arrived %(seconds)s after its idle period ended"),
}
SPOKEN_ASKED = N_("%(reason)s (%(asked_s)s asked for by Retry-After)")
SECONDS = N_("%(n)s s")
MINUTES = N_("%(n)s min")
MINUTES_SECONDS = N_("%(m)s min %(s)s s")
HOURS = N_("%(n)s h")
HOURS_MINUTES = N_("%(h)s h %(m)s min")
SPOKEN_FROM_S = 120  # a time this long or longer is said in minutes (and from an hour, in hours and minutes)

_CODED = re.compile(r"(?P<code>[a-z_]+)(?:\((?P<values>[^()]*)\))?(?:: (?P<detail>.*))?", re.DOTALL)
_VALUE = re.compile(r"([a-z_]+)=([^,]*)")


def coded(code: str, detail: str | None = None, **values: str) -> str:
    """The stored form of reason `code` with its `values` (numbers, as text) and what follows it, if anything."""
    if code not in TEXTS:
        raise ValueError(f"no such reason: {code}")
    given = ", ".join(f"{name}={value}" for name, value in values.items())
    text = f"{code}({given})" if given else code
    return text if detail is None else f"{text}: {detail}"


def code_of(stored: str | None) -> str | None:
    """The reason's code, whether stored as one or as its English text (a row written before the codes)."""
    if stored is None:
        return None
    found = _parse(stored)
    if found is not None:
        return found[0]
    return next((code for code, text in TEXTS.items() if "%(" not in text and stored.startswith(text)), None)


def shown(stored: str, gettext: Gettext = _) -> str:
    """A stored reason as a reader sees it: its text in `gettext`'s language (the interface's by default), the
    platform's own words as they came; a time of two minutes or more in minutes (`55 分钟`, stored as 3300 s)."""
    return _said(stored, gettext, spoken=True)


def english(stored: str) -> str:
    """A stored reason as the service's log says it (its times in seconds, as stored)."""
    return _said(stored, lambda message, **values: message % values if values else message, spoken=False)


def _said(stored: str, gettext: Gettext, *, spoken: bool) -> str:
    found = _parse(stored)
    if found is None:
        return _legacy(stored, gettext, spoken)
    code, values, detail = found
    asked = values.pop("asked_s", None)
    texts = SPOKEN if spoken else TEXTS
    try:
        if spoken and code in SPOKEN:
            values = {name: duration(value, gettext) for name, value in values.items()}
        text = gettext(texts.get(code, TEXTS[code]), **values)
    except (KeyError, ValueError):  # values not as this release writes them: the code's text without them
        return stored
    if asked is not None:
        text = gettext(SPOKEN_ASKED, reason=text, asked_s=duration(asked, gettext)) if spoken else gettext(ASKED, reason=text, asked_s=asked)  # fmt: skip
    return text if detail is None else gettext(FOLLOWED, reason=text, detail=_said(detail, gettext, spoken=spoken))


def duration(seconds: str, gettext: Gettext = _) -> str:
    """A stored number of seconds as a reader says it: `90 秒`, `55 分钟`, `15 分 30 秒`, `1 小时 7 分钟` (from an hour,
    to the nearest minute); under two minutes, or no number, as stored."""
    try:
        value = float(seconds)
    except ValueError:
        value = math.nan
    if math.isfinite(value) and value >= SPOKEN_FROM_S:
        whole = round(value)
        if whole >= 3600:
            hours, minutes = divmod(round(whole / 60), 60)
            return gettext(HOURS_MINUTES, h=hours, m=minutes) if minutes else gettext(HOURS, n=hours)
        minutes, rest = divmod(whole, 60)
        return gettext(MINUTES_SECONDS, m=minutes, s=rest) if rest else gettext(MINUTES, n=minutes)
    return gettext(SECONDS, n=seconds)


def _parse(stored: str) -> tuple[str, dict[str, str], str | None] | None:
    found = _CODED.fullmatch(stored)
    if found is None or found["code"] not in TEXTS:
        return None
    values = dict(_VALUE.findall(found["values"] or ""))
    return found["code"], values, found["detail"]


def _legacy(stored: str, gettext: Gettext, spoken: bool) -> str:
    """A reason stored as English text (before the codes), translated when it is one of ours."""
    for code in (ARRIVED_LATE, TIMED_OUT):
        msgid = TEXTS[code]
        found = re.fullmatch(re.escape(msgid).replace(re.escape("%(seconds)s"), r"(?P<seconds>[0-9.]+)"), stored)
        if found and spoken:
            return gettext(SPOKEN[code], seconds=duration(found["seconds"], gettext))
        if found:
            return gettext(msgid, seconds=found["seconds"])
    return gettext(stored) if stored in TEXTS.values() else stored
