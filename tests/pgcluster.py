"""A throwaway PostgreSQL cluster for the tests: its own data directory, a local port, a non-root owner.

`make test` installs the Debian packages when missing (`make postgres-deps`). The cluster listens on
127.0.0.1 only, asks for a password over TCP (the service reads it from an environment variable, as in
production) and runs with fsync off: it is thrown away with the test session.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from assistant import pg

PASSWORD_ENV = "ASSISTANT_TEST_PG_PASSWORD"
USER = "assistant"


def postgres_bin() -> Path:
    """The newest installed PostgreSQL's bin directory (Debian keeps them under /usr/lib/postgresql)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run `make postgres-deps` (apt-get install postgresql)")
    return Path(found[-1]).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """initdb + pg_ctl in a temporary directory; `database()` creates a fresh database per test."""

    def __init__(self) -> None:
        self.bin = postgres_bin()
        self.root = Path(tempfile.mkdtemp(prefix="assistant-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.password = secrets.token_urlsafe(16)
        self._names = itertools.count(1)
        self._user: str | None = None
        self._options = ""
        if os.geteuid() == 0:  # initdb refuses root: the cluster belongs to an unprivileged account
            self._user = "postgres" if _has_user("postgres") else "nobody"
            uid = pwd.getpwnam(self._user).pw_uid
            os.chown(self.root, uid, -1)

    def _run(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args), user=self._user, check=True, capture_output=True, text=True, cwd=self.root, **kwargs
        )

    def start(self) -> None:
        pwfile = self.root / "pw"
        pwfile.write_text(self.password)
        if self._user is not None:
            shutil.chown(pwfile, self._user)
        pwfile.chmod(0o600)
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", USER, f"--pwfile={pwfile}",
            "--auth-local=trust", "--auth-host=scram-sha-256", "--locale=C", "--encoding=UTF8",
        )  # fmt: skip
        pwfile.unlink()
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c full_page_writes=off -c max_connections=300 -c shared_buffers=64MB"
        )
        self._options = options
        self.start_server()

    def start_server(self) -> None:
        """Start the server on the cluster's data (again, after `stop_server`)."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"), "-o", self._options,
                  "-w", "start")  # fmt: skip

    def stop_server(self) -> None:
        """Stop the server as an administrator's fast shutdown does: every connection ended, none taken until
        `start_server` (the data kept)."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def postmaster_pid(self) -> int:
        """The server's main process (its first line of postmaster.pid)."""
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def url(self, database: str) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def database(self, prefix: str = "t") -> pg.Location:
        """A new, empty database (its name unique in this cluster) and its location with the password."""
        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url("postgres"), password=self.password, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return pg.Location(self.url(name), self.password)

    def role_database(
        self, options: str = "", *, role_limit: int | None = None, settings: tuple[str, ...] = ()
    ) -> pg.Location:
        """A new database created with `options`, owned by a new role that is no superuser (a superuser passes every
        limit), with `role_limit` as its CONNECTION LIMIT and `settings` (`statement_timeout = '1s'`) as its own."""
        name = f"m_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url("postgres"), password=self.password, autocommit=True) as admin:
            admin.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} CONNECTION LIMIT {}").format(
                    sql.Identifier(name),
                    sql.Literal(self.password),
                    sql.Literal(-1 if role_limit is None else role_limit),
                )
            )
            for setting in settings:  # an administrator's: the role's sessions start with it
                admin.execute(sql.SQL("ALTER ROLE {} SET " + setting).format(sql.Identifier(name)))
            admin.execute(
                sql.SQL("CREATE DATABASE {} OWNER {} " + options).format(sql.Identifier(name), sql.Identifier(name))
            )
        return pg.Location(f"postgresql://{name}@127.0.0.1:{self.port}/{name}", self.password)

    def stop(self) -> None:
        pg.close_pools()
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
