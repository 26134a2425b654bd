"""The SQLite log's -wal folded back on a connection and a thread of their own, only after a long read let it grow.

In the steady state SQLite folds the -wal back itself, inside the writer's commit that passes `AUTOCHECKPOINT` pages
(its automatic checkpoint): a few milliseconds, and nothing else runs for it. While a read holds an old snapshot (a supervisor's daily
log or report over a big day, an export) nothing past that snapshot can be folded, and the file grows by every commit;
the first commit after the read ended then folded all of it: after a 200 MB -wal the commits of the next seconds
waited up to 1.4 s. A checkpointer doing every checkpoint on a thread of its own cut that to 0.2 s, but cost every
logged event 1.18-1.24x the server's CPU (a thread woken every 1,000 pages, a lock taken at every commit).

Here the writer's note after a commit (`Watch.note`, which reads the -shm's first bytes anyway) wakes a `Folder` only
when the pages not folded back pass `FRAMES` (a read held them: the steady state stays near 4,000): the writer's
connection then checkpoints nothing (`wal_autocheckpoint=0`), and this thread folds what no reader holds (PASSIVE: it
waits for no one, and no one waits for it), every `PAUSE_S` while a reader holds the rest; once all is folded, a
RESTART that waits for no one (`busy_timeout=0`) lets the writer's next commit start the file over and cut it back,
and the thread ends. The writer's next note gives its connection SQLite's own checkpoint back (`Watch.note`).

The overwrite check (`Watch`) tells a checkpoint from a copy over the file by the -shm's checkpoint marks; a checkpoint
of this thread changes the file between two of the writer's looks. Each one therefore runs under the watch's lock,
after the watch's look (a file overwritten is not folded into), and the watch's view of the file and the record beside
it (`walowner`) are brought up to date before the lock is released; the writer never waits for the lock, and takes
it only while a folder runs.

A read that never ends (an `sqlite3` shell left inside a transaction) holds the rest for good: the thread's tries then
fold nothing, and each costs a PASSIVE checkpoint and a note (about 170 us of CPU: 6-6.6 s an hour, one every 0.1 s).
The pause after a try that folded nothing new doubles up to `PAUSE_MAX_S` (one every 5 s, 720 an hour), and is
`PAUSE_S` again once one does. A read is timed from its start as well as the folder can know it: the first try that
folded nothing new while a reader held a mark (not the folder's start, when 16 MB had piled up: a read begun minutes
after an earlier one let the fold go on was said at once); a try that folds more ends it. A read held past
`HELD_WARN_S` is said once in the log, naming the processes holding it (`readers`), and shown under `/readyz`'s
`log_wal_read` until it ends (`held`)."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from assistant import store
from assistant.logfile import readers

log = logging.getLogger(__name__)

# The pages in the -wal past which a commit of the writer folds it back (its connection's wal_autocheckpoint, given back
# once a folder is over). A checkpoint copies each page the commits changed once however often they changed it (the
# tables' last pages, the conversations' rows and their indexes change in every group) and syncs the file once: at
# SQLite's default of 1,000 one took about 6 ms of the writer's CPU every 10 groups of 20 events (a group writes about
# 100 pages), a fifth of its CPU; at 4,000 about 12 ms every 40 groups. The steady -wal is 16 MB instead of 4.
AUTOCHECKPOINT = 4000
# Pages in the -wal not folded back yet that wake a folder (32 MB of 4 kB pages): the writer's own checkpoint runs at
# AUTOCHECKPOINT, so only a read holding a snapshot lets them pile up this far (4,096 past it, the margin a short read
# had when the checkpoint ran at 1,000); a commit folding this many itself waits for about a fifth of a second (the
# 200 MB that took 1.4 s).
FRAMES = AUTOCHECKPOINT + 4096
ROUNDS = 3  # PASSIVE checkpoints in a row at most, while commits made during one leave pages to fold
PAUSE_S = 0.1  # after a checkpoint a reader held short: the next is tried no sooner
# The longest pause, after tries that folded nothing new: a read held that long costs 720 tries an hour rather than
# 36,000, and once it ends the fold begins within this (the -wal meanwhile grows as during the read).
PAUSE_MAX_S = 5.0
HELD_WARN_S = 300.0  # a read holding the -wal this long is said (once), with the processes that hold it

# The folders running now, by the log's path: `/readyz` reads what they say of a read held long (`held`).
_RUNNING: dict[str, Folder] = {}


def held(path: Path) -> str | None:
    """What a folder of the log at `path` says of the read holding its -wal past HELD_WARN_S, else None."""
    folder = _RUNNING.get(str(path))
    return None if folder is None else folder.held


class Folder:
    """Folds the log's -wal back on its own connection and thread until all of it is (`over`), or `close`."""

    def __init__(
        self,
        path: Path,
        fold: Callable[[Callable[[], None]], bool],
        now: Callable[[], float] = time.monotonic,
        wait: Callable[[float], bool] | None = None,
    ) -> None:
        """`fold(checkpoint)`: runs `checkpoint` under the overwrite check's lock and notes the file afterwards, or
        not at all (False) when the file is no longer the one the writer opened (`Watch.fold`). `now` (seconds) and
        `wait(pause)` (True once `close` was called; by default the stop's own wait): a test's clock."""
        self.path = path
        self._fold = fold
        self._now = now
        # When the read holding the -wal began, as the folder knows it: the first try that folded nothing new while a
        # reader held a mark; None while tries fold more.
        self.read_since: float | None = None
        self.pause = PAUSE_S  # the pause after the last try: doubled after each that folded nothing new
        self._holders: str | None = None  # who held the read said past HELD_WARN_S (`readers`), once
        self._folded_before = -1
        # Opened on the writer's thread, right after a commit of its own passed the check of the files' identities.
        self._conn = store.connect(path, busy_timeout_s=0.0)  # a RESTART waits for no one; PASSIVE never does
        self._stop = threading.Event()
        self._wait = self._stop.wait if wait is None else wait
        self.checkpoints = 0  # run, folded or not
        self.last: tuple[int, int, int] | None = None  # the last one's (busy, frames in the -wal, frames folded)
        self.folded = False  # everything was folded back (then the RESTART tried): the thread ends
        self.over = False  # the thread's last fold is noted and its lock released: the writer checkpoints again
        self._thread = threading.Thread(target=self._run, name="sqlite-folder", daemon=True)
        _RUNNING[str(path)] = self
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    if not self._fold(self._checkpoint):
                        return  # the file is not the writer's now: nothing is folded into it
                except sqlite3.Error as exc:  # tried again after the pause; the writer's commits go on
                    log.warning("a checkpoint of the log %s failed: %s", self.path, exc)
                except OSError as exc:  # writing the walowner record (a full disk): tried again too
                    log.warning("the log %s's -wal owner record was not written: %s", self.path, exc)
                if self.folded:
                    return
                self._back_off()
                if self._wait(self.pause):
                    return
        finally:
            self._conn.close()  # not the file's last connection (the writer's is open): it folds nothing
            if _RUNNING.get(str(self.path)) is self:
                del _RUNNING[str(self.path)]
            if self.folded:
                self._read_ended()
            self.over = True

    def _held_s(self) -> float:
        return 0.0 if self.read_since is None else self._now() - self.read_since

    def _read_ended(self) -> None:
        """A try folded more: the read that held the -wal ended (said, when it was said to hold it)."""
        if self._holders is not None:
            log.warning("the read that held the log's -wal %s-wal ended after %.0f s", self.path, self._held_s())
        self._holders = None
        self.read_since = None

    @property
    def held(self) -> str | None:
        """What the log and `/readyz` say of the read holding the -wal once past HELD_WARN_S, until it ends."""
        holders, since = self._holders, self.read_since  # read once: the folder's thread ends them together
        if holders is None or since is None or self.over:
            return None
        return (
            f"a read has held the log's snapshot for at least {(self._now() - since) / 60:.0f} minutes ({holders}): SQLite folds"
            " no commit made since it began back into the log, and the -wal file grows with every event until that"
            " read ends (about 50 kB an event); end it (an sqlite3 shell left inside a transaction: COMMIT, or quit it)"
        )

    def _back_off(self) -> None:
        """After a try that did not fold it all: the next one sooner when this one folded more, else later; a read
        held past HELD_WARN_S said once."""
        frames, folded = (0, -1) if self.last is None else self.last[1:]
        more = folded > self._folded_before
        self.pause = PAUSE_S if more else min(self.pause * 2, PAUSE_MAX_S)
        self._folded_before = max(folded, self._folded_before)
        if more:
            self._read_ended()
        elif self.read_since is None and folded < frames:  # a reader holds a mark, since this try at the latest
            self.read_since = self._now()
        if self._holders is None and self.read_since is not None and self._held_s() >= HELD_WARN_S:
            self._holders = readers.described(self.path)
            log.warning("%s; %s is folded back once it does (tried every %.0f s)", self.held, self.path, PAUSE_MAX_S)

    def _checkpoint(self) -> None:
        """Fold back what no reader holds; once all of it is folded, a RESTART, so that the writer's next commit
        starts the -wal over (and cuts it back): SQLite restarts the file only at a transaction that begins with
        every frame folded, and commits made during a long fold leave some behind."""
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
        # The last few commits' pages folded while the writer waits (busy_timeout 0: a writer in its transaction or
        # a reader makes it give up at once; the writer's own checkpoints then fold the rest, a few pages).
        busy, frames, folded = self._conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        self.last = (int(busy), int(frames), int(folded))
        self.checkpoints += 1
        self.folded = True

    def close(self) -> None:
        """End the thread after the checkpoint it runs, if one (the service's stop)."""
        self._stop.set()
        self._thread.join()
