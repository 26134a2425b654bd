"""Writing a whole day's log: in this process for an ordinary day, by worker processes for a large one.

A large day is split into blocks of consecutive conversations; worker processes render blocks
(annotate and format them) while this process writes the finished ones in order. At most a few
blocks are in flight, so memory stays flat whatever the size of the day.
"""

from __future__ import annotations

import dataclasses
import io
import multiprocessing
import os
import sqlite3
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import closing
from datetime import date
from multiprocessing.pool import AsyncResult
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from assistant import store
from assistant.clock import day_bounds
from assistant.config import Config
from assistant.daylog import formats
from assistant.daylog.query import DayQuery, Key, Rules, conversation_keys, iter_items
from assistant.daylog.source import open_day
from assistant.daylog.workbook import write_xlsx

PARALLEL_FROM_EVENTS = 200_000  # below this a day is written in this process (workers take ~0.5 s to start)
MAX_JOBS = 4
BLOCK_CONVERSATIONS = 500


def export(
    config: Config,
    db_path: store.Location,
    query: DayQuery,
    fmt: str,
    out: TextIO,
    *,
    color: bool = False,
    jobs: int | None = None,
    wording: formats.Wording | None = None,
) -> int:
    """Write the day's log to `out` in format `fmt`; returns the number of items. `jobs=None`: automatic.

    `wording`: the text format's language and names of intents and customer types.
    """
    rules = Rules.from_config(config)
    if query.now_ms is None:  # one time for every block: a burst waiting at the start is waiting in each of them
        query = dataclasses.replace(query, now_ms=store.now_ms())
    with open_day(config, db_path, query.day, query.shop) as conn:
        workers = _auto_jobs(conn, query, rules) if jobs is None else jobs
        if workers <= 1:
            # closing(): the items (and their reading thread) end before the connection does, even on error
            with closing(iter_items(conn, query, rules)) as items:
                return formats.write(items, out, fmt, color=color, wording=wording)
        return _parallel(conn, _database_file(conn), query, rules, fmt, out, color, workers, wording)


def export_workbook(
    config: Config, db_path: store.Location, query: DayQuery, out: BinaryIO, wording: formats.Wording | None = None
) -> int:
    """Write the day's log to `out` as the supervisors' workbook (in this process); returns the number of items."""
    rules = Rules.from_config(config)
    with open_day(config, db_path, query.day, query.shop) as conn:
        with closing(iter_items(conn, query, rules)) as items:
            return write_xlsx(items, out, wording)


def _auto_jobs(conn: sqlite3.Connection, query: DayQuery, rules: Rules) -> int:
    start_ms, end_ms = day_bounds(query.day, rules.tz)
    events = conn.execute("SELECT count(*) FROM events WHERE ts_ms >= ? AND ts_ms < ?", (start_ms, end_ms)).fetchone()
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(cpus, MAX_JOBS) if events[0] >= PARALLEL_FROM_EVENTS else 1


def _database_file(conn: sqlite3.Connection) -> Path:
    for _seq, name, path in conn.execute("PRAGMA database_list"):
        if name == "main":
            return Path(path)
    raise RuntimeError("no main database")


def _parallel(
    conn: sqlite3.Connection,
    path: Path,
    query: DayQuery,
    rules: Rules,
    fmt: str,
    out: TextIO,
    color: bool,
    workers: int,
    wording: formats.Wording | None = None,
) -> int:
    # spawn, not fork: a forked child would inherit this process's open SQLite connection.
    context = multiprocessing.get_context("spawn")
    setup = (str(path), query.day, query.mask, query.now_ms, rules, fmt, color, wording)
    count = 0
    first = True
    with context.Pool(workers, initializer=_start_worker, initargs=setup) as pool:
        if fmt == "csv":
            formats.write_csv_header(out)
        in_flight: deque[AsyncResult[tuple[bytes, int]]] = deque()
        for block in _blocks(conversation_keys(conn, query, rules), BLOCK_CONVERSATIONS):
            in_flight.append(pool.apply_async(_render_block, (block,)))
            if len(in_flight) >= 2 * workers:
                count += _write_block(in_flight.popleft().get(), out, fmt, first)
                first = False
        while in_flight:
            count += _write_block(in_flight.popleft().get(), out, fmt, first)
            first = False
    return count


def _write_block(result: tuple[bytes, int], out: TextIO, fmt: str, first: bool) -> int:
    data, items = result
    if data and fmt == "text" and not first:
        out.write("\n")  # the blank line between conversations that write_text puts inside a block
    binary = getattr(out, "buffer", None)
    if binary is not None and (out.encoding or "").lower().replace("_", "-") in ("utf-8", "utf-8-sig", "utf8"):
        out.flush()  # what went through the text layer first (a CSV header, a byte-order mark)
        binary.write(data)  # blocks arrive as UTF-8 bytes: no decoding and encoding again
    else:
        out.write(data.decode("utf-8"))
    return items


def _blocks(keys: Iterable[Key], size: int) -> Iterator[list[Key]]:
    block: list[Key] = []
    for key in keys:
        block.append(key)
        if len(block) == size:
            yield block
            block = []
    if block:
        yield block


_worker: dict[str, Any] = {}


def _start_worker(
    path: str,
    day: date,
    mask: bool,
    now_ms: int | None,
    rules: Rules,
    fmt: str,
    color: bool,
    wording: formats.Wording | None,
) -> None:
    conn = store.connect(path)
    conn.execute("PRAGMA cache_size = -16384")
    query = DayQuery(day, mask=mask, now_ms=now_ms)
    _worker.update(conn=conn, query=query, rules=rules, fmt=fmt, color=color, wording=wording)


def _render_block(block: list[Key]) -> tuple[bytes, int]:
    """One block of conversations, annotated, formatted and encoded (runs in a worker process)."""
    buffer = io.StringIO()
    with closing(iter_items(_worker["conn"], _worker["query"], _worker["rules"], keys=block)) as items:
        count = formats.write(
            items, buffer, _worker["fmt"], color=_worker["color"], header=False, wording=_worker["wording"]
        )
    return buffer.getvalue().encode("utf-8"), count
