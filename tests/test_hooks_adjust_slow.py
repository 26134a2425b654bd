"""A slow `adjust_suggestions` is judged by its own time: its wall time less the time its thread was preempted. A sound
plugin descheduled on an overloaded machine is not switched off; one that sleeps (as a look-up over the network waits)
or spins that long is, whatever the machine."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from assistant.clock import FakeClock, RunQueueWait
from assistant.config import Config
from assistant.web.appkeys import PLUGINS
from tests.helpers import make_app, with_hooks
from tests.test_hooks_adjust_suggestions import REVERSING, codes, post
from tests.test_hooks_engineer import said

REVERSED, MATCHED = ["kd1", "yj3", "yj1"], ["yj1", "yj3", "kd1"]
# Plugins that reverse the suggestions after 0.1 s of a sleep, or of the thread's CPU (its function on line 7).
SLEEPING = (
    "import time\n\nfrom assistant.hookspecs import hookimpl\n\n\n@hookimpl\ndef adjust_suggestions(suggestions):\n"
    "    time.sleep(0.1)\n    return suggestions[::-1]\n"
)
SPINNING = (
    "import time\n\nfrom assistant.hookspecs import hookimpl\n\n\n@hookimpl\ndef adjust_suggestions(suggestions):\n"
    "    until = time.thread_time() + 0.1\n    while time.thread_time() < until:\n        pass\n"
    "    return suggestions[::-1]\n"
)


async def asked(client: Any, n: int) -> list[str]:
    return codes(await post(client, id=f"m{n}", conversation=f"c{n}", text="能便宜点吗"))


async def test_adjust_suggestions_preempted_is_named_but_never_switched_off(
    aiohttp_client: Any, config: Config, hook_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (hook_dir / "slow.py").write_text(REVERSING, encoding="utf-8")
    app = make_app(with_hooks(config, "slow"))
    client = await aiohttp_client(app)
    app[PLUGINS].clock = FakeClock(10**12)
    ticks, waits = iter(range(10**6)), iter(range(10**6))
    app[PLUGINS].timer = lambda: next(ticks) * 0.25  # each call 0.25 s on the wall clock …
    app[PLUGINS].waiting = lambda: next(waits) * 0.24  # … 0.24 s of it runnable, waiting for a processor
    caplog.set_level(logging.ERROR)
    assert [await asked(client, n) for n in range(8)] == [REVERSED] * 8  # 8 slow calls within a minute: still asked
    assert not said(caplog, "switched off")
    [line] = said(caplog, "adjust_suggestions of hooks.slow")
    assert "line 5) took 0.25 s (0.24 s of it preempted): the service waited for it meanwhile" in line
    ready = await (await client.get("/readyz")).json()
    assert "hooks_switched_off" not in ready


@pytest.mark.parametrize("source", [SLEEPING, SPINNING], ids=["sleeping", "spinning"])
async def test_adjust_suggestions_sleeping_or_spinning_is_switched_off_on_its_own_time(
    aiohttp_client: Any, config: Config, hook_dir: Path, caplog: pytest.LogCaptureFixture, source: str
) -> None:
    (hook_dir / "slow.py").write_text(source, encoding="utf-8")
    app = make_app(with_hooks(config, "slow"))
    client = await aiohttp_client(app)
    app[PLUGINS].clock = FakeClock(10**12)  # the strikes' minute; the calls are timed by the real clocks
    caplog.set_level(logging.ERROR)
    assert [await asked(client, n) for n in range(5)] == [REVERSED] * 5  # the 5th answer used, then switched off
    assert await asked(client, 5) == MATCHED
    [line] = said(caplog, "switched off")
    assert line.startswith(f"adjust_suggestions of hooks.slow ({hook_dir / 'slow.py'}, line 7) switched off")
    ready = await (await client.get("/readyz")).json()
    assert ready["hooks_switched_off"]["hooks.slow"].startswith("adjust_suggestions: 5 calls of 0.1 s or more")


def test_run_queue_wait_counts_preemption_not_sleep() -> None:
    """A thread sharing one processor with a spinning process is preempted: RunQueueWait grows; while it sleeps it is
    not runnable: it does not grow by the sleep."""
    waiting = RunQueueWait()
    cpu = min(os.sched_getaffinity(0))
    found: dict[str, float] = {}

    def pinned() -> None:
        os.sched_setaffinity(0, {cpu})  # this thread only
        before = waiting()
        time.sleep(0.2)
        found["sleep"] = waiting() - before
        before, until = waiting(), time.thread_time() + 0.1
        while time.thread_time() < until:  # 0.1 s of CPU, sharing the processor with the rival
            pass
        found["spin"] = waiting() - before

    rival = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        os.sched_setaffinity(rival.pid, {cpu})
        thread = threading.Thread(target=pinned)
        thread.start()
        thread.join()
    finally:
        rival.kill()
        rival.wait()
    assert waiting.available
    assert found["sleep"] < 0.1  # the sleep's 0.2 s not counted (at most the wait for the processor after it)
    assert found["spin"] >= 0.05  # the rival had its share of the processor meanwhile
