"""A reload of every instance on one PostgreSQL database: `POST /v1/admin/reload?fleet=1`.

The instance asked records the request (a `fleet_reloads` row) and NOTIFYs it; every instance LISTENs on a
connection of its own, named `cs-assistant-reload <host> <pid> <token>`, reloads its own files as a reload it was
asked for alone does (web/suggest.py: both the phrase library and the quality rules, or neither), and records its
outcome (a `fleet_reload_results` row, NOTIFYing the asker). The asker waits up to `[phrases]
fleet_reload_wait_s` (or the request's `wait_s`) for the outcome of every instance listening when it asked, and
answers with each; an instance that was not listening then (its connection down, an older release) is named, not
waited for.

An instance that missed a request (its connection was down) reloads once it is connected again, if a request came
after its last reload; one started after a request read the files at its start (a request asked while it was
loading them is taken as unseen: one reload too many, never one too few).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from assistant import pg
from assistant.cluster import instances
from assistant.cluster.listener import Listener, connect
from assistant.suggest.matching import digest as digest  # the library a reload serves
from assistant.tasks import FaultLog

log = logging.getLogger(__name__)

CHANNEL = "assistant_reload"
DONE_CHANNEL = "assistant_reload_done"
LISTENER = "cs-assistant-reload"
RECONNECT_S = 1.0
READ_S = 30.0  # the requests are read at least this often (besides each notification)
KEEP_MS = 7 * 24 * 3_600_000  # requests and outcomes older than this are deleted when one is asked
LOAD_MARGIN_MS = 1_000  # a request this close before the files were read at start is reloaded all the same
_NOW_MS = "(extract(epoch from clock_timestamp()) * 1000)::bigint"

# What the instance's own reload gives back: (reloaded, problems, phrases serving after it, their digest).
Reload = Callable[[], Awaitable[tuple[bool, list[str], int, str]]]


@dataclass
class Outcome:
    """One instance's answer to a fleet reload (`reloaded` None: it has not answered)."""

    instance: str
    reloaded: bool | None = None
    phrases: int | None = None
    library: str | None = None  # `digest` of the library serving after it: machines with other files differ
    problems: list[str] = field(default_factory=list)
    note: str | None = None

    def json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"instance": self.instance, "answered": self.reloaded is not None}
        if self.reloaded is not None:
            body["reloaded"] = self.reloaded
        if self.phrases is not None:
            body["phrases"] = self.phrases
        if self.library:
            body["library"] = self.library
        if self.problems:
            body["problems"] = self.problems
        if self.note:
            body["note"] = self.note
        return body


def this_instance() -> str:
    """This process as the answer shows an instance."""
    return f"{socket.gethostname()} pid {os.getpid()}"


def shown(name: str) -> str:
    """An instance as the answer shows it: `host pid N`, as `buyer erase` names running instances."""
    parts = name.split()
    return f"{parts[1]} pid {parts[2]}" if len(parts) >= 3 else name


class FleetReloads:
    """This instance's part in fleet reloads: it listens for requests and reloads; it asks the others."""

    def __init__(
        self, location: pg.Location, reload: Reload, *, wait_s: float = 60.0, loaded_monotonic: float | None = None
    ) -> None:
        self.location = location
        self.reload = reload
        self.wait_s = wait_s  # the asker's wait for every instance's outcome (a 20,000-phrase library takes seconds)
        token = secrets.token_hex(3)
        self.name = f"{LISTENER} {socket.gethostname()[:24]} {os.getpid()} {token}"  # ≤ 63 bytes: pg keeps those
        # When this process read its files (monotonic): requests asked since then are not in what it serves.
        self.loaded_monotonic = time.monotonic() if loaded_monotonic is None else loaded_monotonic
        self.applied = 0  # the latest request whose files this instance serves (or refused)
        self._faults = FaultLog(log, level=logging.WARNING)
        self._listener = Listener(
            lambda: connect(location, self.name),
            CHANNEL,
            self._catch_up,  # requests asked while not listening first, then each one notified
            what="fleet reload listener",
            faults=self._faults,
            read_s=READ_S,
            reconnect_s=RECONNECT_S,
        )
        self.listening = self._listener.listening
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        async with await connect(self.location, "cs-assistant-reload-start") as conn:
            elapsed_ms = int((time.monotonic() - self.loaded_monotonic) * 1000) + LOAD_MARGIN_MS
            cur = await conn.execute(
                f"SELECT coalesce(max(id), 0) FROM fleet_reloads WHERE asked_ms < {_NOW_MS} - %s", (elapsed_ms,)
            )
            row = await cur.fetchone()
            self.applied = int(row[0]) if row else 0
        self._task = asyncio.get_running_loop().create_task(self._listener.run(), name="fleet-reload-listen")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("fleet reload listener failed")

    # ---- listening: this instance reloads ---------------------------------------------------------

    async def _catch_up(self, conn: psycopg.AsyncConnection[Any]) -> None:
        cur = await conn.execute("SELECT coalesce(max(id), 0) FROM fleet_reloads")
        row = await cur.fetchone()
        latest = int(row[0]) if row else 0
        if latest <= self.applied:
            return
        log.info("fleet reload %d asked: reloading the phrase library and the quality rules", latest)
        try:
            reloaded, problems, phrases, library = await self.reload()
        except Exception as exc:  # recorded as refused: the asker must not wait for an answer that never comes
            log.exception("fleet reload %d failed", latest)
            reloaded, problems, phrases, library = False, [f"the reload failed: {exc}"], 0, ""
        async with conn.transaction():
            for request in range(self.applied + 1, latest + 1) if latest - self.applied <= 16 else [latest]:
                await conn.execute(
                    "INSERT INTO fleet_reload_results"
                    " (reload_id, instance, reloaded, phrases, library, problems, done_ms)"
                    f" SELECT id, %s, %s, %s, %s, %s, {_NOW_MS} FROM fleet_reloads WHERE id = %s"
                    " ON CONFLICT (reload_id, instance) DO NOTHING",
                    (self.name, reloaded, phrases, library, json.dumps(problems, ensure_ascii=False), request),
                )
            await conn.execute("SELECT pg_notify(%s, %s)", (DONE_CHANNEL, str(latest)))
        self.applied = latest

    # ---- asking: every instance reloads -----------------------------------------------------------

    async def ask(self, *, wait_s: float | None = None) -> list[Outcome]:
        """Ask every instance to reload; each one's outcome, or its absence after `wait_s` (this one's first;
        None: the configured wait)."""
        wait_s = self.wait_s if wait_s is None else wait_s
        async with await connect(self.location, "cs-assistant-reload-ask") as conn:
            await conn.execute(f"LISTEN {DONE_CHANNEL}")
            cur = await conn.execute(
                "SELECT application_name FROM pg_stat_activity WHERE datname = current_database()"
                " AND application_name LIKE %s ORDER BY backend_start, pid",
                (f"{LISTENER} %",),
            )
            listening = [str(name) for (name,) in await cur.fetchall()]
            async with conn.transaction():
                cur = await conn.execute(
                    f"INSERT INTO fleet_reloads (asked_ms, asked_by) VALUES ({_NOW_MS}, %s) RETURNING id", (self.name,)
                )
                row = await cur.fetchone()
                assert row is not None
                request = int(row[0])
                await conn.execute(f"DELETE FROM fleet_reload_results WHERE done_ms < {_NOW_MS} - %s", (KEEP_MS,))
                await conn.execute(f"DELETE FROM fleet_reloads WHERE asked_ms < {_NOW_MS} - %s", (KEEP_MS,))
                await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(request)))
            expected = [name for name in listening if name != self.name]
            expected.insert(0, self.name)  # this instance's listener, even if its connection is being reopened
            deadline = time.monotonic() + wait_s
            answers: dict[str, Outcome] = {}
            while True:
                cur = await conn.execute(
                    "SELECT instance, reloaded, phrases, library, problems FROM fleet_reload_results"
                    " WHERE reload_id = %s",
                    (request,),
                )
                for name, reloaded, phrases, library, problems in await cur.fetchall():
                    answers[str(name)] = Outcome(
                        shown(str(name)), bool(reloaded), phrases, library or None, json.loads(problems)
                    )
                left = deadline - time.monotonic()
                if all(name in answers for name in expected) or left <= 0:
                    break
                async for _ in conn.notifies(timeout=min(left, 1.0), stop_after=1):
                    pass
            others = await _silent_instances(conn, listening)
        outcomes = [
            answers.pop(name) if name in answers else Outcome(shown(name), note="no answer yet") for name in expected
        ]
        outcomes.extend(answers.values())  # an instance that connected after the request was asked
        outcomes.extend(Outcome(who, note="does not take fleet reloads (an older release?)") for who in others)
        return outcomes


async def _silent_instances(conn: psycopg.AsyncConnection[Any], listening: list[str]) -> list[str]:
    """Instances running on the database (their journal listener) with no fleet reload listener: older releases,
    or one whose reload connection is down."""
    cur = await conn.execute(
        "SELECT application_name FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE %s",
        (f"{instances.LISTENER} %",),
    )
    taking = {tuple(name.split()[1:3]) for name in listening}
    return [shown(str(name)) for (name,) in await cur.fetchall() if tuple(str(name).split()[1:3]) not in taking]
