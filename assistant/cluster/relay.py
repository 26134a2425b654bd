"""Live updates across instances sharing one PostgreSQL database: a journal table and LISTEN/NOTIFY.

Each logged event gets a `live_journal` row in its own transaction (`record`, with a NOTIFY delivered
at the COMMIT), so even the events of an instance killed right after acknowledging them reach the
others; a follow-up line reaches this instance's panels only once its row is committed (`hold`), so a
line any panel was sent reaches the others even if its instance is killed then. Every instance LISTENs,
reads the rows after the last it saw and publishes the others' on its own bus (a card built here, from
the shared log), so a panel connected to any instance sees events posted to any other. A lost
connection is reopened and reading resumes from the last row seen: nothing written meanwhile is
skipped. The oldest rows are pruned, up to the first one written within `KEEP_MS` (`PRUNE`).

The read position (`floor`) is stamped on every update this instance publishes, so a panel's last id says
how far it had the journal; a panel whose instance died resumes on another from there (`since`). The
position passes our own rows (events, follow-up lines) only once their update is published here, the others'
only once their card could be built (the log read on a loaded machine may not answer: the row is read again),
never ahead of the panel, and passes a missing id only once the transaction that took it can no longer commit
(see `_advance`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable
from typing import Any, NamedTuple

import psycopg

from assistant import pg
from assistant.bus import Bus, Update
from assistant.cluster import instances
from assistant.cluster.listener import Listener, connect
from assistant.live import Scope
from assistant.store import Written
from assistant.tasks import FaultLog, is_storage_fault

log = logging.getLogger(__name__)

CHANNEL = "assistant_live"
KINDS = frozenset({"message", "followup"})
# A row saying what another instance wrote to a table that instances keep in memory (the Chatwoot memory's statuses):
# no card, no line; only `on_remote` hears it, to forget what it kept.
MEMORY = "memory"
KEEP_MS = 15 * 60_000  # the journal keeps this much: enough for any instance to catch up after a blip
RECONNECT_S = 1.0
BATCH = 500
READ_S = 5.0  # the journal is read at least this often (a missing id may have settled meanwhile)
# A missing id is passed over once every transaction that was writing to the journal when it was first missed
# has ended. One of those open this long (a group stuck on a lock?) is not waited for any longer.
GAP_MAX_S = 60.0
OWN_WAIT_S = 30.0  # one of our own rows whose update is not published after this long will not be
RESUME_ROWS = 20_000  # a panel further behind than this gets a snapshot instead
LINES_HELD = 20_000  # follow-up lines waiting for the journal; past that the oldest reaches panels unjournaled
STOP_FLUSH_S = 2.0  # at a stop, the lines still waiting are journaled (and delivered) within this, if they can be
# A logged event's row, with the NOTIFY of its transaction (`record`).
RECORD = (
    "INSERT INTO live_journal (origin, kind, shop, conversation, agent, payload, created_ms)"
    " SELECT ?, 'message', ?, ?, ?, ?, ? FROM (SELECT pg_notify(?, ?)) AS notified"
)
# Only the oldest rows go, up to the first one written within KEEP_MS: a row is stamped by its writer's clock, and
# one numbered after a kept row may be stamped earlier (another machine's clock, a group slow to insert). Deleting
# such a row while keeping an earlier one left a hole the journal's oldest id does not show (`since`): a panel
# resuming from a position before it would silently miss its card instead of getting a snapshot.
PRUNE = "DELETE FROM live_journal WHERE id < (SELECT min(id) FROM live_journal WHERE created_ms >= %s)"


class Relay:
    """Journal and LISTEN/NOTIFY between the instances of one database (PostgreSQL only)."""

    def __init__(
        self,
        location: pg.Location,
        bus: Bus,
        *,
        snapshot: Callable[[str, str], dict[str, Any]] | None = None,
        on_remote: Callable[[Update], None] | None = None,
        watched: Callable[[], bool] | None = None,
        published: Callable[[str], bool] | None = None,
    ) -> None:
        self.location = location
        self._faults = FaultLog(log, level=logging.WARNING)  # a down server: one line, not one a second
        self.bus = bus
        self.snapshot = snapshot  # a conversation's card, as the Publisher builds it (None: the row's payload)
        self.origin = secrets.token_hex(8)  # this process: its own rows are not published twice
        self.on_remote = on_remote  # e.g. drop a cached conversation state another instance changed
        # Whether any panel is connected here: with none, no card is built for the others' events.
        self.watched = watched
        # Whether one of our own events has had its update published here (the Publisher's `was_published`):
        # the read position passes our own rows only then, so a position given to a panel never runs
        # ahead of what the panel can have been sent.
        self.published = published
        # Rows up to `floor` are all read; above it, the ids read so far. Ids are taken at INSERT and
        # committed in any order, so a missing id may be a row still being written (or one rolled back).
        self.floor = 0
        self.seen: set[int] = set()
        # Rows read whose update is not out yet, and since when: ours until the Publisher has published it, the
        # others' until their card could be built. The position waits for them (up to OWN_WAIT_S).
        self._unsent: dict[int, float] = {}
        # Of those, our events' rows, by event id (`published_now`; a contact merge journals one row per conversation).
        self._awaited: dict[str, list[int]] = {}
        # What the missing ids read so far wait for: once those writers have ended, they are settled.
        self._horizon: _Horizon | None = None
        self.received = 0
        # Our follow-up lines waiting to be journaled (`hold`), and the ids of those journaled and not delivered here
        # yet: the read position waits for them, as for our events' rows.
        self._lines: deque[Update] = deque()
        self._lines_waiting = asyncio.Event()
        self._lines_done = asyncio.Event()
        self._lines_done.set()
        self._held: set[int] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._listener = Listener(
            lambda: self._connect("listen"),
            CHANNEL,
            self._catch_up,
            what="live journal listener",
            faults=self._faults,
            read_s=READ_S,  # a gap waited for is read again
            reconnect_s=RECONNECT_S,
            setup=[
                instances.HOLD
            ],  # this instance runs while the connection lives (a command that must run alone asks)
        )
        self.listening = self._listener.listening
        self._out: psycopg.AsyncConnection[Any] | None = None  # the journal writer's connection
        self._resume: psycopg.AsyncConnection[Any] | None = None  # reads for panels resuming here
        self._resume_lock = asyncio.Lock()

    async def start(self) -> None:
        """Start from the journal's current end: what this instance shows starts now (panels get snapshots)."""
        async with await self._connect() as conn:
            cur = await conn.execute("SELECT coalesce(max(id), 0) FROM live_journal")
            row = await cur.fetchone()
            self.floor = int(row[0]) if row else 0
        # Events are journaled with their transaction (`record`); the bus hands over our follow-up lines.
        self.bus.journal = self.hold
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._write(), name="relay-write"),
            loop.create_task(self._listener.run(), name="relay-listen"),
        ]

    async def stop(self) -> None:
        if self._lines and self._tasks and not self._tasks[0].done():
            try:  # the last lines of the follow-ups, stopped before us
                await asyncio.wait_for(self._lines_done.wait(), STOP_FLUSH_S)
            except TimeoutError:
                log.warning("%d follow-up lines not journaled at the stop", len(self._lines))
        if self.bus.journal == self.hold:
            self.bus.journal = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("relay task failed")
        if self._resume is not None:
            await self._resume.close()

    async def _connect(self, role: str = "journal") -> psycopg.AsyncConnection[Any]:
        return await connect(self.location, instances.listener_name() if role == "listen" else f"cs-assistant-{role}")

    # ---- out: this instance's updates -------------------------------------------------------------

    def record(self, conn: Any, written: Written) -> None:
        """Recorder (inside the event's transaction): journal the event; NOTIFY goes out at the COMMIT."""
        event = written.event
        fields: dict[str, Any] = {"event_id": event.id, "event_type": event.type}
        if event.type == "suggestion_used":  # the other instances count it in the shop's adoption
            fields.update(phrase_id=event.phrase_id, seq=written.seq)
        elif event.type == "order_paid":  # the other instances' states of the buyer's conversations read his past again
            fields["customer"] = event.customer  # the card's own `customer`: the same
        payload = _json(fields)
        # One statement: the row and the NOTIFY (the server sends one per transaction, channel and payload), where two
        # were a round trip more for each event the writer logs.
        conn.execute(
            RECORD,
            (
                self.origin,
                event.shop,
                event.conversation,
                event.agent,
                payload,
                int(time.time() * 1000),
                CHANNEL,
                self.origin,
            ),
        )

    def record_cards(self, conn: Any, keys: list[tuple[str, str]], fields: dict[str, Any]) -> None:
        """Inside a writer job that changed conversations outside any event (a contact merge): journal each, so the
        other instances' panels get its card at once (`fields` carries an `event_id` and an `event_type`)."""
        payload, now = _json(fields), int(time.time() * 1000)
        for shop, conversation in keys:
            conn.execute(
                "INSERT INTO live_journal (origin, kind, shop, conversation, agent, payload, created_ms)"
                " VALUES (?, 'message', ?, ?, NULL, ?, ?)",
                (self.origin, shop, conversation, payload, now),
            )
        if keys:
            conn.execute("SELECT pg_notify(?, ?)", (CHANNEL, self.origin))

    def record_memory(self, conn: Any, shop: str, conversation: str, fields: dict[str, Any]) -> None:
        """Inside a writer job that changed a table the instances keep in memory: journal it (`MEMORY`), so the
        others forget what they kept of it (their `on_remote`)."""
        conn.execute(
            "INSERT INTO live_journal (origin, kind, shop, conversation, agent, payload, created_ms)"
            f" SELECT ?, '{MEMORY}', ?, ?, NULL, ?, ? FROM (SELECT pg_notify(?, ?)) AS notified",
            (self.origin, shop, conversation, _json(fields), int(time.time() * 1000), CHANNEL, self.origin),
        )

    def epoch(self) -> int | None:
        """The journal's listening connection, numbered (a new one may have missed rows), while it listens; else None:
        what another instance changed may not be heard."""
        return self._listener.connections if self.listening.is_set() else None

    def hold(self, update: Update) -> bool:
        """The bus's `journal`: take one of our follow-up lines, to deliver it here once its row is committed, so that
        no panel is shown a line a panel resuming on another instance could miss. Whether it took the update."""
        if update.kind != "followup" or update.remote:
            return False
        if len(self._lines) >= LINES_HELD:  # the journal is far behind (its database down): the oldest waits no more
            self.bus.deliver(self._lines.popleft())
        self._lines.append(update)
        self._lines_done.clear()
        self._lines_waiting.set()
        return True

    async def _write(self) -> None:
        try:
            await self._write_batches()
        finally:
            if self._out is not None:
                await self._out.close()

    async def _write_batches(self) -> None:
        pending: list[Update] = []
        pruned_ms = 0
        while True:
            if not pending and not self._lines:
                self._lines_done.set()
                self._lines_waiting.clear()
                await self._lines_waiting.wait()
            while self._lines and len(pending) < BATCH:
                pending.append(self._lines.popleft())
            ids: list[int] = []
            try:
                if self._out is None or self._out.closed:
                    self._out = await self._connect()
                conn = self._out
                now = int(time.time() * 1000)
                async with conn.transaction():
                    async with conn.cursor() as cur:
                        await cur.executemany(
                            "INSERT INTO live_journal (origin, kind, shop, conversation, agent, payload, created_ms)"
                            " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                            [
                                (self.origin, u.kind, u.shop, u.conversation, u.agent, _json(u.payload), now)
                                for u in pending
                            ],
                            returning=True,
                        )
                        while True:
                            ids.extend(int(row[0]) for row in await cur.fetchall())
                            if not cur.nextset():
                                break
                    self._held.update(ids)  # before the COMMIT: the listener reads them only after it
                    await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, self.origin))
                    if now - pruned_ms > 60_000:
                        await conn.execute(PRUNE, (now - KEEP_MS,))
                        pruned_ms = now
            except asyncio.CancelledError:
                self._held.difference_update(ids)
                raise
            except Exception as exc:
                self._held.difference_update(ids)
                self._faults.log("write", "live journal write failed (%s); retrying", exc)  # once, then once a minute
                if self._out is not None:
                    await self._out.close()
                self._out = None
                await asyncio.sleep(RECONNECT_S)
                continue
            self._faults.cleared("write", "the live journal is written again")
            for update in pending:  # journaled: now this instance's panels may have them
                self.bus.deliver(update)
            pending = []
            self._held.difference_update(ids)
            for id_ in ids:
                if id_ in self._unsent:  # read meanwhile: the position may pass it now
                    self._settle(id_)
            self._step()

    # ---- in: the other instances' updates ---------------------------------------------------------

    async def _catch_up(self, conn: psycopg.AsyncConnection[Any]) -> None:
        while True:
            # Whether the writers the missing ids wait for have all ended: asked before the rows are read, in a
            # statement of its own, so that the read's snapshot is taken after they ended and holds their rows.
            settled = self._horizon is not None and not (self._horizon.writers & await _writers(conn))
            cur = await conn.execute(
                "SELECT id, origin, kind, shop, conversation, agent, payload FROM live_journal"
                " WHERE id > %s AND NOT (id = ANY(%s::bigint[])) ORDER BY id LIMIT %s",
                (self.floor, list(self.seen), BATCH),
            )
            rows = await cur.fetchall()
            for id_, origin, kind, shop, conversation, agent, payload in rows:
                id_ = int(id_)
                if origin == self.origin:
                    event_id = str(json.loads(payload).get("event_id")) if kind == "message" else None
                    if id_ not in self._held and (event_id is None or self._published_here(event_id)):
                        self._settle(id_)
                    else:
                        self._unsent.setdefault(id_, time.monotonic())  # read again until it is
                        if event_id is not None:  # or until the Publisher says it is out (`published_now`)
                            self._awaited.setdefault(event_id, []).append(id_)
                    continue
                update = Update(kind, shop, conversation, agent, json.loads(payload), remote=True)
                if id_ not in self._unsent:  # heard once, however often its card is tried
                    self.received += 1
                    if self.on_remote is not None:
                        try:
                            self.on_remote(update)
                        except Exception:
                            log.exception("remote update listener failed")
                if kind == MEMORY:  # heard: nothing to publish
                    self._settle(id_)
                    continue
                if kind == "message" and self.snapshot is not None:
                    if self.watched is not None and not self.watched():
                        self._settle(id_)  # no panel here: no card to send
                        continue
                    try:
                        card = self.snapshot(shop, conversation)
                    except Exception as exc:
                        if not is_storage_fault(exc):  # a defect: reading again would fail the same way
                            log.exception("card of %s/%s not built", shop, conversation)
                            self._settle(id_)
                            continue
                        # The log did not answer (a loaded machine): the row is read again, and the read position
                        # waits for it, so neither this instance's panels nor one resuming elsewhere miss it.
                        self._faults.log("card", "card of %s/%s not built; tried again: %s", shop, conversation, exc)
                        self._unsent.setdefault(id_, time.monotonic())
                        continue
                    self._faults.cleared("card", "cards of the other instances' events are built again")
                    update = Update(
                        kind, shop, conversation, card.get("agent"), {**card, **update.payload}, remote=True
                    )
                self._settle(id_)
                self.bus.publish(update)
            complete = len(rows) < BATCH  # every row up to the newest was read: missing ones are not further on
            self._advance(complete and settled)
            if complete:
                if self._horizon is None and self.seen:  # missing ids below some read: what do they wait for
                    covered = max(self.seen | self._unsent.keys())
                    self._horizon = _Horizon(await _writers(conn), covered, time.monotonic())
                return

    def _settle(self, id_: int) -> None:
        """A row read whose update is out (or needs none): the position may pass it."""
        self.seen.add(id_)
        self._unsent.pop(id_, None)

    def _published_here(self, event_id: str) -> bool:
        return self.published is None or self.published(event_id)

    def published_now(self, event_id: str) -> None:
        """The Publisher's `on_published`: one of our events' update is out. A row of it read before then is passed
        now; it waited for the next read (a notification, or `READ_S` later): a position 5 s behind its panels."""
        for id_ in self._awaited.pop(event_id, ()):
            if id_ in self._unsent:
                self._settle(id_)
        self._step()

    # ---- resuming a panel that was connected to another instance -------------------------------

    async def since(self, position: int, scope: Scope) -> list[Update] | None:
        """What a panel of `scope` that had everything up to journal row `position` has missed: the current
        card of each conversation with an event after it, then the latest follow-up line of each; None when
        the journal no longer reaches back that far, or holds too much since (the panel gets a snapshot)."""
        # One statement, one snapshot: the journal's oldest row and the rows after the position.
        found = await self._resume_read(
            "SELECT m.oldest, j.id, j.kind, j.shop, j.conversation, j.agent, j.payload"
            " FROM (SELECT min(id) AS oldest FROM live_journal) m LEFT JOIN LATERAL"
            " (SELECT * FROM live_journal WHERE id > %s ORDER BY id LIMIT %s) j ON true"
            " ORDER BY j.id",
            (position, RESUME_ROWS + 1),
        )
        if found is None:
            return None
        oldest = found[0][0] if found else None
        rows = [row[1:] for row in found if row[1] is not None]
        if oldest is None or int(oldest) > position + 1 or len(rows) > RESUME_ROWS:
            return None  # pruned past the position (or nothing kept at all): a snapshot is the only truth
        touched: dict[tuple[str, str], tuple[set[str], dict[str, Any]]] = {}
        first: dict[tuple[str, str], str] = {}  # the first event of each after the position
        lines: dict[tuple[str, str], Update] = {}
        for _id, kind, shop, conversation, agent, payload in rows:
            key = (shop, conversation)
            if kind == "message":
                agents, _last = touched.pop(key, (set(), {}))
                if agent:
                    agents.add(agent)
                touched[key] = (agents, json.loads(payload))  # latest last: cards go out in that order
                first.setdefault(key, str(touched[key][1].get("event_id")))
            elif kind == "followup":
                lines.pop(key, None)
                lines[key] = Update(kind, shop, conversation, agent, json.loads(payload), remote=True)
        # An agent's conversations: those whose rows name the agent, and those whose rows do not name it but that
        # are the agent's now (a customer's message, an order: a platform may name the agent on agent messages
        # only) or were before the position (handed over since: the panel drops the card). Only those get a card.
        # (A panel watching one conversation gets it, whichever agent it names: the page's agent, or none.)
        agent_of_panel = scope.agent if scope.watch is None else None
        unnamed = [key for key, (agents, _) in touched.items() if agent_of_panel and agent_of_panel not in agents]
        theirs: set[tuple[str, str]] = set()
        left: set[tuple[str, str]] = set()
        if unnamed:
            shops, conversations = [shop for shop, _ in unnamed], [conversation for _, conversation in unnamed]
            events = [first[key] for key in unnamed]
            found = await self._resume_read(_AGENTS_OWN, (agent_of_panel, agent_of_panel, shops, conversations, events))
            if found is None:
                return None
            for shop, conversation, now, before in found:
                if now or before:
                    theirs.add((str(shop), str(conversation)))
                if before and not now:
                    left.add((str(shop), str(conversation)))
        missed: list[Update] = []
        for (shop, conversation), (agents, last) in touched.items():
            if scope.watch not in (None, (shop, conversation)):
                continue
            if agent_of_panel and agent_of_panel not in agents and (shop, conversation) not in theirs:
                continue  # not this panel's: no card built
            card = dict(self.snapshot(shop, conversation)) if self.snapshot is not None else {}
            card.update(last)
            agent = card.get("agent")
            gone = sorted(a for a in agents if a != agent)
            if (shop, conversation) in left and agent != scope.agent:
                card["previous_agent"] = scope.agent  # the panel it left must hear of it (and drops the card)
            elif gone:  # handed over meanwhile: the panel it left must hear of it (and drops the card)
                card["previous_agent"] = scope.agent if scope.agent in gone else gone[0]
            update = Update("message", shop, conversation, agent, card, remote=True)
            if scope.accepts(update):
                missed.append(update)
        missed.extend(u for u in lines.values() if scope.accepts(u))
        return missed

    async def _resume_read(self, query: str, params: tuple[Any, ...]) -> list[Any] | None:
        """The rows of a read for a resuming panel; None when the database did not answer (it gets a snapshot)."""
        try:
            async with self._resume_lock:
                if self._resume is None or self._resume.closed:
                    self._resume = await self._connect("resume")
                cur = await self._resume.execute(query, params)
                return await cur.fetchall()
        except psycopg.Error as exc:
            log.warning("live journal not read for a resuming panel (%s); it gets a snapshot", exc)
            if self._resume is not None:
                await self._resume.close()
            self._resume = None
            return None

    def _advance(self, settled: bool) -> None:
        """Move the floor over the ids read, and over missing ones that can no longer appear (`settled`: every
        writer the missing ids wait for has ended, and the rows were all read since).

        An id is taken when its row is inserted, by a transaction that takes the journal's write lock first and
        keeps it to its end. A missing id below one read was taken before that row committed, so before the read:
        its transaction is among those holding the lock once the read is done (`_horizon`), or has ended. Once
        none of those holds it any longer, a complete read has the missing row, or it was rolled back: it is
        passed over. Transactions elsewhere in the database (a long archive run) are not waited for. Our own
        rows wait for their update to be published, the others' for their card.
        """
        now = time.monotonic()
        expired = False
        for id_, since in list(self._unsent.items()):
            if now - since > OWN_WAIT_S:
                log.warning("live journal row %d: its update was never published here; passed over", id_)
                del self._unsent[id_]
                self.seen.add(id_)
                expired = True
        if expired and self._awaited:
            self._awaited = {e: ids for e, ids in self._awaited.items() if any(i in self._unsent for i in ids)}
        self._step()
        if not self.seen and not self._unsent:
            self._horizon = None
            return
        if self._horizon is None:
            return
        if settled:
            self._pass(self._horizon.covered)
        elif now - self._horizon.since > GAP_MAX_S:
            log.warning("live journal: ids missing for %.0f s, their writer still open; passed over", GAP_MAX_S)
            self._pass(self._horizon.covered)

    def _step(self) -> None:
        while self.floor + 1 in self.seen:
            self.floor += 1
            self.seen.discard(self.floor)

    def _pass(self, covered: int) -> None:
        """Pass the missing ids up to `covered` (not our own rows still waiting to be published)."""
        self._horizon = None
        while self.floor < covered and self.floor + 1 not in self._unsent:
            self.floor += 1
            self.seen.discard(self.floor)
        self._step()


# Of conversations touched since a resuming panel's position by events not naming its agent: whether each is the
# agent's now, and whether it was just before its first event since (the agent of its last message or hand-over
# before it, as `Conversations.agent_before` reads it).
_AGENTS_OWN = (
    "SELECT t.shop, t.conversation, coalesce(c.agent = %s, false), coalesce((SELECT e.agent FROM events e"
    " WHERE e.shop = t.shop AND e.conversation = t.conversation AND e.seq < f.seq AND e.agent IS NOT NULL"
    " AND e.type IN ('message', 'conversation_assigned') ORDER BY e.seq DESC LIMIT 1) = %s, false)"
    " FROM unnest(%s::text[], %s::text[], %s::text[]) AS t(shop, conversation, first_event)"
    " LEFT JOIN conversations c ON c.shop = t.shop AND c.conversation = t.conversation"
    " LEFT JOIN events f ON f.id = t.first_event"
)


class _Horizon(NamedTuple):
    """The missing ids up to `covered` wait for `writers` (the transactions writing to the journal when they were
    first missed), since `since` (monotonic)."""

    writers: frozenset[str]
    covered: int
    since: float


# The transactions writing to the journal (an INSERT takes this lock before its row's id, and keeps it to the end).
_WRITERS = (
    "SELECT virtualtransaction FROM pg_locks WHERE locktype = 'relation' AND mode = 'RowExclusiveLock'"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    " AND relation = 'live_journal'::regclass"
)


async def _writers(conn: psycopg.AsyncConnection[Any]) -> frozenset[str]:
    cur = await conn.execute(_WRITERS)
    return frozenset(str(row[0]) for row in await cur.fetchall())


def _json(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)
