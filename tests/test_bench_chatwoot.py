"""The Chatwoot benchmark's deliveries are ones the service takes: Chatwoot's integer ids, stamped live."""

from __future__ import annotations

import time

from assistant.chatwoot import map_payload
from bench.bench_chatwoot import ROUNDS, delivery, first_id, plain


def test_bench_chatwoot_deliveries_map_to_live_customer_messages_with_distinct_ids() -> None:
    # Found: the benchmark sent message ids "m0", "c0"…, refused since Chatwoot ids are checked ("expected a Chatwoot
    # id"): it stopped at its first mapping; and its stamps of 2026-11-19 made every message history, never matched.
    now_ms = time.time_ns() // 1_000_000
    firsts = [first_id(row, run) for row in range(4) for run in range(ROUNDS + 1)]
    assert len(set(firsts)) == len(firsts) and min(firsts) > 0
    mapped = map_payload(delivery(7, firsts[-1]), by_inbox=False, now_ms=now_ms, item_attribute="item_id")
    [event] = mapped.events
    assert (event["id"], event["sender"]) == (f"cw-3-msg-{firsts[-1] + 7}", "customer")
    assert abs(now_ms - event["ts"]) < 60_000  # live: within the 10 minutes that make a message matched and heard
    assert abs(now_ms - plain(7, firsts[0])["ts"]) < 60_000
