"""Upgrades (assistant/upgrade.py): a file a newer release migrated is refused, a command does not migrate under a
running service, and what an older release logged after the migrations is derived at the next start."""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import cast

import pytest
from sqlite_utils import Database

from assistant import pg, schema, store, upgrade
from assistant.cli import main
from assistant.writer import Writer
from tests.helpers import BACKENDS, eventually

TS = 1_796_354_700_000  # 2026-12-04 10:05 +08:00


def rows(db: store.Location, sql: str) -> list[tuple[object, ...]]:
    conn = store.connect(db)
    try:
        return [tuple(r) for r in conn.execute(sql)]
    finally:
        conn.close()


def run(db: store.Location, *statements: tuple[str, tuple[object, ...]]) -> None:
    conn = store.connect(db)
    try:
        for sql, params in statements:
            conn.execute(sql, params)
    finally:
        conn.close()


def old_event(seq: int, type: str, agent: str | None, **raw: object) -> tuple[str, tuple[object, ...]]:
    """An event row as a release that derives nothing more wrote it (events, and its own tables only)."""
    body = {"id": f"e{seq}", "type": type, "shop": "s", "conversation": "c1", "customer": "u1", **raw}
    return (
        "INSERT INTO events (seq, id, type, ts_ms, shop, conversation, customer, agent, received_ms, raw)"
        " VALUES (?, ?, ?, ?, 's', 'c1', 'u1', ?, ?, ?)",
        (seq, f"e{seq}", type, TS + seq, agent, TS + seq, json.dumps(body, ensure_ascii=False)),
    )


def migrations_table(db: store.Location) -> str:
    return "_assistant_migrations" if isinstance(db, pg.Location) else "_sqlite_migrations"


@BACKENDS
async def test_upgrade_derives_what_an_older_release_logged_after_the_migrations(db_path: store.Location) -> None:
    # A rollback (or an older service still running when a command migrated): its payments never reached
    # `payments` (销售额, 付款, 提成 lost without a word) and its names stayed as sent.
    await Writer(db_path).close()
    run(
        db_path,
        old_event(10, "message", "\ufeff阿强", sender="agent", text="在的"),
        (
            "INSERT INTO messages (seq, shop, conversation, customer, sender, agent, text, ts_ms)"
            " VALUES (10, 's', 'c1', 'u1', 'agent', ?, '在的', ?)",
            ("\ufeff阿强", TS + 10),
        ),
        (
            "INSERT INTO conversations (shop, conversation, customer, agent, opened_ms, last_ts_ms)"
            " VALUES ('s', 'c1', 'u1', ?, ?, ?)",
            ("小美 ", TS, TS + 10),
        ),
        old_event(11, "order_paid", None, order="o1", amount=19.99),
        (
            "INSERT INTO orders (shop, order_id, customer, conversation, paid_ms, paid_amount, paid_seq)"
            " VALUES ('s', 'o1', 'u1', 'c1', ?, 19.99, 11)",
            (TS + 11,),
        ),  # fmt: skip
    )
    await Writer(db_path).close()
    assert rows(db_path, "SELECT shop, order_id, paid_ms, cents, seq FROM payments") == [("s", "o1", TS + 11, 1999, 11)]
    assert rows(db_path, "SELECT agent FROM messages") == [("阿强",)]
    assert rows(db_path, "SELECT agent FROM events WHERE seq = 10") == [("阿强",)]
    assert rows(db_path, "SELECT agent FROM conversations") == [("小美",)]
    assert rows(db_path, "SELECT seq FROM derived_watermark") == [(11,)]
    await Writer(db_path).close()  # once: the same payment is not derived twice
    assert len(rows(db_path, "SELECT * FROM payments")) == 1


@BACKENDS
async def test_upgrade_cleans_every_name_as_intake_does(db_path: store.Location) -> None:
    # 100_trimmed_names trimmed spaces only: \ufeff阿强 stayed an agent of its own (a second report row, a lower
    # commission tier), and a conversation of his was on no panel.
    await Writer(db_path).close()
    unseen = "\ufeff阿\u200b强\u00ad "
    run(
        db_path,
        (f"DELETE FROM {migrations_table(db_path)} WHERE name = '130_clean_names'", ()),
        ("INSERT INTO derived_watermark (id, seq) VALUES (1, 99)", ()),  # the repair has nothing to do
        (
            "INSERT INTO messages (seq, shop, conversation, customer, sender, agent, text, ts_ms)"
            " VALUES (1, 's', 'c', ?, 'agent', ?, 'x', 1)",
            ("\u2060u1", unseen),
        ),  # fmt: skip
        (
            "INSERT INTO conversations (shop, conversation, customer, agent, opened_ms, last_ts_ms)"
            " VALUES ('s', 'c', 'u1', ?, 1, 1)",
            (unseen,),
        ),  # fmt: skip
        (
            "INSERT INTO followups (id, shop, conversation, customer, agent, kind, text, mode, state, armed_seq, due_ms,"
            " fired_ms, updated_ms) VALUES ('f', 's', 'c', 'u1', ?, 'followup', 't', 'send', 'sent', 1, 1, 1, 1)",
            (unseen,),
        ),  # fmt: skip
        (
            "INSERT INTO qa_alerts (id, level, shop, conversation, customer, agent, sender, event_id, seq, ts_ms, text,"
            " flags, created_ms) VALUES ('q', 1, 's', 'c', ?, ?, 'agent', 'e', 1, 1, 't', '[]', 1)",
            ("\ufeffu1", unseen),
        ),  # fmt: skip
        (
            "INSERT INTO timers (shop, conversation, armed_seq, armed_ms, due_ms, agent, state, updated_ms)"
            " VALUES ('s', 'c', 1, 1, 1, ?, 'armed', 1)",
            (unseen,),
        ),  # fmt: skip
    )
    await Writer(db_path).close()
    for table in ("messages", "conversations", "followups", "qa_alerts"):
        assert rows(db_path, f"SELECT customer, agent FROM {table}") == [("u1", "阿强")], table
    assert rows(db_path, "SELECT agent FROM timers") == [("阿强",)]


@BACKENDS
async def test_upgrade_dates_an_older_stale_record_at_its_deadline(db_path: store.Location) -> None:
    # An older release dated a back-fill's stale records at the import: today's daily log listed them.
    await Writer(db_path).close()
    run(
        db_path,
        (f"DELETE FROM {migrations_table(db_path)} WHERE name = '140_stale_dated_at_deadline'", ()),
        (
            "INSERT INTO followups (id, shop, conversation, customer, kind, text, mode, state, armed_seq, due_ms,"
            " fired_ms, updated_ms) VALUES (?, 's', 'c', 'u', 'followup', 't', 'send', ?, 0, 1000, 9000, 9000)",
            ("stale", "stale"),
        ),  # fmt: skip
        (
            "INSERT INTO followups (id, shop, conversation, customer, kind, text, mode, state, armed_seq, due_ms,"
            " fired_ms, updated_ms) VALUES (?, 's', 'c', 'u', 'followup', 't', 'send', ?, 0, 1000, 9000, 9000)",
            ("sent", "sent"),
        ),  # fmt: skip
    )
    await Writer(db_path).close()
    assert rows(db_path, "SELECT id, fired_ms FROM followups ORDER BY id") == [("sent", 9000), ("stale", 1000)]


@BACKENDS
async def test_upgrade_refuses_a_database_a_newer_release_migrated(db_path: store.Location) -> None:
    # Rolled back onto it, this release would log rows the newer one derives and never derive them.
    await Writer(db_path).close()
    if isinstance(db_path, pg.Location):
        future = ("INSERT INTO _assistant_migrations (name, applied_ms) VALUES ('900_future', 1)", ())
    else:
        future = ("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES ('assistant', '900_future', '')", ())  # fmt: skip
    run(db_path, future)
    with pytest.raises(upgrade.SchemaError, match="900_future"):
        Writer(db_path)


def test_upgrade_command_does_not_migrate_under_a_running_service(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `assistant report` migrated the file under an older service, whose payments then never reached the report.
    db = tmp_path / "shop.db"
    conn = store.connect(db)
    upgrade.migrate(conn)
    conn.execute("DELETE FROM _sqlite_migrations WHERE name = '150_derived_watermark'")
    conn.execute("DROP TABLE derived_watermark")
    conn.close()
    held = store.hold_alone(db)  # the service's lock
    try:
        assert main(["report", "--db", str(db), "--date", "2026-12-04"]) == 1
        err = capsys.readouterr().err
        assert "150_derived_watermark" in err and "服务" in err
        assert rows(db, "SELECT name FROM _sqlite_migrations WHERE name = '150_derived_watermark'") == []
    finally:
        store.let_go(held)
    assert main(["report", "--db", str(db), "--date", "2026-12-04"]) == 0  # no service: migrated, then read
    assert rows(db, "SELECT name FROM _sqlite_migrations WHERE name = '150_derived_watermark'") != []


def test_upgrade_command_reads_under_a_running_service_when_nothing_is_pending(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    conn = store.connect(db)
    upgrade.migrate(conn)
    conn.close()
    held = store.hold_alone(db)
    try:
        assert main(["report", "--db", str(db), "--date", "2026-12-04"]) == 0
    finally:
        store.let_go(held)


def test_upgrade_repair_reads_only_events_after_its_watermark(tmp_path: Path) -> None:
    # A start with nothing to repair reads no event: its cost does not grow with the log.
    db = tmp_path / "shop.db"
    conn = store.connect(db)
    upgrade.migrate(conn)
    conn.execute(*old_event(5, "order_paid", None, order="o1", amount=1))
    assert upgrade.repair_derived(conn) == 1
    traced: list[str] = []
    conn.set_trace_callback(traced.append)
    assert upgrade.repair_derived(conn) == 0
    conn.set_trace_callback(None)
    assert len(traced) == 2  # the watermark and the last event's number
    conn.close()


def test_upgrade_stop_marks_every_event_derived(tmp_path: Path) -> None:
    # A restart after a clean stop of a SQLite service (the only writer meanwhile) reads no event again.
    db = tmp_path / "shop.db"
    conn = store.connect(db)
    upgrade.migrate(conn)
    conn.execute(*old_event(7, "message", "小美", sender="agent", text="在"))
    upgrade.mark_derived(conn)
    assert [tuple(r) for r in conn.execute("SELECT seq FROM derived_watermark")] == [(7,)]
    conn.close()


def paid_by_older_release(order: str) -> tuple[str, tuple[object, ...]]:
    """An `order_paid` event as an older release logs it: its number from the events' sequence, no payment."""
    body = json.dumps(
        {"id": order, "type": "order_paid", "shop": "s", "conversation": "c1", "order": order, "amount": 1}
    )
    return (
        "INSERT INTO events (id, type, ts_ms, shop, conversation, customer, received_ms, raw)"
        " VALUES (?, 'order_paid', ?, 's', 'c1', 'u1', ?, ?) RETURNING seq",
        (order, TS, TS, body),
    )


@pytest.fixture
def older_writer(pg_cluster: object, db_path: store.Location) -> Iterator[tuple[pg.Connection, int]]:
    """An older release's writer on PostgreSQL in the middle of its transaction: its `order_paid` event has taken
    its number (the first) and is not committed; another event, numbered after it, is (the number it waits on)."""
    conn = store.connect(db_path)
    upgrade.migrate(conn)
    conn.close()
    held = pg.connect_direct(cast(pg.Location, db_path))
    held.execute("BEGIN")
    seq = int(held.execute(*paid_by_older_release("o1")).fetchone()[0])
    run(db_path, paid_by_older_release("o2"))
    try:
        yield held, seq
    finally:
        held.close()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_upgrade_repair_waits_for_an_older_release_committing_an_earlier_event(
    older_writer: tuple[pg.Connection, int], db_path: store.Location
) -> None:
    # Its number is below max(seq) when the repair reads it, yet invisible: the watermark passed it, and its
    # payment was never derived (销售额 short by it for good).
    held, seq = older_writer
    conn = pg.connect_direct(cast(pg.Location, db_path))
    try:
        repair = asyncio.create_task(asyncio.to_thread(upgrade.repair_derived, cast(sqlite3.Connection, conn)))
        backend = conn.raw.info.backend_pid

        def waiting() -> bool:  # the repair has read max(seq) and looks at who writes events
            found = rows(db_path, f"SELECT query FROM pg_stat_activity WHERE pid = {backend}")
            return repair.done() or "pg_locks" in str(found)

        await eventually(waiting)
        held.execute("COMMIT")
        await repair
    finally:
        conn.close()
    assert rows(db_path, "SELECT seq FROM payments ORDER BY seq") == [(seq,), (seq + 1,)]
    assert rows(db_path, "SELECT seq FROM derived_watermark") == [(seq + 1,)]


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_upgrade_repair_keeps_its_watermark_while_an_earlier_event_is_uncommitted(
    older_writer: tuple[pg.Connection, int], db_path: store.Location
) -> None:
    # A writer that does not end within the wait (an archive run): the next start reads its events again.
    held, seq = older_writer
    conn = pg.connect_direct(cast(pg.Location, db_path))
    try:
        assert upgrade.repair_derived(cast(sqlite3.Connection, conn), wait_s=0.05) == 1  # the committed event's payment
        held.execute("COMMIT")
        assert upgrade.repair_derived(cast(sqlite3.Connection, conn)) == 1
    finally:
        conn.close()
    assert rows(db_path, "SELECT seq FROM payments ORDER BY seq") == [(seq,), (seq + 1,)]


# The columns of `followups` as the previous release (96dee90) made them: it builds its record from the whole row.
PREVIOUS_FOLLOWUP_COLUMNS = {
    "id", "shop", "conversation", "customer", "agent", "kind", "phrase_id", "text", "mode", "state", "attempts",
    "last_error", "armed_seq", "due_ms", "fired_ms", "updated_ms",
}  # fmt: skip


@BACKENDS
async def test_upgrade_leaves_the_follow_up_rows_as_the_previous_release_reads_them(db_path: store.Location) -> None:
    # A column added to `followups` made the previous release fail every timer on a migrated file ("unexpected
    # keyword argument 'outcome_unknown'"): a rollback, or an instance of it beside upgraded ones on PostgreSQL,
    # sent no follow-up at all. What this release adds lives in a table of its own.
    await Writer(db_path).close()
    conn = store.connect(db_path)
    try:
        assert set(store.columns(conn, "followups")) == PREVIOUS_FOLLOWUP_COLUMNS
        # Beside what it writes by name, only columns it never names and may leave empty (a channel's latest news).
        assert set(store.columns(conn, "followup_outcomes")) == {"id", "unknown", "channel_ms", "channel_sent"}
    finally:
        conn.close()


@BACKENDS
async def test_upgrade_stopped_keeps_the_parts_it_committed_and_the_next_start_derives_the_rest(
    db_path: store.Location,
) -> None:
    # A SIGTERM during the start's repair waited for all of it (2.8 s at 150,000 events on SQLite, 10 to 15 s on
    # PostgreSQL). It stops between parts (or within one), each part's rows committed with the watermark.
    await Writer(db_path).close()
    run(db_path, *[old_event(seq, "order_paid", "\u200b小美", order=f"o{seq}", amount=1) for seq in range(1, 51)])
    conn, other = store.connect(db_path), store.connect(db_path)
    try:

        def committed() -> int:
            row = other.execute("SELECT seq FROM derived_watermark WHERE id = 1").fetchone()
            return int(row[0]) if row else 0

        with pytest.raises(upgrade.Stopped):
            upgrade.repair_derived(conn, chunk=20, stopping=lambda: committed() >= 20)
        assert not conn.in_transaction
        assert committed() == 20
        assert rows(db_path, "SELECT seq FROM payments ORDER BY seq") == [(seq,) for seq in range(1, 21)]
        agents = rows(db_path, "SELECT seq, agent FROM events ORDER BY seq")
        assert agents == [(seq, "小美" if seq <= 20 else "\u200b小美") for seq in range(1, 51)]
        assert upgrade.repair_derived(conn, chunk=20) == 60  # 21..50: a payment and a name each
        assert committed() == 50
        assert rows(db_path, "SELECT count(*) FROM payments") == [(50,)]
        assert rows(db_path, "SELECT DISTINCT agent FROM events") == [("小美",)]
    finally:
        conn.close()
        other.close()


def a_log_before_payments(db: Path, payments: int) -> None:
    """A log of the release before migration 090 (payments), holding `payments` order_paid events."""
    conn = store.connect(db)
    schema.migrations.apply(Database(conn), stop_before="090_payments")
    raw = '{"order": "o%d", "amount": 12.5}'
    rows = [(f"e{i}", raw % i) for i in range(payments)]
    with store.transaction(conn):
        conn.executemany(
            "INSERT INTO events (id, type, ts_ms, shop, conversation, customer, agent, received_ms, raw)"
            " VALUES (?, 'order_paid', 1, 's', 'c', 'u', NULL, 1, ?)",
            rows,
        )
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def pages(db: Path) -> int:
    with closing(sqlite3.connect(db)) as conn:
        return int(conn.execute("PRAGMA page_count").fetchone()[0])


def test_upgrade_a_disk_that_fills_during_the_migrations_leaves_the_log_as_the_release_before_left_it(
    tmp_path: Path,
) -> None:
    db = tmp_path / "assistant.db"
    a_log_before_payments(db, 20_000)
    probe = tmp_path / "probe.db"  # how many pages migration 090 alone takes
    shutil.copyfile(db, probe)
    with closing(store.connect(probe)) as conn:
        schema.migrations.apply(Database(conn), stop_before="100_trimmed_names")
    room = pages(probe) - pages(db) + 1  # 090 fits, and one page more: a later migration's table does not
    before = db.read_bytes()
    with closing(store.connect(db)) as conn:
        applied = upgrade.pending_migrations(conn)
        conn.execute(f"PRAGMA max_page_count = {pages(db) + room}")  # the disk's room
        with pytest.raises(upgrade.SchemaError, match="090_payments, 100_trimmed_names"):
            upgrade.migrate(conn)
        # Each migration committed alone: 090 stayed applied, and the release before refused the log as a newer
        # release's ('cannot open the database (database or disk is full)' said nothing of it).
        assert upgrade.pending_migrations(conn) == applied
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with closing(store.connect(db)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert db.read_bytes() == before
    with closing(store.connect(db)) as conn:  # room again: migrated
        upgrade.migrate(conn)
        assert upgrade.pending_migrations(conn) == []
        assert conn.execute("SELECT count(*) FROM payments").fetchone()[0] == 20_000


def test_upgrade_a_disk_that_fills_during_the_repair_names_the_step_and_the_room_to_make(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The start said only '无法打开数据库（数据库或磁盘已满）', as if the migrations had failed: nothing said which
    # step, what was kept, nor how much room to make.
    monkeypatch.setattr("assistant.i18n._current", "zh_CN")  # the service's language (another test may have set one)
    db, probe = tmp_path / "shop.db", tmp_path / "probe.db"
    with closing(store.connect(db)) as conn:

        def paid(seqs: range) -> None:
            with store.transaction(conn):
                for seq in seqs:
                    conn.execute(*old_event(seq, "order_paid", None, order=f"o{seq}", amount=1))

        upgrade.migrate(conn)
        paid(range(1, 3001))
        assert upgrade.repair_derived(conn, chunk=1000) == 3000
        paid(range(3001, 6001))
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copyfile(db, probe)
    with closing(store.connect(probe)) as conn:  # the pages a part of 1,000 events takes
        upgrade.repair_derived(conn, chunk=1000)
    part = (pages(probe) - pages(db)) // 3
    with closing(store.connect(db)) as conn:
        conn.execute(f"PRAGMA max_page_count = {pages(db) + part * 3 // 2}")  # the disk's room: the first part fits
        with pytest.raises(upgrade.SchemaError) as refused:
            upgrade.repair_derived(conn, chunk=1000)
        message = str(refused.value)
        assert "事件 3001..6000" in message and "在事件 4001 处停下" in message, message
        assert "腾出空间（约 4 MB）" in message, message
        assert conn.execute("SELECT seq FROM derived_watermark").fetchone()[0] == 4000  # the part before is kept
        conn.execute("PRAGMA max_page_count = 1073741823")  # room again: the start derives the rest
        assert upgrade.repair_derived(conn, chunk=1000) == 2000
        assert conn.execute("SELECT count(*) FROM payments").fetchone()[0] == 6000
