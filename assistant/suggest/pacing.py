"""Long work in a thread beside the serving event loop, in pieces: a reload builds the new library and frees the
old one in a thread, and compiled code offers the GIL to no other thread (nor does freeing a large container,
which is one C call): a 20,000-phrase library's trigger index held it 0.8 s at a stretch to build, 0.4-0.6 s to
free, every request waiting. `time.sleep(0)` drops the GIL: the event loop takes it if it waits for it."""

from __future__ import annotations

import time
from collections.abc import Iterator, MutableMapping, Sequence
from typing import Any

PACE = 256  # items handled between two hand-overs of the GIL


def paced(items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
    """`enumerate(items)`, letting any other thread run every `PACE` items."""
    for i, item in enumerate(items):
        if i % PACE == PACE - 1:
            time.sleep(0)
        yield i, item


def empty_paced(*containers: list[Any] | MutableMapping[Any, Any]) -> None:
    """Empty each container `PACE` items at a time (what only it holds is freed as it goes), letting any other
    thread run between."""
    for container in containers:
        while container:
            if isinstance(container, list):
                del container[-PACE:]
            else:
                for _ in range(min(PACE, len(container))):
                    container.popitem()
            time.sleep(0)
