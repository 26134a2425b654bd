"""`/readyz`: ready when a write commits now; the follow-ups' counts shown beside, not judged, and read cheaply."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from assistant import store, upgrade
from assistant.followups.store import count_pending
from assistant.tasks import FaultLog
from assistant.web import readiness
from assistant.web.appkeys import WRITER
from tests.test_archive import insert_followup

NONE_STUCK = {"pending": 0, "left_pending": 0, "left_pending_now": 0, "checks_given_up": 0}


async def test_readyz_counts_the_pending_followups_without_judging_by_them(client: Any) -> None:
    # Found: follow-ups a locked database left pending, or payment checks given up, were said once in the log and
    # counted where no operator could see them: nothing showed follow-ups stuck.
    ready = await client.get("/readyz")
    assert (ready.status, (await ready.json())["followups"]) == (200, NONE_STUCK)

    def pending(conn: sqlite3.Connection) -> None:
        for n in range(2):
            insert_followup(conn, id=f"fu-{n}", shop="shop1", conversation=f"c{n}", state="pending", fired_ms=1)
        insert_followup(conn, id="fu-sent", shop="shop1", conversation="c9", state="sent", fired_ms=1)

    await client.app[WRITER].submit(pending)
    ready = await client.get("/readyz")
    body = await ready.json()
    assert (ready.status, body["ready"], body["followups"]) == (200, True, {**NONE_STUCK, "pending": 2})


def test_readyz_counts_the_pending_followups_from_their_own_index(tmp_path: Path) -> None:
    # Polled every few seconds: counted from the table, it read every follow-up ever made (28 ms at 200,000).
    conn = store.connect(tmp_path / "log.db")
    upgrade.migrate(conn)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    assert count_pending(conn) == 0
    conn.set_trace_callback(None)
    [sql] = [s for s in statements if "count(" in s]
    plan = " | ".join(str(r[3]) for r in conn.execute("EXPLAIN QUERY PLAN " + sql))
    assert "INDEX followups_pending" in plan, plan  # its entries are the pending rows alone
    conn.close()


class _BusyWriter:
    """A writer whose probe waits its turn behind a group that began `waited_s` ago (SQLite: no session to ask)."""

    path = Path("log.db")
    session = None

    def __init__(self, waited_s: float) -> None:
        self.group_since = time.monotonic() - waited_s
        self.faults = FaultLog(logging.getLogger("test"))
        self.queued: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def probe(self) -> None:
        await self.queued


async def test_readyz_probe_behind_a_busy_writer_is_ready_and_behind_a_stuck_group_is_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Under load (groups of 0.2-0.4 s on two busy cores) a probe queued behind two groups said not ready: a load
    # balancer would take every loaded instance out. A group waiting past STUCK_AFTER_S is stuck.
    monkeypatch.setattr(readiness, "PROBE_WITHIN_S", 0.01)
    busy, stuck = _BusyWriter(waited_s=0.0), _BusyWriter(waited_s=3.0)
    assert await readiness.probe(busy) is None  # type: ignore[arg-type]
    said = await readiness.probe(stuck)  # type: ignore[arg-type]
    assert isinstance(said, readiness.Stuck) and str(said) == "writes have waited 3.0 s for the database"
    busy.queued.set_result(None)
    stuck.queued.set_result(None)
