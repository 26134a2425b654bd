"""`assistant serve`: run the service until SIGINT/SIGTERM, then flush and exit 0."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import socket
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import quote

import click

from assistant import pg, store
from assistant.cli.common import common_options, load, os_problem
from assistant.config import Config
from assistant.i18n import N_, _, database_reason, os_reason
from assistant.logfile import walowner
from assistant.safetext import display_width

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger(__name__)


@click.command("serve", help=N_("run the web service"))
@common_options
@click.option("--host", default=None, help=N_("listen address (overrides [server] host)"))
@click.option("--port", type=int, default=None, help=N_("listen port (overrides [server] port)"))
@click.option("--new-log", is_flag=True, help=N_("start a new, empty log in an existing empty (0-byte) SQLite file"))
def serve_command(config_path: Path, db: Path | None, host: str | None, port: int | None, new_log: bool) -> int:
    code = serve(load(config_path, db, host=host, port=port), new_log=new_log)
    if code == 0:  # stopped cleanly: everything is flushed and closed
        _exit_now(code)
    return code


def _exit_now(code: int) -> NoReturn:
    """End the process without the interpreter's teardown, once the service has closed everything itself.

    The teardown frees the whole heap object by object and collects it again and again: after a busy half hour
    (650 MB) that took 18 s after the log was closed, and `docker stop` (10 s) killed the process before it.
    Nothing is left for it to do: the log is flushed, the workers and threads have ended.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def serve(config: Config, *, new_log: bool = False) -> int:
    """Start the web service and block until SIGTERM or SIGINT; 1 when the database cannot be used (`new_log`: an
    existing empty SQLite file may become a new log)."""
    from assistant.plugins import build_plugin_manager
    from assistant.web import server
    from assistant.web.auth import open_demo, token_for
    from assistant.writer import StorageError

    try:  # taken before the slow start: systemd queues the requests that come meanwhile
        sock = server.inherited_socket()
    except OSError as exc:
        print(_("assistant: the socket systemd passed cannot be used: %(reason)s", reason=os_problem(exc)), file=sys.stderr)  # fmt: skip
        return 1
    reach = f"{config.server.host}:{config.server.port}" if sock is None else _address(sock)
    # The hook modules, imported and checked now: a misspelt or broken one refuses the start before the log is
    # created or opened and the matching workers start (one announced itself ready after the refusal).
    build_plugin_manager(config)

    if config.secret(config.webhook.secret_env) is None:
        log.warning(
            "%s is not set: unsigned events are accepted on /v1/events (set it in production)",
            config.webhook.secret_env,
        )
    demo = open_demo(config)
    for role in ("agent", "supervisor", "admin"):
        if token_for(config, role) is None and demo:  # type: ignore[arg-type]
            log.warning(
                "no %s token is set: %s pages and endpoints are open to anyone who can reach %s", role, role, reach
            )
        elif token_for(config, role) is None and role == "admin":  # type: ignore[arg-type]
            log.warning("no admin token is set: admin pages and endpoints are closed (no role is stronger)")
        elif token_for(config, role) is None:  # type: ignore[arg-type]
            log.warning("no %s token is set: %s pages and endpoints open only to a stronger role's token", role, role)
    location = config.location()
    held = None
    if not isinstance(location, pg.Location):  # several instances share PostgreSQL; one process a SQLite file
        try:
            held = _hold_alone(location, new_log=new_log)
        except StorageError as exc:
            print(f"assistant: {exc}", file=sys.stderr)
            return 1
    try:
        return _serve(config, sock)
    finally:
        if held is not None:
            store.let_go(held)


def _serve(config: Config, sock: socket.socket | None) -> int:
    """The service itself, once its SQLite file is held."""
    from assistant.app import create_app  # the whole service (~0.8 s of imports): only when serving
    from assistant.qa.rules import RulesError
    from assistant.suggest.phrases import LibraryError
    from assistant.web import server
    from assistant.writer import StorageError

    try:
        app = create_app(config)
    except (LibraryError, RulesError) as exc:
        return _cannot_start(exc)
    app.on_startup.append(_reload_on_sighup)
    base = f"http://{config.server.host}:{config.server.port}" if sock is None else _address(sock)

    async def until_signalled() -> None:
        # SIGTERM/SIGINT: stop accepting, finish in-flight requests, run clean-up (flush), exit 0.
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        await stopping.wait()

    main = server.run(
        app,
        config,
        host=config.server.host,
        port=config.server.port,
        started=lambda: print(_banner(config, base), flush=True),
        stop=until_signalled,
        sock=sock,
    )
    # uvloop: a faster event loop (libuv); the service runs the same without it.
    try:
        with asyncio.Runner(loop_factory=_uvloop_factory()) as runner:
            runner.run(main)
    except StorageError as exc:
        print(f"assistant: {exc}", file=sys.stderr)
        return 1
    except (LibraryError, RulesError) as exc:
        return _cannot_start(exc)
    except socket.gaierror:  # a [server] host that is neither an address nor a name that resolves
        print(_("assistant: %(key)s: %(host)s is not an address or a host name that resolves", key="[server] host", host=repr(config.server.host)), file=sys.stderr)  # fmt: skip
        return 1
    except OSError as exc:
        if exc.errno not in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES):
            raise
        where = f"{config.server.host}:{config.server.port}"
        print(_("assistant: cannot listen on %(where)s: %(reason)s", where=where, reason=os_problem(exc)), file=sys.stderr)  # fmt: skip
        return 1
    return 0


def _address(sock: socket.socket) -> str:
    """The base URL of a socket systemd passed (its own address: `[server] host` and `port` do not apply)."""
    name = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        return f"unix:{name}"
    host = f"[{name[0]}]" if sock.family == socket.AF_INET6 else name[0]
    return f"http://{host}:{name[1]}"


def _cannot_start(exc: Exception) -> int:
    """A phrase library or rule file that does not load: one line, not a traceback (`phrases check` lists all)."""
    from assistant.suggest.phrases import LibraryError

    if isinstance(exc, LibraryError):
        more = len(exc.problems) - 1
        line = _("assistant: the phrase library cannot be loaded: %(first)s", first=exc.problems[0])
        if more:
            line += _(" (and %(n)s more: `assistant phrases check` lists them)", n=more)
    else:
        line = _("assistant: the quality rules cannot be loaded: %(error)s", error=" ".join(str(exc).split()))
    print(line, file=sys.stderr)
    return 1


async def _reload_on_sighup(app: web.Application) -> None:
    """SIGHUP reloads the phrase library and the quality rules; bad ones keep the old serving (the log says why)."""
    from assistant.web.suggest import reload_on_signal

    asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload_on_signal, app)


def _hold_alone(path: Path, *, new_log: bool = False) -> int:
    """The service's lock on its SQLite file (`store.hold_alone`; let go when the process ends); a large -wal
    file left by an earlier run is said before the minute it may take to fold back (`/readyz` says `starting` meanwhile).

    An existing file of 0 bytes (an operator's `touch`, a copy cut to nothing, a restore that failed) is refused
    unless `new_log`: SQLite took it for a new database, and the service started a new, empty log in it without a
    word. The file the service creates itself gets its header at once, so that a first start cut short leaves none."""
    from assistant.writer import WAL_LIMIT_BYTES, StorageError

    created = not path.exists()
    if not (created or new_log) and _empty(path):
        raise StorageError(
            _(
                "%(path)s is an empty file (0 bytes), not a log: restore the log or its backup to this path (assistant store backup makes one), or start a new, empty log in it with assistant serve --new-log",
                path=path,
            )  # fmt: skip
        )
    try:
        held = store.hold_alone(path)
        if created or (new_log and _empty(path)):
            store.connect(path).close()  # the header written: SQLite writes it when the file enters WAL mode
    except sqlite3.Error as exc:
        raise StorageError(_("%(path)s: cannot open the database (%(reason)s)", path=path, reason=database_reason(exc))) from None  # fmt: skip
    except store.InUse:
        raise StorageError(
            _(
                "%(path)s: another service process already serves this database (one process per SQLite file; several instances share PostgreSQL: docs/scaling.md)",
                path=path,
            )  # fmt: skip
        ) from None
    except OSError as exc:
        raise StorageError(_("%(path)s: cannot open the database (%(reason)s)", path=path, reason=os_reason(exc))) from None  # fmt: skip
    wal = Path(f"{path}-wal")
    if walowner.foreign_wal(path):  # before anything opens the file: SQLite would apply that -wal to it
        raise StorageError(
            _(
                "%(path)s changed since the service last wrote to it (a backup copied over it, or moved in its place?), and %(wal)s beside it holds the commits of the file before: opening it now would apply them to this file and mix the two logs. Nothing was opened or changed. To serve the file now at %(path)s, move %(wal)s and %(path)s-shm aside (keep them: the other file's last events are in that -wal) and start again; otherwise put back the file that -wal belongs to",
                path=path,
                wal=wal,
            )  # fmt: skip
        )
    size = wal.stat().st_size if wal.exists() else 0
    if size > WAL_LIMIT_BYTES:
        log.warning("%s is %.1f GB: it was not folded back into the database before (a stop that was no clean stop,"
                    " or a long read holding it); folding it back may take a minute (/readyz answers 503 starting"
                    " meanwhile)", wal, size / 1e9)  # fmt: skip
    return held


def _empty(path: Path) -> bool:
    """Whether the file is there and holds nothing, nor does a -wal beside it (whose commits SQLite would apply)."""
    try:
        if path.stat().st_size:
            return False
        return Path(f"{path}-wal").stat().st_size == 0
    except FileNotFoundError:
        return True  # the file (of 0 bytes) has no -wal


def _banner(config: Config, base: str) -> str:
    """Where things are; never a token (the banner ends up in logs): `assistant panel-url` prints one."""
    from assistant.web.auth import token_for

    agent_hint = _("  (add &token=…: assistant panel-url --agent NAME)") if token_for(config, "agent") else ""
    supervisor_hint = _("  (add ?token=<supervisor token>)") if token_for(config, "supervisor") else ""
    rows = [
        (_("events webhook"), f"POST {base}/v1/events"),
        (_("suggestions"), f"GET  {base}/v1/suggest?text=…"),
        (_("agent panel"), f"{base}/panel?agent={quote(config.panel.demo_agent)}{agent_hint}"),  # pastes into curl
        (_("daily report"), f"{base}/reports/daily{supervisor_hint}"),
        (_("health"), f"GET  {base}/healthz, {base}/readyz"),
    ]
    width = max(display_width(name) for name, _where in rows) + 3
    lines = [_("assistant serving on %(base)s  (db: %(db)s)", base=base, db=config.location())]
    lines += [f"  {name}{' ' * (width - display_width(name))}{where}" for name, where in rows]
    return "\n".join(lines)


def _uvloop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a declared dependency; tolerate its absence
        return None
    return uvloop.new_event_loop
