"""What seed 002 pays beside the 提成: 追销 (upsells) and its tiers, and the 询单转化率历史最高奖 (docs/kpi.md)."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path

import pytest
from openpyxl import load_workbook

from assistant.config import ConfigError, KpiConfig, KpiTargets, UpsellTier, load_config
from assistant.kpi import metrics, report
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
    assert heading.index("追销奖") == heading.index("追销") + 1
    out = io.BytesIO()
    report.render_xlsx(reports, out)
    sheet = load_workbook(io.BytesIO(out.getvalue())).worksheets[0]
    found = {r[4]: dict(zip([c.value for c in sheet[1]], r)) for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert (found["小美"]["追销"], found["小美"]["追销奖"]) == (2, 1.0)
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
