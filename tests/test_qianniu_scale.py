"""A team's Qianniu export at scale: thousands of rows, each agent's copy of the shop's answers; what the
import says while it reads them, and where a table it cannot read goes wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook

from assistant.cli import main
from assistant.suggest import qianniu
from assistant.suggest.matcher import Matcher
from assistant.suggest.qianniu import TableError, import_rows, read_table

ROOT = Path(__file__).resolve().parent.parent
HEADER = ["分组", "快捷编码", "快捷短语"]
ANSWERS = [
    ("物流", "亲，下午四点前付款当天就发出，之后的第二天发哦"),
    ("售后", "亲，支持七天无理由退换，在订单里申请退货就可以了哦"),
    ("售前", "亲，已经是最低价了呢，实在便宜不了了，请亲理解哦"),
]


def team_rows(n: int, *, codes: bool = True) -> list[list[str]]:
    """`n` rows as a team's export holds them: each answer in every agent's copy, signed."""
    rows = [HEADER]
    for i in range(n):
        group, text = ANSWERS[i % len(ANSWERS)]
        rows.append([group, f"q{i}" if codes else "", f"{text}（客服{i}号）"])
    return rows


def xlsx(path: Path, rows: list[list[str]]) -> Path:
    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def test_a_long_import_says_how_far_it_has_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # 20,000 rows read for a minute or more with nothing on the screen; every PROGRESS_ROWS rows it says so now.
    monkeypatch.setattr(qianniu, "PROGRESS_ROWS", 10, raising=False)
    source = xlsx(tmp_path / "team.xlsx", team_rows(25))
    assert main(["phrases", "import", str(source), "--dry-run", "--config", str(ROOT / "config.toml")]) == 0
    err = capsys.readouterr().err.splitlines()
    said = [line for line in err if line.startswith("已读取")]
    assert said == ["已读取 10 行，共 25 行…", "已读取 20 行，共 25 行…"]
    assert err.index(said[-1]) < err.index(next(line for line in err if line.startswith("第 2 行")))


def test_an_import_lets_go_of_each_rows_reading(shipped_matcher: Matcher, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every row's text was read once and kept: 20,000 readings held 670 MB for an import that never reads one again.
    matcher = Matcher(shipped_matcher.library, strict=True)
    monkeypatch.setattr(qianniu, "PROGRESS_ROWS", 10, raising=False)
    result = import_rows(team_rows(45), matcher)
    assert len(result.phrases) == 45  # every text a new one, read once
    assert matcher._read_short.cache_info().currsize <= 5 * 4  # the last 5 rows' (a text, its clauses)


def test_a_table_in_two_encodings_names_the_first_line_that_is_not_utf8(tmp_path: Path) -> None:
    # A table pasted together from a UTF-8 and a GBK file was refused as "not UTF-8 or GBK text": which of its
    # 20,000 lines to open was left to be found.
    rows = team_rows(40)
    lines = [",".join(row) + "\r\n" for row in rows]
    path = tmp_path / "two.csv"
    path.write_bytes("".join(lines[:31]).encode("utf-8") + "".join(lines[31:]).encode("gbk"))
    with pytest.raises(TableError, match="第 32 行"):
        read_table(path)
