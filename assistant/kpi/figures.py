"""What the KPI queries give: an agent's additive figures (`Tally`), a shop-day's (`DayFigures`), the day they read
(`Window`) and the messages listed for coaching (`Flagged`); kpi/queries.py fills them from the log."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

UNASSIGNED = "(unassigned)"
# Response-time histogram: upper bounds in seconds (None: open-ended); unanswered bursts apart.
RESPONSE_BUCKETS: tuple[tuple[str, float | None], ...] = (
    ("≤10s", 10.0),
    ("10–30s", 30.0),
    ("30–60s", 60.0),
    ("1–2min", 120.0),
    ("2–5min", 300.0),
    (">5min", None),
)
NO_REPLY = "no reply"


@dataclass
class Tally:
    """One agent's additive figures; every KPI is one of these or a ratio of two."""

    consulted: int = 0
    served: int = 0
    inquiries: int = 0
    ordered: int = 0
    paid: int = 0
    sales_cents: int = 0
    refund_cents: int = 0  # what refunds took back of the credited orders' payments (sales are net of it)
    first_responses: int = 0
    first_response_ms: int = 0
    bursts: int = 0
    responses: int = 0
    response_ms: int = 0
    slow_responses: int = 0
    after_hours: int = 0  # bursts begun while the shop was closed ([shop] service_hours): their waits run from opening
    customer_messages: int = 0
    agent_messages: int = 0
    short_replies: int = 0
    followups_sent: int = 0
    followups_recovered: int = 0
    suggestions_shown: int = 0
    suggestions_used: int = 0
    qa_flags: int = 0  # the agent's messages with a quality flag (short replies aside)
    upsells: int = 0  # 追销: orders after the buyer's earlier one that the agent brought (kpi/upsell.py)

    def __add__(self, other: Tally) -> Tally:
        return Tally(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(Tally)})

    def add(self, **counts: int | None) -> None:
        for name, value in counts.items():
            setattr(self, name, getattr(self, name) + int(value or 0))


@dataclass(frozen=True)
class Flagged:
    """A slow response or a short reply, with its text, for coaching."""

    agent: str
    conversation: str
    customer: str
    ts_ms: int
    text: str
    wait_s: float | None = None  # slow responses: seconds until the reply; None when unanswered
    reply: str | None = None  # slow responses: the reply's text
    flags: tuple[dict[str, Any], ...] = ()  # quality flags: category, label, match …
    sender: str = "agent"


def _slowness(f: Flagged) -> tuple[bool, float, int]:
    """Unanswered first, then the longest waits."""
    return (f.wait_s is not None, -(f.wait_s or 0.0), f.ts_ms)


@dataclass
class DayFigures:
    """Everything the report needs from one shop-day (or a sum of days) of the log."""

    tallies: dict[str, Tally] = field(default_factory=dict)
    histogram: dict[str, int] = field(default_factory=dict)  # RESPONSE_BUCKETS labels, then NO_REPLY
    hourly: list[tuple[int, int]] = field(default_factory=lambda: [(0, 0)] * 24)  # (customer, agent) messages
    short_replies: list[Flagged] = field(default_factory=list)
    slow_responses: list[Flagged] = field(default_factory=list)
    qa: dict[str, dict[str, int]] = field(default_factory=dict)  # agent → quality category → flagged messages
    qa_flagged: list[Flagged] = field(default_factory=list)
    # Orders credited here but created after the day: a range's next day must not credit them again (docs/kpi.md).
    late_orders: set[str] = field(default_factory=set)
    credits: dict[str, tuple[str, bool]] = field(default_factory=dict)  # customers_of_day: order → (agent, inquiry)

    def tally(self, agent: str) -> Tally:
        if agent not in self.tallies:
            self.tallies[agent] = Tally()
        return self.tallies[agent]

    def merge(self, other: DayFigures, list_limit: int) -> None:
        """Add `other` to these figures; the flagged lists keep their first/worst `list_limit`."""
        for agent, tally in other.tallies.items():
            self.tallies[agent] = self.tally(agent) + tally
        for label, count in other.histogram.items():
            self.histogram[label] = self.histogram.get(label, 0) + count
        self.hourly = [(c1 + c2, a1 + a2) for (c1, a1), (c2, a2) in zip(self.hourly, other.hourly)]
        self.short_replies = sorted(self.short_replies + other.short_replies, key=lambda f: f.ts_ms)[:list_limit]
        self.slow_responses = sorted(self.slow_responses + other.slow_responses, key=_slowness)[:list_limit]
        for agent, counts in other.qa.items():
            mine = self.qa.setdefault(agent, {})
            for category, n in counts.items():
                mine[category] = mine.get(category, 0) + n
        self.qa_flagged = sorted(self.qa_flagged + other.qa_flagged, key=lambda f: f.ts_ms)[:list_limit]
        self.late_orders |= other.late_orders


@dataclass(frozen=True)
class Window:
    """A local day D as [start, end), and `horizon`, the end of D+1 (replies and orders count until then); its clock:
    the UTC offset at its start, and from `shift_at_ms` on (a DST change, or none: its end) offset + `shift_ms`."""

    start_ms: int
    end_ms: int
    horizon_ms: int
    offset_ms: int
    shift_at_ms: int
    shift_ms: int
