"""Work on the event loop: background tasks that are kept, have their exceptions logged and are cancelled on stop;
long work done in turns, so that other requests and events get theirs."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class TaskSet:
    """Owns the tasks it starts: a failure is logged, never lost; `close` cancels and awaits them all."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    def spawn(self, coro: Coroutine[Any, Any, T], *, name: str | None = None) -> asyncio.Task[T]:
        """Start `coro` as a task of this set."""
        if self._closed:
            coro.close()
            raise RuntimeError(f"task set {self.name!r} is closed")
        task = asyncio.get_running_loop().create_task(coro, name=name or self.name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("task %s failed", task.get_name(), exc_info=exc)

    async def join(self) -> None:
        """Wait for every task to finish on its own (their failures are logged, not raised)."""
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Cancel every task and wait for them to finish."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def __len__(self) -> int:
        return len(self._tasks)


# A piece of work yields after this much of it: 500 messages posted at once, or the 500 cards of a panel's
# snapshot, do not hold every other request for half a second. An event's request needs several turns of the
# loop, and waits a slice at each: while an agent's panel of 500 conversations opened on the simulated
# million-message day, events sent meanwhile waited 30-36 ms (p50) with 5 ms slices, 14-18 ms with 2 ms,
# 9-12 ms with 1 ms (p99 60-75, 29-47, 22-39 ms); the panel opened as fast with each (0.5-0.9 s once cached).
SLICE_S = 0.001


class Turns:
    """`await turns.take()` between the steps of one piece of work: it yields to the event loop once the work
    has run SLICE_S since it last did. Its steps stay in order."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.started = clock()

    async def take(self) -> None:
        """The others' turn, if this work has had its slice."""
        if self.clock() - self.started >= SLICE_S:
            await asyncio.sleep(0)
            self.started = self.clock()
