"""What a reload's build holds the other threads of its process for, by CPU clocks rather than wall time.

    BENCH_PHRASES=20000 python -m bench bench_holds         (BENCH_RELOADS=2; BENCH_FILES=40, one edited each time)

A reload loads the new library in a thread (`Settings.load` with what the last load read: the service's own
preparation and a matching worker's reload run the same code) while another thread serves; on a loaded machine,
wall times mix in every moment the scheduler gave the core to another process, a thread holding the GIL
included. Here a thread wakes every millisecond beside the build, as the event loop or a worker's serving thread
would, and each of its waits is measured as the process CPU time spent meanwhile: what the other threads ran
while it waited for the GIL, whatever the machine's load. Beside it, the build's own collections, each by the
CPU time of the thread that ran it (full collections held off, middle ones after every other young one, as in the
service: `full_collections_held`), and the build's wall and CPU time.
"""

from __future__ import annotations

import gc
import logging
import os
import tempfile
import threading
import time
from pathlib import Path

from assistant.suggest.matching import Settings
from assistant.suggest.phrase_cache import PhraseFileCache
from assistant.web.server import HELD_MIDDLE, HELD_OFF
from bench.bench_reload import PHRASES, _edit, _library

RELOADS = int(os.environ.get("BENCH_RELOADS", "2"))
TICK_S = 0.001
SHOWN = 5  # the longest waits shown


class _Collections:
    """Each collection's generation and the CPU time of the thread that ran it."""

    def __init__(self) -> None:
        self.taken: list[tuple[int, float]] = []
        self._started = threading.local()

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started.cpu = time.thread_time()
        elif hasattr(self._started, "cpu"):
            self.taken.append((info["generation"], time.thread_time() - self._started.cpu))


def _reload(settings: Settings, cache: PhraseFileCache, collections: _Collections) -> None:
    built: list[float] = []

    def build() -> None:
        began = time.thread_time()
        settings.load(cache)
        built.append(time.thread_time() - began)

    collections.taken.clear()
    waits: list[tuple[float, float]] = []  # (process CPU time spent while the ticking thread waited, when)
    thread = threading.Thread(target=build, name="reload")
    began_wall, began_cpu = time.perf_counter(), time.process_time()
    thread.start()
    while thread.is_alive():
        wall, cpu = time.perf_counter(), time.process_time()
        time.sleep(TICK_S)
        waits.append((time.process_time() - cpu, wall - began_wall))
    thread.join()
    wall, cpu = time.perf_counter() - began_wall, time.process_time() - began_cpu
    longest = sorted(waits, reverse=True)[:SHOWN]
    print(
        f"  build: {wall:5.2f} s wall, {built[0] if built else 0:4.2f} s of its thread's CPU ({cpu:4.2f} s the process's);"
        " the ticking thread's longest waits, by the CPU run meanwhile: "
        + ", ".join(f"{held * 1000:.1f} ms (at {at:.1f} s)" for held, at in longest)
    )
    for generation in (0, 1, 2):
        taken = [t for g, t in collections.taken if g == generation]
        print(
            f"  generation {generation} collections: {len(taken)}, {sum(taken) * 1000:5.0f} ms of CPU in all,"
            f" the longest {max(taken, default=0.0) * 1000:5.1f} ms"
        )


def main() -> None:
    logging.disable(logging.WARNING)  # the synthetic library's scorer.npz was trained on the shipped one
    print(f"a reload's build beside a thread ticking every {TICK_S * 1000:g} ms ({PHRASES:,} synthetic phrases)")
    print("load average", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    library = _library(Path(tempfile.mkdtemp(prefix="bench-holds-")))
    settings = Settings([str(library)], {}, True, 3, 0.3)
    cache = PhraseFileCache()
    settings.load(cache)
    gc.freeze()  # the serving library, as a served process has it
    young, middle, old = gc.get_threshold()
    gc.set_threshold(young, HELD_MIDDLE, HELD_OFF)
    collections = _Collections()
    gc.callbacks.append(collections)
    try:
        for number in range(RELOADS):
            _edit(library, number)
            print(f"reload {number + 1}:")
            _reload(settings, cache, collections)
    finally:
        gc.callbacks.remove(collections)
        gc.set_threshold(young, middle, old)
        logging.disable(logging.NOTSET)


if __name__ == "__main__":
    main()
