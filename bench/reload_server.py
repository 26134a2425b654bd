"""The service (`assistant serve`) with a probe of its event loop's pauses, for bench_reload; not for use.

    python -m bench.reload_server CONFIG DB PORT

A task wakes every TICK_S and notes how late it woke: the event loop's pauses; a `gc.callbacks` entry notes each
collection's time. `GET /bench/pauses?since=&until=` (times on this process's `perf_counter`) answers the longest
pause and the longest collection of that span, and the time now; `GET /bench/tasks` the stack of each task of the
event loop and of each thread (bench_reload asks for them when a row fails). Run with
another checkout first on PYTHONPATH, it probes that checkout's service (BENCH_BASELINE).
"""

from __future__ import annotations

import asyncio
import gc
import io
import sys
import threading
import time
import traceback
from collections import deque
from pathlib import Path
from typing import Any

from aiohttp import web

TICK_S = 0.005
PAUSES: deque[tuple[float, float]] = deque(maxlen=200_000)  # (when the tick began, seconds late)
COLLECTIONS: deque[tuple[float, float, int]] = deque(maxlen=200_000)  # (when it began, seconds, generation)
_COLLECTING: list[float] = []


def _collection(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _COLLECTING[:] = [time.perf_counter()]
    elif _COLLECTING:
        COLLECTIONS.append((_COLLECTING[0], time.perf_counter() - _COLLECTING[0], info["generation"]))


async def _probe() -> None:
    while True:
        began = time.perf_counter()
        await asyncio.sleep(TICK_S)
        PAUSES.append((began, time.perf_counter() - began - TICK_S))


async def _pauses(request: web.Request) -> web.Response:
    since = float(request.query.get("since", "0"))
    until = float(request.query.get("until", "inf"))
    late = [pause for began, pause in PAUSES if since <= began <= until]
    took, generation = max(((t, g) for began, t, g in COLLECTIONS if since <= began <= until), default=(0.0, -1))
    return web.json_response(
        {
            "now": time.perf_counter(),
            "longest_ms": max(late, default=0.0) * 1000,
            "collection_ms": took * 1000,  # the longest collection of the span (the loop's or a thread's)
            "generation": generation,
        }
    )


async def _tasks(request: web.Request) -> web.Response:
    out = io.StringIO()
    for task in asyncio.all_tasks():
        out.write(f"{task!r}\n")
        awaited: Any = task.get_coro()
        while awaited is not None:  # down the chain of awaits: what the task waits for, innermost last
            frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
            if frame is not None:
                out.write(f"  {frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}\n")
            awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    names = {t.ident: t.name for t in threading.enumerate()}
    for ident, frame in sys._current_frames().items():
        out.write(f"thread {names.get(ident, ident)}:\n{''.join(traceback.format_stack(frame, limit=12))}")
    return web.Response(text=out.getvalue())


async def _start(app: web.Application) -> None:
    app[PROBE] = asyncio.get_running_loop().create_task(_probe(), name="pause probe")
    gc.callbacks.append(_collection)


PROBE = web.AppKey("bench_probe", asyncio.Task)


def main() -> int:
    import assistant.app
    from assistant.cli.common import load
    from assistant.cli.serve import serve

    create = assistant.app.create_app

    def create_app(*args: Any, **kwargs: Any) -> web.Application:
        app = create(*args, **kwargs)
        app.router.add_get("/bench/pauses", _pauses)
        app.router.add_get("/bench/tasks", _tasks)
        app.on_startup.append(_start)
        return app

    assistant.app.create_app = create_app  # `serve` imports it when it starts
    config = load(Path(sys.argv[1]), Path(sys.argv[2]), host="127.0.0.1", port=int(sys.argv[3]))
    return serve(config)


if __name__ == "__main__":
    raise SystemExit(main())
