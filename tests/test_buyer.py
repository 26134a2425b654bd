"""`assistant buyer find|export|erase`: one buyer's data found, handed over and erased everywhere, on both stores."""

from __future__ import annotations

import gzip
import json
import zipfile
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from assistant import pg, store
from assistant.cli.main import main
from assistant.config import Config
from assistant.conversations import Conversations, save_name
from assistant.daylog.archive import archive, archive_root, read_summary, shop_dirname
from tests.helpers import BACKENDS, live_event, make_app, replace_config
from tests.pgcluster import PASSWORD_ENV
from tests.test_archive import NOW, TODAY, day_ts, write_config

pytestmark = BACKENDS
BUYER, PHONE = "buyer-erased", "13900007777"
OTHER, OTHER_PHONE = "buyer-kept", "13800005555"
OLD = [TODAY - timedelta(days=d) for d in (200, 190)]


@pytest.fixture(autouse=True)
def password(db_path: store.Location, monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands run in this process read the PostgreSQL password from the environment, as they do."""
    if isinstance(db_path, pg.Location):
        monkeypatch.setenv(PASSWORD_ENV, db_path.password or "")


@pytest.fixture
def config(config: Config, tmp_path: Path) -> Config:
    return replace_config(config, "store", archive_dir=str(tmp_path / "archive"))


def chat(customer: str, phone: str, ts: str, n: int) -> list[dict[str, Any]]:
    """A conversation of `customer`: a question with their phone number, an answer, an order and its payment."""
    conv = f"conv-{customer}-{ts[:10]}"
    base = {"shop": "shop1", "conversation": conv, "customer": customer, "ts": ts}
    return [
        {**base, "id": f"{conv}-{n}-q", "type": "message", "sender": "customer", "text": f"我的电话{phone}，什么时候发货"},
        {**base, "id": f"{conv}-{n}-a", "type": "message", "sender": "agent", "agent": "小美", "text": "亲，今天发"},
        {**base, "id": f"{conv}-{n}-o", "type": "order_created", "order": f"o-{conv}", "amount": 59.9, "agent": "小美"},
        {**base, "id": f"{conv}-{n}-p", "type": "order_paid", "order": f"o-{conv}", "amount": 59.9},
    ]  # fmt: skip


@pytest.fixture
async def filled(aiohttp_client: Any, config: Config, db_path: store.Location) -> None:
    """Two buyers chatting on two old days (archived) and today, logged through the webhook."""
    client = await aiohttp_client(make_app(config))
    for i, day in enumerate(OLD):
        for who, phone in ((BUYER, PHONE), (OTHER, OTHER_PHONE)):
            assert (await client.post("/v1/events", json=chat(who, phone, day_ts(day, 10 + i), i))).status == 200
    for who, phone in ((BUYER, PHONE), (OTHER, OTHER_PHONE)):
        now = live_event()["ts"]
        events = chat(who, phone, now, 9)
        events.append(live_event(shop="shop1", conversation=events[0]["conversation"], customer=who, sender="agent",
                                 agent="小美", text=f"加我微信吧，电话{phone}"))  # fmt: skip
        assert (await client.post("/v1/events", json=events)).status == 200
    await client.close()
    archive(config, db_path, NOW)


def run(capsys: pytest.CaptureFixture[str], config: Config, tmp_path: Path, db: Any, *argv: str) -> tuple[int, str]:
    code = main([*argv, "--config", str(write_config(tmp_path, db))])
    out, err = capsys.readouterr()
    return code, out + err


def dump(db: store.Location) -> dict[str, list[str]]:
    """Every row of every table, as text."""
    with closing(store.connect(db)) as conn:
        if isinstance(db, pg.Location):
            names = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")]
        else:
            names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: sorted(repr(tuple(r)) for r in conn.execute(f"SELECT * FROM {t}")) for t in names}


def archived_lines(root: Path) -> dict[str, list[bytes]]:
    return {str(p.relative_to(root)): gzip.decompress(p.read_bytes()).splitlines() for p in sorted(root.rglob("*.gz"))}


WATERMARKS = ("timers_watermark", "derived_watermark", "_assistant_migrations", "_migrations")


@pytest.mark.usefixtures("filled")
async def test_buyer_erase_removes_everything_of_theirs_and_nothing_else(
    config: Config, db_path: store.Location, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(capsys, config, tmp_path, db_path, "buyer", "find", "--customer", BUYER)
    assert code == 0, out
    for table in ("events", "messages", "orders", "payments", "conversations", "timers"):
        assert f"  {table}  " in out, out
    assert out.count(".jsonl.gz") == 2  # one archived day each
    before, files_before = dump(db_path), archived_lines(archive_root(config))

    code, out = run(capsys, config, tmp_path, db_path, "buyer", "erase", "--customer", BUYER, "--dry-run")
    assert code == 0 and dump(db_path) == before and archived_lines(archive_root(config)) == files_before
    if not isinstance(db_path, pg.Location):  # a running service holds the file (and the buyer's conversations)
        held = store.hold_alone(Path(db_path))
        try:
            code, out = run(capsys, config, tmp_path, db_path, "buyer", "erase", "--customer", BUYER, "--yes")
        finally:
            store.let_go(held)
        assert code == 1 and "请先停止服务" in out and dump(db_path) == before, out
    code, out = run(capsys, config, tmp_path, db_path, "buyer", "erase", "--customer", BUYER, "--yes")
    assert code == 0 and "已删除" in out, out

    after = dump(db_path)
    text = json.dumps(after, ensure_ascii=False)
    assert BUYER not in text and PHONE not in text, [
        (t, r) for t, rows in after.items() for r in rows if BUYER in r or PHONE in r
    ]
    assert OTHER in text and OTHER_PHONE in text
    kept = {t: [r for r in rows if BUYER not in r and PHONE not in r] for t, rows in before.items()}
    assert {t: r for t, r in after.items() if t not in WATERMARKS} == {
        t: r for t, r in kept.items() if t not in WATERMARKS
    }
    if not isinstance(db_path, pg.Location):  # nothing of theirs left in the file's free pages either
        for path in (db_path, Path(f"{db_path}-wal")):
            if path.exists():
                data = path.read_bytes()
                assert BUYER.encode() not in data and PHONE.encode() not in data, path

    files_after = archived_lines(archive_root(config))
    assert files_after.keys() == files_before.keys()
    for name, lines in files_after.items():
        assert BUYER.encode() not in b"".join(lines) and PHONE.encode() not in b"".join(lines)
        others = [line for line in files_before[name][1:-1] if BUYER.encode() not in line]
        assert lines[1:-1] == others and lines[0] == files_before[name][0]  # the others' records byte for byte
        assert read_summary(archive_root(config) / name).records == len(others) == 4
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in archive_root(config).rglob("*.gz"))

    code, out = run(capsys, config, tmp_path, db_path, "buyer", "find", "--customer", BUYER)
    assert code == 0 and f"{BUYER}：共 0 行和记录" in out, out
    for day in OLD:
        code, out = run(capsys, config, tmp_path, db_path, "log", "--date", day.isoformat(), "--format", "jsonl")
        assert code == 0 and OTHER in out and BUYER not in out, out
    code, out = run(capsys, config, tmp_path, db_path, "archive")
    assert code == 0, out
    # The service's lock was closed, not released: a second erasure in one process was refused as a running service.
    code, out = run(capsys, config, tmp_path, db_path, "buyer", "erase", "--customer", OTHER, "--yes")
    assert code == 0 and "已删除" in out, out


@pytest.mark.usefixtures("filled")
async def test_buyer_export_writes_their_rows_and_archived_records(
    config: Config, db_path: store.Location, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "handover"
    out_dir.mkdir(mode=0o700)
    code, out = run(capsys, config, tmp_path, db_path, "buyer", "export", "--customer", BUYER,
                    "--out", str(out_dir / "buyer.zip"))  # fmt: skip
    assert code == 0, out
    assert (out_dir / "buyer.zip").stat().st_mode & 0o777 == 0o600
    with zipfile.ZipFile(out_dir / "buyer.zip") as packed:
        lines = [json.loads(line) for line in packed.read("buyer.jsonl").decode().splitlines()]
    assert lines[0] == {"buyer": BUYER, "shop": None}
    tables = {line["table"] for line in lines if "table" in line}
    assert {"events", "messages", "orders", "payments", "conversations"} <= tables
    archived = [line for line in lines if "archive" in line]
    assert len(archived) == 2 * 4 and {line["date"] for line in archived} == {d.isoformat() for d in OLD}
    assert PHONE in json.dumps(lines, ensure_ascii=False) and OTHER not in json.dumps(lines, ensure_ascii=False)


def cut_short(root: Path, shop: str, day: str) -> Path:
    """An archive file of `shop` cut before its footer, holding one record of someone else."""
    path = root / shop_dirname(shop) / f"{day}.jsonl.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [{"archive": 1, "shop": shop, "date": day, "timezone": "Asia/Shanghai"},
             {"event": {"id": "x1", "shop": shop, "customer": "someone", "conversation": "c", "raw": {}}}]  # fmt: skip
    path.write_bytes(gzip.compress("".join(json.dumps(line) + "\n" for line in lines).encode()))
    return path


@pytest.mark.usefixtures("filled")
async def test_buyer_commands_carry_on_past_another_shops_damaged_archive_file(
    config: Config, db_path: store.Location, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A cut-short file of another shop stopped find, export and erase for every buyer (exit 1 naming it). Find
    and export now list it and go on, exit 3 (the answer may be incomplete); erase refuses, nothing erased, and
    says --shop erases this buyer's data without that file."""
    root = archive_root(config)
    damaged = cut_short(root, "shop2", "2026-10-02")
    code, out = run(capsys, config, tmp_path, db_path, "buyer", "find", "--customer", BUYER)
    assert code == 3, out
    assert out.count(".jsonl.gz  ") == 2 and str(damaged) in out and "可能有此买家的记录" in out, out
    out_dir = tmp_path / "handover"
    out_dir.mkdir(mode=0o700)
    code, out = run(capsys, config, tmp_path, db_path, "buyer", "export", "--customer", BUYER,
                    "--out", str(out_dir / "buyer.jsonl"))  # fmt: skip
    assert code == 3 and str(damaged) in out, out
    lines = [json.loads(line) for line in (out_dir / "buyer.jsonl").read_text().splitlines()]
    assert len([line for line in lines if "archive" in line]) == 2 * 4

    before, files_before = dump(db_path), archived_lines(root)
    for extra in ([], ["--dry-run"]):
        code, out = run(capsys, config, tmp_path, db_path, "buyer", "erase", "--customer", BUYER, "--yes", *extra)
        assert code == 1 and str(damaged) in out and "--shop" in out and "shop1" in out, out
        assert dump(db_path) == before and archived_lines(root) == files_before
    code, out = run(
        capsys, config, tmp_path, db_path, "buyer", "erase", "--customer", BUYER, "--shop", "shop1", "--yes"
    )
    assert code == 0 and "已删除" in out, out
    assert BUYER not in json.dumps(dump(db_path), ensure_ascii=False)
    assert damaged.exists()  # left for the operator to restore


@pytest.mark.usefixtures("filled")
async def test_buyer_erase_refuses_while_a_file_of_their_own_shop_is_damaged(
    config: Config, db_path: store.Location, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A damaged file of the buyer's own shop may hold their records: erasing the rest would leave those behind."""
    damaged = cut_short(archive_root(config), "shop1", "2026-10-02")
    before = dump(db_path)
    code, out = run(
        capsys, config, tmp_path, db_path, "buyer", "erase", "--customer", BUYER, "--shop", "shop1", "--yes"
    )
    assert code == 1 and str(damaged) in out and "--shop" not in out and "备份" in out, out
    assert dump(db_path) == before


@pytest.mark.usefixtures("filled")
async def test_buyer_commands_count_a_missing_archived_day_as_unreadable(
    config: Config, db_path: store.Location, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An archived day's file missing (the archive directory not restored yet) was skipped: erase said it was
    done, and restoring the file brought the buyer's chats back."""
    kept = tmp_path / "kept.gz"
    missing = next(archive_root(config).joinpath(shop_dirname("shop1")).glob("*.jsonl.gz"))
    missing.rename(kept)
    code, out = run(capsys, config, tmp_path, db_path, "buyer", "find", "--customer", BUYER)
    assert code == 3 and str(missing) in out, out
    before = dump(db_path)
    code, out = run(capsys, config, tmp_path, db_path, "buyer", "erase", "--customer", BUYER, "--yes")
    assert code == 1 and str(missing) in out and "备份" in out and dump(db_path) == before, out
    kept.rename(missing)
    code, out = run(capsys, config, tmp_path, db_path, "buyer", "erase", "--customer", BUYER, "--yes")
    assert code == 0 and "已删除" in out, out


@pytest.mark.usefixtures("filled")
async def test_buyer_commands_find_export_and_erase_the_name_a_platform_gave_them(
    config: Config, db_path: store.Location, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found: a Chatwoot contact's name heading their cards is kept across restarts; the buyer commands must cover it.
    with closing(store.connect(db_path)) as conn, store.transaction(conn):
        for who, name in ((BUYER, "王女士"), (BUYER, "王小姐"), (OTHER, "李先生")):  # a renamed contact: one row
            save_name(conn, "shop1", who, name)
    code, out = run(capsys, config, tmp_path, db_path, "buyer", "find", "--customer", BUYER)
    assert code == 0 and "  customer_names  1 行" in out, out
    out_dir = tmp_path / "handover"
    out_dir.mkdir(mode=0o700)
    code, out = run(capsys, config, tmp_path, db_path, "buyer", "export", "--customer", BUYER,
                    "--out", str(out_dir / "buyer.jsonl"))  # fmt: skip
    assert code == 0, out
    lines = [json.loads(line) for line in (out_dir / "buyer.jsonl").read_text().splitlines()]
    names = [line["row"] for line in lines if line.get("table") == "customer_names"]
    assert names == [{"shop": "shop1", "customer": BUYER, "name": "王小姐"}]

    code, out = run(capsys, config, tmp_path, db_path, "buyer", "erase", "--customer", BUYER, "--yes")
    assert code == 0, out
    assert dump(db_path)["customer_names"] == [repr(("shop1", OTHER, "李先生"))]
    restarted = Conversations(db_path)  # what a service started after the erasure remembers
    try:
        assert restarted.customer_name("shop1", BUYER) is None
        assert restarted.customer_name("shop1", OTHER) == "李先生"
    finally:
        restarted.close()


async def test_archive_takes_a_buyers_name_with_their_last_message_and_the_buyer_commands_find_it(
    aiohttp_client: Any, config: Config, db_path: store.Location, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found: archiving every day of a buyer's left their Chatwoot name in customer_names, a name of no message.
    client = await aiohttp_client(make_app(config))
    for i, day in enumerate(OLD):  # BUYER writes on the old days alone, OTHER on those and today
        for who, phone in ((BUYER, PHONE), (OTHER, OTHER_PHONE)):
            assert (await client.post("/v1/events", json=chat(who, phone, day_ts(day, 10 + i), i))).status == 200
    assert (await client.post("/v1/events", json=chat(OTHER, OTHER_PHONE, live_event()["ts"], 9))).status == 200
    await client.close()
    with closing(store.connect(db_path)) as conn, store.transaction(conn):
        for who, name in ((BUYER, "王女士"), (OTHER, "李先生")):
            save_name(conn, "shop1", who, name)
    archive(config, db_path, NOW)
    assert dump(db_path)["customer_names"] == [repr(("shop1", OTHER, "李先生"))]
    files = archived_lines(archive_root(config))
    last = f"{shop_dirname('shop1')}/{OLD[1].isoformat()}.jsonl.gz"
    named = {name: [line for line in lines if b"customer_name" in line] for name, lines in files.items()}
    assert named == {name: [] for name in files} | {last: [json.dumps(
        {"customer_name": {"shop": "shop1", "customer": BUYER, "name": "王女士"}}, ensure_ascii=False,
        separators=(",", ":")).encode()]}  # fmt: skip
    code, out = run(capsys, config, tmp_path, db_path, "log", "--date", OLD[1].isoformat(), "--format", "jsonl")
    assert code == 0 and BUYER in out and "王女士" not in out, out  # the day reads back as before
    out_dir = tmp_path / "handover"
    out_dir.mkdir(mode=0o700)
    code, out = run(capsys, config, tmp_path, db_path, "buyer", "export", "--customer", BUYER,
                    "--out", str(out_dir / "buyer.jsonl"))  # fmt: skip
    assert code == 0, out
    lines = [json.loads(line) for line in (out_dir / "buyer.jsonl").read_text().splitlines()]
    assert [line["record"]["customer_name"]["name"] for line in lines if "customer_name" in line.get("record", {})] == [
        "王女士"
    ]
    code, out = run(capsys, config, tmp_path, db_path, "buyer", "erase", "--customer", BUYER, "--yes")
    assert code == 0, out
    assert b"\xe7\x8e\x8b\xe5\xa5\xb3\xe5\xa3\xab" not in b"".join(archived_lines(archive_root(config))[last])  # 王女士
    assert dump(db_path)["customer_names"] == [repr(("shop1", OTHER, "李先生"))]
