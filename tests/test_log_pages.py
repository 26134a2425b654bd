"""What a logged event writes on SQLite: the pages of its group's commit, by table and index (the -wal's frames), and
the reads that the indexes dropped for it served (assistant/logfile/indexes.py)."""

from __future__ import annotations

import re
import sqlite3
import struct
from collections.abc import Callable
from pathlib import Path

from assistant import store, upgrade
from assistant.daylog import buyer, orphan_rows
from assistant.events import parse_event
from assistant.kpi import queries
from assistant.kpi.rules import FIRST_AGENT_COPY_SQL
from assistant.writer import Writer
from tests.helpers import make_event, reopened_before

TS = 1_796_354_700_000  # 2026-12-04 10:05 +08:00


def last_commit_pages(wal: Path) -> list[int]:
    """The page numbers the -wal's last commit wrote (its frames of the current salts)."""
    data = wal.read_bytes()
    page_size = struct.unpack(">I", data[8:12])[0]
    salts, offset = data[16:24], 32
    commits: list[list[int]] = [[]]
    while offset + 24 + page_size <= len(data) and data[offset + 8 : offset + 16] == salts:
        page, size_after = struct.unpack(">II", data[offset : offset + 8])
        commits[-1].append(page)
        if size_after:
            commits.append([])
        offset += 24 + page_size
    return commits[-2]


def btrees(path: Path, pages: list[int]) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        names = dict(conn.execute("SELECT pageno, name FROM dbstat"))
    finally:
        conn.close()
    return {names[page] for page in pages if page in names}


async def test_an_event_of_a_known_conversation_writes_no_page_of_an_index_on_conversations(tmp_path: Path) -> None:
    # Its upsert sets the conversation's agent and status, mostly to what they were: SQLite rewrote the row's
    # entry in conversations_agent all the same, a page written per event that no read needed.
    path = tmp_path / "log.db"
    writer = Writer(path)
    for n in range(40):  # conversations of agents a1 and a2: several pages of each index
        await writer.submit(_logging(n, conversation=f"c{n}", sender="agent", agent=f"a{n % 2 + 1}", text="亲，在的"))
    await writer.submit(_logging(100, conversation="c7", sender="customer", text="在吗"))
    await writer.submit(_logging(101, conversation="c7", sender="agent", agent="a2", text="在的亲"))
    written = btrees(path, last_commit_pages(Path(f"{path}-wal")))
    await writer.close()
    assert "messages" in written and "conversations" in written, written  # the frames read are the event's own
    assert not {name for name in written if name.startswith("conversations_")}, written


def _logging(n: int, **fields: str) -> Callable[[sqlite3.Connection], object]:
    """A writer job logging event `n` with these fields."""
    event = parse_event(make_event(id=f"e{n}", ts=TS + n * 1000, **fields), max_text_chars=5000)
    return lambda conn: store.insert_event(conn, event)


def test_the_reads_of_conversations_by_shop_seek_an_index(tmp_path: Path) -> None:
    # Without conversations_agent (shop, agent, status), a buyer's conversations and the shops holding conversations
    # are found through the primary key (shop, conversation), as they were through that index's shop.
    conn = store.connect(tmp_path / "log.db")
    upgrade.migrate(conn)
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'conversations'")}
    assert "conversations_agent" not in names
    theirs = buyer._THEIRS.format(who="customer = ? AND shop = ?")
    shops = orphan_rows._SHOPS.format(table="conversations")
    for sql, params in ((theirs, ("u1", "s", "u1", "s")), (shops, ())):
        plan = " | ".join(str(r[3]) for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
        assert "SCAN conversations" not in plan, plan
        assert "conversations USING" in plan and "sqlite_autoindex_conversations_1 (shop" in plan, plan
    conn.close()


async def test_an_older_log_loses_conversations_agent(tmp_path: Path) -> None:
    indexes = (
        await reopened_before(
            tmp_path / "log.db",
            "CREATE INDEX conversations_agent ON conversations (shop, agent, status)",
            "sqlite_260_no_conversations_agent",
        )
    ).keys()
    assert "conversations_agent" not in indexes
    assert "sqlite_autoindex_conversations_1" in indexes


async def test_a_message_writes_no_page_of_an_index_by_agent(tmp_path: Path) -> None:
    # messages_shop_agent_ts (shop, agent, ts_ms) took a page of every group, a customer message's too (agent NULL),
    # for the reports' agent copy checks alone, which seek the conversation's index as well.
    path = tmp_path / "log.db"
    writer = Writer(path)
    for n in range(40):
        await writer.submit(_logging(n, conversation=f"c{n}", sender="agent", agent=f"a{n % 2 + 1}", text="亲，在的"))
    for n, sender in enumerate(("customer", "agent"), start=100):
        agent = {"agent": "a2"} if sender == "agent" else {}
        await writer.submit(_logging(n, conversation="c7", sender=sender, text="在吗", **agent))
        written = btrees(path, last_commit_pages(Path(f"{path}-wal")))
        assert "messages" in written and "messages_kpi_conversation" in written, written  # the message's own frames
        assert "messages_shop_agent_ts" not in written, (sender, written)
    await writer.close()


def test_the_reports_agent_copy_checks_seek_the_conversation_index(tmp_path: Path) -> None:
    # Every statement of the report holding the check that an agent message is a platform's retry (kpi/rules.py):
    # its subquery is one seek of messages_kpi_conversation, down to the time and an earlier seq.
    conn = store.connect(tmp_path / "log.db")
    upgrade.migrate(conn)
    checked = 0
    for name in ("_AGENT_MESSAGES", "_SHORT_REPLIES", "_SHORT_LIST", "_QA"):
        sql = getattr(queries, name)
        assert FIRST_AGENT_COPY_SQL in sql, name
        params = dict.fromkeys(re.findall(r":(\w+)", sql), 0)
        plan = " | ".join(str(r[3]) for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
        seek = "SEARCH c USING INDEX messages_kpi_conversation (shop=? AND conversation=? AND sender=? AND ts_ms=? AND"
        assert seek in plan, (name, plan)
        assert "SCAN c" not in plan and "SCAN m" not in plan, (name, plan)
        checked += 1
    conn.close()
    assert checked == 4


async def test_an_older_log_loses_messages_shop_agent_ts(tmp_path: Path) -> None:
    indexes = (
        await reopened_before(
            tmp_path / "log.db",
            "CREATE INDEX messages_shop_agent_ts ON messages (shop, agent, ts_ms)",
            "sqlite_270_no_messages_shop_agent_ts",
        )
    ).keys()
    assert "messages_shop_agent_ts" not in indexes
    assert {"messages_kpi_conversation", "messages_kpi_sender", "messages_shop_ts"} <= indexes
