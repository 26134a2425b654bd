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


def budget_problem(conn: sqlite3.Connection, per_instance: int) -> str | None:
    """Why the instances on this server, this one and the others listening (each may open `per_instance`
    connections), with the other sessions there now, need more connections than the server or this role gives; or None.

    Counted from the instances, not from the connections they hold now: instances started together each saw the
    others' few connections of their start, and none said that four of them may open more than the server has.
    """
    me = listener_name()
    row = conn.execute(
        "SELECT current_setting('max_connections')::int,"
        " CASE WHEN r.rolsuper THEN 0 ELSE current_setting('superuser_reserved_connections')::int"
        "  + coalesce(current_setting('reserved_connections', true)::int, 0) END,"
        " (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
        "  AND coalesce(application_name, '') NOT LIKE 'cs-assistant%'),"
        " (SELECT count(DISTINCT application_name) FROM pg_stat_activity WHERE application_name LIKE ? AND application_name <> ?),"
        " (SELECT count(DISTINCT application_name) FROM pg_stat_activity WHERE application_name LIKE ?"
        "  AND application_name <> ? AND usename = current_user),"
        " CASE WHEN r.rolconnlimit < 0 OR r.rolsuper THEN NULL ELSE r.rolconnlimit END"
        " FROM pg_roles r WHERE r.rolname = current_user",
        (f"{LISTENER}%", me, f"{LISTENER}%", me),
    ).fetchone()
    if row is None:
        return None
    max_connections, reserved, others, instances, of_role, role_limit = (row[i] for i in range(6))
    allowed, need = int(max_connections) - int(reserved), (int(instances) + 1) * per_instance + int(others)
    if need > allowed:
        return (
            f"{int(instances) + 1} instances on this PostgreSQL server (this one counted) may open up to"
            f" {need - int(others)} connections ({per_instance} each, docs/scaling.md) beside the {others} other"
            f" sessions there now, and the server gives {allowed} (max_connections {max_connections} less"
            f" {reserved} reserved): raise max_connections to {int(max_connections) + need - allowed} or more, or run"
            " fewer instances; short of them, pages and reads answer 503 (no free connection) under load"
        )
    role_need = (int(of_role) + 1) * per_instance
    if role_limit is not None and role_need > int(role_limit):
        return (
            f"{int(of_role) + 1} instances of the role {conn.execute('SELECT current_user').fetchone()[0]} (this one"
            f" counted) may open up to {role_need} connections ({per_instance} each, docs/scaling.md), and its"
            f" CONNECTION LIMIT is {role_limit}: raise it to {role_need} or more (ALTER ROLE … CONNECTION LIMIT), or run"
            " fewer instances; short of them, pages and reads answer 503 (no free connection) under load"
        )
    return None
