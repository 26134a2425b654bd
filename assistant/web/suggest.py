"""Suggestion endpoints: `GET /v1/suggest`, phrase search, and the admin library reload."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import TYPE_CHECKING

import psycopg
from aiohttp import web

from assistant.cluster import reloads
from assistant.events import clean_name
from assistant.suggest.matcher import suggestion_json
from assistant.suggest.served import BUILDING, Served
from assistant.web.appkeys import CONFIG, ENGINE, FLEET, QA, RELOADING
from assistant.web.auth import require
from assistant.web.errors import json_dumps, json_error, unavailable
from assistant.web.query import query_text
from assistant.web.server import full_collections_held, refreeze_heap

if TYPE_CHECKING:
    from assistant.qa.inspector import Inspector

log = logging.getLogger(__name__)
MAX_QUERY_CHARS = 5000
MAX_ITEM_CHARS = 200


async def get_suggest(request: web.Request) -> web.Response:
    """Suggestions and customer type for `text`, in the context of `conversation` (and `item`) when given.

    An agent's route, like the phrase search: a conversation's context tells what its buyer said and what type
    the buyer seems (open to anyone who could reach the port while the other routes asked for a token)."""
    require(request, "agent")
    config = request.app[CONFIG]
    text = query_text(request, "text")
    if text is None:
        return json_error(400, "invalid_query", "text", "required query parameter")
    if len(text) > min(MAX_QUERY_CHARS, config.webhook.max_text_chars):
        return json_error(400, "invalid_query", "text", f"longer than {config.webhook.max_text_chars} characters")
    shop = clean_name(request.query.get("shop", ""))  # as events' shop ids are read
    conversation = request.query.get("conversation")
    engine = request.app[ENGINE]
    state = engine.conversations.get(shop, conversation) if conversation and shop else None
    item = request.query.get("item") or None  # the product asked about; else the conversation's (docs/catalog.md)
    if item is not None and len(item) > MAX_ITEM_CHARS:
        return json_error(400, "invalid_query", "item", f"longer than {MAX_ITEM_CHARS} characters")
    suggestions, kind = await engine.compute_served(
        text, shop=shop, state=state, conversation=conversation or "", item=item
    )
    customer = state.customer if state is not None else ""
    suggestions = engine.adjusted(suggestions, kind, state, shop, conversation or "", customer, text, item=item)
    return web.json_response(engine.response(suggestions, kind), dumps=json_dumps)


async def get_phrase_search(request: web.Request) -> web.Response:
    """Fuzzy search of the phrase library by code or text (the agent's "/" search)."""
    require(request, "agent")
    query = request.query.get("q", "")
    if len(query) > 200:
        return json_error(400, "invalid_query", "q", "longer than 200 characters")
    try:
        limit = max(1, min(50, int(request.query.get("limit", "10"))))
    except ValueError:
        return json_error(400, "invalid_query", "limit", "must be an integer")
    engine = request.app[ENGINE]
    # A shop's own phrases are found only in its conversations (`shop`: the panel's open conversation's).
    shop = clean_name(request.query.get("shop", ""))
    results = await engine.search_served(query, limit, shop) if query.strip() else []
    return web.json_response({"results": [suggestion_json(s) for s in results]}, dumps=json_dumps)


async def reload_library(app: web.Application) -> tuple[bool, list[str]]:
    """Reload the phrase library and the quality rules beside it, both or neither: a problem in either keeps
    the old ones of both serving (a 422 never hides a half-done reload). (ok, problems)

    The files are read and prepared in a thread (seconds for a large library) while the event loop goes on
    answering, with no full collection (it walked the new library's millions of objects); only the swap runs on
    it. The replaced library and rules are released and freed in a thread too, by reference counting: the heap
    is frozen, and only a full collection of all of it (a second or more on a busy service) would free their
    reference cycles. A reload asked for while one runs waits for it, then runs
    in turn."""
    async with app[RELOADING]:
        with full_collections_held():  # until the new library is frozen: server.HELD_OFF
            reloaded, inspector, problems = await _prepare_with_workers(app)
            if problems or reloaded is None:
                log.error("reload refused: the phrase library and the quality rules both keep their previous"
                          " versions (a reload changes both or neither; the problems are logged above)")  # fmt: skip
                return False, problems
            replaced: list[Served | Inspector | None] = [app[ENGINE].install(reloaded)]
            if inspector is not None:
                replaced.append(app[QA].install(inspector))
            del reloaded, inspector
            await asyncio.to_thread(_let_go, replaced)
            started = time.perf_counter()
            if refreeze_heap():
                log.info("heap frozen again after the reload in %.0f ms", (time.perf_counter() - started) * 1000)
        return True, []


async def _prepare_with_workers(app: web.Application) -> tuple[Served | None, Inspector | None, list[str]]:
    """`_prepare` in a thread while the matching workers load the library again beside the one they serve; a
    worker that refuses it refuses the reload (every process keeps the library it serves), and what they loaded
    is dropped again if the reload is refused."""
    engine = app[ENGINE]
    workers = asyncio.create_task(engine.prepare_workers(), name="reload: matching workers")
    try:
        reloaded, inspector, problems = await asyncio.to_thread(_prepare, app)
    except BaseException:
        await asyncio.gather(workers, return_exceptions=True)
        engine.drop_prepared_workers()
        raise
    await workers
    if not problems and reloaded is not None:
        problems = await asyncio.to_thread(engine.worker_problems, reloaded)
        if problems:
            log.error("phrase library not reloaded; the previous one keeps serving:\n%s", "\n".join(problems))
            reloaded.release()  # never served: what it holds is freed as it goes
    if problems or reloaded is None:
        engine.drop_prepared_workers()
    return reloaded, inspector, problems


def _let_go(replaced: list[Served | Inspector | None]) -> None:
    """Release the replaced library and rules (None: a matcher shared with others), each freed here as its last
    reference goes: its caches first, then the rest, the event loop taking the GIL between the pieces."""
    while replaced:
        old = replaced.pop()
        if old is None:
            continue
        try:
            old.release()
        except Exception:  # the new library serves all the same; the old one stays until the process ends
            log.exception("the replaced %s could not be released", type(old).__name__)
        del old


def _prepare(app: web.Application) -> tuple[Served | None, Inspector | None, list[str]]:
    """The new library and rules, loaded off the event loop (nothing of the app is changed here); one library
    prepared or built at a time in the process, whatever app asks (`served.BUILDING`: a fleet reload of instances
    sharing a process, as tests run them, was refused with a SystemError from CPython's parser)."""
    with BUILDING:
        return _prepare_alone(app)


def _prepare_alone(app: web.Application) -> tuple[Served | None, Inspector | None, list[str]]:
    matcher, problems = app[ENGINE].prepare()
    inspector = None
    if QA in app:  # the quality rules live beside the phrases and reload with them
        inspector, qa_problems = app[QA].prepare()
        problems += qa_problems
    return matcher, inspector, problems


def reload_on_signal(app: web.Application) -> None:
    """SIGHUP: the same reload as the admin route's, as a task of its own (a signal handler must not block)."""
    task = asyncio.get_running_loop().create_task(reload_library(app), name="reload")
    _SIGNALLED.add(task)  # kept until done: the loop holds tasks only weakly
    task.add_done_callback(_reload_done)


_SIGNALLED: set[asyncio.Task[tuple[bool, list[str]]]] = set()


def _reload_done(task: asyncio.Task[tuple[bool, list[str]]]) -> None:
    _SIGNALLED.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("reload on SIGHUP failed", exc_info=task.exception())


async def post_reload(request: web.Request) -> web.Response:
    """Reload the phrase library; a bad library keeps the old one serving and says why. `fleet=1`: every instance
    on the shared PostgreSQL database reloads its own files (cluster/reloads.py), each one's outcome answered."""
    require(request, "admin")
    fleet = request.query.get("fleet", "")
    if fleet not in FLAG_VALUES:
        return json_error(400, "invalid_query", "fleet", "must be 1 (every instance) or 0 (this one)")
    wait_s = _wait_s(request)
    if isinstance(wait_s, web.Response):
        return wait_s
    if fleet in ("1", "true", "on") and FLEET in request.app:
        return await _fleet_reload(request.app, wait_s)
    ok, problems = await reload_library(request.app)
    if not ok:
        return web.json_response({"reloaded": False, "problems": problems}, status=422, dumps=json_dumps)
    body = _reloaded_body(request.app)
    if fleet in ("1", "true", "on"):  # an SQLite file is served by one instance: the fleet is this one
        library = request.app[ENGINE].library
        own = {"instance": reloads.this_instance(), "answered": True, "reloaded": True, "phrases": body["phrases"]}
        own["library"] = await asyncio.to_thread(reloads.digest, library)
        body["instances"] = [own]
    return web.json_response(body, dumps=json_dumps)


FLAG_VALUES = ("", "0", "1", "true", "false", "on", "off")
MAX_FLEET_WAIT_S = 3600.0  # as `[phrases] fleet_reload_wait_s`


def _wait_s(request: web.Request) -> float | None | web.Response:
    """A fleet reload's `wait_s` (seconds, 0-3600: how long to wait for every instance's outcome), None when not
    given (`[phrases] fleet_reload_wait_s`), or the 400 naming it."""
    raw = request.query.get("wait_s")
    if raw is None:
        return None
    try:
        wait_s = float(raw)
    except ValueError:
        wait_s = math.nan
    if not 0 <= wait_s <= MAX_FLEET_WAIT_S:  # NaN too
        return json_error(400, "invalid_query", "wait_s", f"must be a number of seconds from 0 to {MAX_FLEET_WAIT_S:g}")
    return wait_s


def _reloaded_body(app: web.Application) -> dict[str, object]:
    body: dict[str, object] = {"reloaded": True, "phrases": len(app[ENGINE].library.phrases)}
    if QA in app:
        # The files read are those `[qa] rules` listed at start: config is read once, a new file takes a restart.
        body["rules"] = list(app[QA].config.qa.rules)
    return body


async def reload_for_fleet(app: web.Application) -> tuple[bool, list[str], int, str]:
    """This instance's part of a fleet reload: the reload above, and the phrases serving after it (their number and
    digest, computed in a thread: 20,000 phrases take milliseconds)."""
    ok, problems = await reload_library(app)
    library = app[ENGINE].library
    return ok, problems, len(library.phrases), await asyncio.to_thread(reloads.digest, library)


async def _fleet_reload(app: web.Application, wait_s: float | None) -> web.Response:
    """Every instance reloads: 200 when each did, 422 when one refused (its problems listed; each instance keeps
    what it served), 202 when one has not answered within the wait (it reloads when it can)."""
    try:
        outcomes = await app[FLEET].ask(wait_s=wait_s)
    except psycopg.Error as exc:
        log.warning("fleet reload not asked: the database could not be reached (%s)", exc)
        return unavailable("database_unavailable", f"the fleet reload was not asked: {exc}")
    body: dict[str, object] = {
        "reloaded": all(o.reloaded for o in outcomes),
        "fleet": True,
        "instances": [o.json() for o in outcomes],
    }
    if any(o.reloaded is False for o in outcomes):
        return web.json_response(body, status=422, dumps=json_dumps)
    if any(o.reloaded is None for o in outcomes):
        return web.json_response(body, status=202, dumps=json_dumps)
    body.update({k: v for k, v in _reloaded_body(app).items() if k != "reloaded"})
    return web.json_response(body, dumps=json_dumps)
