"""Names an earlier release left in the database when it archived a buyer's last day: the next `assistant archive`
takes them into the archive, where the buyer commands find them, on both stores."""

from __future__ import annotations

import gzip
import json
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from assistant import pg, store
from assistant.config import Config
from assistant.conversations import save_name
from assistant.daylog import names, orphan_names
from assistant.daylog.archive import archive, archive_root, read_summary, shop_dirname
from tests.helpers import BACKENDS, live_event, make_app, replace_config
from tests.pgcluster import PASSWORD_ENV
from tests.test_archive import NOW, day_ts
from tests.test_buyer import BUYER, OLD, OTHER, OTHER_PHONE, PHONE, chat, dump, run

pytestmark = BACKENDS
GONE = "buyer-gone"  # a buyer of whom nothing but the name is left (their archive files deleted by hand)
NAMES = {BUYER: "王女士", OTHER: "李先生", GONE: "赵先生"}


@pytest.fixture(autouse=True)
def password(db_path: store.Location, monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands run in this process read the PostgreSQL password from the environment, as they do."""
    if isinstance(db_path, pg.Location):
        monkeypatch.setenv(PASSWORD_ENV, db_path.password or "")


@pytest.fixture
def config(config: Config, tmp_path: Path) -> Config:
    return replace_config(config, "store", archive_dir=str(tmp_path / "archive"))


@pytest.fixture
async def earlier(
    aiohttp_client: Any, config: Config, db_path: store.Location, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log as an earlier release left it: BUYER's days (the old ones) archived without their name, which stays
    in customer_names with no message; OTHER writes today too."""
    client = await aiohttp_client(make_app(config))
    for i, day in enumerate(OLD):
        for who, phone in ((BUYER, PHONE), (OTHER, OTHER_PHONE)):
            assert (await client.post("/v1/events", json=chat(who, phone, day_ts(day, 10 + i), i))).status == 200
    assert (await client.post("/v1/events", json=chat(OTHER, OTHER_PHONE, live_event()["ts"], 9))).status == 200
    await client.close()
    with closing(store.connect(db_path)) as conn, store.transaction(conn):
        for who, name in NAMES.items():
            save_name(conn, "shop1", who, name)
    with monkeypatch.context() as earlier_release:  # it archived a day without looking at names
        earlier_release.setattr(names, "note", lambda *args: None)
        archive(config, db_path, NOW)
    assert len(dump(db_path)["customer_names"]) == 3
    assert not any(b"customer_name" in line for lines in archived(config).values() for line in lines)


def archived(config: Config) -> dict[str, list[bytes]]:
    root = archive_root(config)
    return {str(p.relative_to(root)): gzip.decompress(p.read_bytes()).splitlines() for p in sorted(root.rglob("*.gz"))}


def name_records(config: Config) -> dict[str, list[dict[str, Any]]]:
    """The name records of each archive file holding any."""
    found = {}
    for name, lines in archived(config).items():
        records = [json.loads(line)["customer_name"] for line in lines if b'"customer_name"' in line]
        if records:
            found[name] = records
    return found


LAST = f"{shop_dirname('shop1')}/{OLD[1].isoformat()}.jsonl.gz"  # BUYER's last day


@pytest.mark.usefixtures("earlier")
async def test_archive_takes_the_names_an_earlier_release_left_and_the_buyer_commands_find_them(
    config: Config, db_path: store.Location, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found: names of buyers whose days an earlier release archived stayed in the database with no message left.
    code, out = run(capsys, config, tmp_path, db_path, "archive", "--dry-run")
    assert code == 0 and "2 位顾客的姓名" in out, out  # BUYER's and GONE's: OTHER still writes
    assert len(dump(db_path)["customer_names"]) == 3
    code, out = run(capsys, config, tmp_path, db_path, "archive")
    assert code == 0, out
    assert "1 个归档文件" in out and "删除 1 个" in out, out
    assert dump(db_path)["customer_names"] == [repr(("shop1", OTHER, "李先生"))]  # OTHER has messages today
    assert name_records(config) == {LAST: [{"shop": "shop1", "customer": BUYER, "name": "王女士"}]}
    read_summary(archive_root(config) / LAST)  # whole and checked against its new footer
    before = archived(config)
    code, out = run(capsys, config, tmp_path, db_path, "archive")  # nothing left to take: nothing changes
    assert code == 0 and archived(config) == before, out

    out_dir = tmp_path / "handover"
    out_dir.mkdir(mode=0o700)
    code, out = run(capsys, config, tmp_path, db_path, "buyer", "export", "--customer", BUYER,
                    "--out", str(out_dir / "buyer.jsonl"))  # fmt: skip
    assert code == 0, out
    lines = [json.loads(line) for line in (out_dir / "buyer.jsonl").read_text().splitlines()]
    assert [line["record"]["customer_name"]["name"] for line in lines if "customer_name" in line.get("record", {})] == [
        "王女士"
    ]
    code, out = run(capsys, config, tmp_path, db_path, "log", "--date", OLD[1].isoformat(), "--format", "jsonl")
    assert code == 0 and BUYER in out and "王女士" not in out, out  # the day reads back as before
    code, out = run(capsys, config, tmp_path, db_path, "buyer", "erase", "--customer", BUYER, "--yes")
    assert code == 0, out
    assert name_records(config) == {}


@pytest.mark.usefixtures("earlier")
async def test_archive_stopped_between_the_file_and_the_database_finishes_on_the_next_run(
    config: Config, db_path: store.Location, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as stopped:  # the run dies once the file holds the name, before the transaction
        stopped.setattr(orphan_names, "_FORGET", "SELECT no_such_column FROM customer_names WHERE ? AND ? AND ?")
        with pytest.raises(Exception, match="no_such_column"):
            orphan_names.take(config, db_path)
    assert len(dump(db_path)["customer_names"]) == 3  # nothing deleted: the transaction did not happen
    assert name_records(config) == {LAST: [{"shop": "shop1", "customer": BUYER, "name": "王女士"}]}
    written = archived(config)
    taken = orphan_names.take(config, db_path)
    assert (sum(taken.placed.values()), taken.dropped, taken.kept) == (1, 1, {})
    assert archived(config) == written  # the name is not written twice
    assert dump(db_path)["customer_names"] == [repr(("shop1", OTHER, "李先生"))]


@pytest.mark.usefixtures("earlier")
async def test_archive_keeps_the_names_of_a_shop_whose_archive_cannot_be_read(
    config: Config, db_path: store.Location, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    damaged = archive_root(config) / shop_dirname("shop1") / f"{OLD[0].isoformat()}.jsonl.gz"
    lines = gzip.decompress(damaged.read_bytes()).splitlines()
    damaged.write_bytes(gzip.compress(b"\n".join(lines[:-2] + lines[-1:]) + b"\n"))  # a record taken out by hand
    code, out = run(capsys, config, tmp_path, db_path, "archive")
    assert code == 0 and "仍留在数据库中" in out and damaged.name in out, out
    assert len(dump(db_path)["customer_names"]) == 3  # BUYER's last day may be in the file that cannot be read
    assert name_records(config) == {}
