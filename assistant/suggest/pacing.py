"""Long work in a thread beside the serving event loop, in pieces: a reload builds the new library and frees the
old one in a thread, and compiled code offers the GIL to no other thread (nor does freeing a large container,
which is one C call): a 20,000-phrase library's trigger index held it 0.8 s at a stretch to build, 0.4-0.6 s to
free, every request waiting. `time.sleep(0)` drops the GIL: the event loop takes it if it waits for it.

The GIL is handed over once a slice of `SLICE_S` has run, not every 256 items: each `sleep(0)` is a system call
that gives the core away on a busy machine, 1-4 ms each. A cached reload of 20,000 phrases made 2,178 of them,
2.1-4.3 s of its 6-9.5 s at a load average of 13-17 (8.6 s of 25 s alone in its process); by time, 254-351
(0.55-0.72 s), the loop's longest pause as before (gen-1 collections and the machine's noise). A slice also
bounds what the loop waits however long an item takes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, MutableMapping, Sequence
from typing import Any

PACE = 256  # items freed at once by `empty_paced` (one C call each)
SLICE_S = 0.005  # the longest the GIL is kept between two hand-overs (Python's own switch interval)
CHECK = 16  # items between two looks at the clock (a few microseconds of work each)
_now = time.perf_counter


def paced(items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
    """`enumerate(items)`, letting any other thread run once a slice of `SLICE_S` has run."""
    handed = _now()
    for i, item in enumerate(items):
        if i % CHECK == CHECK - 1 and _now() - handed >= SLICE_S:
            time.sleep(0)
            handed = _now()
        yield i, item


def empty_paced(*containers: list[Any] | MutableMapping[Any, Any]) -> None:
    """Empty each container `PACE` items at a time (what only it holds is freed as it goes), letting any other
    thread run once a slice of `SLICE_S` has run."""
    handed = _now()
    for container in containers:
        while container:
            if isinstance(container, list):
                del container[-PACE:]
            else:
                for _ in range(min(PACE, len(container))):
                    container.popitem()
            if _now() - handed >= SLICE_S:
                time.sleep(0)
                handed = _now()
