"""A conversation's state as the service caches it: what it keeps of each message."""

from __future__ import annotations

import gc
from typing import Any

from assistant.conversations import ConversationState
from assistant.events import parse_event
from assistant.store import Annotation, Written
from tests.helpers import make_event


def _logged(seq: int, annotation: Annotation | None = None, **fields: Any) -> Written:
    return Written(parse_event(make_event(**fields), max_text_chars=2000), seq, False, annotation)


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
