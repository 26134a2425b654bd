"""Order events and the customer type: a card is typed again only when an order changes what the type reads."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from assistant.suggest.customer_type import CustomerType, Messages, customer_type_json
from assistant.suggest.type_reader import TypeReader
from assistant.web.appkeys import ENGINE
from tests.helpers import body_of, make_app, make_event

Client = TestClient  # type: ignore[type-arg]


@pytest.fixture
async def counted(aiohttp_client: Any, config: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Client, list[int]]:
    """A service, and a list that grows by one each time its type reader classifies a conversation."""
    calls: list[int] = []
    classify = TypeReader.classify

    def counting(
        self: TypeReader, messages: Messages, replies: Sequence[int] | None = None, **kwargs: Any
    ) -> CustomerType:
        calls.append(len(messages))
        return classify(self, messages, replies, **kwargs)

    monkeypatch.setattr(TypeReader, "classify", counting)
    return await aiohttp_client(make_app(config)), calls


async def test_an_order_event_types_the_card_again_only_when_the_type_reads_something_new(
    counted: tuple[Client, list[int]],
) -> None:
    # Found: every order event of a conversation classified it again (its payment, its closing, a second order),
    # though the type reads only the buyer's messages, the agent's reply times, whether there is an order and the
    # buyer's paid orders elsewhere: the work of an order_created on each of the events after it.
    client, calls = counted
    engine = client.app[ENGINE]
    by_type: Counter[str] = Counter()
    minute = 60_000
    ts = 1_795_140_000_000

    async def post(type: str, at: int, **fields: Any) -> None:
        before = len(calls)
        event = make_event(type, ts=ts + at * minute, conversation="c1", customer="u1", **fields)
        resp = await client.post("/v1/events", data=body_of(event))
        assert resp.status == 200
        by_type[type] += len(calls) - before
        state = engine.conversations.get("shop1", "c1")
        if state.customer_type_detail is not None:  # the card says what a type read now would say
            assert state.customer_type_detail == customer_type_json(engine.classify(state))

    await post("message", 0, text="这款有黑色吗")
    await post("message", 1, text="今天能发货吗")
    messages = by_type["message"]
    await post("order_created", 2, order="o1")
    assert by_type["order_created"] == 1  # ordered now: the track after an order
    state = engine.conversations.get("shop1", "c1")
    detail = state.customer_type_detail
    assert detail is not None and detail["script"] == list(engine.library.customer_types["newcomer"].ordered_script)
    await post("order_paid", 3, order="o1")
    await post("order_created", 4, order="o2")
    await post("order_closed", 5, order="o2")
    assert (by_type["order_paid"], by_type["order_created"], by_type["order_closed"]) == (0, 1, 0)
    # An agent's reply is a reply time the type reads: the next order event types the card again.
    await post("message", 6, sender="agent", agent="a1", text="亲，今天就发哦")
    await post("order_refunded", 7, order="o1")
    assert by_type["order_refunded"] == 1
    # So does the buyer's next message (typed with it), once.
    await post("message", 8, text="怎么还没发")
    await post("order_paid", 9, order="o3")
    await post("order_closed", 10, order="o3")
    assert by_type["order_paid"] == 1 and by_type["order_closed"] == 0
    assert by_type["message"] - messages <= 2  # the messages are typed as they were before


async def test_a_reloaded_library_types_the_card_at_the_next_order(counted: tuple[Client, list[int]]) -> None:
    client, calls = counted
    engine = client.app[ENGINE]
    for event in (
        make_event(text="这款有黑色吗", conversation="c1", customer="u1"),
        make_event("order_created", conversation="c1", customer="u1", order="o1"),
    ):
        assert (await client.post("/v1/events", data=body_of(event))).status == 200
    before = len(calls)
    reloaded, problems = engine.prepare()
    assert reloaded is not None and not problems
    engine.install(reloaded)
    paid = make_event("order_paid", conversation="c1", customer="u1", order="o1")
    assert (await client.post("/v1/events", data=body_of(paid))).status == 200
    assert len(calls) == before + 1  # another reader may type it otherwise
