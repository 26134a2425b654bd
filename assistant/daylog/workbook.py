"""The daily log as the supervisors' workbook (.xlsx): one row per message, follow-up and order, in the
interface's language (the CSV keeps the ids, for programs)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, BinaryIO

from assistant import i18n
from assistant.daylog.formats import Wording, late_note, refund_counted
from assistant.daylog.query import Item
from assistant.events import ORDER_TYPES
from assistant.i18n import N_
from assistant.safetext import Column, write_workbook

SHEET = N_("Daily log")
_TIME_FORMAT = "yyyy-mm-dd hh:mm:ss"

# (heading, width, number format)
_COLUMNS: tuple[tuple[str, float, str | None], ...] = (
    (N_("Time"), 20, _TIME_FORMAT),
    (N_("Shop"), 12, None),
    (N_("Conversation"), 14, None),
    (N_("Customer"), 14, None),
    (N_("Sender"), 8, None),
    (N_("Agent"), 10, None),
    (N_("Message"), 50, None),
    (N_("Intent"), 14, None),
    (N_("Customer type"), 12, None),
    (N_("Suggested phrases"), 22, None),
    (N_("Suggestion used"), 10, None),
    (N_("Replied after (s)"), 12, None),
    (N_("Slow"), 6, None),
    (N_("Unanswered"), 8, None),
    (N_("Short reply"), 8, None),
    (N_("Follow-up"), 10, None),
    (N_("Follow-up state"), 14, None),
    (N_("Came back after (s)"), 12, None),
    (N_("Order"), 22, None),
    (N_("Amount (¥)"), 10, "0.00"),
    (N_("Quality"), 30, None),
)


def write_xlsx(items: Iterable[Item], out: BinaryIO, wording: Wording | None = None) -> int:
    """Write the day's rows as a workbook; returns how many items were read (as `formats.write`)."""
    wording = wording or Wording()
    t = i18n.translator(wording.language)
    columns = [Column(t.gettext(heading), width, fmt) for heading, width, fmt in _COLUMNS]
    read = [0]

    def counted() -> Iterator[Item]:
        for item in items:
            read[0] += 1
            yield item

    rows = _Rows(wording)
    write_workbook(t.gettext(SHEET), columns, (rows(i) for i in counted()), out)  # every item a row, as the text
    return read[0]


class _Rows:
    """The words of one language, looked up once per workbook."""

    def __init__(self, wording: Wording) -> None:
        self.w = wording
        t = self.t = i18n.translator(wording.language)
        self.senders = {"customer": t.gettext("customer"), "agent": t.gettext("agent"), "auto": t.gettext("auto")}
        self.kinds = i18n.event_kinds(wording.language)
        self.states = i18n.followup_states(wording.language)
        self.yes, self.no = t.gettext("yes"), t.gettext("no")
        self.reminder, self.closing = t.gettext("payment reminder"), t.gettext("follow-up")
        self.came_back = t.gettext("customer came back")
        self.closed_paid = t.gettext("Paid order closed")

    def __call__(self, item: Item) -> list[Any]:
        kind = item["kind"]
        when = datetime.fromisoformat(item["ts"]).replace(tzinfo=None)  # the shop's local time, as the page
        where = [when, item["shop"], item["conversation"], item["customer"]]
        if kind in ORDER_TYPES:
            amount = item.get("amount")
            said = "；".join(note for note in (refund_counted(item, self.t), late_note(item, self.t)) if note) or None
            return [
                *where, self.closed_paid if item.get("paid") else self.kinds[kind], item.get("agent"), said, None, None, None, None, None, None, None, None,
                None, None, None, str(item.get("order") or ""), amount, None,
            ]  # fmt: skip
        if kind not in ("message", "followup"):  # a suggestion used, a hand-over, a closing: what happened, and who
            said = None
            used = None
            if kind == "conversation_assigned":
                said = self.t.gettext("handed over to %(agent)s", agent=item.get("agent"))
            elif kind == "suggestion_used":
                phrase = str(item.get("phrase_id") or "")
                used = self.w.phrase(item.get("shop"), phrase)
            label = self.kinds.get(kind, kind)
            return [*where, label, item.get("agent"), said, None, None, used, *([None] * 11)]
        sender = str(item.get("sender") or "")
        customer = sender == "customer"
        note = item.get("followup")
        suggestions = item.get("suggestions") or []
        offered = "、".join(
            f"{s['code'] or self.w.phrase(item.get('shop'), s['phrase_id'])}{' ✓' if s['used'] else ''}"
            for s in suggestions
        )
        intent = item.get("intent")
        ctype = item.get("customer_type")
        return [
            *where,
            self.senders.get(sender, sender),
            item.get("agent"),
            item.get("text"),
            i18n.label(self.w.language, intent, self.w.intents.get(intent)) if intent else None,
            i18n.label(self.w.language, ctype, self.w.customer_types.get(ctype)) if ctype else None,
            offered or None,
            self._flag(item.get("suggestion_used")) if customer else None,
            item.get("response_s"),
            self._flag(item.get("slow")) if customer and "slow" in item else None,
            self._flag(item.get("unanswered")) if customer and "unanswered" in item else None,
            self._flag(item.get("short")) if sender == "agent" else None,
            (self.reminder if note["kind"] == "payment_reminder" else self.closing) if note else None,
            self._state(note) if note else None,
            note["came_back_s"] if note else None,
            None,
            None,
            "；".join(f"{f.get('label') or f.get('category')}「{f.get('match')}」" for f in item.get("qa") or ())
            or None,
        ]

    def _flag(self, value: Any) -> str | None:
        if value is None:
            return None
        return self.yes if value else self.no

    def _state(self, note: Any) -> str:
        if note["outcome"] == "came_back":
            return self.came_back
        return self.states.get(note["outcome"], note["outcome"])
