"""Retention: old days move to one verified file per shop per day, safely, even when the run is killed."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from contextlib import closing
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from assistant import pg, store, upgrade
from assistant.config import Config, load_config
from assistant.daylog.archive import (
    ArchiveError,
    ShopDay,
    archive,
    archive_path,
    archive_root,
    read_records,
    read_summary,
    shop_dirname,
)
from assistant.daylog.query import DayQuery, Rules, iter_items
from assistant.daylog.source import open_day
from assistant.events import parse_event
from tests.helpers import BACKENDS, ROOT, eventually, replace_config
from tests.pgcluster import PASSWORD_ENV

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=load_config(None, env={}).tz)
TODAY = NOW.date()


def day_ts(day: date, hour: int, minute: int = 0, second: int = 0) -> str:
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}:{second:02d}+08:00"


def add_events(db: store.Location, raws: list[dict[str, Any]]) -> None:
    with closing(store.connect(db)) as conn:
        upgrade.migrate(conn)
        with store.transaction(conn):
            for raw in raws:
                store.insert_event(conn, parse_event(raw, max_text_chars=5000))


def chat(day: date, shop: str, conv: str, n: int, *, start_hour: int = 10) -> list[dict[str, Any]]:
    """`n` events of one conversation on `day`: alternating customer and agent messages, then an order."""
    raws: list[dict[str, Any]] = []
    for i in range(n):
        ts = day_ts(day, start_hour + i // 60, i % 60)
        base = {"id": f"{shop}-{conv}-{day.isoformat()}-{i}", "ts": ts, "shop": shop, "conversation": conv,
                "customer": f"buyer-{conv}"}  # fmt: skip
        if i == n - 1:
            raws.append({**base, "type": "order_created", "order": f"o-{conv}-{day}", "amount": 59.9, "agent": "小美"})
        elif i % 2 == 0:
            raws.append({**base, "type": "message", "sender": "customer", "text": f"第{i}句 电话13812345678"})
        else:
            raws.append({**base, "type": "message", "sender": "agent", "agent": "小美", "text": "好的亲"})
    return raws


def event_ids(db: store.Location) -> set[str]:
    with closing(store.connect(db)) as conn:
        return {row[0] for row in conn.execute("SELECT id FROM events")}


def archived_ids(root: Path) -> Counter[str]:
    """Event ids in the archive files at their final names; every such file must be complete."""
    found: Counter[str] = Counter()
    for path in sorted(root.rglob("*.jsonl.gz")):
        read_summary(path)  # raises on an incomplete or damaged file
        found.update(r["event"]["id"] for r in read_records(path) if "event" in r)
    return found


def check_nothing_lost(db: store.Location, root: Path, expected: set[str], *, settled: bool) -> None:
    in_db = event_ids(db)
    in_files = archived_ids(root) if root.exists() else Counter()
    missing = expected - in_db - set(in_files)
    assert not missing, f"{len(missing)} events neither in the database nor in a complete archive"
    if settled:
        assert not (in_db & set(in_files)), "events both in the database and in an archive after a rerun"
        assert all(n == 1 for n in in_files.values()), "an event archived twice"
        assert not list(root.rglob("*.tmp"))


pytestmark = BACKENDS


@pytest.fixture
def config(config: Config, tmp_path: Path) -> Config:
    """The shipped config on a temporary database and archive directory."""
    return replace_config(config, "store", archive_dir=str(tmp_path / "archive"))


def archiving_on(config: Config, tmp_path: Path, db_path: store.Location, monkeypatch: pytest.MonkeyPatch) -> Config:
    """`config` archiving into tmp_path on `db_path` (SQLite or PostgreSQL), its schema migrated."""
    if isinstance(db_path, pg.Location):
        monkeypatch.setenv("ASSISTANT_PG_PASSWORD", db_path.password or "")
    with closing(store.connect(db_path)) as conn:
        upgrade.migrate(conn)
    return replace_config(config, "store", archive_dir=str(tmp_path / "archive"))


@pytest.fixture
def old_days() -> list[date]:
    return [TODAY - timedelta(days=d) for d in (200, 199, 190)]


@pytest.fixture
def filled(db_path: Path, old_days: list[date]) -> set[str]:
    """Three old days in two shops, and one recent day that must stay."""
    raws: list[dict[str, Any]] = []
    for day in old_days:
        raws += chat(day, "shop1", "c1", 9) + chat(day, "shop2", "c2", 5)
    raws += chat(TODAY - timedelta(days=3), "shop1", "recent", 4)
    add_events(db_path, raws)
    return {r["id"] for r in raws}


def test_archive_moves_old_days_into_one_file_per_shop_per_day(
    config: Config, db_path: Path, filled: set[str], old_days: list[date]
) -> None:
    outcome = archive(config, db_path, NOW)
    assert sorted(sd for sd, _ in outcome.days) == sorted(ShopDay(d, s) for d in old_days for s in ("shop1", "shop2"))
    assert outcome.written == 6
    for day in old_days:
        for shop, n in (("shop1", 9), ("shop2", 5)):
            path = archive_path(config, ShopDay(day, shop))
            assert read_summary(path).records == n
            assert {r["event"]["id"] for r in read_records(path)} == {f"{shop}-c{shop[-1]}-{day}-{i}" for i in range(n)}
    assert event_ids(db_path) == {i for i in filled if "recent" in i}
    check_nothing_lost(db_path, archive_root(config), filled, settled=True)


def test_archive_files_are_private(config: Config, db_path: Path, filled: set[str], old_days: list[date]) -> None:
    archive(config, db_path, NOW)
    files = [p for p in archive_root(config).rglob("*.jsonl.gz")]
    assert len(files) == 6
    assert {p.stat().st_mode & 0o777 for p in files} == {0o600}


def test_archive_file_is_gzipped_jsonl_with_header_and_footer(config: Config, db_path: Path, filled: set[str]) -> None:
    archive(config, db_path, NOW)
    path = archive_path(config, ShopDay(TODAY - timedelta(days=200), "shop2"))
    lines = [json.loads(line) for line in gzip.open(path, "rt", encoding="utf-8")]
    assert lines[0] == {"archive": 1, "shop": "shop2", "date": (TODAY - timedelta(days=200)).isoformat(),
                        "timezone": "Asia/Shanghai"}  # fmt: skip
    assert lines[-1]["end"] is True and lines[-1]["records"] == 5
    message = lines[1]
    assert message["event"]["raw"]["text"].startswith("第0句") and message["message"]["sender"] == "customer"


def test_archive_keeps_recent_days_and_rerun_changes_nothing(config: Config, db_path: Path, filled: set[str]) -> None:
    archive(config, db_path, NOW)
    before = {p: p.stat().st_mtime_ns for p in archive_root(config).rglob("*.jsonl.gz")}
    again = archive(config, db_path, NOW)
    assert again.days == [] and again.written == 0
    assert {p: p.stat().st_mtime_ns for p in archive_root(config).rglob("*.jsonl.gz")} == before


def test_archive_dry_run_changes_nothing(config: Config, db_path: Path, filled: set[str]) -> None:
    outcome = archive(config, db_path, NOW, dry_run=True)
    assert len(outcome.days) == 6 and sum(n for _, n in outcome.days) == 3 * (9 + 5)
    assert event_ids(db_path) == filled
    assert not archive_root(config).exists()


def test_archive_log_reads_an_archived_day_as_before(config: Config, db_path: Path, old_days: list[date]) -> None:
    day = old_days[0]
    add_events(db_path, chat(day, "shop1", "c1", 9) + chat(day - timedelta(days=1), "shop1", "c0", 3)
               + chat(day + timedelta(days=1), "shop1", "c1", 2, start_hour=0))  # fmt: skip
    rules = Rules.from_config(config)

    def read(shop: str | None = None) -> list[Any]:
        with open_day(config, db_path, day, shop) as conn:
            return list(iter_items(conn, DayQuery(day, shop=shop), rules))

    before = read()
    assert len(before) == 9
    archive(config, db_path, NOW)
    assert not event_ids(db_path)
    assert read() == before
    assert read("shop1") == before
    assert read("shop9") == []


def test_archive_log_merges_archive_and_live_rows(config: Config, db_path: Path, old_days: list[date]) -> None:
    day = old_days[0]
    add_events(db_path, chat(day, "shop1", "c1", 9))
    archive(config, db_path, NOW)
    late = chat(day, "shop1", "late", 3, start_hour=20)
    add_events(db_path, late)  # a late delivery for a day already archived
    with open_day(config, db_path, day) as conn:
        items = list(iter_items(conn, DayQuery(day), Rules.from_config(config)))
    assert [i["conversation"] for i in items] == ["c1"] * 9 + ["late"] * 3


def test_archive_merges_late_events_into_the_days_file(config: Config, db_path: Path, filled: set[str]) -> None:
    archive(config, db_path, NOW)
    day = TODAY - timedelta(days=199)
    late = chat(day, "shop2", "late", 3, start_hour=22)
    add_events(db_path, late)
    outcome = archive(config, db_path, NOW)
    assert outcome.days == [(ShopDay(day, "shop2"), 3)] and outcome.written == 1
    assert read_summary(archive_path(config, ShopDay(day, "shop2"))).records == 5 + 3
    check_nothing_lost(db_path, archive_root(config), filled | {r["id"] for r in late}, settled=True)


def test_archive_redelivered_event_is_deleted_not_archived_twice(
    config: Config, db_path: Path, filled: set[str]
) -> None:
    archive(config, db_path, NOW)
    day = TODAY - timedelta(days=190)
    add_events(db_path, chat(day, "shop1", "c1", 9)[:2])  # the platform redelivers two archived events
    archive(config, db_path, NOW)
    assert read_summary(archive_path(config, ShopDay(day, "shop1"))).records == 9
    check_nothing_lost(db_path, archive_root(config), filled, settled=True)


class Interrupt(Exception):
    pass


@pytest.mark.parametrize("step", ["begin", "partial", "written", "renamed", "deleted"])
def test_archive_interrupted_at_each_step_loses_nothing(
    config: Config, db_path: Path, filled: set[str], step: str
) -> None:
    seen: list[str] = []

    def die(name: str, shop_day: ShopDay) -> None:
        seen.append(name)
        if name == step and seen.count(name) == 3:  # the third shop-day, mid-run
            raise Interrupt

    with pytest.raises(Interrupt):
        archive(config, db_path, NOW, on_step=die)
    check_nothing_lost(db_path, archive_root(config), filled, settled=False)
    archive(config, db_path, NOW)
    check_nothing_lost(db_path, archive_root(config), filled, settled=True)
    assert event_ids(db_path) == {i for i in filled if "recent" in i}


def test_archive_refuses_a_damaged_file_and_keeps_the_rows(config: Config, db_path: Path, filled: set[str]) -> None:
    day = TODAY - timedelta(days=200)
    path = archive_path(config, ShopDay(day, "shop1"))
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress(b'{"archive": 1}\n{"event": {"id": "x"}}\n'))  # no footer
    with pytest.raises(ArchiveError, match="没有结尾标记"):
        archive(config, db_path, NOW)
    assert event_ids(db_path) == filled


def test_archive_deletes_orders_and_conversations_with_their_last_event(config: Config, db_path: Path) -> None:
    old, recent = TODAY - timedelta(days=200), TODAY - timedelta(days=2)
    add_events(db_path, chat(old, "shop1", "gone", 4) + chat(old, "shop1", "kept", 4))
    paid_later = {"id": "pay-kept", "type": "order_paid", "ts": day_ts(recent, 9), "shop": "shop1",
                  "conversation": "kept", "customer": "buyer-kept", "order": f"o-kept-{old}", "amount": 59.9}  # fmt: skip
    add_events(db_path, [paid_later])
    archive(config, db_path, NOW)
    with closing(store.connect(db_path)) as conn:
        assert [tuple(r) for r in conn.execute("SELECT order_id FROM orders")] == [(f"o-kept-{old}",)]
        assert [tuple(r) for r in conn.execute("SELECT conversation FROM conversations")] == [("kept",)]
        assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 0


def test_archive_shop_names_stay_inside_the_archive_directory(config: Config, db_path: Path) -> None:
    day = TODAY - timedelta(days=200)
    add_events(db_path, chat(day, "../../etc", "c1", 3) + chat(day, "店铺/旗舰店", "c2", 3) + chat(day, ".", "c3", 3))
    archive(config, db_path, NOW)
    root = archive_root(config)
    dirs = sorted(p.name for p in root.iterdir() if p.is_dir())
    assert dirs == sorted(shop_dirname(s) for s in ("../../etc", "店铺/旗舰店", "."))
    assert all("/" not in d and not d.startswith(".") for d in dirs)
    assert len(list(root.rglob("*.jsonl.gz"))) == 3


def test_archive_moves_followups_of_old_days_and_keeps_pending_ones(config: Config, db_path: Path) -> None:
    day = TODAY - timedelta(days=200)
    add_events(db_path, chat(day, "shop1", "c1", 4))
    with closing(store.connect(db_path)) as conn:
        if not store.has_table(conn, "followups"):
            pytest.skip("the follow-ups table is not part of this build")
        fired = int(datetime.fromisoformat(day_ts(day, 11)).timestamp() * 1000)
        for fid, state in (("fu-failed", "failed"), ("fu-pending", "pending")):
            insert_followup(conn, id=fid, shop="shop1", conversation="c1", state=state, fired_ms=fired)
    archive(config, db_path, NOW)
    records = list(read_records(archive_path(config, ShopDay(day, "shop1"))))
    assert [r["followup"]["id"] for r in records if "followup" in r] == ["fu-failed"]
    with closing(store.connect(db_path)) as conn:
        assert [tuple(row) for row in conn.execute("SELECT id FROM followups")] == [("fu-pending",)]


def insert_followup(conn: sqlite3.Connection, **values: Any) -> None:
    """A follow-ups row with the given values and plausible defaults for the table's other columns."""
    defaults: dict[str, Any] = {"customer": "buyer", "agent": "小美", "kind": "followup", "text": "亲，还在吗",
                                "mode": "send", "attempts": 1, "armed_seq": 0, "due_ms": values.get("fired_ms", 0),
                                "updated_ms": values.get("fired_ms", 0)}  # fmt: skip
    columns = store.columns(conn, "followups")
    row = {c: values.get(c, defaults.get(c)) for c in columns if c in values or c in defaults}
    conn.execute(f"INSERT INTO followups ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})", list(row.values()))


# ---- killed for real --------------------------------------------------------------------------------------


def write_config(tmp_path: Path, db: store.Location) -> Path:
    path = tmp_path / "archive.toml"
    where = f'url = "{db.url}"\npassword_env = "{PASSWORD_ENV}"' if isinstance(db, pg.Location) else f'path = "{db}"'
    path.write_text(f'[store]\n{where}\narchive_dir = "{tmp_path / "archive"}"\nretention_days = 180\n')
    return path


def cli_env(db: store.Location) -> dict[str, str]:
    """The environment of an `assistant` subprocess: the database password, when there is one."""
    return {**os.environ, PASSWORD_ENV: db.password or ""} if isinstance(db, pg.Location) else dict(os.environ)


def many_days(db: store.Location, days: int, per_day: int) -> set[str]:
    today = date.today()
    raws: list[dict[str, Any]] = []
    for d in range(days):
        day = today - timedelta(days=181 + d)
        for shop in ("shop1", "shop2"):
            raws += chat(day, shop, "c", per_day)
    add_events(db, raws)
    return {r["id"] for r in raws}


def start_archive(config_path: Path, db: store.Location, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "assistant", "archive", "--config", str(config_path), *extra],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=cli_env(db),
    )  # fmt: skip


def rerun_archive(config_path: Path, db: store.Location) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "assistant", "archive", "--config", str(config_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=cli_env(db),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("step", ["begin", "partial", "written", "renamed", "deleted"])
def test_archive_sigkilled_at_each_step_then_rerun_loses_and_duplicates_nothing(
    tmp_path: Path, db_path: Path, step: str
) -> None:
    expected = many_days(db_path, days=4, per_day=30)
    config_path = write_config(tmp_path, db_path)
    with start_archive(config_path, db_path, "--pause-after", f"{step}:3") as proc:  # mid-run: the third shop-day
        assert proc.stderr is not None
        said: list[str] = []  # what the run said, to tell why when it ended by itself
        seen = 0
        for line in proc.stderr:
            said.append(line)
            if line.startswith(f"archive-step {step} "):
                seen += 1
                if seen == 3:  # the run now sleeps right after this step
                    proc.send_signal(signal.SIGKILL)
                    break
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL, "".join(said[-40:])
    root = tmp_path / "archive"
    check_nothing_lost(db_path, root, expected, settled=False)
    rerun_archive(config_path, db_path)
    check_nothing_lost(db_path, root, expected, settled=True)
    assert not event_ids(db_path)
    assert len(list(root.rglob("*.jsonl.gz"))) == 8


def archive_seconds(tmp_path: Path, db: store.Location) -> float:
    """How long an uninterrupted run takes here, measured on a copy of the database."""
    trial = tmp_path / "trial"
    trial.mkdir()
    copy: store.Location
    if isinstance(db, pg.Location):
        pg.close_pools(db)  # a template database must have no other connection
        base, name = db.url.rsplit("/", 1)
        with psycopg.connect(f"{base}/postgres", password=db.password, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}_trial" TEMPLATE "{name}"')
        copy = pg.Location(f"{base}/{name}_trial", db.password)
    else:
        copy = trial / "copy.db"
        with closing(sqlite3.connect(db)) as source, closing(sqlite3.connect(copy)) as target:
            source.backup(target)
    started = time.monotonic()
    rerun_archive(write_config(trial, copy), copy)
    return time.monotonic() - started


@pytest.mark.slow
async def test_archive_sigkilled_at_random_moments_never_loses_an_event(tmp_path: Path, db_path: Path) -> None:
    expected = many_days(db_path, days=40, per_day=150)
    config_path = write_config(tmp_path, db_path)
    whole = archive_seconds(tmp_path, db_path)
    root = tmp_path / "archive"
    rng = random.Random(9)
    kills = 0
    for _ in range(6):
        files = len(list(root.rglob("*.jsonl.gz")))
        with start_archive(config_path, db_path) as proc:
            # Once the run has archived a shop-day, kill it at a random moment within the next few.
            def archived_one(proc: subprocess.Popen[str] = proc, files: int = files) -> bool:
                return proc.poll() is not None or len(list(root.rglob("*.jsonl.gz"))) > files

            await eventually(archived_one, timeout=60, interval=0.002)
            await asyncio.sleep(rng.uniform(0, 0.1) * whole)  # the random moment of the kill, not a wait
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                kills += 1
            proc.wait(30)
        check_nothing_lost(db_path, root, expected, settled=False)
    rerun_archive(config_path, db_path)
    check_nothing_lost(db_path, root, expected, settled=True)
    assert not event_ids(db_path) and kills >= 4


def test_archive_cli_dry_run_lists_shop_days(tmp_path: Path, db_path: Path) -> None:
    many_days(db_path, days=2, per_day=3)
    out = subprocess.run(
        [sys.executable, "-m", "assistant", "archive", "--config", str(write_config(tmp_path, db_path)), "--dry-run"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env=cli_env(db_path),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("  3 行\n") == 4 and "的 4 个店铺日（12 行）" in out.stdout  # in [ui] language
    assert len(event_ids(db_path)) == 12
