"""A realistic synthetic shop day, written into the interaction log (README demo and benchmark)."""

from __future__ import annotations

import heapq
import json
import logging
import math
import random
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from tqdm import tqdm

from assistant import store, upgrade
from assistant.events import parse_event
from assistant.followups.store import skip_backfill
from assistant.i18n import _
from assistant.kpi import metrics
from assistant.kpi.chatter import Chatter, shipped_matcher

if TYPE_CHECKING:
    from assistant.suggest.matcher import Matcher

log = logging.getLogger(__name__)

# Share of the day's customers arriving in each local hour (a Taobao shop's usual curve).
HOURLY_WEIGHTS = (3, 1.5, 0.8, 0.5, 0.4, 0.5, 1, 2, 4, 7, 9, 9, 7, 7, 8, 8, 8, 7, 6, 7, 9, 10, 9, 6)
AGENT_NAMES = ("小美", "小雅", "阿杰", "小雨", "婷婷", "晓峰", "安安", "糖糖", "阿珍", "大伟", "小鹿", "静静")
CUSTOMER_NICKS = (
    "小鹿乱撞", "快乐的猫", "木子李", "星星点灯", "阿花", "老王在此", "甜甜圈", "晴天娃娃", "一颗柠檬", "风吹麦浪",
    "可乐加冰", "喵小姐", "大橙子", "追风少年", "糖果屋", "夏天的风",
)  # fmt: skip
SHORT_TEXTS = ("好的", "嗯", "在的", "亲", "嗯嗯", "ok", "好")
ADOPTION = 0.75  # how often an agent sends the suggested phrase (else types their own answer)
REFUNDED = 0.04  # paid orders refunded in full within a day or so (退款: the buyer changed their mind)
TRANSFER_TEXT = "亲，已为您转接专属客服，请稍等~"
_BATCH = 100_000  # events per transaction
# One encoder: json.dumps(…, ensure_ascii=False) builds a new encoder on every call.
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_JSON_SPACED = json.JSONEncoder(ensure_ascii=False)


class AlreadySimulated(ValueError):
    """The database already holds this shop's day with this seed (the message says so in `[ui] language`)."""


@dataclass(frozen=True)
class SimulationResult:
    """What a simulated day wrote."""

    shop: str
    day: date
    customers: int
    agents: int
    events: int
    messages: int
    orders: int
    payments: int
    seconds: float


@dataclass(frozen=True)
class _Agent:
    name: str
    speed_s: float  # median response delay
    conversion: float  # chance that a pre-sale customer orders
    short_p: float  # chance that a reply is one of the SHORT_TEXTS
    silent_p: float  # chance that a burst goes unanswered
    weight: float  # share of the incoming customers


def simulate(
    db_path: store.Location | str,
    day: date,
    agents: int,
    customers: int,
    seed: int = 0,
    *,
    shop: str = "demo",
    timezone: str = "Asia/Shanghai",
    progress: bool | None = None,
    via_store: bool = False,
    matcher: Matcher | None = None,
) -> SimulationResult:
    """Fill `db_path` with one synthetic day of `customers` chats served by `agents` agents.

    The conversations run the real matcher (the configured library's, else the shipped one): customers ask
    in the library's own wording, the log holds the suggestions and customer types the matcher gives, and
    agents mostly send the suggested phrase.

    Events are logged in time order, as a webhook would deliver them, with `executemany` in large
    transactions; the rows match what `store.insert_event` writes (`via_store=True` takes that slower
    path, and a test compares the two). It is a back-fill: the follow-up timers' watermark moves past
    it, so a service started on the database arms nothing for it (run it with the service stopped).
    """
    if agents < 1 or customers < 0:
        raise ValueError("agents must be ≥ 1 and customers ≥ 0")
    started = time.perf_counter()
    rng = random.Random(f"{seed}:{shop}:{day.isoformat()}")
    day_start = metrics.credit_window(day, ZoneInfo(timezone))[0]
    team = _agents(rng, agents)
    chatter = Chatter(matcher or shipped_matcher(), rng)
    hours = rng.choices(range(24), weights=HOURLY_WEIGHTS, k=customers)
    arrivals = sorted((day_start + hour * 3_600_000 + rng.randrange(3_600_000), i) for i, hour in enumerate(hours))
    show = customers >= 20_000 if progress is None else progress
    conn = store.connect(db_path)
    try:
        # A bulk load: a large page cache keeps the index B-trees in memory; NORMAL is safe in WAL mode.
        conn.execute("PRAGMA cache_size = -262144")
        conn.execute("PRAGMA synchronous = NORMAL")
        upgrade.migrate(conn)
        prefix = f"sim-{shop}-{day.isoformat()}-{seed}"
        if conn.execute("SELECT 1 FROM events WHERE id = ?", (f"{prefix}-0-0",)).fetchone():
            raise AlreadySimulated(
                _(
                    "%(shop)s %(day)s with seed %(seed)s is already in %(db)s: simulate it with another --seed,"
                    " --shop or --db",
                    shop=shop,
                    day=day,
                    seed=seed,
                    db=db_path,
                )
            )
        first_seq = int(conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]) + 1
        writer: _Writer = _StoreWriter(conn) if via_store else _BulkWriter(conn)
        pending: list[tuple[int, int, dict[str, Any], store.Annotation | None]] = []
        batch: list[tuple[dict[str, Any], store.Annotation | None]] = []
        order = 0
        with tqdm(total=customers, unit="customer", disable=not show, file=sys.stderr, desc="simulate") as bar:
            for done, (arrival, i) in enumerate(arrivals, 1):
                # Everything due before this customer arrives has been "delivered": log it.
                while pending and pending[0][0] < arrival:
                    _ts, _n, raw, ann = heapq.heappop(pending)
                    batch.append((raw, ann))
                if len(batch) >= _BATCH:
                    writer.write(batch)
                    batch = []
                for raw, ann in _customer_day(rng, chatter, team, shop, prefix, i, arrival, day_start):
                    heapq.heappush(pending, (raw["ts"], order, raw, ann))
                    order += 1
                if done % 1000 == 0 or done == customers:
                    bar.update(done - bar.n)
            while pending:
                _ts, _n, raw, ann = heapq.heappop(pending)
                batch.append((raw, ann))
            writer.write(batch)
            writer.finish()
        if store.dialect(conn) == "postgresql":  # the bulk rows carry their own seq: move the identity past them
            conn.execute("SELECT setval(pg_get_serial_sequence('events', 'seq'), (SELECT max(seq) FROM events))")
        with store.transaction(conn):
            if not skip_backfill(conn, first_seq):
                log.warning("the follow-up timers had not applied every earlier event: a restart replays this day too")
    finally:
        conn.close()
    counts = writer.counts
    return SimulationResult(
        shop=shop,
        day=day,
        customers=customers,
        agents=agents,
        events=counts["events"],
        messages=counts["message"],
        orders=counts["order_created"],
        payments=counts["order_paid"],
        seconds=time.perf_counter() - started,
    )


def _agents(rng: random.Random, n: int) -> list[_Agent]:
    team = []
    for i in range(n):
        name = AGENT_NAMES[i % len(AGENT_NAMES)] + (str(i // len(AGENT_NAMES) + 1) if i >= len(AGENT_NAMES) else "")
        team.append(
            _Agent(
                name=name,
                speed_s=rng.lognormvariate(math.log(8), 0.45),
                conversion=rng.uniform(0.3, 0.65),
                short_p=rng.choice((0.01, 0.03, 0.08, 0.15)),
                silent_p=rng.choice((0.003, 0.01, 0.03)),
                weight=rng.uniform(0.6, 1.4),
            )
        )
    return team


def _customer_day(
    rng: random.Random,
    chatter: Chatter,
    team: list[_Agent],
    shop: str,
    prefix: str,
    i: int,
    arrival: int,
    day_start: int,
) -> Iterator[tuple[dict[str, Any], store.Annotation | None]]:
    """One customer's events of the day, in time order."""
    out: list[tuple[dict[str, Any], store.Annotation | None]] = []
    n = 0

    def emit(raw: dict[str, Any], ann: store.Annotation | None = None) -> None:
        nonlocal n
        raw = {"id": f"{prefix}-{i}-{n}", **raw, "shop": shop, "conversation": conv, "customer": customer}
        n += 1
        out.append((raw, ann))

    customer = _nick(rng)
    conv = f"{prefix}-c{i}"
    t = arrival
    night = (arrival - day_start) // 3_600_000 < 8
    agent = rng.choices(team, weights=[a.weight for a in team])[0]
    aftersale = rng.random() < 0.15
    said: list[str] = []
    if aftersale:
        ordered = t - rng.randrange(1, 20) * 86_400_000 - rng.randrange(86_400_000)
        order = f"{prefix}-o{i}-0"
        amount = _amount(rng)
        conv, real_conv = f"{prefix}-p{i}", conv
        emit({"type": "order_created", "ts": ordered, "order": order, "amount": amount, "agent": agent.name})
        emit({"type": "order_paid", "ts": ordered + rng.randrange(20_000, 900_000), "order": order, "amount": amount})
        conv = real_conv
    bursts = 1 + min(int(rng.expovariate(1 / 3)), 14)
    last_agent_t = None
    reading = None
    b = 0
    while b < bursts:
        b += 1
        for _round in range(1 + (rng.random() < 0.35) + (rng.random() < 0.1)):
            text = chatter.question(rng, aftersale)
            said.append(text)
            reading = chatter.read(text)
            emit(
                {"type": "message", "ts": t, "sender": "customer", "text": text, "agent": agent.name},
                store.Annotation(
                    intent=reading.intent, customer_type=chatter.customer_type(said), suggestions=reading.suggestions
                ),
            )
            t += rng.randrange(2_000, 15_000)
        if rng.random() < agent.silent_p:
            t += int(rng.lognormvariate(math.log(60_000), 1.0))
            continue
        pace = agent.speed_s * (3 if night else 1) * (0.6 if b == 1 else 1)  # new customers first
        t += int(rng.lognormvariate(math.log(pace), 0.7) * 1000)
        if rng.random() < 0.03 and len(team) > 1:  # handed over to a colleague, who answers next
            emit({"type": "message", "ts": t, "sender": "agent", "text": TRANSFER_TEXT, "agent": agent.name})
            agent = rng.choice([a for a in team if a is not agent])
            t += int(rng.lognormvariate(math.log(agent.speed_s), 0.8) * 1000)
        assert reading is not None
        for reply in range(1 + (rng.random() < 0.5) + (rng.random() < 0.2)):
            if rng.random() < agent.short_p:
                text = rng.choice(SHORT_TEXTS)
            elif reply == 0 and reading.suggestions and rng.random() < ADOPTION:
                phrase = reading.suggestions[0 if rng.random() < 0.8 else rng.randrange(len(reading.suggestions))]
                emit(
                    {"type": "suggestion_used", "ts": t - 1_000, "agent": agent.name, "phrase_id": phrase["phrase_id"]}
                )
                text = chatter.text(phrase["phrase_id"])
            else:
                text = chatter.own_answer(rng, reading)
            emit({"type": "message", "ts": t, "sender": "agent", "text": text, "agent": agent.name})
            last_agent_t = t
            t += rng.randrange(3_000, 20_000)
        if b == bursts and rng.random() < 0.12 and last_agent_t is not None:
            # Idle after the agent's last reply: the assistant's follow-up fires; some customers come back.
            followup = last_agent_t + 300_000
            emit(
                {
                    "type": "message",
                    "ts": followup,
                    "sender": "auto",
                    "text": chatter.followup(rng, unpaid=False),
                    "agent": agent.name,
                    "followup_id": f"{prefix}-f{i}",
                }
            )
            t = followup
            if rng.random() < 0.35:
                t += rng.randrange(30_000, 1_700_000)
                bursts += 1
        t += int(rng.lognormvariate(math.log(30_000), 0.9))
    if not aftersale and last_agent_t is not None and rng.random() < agent.conversion:
        late = rng.random() < 0.08
        created = t + (
            rng.randrange(7_200_000, 72_000_000) if late else int(rng.lognormvariate(math.log(120_000), 1.2))
        )
        order = f"{prefix}-o{i}-1"
        amount = _amount(rng)
        credited = {"agent": agent.name} if rng.random() < 0.7 else {}
        emit({"type": "order_created", "ts": created, "order": order, "amount": amount, **credited})
        if rng.random() < 0.88:
            slow = rng.random() < 0.05
            paid = created + (rng.randrange(3_600_000, 72_000_000) if slow else rng.randrange(10_000, 600_000))
            emit({"type": "order_paid", "ts": paid, "order": order, "amount": amount, **credited})
            if rng.random() < REFUNDED:
                refund = paid + rng.randrange(3_600_000, 108_000_000)
                emit({"type": "order_refunded", "ts": refund, "order": order, "amount": amount})
    if rng.random() < 0.5:
        emit({"type": "conversation_closed", "ts": t + 600_000})
    out.sort(key=lambda pair: pair[0]["ts"])
    return iter(out)


def _nick(rng: random.Random) -> str:
    """A buyer's nick as Taobao shows them: a word, sometimes with digits."""
    name = rng.choice(CUSTOMER_NICKS)
    return name + (str(rng.randrange(10, 9999)) if rng.random() < 0.7 else "") + f"_{rng.randrange(10**6):06d}"


def _amount(rng: random.Random) -> float:
    return round(max(9.0, round(rng.lognormvariate(math.log(120), 0.6))) - rng.choice((0, 0.1, 0.01)), 2)


class _Writer:
    """Logs batches of simulated events; `finish` writes what is kept until the end."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.counts: Counter[str] = Counter()

    def write(self, batch: list[tuple[dict[str, Any], store.Annotation | None]]) -> None:
        self.counts.update(raw["type"] for raw, _ in batch)
        self.counts["events"] += len(batch)
        with store.transaction(self.conn):
            self._write(batch)

    def _write(self, batch: list[tuple[dict[str, Any], store.Annotation | None]]) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """Write what was kept in memory (nothing by default)."""


class _StoreWriter(_Writer):
    """The reference path: each event through `parse_event` and `store.insert_event`."""

    def _write(self, batch: list[tuple[dict[str, Any], store.Annotation | None]]) -> None:
        for raw, ann in batch:
            store.insert_event(self.conn, parse_event(raw, max_text_chars=5000), ann)


class _BulkWriter(_Writer):
    """The rows `store.insert_event` would write, with executemany; orders and conversations at the end."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        super().__init__(conn)
        self.next_seq = int(conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]) + 1
        self.orders: dict[str, dict[str, Any]] = {}
        self.payments: dict[tuple[str, str, int, int], int] = {}  # (shop, order, ts, cents) → seq, as store keeps them
        self.convs: dict[str, dict[str, Any]] = {}
        self.suggestion_json: dict[int, str] = {}

    def _write(self, batch: list[tuple[dict[str, Any], store.Annotation | None]]) -> None:
        received = store.now_ms()
        events, messages, uses = [], [], []
        for raw, ann in batch:
            seq = self.next_seq
            self.next_seq += 1
            kind, ts, conv, customer, shop = raw["type"], raw["ts"], raw["conversation"], raw["customer"], raw["shop"]
            agent = raw.get("agent")
            events.append((seq, raw["id"], kind, ts, shop, conv, customer, agent, received, _JSON.encode(raw)))
            if kind == "message":
                a = ann or store.Annotation()
                messages.append(
                    (
                        seq,
                        shop,
                        conv,
                        customer,
                        raw["sender"],
                        agent,
                        raw["text"],
                        ts,
                        raw.get("followup_id"),
                        a.intent,
                        a.customer_type,
                        self._suggestions(a.suggestions),
                    )
                )
            elif kind in ("order_created", "order_paid", "order_refunded"):
                self._order(raw, seq)
            elif kind == "suggestion_used":
                uses.append((seq, shop, conv, customer, agent, raw["phrase_id"], ts))
            _touch(self.convs, raw, ann)
        self.conn.executemany(
            "INSERT INTO events (seq, id, type, ts_ms, shop, conversation, customer, agent, received_ms, raw)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            events,
        )
        self.conn.executemany(
            "INSERT INTO messages (seq, shop, conversation, customer, sender, agent, text, ts_ms, followup_id,"
            " intent, customer_type, suggestions) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            messages,
        )
        self.conn.executemany(
            "INSERT INTO suggestion_uses (seq, shop, conversation, customer, agent, phrase_id, ts_ms)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            uses,
        )

    def _suggestions(self, suggestions: Sequence[dict[str, Any]]) -> str | None:
        if not suggestions:
            return None
        key = id(suggestions)  # the simulator shares one tuple per intent (_suggestions)
        if key not in self.suggestion_json:
            self.suggestion_json[key] = _JSON_SPACED.encode(list(suggestions))
        return self.suggestion_json[key]

    def _order(self, raw: dict[str, Any], seq: int) -> None:
        """`store._normalize`'s order upserts, folded in memory."""
        ts, agent, amount = raw["ts"], raw.get("agent"), raw["amount"]
        row = self.orders.get(raw["order"])
        if raw["type"] == "order_refunded":  # a row of negative fen, and nothing else (store._payment_row)
            self.payments.setdefault((raw["shop"], raw["order"], ts, -store.cents(amount)), seq)
            return
        if raw["type"] == "order_paid":
            self.payments.setdefault((raw["shop"], raw["order"], ts, store.cents(amount)), seq)
        if raw["type"] == "order_created":
            if row is None:
                row = self.orders[raw["order"]] = {
                    "agent": None,
                    "paid_ms": None,
                    "paid_amount": None,
                    "paid_seq": None,
                }
            row.update(
                shop=raw["shop"],
                customer=raw["customer"],
                conversation=raw["conversation"],
                amount=amount,
                created_ms=ts,
                created_seq=seq,
                agent=agent if agent is not None else row["agent"],
            )
        elif row is None:
            self.orders[raw["order"]] = {
                "shop": raw["shop"],
                "customer": raw["customer"],
                "conversation": raw["conversation"],
                "agent": agent,
                "amount": None,
                "created_ms": None,
                "created_seq": None,
                "paid_ms": ts,
                "paid_amount": amount,
                "paid_seq": seq,
            }
        else:
            row["agent"] = row["agent"] if row["agent"] is not None else agent
            if row["paid_ms"] is None or ts < row["paid_ms"]:
                row["paid_ms"] = ts
            for key, value in (("paid_amount", amount), ("paid_seq", seq)):
                if row[key] is None:
                    row[key] = value

    def finish(self) -> None:
        with store.transaction(self.conn):
            self.conn.executemany(
                "INSERT INTO orders (shop, order_id, customer, conversation, agent, amount, created_ms, created_seq,"
                " paid_ms, paid_amount, paid_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        o["shop"],
                        oid,
                        o["customer"],
                        o["conversation"],
                        o["agent"],
                        o["amount"],
                        o["created_ms"],
                        o["created_seq"],
                        o["paid_ms"],
                        o["paid_amount"],
                        o["paid_seq"],
                    )
                    for oid, o in self.orders.items()
                ],
            )
            self.conn.executemany(
                "INSERT INTO payments (shop, order_id, paid_ms, cents, seq) VALUES (?, ?, ?, ?, ?)",
                [(*key, seq) for key, seq in self.payments.items()],
            )
            self.conn.executemany(
                "INSERT INTO conversations (shop, conversation, customer, agent, status, opened_ms, last_ts_ms,"
                " last_customer_ms, last_agent_ms, closed_ms, customer_type) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        c["shop"],
                        conv,
                        c["customer"],
                        c["agent"],
                        c["status"],
                        c["opened_ms"],
                        c["last_ts_ms"],
                        c["last_customer_ms"],
                        c["last_agent_ms"],
                        c["closed_ms"],
                        c["customer_type"],
                    )
                    for conv, c in self.convs.items()
                ],
            )


def _touch(convs: dict[str, dict[str, Any]], raw: dict[str, Any], ann: store.Annotation | None) -> None:
    """`store._touch_conversation`'s upsert, folded in memory (new conversations only)."""
    kind, ts, agent = raw["type"], raw["ts"], raw.get("agent")
    sender = raw.get("sender")
    customer_ms = ts if kind == "message" and sender == "customer" else None
    agent_ms = ts if kind == "message" and sender == "agent" else None
    closed_ms = ts if kind == "conversation_closed" else None
    ctype = ann.customer_type if ann else None
    c = convs.get(raw["conversation"])
    if c is None:
        convs[raw["conversation"]] = {
            "shop": raw["shop"],
            "customer": raw["customer"],
            "agent": agent,
            "status": "closed" if closed_ms is not None else "open",
            "opened_ms": ts,
            "last_ts_ms": ts,
            "last_customer_ms": customer_ms,
            "last_agent_ms": agent_ms,
            "closed_ms": closed_ms,
            "customer_type": ctype,
        }
        return
    if agent is not None and ts >= c["last_ts_ms"]:
        c["agent"] = agent
    elif c["agent"] is None:
        c["agent"] = agent
    if closed_ms is not None:
        if closed_ms >= max(c["last_customer_ms"] or 0, c["last_agent_ms"] or 0):
            c["status"] = "closed"
    elif ts > (c["closed_ms"] or 0) and (customer_ms is not None or agent_ms is not None):
        c["status"] = "open"
    c["opened_ms"] = min(c["opened_ms"], ts)
    c["last_ts_ms"] = max(c["last_ts_ms"], ts)
    c["last_customer_ms"] = max(c["last_customer_ms"] or 0, customer_ms or 0)
    c["last_agent_ms"] = max(c["last_agent_ms"] or 0, agent_ms or 0)
    if closed_ms is not None:
        c["closed_ms"] = closed_ms
    if ctype is not None:
        c["customer_type"] = ctype
