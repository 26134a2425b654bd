"""`parse_event` on the event loop: microseconds per message event, its one run of checks against `check_event`'s
field-by-field way (the way every event took before), measured in turns in one process.

    python -m bench.bench_parse        (BENCH_EVENTS=20000 per shape and turn, BENCH_ROUNDS=5 turns)

Shapes: an agent's message with ASCII ids and a Chinese agent name (`POST /v1/events`), a customer's message with
Chinese shop and customer names, and a Chatwoot agent reply as its adapter maps it (an item, a numeric
customer id); and a message the checks do not pass (a name with a zero-width space: `check_event` takes it),
which costs the checks on top. The best turn of each is printed, and its ratio to `check_event`'s.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from assistant.events import Event, check_event, parse_event

EVENTS = int(os.environ.get("BENCH_EVENTS", "20000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
TS = 1_795_140_000_000
SHAPES: dict[str, dict[str, Any]] = {
    "agent message": {
        "id": "e1", "type": "message", "ts": TS, "shop": "chatwoot-3", "conversation": "1001", "customer": "7001",
        "sender": "agent", "agent": "张美玲", "text": "亲，今天下午四点前付款当天发出哦",
    },
    "customer message, Chinese names": {
        "id": "tb-88812", "type": "message", "ts": TS, "shop": "小熊家居旗舰店", "conversation": "c-20931",
        "customer": "爱吃橘子的猫", "sender": "customer", "text": "这个沙发垫有灰色的吗",
    },
    "chatwoot reply (mapped)": {
        "id": "cw-3-msg-5512", "type": "message", "ts": TS, "shop": "chatwoot-3-inbox-7", "conversation": "77",
        "customer": "1203", "sender": "agent", "text": "好的亲，已为您备注", "agent": "客服小王", "item": "sku-4410",
    },
    "zero-width space in a name": {
        "id": "e2", "type": "message", "ts": TS, "shop": "chatwoot-3", "conversation": "1001",
        "customer": "\u200b小美", "sender": "customer", "text": "在吗",
    },
}  # fmt: skip


def per_event_us(parse: Callable[..., Event], raw: dict[str, Any]) -> float:
    start = time.perf_counter()
    for _ in range(EVENTS):
        parse(raw, max_text_chars=5000)
    return (time.perf_counter() - start) / EVENTS * 1e6


def main() -> None:
    print(f"== parse_event, µs per event (best of {ROUNDS} turns of {EVENTS}, each way in turn) ==")
    for name, raw in SHAPES.items():
        assert parse_event(raw, max_text_chars=5000) == check_event(raw, max_text_chars=5000)
        quick, checked = float("inf"), float("inf")
        for _ in range(ROUNDS):
            quick = min(quick, per_event_us(parse_event, raw))
            checked = min(checked, per_event_us(check_event, raw))
        print(f"{name:<34} parse_event {quick:6.2f}   check_event {checked:6.2f}   ratio {quick / checked:5.2f}")


if __name__ == "__main__":
    main()
