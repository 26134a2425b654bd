"""The instances' budget of connections on their PostgreSQL server, checked at start and again whenever the set of
instances changes.

Each instance may open `upgrade.CONNECTIONS_PER_INSTANCE` connections. The start counted the instances then running
(instances.budget_problem): the one started last warned, and an instance started first, then joined by others that
pushed the sum past `max_connections` (less the reserved slots) or the role's `CONNECTION LIMIT`, never heard of it.
Now each instance looks at the listeners on the server every CHECK_EVERY_S (one small read) and, when the set
changed, counts again: a problem is warned once per change (with the new numbers), said in `/readyz`'s body while it
lasts (`connection_budget`; the instance stays ready: it serves, and short of connections its pages answer 503), and
its end is said once too.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from contextlib import closing

from assistant import pg, store
from assistant.cluster import instances
from assistant.tasks import TaskSet

log = logging.getLogger(__name__)

CHECK_EVERY_S = 10.0
_LISTENERS = "SELECT DISTINCT application_name FROM pg_stat_activity WHERE application_name LIKE ?"


class Budget:
    """The last count of the instances' connections against what the server and the role give (`problem`)."""

    def __init__(self, location: pg.Location, per_instance: int) -> None:
        self.location = location
        self.per_instance = per_instance
        self.problem: str | None = None  # what /readyz says while the instances may open more than they are given
        self._seen: frozenset[str] | None = None  # the instances' listeners counted last
        self._tasks = TaskSet("connection budget")

    def check(self) -> None:
        """Count again when the instances differ from the last count (the first call: always). Runs in a thread."""
        with closing(store.connect(self.location, readonly=True)) as conn:
            seen = frozenset(str(row[0]) for row in conn.execute(_LISTENERS, (f"{instances.LISTENER}%",)))
            if seen == self._seen:
                return
            problem = instances.budget_problem(conn, self.per_instance)
        self._seen = seen
        if problem is not None:
            log.warning("%s", problem)
        elif self.problem is not None:
            log.warning("the instances' connections fit on the PostgreSQL server again (%d instances)", len(seen))
        self.problem = problem

    def start(self) -> None:
        """Count again in the background as instances come and go."""
        self._tasks.spawn(self._watch())

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(CHECK_EVERY_S)
            try:
                await asyncio.to_thread(self.check)
            except sqlite3.Error as exc:  # the server down or full: counted at the next look
                log.info("the instances' connections were not counted: %s", exc)

    async def stop(self) -> None:
        await self._tasks.close()
