"""Text leaving for spreadsheets and terminals: every CSV the project writes, and every terminal table."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

from assistant.cli import main
from assistant.safetext import CsvWriter, cell, terminal
from assistant.suggest.phrases import Library
from assistant.suggest.qianniu import export_rows, write_table
from tests.kpi_log import D, Log

EVIL_AGENT = '=HYPERLINK("http://x","点我")'
EVIL_SHOP = "@SUM(1+1)"


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r", "＝"])
def test_cell_neutralizes_every_formula_start(start: str) -> None:
    assert cell(start + "1+1") == "'" + start + "1+1"


def test_cell_leaves_numbers_and_plain_text() -> None:
    assert cell(-3.5) == -3.5 and cell(0) == 0 and cell("亲，在的") == "亲，在的" and cell(None) is None


def test_csv_writer_quotes_a_bare_carriage_return() -> None:
    buf = io.StringIO()
    CsvWriter(buf).writerows([["a\r=1+1", "b"], ["c", "d"]])
    rows = list(csv.reader(io.StringIO(buf.getvalue(), newline="")))
    assert rows == [["a\r=1+1", "b"], ["c", "d"]]  # one row each: the CR stayed inside its cell


@pytest.fixture
def evil_db(tmp_path: Path) -> Path:
    log = Log(tmp_path / "evil.db")
    log.customer("10:00", shop=EVIL_SHOP)
    log.agent("10:00:05", EVIL_AGENT, shop=EVIL_SHOP)
    log.customer("10:01", shop=EVIL_SHOP, conversation="c2", customer="u2")
    # Names the webhook refuses now, as a log written before it did holds them: the outputs guard on their own.
    for when, name in (("10:01:05", "小\r=cmd|' /c calc'!A0"), ("10:01:06", "\x1b[31m红\x1b]0;title\x07")):
        log.event("message", when, sender="agent", agent="x", text="亲，在的呢", unchecked_agent=name,
                  shop=EVIL_SHOP, conversation="c2", customer="u2")  # fmt: skip
    log.close()
    return tmp_path / "evil.db"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def test_report_csv_neutralizes_names_and_keeps_rows_whole(evil_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, "report", "--db", str(evil_db), "--date", D.isoformat(), "--format", "csv")
    rows = list(csv.reader(io.StringIO(out, newline="")))
    agents = [row[4] for row in rows[1:]]
    assert all(row[0] == "'" + EVIL_SHOP for row in rows[1:])
    assert "'" + EVIL_AGENT in agents and "小\r=cmd|' /c calc'!A0" in agents
    assert len(rows) == 1 + 4  # header, three agents, the team: the CR split nothing
    assert not any(c.startswith(("=", "+", "-", "@")) for row in rows for c in row if not _number(c))


def test_log_csv_keeps_the_guard_across_a_carriage_return(evil_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, "log", "--db", str(evil_db), "--date", D.isoformat(), "--format", "csv")
    rows = list(csv.reader(io.StringIO(out.lstrip("\ufeff"), newline="")))
    width = len(rows[0])
    assert all(len(row) == width for row in rows)
    assert not any(c.startswith(("=", "+", "@")) for row in rows for c in row)


def test_report_table_and_log_text_print_no_control_characters(
    evil_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = run(capsys, "report", "--db", str(evil_db), "--date", D.isoformat())
    text = run(capsys, "log", "--db", str(evil_db), "--date", D.isoformat(), "--format", "text")
    for out in (table, text):
        assert "\x1b" not in out and "\x07" not in out and "\r" not in out
    assert "?[31m红" in table


def test_phrases_export_neutralizes_csv_and_xlsx(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    library = Library.build(
        [("a.toml", {"group": "=组", "phrase": [
            {"id": "a.one", "intent": "refund", "code": "a1", "text": "=1+1 亲，退款已处理", "triggers": ["退款"]},
            {"id": "a.two", "intent": "refund", "code": "a2", "text": "@亲，退款已原路退回", "triggers": ["退回"]},
        ]})]
    )  # fmt: skip
    rows = export_rows(library)
    write_table(rows, tmp_path / "out.csv")
    write_table(rows, tmp_path / "out.xlsx")
    with (tmp_path / "out.csv").open(encoding="utf-8-sig", newline="") as f:
        written = list(csv.reader(f))
    assert written[1] == ["'=组", "a1", "'=1+1 亲，退款已处理"] and written[2][2] == "'@亲，退款已原路退回"
    sheet = load_workbook(tmp_path / "out.xlsx").active
    assert sheet is not None
    # A text cell Excel shows as written and never computes (quotePrefix, as typing '= makes it): the text itself
    # goes back into Qianniu unchanged.
    assert [c.value for c in sheet[2]] == ["=组", "a1", "=1+1 亲，退款已处理"]
    assert all(c.data_type == "s" for row in sheet.iter_rows() for c in row)
    assert sheet["A2"].quotePrefix and sheet["C2"].quotePrefix and sheet["C3"].quotePrefix


def test_terminal_shows_controls_as_question_marks() -> None:
    assert terminal("a\x1b[2Jb\u202ec") == "a?[2Jb?c"
    assert terminal("a\tb\nc", single_line=True) == "a b c"


def test_terminal_shows_a_windows_line_break_as_a_line_break() -> None:
    # Customers on Windows clients send "\r\n": the log showed "第二行?" at the end of every line.
    assert terminal("第一行\r\n第二行\r第三行") == "第一行\n第二行\n第三行"
    assert terminal("第一行\r\n第二行", single_line=True) == "第一行 第二行"


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
