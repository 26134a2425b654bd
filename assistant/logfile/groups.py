"""The writer's groups: the jobs a group takes, and the groups counted (how many, how many jobs each held, how long
each job waited from its submission to its group's BEGIN: `GET /v1/admin/writer`, `python -m bench bench_webhook`).

Counted in powers of two, once per group in the writer's thread: a few integer additions per job, no line logged.
"""

from __future__ import annotations

import queue
from collections.abc import Iterable
from typing import Any, TypeVar

T = TypeVar("T")

SIZE_BUCKETS = 14  # 1, 2, 3–4, …, 2,049–4,096 jobs, and 4,097 or more (the writer's max_group: 5,000)
WAIT_BUCKETS = 24  # under 1 µs, 1 µs, 2–3 µs, …, 4.2–8.4 s and more


class GroupStats:
    """Counts of the writer's groups by size, and of its jobs by their wait for their group's BEGIN."""

    __slots__ = ("groups", "jobs", "sizes", "waits", "waited_us")

    def __init__(self) -> None:
        self.groups = 0
        self.jobs = 0
        self.sizes = [0] * SIZE_BUCKETS  # bucket i: groups of 2^(i-1) + 1 … 2^i jobs (i = 0: one job)
        self.waits = [0] * WAIT_BUCKETS  # bucket i: jobs that waited 2^(i-1) … 2^i - 1 µs (i = 0: under 1 µs)
        self.waited_us = 0  # every job's wait, summed

    def add(self, began: float, submitted: Iterable[float]) -> None:
        """A group taken at `began` (time.monotonic()), of the jobs submitted at these times."""
        waits = self.waits
        n = total = 0
        for at in submitted:
            us = int((began - at) * 1_000_000)
            if us < 0:
                us = 0
            total += us
            n += 1
            waits[min(us.bit_length(), WAIT_BUCKETS - 1)] += 1
        if n:
            self.groups += 1
            self.jobs += n
            self.waited_us += total
            self.sizes[min((n - 1).bit_length(), SIZE_BUCKETS - 1)] += 1

    def snapshot(self) -> dict[str, Any]:
        """The counts as JSON: buckets named by their upper bound ("≤4" jobs, "<8" µs), empty ones left out."""
        return {
            "groups": self.groups,
            "jobs": self.jobs,
            "waited_us": self.waited_us,
            "sizes": {size_label(i): n for i, n in enumerate(self.sizes) if n},
            "waits_us": {wait_label(i): n for i, n in enumerate(self.waits) if n},
        }


def size_label(bucket: int) -> str:
    """The group sizes counted in `bucket`: "1", "2", "≤4", …, and the last "≥4097"."""
    if bucket == SIZE_BUCKETS - 1:
        return f"≥{2 ** (bucket - 1) + 1}"
    return str(2**bucket) if bucket < 2 else f"≤{2**bucket}"


def wait_label(bucket: int) -> str:
    """The waits counted in `bucket`, in µs: "<1", "<2", "<4", …, and the last "≥…"."""
    if bucket == WAIT_BUCKETS - 1:
        return f"≥{2 ** (bucket - 1)}"
    return f"<{2**bucket}"


def fill(group: list[T], jobs: queue.SimpleQueue[T | None], most: int) -> bool:
    """Add to `group` the jobs queued now, up to `most` in all; True once the stop (None) is taken."""
    while len(group) < most:
        try:
            item = jobs.get_nowait()
        except queue.Empty:
            return False
        if item is None:
            return True
        group.append(item)
    return False
