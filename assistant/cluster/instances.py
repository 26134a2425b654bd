"""The instances running on one PostgreSQL database: what a command that must run alone (`buyer erase`) asks.

On SQLite a service holds the file's lock and a command sees it. On PostgreSQL each instance's journal listener
(relay.py), the connection it keeps for its whole life, holds a shared advisory lock and names the instance in
its `application_name` (`cs-assistant-listen <host> <pid>`): the lock (and the connection) goes when the process
does, however it ends. A command finds the holders in `pg_locks`, and keeps instances from starting under it by
taking the lock exclusively in its transaction (a starting listener waits for it). Listeners of releases before
the lock are found by their `application_name`.
"""

from __future__ import annotations

import os
import socket
import sqlite3

LOCK = 0x6173696E  # one advisory lock (a bigint key): shared by every running instance
LISTENER = "cs-assistant-listen"
HOLD = f"SELECT pg_advisory_lock_shared({LOCK})"  # a listener, on each (re)connection
_RUNNING = (
    "SELECT a.application_name, a.pid, host(a.client_addr), a.backend_start::timestamp(0)::text"
    " FROM pg_stat_activity a WHERE a.pid <> pg_backend_pid() AND a.datname = current_database()"
    " AND (a.application_name LIKE ? OR a.pid IN (SELECT l.pid FROM pg_locks l WHERE l.locktype = 'advisory'"
    f" AND l.classid = 0 AND l.objid = {LOCK} AND l.objsubid = 1 AND l.granted))"
    " ORDER BY a.backend_start, a.pid"
)


def listener_name() -> str:
    """This process's listener as `pg_stat_activity` shows it (PostgreSQL keeps 63 bytes)."""
    return f"{LISTENER} {socket.gethostname()[:32]} {os.getpid()}"


def running(conn: sqlite3.Connection) -> list[str]:
    """The instances listening on the connection's database, each as `host pid N (address, since when)`."""
    found = []
    for name, pid, address, since in conn.execute(_RUNNING, (f"{LISTENER}%",)):
        parts = str(name or "").split()
        who = f"{parts[1]} pid {parts[2]}" if len(parts) == 3 else f"pid {pid}"  # older releases name no host
        found.append(f"{who} ({address or 'local'}, since {since})")
    return found


def exclude(conn: sqlite3.Connection) -> bool:
    """Inside a transaction: whether no instance runs, and none starts until it ends (the lock taken)."""
    return bool(conn.execute(f"SELECT pg_try_advisory_xact_lock({LOCK})").fetchone()[0])
