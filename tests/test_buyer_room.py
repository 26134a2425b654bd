"""`assistant buyer erase` on a SQLite log whose disk lacks the room its VACUUM needs: nothing half-done."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from assistant import logfile
from assistant.config import Config
from assistant.daylog import buyer
from assistant.daylog.archive import archive, archive_root
from tests.helpers import live_event, make_app, replace_config
from tests.test_archive import NOW
from tests.test_buyer import BUYER, OLD, OTHER, OTHER_PHONE, PHONE, archived_lines, chat, day_ts, dump, run


@pytest.fixture
def config(config: Config, tmp_path: Path) -> Config:
    return replace_config(config, "store", archive_dir=str(tmp_path / "archive"))


@pytest.fixture
async def filled(aiohttp_client: Any, config: Config, db_path: Path) -> None:
    """Two buyers chatting on two old days (archived) and today."""
    client = await aiohttp_client(make_app(config))
    for i, day in enumerate(OLD):
        for who, phone in ((BUYER, PHONE), (OTHER, OTHER_PHONE)):
            assert (await client.post("/v1/events", json=chat(who, phone, day_ts(day, 10 + i), i))).status == 200
    for who, phone in ((BUYER, PHONE), (OTHER, OTHER_PHONE)):
        now = live_event()["ts"]
        assert (await client.post("/v1/events", json=chat(who, phone, now, 9))).status == 200
    await client.close()
    archive(config, db_path, NOW)


@pytest.mark.usefixtures("filled")
def test_buyer_erase_refuses_before_deleting_when_the_disk_lacks_room_for_its_vacuum(
    config: Config, db_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The rows were deleted, then the VACUUM failed ('数据库无法使用：database or disk is full', exit 1): the archive
    # files were never rewritten, and the erasure was half-done behind a message saying it failed.
    before, files_before = dump(db_path), archived_lines(archive_root(config))
    usage = shutil.disk_usage(db_path.parent)
    monkeypatch.setattr(logfile.shutil, "disk_usage", lambda path: usage._replace(free=1024 * 1024))  # a full disk
    code, out = run(capsys, config, tmp_path, db_path, "buyer", "erase", "--customer", BUYER, "--yes")
    assert code == 1 and "MB" in out and "什么也没有删除" in out, out
    assert dump(db_path) == before and archived_lines(archive_root(config)) == files_before
    monkeypatch.undo()  # room again
    code, out = run(capsys, config, tmp_path, db_path, "buyer", "erase", "--customer", BUYER, "--yes")
    assert code == 0 and BUYER not in str(dump(db_path)) and BUYER.encode() not in db_path.read_bytes(), out


@pytest.mark.usefixtures("filled")
def test_buyer_erase_whose_vacuum_meets_a_full_disk_still_erases_everywhere_and_says_what_is_left(
    config: Config, db_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The room checked before taken meanwhile: the VACUUM fails on a full disk after the rows were deleted (a copy
    # into /dev/full fails as the disk does, ENOSPC). Before, the archive files kept the buyer's records.
    monkeypatch.setattr(buyer, "COMPACT", "VACUUM INTO '/dev/full'")
    code, out = run(capsys, config, tmp_path, db_path, "buyer", "erase", "--customer", BUYER, "--yes")
    assert code == 3 and "已删除" in out and "没有压缩" in out, out
    assert BUYER not in str(dump(db_path)) and OTHER in str(dump(db_path))
    for lines in archived_lines(archive_root(config)).values():
        assert BUYER.encode() not in b"".join(lines) and OTHER.encode() in b"".join(lines)
    monkeypatch.undo()  # room again: the same erase finds nothing more and compacts
    code, out = run(capsys, config, tmp_path, db_path, "buyer", "erase", "--customer", BUYER, "--yes")
    assert code == 0 and "没有压缩" not in out, out
