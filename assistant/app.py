"""`create_app(config)`: the one place where the service is wired together.

Resources open in order as clean-up contexts (the writer, the plugins, the live feed, the follow-ups)
and close in reverse; every route comes from `web.routes.ROUTES`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import TypeVar

import psycopg
from aiohttp import web

from assistant import pg, store, upgrade
from assistant.bus import Bus, Update
from assistant.cluster.budget import Budget
from assistant.cluster.relay import Relay
from assistant.cluster.reloads import FleetReloads
from assistant.config import Config, ConfigError
from assistant.conversations import Conversations
from assistant.followups.service import FollowupService
from assistant.i18n import _, database_reason
from assistant.ingest import Ingestor
from assistant.kpi import metrics, window
from assistant.live import LiveFeed, Publisher
from assistant.plugins import Plugins
from assistant.qa.inspector import Inspector, load_inspector
from assistant.qa.rules import RulesError
from assistant.qa.service import QaService
from assistant.suggest.adjusting import SuggestionAdjuster
from assistant.suggest.engine import SuggestionEngine, load_matcher
from assistant.suggest.matcher import Matcher
from assistant.suggest.phrase_cache import PhraseFileCache
from assistant.tasks import fault_reason
from assistant.upgrade import SchemaError
from assistant.web.appkeys import (
    BUDGET,
    BUS,
    CHATWOOT,
    CONFIG,
    DB_PATH,
    ENGINE,
    FEED,
    FILES,
    FLEET,
    FOLLOWUPS,
    INGESTOR,
    LOADED,
    PLUGINS,
    PUBLISHER,
    QA,
    QA_INSPECTOR,
    READS,
    RELAY,
    RELOADING,
    STARTUP,
    WORKBOOKS,
    WRITER,
)
from assistant.web.auth import no_referrer
from assistant.web.chatwoot_memory import CUSTOMER_MERGED, ChatwootMemory
from assistant.web.filelimit import FileLimit
from assistant.web.guard import Unrouted, guarded_routes
from assistant.web.routes import ROUTES
from assistant.web.server import MAX_URL_BYTES, full_collections_held, refreeze_heap
from assistant.web.starting import StartStopped, Startup, abandon_start, finish_start
from assistant.web.stopping import Reads, abandon_reads, abandoned_on_stop
from assistant.web.stream import conversation_snapshot
from assistant.web.suggest import reload_for_fleet
from assistant.writer import RECONNECT_PAUSE_S, StorageError, Writer, is_busy

log = logging.getLogger(__name__)
T = TypeVar("T")
WAIT_SAID_EVERY_S = 60.0  # a start waiting for PostgreSQL says so in the log this often
LOCKED = "a lock is held by another instance or session (another instance migrating, a long transaction)"
# The kinds of fault (tasks.fault_reason) a server's coming back, or its freeing a connection, ends.
SERVER_NOT_THERE = frozenset(
    {"cannot connect", "no free connection", "not answering", "the server is out of resources"}
)


def create_app(
    config: Config,
    *,
    db_path: store.Location | None = None,
    matcher: Matcher | None = None,
    inspector: Inspector | None = None,
) -> web.Application:
    """Build the web application; resources open on start-up and close on clean-up.

    The phrase library loads here, so a broken library stops the service before it listens
    (LibraryError names each problem); so do the quality rules. Tests pass a shared `matcher` to skip reloading it.
    """
    metrics.check_kpi_config(config.kpi)  # a bad tier or score table stops the start, not the morning report
    app = web.Application(
        # No middleware: errors are answered by each route's guard (web/guard.py), the start's gate is the server's
        # (web/starting.py) until the start is over.
        # Our own handler enforces max_body_bytes with a JSON 413; this is the hard stop.
        client_max_size=config.server.max_body_bytes + 1024,
        # On every runner the app is served by (tests' too): bodies are inflated by `read_body`, checked whole;
        # a URL may hold a query's 5000 Chinese characters.
        handler_args={"auto_decompress": False, "max_line_size": MAX_URL_BYTES},
    )
    app[CONFIG] = config
    app[STARTUP] = Startup()
    app[READS] = Reads()
    app[DB_PATH] = db_path or config.location()
    app[BUS] = Bus()
    app[FEED] = LiveFeed(app[BUS])
    app[LOADED] = time.monotonic()  # before the files are read: a fleet reload asked meanwhile is not in them
    files = PhraseFileCache()  # what the start read of the phrase files: a reload reads again those that changed
    served = matcher or load_matcher(config, files)
    app[ENGINE] = SuggestionEngine(
        config, served, Conversations(app[DB_PATH]), app[DB_PATH], owned=matcher is None, phrase_cache=files
    )
    app[QA_INSPECTOR] = inspector or _inspector(config)
    app[CHATWOOT] = ChatwootMemory(app[DB_PATH], shared=isinstance(app[DB_PATH], pg.Location))
    app[WORKBOOKS] = asyncio.Semaphore(1)
    app[RELOADING] = asyncio.Lock()
    # The service's own matcher, when a use needs it while a reload left it the library alone, is built as a reload
    # builds (after one in flight, the collector held off meanwhile, the heap frozen again after).
    own = app[ENGINE].own
    own.lock, own.hold, own.after = app[RELOADING], full_collections_held, refreeze_heap
    app[FILES] = FileLimit()
    app.add_routes(guarded_routes(abandoned_on_stop(ROUTES)))  # reads running at the stop answer 503 (web/stopping.py)
    app.router.register_resource(Unrouted(app.router))  # the last: a request no route takes (404, 405)
    app.cleanup_ctx.extend([_matching_ctx, _writer_ctx, _plugins_ctx, _feed_ctx, _followups_ctx, _qa_ctx, _fleet_ctx])
    app.on_response_prepare.append(no_referrer)  # a page's URL may carry a token: it goes to no other site
    app.on_startup.append(finish_start)  # after every cleanup context (aiohttp runs those first)
    app.on_shutdown.extend([abandon_start, abandon_reads, _close_streams])
    return app


async def _matching_ctx(app: web.Application) -> AsyncIterator[None]:
    """The matching workers (`[phrases] workers`): started in the background, the service listens without
    waiting for them and matches messages itself until they are ready (within its share of the loop's time:
    `LoopBudget`); stopped after the writer."""
    engine = app[ENGINE]
    count = app[CONFIG].phrases.workers
    if count > 0:
        engine.start_workers(count)
    yield
    await engine.stop_workers()


async def _writer_ctx(app: web.Application) -> AsyncIterator[None]:
    """The single writer and the ingestor: suggestions annotate, then state and panels hear of each event.

    A database that cannot be written stops the start (a lock held by another process only delays it:
    `/readyz` says so meanwhile).
    """
    path = app[DB_PATH]
    app[STARTUP].enter(_opening(path))
    writer: Writer | None = None
    try:  # in a thread: the service answers /healthz meanwhile (a big log after an unclean stop takes a while)
        writer = await _open_writer(app, path)
        await _derive(app, writer)
    except (sqlite3.Error, SchemaError) as exc:
        await _close_unstarted(writer)
        raise _unopenable(path, exc) from None
    except StartStopped:
        await _close_unstarted(writer)
        raise
    writer.start()
    problem = await writer.probe()
    if problem is not None and not is_busy(problem):
        await writer.close()
        raise StorageError(_("%(path)s: cannot write to the database (%(reason)s)", path=path, reason=database_reason(problem)))  # fmt: skip
    app[WRITER] = writer
    if problem is None:  # a changed payment window recomputes past days: said once, by the start that notices it
        await window.note_at_start(app[CONFIG], writer)
    ingestor = Ingestor(writer, max_ahead_ms=app[CONFIG].webhook.signature_tolerance_s * 1000)
    engine = app[ENGINE]
    ingestor.annotators.append(engine.annotate_pipelined)  # in a matching worker when one is ready
    ingestor.listeners.append(engine.on_written)
    ingestor.recorders.append(engine.conversations.record_name)  # a contact's new name, logged with its event
    # After on_written: the state is current. Cards are built only while a panel is connected.
    publisher = Publisher(
        app[BUS],
        conversation_snapshot(engine),
        feed=app[FEED],
        agent_of=lambda shop, conversation: engine.conversations.get(shop, conversation).agent,
        agent_before=engine.conversations.agent_before,
        tracked=isinstance(path, pg.Location),  # the relay asks which events are out (`was_published`)
    )
    ingestor.listeners.append(publisher)
    app[INGESTOR] = ingestor
    app[PUBLISHER] = publisher
    yield
    app[CHATWOOT].close()  # the readers first: the writer's last checkpoint then empties the -wal file
    engine.conversations.close()
    engine.items.close()
    if not isinstance(path, pg.Location):  # instances of another release may share a PostgreSQL database
        try:
            await writer.submit(upgrade.mark_derived)
        except (sqlite3.Error, OSError) as exc:  # the file gone or full: the next start reads a few events more
            log.warning("derived watermark not saved at stop (%s); the next start derives from the last one", exc)
    await writer.close()
    if isinstance(path, pg.Location):
        pg.close_pools(path)
    log.info("interaction log flushed and closed (%d commits, %d jobs)", writer.commits, writer.jobs)


LOCK_HELD = "another process holds the database's lock"  # `/readyz` while the start waits for a SQLite lock
_DAMAGED = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB


def _unopenable(path: store.Location, exc: sqlite3.Error | SchemaError) -> StorageError:
    """Why the start cannot open the log. A file that is no whole SQLite database (a copy taken while it was being
    written, a file cut short, another file) was refused with SQLite's words alone, in English, and nothing said
    what to do; the file is left as it was (never replaced by a new, empty log)."""
    reason = database_reason(exc)
    if (getattr(exc, "sqlite_errorcode", 0) & 0xFF) not in _DAMAGED:
        return StorageError(_("%(path)s: cannot open the database (%(reason)s)", path=path, reason=reason))
    return StorageError(
        _(
            "%(path)s: cannot open the database (%(reason)s): it is not a whole SQLite database (a copy taken while it was being written, a file cut short, or another file); it is left as it was. Restore the last backup to this path (or, for what the file still holds: sqlite3 %(path)s .recover | sqlite3 recovered.db), or move the file aside to start a new, empty log",
            path=path,
            reason=reason,
        )  # fmt: skip
    )


async def _open_writer(app: web.Application, path: store.Location) -> Writer:
    """The writer, opened (and the log migrated); on PostgreSQL, waited for while the server cannot be reached or
    has no connection to give (down, restarting, at max_connections): a start whose server was not up yet (the
    machine's boot, a failover) exited 1 at once. So is a lock held past `busy_timeout_s` (another instance's
    migration: instances migrate one after another), on SQLite too (an sqlite3 shell left in a transaction while the
    log needs a migration: the start exited 1 where one without a migration waits, `_derive`). A server that refuses the password or knows no such database
    stops the start at once, as before: waiting would not change its answer."""

    def open_writer() -> Writer:
        return Writer(path, busy_timeout_s=app[CONFIG].store.busy_timeout_s, repair=False)

    if not isinstance(path, pg.Location):  # a lock another process holds while the log needs a migration: waited for
        return await _waiting_for_postgresql(app, lambda: asyncio.to_thread(open_writer), is_busy, LOCK_HELD)

    def unreachable(exc: Exception) -> bool:
        return isinstance(exc, psycopg.OperationalError) or fault_reason(exc) in SERVER_NOT_THERE

    return await _waiting_for_postgresql(app, lambda: asyncio.to_thread(open_writer), unreachable, "PostgreSQL cannot be reached")  # fmt: skip


async def _derive(app: web.Application, writer: Writer) -> None:
    """The rows of the events logged since the last clean stop that an older release left underived: a step of its
    own, which a stop ends (within a statement on SQLite, between parts of 20,000 events on PostgreSQL), what it
    committed kept and the rest derived by the next start (a SIGTERM waited for all of it: 2.8 s at 150,000)."""
    startup = app[STARTUP]

    async def derive() -> None:
        since, last = await asyncio.to_thread(writer.prepare, upgrade.underived)
        if last <= since:
            return
        startup.enter(f"deriving the rows of the events {since + 1}..{last}, logged since the last clean stop")
        try:  # the parts derived before a lost connection are kept: the next attempt derives the rest
            await asyncio.to_thread(writer.prepare, partial(upgrade.repair_derived, stopping=lambda: startup.stopping))
        except upgrade.Stopped:
            raise StartStopped(startup.stage) from None

    await _through_outage(app, derive, writer)


async def _through_outage(app: web.Application, attempt: Callable[[], Awaitable[T]], writer: Writer | None = None) -> T:
    """`attempt()`, made again while PostgreSQL is lost to it (a restart, a failover dropped its connection) until it
    is back; `/readyz` names the step and what it waits for meanwhile, a stop ends the wait.

    A step of the start that reads or writes the database exited the service ("cannot open the database (the
    connection is closed)", or an AdminShutdown) where, once started, it reconnects; and after a minute of waiting it
    exited too: a server down longer (a failover, a maintenance window) took every instance with it, each restarted
    by its supervisor into the same wait, or left stopped. Each attempt must be one that may run again after a
    failure (what it committed kept). The writer's connection is opened again here before its thread starts, by its
    next group after (`Writer._begin`); `attempt`'s own connections are its to open."""

    sqlite = not isinstance(app[DB_PATH], pg.Location)

    def lost(exc: Exception) -> bool:
        if sqlite:  # another process's lock (an sqlite3 shell left in a transaction): the start exited 1 on it
            return is_busy(exc)
        return isinstance(exc, psycopg.OperationalError) or (writer is not None and writer.lost)

    async def once() -> T:
        if writer is not None and writer.lost and not writer.started:
            await asyncio.to_thread(writer.reconnect)
        return await attempt()

    what = LOCK_HELD if sqlite else "the PostgreSQL connection was lost"
    return await _waiting_for_postgresql(app, once, lost, what)


async def _waiting_for_postgresql(
    app: web.Application, attempt: Callable[[], Awaitable[T]], passing: Callable[[Exception], bool], what: str
) -> T:
    """`attempt()`, made again every RECONNECT_PAUSE_S for as long as its failure is one that `passing` says the
    server's return ends, or a lock another session holds (LOCKED), with no time limit: `/readyz` names the step,
    `what`, the fault's kind (not its words, which name the server's address and role: `/readyz` is open to anyone)
    and how long it has waited; the log says it in full at once, then once a minute. A stop ends the wait
    (StartStopped)."""
    startup = app[STARTUP]
    step = startup.stage
    since: float | None = None
    said = 0.0
    while True:
        try:
            startup.stage = step
            done = await attempt()
            startup.resume()
            return done
        except (sqlite3.OperationalError, psycopg.OperationalError) as exc:
            # A lock another session holds past lock_timeout (another instance migrating or deriving, an
            # administrator's transaction): it ends, and the start waited for exited 1 with "cannot open the database
            # (LockNotAvailable …)". Only PostgreSQL's faults are "busy" (SQLite's keep their own words).
            locked = fault_reason(exc) == "busy"
            if not (locked or passing(exc)):
                raise
            waiting_for = LOCKED if locked else what
            startup.stall()  # events are answered 503 at once meanwhile, not held for a start that cannot end
            now = time.monotonic()
            if since is None or startup.stage != step:  # a first failure, or one in a step the attempt entered
                step, since, said = startup.stage, now, now
                log.warning("starting: %s during the step %r (%s); trying again until it is back", waiting_for, step, exc)  # fmt: skip
            elif now - said >= WAIT_SAID_EVERY_S:
                said = now
                log.warning("starting: still waiting after %.0f s (%s), in the step %r (%s)", now - since, waiting_for, step, exc)  # fmt: skip
            startup.stage = (
                f"{step}: {waiting_for} ({fault_reason(exc)}); waiting for it {now - since:.0f} s, trying again"
            )
        await startup.unless_stopped(asyncio.sleep(RECONNECT_PAUSE_S))


async def _close_unstarted(writer: Writer | None) -> None:
    """A writer opened by a start that ends before it served (stopped, or its database refused)."""
    if writer is not None:
        await writer.close()
        log.info("interaction log flushed and closed (%d commits, %d jobs)", writer.commits, writer.jobs)


def _opening(path: store.Location) -> str:
    """The start's first step as `/readyz` and the log name it: a -wal file to fold back is said only when there is
    one (every start said so, a clean one's too, and its operator looked for the unclean stop)."""
    try:
        wal = 0 if isinstance(path, pg.Location) else os.stat(f"{path}-wal").st_size
    except OSError:  # none: the last stop was clean
        wal = 0
    if not wal:
        return "opening the log"
    return f"opening the log: folding back the {wal / 1_048_576:.1f} MB -wal file an unclean stop left"


async def _plugins_ctx(app: web.Application) -> AsyncIterator[None]:
    """The plugin manager: started after the writer, it sees every newly logged event (`on_event`)."""
    plugins = Plugins(app[CONFIG])
    app[PLUGINS] = plugins
    app[STARTUP].enter("starting the hooks (on_startup)")
    try:
        await app[STARTUP].unless_stopped(plugins.start())
    except StartStopped:
        await plugins.stop()  # every plugin hears on_shutdown, as at any stop (the cancelled one closes what it opened)
        raise
    app[INGESTOR].listeners.append(plugins.on_written)
    if plugins.adjusters("adjust_suggestions"):  # else no call at all on the hot path
        app[ENGINE].adjust = SuggestionAdjuster(plugins)
    yield
    await plugins.stop()


async def _feed_ctx(app: web.Application) -> AsyncIterator[None]:
    """The live feed runs while the app does; on a shared PostgreSQL database, with the other instances'
    updates relayed in (and ours out), and their events dropping our cached conversation states."""
    app[FEED].start()
    relay = None
    location = app[DB_PATH]
    if isinstance(location, pg.Location):
        engine = app[ENGINE]
        conversations = engine.conversations

        memory = app[CHATWOOT]

        def forget(update: Update) -> None:
            memory.heard_of(update.kind, update.payload)  # a status, a merge: read again when next asked
            if update.kind == "message":
                conversations.forget(update.shop, update.conversation)
                if update.payload.get("event_type") == CUSTOMER_MERGED:  # another instance merged two contacts
                    merged, into = update.payload.get("merged"), update.payload.get("merged_into")
                    if isinstance(merged, str) and isinstance(into, str):
                        conversations.merge_customer(merged, into, lambda shop: shop == update.shop)
                        conversations.forget_name(update.shop, into)  # read once here before it had a name?
                if update.payload.get("event_type") == "suggestion_used":
                    engine.count_use(update.shop, update.payload.get("phrase_id"), update.payload.get("seq"))
                buyer = update.payload.get("customer")
                if update.payload.get("event_type") == "order_paid" and isinstance(buyer, str) and buyer:
                    conversations.paid(update.shop, buyer, update.conversation)  # a returning buyer's other ones

        engine = app[ENGINE]
        feed = app[FEED]
        relay = Relay(
            location,
            app[BUS],
            snapshot=conversation_snapshot(engine),
            on_remote=forget,
            watched=feed.wants_cards,
            published=app[PUBLISHER].was_published,
        )
        app[STARTUP].enter("reading where the other instances' live updates stand")
        await _through_outage(app, relay.start)  # a read on a connection of its own, opened again
        app[INGESTOR].recorders.append(relay.record)
        app[BUS].position = lambda: relay.floor  # ids given to panels carry it: they resume on any instance
        app[PUBLISHER].on_published = relay.published_now  # our own rows read before their update was out
        app[RELAY] = relay
        memory.heard = relay.epoch  # the statuses and contacts it reads are kept while the journal is heard
    yield
    if relay is not None:
        app[CHATWOOT].heard = None  # no journal heard: read every time
        app[PUBLISHER].on_published = None
        app[BUS].position = None
        await relay.stop()
    await app[FEED].stop()


async def _followups_ctx(app: web.Application) -> AsyncIterator[None]:
    """Start the follow-up service after the plugins; stop it (and persist its timers) before they close."""
    engine = app[ENGINE]
    service = FollowupService(
        app[CONFIG], app[WRITER], app[INGESTOR], app[BUS], app[PLUGINS], phrases=lambda: engine.library
    )  # the suggestion engine's library is the one agents see, reloads included
    app[FOLLOWUPS] = service
    app[STARTUP].enter("reloading the follow-up timers and replaying the events logged after their last flush")
    try:
        retry = partial(_through_outage, app, writer=app[WRITER])  # PostgreSQL lost during the read: read again
        await service.start(app[STARTUP].check, reading=app[STARTUP].abandonable, retry=retry)
    except (
        StartStopped
    ):  # SIGTERM during the start: it ends in its read or at a slice of its replay, what it replayed kept
        await service.stop()  # the replay's `stale` records first, or the watermark held short of their events
        raise
    app[FEED].recall = service.panel_states  # panels see the countdowns and prompts of before a restart
    service.keep = app[FEED].keep  # nobody watching: a countdown is kept for the next snapshot, not published
    yield
    await service.stop()


async def _qa_ctx(app: web.Application) -> AsyncIterator[None]:
    """Quality inspection: flags on every message (annotator), alerts written with their message (recorder),
    deliveries and escalations after the commit (listener); started after the plugins it sends through."""
    config = app[CONFIG]
    service = QaService(config, app[QA_INSPECTOR], app[WRITER], app[BUS], app[PLUGINS])
    app[QA] = service
    if config.qa.enabled:
        app[STARTUP].enter("resuming the quality alerts")
        ingestor = app[INGESTOR]
        ingestor.annotators.append(service.annotate)
        ingestor.recorders.append(service.record)
        ingestor.listeners.append(service.on_written)
        await _through_outage(app, service.start, app[WRITER])  # its one read comes first: made again
    yield
    await service.stop()


async def _fleet_ctx(app: web.Application) -> AsyncIterator[None]:
    """On a shared PostgreSQL database: this instance takes part in reloads of every instance (cluster/reloads.py),
    after the quality rules it reloads with the library."""
    location = app[DB_PATH]
    if not isinstance(location, pg.Location):
        yield
        return
    fleet = FleetReloads(
        location,
        lambda: reload_for_fleet(app),
        wait_s=app[CONFIG].phrases.fleet_reload_wait_s,
        loaded_monotonic=app[LOADED],
    )
    app[STARTUP].enter("reading which fleet reloads were asked before this start")
    await _through_outage(app, fleet.start)
    app[FLEET] = fleet
    app[STARTUP].enter("taking a connection for reads, and counting the instances' connections")
    budget = Budget(location, upgrade.CONNECTIONS_PER_INSTANCE)
    await _waiting_for_postgresql(app, partial(asyncio.to_thread, budget.check), _no_connection, NO_READS)
    app[BUDGET] = budget
    budget.start()  # counted again as instances come and go (cluster/budget.py)
    yield
    await budget.stop()
    await fleet.stop()


NO_READS = "no connection for reads"


def _no_connection(exc: Exception) -> bool:
    return fault_reason(exc) in ("no free connection", "cannot connect", "not answering")


def _inspector(config: Config) -> Inspector:
    try:
        return load_inspector(config)
    except RulesError as exc:
        # One line per problem, each naming the key (the doc promises as much; "; " made them one long line).
        lines = [_("%(key)s: %(error)s", key="[qa] rules", error=problem) for problem in exc.problems]
        raise ConfigError("\n".join(lines)) from None


async def _close_streams(app: web.Application) -> None:
    """On shutdown: end the panels' and supervisors' streams before aiohttp waits for open requests."""
    app[FEED].close_all()
    if QA in app:
        app[QA].close_feeds()
