"""A child process started off the event loop (what a matching worker runs in), on asyncio's loop and uvloop's."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import uvloop

from assistant.suggest import child as child_module
from assistant.suggest.child import start_child

ECHO = [sys.executable, "-c", "import sys; sys.stdout.write(sys.stdin.read().upper())"]
LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


def run(loop: str, main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    with asyncio.Runner(loop_factory=LOOPS[loop]) as runner:
        runner.run(main())


@pytest.mark.parametrize("loop", LOOPS)
def test_a_child_reads_what_is_written_and_its_exit_is_known(loop: str) -> None:
    async def main() -> None:
        child = await start_child(ECHO)
        assert child.returncode is None
        child.stdin.write("你好 hello".encode())
        child.stdin.close()
        assert await child.stdout.read() == "你好 HELLO".encode()
        assert await child.wait() == 0
        assert child.returncode == 0

    run(loop, main)


@pytest.mark.parametrize("loop", LOOPS)
def test_a_killed_child_says_by_which_signal(loop: str) -> None:
    async def main() -> None:
        child = await start_child(ECHO)
        child.kill()
        assert await child.wait() == -signal.SIGKILL
        child.kill()  # once exited, nothing to do
        assert await child.stdout.read() == b""

    run(loop, main)


@pytest.mark.parametrize("loop", LOOPS)
def test_without_a_pidfd_a_thread_waits_for_the_exit(loop: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(pid: int, flags: int = 0) -> int:
        raise PermissionError("pidfd_open refused by the sandbox")

    monkeypatch.setattr(os, "pidfd_open", refused)

    async def main() -> None:
        child = await start_child([sys.executable, "-c", "raise SystemExit(3)"])
        assert await child.wait() == 3

    run(loop, main)


@pytest.mark.parametrize("loop", LOOPS)
def test_the_child_is_started_outside_the_event_loops_thread(loop: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # uvloop forks from the loop's own thread, copying the service's page tables while every request waits
    # (300-390 ms for a service of 870 MB); Popen's vfork in another thread suspends that thread alone.
    started_in: list[int] = []
    popen = subprocess.Popen

    def recording(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        started_in.append(threading.get_ident())
        return popen(*args, **kwargs)

    monkeypatch.setattr(child_module.subprocess, "Popen", recording)

    async def main() -> None:
        child = await start_child(ECHO)
        child.stdin.close()
        assert await child.wait() == 0
        assert started_in and started_in != [threading.get_ident()]

    run(loop, main)
