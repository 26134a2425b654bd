"""KPI definitions (docs/kpi.md): per shop, agent and local day, from the interaction log."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from assistant.config import Config, ConfigError, KpiConfig, KpiTargets
from assistant.i18n import _
from assistant.kpi.figures import NO_REPLY, RESPONSE_BUCKETS, UNASSIGNED, DayFigures, Flagged, Tally
from assistant.kpi.fresh import analyze_stale
from assistant.kpi.late import LateRefund, credit, late_refunds
from assistant.kpi.logged import active_shops
from assistant.kpi.period import credit_window, day_window, period_figures, window_ms
from assistant.kpi.record import ConversionRecord, find_record
from assistant.kpi.upsell import upsell_bonus, upsells
from assistant.privacy import mask, mask_flags

__all__ = [
    "NO_REPLY",
    "RESPONSE_BUCKETS",
    "UNASSIGNED",
    "DayFigures",
    "Flagged",
    "Tally",
    "AgentRow",
    "ShopReport",
    "METRIC_KEYS",
    "credit_window",
    "final_ms",
    "metrics",
    "commission_rate",
    "score",
    "grade",
    "judge",
    "check_kpi_config",
    "build_reports",
]


# Every key of an agent's (and the team's) figures, in report order.
METRIC_KEYS: tuple[str, ...] = (
    "consulted", "served", "reply_rate",
    "inquiries", "ordered", "paid", "order_rate", "pay_rate", "conversion", "sales", "refunds", "aov",
    "first_response_avg_s", "first_responses", "response_avg_s", "responses", "slow_responses", "after_hours",
    "customer_messages", "agent_messages", "ask_answer_ratio", "short_replies",
    "followups_sent", "followups_recovered", "suggestions_shown", "suggestions_used", "adoption_rate", "qa_flags",
    "commission_rate", "commission", "upsells", "upsell_bonus", "record_bonus", "score", "grade",
)  # fmt: skip

# Seed 003's weighted table, reduced to what the log can measure (docs/kpi.md, "Score").
DEFAULT_SCORE_WEIGHTS: dict[str, float] = {
    "conversion": 30,
    "first_response_avg_s": 15,
    "response_avg_s": 15,
    "reply_rate": 15,
    "pay_rate": 10,
    "ask_answer_ratio": 10,
    "short_replies": 5,
}
DEFAULT_GRADES: dict[str, float] = {"A": 90, "B": 80, "C": 70, "D": 60, "E": 0}
# Which metrics can be scored and how: higher/lower is better against a target, or a share to avoid.
_SCORED: dict[str, str] = {
    "conversion": "higher",
    "order_rate": "higher",
    "pay_rate": "higher",
    "reply_rate": "higher",
    "ask_answer_ratio": "higher",
    "first_response_avg_s": "lower",
    "response_avg_s": "lower",
    "short_replies": "share",
    "slow_responses": "share",
    "qa_flags": "share",  # quality inspection: the share of the agent's messages flagged (docs/quality.md)
}
_WARN_BAND = 0.2  # within 20 % of a target: amber rather than red


def final_ms(day: date, config: Config) -> int:
    """Epoch ms from which the figures of `day` no longer change: the payment window after the end of D+1."""
    return credit_window(day, config.tz)[2] + window_ms(config.kpi)


def _ratio(num: int, den: int) -> Fraction | None:
    return Fraction(num, den) if den else None


def _rate(value: Fraction | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def _money(cents: Fraction | int) -> float:
    """Yuan with two decimals, rounded half up."""
    yuan = Decimal(Fraction(cents).numerator) / Decimal(Fraction(cents).denominator) / 100
    return float(yuan.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def commission_rate(conversion: Fraction | float | None, tiers: KpiConfig) -> float | None:
    """The rate of the highest tier whose floor the conversion reaches (exact decimal comparison)."""
    if conversion is None:
        return None
    exact = conversion if isinstance(conversion, Fraction) else Fraction(str(conversion))
    rate = None
    for tier in sorted(tiers.commission, key=lambda t: t.min_conversion):
        if exact >= Fraction(str(tier.min_conversion)):
            rate = tier.rate
    return rate


@dataclass(frozen=True)
class SupervisorCommission:
    """The 客服主管's commission (seed 002): 询单成交额 × 利润率 × the tier (`[[kpi.commission]]`, the agents' own
    table) that the agents' average 询单转化率 reaches, not the team's pooled one: each agent's rate counts alike,
    so a supervisor gains by lifting the weakest agent as much as the busiest. Each figure is kept to be checked."""

    margin: float  # 利润率: the shop's (`[kpi] profit_margin`, `[kpi.profit_margins]`)
    sales: float  # 询单成交额: the team's, yuan
    agents: int  # agents whose conversion is averaged: those with an inquiry
    average_conversion: float | None  # None: no agent had an inquiry
    rate: float | None  # the tier reached; None: no agent had an inquiry
    commission: float  # yuan, rounded half up

    def to_json(self) -> dict[str, Any]:
        return {
            "profit_margin": self.margin,
            "sales": self.sales,
            "agents": self.agents,
            "average_conversion": self.average_conversion,
            "commission_rate": self.rate,
            "commission": self.commission,
        }


def supervisor_commission(
    agents: Sequence[tuple[str, Tally]], team: Tally, margin: float, kpi: KpiConfig
) -> SupervisorCommission | None:
    """The supervisor's commission from the agents' tallies and the team's; None when the shop has no margin (the
    log knows no cost: nothing to compute)."""
    if margin <= 0:
        return None
    rates = [Fraction(t.paid, t.inquiries) for name, t in agents if name != UNASSIGNED and t.inquiries]
    average = sum(rates, Fraction(0)) / len(rates) if rates else None
    rate = commission_rate(average, kpi)
    cents = team.sales_cents * Fraction(str(margin)) * Fraction(str(rate)) if rate is not None else Fraction(0)
    return SupervisorCommission(margin, _money(team.sales_cents), len(rates), _rate(average), rate, _money(cents))


def metrics(tally: Tally, kpi: KpiConfig, *, agent: str | None = None) -> dict[str, Any]:
    """Every KPI of one agent (or the team) from its additive figures."""
    t = tally
    conversion = _ratio(t.paid, t.inquiries)
    out: dict[str, Any] = {
        "consulted": t.consulted,
        "served": t.served,
        "reply_rate": _rate(_ratio(t.served, t.consulted)),
        "inquiries": t.inquiries,
        "ordered": t.ordered,
        "paid": t.paid,
        "order_rate": _rate(_ratio(t.ordered, t.inquiries)),
        "pay_rate": _rate(_ratio(t.paid, t.ordered)),
        "conversion": _rate(conversion),
        "sales": _money(t.sales_cents),
        "refunds": _money(t.refund_cents),
        "aov": _money(Fraction(t.sales_cents, t.paid)) if t.paid else None,
        "first_response_avg_s": _rate(_ratio(t.first_response_ms, t.first_responses * 1000), 2),
        "first_responses": t.first_responses,
        "response_avg_s": _rate(_ratio(t.response_ms, t.responses * 1000), 2),
        "responses": t.responses,
        "slow_responses": t.slow_responses,
        "after_hours": t.after_hours,
        "customer_messages": t.customer_messages,
        "agent_messages": t.agent_messages,
        "ask_answer_ratio": _rate(_ratio(t.agent_messages, t.customer_messages), 3),
        "short_replies": t.short_replies,
        "followups_sent": t.followups_sent,
        "followups_recovered": t.followups_recovered,
        "suggestions_shown": t.suggestions_shown,
        "suggestions_used": t.suggestions_used,
        "adoption_rate": _rate(_ratio(t.suggestions_used, t.suggestions_shown)),
        "qa_flags": t.qa_flags,
    }
    rate = None if agent == UNASSIGNED else commission_rate(conversion, kpi)
    out["commission_rate"] = rate
    out["commission"] = _money(t.sales_cents * Fraction(str(rate))) if rate is not None else 0.0
    out["upsells"] = t.upsells
    out["upsell_bonus"] = upsell_bonus(t.upsells, kpi)
    out["record_bonus"] = None  # a whole month's alone: the report's record fills it (shop_report)
    out["score"] = None if agent == UNASSIGNED else score(out, tally, kpi)
    out["grade"] = grade(out["score"], kpi)
    return out


def _component(key: str, m: Mapping[str, Any], tally: Tally, targets: KpiTargets) -> float | None:
    """One metric's score, 0–100, against its target."""
    kind = _SCORED[key]
    if kind == "share":
        den = tally.agent_messages if key in ("short_replies", "qa_flags") else tally.bursts
        return None if not den else 100 * (1 - getattr(tally, key) / den)
    value = m.get(key)
    target = _target(key, targets)
    if value is None or not target:
        return None
    if kind == "higher":
        return 100 * min(1.0, value / target)
    return 100.0 if value <= target else 100 * target / value


def _target(key: str, targets: KpiTargets) -> float | None:
    if key == "order_rate":
        return targets.conversion / targets.pay_rate if targets.pay_rate else None
    name = {"first_response_avg_s": "first_response_s"}.get(key, key)
    value = getattr(targets, name, None)
    return float(value) if value is not None else None


def score(m: Mapping[str, Any], tally: Tally, kpi: KpiConfig) -> float | None:
    """The weighted score, 0–100: each metric scored against its target, weights renormalized over
    the metrics that have a value; None when those carry less than `SCORED_WEIGHT_MIN` of the weight (an
    agent whose only message of the day was a short reply scored 0.0, E, on that alone)."""
    weights = kpi.score_weights or DEFAULT_SCORE_WEIGHTS
    total = weighted = 0.0
    for key, weight in weights.items():
        part = _component(key, m, tally, kpi.targets)
        if part is not None and weight > 0:
            total += weight
            weighted += weight * part
    every = sum(w for w in weights.values() if w > 0)
    if not total or total < SCORED_WEIGHT_MIN * every:
        return None
    return round(weighted / total, 1)


SCORED_WEIGHT_MIN = 0.5  # the share of the weights a score must rest on


def grade(value: float | None, kpi: KpiConfig) -> str | None:
    """The grade whose floor the score reaches, the highest floor first."""
    if value is None:
        return None
    for name, floor in sorted((kpi.grades or DEFAULT_GRADES).items(), key=lambda g: -g[1]):
        if value >= floor:
            return name
    return None


def judge(key: str, value: Any, targets: KpiTargets) -> str | None:
    """'good', 'warn' (within 20 % of the target) or 'bad' for a metric with a target; else None."""
    kind = _SCORED.get(key)
    target = _target(key, targets) if kind in ("higher", "lower") else None
    if value is None or target is None:
        return None
    if kind == "higher":
        return "good" if value >= target else "warn" if value >= target * (1 - _WARN_BAND) else "bad"
    return "good" if value <= target else "warn" if value <= target * (1 + _WARN_BAND) else "bad"


def check_kpi_config(kpi: KpiConfig) -> None:
    """Reject score weights, grades and commission tiers the report could not use, naming the key."""
    for key, weight in kpi.score_weights.items():
        if key not in _SCORED:
            known = ", ".join(sorted(_SCORED))
            raise ConfigError(
                _("%(key)s: not a scorable metric (one of %(known)s)", key=f"[kpi.score_weights] {key}", known=known)
            )
        if weight < 0:
            raise ConfigError(
                _("%(key)s: weight must be ≥ 0, got %(value)s", key=f"[kpi.score_weights] {key}", value=weight)
            )
    for name, floor in kpi.grades.items():
        if not 0 <= floor <= 100:
            raise ConfigError(
                _("%(key)s: floor must be within 0–100, got %(value)s", key=f"[kpi.grades] {name}", value=floor)
            )
    for shop, margin in kpi.profit_margins.items():
        if not 0 <= margin <= 1:  # NaN too
            raise ConfigError(
                _(
                    "%(key)s: must be between %(min)s and %(max)s, got %(value)s",
                    key=f"[kpi.profit_margins] {shop}",
                    min=0,
                    max=1,
                    value=margin,
                )  # fmt: skip
            )
    for i, step in enumerate(kpi.upsell):
        if step.min_count < 0 or not 0 <= step.bonus <= 10_000:  # as LIMITS: a config built in code too
            raise ConfigError(_("%(key)s: min_count ≥ 0 and a bonus within 0–10000 yuan", key=f"[kpi.upsell][{i}]"))
    if not 0 < kpi.upsell_window_hours <= 24 * 31:
        raise ConfigError(
            _(
                "%(key)s: must be above %(min)s and at most %(max)s, got %(value)s",
                key="[kpi] upsell_window_hours",
                min=0,
                max=24 * 31,
                value=kpi.upsell_window_hours,
            )
        )
    if not 0 <= kpi.record_bonus <= 100_000 or not 1 <= kpi.record_months <= 24 or kpi.record_min_inquiries < 1:
        raise ConfigError(
            _(
                "%(key)s: record_bonus within 0–100000 yuan, record_months within 1–24, record_min_inquiries at least 1",
                key="[kpi]",
            )  # fmt: skip
        )
    for i, tier in enumerate(kpi.commission):
        if not 0 <= tier.min_conversion <= 1 or not 0 <= tier.rate <= 1:
            raise ConfigError(
                _("%(key)s: min_conversion and rate are fractions within 0–1", key=f"[kpi.commission][{i}]")
            )
    if kpi.slow_response_s <= 0 or kpi.recovery_window_s <= 0:
        raise ConfigError(_("[kpi] slow_response_s and recovery_window_s must be positive"))
    if not 0 < kpi.payment_window_hours <= MAX_PAYMENT_WINDOW_HOURS:
        raise ConfigError(
            _(
                "%(key)s: must be above 0 and at most %(most)s hours, got %(value)s",
                key="[kpi] payment_window_hours",
                most=MAX_PAYMENT_WINDOW_HOURS,
                value=kpi.payment_window_hours,
            )
        )


MAX_PAYMENT_WINDOW_HOURS = 2400  # 100 days: past any 预售's balance; a day's figures would wait that long


def period_text(first: date, last: date) -> str:
    """A report's period: the day, or the range as an ISO 8601 interval (FIRST/LAST)."""
    return first.isoformat() if first == last else f"{first}/{last}"


@dataclass(frozen=True)
class AgentRow:
    """One agent's (or the team's) line of the report."""

    agent: str
    tally: Tally
    metrics: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"agent": self.agent, **self.metrics}


@dataclass
class ShopReport:
    """One shop's report for a day or a range of days."""

    shop: str
    first: date
    last: date
    timezone: str
    pending: bool
    agents: list[AgentRow]
    team: AgentRow
    figures: DayFigures = field(default_factory=DayFigures)
    # The payment window the figures used: a changed `[kpi] payment_window_hours` recomputes every day, final ones too.
    payment_window_hours: float = 72.0
    # The refunds stamped on the period's days after their order's window: in no figure, said beside them (late.py).
    late_refunds: list[LateRefund] = field(default_factory=list)
    supervisor: SupervisorCommission | None = None  # the 客服主管's commission, where the shop has a margin
    record: ConversionRecord | None = None  # 询单转化率历史最高奖, where the shop pays one (kpi/record.py)

    @property
    def late_refunds_counted(self) -> float:
        """What the late refunds take back in all (each no more than its order was paid and not refunded)."""
        return _money(sum(r.counted_cents for r in self.late_refunds))

    @property
    def late_refunds_by_agent(self) -> dict[str, tuple[int, float]]:
        """Each agent credited with late refunds' orders: how many, and what they take back (the team's, shared)."""
        found: dict[str, list[int]] = {}
        for r in self.late_refunds:
            found.setdefault(r.credited, []).append(r.counted_cents)
        return {agent: (len(cents), _money(sum(cents))) for agent, cents in found.items()}

    def late_refunds_of(self, row: AgentRow) -> float:
        """What the late refunds credited to an agent's row take back (the team row: all of them)."""
        if row is self.team:
            return self.late_refunds_counted
        return self.late_refunds_by_agent.get(row.agent, (0, 0.0))[1]

    @property
    def window_hours(self) -> int | float:
        """The payment window as written: 72, not 72.0."""
        hours = self.payment_window_hours
        return int(hours) if hours == int(hours) else hours

    @property
    def period(self) -> str:
        """The day, or the range as an ISO 8601 interval."""
        return period_text(self.first, self.last)

    def to_json(self) -> dict[str, Any]:
        return {
            "shop": self.shop,
            "date": self.period,
            "timezone": self.timezone,
            "pending": self.pending,
            "payment_window_hours": self.window_hours,
            "agents": [row.to_json() for row in self.agents],
            "team": dict(self.team.metrics),
            "late_refunds": {
                "count": len(self.late_refunds),
                "counted": self.late_refunds_counted,
                "by_agent": {
                    a: {"count": n, "counted": counted} for a, (n, counted) in self.late_refunds_by_agent.items()
                },
                "refunds": [r.to_json() for r in self.late_refunds],
            },
            "supervisor_commission": self.supervisor.to_json() if self.supervisor is not None else None,
            "conversion_record": self.record.to_json() if self.record is not None else None,
            "qa": {
                "by_agent": self.figures.qa,
                "flagged": [
                    {
                        "agent": f.agent,
                        "sender": f.sender,
                        "conversation": f.conversation,
                        "customer": f.customer,
                        "ts_ms": f.ts_ms,
                        "text": mask(f.text),
                        "flags": mask_flags(f.flags, f.text),
                    }
                    for f in self.figures.qa_flagged
                ],
            },
        }


def _rank_key(row: AgentRow) -> tuple[bool, float, float, str]:
    m = row.metrics
    return (row.agent == UNASSIGNED, -(m["score"] if m["score"] is not None else -1.0), -m["sales"], row.agent)


def shop_report(
    figures: DayFigures,
    config: Config,
    shop: str,
    first: date,
    last: date,
    *,
    now_ms: int,
    record: ConversionRecord | None = None,
) -> ShopReport:
    """Turn a shop's figures into ranked agent rows and the team row (with `record`, each agent's bonus of it)."""
    kpi = config.kpi
    agents = [AgentRow(name, t, metrics(t, kpi, agent=name)) for name, t in figures.tallies.items()]
    if record is not None:
        for row in agents:
            row.metrics["record_bonus"] = record.bonus_of(row.agent)
    agents.sort(key=_rank_key)
    team_tally = sum((row.tally for row in agents), Tally())
    team = metrics(team_tally, kpi)
    # Commission is pay per agent: the team's is their sum, its rate the effective one.
    team["commission"] = _money(sum((Fraction(str(r.metrics["commission"])) * 100 for r in agents), Fraction(0)))
    team["commission_rate"] = _rate(_ratio(round(team["commission"] * 100), team_tally.sales_cents))
    team["upsell_bonus"] = _money(sum((Fraction(str(r.metrics["upsell_bonus"])) * 100 for r in agents), Fraction(0)))
    if record is not None and record.computed:
        team["record_bonus"] = _money(Fraction(str(record.bonus)) * 100 * len(record.winners))
    return ShopReport(
        shop=shop,
        first=first,
        last=last,
        timezone=config.shop.timezone,
        pending=now_ms < final_ms(last, config),
        agents=agents,
        team=AgentRow("(team)", team_tally, team),
        figures=figures,
        payment_window_hours=kpi.payment_window_hours,
        record=record,
        supervisor=supervisor_commission(
            [(row.agent, row.tally) for row in agents], team_tally, kpi.margin_of(shop), kpi
        ),
    )


def build_reports(
    connect: Callable[[], sqlite3.Connection],
    config: Config,
    first: date,
    last: date | None = None,
    *,
    shop: str | None = None,
    now_ms: int | None = None,
    list_limit: int = 200,
    parallel: bool = False,
) -> list[ShopReport]:
    """The report of each shop active in [first, last] (or of `shop` alone), days summed, each order once."""
    last = last or first
    if last < first:
        raise ValueError(f"the range ends ({last}) before it starts ({first})")
    check_kpi_config(config.kpi)
    now = int(time.time() * 1000) if now_ms is None else now_ms
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    windows = [day_window(day, config.tz) for day in days]
    conn = connect()
    try:
        analyze_stale(conn)  # PostgreSQL's plans follow the statistics: a bulk load's lag (kpi/fresh.py)
        shops = [shop] if shop is not None else active_shops(conn, windows[0].start_ms, windows[-1].end_ms)
    finally:
        conn.close()
    reports = []
    slow_ms, recovery_ms = round(config.kpi.slow_response_s * 1000), round(config.kpi.recovery_window_s * 1000)
    for name in shops:
        total = period_figures(connect, config, name, first, last, now_ms=now, list_limit=list_limit, parallel=parallel)
        conn = connect()
        try:
            late = late_refunds(
                conn, name, windows[0].start_ms, windows[-1].end_ms, window_ms=window_ms(config.kpi), now_ms=now
            )
        finally:
            conn.close()
        late = credit(
            late,
            connect,
            name,
            config.tz,
            lambda day: day_window(day, config.tz),
            slow_ms=slow_ms,
            recovery_ms=recovery_ms,
            now_ms=now,
        )
        conn = connect()
        try:  # 追销: orders placed in the period, each once
            found = upsells(conn, name, windows[0].start_ms, windows[-1].end_ms, kpi=config.kpi, now_ms=now)
        finally:
            conn.close()
        for agent, count in found.items():
            total.tally(agent).add(upsells=count)
        # An agent credited with a late refund's order has a row, of zeros if they have no figure in the period.
        for agent in dict.fromkeys(r.credited for r in late):
            total.tallies.setdefault(agent, Tally())
        record = find_record(  # each month before read as its own report reads it, its lists left out
            config.kpi,
            first,
            last,
            total.tallies,
            _tallies_of(connect, config, name, now, parallel),
        )
        shown = shop_report(total, config, name, first, last, now_ms=now, record=record)
        shown.late_refunds = late
        reports.append(shown)
    return reports


def _tallies_of(
    connect: Callable[[], sqlite3.Connection], config: Config, shop: str, now_ms: int, parallel: bool
) -> Callable[[date, date], Mapping[str, Tally]]:
    """How the record reads a month before: as its own report reads it, its lists left out."""

    def read(first: date, last: date) -> Mapping[str, Tally]:
        return period_figures(
            connect, config, shop, first, last, now_ms=now_ms, list_limit=0, parallel=parallel
        ).tallies

    return read
