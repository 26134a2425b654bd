"""GET /v1/admin/sizes: how many entries each in-memory map of the process holds now (admin token).

A service runs for weeks: every map keyed by conversation, buyer, agent, panel or request must stay bounded.
This lists their sizes, the event loop's tasks and the process's threads, so that a long run can be watched
from outside (`python -m bench bench_soak` samples it). It reads the objects' own fields: a view for the
shop's engineer, not an interface other code builds on; a map that is not there (a feature switched off)
is left out.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from aiohttp import web

from assistant import pg
from assistant.conversations import UNSAVED_NAMES
from assistant.live import TRACKED_CONVERSATIONS
from assistant.qa.service import _STASH as STASH
from assistant.web.appkeys import BUS, CHATWOOT, ENGINE, FEED, FOLLOWUPS, PLUGINS, PUBLISHER, QA, READS
from assistant.web.auth import require


def _field(obj: object, path: tuple[str, ...]) -> object | None:
    for name in path:
        obj = getattr(obj, name, None)
        if obj is None:
            return None
    return obj


def _size(obj: object, *path: str, bound: int | None = None) -> tuple[int, int | None] | None:
    """len() of the field at `path` under `obj` and the most it may hold (None: no bound of its own), or None
    when a step is missing (a switched-off part). `bound`: the bound its owner keeps it within."""
    found = _field(obj, path)
    if found is None:
        return None
    cache_info: Callable[[], Any] | None = getattr(found, "cache_info", None)
    if cache_info is not None:  # a functools.lru_cache: its entries
        info = cache_info()
        return int(info.currsize), info.maxsize
    if isinstance(found, int):  # a count its owner keeps (the matching workers' requests in flight)
        return found, None
    try:
        size = len(found)  # type: ignore[arg-type]
    except TypeError:
        return None
    if bound is not None:
        return size, bound
    for name in ("maxlen", "size", "capacity", "max_size"):  # a deque's, a bounded map's, a cache's
        bound = getattr(found, name, None)
        if isinstance(bound, int):
            return size, bound
    return size, None


def sizes(app: web.Application) -> dict[str, tuple[int, int | None]]:
    """Every map's size and bound by a dotted name, the loop's tasks and the threads."""
    found: dict[str, tuple[int, int | None] | None] = {
        "asyncio_tasks": (len(asyncio.all_tasks()), None),
        "threads": (threading.active_count(), None),
    }
    engine = app.get(ENGINE)
    if engine is not None:
        capacity = engine.conversations.capacity
        found["conversations.states"] = _size(engine, "conversations", "_states", bound=capacity)
        found["conversations.names"] = _size(engine, "conversations", "_names", bound=capacity)
        found["conversations.unsaved_names"] = _size(engine, "conversations", "_unsaved", bound=UNSAVED_NAMES)
        found["suggest.adoption_shops"] = _size(engine, "_adoption")
        found["suggest.readings"] = _size(engine, "matcher", "_read_short")
        found["suggest.long_readings"] = _size(engine, "matcher", "_read_long")
        found["suggest.clause_splits"] = _size(engine, "matcher", "clauses", "_split_short")
        found["suggest.long_clause_splits"] = _size(engine, "matcher", "clauses", "_split_long")
        found["suggest.workers_pending"] = _size(engine, "workers", "pending")
        found["catalog.items"] = _size(engine, "items", "catalog", "_items", bound=engine.items.catalog.capacity)
    followups = app.get(FOLLOWUPS)
    if followups is not None:
        horizon = followups.timeline.max_size
        found["followups.timers"] = _size(followups, "timers", "queue")
        found["followups.timer_failures"] = _size(followups, "timers", "_failures")
        found["followups.timer_cancels"] = _size(followups, "timers", "_cancels")
        found["followups.timeline_stamps"] = _size(followups, "timeline", "_stamps", bound=horizon)
        found["followups.timeline_followups"] = _size(followups, "timeline", "_followups", bound=horizon)
        found["followups.echoes"] = _size(followups, "_echo")
        found["followups.suggested"] = _size(followups, "_suggested")
        found["followups.deliveries"] = _size(followups, "deliverer", "_jobs")
        found["followups.deliveries_left"] = _size(followups, "deliverer", "left")
        found["followups.deliveries_handed"] = _size(followups, "deliverer", "_handed")
        found["followups.deliveries_held"] = _size(followups, "deliverer", "held")
        found["followups.tasks"] = _size(followups, "tasks")
    feed = app.get(FEED)
    if feed is not None:
        found["live.followups"] = _size(feed, "followups", bound=TRACKED_CONVERSATIONS)
        found["live.journal"] = _size(feed, "journal")
        found["live.streams"] = _size(feed, "streams")
        found["live.by_agent"] = _size(feed, "_by_agent")
        found["live.by_watch"] = _size(feed, "_by_watch")
        found["live.tasks"] = _size(feed, "_tasks")
    bus = app.get(BUS)
    if bus is not None:
        found["bus.subscriptions"] = _size(bus, "_subscriptions")
    reads = app.get(READS)
    if reads is not None:
        found["web.reads"] = _size(reads, "tasks")
    publisher = app.get(PUBLISHER)
    if publisher is not None:
        found["live.agents"] = _size(publisher, "_agents", bound=TRACKED_CONVERSATIONS)
        found["live.published"] = _size(publisher, "_published", bound=TRACKED_CONVERSATIONS)
    memory = app.get(CHATWOOT)
    if memory is not None:
        for name in ("inboxes", "agents", "statuses", "places", "contacts"):
            found[f"chatwoot.{name}"] = _size(memory, f"_{name}")
    qa = app.get(QA)
    if qa is not None:
        found["qa.stash"] = _size(qa, "_stash", bound=STASH)
        found["qa.armed"] = _size(qa, "_armed")
        found["qa.by_conversation"] = _size(qa, "_by_conversation")
        found["qa.feeds"] = _size(qa, "_feeds")
    plugins = app.get(PLUGINS)
    if plugins is not None:
        found["hooks.mistakes"] = _size(plugins, "_mistakes")
        found["hooks.tasks"] = _size(plugins, "tasks")
    found.update(_postgresql())
    return {name: size for name, size in found.items() if size is not None}


def _postgresql() -> dict[str, tuple[int, int | None] | None]:
    """The process's PostgreSQL connections (none on SQLite): its pools, their connections, every connection open
    (pooled or the writer's, the listener's), and the statements prepared on the server for them (psycopg prepares
    a statement run five times, at most `prepared_max` a connection)."""
    with pg._pools_lock:
        pools = list(pg._pools.values())
    with pg._opened_lock:
        opened = [conn for conn in pg._opened if not conn.closed]
    if not pools and not opened:
        return {}
    stats = [pool.get_stats() for pool in pools]
    return {
        "pg.pools": (len(pools), None),
        "pg.pool_connections": (sum(s["pool_size"] for s in stats), sum(s["pool_max"] for s in stats)),
        "pg.connections": (len(opened), None),
        "pg.prepared": (
            sum(len(getattr(conn._prepared, "_names", ())) for conn in opened),
            sum(conn.prepared_max or 0 for conn in opened),
        ),
    }


async def get_sizes(request: web.Request) -> web.Response:
    """The in-memory maps' sizes (admin)."""
    require(request, "admin")
    found = sizes(request.app)
    return web.json_response(
        {
            "sizes": {name: size for name, (size, _) in found.items()},
            "bounds": {name: bound for name, (_, bound) in found.items() if bound is not None},
        }
    )
