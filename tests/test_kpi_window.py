"""A changed payment window is recorded and said where supervisors look: the start log, the report page and
`assistant report` (docs/kpi.md, "Changing the window recomputes past days")."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from assistant import schema, store
from assistant.cli import main
from assistant.config import Config, load_config
from assistant.kpi import window
from assistant.kpi.report import render
from tests.helpers import BACKENDS, make_app, replace_config
from tests.kpi_log import SHOP, TZ, D, Log, ms

HOUR = window.HOUR_MS
SUPERVISOR = {"Authorization": "Bearer sup-token"}
SAID = "付款期限（[kpi] payment_window_hours）已于 {day} 从 72 小时改为 24 小时：过去的每一天都按 24 小时重新计算"


def hours(config: Config, value: float) -> Config:
    return replace_config(config, "kpi", payment_window_hours=value)


def changed_on(log: Log, window_hours: float) -> date:
    """The local day the database recorded the change to `window_hours` on."""
    change = window.last_change(log.conn, hours(log.config, window_hours), 0)
    assert change is not None
    return change.day(TZ)


@pytest.fixture
def log(db_path: store.Location) -> Iterator[Log]:
    built = Log(db_path, load_config(None, env={"ASSISTANT_SUPERVISOR_TOKEN": "sup-token"}))
    built.customer("10:00")
    built.agent("10:00:10", "小美")
    built.order("10:05", "o1", 300, agent="小美")
    built.paid("D+1 09:00", "o1", 300)  # 23 h after the order: in a 72 h window and in a 24 h one
    yield built
    built.close()


@BACKENDS
def test_kpi_window_change_is_recorded_once_with_the_window_before(log: Log) -> None:
    wide, narrow = log.config, hours(log.config, 24)
    with store.transaction(log.conn):
        assert window.note(log.conn, wide, ms("D+9 00:00")) is None  # the first window known: no change
    assert window.last_change(log.conn, wide, ms("D+9 00:00")) is None
    with store.transaction(log.conn):
        assert window.note(log.conn, wide, ms("D+10 00:00")) is None
        assert window.note(log.conn, narrow, ms("D+11 08:00")) == window.Change(72 * HOUR, 24 * HOUR, ms("D+11 08:00"))
        assert window.note(log.conn, narrow, ms("D+12 00:00")) is None  # once
    change = window.last_change(log.conn, narrow, ms("D+20 00:00"))
    assert change == window.Change(72 * HOUR, 24 * HOUR, ms("D+11 08:00"))
    assert change.covers(D + timedelta(days=11), TZ) and not change.covers(D + timedelta(days=12), TZ)
    # Configured but not recorded yet (a read-only reader, before the start that records it): a change all the same.
    assert window.last_change(log.conn, hours(log.config, 1.5), ms("D+20 00:00")) == window.Change(
        24 * HOUR, int(1.5 * HOUR), ms("D+20 00:00")
    )
    unrecorded = window.last_change(log.conn, hours(log.config, 1.5), 0)
    assert unrecorded is not None and "从 24 小时改为 1.5 小时" in unrecorded.warning("zh_CN", TZ)


@BACKENDS
async def test_kpi_window_change_is_said_once_at_start_and_on_the_pages_of_past_days(
    log: Log, aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # Found: a supervisor comparing last week's printed report with today's saw another 询单转化率 for the same
    # day, and nothing said that the window had changed in between.
    caplog.set_level(logging.WARNING)
    first = await aiohttp_client(make_app(log.config, db_path=log.path))
    await first.close()
    assert "付款期限" not in caplog.text
    client = await aiohttp_client(make_app(hours(log.config, 24), db_path=log.path))
    today = changed_on(log, 24)
    said = SAID.format(day=today.isoformat())
    assert caplog.text.count(said) == 1
    page = await (await client.get(f"/reports/daily?date={D}&shop={SHOP}", headers=SUPERVISOR)).text()
    assert f'<p class="window-changed" role="alert">{said}' in page and "付款期限 24 小时" in page
    ranged = await (await client.get(f"/reports/daily?from={D}&to={today}", headers=SUPERVISOR)).text()
    assert said in ranged
    later = await (await client.get(f"/reports/daily?date={today + timedelta(days=1)}", headers=SUPERVISOR)).text()
    assert "付款期限（" not in later  # a day first reported with the new window
    await client.close()
    caplog.clear()
    again = await aiohttp_client(make_app(hours(log.config, 24), db_path=log.path))
    await again.close()
    assert "付款期限" not in caplog.text  # once: the next start has nothing new to say


def _config(tmp_path: Path, window_hours: int) -> Path:
    path = tmp_path / f"window-{window_hours}.toml"
    path.write_text(f"[kpi]\npayment_window_hours = {window_hours}\n", encoding="utf-8")
    return path


def test_kpi_window_change_is_said_by_the_report_command(
    tmp_path: Path, log: Log, capsys: pytest.CaptureFixture[str]
) -> None:
    def report(window_hours: int, day: str) -> tuple[str, str]:
        config = str(_config(tmp_path, window_hours))
        assert main(["report", "--config", config, "--db", str(log.path), "--date", day]) == 0
        out, err = capsys.readouterr()
        return out, err

    out, err = report(72, D.isoformat())
    assert "付款期限 72 小时" in out.splitlines()[0] and "付款期限（" not in err
    out, err = report(24, D.isoformat())
    said = "assistant: " + SAID.format(day=changed_on(log, 24).isoformat())
    assert "付款期限 24 小时" in out.splitlines()[0] and err.startswith(said)
    assert report(24, D.isoformat())[1].startswith(said)  # every report of a day reported otherwise before says it
    tomorrow = changed_on(log, 24) + timedelta(days=1)
    assert "付款期限（" not in report(24, tomorrow.isoformat())[1]


@BACKENDS
async def test_kpi_window_change_is_in_the_json_report(log: Log, aiohttp_client: Any) -> None:
    # Found: the page said the change, but an API client got the recomputed figures with no word of it.
    first = await aiohttp_client(make_app(log.config, db_path=log.path))
    await first.close()
    client = await aiohttp_client(make_app(hours(log.config, 24), db_path=log.path))
    today = changed_on(log, 24)
    doc = await (await client.get(f"/v1/reports/daily?date={D}&shop={SHOP}", headers=SUPERVISOR)).json()
    assert doc["payment_window_hours"] == 24
    [change] = doc["payment_window_changes"]
    assert change["from_hours"] == 72 and change["to_hours"] == 24 and change["changed_on"] == today.isoformat()
    later = today + timedelta(days=1)
    doc = await (await client.get(f"/v1/reports/daily?date={later}", headers=SUPERVISOR)).json()
    assert doc == [] or all(each["payment_window_changes"] == [] for each in doc)  # no shop wrote that day
    ranged = await (await client.get(f"/v1/reports/daily?from={D}&to={later}", headers=SUPERVISOR)).json()
    assert [c["to_hours"] for c in ranged["payment_window_changes"]] == [24]
    await client.close()


def test_kpi_window_change_is_in_the_report_command_files(
    tmp_path: Path, log: Log, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found: `assistant report --out r.html` said the change on stderr only; the file mailed on had no word of it.
    def report(window_hours: int, *args: str) -> None:
        config = str(_config(tmp_path, window_hours))
        assert main(["report", "--config", config, "--db", str(log.path), "--date", D.isoformat(), *args]) == 0
        capsys.readouterr()

    report(72, "--out", str(tmp_path / "before.html"))
    assert 'class="window-changed"' not in (tmp_path / "before.html").read_text(encoding="utf-8")
    report(24, "--out", str(tmp_path / "after.html"))
    said = SAID.format(day=changed_on(log, 24).isoformat())
    assert f'<p class="window-changed" role="alert">{said}' in (tmp_path / "after.html").read_text(encoding="utf-8")
    report(24, "--out", str(tmp_path / "after.json"))
    doc = json.loads((tmp_path / "after.json").read_text(encoding="utf-8"))
    assert [(c["from_hours"], c["to_hours"]) for c in doc["payment_window_changes"]] == [(72, 24)]


SUPERSEDED = "付款期限（[kpi] payment_window_hours）曾于 {day} 从 72 小时改为 24 小时：那次改动前做的报表"


@BACKENDS
def test_kpi_window_changes_are_kept_and_each_one_touching_the_period_is_said(log: Log) -> None:
    # Found: only the last change was kept, so a period spanning two changes said the last one alone (72 h → 24 h
    # on day 11, then 24 h → 48 h on day 21: a report of day 5 said nothing of the 72 h its earlier report used).
    with store.transaction(log.conn):
        window.note(log.conn, log.config, ms("D+1 00:00"))
        window.note(log.conn, hours(log.config, 24), ms("D+11 08:00"))
        window.note(log.conn, hours(log.config, 48), ms("D+21 08:00"))
    now = hours(log.config, 48)
    first, second = window.Change(72 * HOUR, 24 * HOUR, ms("D+11 08:00")), window.Change(24 * HOUR, 48 * HOUR, ms("D+21 08:00"))  # fmt: skip
    assert window.changes(log.conn, now, ms("D+30 00:00")) == [first, second]
    assert window.touching(log.conn, now, D + timedelta(days=5), ms("D+30 00:00")) == [first, second]
    assert window.touching(log.conn, now, D + timedelta(days=12), ms("D+30 00:00")) == [second]
    assert window.touching(log.conn, now, D + timedelta(days=22), ms("D+30 00:00")) == []
    said = window.warnings([first, second], "zh_CN", TZ)
    day11, day21 = (D + timedelta(days=11)).isoformat(), (D + timedelta(days=21)).isoformat()
    assert said[0].startswith(SUPERSEDED.format(day=day11)) and "按 72 小时计算" in said[0]
    assert said[1].startswith(
        "付款期限（[kpi] payment_window_hours）已于 " + day21 + " 从 24 小时改为 48 小时：过去的每一天都按 48"
    )
    # A change recorded by a release that kept the last one alone is among them.
    with store.transaction(log.conn):
        log.conn.execute("UPDATE kpi_window SET window_ms = ?, previous_ms = ?, changed_ms = ?", (HOUR, 48 * HOUR, ms("D+25 00:00")))  # fmt: skip
    third = window.Change(48 * HOUR, HOUR, ms("D+25 00:00"))
    assert window.changes(log.conn, hours(log.config, 1), ms("D+30 00:00")) == [first, second, third]


@BACKENDS
def test_kpi_window_change_recorded_before_the_history_is_kept_by_the_migration(log: Log) -> None:
    with store.transaction(log.conn):
        log.conn.execute("DROP TABLE kpi_window_changes")
        window.note(log.conn, log.config, ms("D+1 00:00"))
        window.note(log.conn, hours(log.config, 24), ms("D+11 08:00"))  # as the release before the history
    log.conn.executescript(schema.KPI_WINDOW_CHANGES)
    with store.transaction(log.conn):
        log.conn.execute("UPDATE kpi_window SET previous_ms = NULL, changed_ms = NULL")  # only the history holds it
    assert window.changes(log.conn, hours(log.config, 24), ms("D+30 00:00")) == [
        window.Change(72 * HOUR, 24 * HOUR, ms("D+11 08:00"))
    ]


@BACKENDS
async def test_kpi_window_changes_are_each_said_on_the_page_and_in_the_json(log: Log, aiohttp_client: Any) -> None:
    with store.transaction(log.conn):
        window.note(log.conn, log.config, ms("D+1 00:00"))
        window.note(log.conn, hours(log.config, 24), ms("D+11 08:00"))
        window.note(log.conn, hours(log.config, 48), ms("D+21 08:00"))
    client = await aiohttp_client(make_app(hours(log.config, 48), db_path=log.path))
    page = await (await client.get(f"/reports/daily?date={D}&shop={SHOP}", headers=SUPERVISOR)).text()
    assert page.count('<p class="window-changed" role="alert">') == 2
    assert SUPERSEDED.format(day=(D + timedelta(days=11)).isoformat()) in page
    doc = await (await client.get(f"/v1/reports/daily?date={D}&shop={SHOP}", headers=SUPERVISOR)).json()
    assert [(c["from_hours"], c["to_hours"]) for c in doc["payment_window_changes"]] == [(72, 24), (24, 48)]
    await client.close()


def test_kpi_window_change_is_in_the_report_command_csv_table_and_workbook(
    tmp_path: Path, log: Log, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found: the JSON and the page said the change, but the CSV, the table and the workbook gave the figures
    # recomputed with the new window and no word of it (stderr alone said it, which a file mailed on has lost).
    def report(window_hours: int, *args: str) -> str:
        config = str(_config(tmp_path, window_hours))
        assert main(["report", "--config", config, "--db", str(log.path), "--date", D.isoformat(), *args]) == 0
        return capsys.readouterr().out

    def outputs(window_hours: int, name: str) -> tuple[list[str], list[dict[str, str]], list[list[Any]]]:
        table = report(window_hours).splitlines()
        report(window_hours, "--out", str(tmp_path / f"{name}.csv"))
        report(window_hours, "--out", str(tmp_path / f"{name}.xlsx"))
        with (tmp_path / f"{name}.csv").open(encoding="utf-8-sig", newline="") as f:
            rows = list(csv.DictReader(f))
        book = load_workbook(tmp_path / f"{name}.xlsx")
        assert book.sheetnames[:2] == ["客服日报", "团队"]  # the figures' sheets stay first
        notes = [list(row) for row in book.worksheets[2].iter_rows(values_only=True)] if len(book.worksheets) > 2 else []  # fmt: skip
        return table, rows, notes

    table, rows, notes = outputs(72, "before")
    assert not any(line.startswith("付款期限（") for line in table) and notes == []
    assert [row["payment_window_changes"] for row in rows] == ["", ""]  # 小美 and the team: nothing changed
    table, rows, notes = outputs(24, "after")
    day = changed_on(log, 24).isoformat()
    said = [line for line in table if line.startswith(SAID.format(day=day))]
    assert len(said) == 1 and table.index(said[0]) > next(i for i, line in enumerate(table) if "（团队）" in line)
    assert [row["payment_window_changes"] for row in rows] == [f"{day}:72→24"] * 2
    assert [row["payment_window_hours"] for row in rows] == ["24", "24"]
    assert notes[0] == ["付款期限变更"] and len(notes) == 2 and str(notes[1][0]).startswith(SAID.format(day=day))


@BACKENDS
async def test_kpi_window_changes_are_in_the_pages_workbook_and_the_csv(log: Log, aiohttp_client: Any) -> None:
    # Found: the page said the changes above its figures; the workbook it offers (下载电子表格) said nothing.
    with store.transaction(log.conn):
        window.note(log.conn, log.config, ms("D+1 00:00"))
        window.note(log.conn, hours(log.config, 24), ms("D+11 08:00"))
        window.note(log.conn, hours(log.config, 48), ms("D+21 08:00"))
    client = await aiohttp_client(make_app(hours(log.config, 48), db_path=log.path))
    answer = await client.get(f"/reports/daily?date={D}&shop={SHOP}&format=xlsx", headers=SUPERVISOR)
    book = load_workbook(io.BytesIO(await answer.read()))
    await client.close()
    notes = [row[0] for row in book["付款期限变更"].iter_rows(values_only=True)]
    assert notes[0] == "付款期限变更" and len(notes) == 3
    assert str(notes[1]).startswith(SUPERSEDED.format(day=(D + timedelta(days=11)).isoformat()))
    assert str(notes[2]).startswith(
        "付款期限（[kpi] payment_window_hours）已于 " + (D + timedelta(days=21)).isoformat()
    )
    changes = window.changes(log.conn, hours(log.config, 48), ms("D+30 00:00"))
    text = render(log.reports(D, config=hours(log.config, 48)), "csv", window_changes=changes)
    day11, day21 = (D + timedelta(days=11)).isoformat(), (D + timedelta(days=21)).isoformat()
    assert {row["payment_window_changes"] for row in csv.DictReader(io.StringIO(text))} == {
        f"{day11}:72→24 {day21}:24→48"
    }
