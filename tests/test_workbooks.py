"""The supervisors' workbooks (.xlsx): the daily log and the report in the interface's language, every text a
text cell (a formula typed by a buyer stays text, a 19-digit order number keeps its digits), from the command
line and from the pages."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote

import pytest
from aiohttp.test_utils import TestClient
from openpyxl import load_workbook

from assistant import safetext, store
from assistant.config import Config
from assistant.suggest.phrases import Library
from assistant.web.appkeys import WORKBOOKS
from tests.daylog_day import DAY, PHONE, log_app, post_day, token_config
from tests.helpers import BACKENDS, ROOT, body_of
from tests.test_daylog import db_args, run_log

Client = TestClient  # type: ignore[type-arg]
SUPERVISOR = {"Authorization": "Bearer sup-token"}
BROWSER = {"Accept": "text/html,application/xhtml+xml"}
LONG_ORDER = "2938475610293847561"  # a Taobao order number: 19 digits, more than a spreadsheet number holds
FORMULA = '=HYPERLINK("http://evil.example","点我领券")'


def extra_events() -> list[dict[str, Any]]:
    """Conversation X: a buyer typing a formula, a control character, and an order with a long number."""
    where = {"shop": "shop1", "conversation": "X", "customer": "2200123456789012345"}
    return [
        {"id": "X1", "type": "message", "ts": "2026-11-20T10:00:00+08:00", **where, "sender": "customer",
         "text": FORMULA},
        {"id": "X2", "type": "message", "ts": "2026-11-20T10:00:30+08:00", **where, "sender": "agent",
         "agent": "小美", "text": "亲，这个链接不是我们店的哦\x1b[31m"},
        {"id": "X3", "type": "order_created", "ts": "2026-11-20T10:02:00+08:00", **where, "order": LONG_ORDER,
         "amount": 88.5, "agent": "小美"},
    ]  # fmt: skip


async def post_days(client: Client) -> None:
    await post_day(client)
    resp = await client.post("/v1/events", data=body_of(extra_events()))
    assert resp.status == 200, await resp.text()


@pytest.fixture
async def day_db(aiohttp_client: Any, config: Config, db_path: store.Location) -> store.Location:
    client = await aiohttp_client(log_app(config))
    await post_days(client)
    return db_path


def rows_of(data: bytes, index: int = 0) -> tuple[list[str], list[dict[str, Any]], Any]:
    """The heading and the rows (as dicts by heading) of one sheet of a workbook (the first), and the sheet."""
    book = load_workbook(io.BytesIO(data))
    sheet = book.worksheets[index]
    values = list(sheet.iter_rows(values_only=True))
    heading = [str(v) for v in values[0]]
    return heading, [dict(zip(heading, row)) for row in values[1:]], sheet


def cell_of(sheet: Any, heading: list[str], column: str, value: Any) -> Any:
    """The cell of `column` in the first row where it holds `value`."""
    index = heading.index(column) + 1
    for row in sheet.iter_rows(min_row=2):
        if row[index - 1].value == value:
            return row[index - 1]
    raise AssertionError(f"{value!r} not in {column}")


@BACKENDS
def test_workbooks_log_is_in_chinese_with_texts_as_typed(day_db: store.Location, tmp_path: Path) -> None:
    out = tmp_path / "day.xlsx"  # the suffix chooses the format
    done = run_log(day_db, "--date", DAY.isoformat(), "--out", str(out))
    assert done.returncode == 0, done.stderr
    heading, rows, sheet = rows_of(out.read_bytes())
    assert heading[:7] == ["时间", "店铺", "会话", "顾客", "发送方", "客服", "消息"]
    assert "意图" in heading and "顾客类型" in heading and "金额（元）" in heading
    library = Library.load([ROOT / "phrases"])
    first = next(r for r in rows if r["消息"] and r["消息"].startswith("在吗"))
    assert first["发送方"] == "顾客"
    assert first["意图"] == library.intents["shipping_time"].label
    assert first["顾客类型"] == library.customer_types["impatient"].label
    assert first["推荐短语"] == "fh1 ✓、fh2"
    assert first["采用"] == "是"
    assert first["时间"] == datetime(2026, 11, 20, 9, 0, 0)  # the shop's local time, a real date cell
    assert any(r["未回复"] == "是" for r in rows)  # conversation B
    # What a buyer typed is text, never a formula; a long number keeps every digit; no control character.
    formula = cell_of(sheet, heading, "消息", FORMULA)
    assert formula.data_type == "s"
    order = cell_of(sheet, heading, "订单", LONG_ORDER)
    assert order.data_type == "s"
    buyer = next(r for r in rows if r["会话"] == "X")
    assert buyer["顾客"] == "2200123456789012345"
    assert next(r for r in rows if r["订单"] == LONG_ORDER)["金额（元）"] == 88.5
    assert not any("\x1b" in str(r["消息"]) for r in rows)
    assert not any(PHONE in str(r["消息"]) for r in rows)  # masked, as every form of the log
    follow = next(r for r in rows if r["发送方"] == "自动")
    assert (follow["跟进"], follow["跟进状态"]) == ("跟进", "顾客回来了")
    # Every item of the day is a row, as the text log shows it: the count said 28 over 26 rows.
    written = int(done.stderr.split("已写入 ")[1].split(" 条")[0])
    assert len(rows) == written
    used = next(r for r in rows if r["发送方"] == "采用")
    assert (used["客服"], used["推荐短语"]) == ("小美", library.by_id["shipping_time.today"].code)


@BACKENDS
def test_workbooks_log_to_a_terminal_is_refused(day_db: store.Location) -> None:
    where, env = db_args(day_db, {"PATH": "/usr/bin:/bin"})
    # `script` gives the command a terminal for its standard output.
    command = " ".join([sys.executable, "-m", "assistant", "log", "--config", str(ROOT / "config.toml"), *where,
                        "--date", DAY.isoformat(), "--format", "xlsx"])  # fmt: skip
    done = subprocess.run(["script", "-qec", command, "/dev/null"], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=60)  # fmt: skip
    assert done.returncode == 2
    assert "--out" in done.stdout and "PK" not in done.stdout


def test_workbooks_report_keeps_figures_as_numbers(day_db: store.Location, tmp_path: Path) -> None:
    out = tmp_path / "r.xlsx"
    done = subprocess.run(
        [sys.executable, "-m", "assistant", "report", "--config", str(ROOT / "config.toml"), "--db", str(day_db),
         "--date", DAY.isoformat(), "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    heading, rows, sheet = rows_of(out.read_bytes())
    assert heading[:6] == ["店铺", "日期", "延迟统计", "付款期限（小时）", "客服", "咨询"]
    assert "询单转化率" in heading
    assert "（团队）" not in [r["客服"] for r in rows]  # sorted or summed, the agents' sheet holds agents only
    team_heading, teams, team_sheet = rows_of(out.read_bytes(), index=1)
    assert team_heading == heading and [r["客服"] for r in teams] == ["（团队）"]
    team = teams[0]
    assert team["咨询"] == sum(r["咨询"] for r in rows)  # the day has ended: not pending
    assert {r["延迟统计"] for r in [*rows, *teams]} == {"否"}
    rate = cell_of(team_sheet, team_heading, "回复率", team["回复率"])
    assert isinstance(rate.value, float) and rate.number_format == "0.0%"
    csv_out = tmp_path / "r.csv"  # the CSV opens in Excel as Chinese too, as the log's does
    done = subprocess.run(
        [sys.executable, "-m", "assistant", "report", "--config", str(ROOT / "config.toml"), "--db", str(day_db),
         "--date", DAY.isoformat(), "--out", str(csv_out)],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = csv_out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfshop,date,pending,") and b",false," in data


def test_workbooks_go_on_in_a_second_sheet_past_the_row_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(safetext, "MAX_SHEET_ROWS", 4)  # a heading and three rows a sheet
    buffer = io.BytesIO()
    written = safetext.write_workbook("日志", [safetext.Column("序号")], ([str(n)] for n in range(7)), buffer)
    assert written == 7
    book = load_workbook(io.BytesIO(buffer.getvalue()))
    assert book.sheetnames == ["日志", "日志 2", "日志 3"]
    sheets = [[v for (v,) in s.iter_rows(values_only=True)] for s in book.worksheets]
    assert sheets == [["序号", "0", "1", "2"], ["序号", "3", "4", "5"], ["序号", "6"]]


def assert_prints_on_a4(data: bytes) -> list[str]:
    """Each sheet of a workbook prints landscape on A4, one page wide, its heading row on every page, and keeps
    its heading in view on screen; returns the sheets' titles."""
    book = load_workbook(io.BytesIO(data))
    for sheet in book.worksheets:
        setup = sheet.page_setup
        assert (setup.orientation, str(setup.paperSize)) == ("landscape", "9"), sheet.title  # 9: A4
        assert sheet.sheet_properties.pageSetUpPr.fitToPage, sheet.title
        assert (setup.fitToWidth, setup.fitToHeight) == (1, 0), sheet.title  # one page wide, as many down as needed
        assert sheet.print_title_rows == "$1:$1", sheet.title
        assert sheet.freeze_panes == "A2", sheet.title
    return book.sheetnames


@BACKENDS
def test_workbooks_print_on_a4_one_page_wide_with_the_heading_on_every_page(
    day_db: store.Location, tmp_path: Path
) -> None:
    # Found: printed on A4 the report's 31 columns ran over many pages, the pages after the first with no heading.
    where, env = db_args(day_db, {"PATH": "/usr/bin:/bin"})
    report = tmp_path / "r.xlsx"
    done = subprocess.run(
        [sys.executable, "-m", "assistant", "report", "--config", str(ROOT / "config.toml"), *where,
         "--date", DAY.isoformat(), "--out", str(report)],
        capture_output=True, text=True, cwd=ROOT, timeout=60, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert assert_prints_on_a4(report.read_bytes()) == ["客服日报", "团队"]
    log = tmp_path / "day.xlsx"
    done = run_log(day_db, "--date", DAY.isoformat(), "--out", str(log))
    assert done.returncode == 0, done.stderr
    assert assert_prints_on_a4(log.read_bytes()) == ["客服日志"]


@pytest.fixture
async def client(aiohttp_client: Any, db_path: Path) -> Client:
    """The log's service with the tokens set, holding the day."""
    client = await aiohttp_client(log_app(token_config(db_path)))
    await post_days(client)
    return client


async def test_workbooks_log_page_downloads_the_filtered_day(client: Client) -> None:
    # As a browser opens the link it was given: sent on without the token, the page cookie set.
    page = await client.get(f"/logs/daily?date={DAY}&shop=shop1&short=1&token=sup-token", headers=BROWSER)
    html = await page.text()
    link = f'href="/logs/daily?date={DAY}&amp;shop=shop1&amp;short=1&amp;format=xlsx"'
    assert link in html and "sup-token" not in html  # the filters kept; the token is the page cookie's
    resp = await client.get(f"/logs/daily?date={DAY}&shop=shop1&short=1&format=xlsx", headers=BROWSER)  # the link
    assert resp.status == 200
    assert resp.content_type == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    disposition = resp.headers["Content-Disposition"]
    assert f'filename="daily-log-shop1-{DAY}.xlsx"' in disposition  # the shop in the name: two shops' days differ
    assert unquote(disposition.partition("filename*=UTF-8''")[2]) == f"客服日志-shop1-{DAY}.xlsx"
    heading, rows, _sheet = rows_of(await resp.read())
    # Every conversation the filter keeps (short replies: M, A and X's none), whole: customers' messages too.
    assert list(dict.fromkeys(r["会话"] for r in rows)) == ["M", "A"]
    assert any(r["发送方"] == "顾客" for r in rows)


async def test_workbooks_pages_need_the_token_and_a_known_format(client: Client) -> None:
    assert (await client.get(f"/logs/daily?date={DAY}&format=xlsx")).status == 401
    assert (await client.get(f"/reports/daily?date={DAY}&format=xlsx")).status == 401
    for path in ("/logs/daily", "/reports/daily"):
        resp = await client.get(f"{path}?date={DAY}&format=pdf", headers=SUPERVISOR)
        assert resp.status == 400
        assert (await resp.json())["field"] == "format"


async def test_workbooks_report_page_offers_its_workbook(client: Client) -> None:
    html = await (await client.get(f"/reports/daily?date={DAY}&shop=shop1", headers=SUPERVISOR)).text()
    assert f'href="/reports/daily?date={DAY}&amp;shop=shop1&amp;format=xlsx"' in html
    assert "下载电子表格" in html
    resp = await client.get(f"/reports/daily?date={DAY}&shop=shop1&format=xlsx", headers=SUPERVISOR)
    assert resp.status == 200
    heading, rows, _sheet = rows_of(await resp.read())
    assert heading[4] == "客服" and rows and "（团队）" not in [r["客服"] for r in rows]
    assert {r["店铺"] for r in rows} == {"shop1"}
    assert "report-shop1-" in resp.headers["Content-Disposition"]
    # A range's page offers its own workbook (it had no link), titled by the range, not its first day.
    ranged = await (await client.get(f"/reports/daily?from={DAY}&to=2026-11-21&shop=shop1", headers=SUPERVISOR)).text()
    assert f'href="/reports/daily?from={DAY}&amp;to=2026-11-21&amp;shop=shop1&amp;format=xlsx"' in ranged
    assert f"{DAY} 至 2026-11-21" in ranged.split("</title>")[0]


async def test_workbooks_are_built_one_at_a_time(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    # Four at once on a large day took 240 s each and held 400 MB: each download now waits for its turn.
    turn = client.app[WORKBOOKS]
    taken: list[int] = []
    acquire = turn.acquire

    async def recording() -> Literal[True]:
        taken.append(turn._value)  # free places when asked: 1, the one workbook at a time
        return await acquire()

    monkeypatch.setattr(turn, "acquire", recording)
    for path in ("/logs/daily", "/reports/daily"):
        resp = await client.get(f"{path}?date={DAY}&shop=shop1&format=xlsx", headers=SUPERVISOR)
        assert resp.status == 200
    assert taken == [1, 1]
