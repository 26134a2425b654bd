"""What seed 002 pays beside the 提成: 追销 (upsells) and its tiers, and the 询单转化率历史最高奖 (docs/kpi.md)."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from assistant.config import Config, ConfigError, KpiConfig, KpiTargets, UpsellTier, load_config
from assistant.kpi import metrics, report
from assistant.kpi.figures import Tally
from assistant.kpi.record import find_record
from assistant.kpi.upsell import upsell_bonus
from tests.helpers import BACKENDS
from tests.kpi_log import Log


def _bought_again(log: Log) -> None:
    """Buyers who order twice: after the agent wrote (an upsell) or not, in the window or not, paid or not."""
    # u1: orders o1, 小美 writes, o2 and later o3, both paid: two upsells of 小美 (each after u1's first order and a
    # message of hers since).
    log.customer("10:00", customer="u1", conversation="c1")
    log.agent("10:00:10", "小美", customer="u1", conversation="c1")
    log.order("10:05", "o1", 100, agent="小美", customer="u1", conversation="c1")
    log.paid("10:06", "o1", 100, customer="u1", conversation="c1")
    log.agent("10:20", "小美", "亲，这款腰带和裙子很配哦", customer="u1", conversation="c1")
    log.order("10:30", "o2", 30, customer="u1", conversation="c1")
    log.paid("10:31", "o2", 30, customer="u1", conversation="c1")
    log.order("11:00", "o3", 20, customer="u1", conversation="c9")  # a new conversation of the same buyer
    log.paid("11:01", "o3", 20, customer="u1", conversation="c9")
    # u2: orders twice with no agent message in between: bought again alone, no one's upsell.
    log.customer("12:00", customer="u2", conversation="c2")
    log.agent("12:00:10", "阿杰", customer="u2", conversation="c2")
    log.order("12:05", "o4", 50, customer="u2", conversation="c2")
    log.paid("12:06", "o4", 50, customer="u2", conversation="c2")
    log.order("12:30", "o5", 50, customer="u2", conversation="c2")
    log.paid("12:31", "o5", 50, customer="u2", conversation="c2")
    # u3: 阿杰 writes after the order, the second order is never paid, a third is refunded in full: none counts.
    log.order("13:00", "o6", 80, customer="u3", conversation="c3")
    log.paid("13:01", "o6", 80, customer="u3", conversation="c3")
    log.agent("13:10", "阿杰", "亲，加购这款有优惠哦", customer="u3", conversation="c3")
    log.order("13:20", "o7", 40, customer="u3", conversation="c3")
    log.order("13:30", "o8", 40, customer="u3", conversation="c3")
    log.paid("13:31", "o8", 40, customer="u3", conversation="c3")
    log.event("order_refunded", "14:00", order="o8", amount=40, customer="u3", conversation="c3")
    # u4: the earlier order is two days old (past the 24-hour window): 阿杰's sale is no upsell.
    log.order("D-2 10:00", "o9", 60, customer="u4", conversation="c4")
    log.paid("D-2 10:01", "o9", 60, customer="u4", conversation="c4")
    log.agent("15:00", "阿杰", customer="u4", conversation="c4")
    log.order("15:10", "o10", 60, customer="u4", conversation="c4")
    log.paid("15:11", "o10", 60, customer="u4", conversation="c4")
    # u5: ordered the evening before, 阿杰 writes this morning, the buyer adds an order: 阿杰's upsell of D.
    log.order("D-1 20:00", "o11", 90, customer="u5", conversation="c5")
    log.paid("D-1 20:01", "o11", 90, customer="u5", conversation="c5")
    log.agent("08:00", "阿杰", "亲，同款配件今天有活动", customer="u5", conversation="c5")
    log.order("08:30", "o12", 15, customer="u5", conversation="c5")
    log.paid("08:31", "o12", 15, customer="u5", conversation="c5")


@BACKENDS
def test_kpi_upsells_are_orders_the_agent_brought_after_the_buyers_earlier_order(log: Log) -> None:
    # Found: seed 002 pays 追销 (卖家下单后我们再让他们买点别的) per success, and no report counted them.
    _bought_again(log)
    r = log.report()
    counts = {row.agent: row.metrics["upsells"] for row in r.agents}
    assert counts == {"小美": 2, "阿杰": 1}
    # The seed's tiers: below 10 in the period, 0.5 元 each.
    bonus = {row.agent: row.metrics["upsell_bonus"] for row in r.agents}
    assert bonus == {"小美": 1.0, "阿杰": 0.5}
    assert (r.team.metrics["upsells"], r.team.metrics["upsell_bonus"]) == (3, 1.5)


@BACKENDS
def test_kpi_upsell_bonus_follows_the_shops_tiers(log: Log) -> None:
    # From 2 upsells, 1.2 元 each (every one of them, as the seed's 10个以上每个给1元); below, 0.5 元 each.
    tiers = [UpsellTier(0, 0.5), UpsellTier(2, 1.2)]
    config = dataclasses.replace(log.config, kpi=dataclasses.replace(log.config.kpi, upsell=tiers))
    _bought_again(log)
    r = log.report(config=config)
    assert {row.agent: row.metrics["upsell_bonus"] for row in r.agents} == {"小美": 2.4, "阿杰": 0.5}
    assert r.team.metrics["upsell_bonus"] == 2.9


@BACKENDS
def test_kpi_upsells_are_in_every_export(log: Log) -> None:
    _bought_again(log)
    reports = log.reports()
    rows = {row["agent"]: row for row in csv.DictReader(io.StringIO(report.render_csv(reports)))}
    assert (rows["小美"]["upsells"], rows["小美"]["upsell_bonus"], rows["(team)"]["upsells"]) == ("2", "1.0", "3")
    doc = json.loads(report.render_json(reports))
    assert {a["agent"]: (a["upsells"], a["upsell_bonus"]) for a in doc["agents"]} == {
        "阿杰": (1, 0.5),
        "小美": (2, 1.0),
    }
    lines = report.render_table(reports, "zh_CN").splitlines()
    heading = lines[1].split()
    assert heading.index("追销奖（元）") == heading.index("追销") + 1
    out = io.BytesIO()
    report.render_xlsx(reports, out)
    sheet = load_workbook(io.BytesIO(out.getvalue())).worksheets[0]
    found = {r[4]: dict(zip([c.value for c in sheet[1]], r)) for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert (found["小美"]["追销"], found["小美"]["追销奖（元）"]) == (2, 1.0)
    page = report.render_html(reports, targets=KpiTargets(), language="zh_CN")
    assert "<th>追销</th><th>追销奖</th>" in page and 'class="upsell-bonus">¥1.00</td>' in page


def test_kpi_upsell_bonus_at_the_seeds_tiers() -> None:
    kpi = KpiConfig()
    assert [upsell_bonus(n, kpi) for n in (0, 1, 9, 10, 49, 50, 100)] == [0.0, 0.5, 4.5, 10.0, 49.0, 100.0, 300.0]


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[[kpi.upsell]]\nmin_count = -1\nbonus = 1.0\n", r"\[kpi.upsell\[0\]\] min_count"),
        ("[[kpi.upsell]]\nmin_count = 10\nbonus = -0.5\n", r"\[kpi.upsell\[0\]\] bonus"),
        ("[[kpi.upsell]]\nmin_count = 1.5\nbonus = 1.0\n", r"kpi.upsell\[0\].min_count"),
        ("[kpi]\nupsell_window_hours = 0\n", r"\[kpi\] upsell_window_hours"),
    ],
)
def test_kpi_config_refuses_upsell_tiers_it_cannot_pay(tmp_path: Path, toml: str, key: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError, match=key):
        load_config(path, env={})
    with pytest.raises(ConfigError, match=r"kpi.upsell"):
        metrics.check_kpi_config(KpiConfig(upsell=[UpsellTier(-1, 1.0)]))


NOV, NOV_END = date(2026, 11, 1), date(2026, 11, 30)


def _record_config(log: Log, **kpi: Any) -> Config:
    """¥200 for beating the record of the month before, months counting from 2 inquiries (small hand-built months)."""
    values = {"record_bonus": 200.0, "record_months": 1, "record_min_inquiries": 2, **kpi}
    return dataclasses.replace(log.config, kpi=dataclasses.replace(log.config.kpi, **values))


def _inquiries(log: Log, day: str, agent: str, asked: int, paid: int) -> None:
    """`asked` inquiries of `agent` on the day `day` ('D-31' …), the first `paid` of them ordered and paid."""
    for i in range(asked):
        who = dict(customer=f"{agent}{day}{i}", conversation=f"c{agent}{day}{i}")
        log.customer(f"{day} 10:{i:02d}", **who)
        log.agent(f"{day} 10:{i:02d}:10", agent, **who)
        if i < paid:
            log.order(f"{day} 10:{i:02d}:30", f"o{agent}{day}{i}", 100, agent=agent, **who)
            log.paid(f"{day} 10:{i:02d}:40", f"o{agent}{day}{i}", 100, **who)


def _three_months(log: Log) -> None:
    # September: 小美 3 of 4 (75 %). October: 小美 2 of 4 (50 %), 阿杰 0 of 2, 新人 1 of 1 (100 %, below the 2
    # inquiries a month needs). November: 阿杰 2 of 3 (66.7 %), 小美 1 of 2 (50 %), 新人 1 of 1.
    _inquiries(log, "D-61", "小美", 4, 3)
    _inquiries(log, "D-31", "小美", 4, 2)
    _inquiries(log, "D-30", "阿杰", 2, 0)
    _inquiries(log, "D-30", "新人", 1, 1)
    _inquiries(log, "D", "阿杰", 3, 2)
    _inquiries(log, "D-1", "小美", 2, 1)
    _inquiries(log, "D-2", "新人", 1, 1)


@BACKENDS
def test_kpi_record_bonus_goes_to_the_agents_whose_month_beats_the_highest_month_before(log: Log) -> None:
    # Found: seed 002's 询单转化率历史最高奖 (这个月有客服的询单转化率超过了上月最高) was computed nowhere. October's
    # highest monthly conversion with 2 inquiries or more is 小美's 50 %; in November 阿杰's 66.7 % beats it, 小美's
    # 50 % only equals it, 新人's 100 % rests on one inquiry.
    _three_months(log)
    config = _record_config(log)
    (r,) = log.reports(NOV, NOV_END, config=config)
    assert {row.agent: row.metrics["record_bonus"] for row in r.agents} == {"阿杰": 200.0, "小美": 0.0, "新人": 0.0}
    assert r.team.metrics["record_bonus"] == 200.0
    doc = json.loads(report.render_json([r]))
    assert doc["conversion_record"] == {
        "bonus": 200.0,
        "computed": True,
        "reason": None,
        "months": 1,
        "min_inquiries": 2,
        "record": 0.5,
        "record_agent": "小美",
        "record_month": "2026-10",
        "winners": [{"agent": "阿杰", "conversion": 0.6667}],
    }
    said = "询单转化率历史最高奖每人 ¥200.00：阿杰（66.7%）超过了前 1 个月的最高月询单转化率 50.0%（小美，2026-10）。"
    assert said in report.render_table([r], "zh_CN").splitlines()
    page = report.render_html([r], targets=KpiTargets(), language="zh_CN")
    assert f'<p class="note record">{said}</p>' in page and 'class="record-bonus">¥200.00</td>' in page
    rows = {row["agent"]: row for row in csv.DictReader(io.StringIO(report.render_csv([r])))}
    assert (rows["阿杰"]["record_bonus"], rows["小美"]["record_bonus"], rows["(team)"]["record_bonus"]) == (
        "200.0",
        "0.0",
        "200.0",
    )
    out = io.BytesIO()
    report.render_xlsx([r], out)
    sheet = load_workbook(io.BytesIO(out.getvalue())).worksheets[0]
    found = {v[4]: dict(zip([c.value for c in sheet[1]], v)) for v in sheet.iter_rows(min_row=2, values_only=True)}
    assert (found["阿杰"]["历史最高奖（元）"], found["小美"]["历史最高奖（元）"]) == (200, 0)
    # Two months of history: September's 75 % is the record, and nobody beats it.
    (longer,) = log.reports(NOV, NOV_END, config=_record_config(log, record_months=2))
    assert longer.record is not None and (longer.record.record, longer.record.record_month) == (0.75, "2026-09")
    assert {row.metrics["record_bonus"] for row in longer.agents} == {0.0}
    said = "询单转化率历史最高奖 ¥200.00：本月没有客服超过前 2 个月的最高月询单转化率 75.0%（小美，2026-09）。"
    assert said in report.render_table([longer], "zh_CN").splitlines()


@BACKENDS
def test_kpi_record_bonus_is_not_computed_for_a_period_that_is_no_whole_month(log: Log) -> None:
    _three_months(log)
    r = log.report(config=_record_config(log))  # the day D alone
    assert r.record is not None and r.record.reason == "not_a_whole_month"
    assert {row.metrics["record_bonus"] for row in r.agents} == {None}
    said = (
        "询单转化率历史最高奖 ¥200.00：按整月的询单转化率发放，只在从某月 1 日到该月最后一天的报表中计算"
        "（本报表的期间不是整月），所以未计算。"
    )
    table = report.render_table([r], "zh_CN")
    assert said in table.splitlines() and "历史最高奖  " not in table.splitlines()[1]  # no column of dashes
    assert json.loads(report.render_json([r]))["conversion_record"]["computed"] is False
    rows = list(csv.DictReader(io.StringIO(report.render_csv([r]))))
    assert [(row["agent"], row["record_bonus"]) for row in rows] == [("阿杰", ""), ("(team)", "")]
    assert log.report().record is None  # the shipped config pays no such bonus: nothing said


def test_kpi_record_needs_an_earlier_month_with_enough_inquiries() -> None:
    kpi = KpiConfig(record_bonus=100.0, record_months=3, record_min_inquiries=10)
    month = {"A": Tally(inquiries=10, paid=9)}
    asked: list[tuple[date, date]] = []

    def earlier(first: date, last: date) -> dict[str, Tally]:
        asked.append((first, last))
        return {"A": Tally(inquiries=9, paid=9), metrics.UNASSIGNED: Tally(inquiries=50, paid=50)}

    found = find_record(kpi, NOV, NOV_END, month, earlier)
    assert found is not None and (found.reason, found.winners) == ("no_earlier_month", ())
    assert asked == [
        (date(2026, 10, 1), date(2026, 10, 31)),
        (date(2026, 9, 1), date(2026, 9, 30)),
        (date(2026, 8, 1), date(2026, 8, 31)),
    ]
    assert found.bonus_of("A") == 0.0
    assert find_record(KpiConfig(), NOV, NOV_END, month, earlier) is None  # record_bonus 0: not computed
    # February and a leap year's: whole months are told by their last day.
    assert find_record(kpi, date(2028, 2, 1), date(2028, 2, 28), month, earlier).reason == "not_a_whole_month"  # type: ignore[union-attr]
    assert find_record(kpi, date(2028, 2, 1), date(2028, 2, 29), month, earlier).reason == "no_earlier_month"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[kpi]\nrecord_bonus = -1\n", r"\[kpi\] record_bonus"),
        ("[kpi]\nrecord_months = 0\n", r"\[kpi\] record_months"),
        ("[kpi]\nrecord_months = 25\n", r"\[kpi\] record_months"),
        ("[kpi]\nrecord_min_inquiries = 0\n", r"\[kpi\] record_min_inquiries"),
    ],
)
def test_kpi_config_refuses_a_record_bonus_out_of_range(tmp_path: Path, toml: str, key: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError, match=key):
        load_config(path, env={})
    with pytest.raises(ConfigError, match=r"record_months"):
        metrics.check_kpi_config(KpiConfig(record_months=0))
