"""SQLite and PostgreSQL give the same answers: the KPI report of one day compared as JSON, and the KPI
figures of random logs (the property tests' logs) compared whole."""

from __future__ import annotations

import json
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from assistant import pg, store
from assistant.config import load_config
from assistant.kpi import metrics, report
from assistant.kpi.simulate import simulate
from tests.pgcluster import Cluster
from tests.test_kpi_properties import HOURS, START, _report, _write, logs

DAY = date(2026, 11, 20)


def kpi_json(db: store.Location) -> str:
    config = load_config(None, env={})
    reports = metrics.build_reports(
        lambda: store.connect(db, readonly=True), config, DAY, shop="demo", now_ms=1_900_000_000_000, parallel=True
    )
    return report.render(reports, "json", config=config)


def test_backends_kpi_report_of_a_day_is_identical(tmp_path: Path, pg_cluster: Cluster) -> None:
    lite = tmp_path / "kpi.db"
    postgres = pg_cluster.database()
    try:
        for db in (lite, postgres):
            simulate(db, DAY, agents=6, customers=600, seed=7, progress=False)
        on_sqlite, on_postgres = kpi_json(lite), kpi_json(postgres)
    finally:
        pg.close_pools(postgres)
    parsed = json.loads(on_sqlite)
    assert sum(agent["consulted"] for agent in parsed["agents"]) > 500, parsed
    assert json.loads(on_postgres) == parsed  # every figure, list and flagged message
    assert on_postgres == on_sqlite  # and the same text


def _said(customer: str, conv: int, ts: int, agent: str | None, text: str = "在吗") -> dict[str, Any]:
    return {
        "type": "message", "ts": ts, "customer": customer, "conv": conv, "shop": "s1", "sender": "customer",
        "agent": agent, "text": text, "followup": False, "shown": False,
    }  # fmt: skip


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(plan=logs, now_offset=st.integers(0, 3 * 86_400_000), hours=HOURS)
# Ties of one millisecond: an unanswered burst's first message (its agent owns it) and the slow list's order (other
# words: the same words again at once are a copy, docs/kpi.md rule 17).
@example(
    plan=[_said("u1", 1, START + 7_200_000, "A"), _said("u1", 1, START + 7_200_000, None, "有货吗")],
    now_offset=0,
    hours="",
)
@example(
    plan=[_said("u2", 0, START + 7_200_000, None), _said("u1", 0, START + 7_200_000, None)], now_offset=0, hours=""
)
def test_backends_kpi_figures_agree_on_random_logs(
    pg_cluster: Cluster, plan: list[dict[str, Any]], now_offset: int, hours: str
) -> None:
    postgres = pg_cluster.database("p")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            lite = Path(tmp) / "p.db"
            _write(lite, plan)
            _write(postgres, plan)
            now = START + now_offset
            for parallel in (False, True):
                on_sqlite, on_postgres = (
                    _report(lite, now, parallel=parallel, hours=hours),
                    _report(postgres, now, parallel=parallel, hours=hours),
                )
                assert on_postgres == on_sqlite
    finally:
        pg.close_pools(postgres)
