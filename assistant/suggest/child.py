"""A child process started off the event loop, its pipes served by the loop: what a matching worker runs in.

`asyncio.create_subprocess_exec` starts a process from the event loop's thread; uvloop (libuv) does it with
`fork()`, which copies the whole service's page tables while every request waits: 300-390 ms for a service of
870 MB. `subprocess.Popen` uses `vfork()` on Linux, which suspends only the calling thread until the child has
started the new program: run in a thread, it leaves the event loop serving. The loop then reads and writes the
child's pipes as it would a subprocess's, and learns of its exit from a pidfd (Linux 5.3; a thread waiting for
it where the kernel or a sandbox refuses one).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Sequence

STREAM_LIMIT = 2**16  # asyncio's own for a subprocess's pipes


class Child:
    """A running child process: `stdin` and `stdout` as asyncio streams, `wait()`, `kill()`, `returncode`."""

    def __init__(
        self, popen: subprocess.Popen[bytes], stdin: asyncio.StreamWriter, stdout: asyncio.StreamReader
    ) -> None:
        self._popen = popen
        self.pid = popen.pid
        self.stdin = stdin
        self.stdout = stdout
        self._exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    @property
    def returncode(self) -> int | None:
        """The exit status (negative: the signal that ended it), None while it runs."""
        return self._exited.result() if self._exited.done() else None

    async def wait(self) -> int:
        """Its exit status, once it has exited."""
        return await asyncio.shield(self._exited)

    def kill(self) -> None:
        """SIGKILL, unless it has exited already."""
        if not self._exited.done():
            self._popen.kill()

    def _watch_exit(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            pidfd = os.pidfd_open(self.pid)
        except OSError:  # no pidfd here: a thread waits for the exit instead
            waiting = loop.run_in_executor(None, self._popen.wait)
            waiting.add_done_callback(lambda done: self._set_exited(done.result()))
            return

        def readable() -> None:
            status = self._popen.poll()
            if status is not None:
                loop.remove_reader(pidfd)
                os.close(pidfd)
                self._set_exited(status)

        loop.add_reader(pidfd, readable)

    def _set_exited(self, status: int) -> None:
        if not self._exited.done():
            self._exited.set_result(status)
            self.stdin.close()  # nothing reads it any more


class _Reading(asyncio.StreamReaderProtocol):
    """The child's stdout: its transport closes at the end of the output (uvloop's would stay half open)."""

    def eof_received(self) -> bool:
        super().eof_received()
        return False


async def start_child(args: Sequence[str]) -> Child:
    """Start `args` with pipes to its stdin and stdout, the event loop serving meanwhile."""
    popen = await asyncio.to_thread(subprocess.Popen, list(args), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert popen.stdin is not None and popen.stdout is not None
    loop = asyncio.get_running_loop()
    try:
        reader = asyncio.StreamReader(limit=STREAM_LIMIT)
        await loop.connect_read_pipe(lambda: _Reading(reader), popen.stdout)
        transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, popen.stdin)
        writer = asyncio.StreamWriter(transport, protocol, None, loop)
    except BaseException:
        popen.kill()
        await asyncio.to_thread(popen.wait)
        raise
    child = Child(popen, writer, reader)
    child._watch_exit()
    return child
