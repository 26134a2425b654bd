"""The SQLite log's -wal file while a long read holds an old snapshot: it grows with every commit, and is said."""

from __future__ import annotations

import logging
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from assistant.logfile import apart
from assistant.web.appkeys import WRITER
from tests.helpers import body_of, make_event

Client = TestClient  # type: ignore[type-arg]


async def test_a_read_holding_the_wal_is_said_in_the_log_and_readyz_until_it_ends(
    client: Client, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Before, nothing said it: an export of a big day held the log's snapshot, the -wal grew by about 50 kB an event
    # (1.1 GB over 2 minutes at 200 events/s, bench/bench_wal.py) until the disk was full, and /readyz said ready.
    writer = client.app[WRITER]
    # Past the 16 MB between two checkpoints (apart.AUTOCHECKPOINT pages), and above the size the file is cut back to
    # (WAL_LIMIT_BYTES, here 1 MB); short of the pages that wake a folder (apart.FRAMES).
    writer.wal.warn_bytes = warn = apart.AUTOCHECKPOINT * 4096 + 1024 * 1024
    await writer.submit(lambda conn: conn.execute("PRAGMA journal_size_limit = 1048576"))
    wal = Path(f"{db_path}-wal")
    assert (await client.post("/v1/events", data=body_of(make_event()))).status == 200
    caplog.set_level(logging.WARNING, "assistant.logfile")
    with closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, isolation_level=None)) as reader:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM events").fetchone()  # its snapshot: no checkpoint passes it
        n = 0
        while wal.stat().st_size <= warn:
            n += 1
            assert (await client.post("/v1/events", data=body_of(make_event(text="详" * 2000)))).status == 200
        assert (await client.post("/v1/events", data=body_of(make_event()))).status == 200  # seen at its COMMIT
        ready = await client.get("/readyz")
        assert ready.status == 200  # writes go through
        assert "a read holds an old snapshot" in (await ready.json())["log_wal"]
        assert [r for r in caplog.messages if "-wal file is" in r and "a read holds" in r], caplog.messages
        reader.execute("COMMIT")
    for _ in range(3):  # the next commits fold it back and start the file over, cut back
        assert (await client.post("/v1/events", data=body_of(make_event()))).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200 and "log_wal" not in await ready.json()
    assert [r for r in caplog.messages if "is back to" in r], caplog.messages
    assert n > 10
