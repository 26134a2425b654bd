"""`/readyz`'s write probe, answered within a load balancer's check: a probe queued behind a group that waits (a row
lock another session holds, a server slow to answer) is not waited for past PROBE_WITHIN_S; the answer says that
writes are stuck, for how long, and on PostgreSQL what the writer's session waits for. A busy writer whose groups
commit as they come is ready, though the probe waits its turn behind them.

Before, the probe waited its turn behind the stuck group, `busy_timeout_s` and more (2–5 s), past the 1–2 s a load
balancer's check waits: the check timed out with no reason given, and when the group gave up the probe said ready.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from contextlib import closing
from weakref import WeakKeyDictionary

from assistant import pg, store
from assistant.writer import Writer

log = logging.getLogger(__name__)

PROBE_WITHIN_S = 0.8  # the probe's own wait (a locked table is waited for 0.5 s, pg.PROBE_LOCK_WAIT_MS)
EXPLAIN_WITHIN_S = 0.2  # then the look at what the writer's PostgreSQL session waits for
# A group committing this long without waiting for a lock is stuck (a slow or silent server, SQLite's busy file); under
# load a group takes 0.2-0.4 s on two busy cores, and a probe queued behind two of them is not an instance unready.
STUCK_AFTER_S = 0.5
# A probe still queued when its /readyz answered: the next /readyz waits for it rather than queueing another.
_pending: WeakKeyDictionary[Writer, asyncio.Future[sqlite3.Error | None]] = WeakKeyDictionary()


class Stuck(sqlite3.OperationalError):
    """The writer did not take the probe within PROBE_WITHIN_S, its group waiting (`reason`: the kind said to anyone)."""

    reason = "busy"


async def probe(writer: Writer) -> sqlite3.Error | None:
    """None if a write commits now, or if the writer, busy, commits its groups as they come; else the error, or Stuck
    when its group waits (for a lock another session holds, or STUCK_AFTER_S and more)."""
    pending = _pending.get(writer)
    if pending is None or pending.done():
        pending = asyncio.ensure_future(writer.probe())
        pending.add_done_callback(_retrieved)
        _pending[writer] = pending
    done, _ = await asyncio.wait({pending}, timeout=PROBE_WITHIN_S)
    if done:
        return pending.result()
    return await _stuck(writer)


def _retrieved(future: asyncio.Future[sqlite3.Error | None]) -> None:
    if not future.cancelled() and future.exception() is not None:  # a probe nobody waits for any more
        log.warning("readiness probe failed: %s", future.exception())


async def _stuck(writer: Writer) -> Stuck | None:
    session, blockers = writer.session, None
    if session is not None and isinstance(writer.path, pg.Location):
        try:
            blockers = await asyncio.wait_for(asyncio.to_thread(_lock_holders, writer.path, session), EXPLAIN_WITHIN_S)
        except (TimeoutError, sqlite3.Error) as exc:  # not known in time: the stuck writes are said all the same
            log.info("what the writer's session %s waits for was not read: %r", session, exc)
    since = writer.group_since
    if since is None:  # the probe's group was just taken: it commits
        return None
    waited = f"{time.monotonic() - since:.1f} s"
    if blockers:
        stuck = Stuck(f"writes have waited {waited} for a lock another session holds")
        writer.faults.log("request:stuck", "not ready: the writer's session %s waits for a lock held by %s", session, blockers)  # fmt: skip
    elif time.monotonic() - since < STUCK_AFTER_S:  # a busy writer, its groups quick: the probe waits its turn
        return None
    else:
        stuck = Stuck(f"writes have waited {waited} for the database")
        writer.faults.log("request:stuck", "not ready: the writer's group has waited %s", waited)
    return stuck


def _lock_holders(location: pg.Location, session: int) -> str | None:
    """The sessions holding the lock the writer's session `session` waits for (their pid, application, state), or
    None when it waits for no lock. Runs in a thread."""
    with closing(store.connect(location, readonly=True)) as conn:
        row = conn.execute(
            "SELECT string_agg(b.pid::text || ' (' || coalesce(nullif(b.application_name, ''), b.usename::text, '?')"
            " || ', ' || coalesce(b.state, '?') || ')', ', ')"
            " FROM pg_stat_activity a JOIN pg_stat_activity b ON b.pid = ANY (pg_blocking_pids(a.pid))"
            " WHERE a.pid = ?",
            (session,),
        ).fetchone()
    return None if row is None else row[0]
