"""Pages the SQLite log writes per logged event, by table and index: read from the -wal's own frames.

    python -m bench.bench_pages          (BENCH_PREFILL=120000 events first, BENCH_EVENTS=400 per kind)

The real service (a subprocess, WAL + synchronous=FULL, group commit) is filled with the webhook benchmark's
logging mix, stopped (its -wal folded back), started again and sent one kind of event at 64 concurrent clients;
then it is killed, so the -wal keeps every frame its groups wrote. Each frame is one page of one commit; the
pages are named by the b-tree (table or index) that holds them (dbstat, on a copy). Printed per kind: the -wal's
frames per event and per group, and which b-trees they fell on. A page written in two groups counts twice, as
it costs twice: a group's COMMIT writes each page it changed once, whatever the number of rows on it.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sqlite3
import struct
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from bench.bench_webhook import AGENT_TEXT, TEXTS, _base, _prefill
from bench.load import post_load
from tests.service import ROOT, Service

PREFILL = int(os.environ.get("BENCH_PREFILL", "120000"))
EVENTS = int(os.environ.get("BENCH_EVENTS", "400"))  # per kind: under the writer's checkpoint (4,000 pages)
CONCURRENCY = 64
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 600.0  # the stop after the prefill folds its -wal into the file: minutes on a busy machine


def agent(i: int) -> dict[str, object]:
    return {**_base(i, "pa"), "type": "message", "sender": "agent", "agent": "a1", "text": AGENT_TEXT}


def customer(i: int) -> dict[str, object]:
    return {**_base(i, "pc"), "type": "message", "sender": "customer", "text": TEXTS[i % len(TEXTS)]}


def order(i: int) -> dict[str, object]:
    return {**_base(i, "po"), "type": "order_created", "order": f"po{i}", "amount": 99.0}


KINDS: dict[str, Callable[[int], dict[str, object]]] = {
    "agent message": agent,
    "customer message": customer,
    "order created": order,
}


def wal_commits(wal: Path) -> list[list[int]]:
    """The page numbers of each commit's frames, in order, for the frames of the -wal's current salts."""
    data = wal.read_bytes()
    if len(data) < 32:
        return []
    page_size = struct.unpack(">I", data[8:12])[0]
    salts = data[16:24]
    commits: list[list[int]] = []
    pages: list[int] = []
    offset = 32
    while offset + 24 + page_size <= len(data):
        page, size_after = struct.unpack(">II", data[offset : offset + 8])
        if data[offset + 8 : offset + 16] != salts:
            break  # a frame of an earlier pass over the file
        pages.append(page)
        if size_after:
            commits.append(pages)
            pages = []
        offset += 24 + page_size
    return commits


def btree_of_pages(db: Path, wal: Path) -> dict[int, str]:
    """Each page's b-tree, read from a copy of the database with its -wal."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "copy.db"
        shutil.copy(db, copy)
        shutil.copy(wal, Path(tmp) / "copy.db-wal")
        conn = sqlite3.connect(copy)
        try:
            return {page: name for name, page in conn.execute("SELECT name, pageno FROM dbstat")}
        finally:
            conn.close()


async def _measure(db: Path, kind: str, make: Callable[[int], dict[str, object]], first: int) -> None:
    service = await Service(ROOT / "config.toml", db, env={"ASSISTANT_WEBHOOK_SECRET": ""}).start(
        timeout=START_TIMEOUT_S
    )
    assert service.proc is not None
    wal = db.with_name(db.name + "-wal")
    # A read held from here keeps the -wal from starting over after a checkpoint (at 4,000 pages), which wrote the
    # next commits over the frames counted; the -wal's salts, read again at the end, say it did not.
    held = sqlite3.connect(db)
    held.execute("BEGIN")
    held.execute("SELECT count(*) FROM sqlite_master").fetchone()
    before, salts = len(wal_commits(wal)), wal.read_bytes()[16:24] if wal.exists() else b""
    bodies = [json.dumps(make(first + i), ensure_ascii=False).encode() for i in range(EVENTS)]
    result = await post_load(f"{service.url}/v1/events", bodies.__getitem__, total=EVENTS, concurrency=CONCURRENCY)
    service.proc.send_signal(signal.SIGKILL)  # the -wal keeps its frames: no checkpoint at the stop
    service.proc.wait()
    if len(salts) == 8 and wal.read_bytes()[16:24] != salts:  # (an empty -wal at the start: the read holds it)
        raise RuntimeError("the -wal started over during the row: its frames before were not counted")
    commits = wal_commits(wal)[before:]
    names = btree_of_pages(db, wal)
    held.close()  # the last connection: its close folds the -wal back and deletes it
    by_tree = Counter(names.get(page, "(new or free page)") for pages in commits for page in pages)
    frames = sum(by_tree.values())
    ok = result.requests - result.errors
    print(
        f"-- {kind}: {ok} events in {len(commits)} commits ({len(commits) / max(ok, 1) * 1000:.0f} per 1,000 events):"
        f" {frames / max(ok, 1):.2f} pages per event, {frames / max(len(commits), 1):.1f} per commit"
    )
    for name, count in by_tree.most_common():
        print(f"   {name:<34} {count / max(ok, 1):6.3f} pages/event")
    # Fold the -wal back before the next kind (a clean stop of a service that does nothing).
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


async def _run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        service = await Service(ROOT / "config.toml", db, env={"ASSISTANT_WEBHOOK_SECRET": ""}).start(
            timeout=START_TIMEOUT_S
        )
        try:
            if PREFILL:
                await _prefill(f"{service.url}/v1/events", PREFILL)
        finally:
            service.terminate(timeout=STOP_TIMEOUT_S)
        print(f"== pages written per event, {CONCURRENCY} concurrent clients, on a log of {PREFILL:,} events ==")
        first = int(time.time())
        for n, (kind, make) in enumerate(KINDS.items()):
            await _measure(db, kind, make, first + n * EVENTS)


def main() -> None:
    asyncio.run(_run())


if __name__ == "__main__":
    main()
