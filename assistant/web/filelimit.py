"""The process's open-file limit: said at start when low; reaching it is logged and shown by `/readyz`.

Each connection takes a descriptor. At the limit a new connection cannot be accepted, and the event loop says
nothing: uvloop (libuv) accepts it on a descriptor kept in reserve and closes it at once, so the client sees a
reset connection and the service's log stayed empty. The count of descriptors in use, sampled every second and
brought up to date as each connection is made, tells when the limit is reached.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import time
from collections.abc import Callable

from assistant.tasks import FaultLog

log = logging.getLogger(__name__)

LOW_LIMIT = 4096  # a limit below this is said at start: a busy hour's connections and the service's own files
HEADROOM = 8  # descriptors left: at the limit (the database's readers and a page's files need a few)
SAMPLE_EVERY_S = 1.0
RECENT_S = 10.0  # /readyz says so until this long after the limit was last met


def soft_limit() -> int | None:
    """The open-file limit this process may not pass (None: unlimited)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


def open_files() -> int | None:
    """How many descriptors this process has open (None where /proc does not tell)."""
    try:
        return len(os.listdir("/proc/self/fd")) - 1  # less the one listdir itself opened
    except OSError:
        return None


class FileLimit:
    """Whether the process is at its open-file limit, as far as its descriptors' count tells."""

    def __init__(
        self,
        *,
        limit: int | None = None,
        count: Callable[[], int | None] = open_files,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = soft_limit if limit is None else (lambda: limit)  # read again at each sample (prlimit)
        self.limit = self._limit()
        self._count = count
        self._clock = clock
        self._others = 0  # descriptors besides the connections, at the last sample
        self.full_at: float | None = None
        self.faults = FaultLog(log)

    def warn_if_low(self) -> None:
        """At start: a limit below LOW_LIMIT is said, with how to raise it."""
        if self.limit is not None and self.limit < LOW_LIMIT:
            log.warning("the open-file limit is %d: each connection takes one, and connections past it are reset;"
                        " raise it (systemd: LimitNOFILE=65536; a shell: ulimit -n 65536)", self.limit)  # fmt: skip

    def sample(self, connections: int) -> None:
        """The descriptors counted (every SAMPLE_EVERY_S), `connections` of them the server's."""
        self.limit = self._limit()
        count = self._count()
        if count is not None:
            self._others = max(0, count - connections)
            self._check(count)

    def connected(self, connections: int) -> None:
        """A connection was made: the server now holds `connections`."""
        self._check(self._others + connections)

    def _check(self, count: int) -> None:
        if self.limit is None:
            return
        if count >= self.limit - HEADROOM:
            self.full_at = self._clock()
            self.faults.log("files", "cannot accept connections: too many open files (%d in use, limit %d);"
                            " new connections are reset until some close", count, self.limit)  # fmt: skip
        elif self.full_at is not None and self._clock() - self.full_at >= RECENT_S:
            self.full_at = None
            self.faults.cleared("files", "open files below the limit again: connections are accepted")

    def problem(self) -> str | None:
        """What /readyz says while the limit was met in the last RECENT_S, else None."""
        if self.full_at is None or self._clock() - self.full_at >= RECENT_S:
            return None
        return f"too many open files (limit {self.limit}): connections are refused"

    async def watch(self, connections: Callable[[], int]) -> None:
        """Sample the count every SAMPLE_EVERY_S until cancelled."""
        while True:
            self.sample(connections())
            await asyncio.sleep(SAMPLE_EVERY_S)
