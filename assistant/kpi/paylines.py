"""The lines that say what the pay beside the 提成 is made of: the 客服主管's commission and the 询单转化率历史最高奖,
as the table and the page write them under the team row (names as logged: neither holds the unassigned)."""

from __future__ import annotations

from assistant import i18n
from assistant.kpi.metrics import SupervisorCommission
from assistant.kpi.record import NO_RECORD, NOT_A_MONTH, ConversionRecord
from assistant.templating import format_value


def supervisor_text(s: SupervisorCommission, t: i18n.Translator) -> str:
    """The 客服主管's commission with each figure it is computed from, as the table and the page say it."""
    sales, margin = "¥" + format_value(s.sales, "money"), format_value(s.margin, "pct")
    if s.rate is None:
        return t.gettext(
            "Supervisor's commission: no agent had an inquiry (inquiry sales %(sales)s, profit margin %(margin)s).",
            sales=sales,
            margin=margin,
        )
    return t.ngettext(
        "Supervisor's commission %(commission)s = inquiry sales %(sales)s × profit margin %(margin)s × %(rate)s, the"
        " tier of the agents' average inquiry conversion %(average)s (%(num)d agent with inquiries).",
        "Supervisor's commission %(commission)s = inquiry sales %(sales)s × profit margin %(margin)s × %(rate)s, the"
        " tier of the agents' average inquiry conversion %(average)s (%(num)d agents with inquiries).",
        s.agents,
        commission="¥" + format_value(s.commission, "money"),
        sales=sales,
        margin=margin,
        rate=format_value(s.rate, "pct"),
        average=format_value(s.average_conversion, "pct"),
    )


def record_text(c: ConversionRecord, t: i18n.Translator) -> str:
    """询单转化率历史最高奖: who beat which record, or why nothing was compared (the table's and the page's line)."""
    bonus = "¥" + format_value(c.bonus, "money")
    if c.reason == NOT_A_MONTH:
        return t.gettext(
            "Record bonus %(bonus)s: paid on a whole month's inquiry conversion, so it is computed for a report from"
            " a month's first day to its last (this period is not one).",
            bonus=bonus,
        )
    if c.reason == NO_RECORD:
        return t.ngettext(
            "Record bonus %(bonus)s: no agent had %(least)s inquiries in the last %(num)d month, so there is no record"
            " to beat.",
            "Record bonus %(bonus)s: no agent had %(least)s inquiries in any of the last %(num)d months, so there is"
            " no record to beat.",
            c.months,
            bonus=bonus,
            least=c.min_inquiries,
        )
    record = t.gettext(
        "%(rate)s (%(agent)s, %(month)s)",
        rate=format_value(c.record, "pct"),
        agent=c.record_agent,
        month=c.record_month,
    )
    if not c.winners:
        return t.ngettext(
            "Record bonus %(bonus)s: no agent beat the highest monthly inquiry conversion of the last %(num)d month,"
            " %(record)s.",
            "Record bonus %(bonus)s: no agent beat the highest monthly inquiry conversion of the last %(num)d months,"
            " %(record)s.",
            c.months,
            bonus=bonus,
            record=record,
        )
    winners = t.gettext(", ").join(
        t.gettext("%(agent)s (%(rate)s)", agent=w.agent, rate=format_value(w.conversion, "pct")) for w in c.winners
    )
    return t.ngettext(
        "Record bonus %(bonus)s each: %(winners)s beat the highest monthly inquiry conversion of the last %(num)d"
        " month, %(record)s.",
        "Record bonus %(bonus)s each: %(winners)s beat the highest monthly inquiry conversion of the last %(num)d"
        " months, %(record)s.",
        c.months,
        bonus=bonus,
        winners=winners,
        record=record,
    )
