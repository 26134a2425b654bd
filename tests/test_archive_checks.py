"""An archived day is read only whole: a damaged archive file is refused by every reader, naming the file."""

from __future__ import annotations

import gzip
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from assistant import pg, store
from assistant.cli.main import main
from assistant.config import Config
from assistant.daylog.archive import ShopDay, archive, archive_path
from tests.helpers import BACKENDS, make_app, replace_config
from tests.pgcluster import PASSWORD_ENV
from tests.test_archive import NOW, TODAY, add_events, chat, write_config

pytestmark = BACKENDS


@pytest.fixture(autouse=True)
def password(db_path: store.Location, monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands run in this process read the PostgreSQL password from the environment, as they do."""
    if isinstance(db_path, pg.Location):
        monkeypatch.setenv(PASSWORD_ENV, db_path.password or "")


DAY = TODAY - timedelta(days=200)


@pytest.fixture
def config(config: Config, tmp_path: Path) -> Config:
    """The shipped config on a temporary database and archive directory."""
    return replace_config(config, "store", archive_dir=str(tmp_path / "archive"))


@pytest.fixture
def archived(config: Config, db_path: Path) -> Path:
    """One archived day of 41 records in shop1; its file."""
    add_events(db_path, chat(DAY, "shop1", "c1", 41))
    archive(config, db_path, NOW)
    path = archive_path(config, ShopDay(DAY, "shop1"))
    assert path.exists()
    return path


def cut_short(path: Path, lines: int) -> None:
    """`zcat f | head -n N | gzip > f.new && mv f.new f`: the first lines kept, footer lost."""
    kept = gzip.decompress(path.read_bytes()).splitlines(keepends=True)[:lines]
    path.write_bytes(gzip.compress(b"".join(kept)))


def drop_records(path: Path, count: int) -> None:
    """Records removed by hand, header and footer kept."""
    lines = gzip.decompress(path.read_bytes()).splitlines(keepends=True)
    path.write_bytes(gzip.compress(b"".join([lines[0], *lines[1 + count :]])))


def run_log(capsys: pytest.CaptureFixture[str], tmp_path: Path, db: Any) -> tuple[int, str, str]:
    """`assistant log --date DAY --format jsonl` in this process: exit status, stdout, stderr."""
    code = main(["log", "--config", str(write_config(tmp_path, db)), "--date", DAY.isoformat(), "--format", "jsonl"])
    out, err = capsys.readouterr()
    return code, out, err


def test_log_reads_a_whole_archived_day(
    archived: Path, tmp_path: Path, db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_log(capsys, tmp_path, db_path)
    assert code == 0 and len(out.splitlines()) == 41, err


@pytest.mark.parametrize("damage", ["cut_short", "records_removed"])
def test_log_refuses_a_damaged_archive_file_naming_it(
    archived: Path, tmp_path: Path, db_path: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    if damage == "cut_short":
        cut_short(archived, 20)
    else:
        drop_records(archived, 3)
    code, out, err = run_log(capsys, tmp_path, db_path)
    assert code == 1 and out == ""
    assert str(archived) in err
    # In English under [ui] language = "zh_CN": "cut short", "damaged, its footer says 41 records, 38 read".
    assert ("文件被截断了" in err) if damage == "cut_short" else ("结尾标记记的是 41 条记录，实际读到 38 条" in err), (
        err
    )


async def test_logs_page_answers_a_damaged_archive_file_with_409(
    aiohttp_client: Any, config: Config, archived: Path
) -> None:
    drop_records(archived, 1)
    client = await aiohttp_client(make_app(config))
    resp = await client.get(f"/logs/daily?date={DAY.isoformat()}")
    assert resp.status == 409
    body = await resp.json()
    assert body["error"] == "archive_unreadable" and str(archived) in body["message"]
    page = await client.get(f"/logs/daily?date={DAY.isoformat()}", headers={"Accept": "text/html"})
    assert page.status == 409 and "这一天的归档无法读取" in await page.text()
    workbook = await client.get(f"/logs/daily?date={DAY.isoformat()}&format=xlsx")
    assert workbook.status == 409


def test_commands_name_an_archived_days_missing_file(
    archived: Path, tmp_path: Path, db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_events(db_path, chat(DAY, "shop1", "late", 2, start_hour=22))  # live rows of the day, as after a restore
    archived.unlink()  # the database restored from a backup, the archive directory not
    code, out, err = run_log(capsys, tmp_path, db_path)
    assert code == 1 and out == "" and str(archived) in err and "文件不见了" in err and "从备份恢复" in err, err
    config_path = str(write_config(tmp_path, db_path))
    code = main(["report", "--config", config_path, "--date", DAY.isoformat(), "--format", "json"])
    err = capsys.readouterr().err
    assert code == 0 and "已归档，但文件不见了" in err and str(archived) in err, err
    assert main(["report", "--config", config_path, "--date", (DAY - timedelta(days=1)).isoformat()]) == 0
    assert "已归档" not in capsys.readouterr().err
