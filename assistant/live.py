"""The live feed for agent panels: numbered updates, a resumption journal, and fan-out to streams (no HTTP).

Every logged event publishes a snapshot of its conversation (`Update(kind="message")`); the follow-up
scheduler publishes `kind="followup"`. One `LiveFeed` drains the bus, numbers each update, keeps a short
journal for `Last-Event-ID` resumption, and hands each update to the streams whose scope wants it.
A stream that cannot resume (new server, id too old, panel too slow) is sent a full snapshot instead,
so a panel always converges on the current state. On a shared PostgreSQL database ids also carry the live
journal's position, from which any instance can resume a panel (assistant/cluster/relay.py).
The HTTP half (tokens, snapshots, SSE) is web/stream.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from assistant.bus import Bus, Subscription, Update
from assistant.ground.bounded import Bounded
from assistant.store import Written
from assistant.tasks import TaskSet

log = logging.getLogger(__name__)

HEARTBEAT_S = 15.0  # a named event, so the page can tell a silent dead connection from a quiet one
JOURNAL_SIZE = 4096  # updates kept for Last-Event-ID resumption
STREAM_BACKLOG = 1000  # a panel this far behind gets a fresh snapshot instead of the backlog
TRACKED_CONVERSATIONS = 20_000
SSE_EVENT = {"message": "conversation"}  # bus kind → SSE event name; other kinds keep their name
# After the last panel disconnects, cards are still built this long, so a panel back from a blip resumes
# from its Last-Event-ID instead of reloading a snapshot.
CARD_LINGER_S = 60.0
PANEL_KINDS = frozenset({"message", "followup"})  # what agent panels hear (the supervisors' flags go elsewhere)

# A conversation as a panel card shows it: (shop, conversation) → JSON, with `agent` among its keys.
Snapshot = Callable[[str, str], dict[str, Any]]
# The follow-up line of conversations the feed has no update for (after a restart, or evicted), from the database.
Recall = Callable[[list[tuple[str, str]]], dict[tuple[str, str], dict[str, Any]]]


# ---- who sees what -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """What a panel follows: one agent's conversations, one watched conversation, or everything."""

    agent: str | None = None
    watch: tuple[str, str] | None = None
    everything: bool = False

    @property
    def empty(self) -> bool:
        return self.agent is None and self.watch is None and not self.everything

    def accepts(self, update: Update) -> bool:
        if self.watch is not None:
            return (update.shop, update.conversation) == self.watch
        if self.everything:
            return True
        return self.agent is not None and self.agent in (update.agent, update.payload.get("previous_agent"))

    def shows(self, conversation: dict[str, Any]) -> bool:
        """Whether a conversation snapshot belongs on this panel's list."""
        if self.watch is not None:
            return (conversation["shop"], conversation["conversation"]) == self.watch
        if conversation["status"] != "open":
            return False
        return self.everything or conversation["agent"] == self.agent

    def to_json(self) -> dict[str, Any]:
        shop, conversation = self.watch or (None, None)
        return {"agent": self.agent, "shop": shop, "conversation": conversation, "everything": self.everything}


# ---- publishing ----------------------------------------------------------------------------------


class Publisher:
    """Ingest listener: after each logged event, publish its conversation's snapshot on the bus.

    With `feed` and `agent_of`, no card is built while no panel is connected to the feed (see
    `LiveFeed.wants_cards`): only the conversation's agent is noted, for the hand-overs of later cards.
    """

    def __init__(
        self,
        bus: Bus,
        snapshot: Snapshot,
        *,
        feed: LiveFeed | None = None,
        agent_of: Callable[[str, str], str | None] | None = None,
        agent_before: Callable[[str, str, int], str | None] | None = None,
        tracked: bool = True,
    ) -> None:
        self.bus = bus
        self.snapshot = snapshot
        self.feed = feed
        self.agent_of = agent_of
        # A conversation not tracked yet (the first event of it since the start): its agent before this event,
        # from the log. Without it, a hand-over after a restart reached only the new panel; the old one kept the
        # card, its customer still waiting.
        self.agent_before = agent_before
        # The agent each conversation was last published under, so a handed-over conversation
        # also reaches the panel it leaves (which then drops it).
        self._agents: Bounded[tuple[str, str], str | None] = Bounded(TRACKED_CONVERSATIONS, on_write=True)
        # Events whose update is out (on a shared database the relay waits for these: `was_published`); not
        # `tracked` (alone on a SQLite file, where nothing asks), none is noted: a write per event saved.
        self._published: Bounded[str, None] | None = Bounded(TRACKED_CONVERSATIONS) if tracked else None
        # Told of each event as its update goes out (the relay: its read position may pass the event's row now).
        self.on_published: Callable[[str], None] | None = None

    def was_published(self, event_id: str) -> bool:
        return self._published is not None and event_id in self._published

    def _out(self, event_id: str) -> None:
        if self._published is None:
            return
        self._published.put(event_id, None)
        if self.on_published is not None:
            self.on_published(event_id)

    def __call__(self, written: Written) -> None:
        event = written.event
        key = (event.shop, event.conversation)
        if self.feed is not None and self.agent_of is not None and not self.feed.wants_cards():
            self._agents.put(key, self.agent_of(*key))
            self._out(event.id)  # nothing to send: no panel can be waiting for it
            return
        payload = self.snapshot(*key)
        agent = payload.get("agent")
        payload["event_id"] = event.id
        payload["event_type"] = event.type
        # Not read for a conversation whose insert found no event before this one (`prior`: a new one, nothing before).
        if key not in self._agents and self.agent_before is not None and written.seq is not None and written.prior != 0:
            before = self.agent_before(event.shop, event.conversation, written.seq)
            if before is not None:
                self._agents.put(key, before)
        previous = self._agents.pop(key, agent)  # the agent it was published under before (`agent` if none)
        self._agents.put(key, agent)
        if previous != agent:
            payload["previous_agent"] = previous
        self.bus.publish(Update("message", event.shop, event.conversation, agent, payload))
        self._out(event.id)

    def publish_cards(self, keys: Iterable[tuple[str, str]], event_id: str, event_type: str) -> None:
        """Publish the cards of conversations a change outside any event changed (a contact merge renames their
        customer), under one `event_id`: open panels show them at once, not at their next event."""
        if self.feed is None or self.feed.wants_cards():
            for key in keys:
                try:
                    payload = self.snapshot(*key)
                except Exception:  # the others are still sent; this card comes with the conversation's next event
                    log.exception("card of %s/%s not published after %s", key[0], key[1], event_type)
                    continue
                agent = payload.get("agent")
                payload["event_id"] = event_id
                payload["event_type"] = event_type
                previous = self._agents.pop(key, agent)
                self._agents.put(key, agent)
                if previous != agent:
                    payload["previous_agent"] = previous
                self.bus.publish(Update("message", key[0], key[1], agent, payload))
        self._out(event_id)


# ---- fan-out to streams --------------------------------------------------------------------------


class Entry:
    """A numbered update, encoded as an SSE frame once however many panels receive it."""

    __slots__ = ("seq", "id", "update", "_frame")

    def __init__(self, seq: int, id: str, update: Update) -> None:
        self.seq = seq
        self.id = id
        self.update = update
        self._frame: bytes | None = None

    @property
    def event(self) -> str:
        return SSE_EVENT.get(self.update.kind, self.update.kind)

    @property
    def data(self) -> str:
        return update_json(self.update)

    @property
    def frame(self) -> bytes:
        if self._frame is None:
            self._frame = sse_frame(self.data, event=self.event, id=self.id)
        return self._frame


def update_json(u: Update) -> str:
    """An update as the page reads it (single-line JSON)."""
    return json.dumps(
        {"shop": u.shop, "conversation": u.conversation, "agent": u.agent, "payload": u.payload},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def update_frame(u: Update) -> bytes:
    """An update as an SSE frame without an id (the page keeps the id it has)."""
    return sse_frame(update_json(u), event=SSE_EVENT.get(u.kind, u.kind))


def sse_frame(data: str, *, event: str, id: str | None = None, retry: int | None = None) -> bytes:
    """One Server-Sent Event; `data` is single-line JSON (json.dumps never emits a raw newline)."""
    head = f"id: {id}\r\n" if id is not None else ""
    tail = f"retry: {retry}\r\n" if retry is not None else ""
    return f"{head}event: {event}\r\ndata: {data}\r\n{tail}\r\n".encode()


class Stream:
    """One connected panel's pending updates."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.pending: deque[Entry] = deque()
        self.wake = asyncio.Event()
        self.closed = False
        self.resync = False
        self.heartbeat = False

    def push(self, entry: Entry) -> None:
        if len(self.pending) >= STREAM_BACKLOG:
            self.pending.clear()
            self.resync = True
        else:
            self.pending.append(entry)
        self.wake.set()

    def close(self) -> None:
        self.closed = True
        self.wake.set()


class LiveFeed:
    """Drains the bus, numbers updates, keeps a resumption journal, and feeds matching streams."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        # A new id space per process: ids from before a restart never resume, they get a snapshot.
        self.boot = f"{int(time.time() * 1000):x}{secrets.token_hex(2)}"
        self.seq = 0
        self.journal: deque[Entry] = deque(maxlen=JOURNAL_SIZE)
        # The last seq before an update that was never built (no panel was connected): a panel that
        # last saw it, or an earlier one, may have missed that update and resumes with a snapshot.
        self.gap = 0
        self.linger_s = CARD_LINGER_S
        self._unwatched_since = -float("inf")  # when the last stream closed
        # Each conversation's latest follow-up update, the latest written kept (a snapshot's follow-up states).
        self.followups: Bounded[tuple[str, str], dict[str, Any]] = Bounded(TRACKED_CONVERSATIONS, on_write=True)
        self.recall: Recall | None = None  # set by the follow-up service
        self.streams: set[Stream] = set()
        self._by_agent: dict[str, set[Stream]] = {}
        self._by_watch: dict[tuple[str, str], set[Stream]] = {}
        self._everything: set[Stream] = set()
        self._subscription: Subscription | None = None
        self._tasks = TaskSet("live-feed")

    # -- life cycle --
    def start(self) -> None:
        self._subscription = self.bus.subscribe(lambda u: u.kind in PANEL_KINDS, maxsize=20_000)
        self._tasks = TaskSet("live-feed")  # a new set: a feed can start again after a stop
        self._tasks.spawn(self._pump(self._subscription), name="live-feed")
        self._tasks.spawn(self._heartbeats(), name="live-feed-heartbeats")

    async def stop(self) -> None:
        self.close_all()
        await self._tasks.close()
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None

    def close_all(self) -> None:
        """End every stream (on shutdown), so the service stops promptly and panels reconnect."""
        for stream in tuple(self.streams):
            stream.close()

    async def _pump(self, subscription: Subscription) -> None:
        dropped = 0
        while True:
            update = await subscription.get()
            if subscription.dropped != dropped:  # the bus lost updates: nobody can trust their backlog
                dropped = subscription.dropped
                log.warning("live feed fell behind the bus (%d updates dropped); panels resync", dropped)
                for stream in self.streams:
                    stream.resync = True
                    stream.wake.set()
            try:
                self.dispatch(update)
            except Exception:
                log.exception("live update not dispatched")

    async def _heartbeats(self) -> None:
        # One timer for all streams, rather than a timeout around every stream's every wait.
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            for stream in self.streams:
                stream.heartbeat = True
                stream.wake.set()

    # -- ids --
    # `<boot>-<seq>`, and on a shared database `<boot>-<seq>-<journal position>`: the boot and seq resume
    # on this process's journal; the position resumes on any instance (`resume_position`).
    @property
    def last_id(self) -> str:
        return self.id_of(self.seq, None if self.bus.position is None else self.bus.position())

    def id_of(self, seq: int, position: int | None = None) -> str:
        return f"{self.boot}-{seq}" if position is None else f"{self.boot}-{seq}-{position}"

    # -- fan-out --
    def wants_cards(self) -> bool:
        """Whether a panel may take a conversation card now: one is connected, or the last left less than
        `linger_s` ago. When not, the caller skips building the card and the journal notes the gap, so that
        no panel resumes past an update it never had (it gets a snapshot)."""
        if self.streams or time.monotonic() - self._unwatched_since < self.linger_s:
            return True
        self.gap = self.seq
        return False

    def keep(self, update: Update) -> bool:
        """Keep a follow-up update no panel can take now as its conversation's latest, without the bus; False
        when it must be published: a panel is connected (or lingers), updates wait in the feed's backlog (they would
        land after it), or another subscriber or the relay's journal takes it. Every logged agent message arms a
        timer and publishes its countdown: through the bus, the feed's task woke for each to number it and journal
        an entry that no panel could resume from (the gap `wants_cards` notes sends a reconnecting panel a snapshot,
        whose follow-up states come from `followups`)."""
        sub = self._subscription
        if sub is None or len(sub) or not self.bus.heard_only_by(update, sub) or self.wants_cards():
            return False
        self.followups.put((update.shop, update.conversation), update.payload)
        return True

    def dispatch(self, update: Update) -> Entry:
        self.seq += 1
        entry = Entry(self.seq, self.id_of(self.seq, update.position), update)
        self.journal.append(entry)
        if update.kind == "followup":
            self.followups.put((update.shop, update.conversation), update.payload)
        if self.streams:  # no panel connected (a shop's night): no set of targets built for each update
            for stream in self._targets(update):
                stream.push(entry)
        return entry

    def _targets(self, update: Update) -> set[Stream]:
        targets = set(self._everything)
        targets |= self._by_watch.get((update.shop, update.conversation), set())
        for agent in (update.agent, update.payload.get("previous_agent")):
            if isinstance(agent, str):
                targets |= self._by_agent.get(agent, set())
        return targets

    def open(self, scope: Scope, last_event_id: str | None) -> tuple[Stream, list[Entry] | None]:
        """Register a stream; the journal entries it missed since `last_event_id`, or None for a snapshot."""
        stream = Stream(scope)
        self.streams.add(stream)
        for index in self._indexes(scope):
            index.add(stream)
        return stream, self._missed(scope, last_event_id)

    def close(self, stream: Stream) -> None:
        self.streams.discard(stream)
        if not self.streams:
            self._unwatched_since = time.monotonic()
        for index in self._indexes(stream.scope):
            index.discard(stream)
        if stream.scope.agent is not None and not self._by_agent.get(stream.scope.agent):
            self._by_agent.pop(stream.scope.agent, None)
        if stream.scope.watch is not None and not self._by_watch.get(stream.scope.watch):
            self._by_watch.pop(stream.scope.watch, None)

    def _indexes(self, scope: Scope) -> list[set[Stream]]:
        if scope.watch is not None:
            return [self._by_watch.setdefault(scope.watch, set())]
        if scope.everything:
            return [self._everything]
        if scope.agent is not None:
            return [self._by_agent.setdefault(scope.agent, set())]
        return []

    def _missed(self, scope: Scope, last_event_id: str | None) -> list[Entry] | None:
        if not last_event_id:
            return None
        boot, _, seq_text = last_event_id.partition("-")
        seq_text = seq_text.partition("-")[0]
        if boot != self.boot or not _position(seq_text):
            return None
        seq = int(seq_text)
        if seq > self.seq or seq <= self.gap:
            return None
        oldest = self.journal[0].seq if self.journal else self.seq + 1
        if seq < oldest - 1:
            return None  # fell out of the journal
        return [e for e in self.journal if e.seq > seq and scope.accepts(e.update)]

    def followups_for(self, conversations: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """The latest follow-up state of each conversation, keyed as the page keys them: the last update
        heard, or for a conversation with none since the start, what `recall` rebuilds from the database."""
        found = {}
        missing: list[tuple[str, str]] = []
        for c in conversations:
            key = (c["shop"], c["conversation"])
            payload = self.followups.get(key)
            if payload is not None:
                found[page_key(*key)] = payload
            else:
                missing.append(key)
        if missing and self.recall is not None:
            for key, payload in self.recall(missing).items():
                found[page_key(*key)] = payload
        return found


def resume_position(last_event_id: str | None) -> int | None:
    """The live-journal position an id carries (ids given on a shared database), or None."""
    parts = (last_event_id or "").split("-")
    return int(parts[2]) if len(parts) == 3 and _position(parts[2]) else None


def _position(text: str) -> bool:
    """Whether an id's part is a position: ASCII digits ("²".isdigit() is true, and int() refuses it), 18 at most."""
    return text.isascii() and text.isdigit() and len(text) <= 18


def page_key(shop: str, conversation: str) -> str:
    """A conversation's key in the page (JSON of the pair, so no separator can collide)."""
    return json.dumps([shop, conversation], ensure_ascii=False, separators=(",", ":"))
