"""A conversation's state as the service caches it: what it keeps of each message."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

from assistant import store, upgrade
from assistant.conversations import (
    CARD_MESSAGES,
    CUSTOMER_HISTORY,
    EXCERPT_GAP,
    EXCERPT_HEAD,
    EXCERPT_TAIL,
    RECENT_MESSAGES,
    Conversations,
    ConversationState,
    excerpt,
)
from assistant.events import parse_event
from assistant.store import Annotation, Written
from assistant.suggest.clauses import clip
from tests.helpers import make_event

T0 = 1_795_140_000_000


def _logged(seq: int, annotation: Annotation | None = None, **fields: Any) -> Written:
    return Written(parse_event(make_event(**fields), max_text_chars=5000), seq, False, annotation)


def test_a_recent_message_without_flags_is_no_work_for_the_cyclic_collector() -> None:
    # The service caches 20,000 conversations with their 12 latest messages. A message kept with a list of
    # quality flags (nearly always empty) was a container the collector tracked, two per message: young
    # collections walked 75,000-120,000 objects under load, 35-90 ms pauses of every request.
    state = ConversationState(shop="shop1", conversation="conv1")
    state.apply(_logged(1))
    state.apply(_logged(2, sender="agent", agent="小美", text="亲，今天发货"))
    assert [gc.is_tracked(m) for m in state.recent] == [False, False]
    assert [m["qa"] for m in state.recent] == [(), ()]


def test_a_recent_message_keeps_its_flags() -> None:
    flag = {"category": "forbidden", "label": "禁用语", "match": "不知道"}
    state = ConversationState(shop="shop1", conversation="conv1")
    state.apply(_logged(1, Annotation(qa=[flag]), sender="agent", agent="小美", text="不知道"))
    assert state.recent[-1]["qa"] == (flag,)


def test_a_recent_message_off_the_card_keeps_no_text() -> None:
    # Found: each of 20,000 cached conversations kept the text of its 12 latest messages; a card shows 6.
    state = ConversationState(shop="shop1", conversation="conv1")
    for seq in range(1, 9):
        state.apply(_logged(seq, ts=T0 + seq * 1000, text=f"第{seq}条"))
    late = _logged(9, ts=T0 + 4500, sender="agent", agent="小美", text="迟到的回复")  # goes in its place, off the card
    state.apply(late)
    assert [m["text"] for m in state.recent] == [None] * 3 + ["第4条", "迟到的回复"] + [
        f"第{seq}条" for seq in range(5, 9)
    ]
    assert sum(m["text"] is not None for m in state.recent) == CARD_MESSAGES
    assert [t for _, t in state.customer_messages] == [f"第{seq}条" for seq in range(1, 9)]  # what matching reads


def test_a_long_message_is_cached_as_an_excerpt_holding_what_its_readers_read() -> None:
    # Found: a pasted essay or a Chatwoot e-mail (up to 150,000 characters) was cached whole, in up to 40 messages
    # of each of 20,000 conversations.
    text = "我" * 515 + "13812345678" + "中" * 3000 + "结尾" * 60
    state = ConversationState(shop="shop1", conversation="conv1")
    state.apply(_logged(1, text=text))
    kept = state.customer_messages[-1][1]
    assert kept is state.recent[-1]["text"]
    assert len(kept) <= EXCERPT_HEAD + 1 + EXCERPT_TAIL
    assert kept.startswith("我" * 500) and kept.endswith(text[-100:]) and EXCERPT_GAP in kept
    assert "138" not in kept  # the number is not cut in two at the gap: it goes whole
    assert clip(kept) == clip(text)  # what the matcher reads of an earlier message
    assert kept[:500] == text[:500]  # what the customer type reads
    short = "你好，" * 200
    state.apply(_logged(2, text=short))
    assert state.customer_messages[-1][1] == short


def test_a_conversation_read_from_the_log_keeps_what_a_live_one_keeps(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    conn = store.connect(path)
    upgrade.migrate(conn)
    long = "我" * 700 + "中" * 700
    with store.transaction(conn):
        for seq in range(1, 9):
            raw = make_event(ts=T0 + seq * 1000, text=long if seq == 8 else f"第{seq}条")
            store.insert_event(conn, parse_event(raw, max_text_chars=5000))
    conn.close()
    cache = Conversations(path)
    try:
        state = cache.get("shop1", "conv1")
        assert [m["text"] for m in state.recent] == [None, None] + [f"第{seq}条" for seq in range(3, 8)] + [
            excerpt(long)
        ]
        assert state.customer_messages[-1][1] == excerpt(long) != long
    finally:
        cache.close()


def test_a_cached_conversation_leaves_the_cyclic_collector_two_objects() -> None:
    # Found: with 20,000 conversations cached, each left the collector about 14 objects to walk (its deques, its
    # suggestions' dicts and lists, its customer type's): a full collection took 0.27-0.29 s of CPU, every request
    # waiting. What a card shows is kept encoded, the message lists as tuples: the state and its recent messages'
    # tuple are left.
    suggestions = [
        {"phrase_id": "ship.today", "text": "亲，今天发", "score": 0.91, "evidence": ["发货"], "facts": [{"name": "a"}]}
    ]
    detail = {"type": "hesitant", "label": "犹豫型", "signals": ["还在考虑"], "track": {"tips": ["别催"]}}
    state = ConversationState(shop="shop1", conversation="conv1")
    state.apply(_logged(1, text="今天能发吗"))
    state.show(suggestions, detail)
    state.apply(_logged(2, sender="agent", agent="小美", text="亲，今天发"))
    state.apply(_logged(3, text="好的"))
    gc.collect()  # a tuple is let go once what it holds was: a second collection for the tuples of tuples and of dicts
    gc.collect()
    held = [state.customer_messages, state.agent_replies, *state.recent, state.unpaid_orders]
    assert [type(x).__name__ for x in held if gc.is_tracked(x)] == []
    assert gc.is_tracked(state.recent)  # a tuple of dicts stays: the collector never lets go of one
    assert state.suggestions == suggestions and state.customer_type_detail == detail
    assert state.suggestions is not state.suggestions  # a copy each time: a reader changing it changes nothing
    assert [t for _, t in state.customer_messages] == ["今天能发吗", "好的"] and len(state.agent_replies) == 1


def test_a_cached_conversation_keeps_the_latest_messages_only() -> None:
    state = ConversationState(shop="shop1", conversation="conv1")
    for seq in range(1, CUSTOMER_HISTORY + 6):
        state.apply(_logged(seq, text=f"第{seq}条", ts=T0 + seq * 1000))
        state.apply(_logged(1000 + seq, sender="agent", agent="小美", text="好", ts=T0 + seq * 1000 + 500))
    assert [t for _, t in state.customer_messages] == [f"第{n}条" for n in range(6, CUSTOMER_HISTORY + 6)]
    assert (
        len(state.agent_replies) == CUSTOMER_HISTORY
        and state.agent_replies[-1] == T0 + (CUSTOMER_HISTORY + 5) * 1000 + 500
    )
    assert len(state.recent) == RECENT_MESSAGES and state.recent[-1]["seq"] == 1000 + CUSTOMER_HISTORY + 5
