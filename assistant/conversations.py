"""Per-conversation state (recent messages, customer type, unpaid orders), rebuilt from the log on demand."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from assistant import pg, store
from assistant.events import ORDER_TYPES
from assistant.ground.bounded import Bounded
from assistant.privacy import phone_reading
from assistant.store import Written

RECENT_MESSAGES = 12  # kept in time order (a late delivery goes in its place); the text of the last CARD_MESSAGES
CARD_MESSAGES = 6  # messages of a conversation shown on its card: the older ones keep no text (nothing shows it)
# A buyer's paid orders in the shop's other conversations, counted up to PAST_ORDERS_CAP (the orders index by customer).
PAST_ORDERS_CAP = 100
PAST_ORDERS = (
    "SELECT count(*) FROM (SELECT 1 FROM orders WHERE shop = ? AND customer = ? AND conversation <> ?"
    f" AND paid_ms IS NOT NULL LIMIT {PAST_ORDERS_CAP}) AS past"
)
CUSTOMER_HISTORY = 40
UNSAVED_NAMES = 1_000  # names taken for events on their way to the log (one request's each)
_ENCODER = msgspec.json.Encoder()
_SHOWN = msgspec.json.Decoder(tuple[list[dict[str, Any]], dict[str, Any] | None, str | None])
# A cached text is an excerpt: its head and tail. What its readers read of an earlier message is inside it: the
# matcher reads 200 characters and the last 100 (suggest/clauses.clip), the customer type the first 500; the
# middle of a pasted essay or a Chatwoot e-mail (up to 150,000 characters) is read from the log when needed.
EXCERPT_HEAD = 520
EXCERPT_TAIL = 120
_EXCERPT_SLACK = 20  # how far a cut moves not to split a number, an e-mail or a word written in letters
EXCERPT_GAP = "…"


def excerpt(text: str) -> str:
    """`text`, or its first EXCERPT_HEAD and last EXCERPT_TAIL characters with EXCERPT_GAP between; a cut moves
    (by at most _EXCERPT_SLACK characters, into what is dropped) off a run of digits or letters, so that no
    part of a phone number or an e-mail stands at the gap, unrecognisable to masking."""
    if len(text) <= EXCERPT_HEAD + EXCERPT_TAIL + _EXCERPT_SLACK:
        return text
    head, tail = EXCERPT_HEAD, len(text) - EXCERPT_TAIL
    while head > EXCERPT_HEAD - _EXCERPT_SLACK and _joined(text[head - 1]):
        head -= 1
    while tail < len(text) - EXCERPT_TAIL + _EXCERPT_SLACK and _joined(text[tail]):
        tail += 1
    return text[:head] + EXCERPT_GAP + text[tail:]


def _joined(ch: str) -> bool:
    """Whether `ch` may be part of a number, an e-mail or a Latin word (a digit however written, a letter, a
    separator a number is spaced with)."""
    return ch.isspace() or ch in "-.@_+" or (ch.isascii() and ch.isalnum()) or phone_reading(ch).isdigit()


@dataclass
class ConversationState:
    """What the assistant knows about one conversation right now."""

    shop: str
    conversation: str
    customer: str = ""
    agent: str | None = None
    status: str = "open"
    # Tuples, replaced as they grow, not deques: a deque is always tracked by the cyclic collector, a tuple of
    # plain values not once collections have seen it (2 of the 4 objects each cached conversation left it; a
    # tuple of dicts, `recent`, stays tracked).
    customer_messages: tuple[tuple[int, str], ...] = ()  # the latest CUSTOMER_HISTORY (time, text)
    # When the agent answered: the first agent message after each customer message (what ends a wait).
    agent_replies: tuple[int, ...] = ()
    recent: tuple[dict[str, Any], ...] = ()  # the latest RECENT_MESSAGES, in time order
    unpaid_orders: dict[str, float] = field(default_factory=dict)
    ordered: bool = False  # an order of it is known, paid or not (the customer type's track after an order)
    # The customer's paid orders in the shop's other conversations (a returning buyer), read once the customer is
    # known (`past_of`: whose they are; a merge into another customer reads them again).
    past_orders: int = 0
    past_of: str | None = None
    past_at: int = 0  # the payments heard when they were read (`Conversations.paid`): one of his since reads again
    customer_type: str | None = None
    last_customer_ms: int | None = None
    last_agent_ms: int | None = None
    closed_ms: int | None = None  # the latest closure: a customer message before it waits for nothing
    last_ts_ms: int | None = None  # the latest time stamped on any of its events (what decides its agent)
    last_message_ms: int | None = None  # the latest stamped customer or agent message (a closure before it: none)
    # The latest customer message's suggestions and customer type as a card shows them, encoded (msgspec JSON):
    # as dicts and lists they were about 9 of the 14 objects each cached conversation gave the cyclic collector,
    # which walks them all in a full collection (0.3 s of every request's time at 20,000 conversations cached).
    shown: bytes | None = None
    seq: int = 0  # the latest event of the conversation folded in (a shared database: the currency check)
    loaded_seq: int = 0  # the latest message read from the log when the state was loaded (0: none)
    # The catalog item it is about (assistant/catalog/focus.py), once named or looked up in the log: a state
    # read again because another instance logged an event of it looks it up again.
    item: str | None = None
    item_known: bool = False
    # What the card's customer type was last worked out from after an order (suggest/engine.py `_retype`): an order
    # event that changes none of it leaves the type as it is.
    typed_from: tuple[Any, ...] | None = None

    @property
    def suggestions(self) -> list[dict[str, Any]]:
        """The latest customer message's suggestions (a new list each time: changing it changes nothing)."""
        return [] if self.shown is None else _SHOWN.decode(self.shown)[0]

    @property
    def customer_type_detail(self) -> dict[str, Any] | None:
        """The latest customer message's customer type as a card shows it; None until one was matched."""
        return None if self.shown is None else _SHOWN.decode(self.shown)[1]

    def card_parts(self) -> tuple[list[dict[str, Any]], dict[str, Any] | None, str | None]:
        """Suggestions, customer type and why suggestions were withheld, decoded once (a card needs all three)."""
        return ([], None, None) if self.shown is None else _SHOWN.decode(self.shown)

    def show(
        self,
        suggestions: Sequence[dict[str, Any]],
        customer_type_detail: dict[str, Any] | None,
        withheld: str | None = None,
    ) -> None:
        """Keep what a card shows of the latest customer message."""
        self.shown = _ENCODER.encode((suggestions, customer_type_detail, withheld))

    @property
    def waiting_since_ms(self) -> int | None:
        """When the customer's unanswered message arrived, or None when nothing waits for an answer."""
        if self.last_customer_ms is None:
            return None
        if self.last_agent_ms is not None and self.last_agent_ms >= self.last_customer_ms:
            return None
        if self.closed_ms is not None and self.closed_ms >= self.last_customer_ms:
            return None  # the chat ended after it (a returning customer waits from their new message)
        return self.last_customer_ms

    def note_reply(self, ts_ms: int) -> None:
        """Keep an agent message's time when it answers a customer message (later ones add nothing)."""
        answered = self.agent_replies[-1] if self.agent_replies else None
        if self.customer_messages and (answered is None or answered <= self.customer_messages[-1][0]):
            self.agent_replies = (*self.agent_replies[1 - CUSTOMER_HISTORY :], ts_ms)

    def add_customer_message(self, ts_ms: int, text: str) -> None:
        """Keep a customer message's time and (cached) text among the latest CUSTOMER_HISTORY."""
        self.customer_messages = (*self.customer_messages[1 - CUSTOMER_HISTORY :], (ts_ms, text))

    def add_recent(self, message: dict[str, Any]) -> None:
        """Keep a message after the recent ones (the latest RECENT_MESSAGES); the one now off the card loses
        its text."""
        self.recent = (*self.recent[1 - RECENT_MESSAGES :], message)
        if len(self.recent) > CARD_MESSAGES:
            self.recent[-CARD_MESSAGES - 1]["text"] = None  # off the card now

    def apply(self, written: Written) -> None:
        """Fold one newly logged event into the state."""
        event = written.event
        self.seq = max(self.seq, written.seq or 0)
        self.customer = event.customer
        # Before this event changes the times: the agent and the status follow the log's rules
        # (store._NORMALIZED["conversations"]), so that a panel's list, read from the log, and its cards agree.
        self._take_agent(event.agent, event.ts_ms)
        self._take_status(event.type, event.sender, event.ts_ms)
        self.last_ts_ms = max(event.ts_ms, self.last_ts_ms or event.ts_ms)
        if event.type == "message":
            text = excerpt(event.text) if event.text else event.text
            self._keep_recent(
                {
                    "sender": event.sender,
                    "agent": event.agent,
                    "text": text,
                    "ts_ms": event.ts_ms,
                    "followup_id": event.followup_id,
                    "seq": written.seq,
                    # A tuple: a message dict of plain values only is never tracked by the cyclic collector (each
                    # of 20,000 conversations keeps 12; a list made every one of them a young object to walk).
                    "qa": tuple(written.annotation.qa) if written.annotation else (),
                }
            )
            if event.sender == "customer":
                self.add_customer_message(event.ts_ms, text or "")
                if self.waiting_since_ms is None:
                    self.last_customer_ms = event.ts_ms
                ann = written.annotation
                if ann is not None and ann.customer_type:
                    self.customer_type = ann.customer_type
            elif event.sender == "agent":
                self.note_reply(event.ts_ms)
                self.last_agent_ms = max(event.ts_ms, self.last_agent_ms or 0)
        elif event.type == "order_created" and event.order:
            self.unpaid_orders[event.order] = event.amount or 0.0
        elif event.type in ("order_paid", "order_closed") and event.order:
            self.unpaid_orders.pop(event.order, None)
        elif event.type == "conversation_closed":
            self.closed_ms = max(event.ts_ms, self.closed_ms or 0)
        if event.type in ORDER_TYPES and event.order:
            self.ordered = True

    def _take_agent(self, agent: str | None, ts_ms: int) -> None:
        """An event naming an agent (a message, a hand-over) gives the conversation to that agent unless
        stamped before its latest event: a platform's late retry of an older message does not take back a
        conversation handed over since."""
        if agent and (self.agent is None or self.last_ts_ms is None or ts_ms >= self.last_ts_ms):
            self.agent = agent

    def _take_status(self, type: str, sender: str | None, ts_ms: int) -> None:
        """A closure closes unless stamped before the latest message; a message stamped after the latest
        closure opens again."""
        if type == "conversation_closed":
            if ts_ms >= (self.last_message_ms or 0):
                self.status = "closed"
        elif type == "message" and sender in ("customer", "agent"):
            if ts_ms > (self.closed_ms or 0):
                self.status = "open"
            self.last_message_ms = max(ts_ms, self.last_message_ms or ts_ms)

    def _keep_recent(self, message: dict[str, Any]) -> None:
        """Keep a message among the recent ones in the order of its time stamp (a late delivery of an earlier
        one goes before the later ones, as a reload shows them), the latest RECENT_MESSAGES."""
        last = self.recent[-1] if self.recent else None
        if last is not None and last["ts_ms"] >= message["ts_ms"] and _order(last) > _order(message):
            kept = sorted([*self.recent, message], key=_order)[-RECENT_MESSAGES:]
            self.recent = tuple(kept)
            for older in kept[:-CARD_MESSAGES]:
                older["text"] = None
        else:
            self.add_recent(message)

    def holds(self, seq: int | None) -> bool:
        """Whether the message logged as `seq` is among the recent ones (a state loaded after its commit). A message
        logged after every one the load read is not: the usual case, answered without looking through them."""
        return seq is not None and seq <= self.loaded_seq and any(m.get("seq") == seq for m in self.recent)


def _order(message: dict[str, Any]) -> tuple[int, int]:
    return message["ts_ms"], message.get("seq") or 0


class Conversations:
    """A bounded cache of conversation states; a miss is rebuilt from the SQLite log."""

    def __init__(self, db_path: store.Location, *, capacity: int = 20_000) -> None:
        self.db_path = db_path
        # Instances sharing a PostgreSQL database: another may have logged an event of a cached
        # conversation; a cached state is used only while the log's latest seq of it is the state's.
        self.shared = isinstance(db_path, pg.Location)
        self.capacity = capacity
        # The least recently read go first.
        self._states: Bounded[tuple[str, str], ConversationState] = Bounded(capacity, on_read=True)
        # Names of customers a platform logs by id (a Chatwoot contact), as its payloads give them: shown on
        # cards, kept in `customer_names` (one row a customer, the latest name) and never in the log's events.
        # "" caches a customer without a name: a card is built often, a read each time would cost. Not on a shared
        # database: another instance may save the name at any moment, and a cached "" outlived it there (its cards
        # said 买家 #id for as long as the entry stayed); a contact without a name is rare, its read cheap.
        # The least recently used go first (read or written).
        self._names: Bounded[tuple[str, str], str] = Bounded(capacity, on_read=True, on_write=True)
        # Names taken (`name_customer`) and not saved yet: saved with the customer's next event (`record_name`), so
        # that no instance reads that event without the name (it built the card first and showed 买家 #id).
        self._unsaved: dict[tuple[str, str], str] = {}
        self._conn: sqlite3.Connection | None = None
        # Buyers whose payment was heard (`paid`): (shop, customer) → the payment's stamp, counted up from 1. A held
        # state whose buyer paid after its past was read (`past_at`) reads it again: paid in another conversation,
        # the payment was unseen for as long as the state stayed cached. The least recently paid go first.
        self._payments: Bounded[tuple[str, str], int] = Bounded(capacity, on_write=True)
        self._stamp = 0

    def _reader(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = store.connect(self.db_path, readonly=True)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def get(self, shop: str, conversation: str, *, current: bool = False, strict: bool = False) -> ConversationState:
        """The state of a conversation, loading it from the log when not cached. `current`: on a shared
        database, first check that no other instance logged an event of it since (one indexed query). `strict`:
        on a shared database, a read that fails raises (sqlite3.OperationalError) instead of giving an empty state
        (one that is not cached: read again next time)."""
        key = (shop, conversation)
        state = self._states.get(key)  # moved last when found, even when found changed through another instance
        if state is not None and current and self.shared and self._latest_seq(shop, conversation) != state.seq:
            state = None  # changed through another instance: read again
        if state is None:
            try:
                state = self._load(shop, conversation, strict=self.shared)
            except sqlite3.OperationalError:
                if strict:
                    raise
                # PostgreSQL did not answer in time: an empty state for now, not cached (cached, the conversation's
                # history was gone from its suggestions, type and card until another of its events came).
                return ConversationState(shop=shop, conversation=conversation)
            self.read_past(state)
            self._states.put(key, state)
        return state

    def name_customer(self, shop: str, customer: str, name: str) -> bool:
        """Remember the name a platform gives a customer it logs by id (the newest name wins); whether it is new
        or changed, and so is to be saved (`save_name`, a writer job): most messages repeat the name known."""
        if self.customer_name(shop, customer) == name:
            return False
        self._names.put((shop, customer), name)
        self._unsaved[(shop, customer)] = name
        while len(self._unsaved) > UNSAVED_NAMES:  # taken for events never logged (refused): saved by their job
            del self._unsaved[next(iter(self._unsaved))]
        return True

    def record_name(self, conn: sqlite3.Connection, written: Written) -> None:
        """Recorder (inside the event's transaction): save the name taken for the event's customer, if any, so that
        it is in the log when the other instances hear of the event and build its card."""
        event = written.event
        name = self._unsaved.pop((event.shop, event.customer), None)
        if name is not None:
            save_name(conn, event.shop, event.customer, name)

    def customer_name(self, shop: str, customer: str) -> str | None:
        """The name remembered for a customer logged by id, if any (read from the log once, then cached)."""
        key = (shop, customer)
        name = self._names.get(key)
        if name is None:
            try:
                sql = "SELECT name FROM customer_names WHERE shop = ? AND customer = ?"
                row = self._reader().execute(sql, key).fetchone()
            except sqlite3.OperationalError:  # no database yet, or one not migrated yet
                return None
            name = "" if row is None else str(row[0])
            if name or not self.shared:
                self._names.put(key, name)
        return name or None

    def forget_name(self, shop: str, customer: str) -> None:
        """Read a customer's name from the log again when next needed (another instance may have saved it)."""
        self._names.pop((shop, customer), None)

    def merge_customer(self, merged: str, into: str, in_shop: Callable[[str], bool]) -> list[tuple[str, str]]:
        """A platform merged customer `merged` into `into` in the shops `in_shop` accepts (the log's rows are moved,
        `customer_names` holds `into`'s name only): the cached states of `merged`'s conversations are `into`'s, so
        their cards name him now, and `merged`'s name is forgotten. The conversations whose states changed."""
        changed = []
        for state in self._states.values():
            if state.customer == merged and in_shop(state.shop):
                state.customer = into
                changed.append((state.shop, state.conversation))
        for key in [key for key in self._names if key[1] == merged and in_shop(key[0])]:
            del self._names[key]
        return changed

    def forget(self, shop: str, conversation: str) -> None:
        """Drop a cached state (another instance logged an event of it), and its customer's name: the event may have
        brought a new one."""
        state = self._states.pop((shop, conversation), None)
        if state is not None:
            self._names.pop((shop, state.customer), None)

    def _between(self, state: ConversationState, written: Written) -> bool:
        """Whether another event of the conversation was logged between the state's last and `written`: as the
        event's own insert saw the log (`Written.prior`, no statement on the event loop), else read now."""
        if written.prior is not None:
            return written.prior > state.seq
        assert written.seq is not None
        return self._gap(state, written.seq)

    def _gap(self, state: ConversationState, seq: int) -> bool:
        """Whether the log holds an event of the conversation between the state's last and `seq`."""
        try:
            row = (
                self._reader()
                .execute(
                    "SELECT 1 FROM events WHERE shop = ? AND conversation = ? AND seq > ? AND seq < ? LIMIT 1",
                    (state.shop, state.conversation, state.seq, seq),
                )
                .fetchone()
            )
        except sqlite3.OperationalError:
            return True
        return row is not None

    def agent_before(self, shop: str, conversation: str, seq: int) -> str | None:
        """The conversation's agent as the log stood before the event `seq`: the agent of its last message or
        hand-over before it (one indexed read; None when none, or no database yet)."""
        sql = (
            "SELECT agent FROM events WHERE shop = ? AND conversation = ? AND seq < ? AND agent IS NOT NULL"
            " AND type IN ('message', 'conversation_assigned') ORDER BY seq DESC LIMIT 1"
        )
        try:
            row = self._reader().execute(sql, (shop, conversation, seq)).fetchone()
        except sqlite3.OperationalError:
            return None
        return None if row is None else str(row[0])

    def _latest_seq(self, shop: str, conversation: str) -> int:
        try:
            row = (
                self._reader()
                .execute("SELECT max(seq) FROM events WHERE shop = ? AND conversation = ?", (shop, conversation))
                .fetchone()
            )
        except sqlite3.OperationalError:
            return -1
        return int(row[0] or 0)

    def cached(self) -> list[ConversationState]:
        return list(self._states.values())

    def apply(self, written: Written) -> ConversationState:
        """Listener: fold a newly logged event into its conversation's state."""
        event = written.event
        state = self.get(event.shop, event.conversation)
        if self.shared and written.seq is not None and written.seq > state.seq and self._between(state, written):
            self.forget(event.shop, event.conversation)  # another instance logged one in between: read again
            state = self.get(event.shop, event.conversation)
        # A state loaded after the commit already contains this event.
        if not (written.event.type == "message" and state.holds(written.seq)):
            state.apply(written)
        if event.type == "order_paid" and event.customer:
            self.paid(event.shop, event.customer, event.conversation)
        self.read_past(state)
        return state

    def paid(self, shop: str, customer: str, conversation: str) -> None:
        """A buyer's payment in `conversation`, logged here or by another instance: the buyer's other held
        conversations read his paid orders again with their next event (one indexed read each), where they kept the
        count read before it. No read now, nor a look through the states."""
        key = (shop, customer)
        before = self._payments[key] if key in self._payments else 0
        self._stamp += 1
        self._payments.put(key, self._stamp)
        own = self._states[(shop, conversation)] if (shop, conversation) in self._states else None
        if own is not None and own.past_of == customer and own.past_at >= before:
            own.past_at = self._stamp  # its own orders are not its past: what it read holds

    def read_past(self, state: ConversationState, customer: str = "") -> int:
        """The paid orders of the conversation's customer (`customer`: of its first message, before the state knows
        him) in the shop's other conversations: read once a customer (one indexed read), and again for another one
        (a merge) or after a payment of his heard since (`paid`). The log not there or not answering leaves them to be
        read with the next event."""
        customer = state.customer or customer
        if customer and (state.past_of != customer or self._payments and self._paid_since(state, customer)):
            stamp = self._stamp  # before the read: a payment heard during it is read again next time
            try:
                row = self._reader().execute(PAST_ORDERS, (state.shop, customer, state.conversation)).fetchone()
            except sqlite3.OperationalError:
                return state.past_orders
            state.past_orders, state.past_of, state.past_at = int(row[0] or 0), customer, stamp
        return state.past_orders

    def _paid_since(self, state: ConversationState, customer: str) -> bool:
        """Whether a payment of the buyer was heard after the state read his past (`paid`)."""
        key = (state.shop, customer)
        return key in self._payments and self._payments[key] > state.past_at

    def _load(self, shop: str, conversation: str, *, strict: bool = False) -> ConversationState:
        state = ConversationState(shop=shop, conversation=conversation)
        try:
            conn = self._reader()
            if self.shared:
                state.seq = self._latest_seq(shop, conversation)
                if state.seq == 0:  # no event of it: its rows and the item it named go with its last event
                    state.item_known = True  # (archive.py, buyer.py): nothing else to read
                    return state
            rows = store.conversation_messages(conn, shop, conversation, limit=CUSTOMER_HISTORY * 2)
            orders = store.open_orders(conn, shop, conversation)
            meta = conn.execute(
                "SELECT customer, agent, status, customer_type, closed_ms, last_ts_ms,"
                " max(coalesce(last_customer_ms, 0), coalesce(last_agent_ms, 0)) AS last_message_ms FROM conversations"
                " WHERE shop = ? AND conversation = ?",
                (shop, conversation),
            ).fetchone()
        except sqlite3.OperationalError:  # no database yet
            if strict and self.shared:  # PostgreSQL is there: it did not answer (a card of it would be empty)
                raise
            return state
        if meta is not None:
            state.customer, state.agent, state.status, state.customer_type, state.closed_ms, state.last_ts_ms = (
                meta["customer"],
                meta["agent"],
                meta["status"],
                meta["customer_type"],
                meta["closed_ms"],
                meta["last_ts_ms"],
            )
            state.last_message_ms = meta["last_message_ms"] or None
        withheld: str | None = None
        for row in rows:
            text = excerpt(row["text"])
            message = {
                "sender": row["sender"],
                "agent": row["agent"],
                "text": text,
                "ts_ms": row["ts_ms"],
                "followup_id": row["followup_id"],
                "seq": row["seq"],
                "qa": tuple(json.loads(row["qa"])) if row["qa"] else (),
            }
            state.add_recent(message)
            state.loaded_seq = max(state.loaded_seq, row["seq"] or 0)
            if row["sender"] == "customer":
                state.add_customer_message(row["ts_ms"], text)
                if state.waiting_since_ms is None:
                    state.last_customer_ms = row["ts_ms"]
                withheld = row["suggestions_withheld"]
            elif row["sender"] == "agent":
                state.note_reply(row["ts_ms"])
                state.last_agent_ms = row["ts_ms"]
        state.ordered = bool(orders)
        if withheld is not None:  # the latest customer message was answered without suggestions: the card says so
            state.show([], None, withheld)
        for order in orders:
            if order["paid_ms"] is None and order["created_ms"] is not None:
                state.unpaid_orders[order["order_id"]] = order["amount"] or 0.0
        return state


def save_name(conn: sqlite3.Connection, shop: str, customer: str, name: str) -> None:
    """Keep a customer's name as `Conversations.name_customer` took it (a writer job): one row, the latest name."""
    conn.execute(
        "INSERT INTO customer_names (shop, customer, name) VALUES (?, ?, ?)"
        " ON CONFLICT (shop, customer) DO UPDATE SET name = excluded.name",
        (shop, customer, name),
    )
