"""Memory of the conversations cache: what 20,000 cached conversations hold, and how much of it is buyers' words;
and what they give the cyclic collector to walk.

    python -m bench.bench_conversations [--conversations 20000] [--long 300]

Each conversation gets messages through `Conversations.apply`, as the service's listener folds them in:
- ordinary: 20 customer messages (4-40 characters, one in 25 a pasted text of 300-1,200 characters: an address
  list, a complaint) and 20 agent replies (10-150 characters), every text distinct;
- long: `--long` conversations of 40 customer messages of 3,000 characters each (a Chatwoot e-mail inbox), the
  worst a conversation can hold; its figures are per conversation, then for 20,000 of them.
tracemalloc measures what the cache holds after the messages (the events themselves released); "buyers'
characters" counts the characters of customer text the cached states still reference.

Measured on this machine (20,000 ordinary, 300 long): before cards' older messages dropped their text and long
texts were cached as excerpts (conversations.excerpt), 277.6 MiB (14,556 B a conversation) holding 20.4 million
buyers' characters, and 248 KiB a long conversation (4.74 GiB for 20,000); after, 259.0 MiB (13,581 B) holding
17.6 million, and 64 KiB a long conversation (1.22 GiB for 20,000); with the message lists kept as tuples, not
deques, 214.5 MiB (11,245 B).

The collector: the rest of the heap frozen (as `assistant serve` freezes what it loads at start), the objects
each cached conversation leaves tracked (6 messages, its card's 3 suggestions and customer type) and a full
collection's CPU time. In the service (20,000 conversations, each a customer message and a reply, a full
collection forced under load): 309,000-314,000 objects in 274-286 ms before the card's suggestions were kept
encoded and the message lists as tuples, 75,000-85,000 in 66-82 ms after.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from tempfile import TemporaryDirectory

from assistant.conversations import Conversations
from assistant.events import parse_event
from assistant.store import Written

# Common Chinese characters (a text of distinct characters: nothing is shared between two texts by interning).
_POOL = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]
T0 = 1_795_140_000_000


def _text(rng: random.Random, low: int, high: int) -> str:
    return "".join(rng.choices(_POOL, k=rng.randint(low, high)))


def _fill(cache: Conversations, conversations: int, messages: int, seed: int, *, long: bool) -> None:
    rng = random.Random(seed)
    seq = 0
    for c in range(conversations):
        for m in range(messages):
            seq += 1
            customer = m % 2 == 0 or long
            if long:
                text = _text(rng, 3000, 3000)
            elif customer:
                text = _text(rng, 300, 1200) if rng.random() < 0.04 else _text(rng, 4, 40)
            else:
                text = _text(rng, 10, 150)
            raw = {
                "id": f"e{seq}", "type": "message", "ts": T0 + seq * 1000, "shop": "shop1", "conversation": f"c{c}",
                "customer": f"buyer{c}", "sender": "customer" if customer else "agent", "text": text,
            }  # fmt: skip
            if not customer:
                raw["agent"] = "小美"
            cache.apply(Written(parse_event(raw, max_text_chars=200_000), seq, False))


def _buyers_characters(cache: Conversations) -> int:
    seen: dict[int, int] = {}
    for state in cache.cached():
        for _ts, text in state.customer_messages:
            seen[id(text)] = len(text)
        for message in state.recent:
            if message["sender"] == "customer" and message["text"]:
                seen[id(message["text"])] = len(message["text"])
    return sum(seen.values())


def measure(conversations: int, messages: int, *, long: bool) -> tuple[int, int]:
    """Bytes the cache holds after `conversations` of `messages`, and the buyers' characters in it."""
    with TemporaryDirectory() as tmp:
        cache = Conversations(Path(tmp) / "absent.db", capacity=max(conversations, 1))
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        _fill(cache, conversations, messages, seed=7, long=long)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        chars = _buyers_characters(cache)
        cache.close()
    return held, chars


# What a card shows of a customer message: three suggestions and the customer type (suggest/engine.response).
SUGGESTIONS = [
    {"phrase_id": f"p{n}", "intent": "shipping", "code": f"fh{n}", "text": "亲，今天下午四点前付款当天发出哦",
     "score": 0.9 - n / 10, "confidence": 0.8, "trigger": "发货", "evidence": ["发货", "今天"]}
    for n in range(3)
]  # fmt: skip
CUSTOMER_TYPE = {"type": "hesitant", "label": "犹豫型", "confidence": 0.7, "signals": ["再看看"], "tips": ["别催"]}


def collector(conversations: int) -> tuple[float, float]:
    """Objects each cached conversation leaves the cyclic collector, and a full collection's CPU ms (median of 3)."""
    with TemporaryDirectory() as tmp:
        cache = Conversations(Path(tmp) / "absent.db", capacity=max(conversations, 1))
        gc.collect()
        gc.freeze()
        try:
            before = len(gc.get_objects())
            _fill(cache, conversations, 6, seed=11, long=False)
            for state in cache.cached():
                state.show(SUGGESTIONS, CUSTOMER_TYPE)
            gc.collect()
            gc.collect()  # a tuple of tuples is let go at the second
            tracked = len(gc.get_objects()) - before
            took = []
            for _ in range(3):
                started = time.thread_time()
                gc.collect()
                took.append(time.thread_time() - started)
        finally:
            gc.unfreeze()
        cache.close()
    return tracked / conversations, statistics.median(took) * 1000


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_conversations", description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=20_000, help="ordinary conversations (default: 20000)")
    parser.add_argument("--long", type=int, default=300, help="conversations of long texts (default: 300)")
    args = parser.parse_args(sys.argv[1:] if argv is None and __name__ == "__main__" else (argv or []))
    held, chars = measure(args.conversations, 40, long=False)
    n = args.conversations
    print(f"ordinary: {n} conversations hold {held / 2**20:.1f} MiB ({held / n:.0f} B each); buyers' characters {chars:,}")  # fmt: skip
    held, chars = measure(args.long, 40, long=True)
    each = held / args.long
    print(
        f"long: {args.long} conversations hold {held / 2**20:.1f} MiB ({each / 1024:.0f} KiB each, {each * 20_000 / 2**30:.2f}"
        f" GiB for 20,000); buyers' characters {chars:,} ({chars // args.long:,} each)"
    )
    per, ms = collector(n)
    print(f"collector: {n} conversations leave {per:.1f} objects each to walk; a full collection {ms:.1f} ms of CPU")


if __name__ == "__main__":
    main()
