"""询单转化率历史最高奖 (seed 002): a bonus for each agent whose month's 询单转化率 beats the highest monthly one any agent
of the shop reached in the months before (docs/kpi.md, "The conversion record")."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction
from typing import Any

from assistant.config import KpiConfig
from assistant.kpi.figures import UNASSIGNED, Tally

NOT_A_MONTH = "not_a_whole_month"  # the report's period is no calendar month: the seed's bonus is a month's
NO_RECORD = "no_earlier_month"  # no agent had enough inquiries in the months before: nothing to beat


@dataclass(frozen=True)
class Winner:
    """An agent whose month beat the record, and their conversion (a fraction, 4 decimals)."""

    agent: str
    conversion: float


@dataclass(frozen=True)
class ConversionRecord:
    """The record of a shop's earlier months and who beat it this month; `reason` says why nothing was compared."""

    bonus: float  # yuan for each agent who beats the record (`[kpi] record_bonus`)
    months: int  # how many months before are the history (`[kpi] record_months`)
    min_inquiries: int  # a month counts, and can win, from this many 询单 (`[kpi] record_min_inquiries`)
    reason: str | None = None  # NOT_A_MONTH or NO_RECORD; None: compared against the record
    record: float | None = None  # the highest monthly conversion of the months before
    record_agent: str | None = None
    record_month: str | None = None  # "2026-10"
    winners: tuple[Winner, ...] = ()

    @property
    def computed(self) -> bool:
        """Whether the bonus was computed for the period (a whole month); with no record, nobody wins."""
        return self.reason != NOT_A_MONTH

    def bonus_of(self, agent: str) -> float | None:
        """What `agent` earns: the bonus, 0.0, or None when the period is no whole month."""
        if not self.computed:
            return None
        return self.bonus if any(w.agent == agent for w in self.winners) else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "bonus": self.bonus,
            "computed": self.computed,
            "reason": self.reason,
            "months": self.months,
            "min_inquiries": self.min_inquiries,
            "record": self.record,
            "record_agent": self.record_agent,
            "record_month": self.record_month,
            "winners": [{"agent": w.agent, "conversion": w.conversion} for w in self.winners],
        }


def whole_month(first: date, last: date) -> bool:
    """Whether [first, last] is one calendar month, its first day to its last."""
    return first.day == 1 and last == _month_end(first)


def _month_end(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def months_before(first: date, count: int) -> list[tuple[date, date]]:
    """The `count` calendar months before the one `first` starts, the latest first."""
    out = []
    start = first.replace(day=1)
    for _ in range(count):
        start = (start - timedelta(days=1)).replace(day=1)
        out.append((start, _month_end(start)))
    return out


def find_record(
    kpi: KpiConfig,
    first: date,
    last: date,
    month: Mapping[str, Tally],
    earlier: Callable[[date, date], Mapping[str, Tally]],
) -> ConversionRecord | None:
    """The record the agents of `month` (their tallies over [first, last]) are held against, read through `earlier`
    for each month before; None when the shop pays no such bonus (`record_bonus` 0)."""
    if kpi.record_bonus <= 0:
        return None
    found = ConversionRecord(kpi.record_bonus, kpi.record_months, kpi.record_min_inquiries)
    if not whole_month(first, last):
        return ConversionRecord(found.bonus, found.months, found.min_inquiries, NOT_A_MONTH)
    best: tuple[Fraction, str, str] | None = None
    for start, end in months_before(first, kpi.record_months):
        for agent, rate in _rates(earlier(start, end), kpi.record_min_inquiries).items():
            if best is None or rate > best[0]:  # a tie keeps the later month's: the latest months are read first
                best = (rate, agent, start.strftime("%Y-%m"))
    if best is None:
        return ConversionRecord(found.bonus, found.months, found.min_inquiries, NO_RECORD)
    rates = _rates(month, kpi.record_min_inquiries)
    winners = sorted((Winner(a, round(float(r), 4)) for a, r in rates.items() if r > best[0]), key=_by_rate)
    return ConversionRecord(
        found.bonus,
        found.months,
        found.min_inquiries,
        record=round(float(best[0]), 4),
        record_agent=best[1],
        record_month=best[2],
        winners=tuple(winners),
    )


def _rates(tallies: Mapping[str, Tally], min_inquiries: int) -> dict[str, Fraction]:
    """Each agent's 询单转化率 (paid / inquiries, exact) with at least `min_inquiries` inquiries."""
    return {
        agent: Fraction(t.paid, t.inquiries)
        for agent, t in tallies.items()
        if agent != UNASSIGNED and t.inquiries and t.inquiries >= min_inquiries
    }


def _by_rate(w: Winner) -> tuple[float, str]:
    return (-w.conversion, w.agent)
