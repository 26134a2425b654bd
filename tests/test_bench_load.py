"""The benchmarks' CPU accounting: a service's CPU split into its event loop, its other threads and its workers."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

from bench.load import CpuUse, cpu_use, tree_cpu_seconds

BURN_S = 0.2
# A child that burns BURN_S of its own CPU, says so, then waits to be stopped (still alive when sampled).
CHILD = (
    "import sys, time\n"
    f"start = time.process_time()\nwhile time.process_time() - start < {BURN_S}: pass\n"
    "print('burnt', flush=True)\nsys.stdin.read()\n"
)


def _burn(seconds: float) -> None:
    start = time.thread_time()
    while time.thread_time() - start < seconds:
        pass


def test_cpu_use_splits_main_thread_other_threads_and_child_processes() -> None:
    pid = os.getpid()
    before = cpu_use(pid)
    burner = threading.Thread(target=_burn, args=(BURN_S,))
    burner.start()
    burner.join()  # ended: its CPU must still count (the process's own total keeps it)
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "burnt"
        during = cpu_use(pid)
    finally:
        child.communicate("")
    used = during - before
    # /proc counts CPU in clock ticks: two of them (start and end) may fall on either side of a reading.
    slack = 2 / os.sysconf("SC_CLK_TCK")
    assert used.threads >= BURN_S * 0.9 - slack, used
    assert used.workers >= BURN_S * 0.9 - slack, used
    assert tree_cpu_seconds(pid) - before.total >= used.threads  # the child has ended: only its share is gone


def test_cpu_use_main_thread_counts_its_own_work() -> None:
    pid = os.getpid()
    before = cpu_use(pid)
    _burn(BURN_S)
    used = cpu_use(pid) - before
    assert used.loop >= BURN_S * 0.9, used


def test_cpu_use_difference_keeps_waits_only_when_both_samples_have_them() -> None:
    with_waits = CpuUse(1.0, 2.0, 3.0, (0.5, 0.25, 0.125))
    earlier = CpuUse(0.5, 1.0, 1.0, (0.25, 0.25, 0.0))
    assert with_waits - earlier == CpuUse(0.5, 1.0, 2.0, (0.25, 0.0, 0.125))
    assert (with_waits - CpuUse(0.0, 0.0, 0.0, None)).waited is None
