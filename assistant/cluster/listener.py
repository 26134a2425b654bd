"""A connection of its own that LISTENs on one channel of a PostgreSQL database for as long as its owner runs.

On each (re)connection, after each notification and at least every `read_s`, the owner's `catch_up` reads what
there is to read: what was written while the connection was down, and what a lost notification did not announce.
A lost connection is reopened every `reconnect_s` (one warning line, then one when it is back). The live journal
(relay.py) and fleet reloads (reloads.py) each keep one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import psycopg

from assistant import pg
from assistant.tasks import FaultLog

CatchUp = Callable[[psycopg.AsyncConnection[Any]], Awaitable[None]]


async def connect(location: pg.Location, application_name: str) -> psycopg.AsyncConnection[Any]:
    """An autocommit connection named `application_name` (as `pg_stat_activity` shows it), bounded like the pool's."""
    kwargs: dict[str, Any] = {"autocommit": True, "application_name": application_name, **pg.SOCKET_BOUNDS}
    if location.password is not None:
        kwargs["password"] = location.password
    conn = await psycopg.AsyncConnection.connect(location.url, **kwargs)
    try:
        if (
            conn.info.server_version >= 140000
        ):  # kept when idle, whatever the role's idle_session_timeout (pg._configure)
            await conn.execute("SET idle_session_timeout = 0")
    except BaseException:  # dropped meanwhile (or cancelled): closed here, as the caller never gets it
        await conn.close()
        raise
    return conn


class Listener:
    """LISTEN `channel` on a connection from `connect`, first running `setup` on it; `catch_up` reads."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[psycopg.AsyncConnection[Any]]],
        channel: str,
        catch_up: CatchUp,
        *,
        what: str,
        faults: FaultLog,
        read_s: float,
        reconnect_s: float,
        setup: Sequence[str] = (),
    ) -> None:
        self.connect = connect
        self.channel = channel
        self.catch_up = catch_up
        self.what = what  # the listener as the log names it
        self.faults = faults
        self.read_s = read_s
        self.reconnect_s = reconnect_s
        self.setup = tuple(setup)
        self.listening = asyncio.Event()  # connected, and caught up once since
        self.connections = 0  # connections made: what one missed while down, the next may not read (pruned)

    async def run(self) -> None:
        while True:
            try:
                async with await self.connect() as conn:
                    self.connections += 1
                    for statement in self.setup:
                        await conn.execute(statement)
                    await conn.execute(f"LISTEN {self.channel}")
                    await self.catch_up(conn)  # what was written while not listening
                    self.listening.set()
                    self.faults.cleared("listen", f"{self.what} connected again")
                    while True:
                        async for _ in conn.notifies(timeout=self.read_s, stop_after=1):
                            pass
                        await self.catch_up(conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.listening.clear()
                self.faults.log("listen", f"{self.what} lost its connection (%s); reconnecting", exc)
                await asyncio.sleep(self.reconnect_s)
