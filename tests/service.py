"""Run the real service as a subprocess for end-to-end tests."""

from __future__ import annotations

import compileall
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Generic, TypeVar

import aiohttp

from assistant import pg
from assistant.config import StoreConfig
from tests.helpers import eventually

ROOT = Path(__file__).resolve().parent.parent


# The project's own packages a process the tests start may import (a service, a command, a matching worker, a bench
# server, a fake platform).
PACKAGES = ("assistant", "hooks", "tests", "bench")


def compile_project() -> bool:
    """The project's modules compiled to bytecode beside their sources (`__pycache__`), where they are not yet or their
    source changed since; True when all of them compiled (a file that does not, a test's broken module, is left to be
    compiled, or refused, by the process that imports it).

    Where the environment says not to write bytecode (PYTHONDONTWRITEBYTECODE), every process the tests start compiled
    the project's modules from source again: about 0.45 s of CPU for each service and command (of 1.2-1.7 s to import
    them), 0.2 s for each matching worker, hundreds of times a run. The processes still write none themselves: a
    module edited during the run is compiled from its source by each, as before."""
    return all(compileall.compile_dir(ROOT / package, quiet=1) for package in PACKAGES)


def service_config(folder: Path, sections: str) -> Path:
    """A config.toml in `folder` with these TOML `sections`, on the shipped phrase library (a relative path would
    be looked for beside the file)."""
    path = folder / "config.toml"
    path.write_text(f'[phrases]\npath = "{ROOT / "phrases"}"\n\n{sections}', encoding="utf-8")
    return path


# How long a start is waited for: a liveness bound, not a timing goal. `python -m bench bench_start` took 10-14 s to ready
# alone at a load average of 17-19, and among the suite's four processes at 18-22 three starts of
# tests/test_chatwoot_outcomes.py were not ready within the 20 s waited before.
START_S = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


D = TypeVar("D", bound=Path | pg.Location)


class Service(Generic[D]):
    """`python -m assistant serve` on a free port, with its output captured to a file."""

    def __init__(
        self,
        config: Path,
        db: D,
        *,
        env: dict[str, str] | None = None,
        port: int | None = None,
        log_dir: Path | None = None,
    ) -> None:
        self.config = config
        self.db: D = db
        self.port = port or free_port()
        self.env = {**os.environ, **(env or {})}
        if isinstance(db, pg.Location):  # the URL on the command line, the password where [store] expects it
            self.env[StoreConfig().password_env] = db.password or ""
        folder = log_dir or (db.parent if isinstance(db, Path) else config.parent)
        self.log = folder / f"service-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, timeout: float = START_S, *, listening: bool = False) -> Service[D]:
        """Start the process and wait until its start is over: /healthz answers, and /readyz no longer says
        `starting` (it listens while it recovers its state, and answers events only after); with `listening`,
        only until /healthz answers (the start may still be recovering)."""
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "assistant",
                    "serve",
                    "--config",
                    str(self.config),
                    "--db",
                    self.db.url if isinstance(self.db, pg.Location) else str(self.db),
                    "--port",
                    str(self.port),
                ],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        proc = self.proc

        async def healthy() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"service exited early: {self.log.read_text(errors='replace')}")
            try:
                async with aiohttp.ClientSession() as session:
                    async with session.get(f"{self.url}/healthz", timeout=aiohttp.ClientTimeout(total=1)) as resp:
                        if resp.status != 200 or listening:
                            return resp.status == 200
                    async with session.get(f"{self.url}/readyz", timeout=aiohttp.ClientTimeout(total=5)) as resp:
                        return resp.status == 200 or (await resp.json()).get("error") != "starting"
            except (TimeoutError, aiohttp.ClientError, OSError):
                return False

        try:
            await eventually(healthy, timeout=timeout, interval=0.05)
        except BaseException:  # a start that timed out or was cancelled leaves no process behind
            self.stop()
            raise
        return self

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float = 20.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
