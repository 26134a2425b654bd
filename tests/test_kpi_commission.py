"""Commission tiers (seed 002), the weighted score and grades (seed 003), colours against targets."""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from pathlib import Path

import pytest

from assistant.config import CommissionTier, ConfigError, KpiConfig, KpiTargets, load_config
from assistant.kpi import metrics
from tests.kpi_log import Log

KPI = KpiConfig()


@pytest.mark.parametrize(
    ("conversion", "rate"),
    [
        (Fraction(0), 0.015),
        (Fraction(2999, 10000), 0.015),
        (Fraction(3, 10), 0.03),  # from 30 %
        (Fraction(3049, 10000), 0.03),
        (Fraction(61, 200), 0.035),  # from 30.5 %
        (Fraction(3499, 10000), 0.035),
        (Fraction(7, 20), 0.04),  # from 35 %
        (Fraction(2, 5), 0.06),  # from 40 %
        (Fraction(1), 0.06),
    ],
)
def test_kpi_commission_rate_at_the_tier_boundaries(conversion: Fraction, rate: float) -> None:
    assert metrics.commission_rate(conversion, KPI) == rate


def test_kpi_commission_rate_compares_decimals_exactly() -> None:
    # 0.1 + 0.2 style float noise must not drop a customer below a tier floor.
    assert metrics.commission_rate(0.30, KPI) == 0.03
    assert metrics.commission_rate(0.305, KPI) == 0.035
    assert metrics.commission_rate(None, KPI) is None


def test_kpi_commission_tiers_come_from_config() -> None:
    custom = KpiConfig(commission=[CommissionTier(0.5, 0.1), CommissionTier(0.0, 0.0)])
    assert metrics.commission_rate(Fraction(1, 2), custom) == 0.1
    assert metrics.commission_rate(Fraction(49, 100), custom) == 0.0


@pytest.mark.parametrize(
    ("paid", "inquiries", "rate", "commission"),
    [(3, 10, 0.03, 30.0), (61, 200, 0.035, 35.0), (7, 20, 0.04, 40.0), (4, 10, 0.06, 60.0), (29, 100, 0.015, 15.0)],
)
def test_kpi_commission_is_sales_times_the_tier_rate(paid: int, inquiries: int, rate: float, commission: float) -> None:
    tally = metrics.Tally(inquiries=inquiries, ordered=paid, paid=paid, sales_cents=100_000)
    m = metrics.metrics(tally, KPI, agent="A")
    assert (m["commission_rate"], m["commission"], m["sales"]) == (rate, commission, 1000.0)


def test_kpi_commission_rounds_half_up_to_the_fen() -> None:
    tally = metrics.Tally(inquiries=10, ordered=1, paid=1, sales_cents=50)  # ¥0.50 × 1.5 % = ¥0.0075
    assert metrics.metrics(tally, KPI, agent="A")["commission"] == 0.01


def test_kpi_commission_on_a_logged_day(tmp_path: Path) -> None:
    log = Log(tmp_path / "c.db")
    for i in range(10):  # 10 inquiries, 3 paid: 30 % → 3 %
        log.customer(f"10:{i:02d}", customer=f"u{i}", conversation=f"c{i}")
        log.agent(f"10:{i:02d}:10", "A", customer=f"u{i}", conversation=f"c{i}")
        if i < 3:
            log.order(f"10:{i:02d}:30", f"o{i}", 100, agent="A", customer=f"u{i}", conversation=f"c{i}")
            log.paid(f"10:{i:02d}:40", f"o{i}", 100, customer=f"u{i}", conversation=f"c{i}")
    r = log.report()
    m = r.agents[0].metrics
    assert (m["conversion"], m["sales"], m["commission_rate"], m["commission"]) == (0.3, 300.0, 0.03, 9.0)
    assert (r.team.metrics["commission"], r.team.metrics["commission_rate"]) == (9.0, 0.03)
    log.close()


def test_kpi_score_is_100_when_every_target_is_met() -> None:
    tally = metrics.Tally(
        consulted=10,
        served=10,
        inquiries=10,
        ordered=5,
        paid=5,
        sales_cents=1000,
        first_responses=10,
        first_response_ms=50_000,
        bursts=20,
        responses=20,
        response_ms=200_000,
        customer_messages=20,
        agent_messages=30,
    )
    m = metrics.metrics(tally, KPI, agent="A")
    assert (m["score"], m["grade"]) == (100.0, "A")


def test_kpi_score_weighs_each_metric_against_its_target() -> None:
    weights = {"conversion": 1.0, "response_avg_s": 1.0}
    config = KpiConfig(score_weights=weights)
    # conversion 20 % against 40 % scores 50; 60 s against 30 s scores 50; 30 s scores 100.
    slow = metrics.Tally(inquiries=10, ordered=2, paid=2, responses=1, response_ms=60_000, bursts=1)
    fast = dataclasses.replace(slow, response_ms=30_000)
    assert metrics.metrics(slow, config, agent="A")["score"] == 50.0
    assert metrics.metrics(fast, config, agent="A")["score"] == 75.0


def test_kpi_score_leaves_out_metrics_without_a_value() -> None:
    config = KpiConfig(score_weights={"conversion": 1.0, "reply_rate": 1.0})
    tally = metrics.Tally(consulted=4, served=3)  # no inquiries: conversion has no value
    assert metrics.metrics(tally, config, agent="A")["score"] == 76.5  # reply rate alone: 75 % of the 98 % target
    assert metrics.metrics(metrics.Tally(), config, agent="A")["score"] is None


def test_kpi_score_needs_half_the_weight_behind_it() -> None:
    # An agent whose only message of the day was a short reply scored 0.0 (E) on the 5 % weight it carries.
    only_short = metrics.Tally(agent_messages=1, short_replies=1)
    scored = metrics.metrics(only_short, KpiConfig(), agent="A")
    assert (scored["score"], scored["grade"]) == (None, None)
    config = KpiConfig(score_weights={"conversion": 3.0, "reply_rate": 1.0})
    assert metrics.metrics(metrics.Tally(consulted=4, served=3), config, agent="A")["score"] is None  # 25 %


def test_kpi_share_metrics_score_what_is_avoided() -> None:
    config = KpiConfig(score_weights={"short_replies": 1.0, "slow_responses": 1.0})
    tally = metrics.Tally(agent_messages=10, short_replies=2, bursts=4, slow_responses=1)
    assert metrics.metrics(tally, config, agent="A")["score"] == 77.5  # (80 + 75) / 2


@pytest.mark.parametrize(
    ("score", "grade"), [(100.0, "A"), (90.0, "A"), (89.9, "B"), (60.0, "D"), (59.9, "E"), (0.0, "E")]
)
def test_kpi_default_grades(score: float, grade: str) -> None:
    assert metrics.grade(score, KPI) == grade


def test_kpi_grades_come_from_config() -> None:
    config = KpiConfig(grades={"优秀": 85, "合格": 60})
    assert (
        metrics.grade(85, config),
        metrics.grade(70, config),
        metrics.grade(59, config),
        metrics.grade(None, config),
    ) == ("优秀", "合格", None, None)


def test_kpi_config_rejects_an_unknown_score_metric(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[kpi.score_weights]\nconversion = 50\nhappiness = 50\n", encoding="utf-8")
    config = load_config(path, env={})
    with pytest.raises(ConfigError, match=r"\[kpi.score_weights\] happiness"):
        metrics.check_kpi_config(config.kpi)


@pytest.mark.parametrize(
    "bad",
    [
        KpiConfig(score_weights={"conversion": -1.0}),
        KpiConfig(grades={"A": 120}),
        KpiConfig(commission=[CommissionTier(30, 0.03)]),
        KpiConfig(slow_response_s=0),
    ],
)
def test_kpi_config_rejects_values_the_report_cannot_use(bad: KpiConfig) -> None:
    with pytest.raises(ConfigError):
        metrics.check_kpi_config(bad)


@pytest.mark.parametrize("hours", [0, -1, 2401])
def test_kpi_config_refuses_a_payment_window_out_of_range(hours: float) -> None:
    with pytest.raises(ConfigError, match="payment_window_hours"):
        metrics.check_kpi_config(KpiConfig(payment_window_hours=hours))


@pytest.mark.parametrize(
    ("key", "value", "verdict"),
    [
        ("conversion", 0.40, "good"),
        ("conversion", 0.33, "warn"),
        ("conversion", 0.2, "bad"),
        ("first_response_avg_s", 10.0, "good"),
        ("first_response_avg_s", 12.0, "warn"),
        ("first_response_avg_s", 13.0, "bad"),
        ("reply_rate", 0.99, "good"),
        ("ask_answer_ratio", 1.0, "warn"),
        ("pay_rate", None, None),
        ("sales", 10.0, None),
    ],
)
def test_kpi_judge_colours_against_targets(key: str, value: float | None, verdict: str | None) -> None:
    assert metrics.judge(key, value, KpiTargets()) == verdict


def _two_agents(log: Log) -> None:
    """Agent A: 10 inquiries, 3 paid (30 %, ¥300); agent B: 4 inquiries, 2 paid (50 %, ¥500)."""
    for agent, asked, paid, amount in (("A", 10, 3, 100), ("B", 4, 2, 250)):
        for i in range(asked):
            who = dict(customer=f"{agent}{i}", conversation=f"c{agent}{i}")
            log.customer(f"10:{i:02d}", **who)
            log.agent(f"10:{i:02d}:10", agent, **who)
            if i < paid:
                log.order(f"10:{i:02d}:30", f"o{agent}{i}", amount, agent=agent, **who)
                log.paid(f"10:{i:02d}:40", f"o{agent}{i}", amount, **who)


def test_kpi_supervisor_commission_is_team_sales_times_margin_times_the_tier_of_the_agents_average(
    tmp_path: Path,
) -> None:
    # Seed 002: 客服主管的提成 = (询单成交额 × 利润率) × 客服询单转化率的平均值所对应的提点. The average of 30 % and
    # 50 % is 40 % (the 6 % tier), where the team's pooled conversion, 5 / 14 = 35.7 %, would reach only 4 %.
    config = dataclasses.replace(
        load_config(None, env={}), kpi=dataclasses.replace(KPI, profit_margin=0.25, profit_margins={"other": 0.5})
    )
    log = Log(tmp_path / "s.db", config)
    _two_agents(log)
    r = log.report()
    assert r.team.metrics["conversion"] == 0.3571 and r.team.metrics["sales"] == 800.0
    assert r.supervisor is not None
    assert r.supervisor.to_json() == {
        "profit_margin": 0.25,
        "sales": 800.0,
        "agents": 2,
        "average_conversion": 0.4,
        "commission_rate": 0.06,
        "commission": 12.0,  # 800 × 25 % × 6 %
    }
    assert r.to_json()["supervisor_commission"]["commission"] == 12.0
    log.close()


def test_kpi_supervisor_commission_is_not_computed_without_a_margin_and_a_shop_may_have_its_own(
    tmp_path: Path,
) -> None:
    log = Log(tmp_path / "n.db")
    _two_agents(log)
    r = log.report()
    assert r.supervisor is None and r.to_json()["supervisor_commission"] is None
    own = dataclasses.replace(log.config, kpi=dataclasses.replace(KPI, profit_margins={r.shop: 0.5}))
    mine = log.report(config=own).supervisor
    assert mine is not None and (mine.margin, mine.commission) == (0.5, 24.0)  # 800 × 50 % × 6 %
    log.close()


def test_kpi_supervisor_commission_of_a_team_without_inquiries_is_zero_and_says_why(tmp_path: Path) -> None:
    tally = metrics.Tally(sales_cents=10_000)
    found = metrics.supervisor_commission([("A", metrics.Tally()), (metrics.UNASSIGNED, tally)], tally, 0.3, KPI)
    assert found is not None and (found.agents, found.average_conversion, found.rate, found.commission) == (
        0,
        None,
        None,
        0.0,
    )


@pytest.mark.parametrize("margin", [-0.1, 1.5, float("nan")])
def test_kpi_config_refuses_a_profit_margin_that_is_no_fraction(tmp_path: Path, margin: float) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f"[kpi]\nprofit_margin = {margin}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[kpi\] profit_margin"):
        load_config(path, env={})
    path.write_text(f'[kpi.profit_margins]\n"shop1" = {margin}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[kpi.profit_margins\] shop1"):
        metrics.check_kpi_config(load_config(path, env={}).kpi)
