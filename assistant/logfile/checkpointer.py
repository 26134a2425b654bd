"""The SQLite log's checkpoints, run on a connection and a thread of their own (the writer's commits never fold the
-wal back themselves).

SQLite folds the -wal back into the database file at the commit that passes 1,000 pages (its automatic checkpoint),
inside that commit: the group it ends waited for the fold, and every event queued behind it. In the steady state a
fold is a few milliseconds; after a long read (a report or an export holding an old snapshot while the -wal grew to
hundreds of MB) it is the whole file: the longest commit after a 200 MB -wal took 1.4 s, 0.2 s with the fold apart
(docs/events.md). Here the writer's connection checkpoints nothing (`wal_autocheckpoint=0`, set once
its thread starts: a start's migrations keep SQLite's own checkpoints); after a commit that leaves `FRAMES` pages or
more unfolded the writer's `Watch.note` wakes this thread, which folds what no reader holds (PASSIVE: it waits for
no one, and no one waits for it). The -wal is bounded as before: once everything is folded, the writer's next commit
starts the file over and cuts it back to its `journal_size_limit` (WAL_LIMIT_BYTES).

The overwrite check (`Watch`) tells a checkpoint from a copy over the file by the -shm's checkpoint marks; a
checkpoint of this thread changes the file between two of the writer's looks. Each one therefore runs under the
watch's lock, after the watch's look (a file overwritten is not folded into), and the watch's view of the file and
the record beside it (`walowner`) are brought up to date before the lock is released; the writer never waits for
the lock (`Watch.note`, `Watch.overwritten`)."""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from assistant import store

log = logging.getLogger(__name__)

FRAMES = 1000  # pages in the -wal not yet folded back that wake the thread: SQLite's own automatic checkpoint's
ROUNDS = 3  # PASSIVE checkpoints in a row at most, while commits made during one leave pages to fold
PAUSE_S = 0.1  # after a checkpoint a reader held short: the next is tried no sooner (not at every commit meanwhile)


class Checkpointer:
    """Folds the log's -wal back on its own connection and thread; `kick` (from the writer's thread, a C call) asks
    for a checkpoint, `close` ends the thread once a checkpoint running is over and closes the connection."""

    def __init__(self, path: Path, fold: Callable[[Callable[[], None]], bool], busy_timeout_s: float) -> None:
        """`fold(checkpoint)`: runs `checkpoint` under the overwrite check's lock and notes the file afterwards, or
        not at all (False) when the file is no longer the one the writer opened (`Watch.fold`)."""
        self.path = path
        self._fold = fold
        self._conn = store.connect(path, busy_timeout_s=busy_timeout_s)
        self._busy_timeout_s = busy_timeout_s
        self._conn.execute("PRAGMA wal_autocheckpoint=0")  # it never writes; its close checkpoints nothing either
        self._kicks: queue.SimpleQueue[bool] = queue.SimpleQueue()
        self.kick = self._kicks.put  # True: a checkpoint; False: the end
        self._stop = threading.Event()
        self.checkpoints = 0  # run (PASSIVE), folded or not
        self.last: tuple[int, int, int] | None = None  # the last one's (busy, frames in the -wal, frames folded)
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpointer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            go = self._kicks.get()
            while go:  # the kicks queued meanwhile are one checkpoint
                try:
                    go = self._kicks.get_nowait()
                except queue.Empty:
                    break
            if not go:
                return
            try:
                self._fold(self._checkpoint)
            except (sqlite3.Error, OSError) as exc:
                # The next kick tries again (a thread gone would leave the -wal growing without bound).
                log.warning("a checkpoint of the log %s failed: %s", self.path, exc)
            last = self.last
            if last is not None and last[2] < last[1] and self._stop.wait(PAUSE_S):
                return  # a reader holds the rest: the commits meanwhile need not try again each

    def _checkpoint(self) -> None:
        """Fold back what no reader holds; once all of it is folded, make sure the writer's next commit starts the
        -wal over (and cuts it back): SQLite restarts the file only at a transaction that begins with every frame
        folded, and commits made during a fold leave some behind (the file grew by every commit, never restarted)."""
        before = -1
        for _ in range(ROUNDS):  # the commits made during a fold, folded in turn: fewer each round
            busy, frames, folded = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.last = (int(busy), int(frames), int(folded))
            self.checkpoints += 1
            if folded < frames:
                return  # a reader holds the rest
            if frames == before:
                break
            before = frames
        # The last few commits' pages folded while the writer waits (a busy_timeout of 0: never for a writer in a
        # transaction, then it is PASSIVE, nor for a reader), and the -wal restarted by the writer's next commit.
        self._conn.execute("PRAGMA busy_timeout=0")
        try:
            busy, frames, folded = self._conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        finally:
            self._conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_s * 1000)}")
        self.last = (int(busy), int(frames), int(folded))
        self.checkpoints += 1

    def close(self) -> None:
        """End the thread (after the checkpoint it runs, if one) and close its connection (the writer's stays open:
        this close is not the last one, and folds nothing)."""
        self._stop.set()
        self.kick(False)
        self._thread.join()
        self._conn.close()
