"""Returning buyers: the log's paid orders of the buyer in the shop's other conversations count towards 熟悉客户."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Page, expect

from assistant import store
from assistant.config import Config
from assistant.conversations import Conversations
from assistant.suggest.customer_type import customer_type_json, named_type
from assistant.suggest.matcher import Matcher
from assistant.web.appkeys import ENGINE, RELAY
from tests.browser import base_url, card, open_panel
from tests.helpers import BACKENDS, body_of, eventually, make_app, make_event

Client = TestClient  # type: ignore[type-arg]
TS = 1_795_140_000_000


def calm(*texts: str) -> list[tuple[int, str]]:
    """Messages a minute apart."""
    return [(n * 60_000, text) for n, text in enumerate(texts)]


def test_a_buyer_who_paid_before_is_a_returning_one_when_the_words_name_nothing(shipped_matcher: Matcher) -> None:
    types = shipped_matcher.library.customer_types
    stranger = shipped_matcher.classify(calm("这款有黑色吗"))
    assert stranger.type == "newcomer" and stranger.past_orders == 0
    kind = shipped_matcher.classify(calm("这款有黑色吗"), past_orders=3)
    assert (kind.type, kind.sure, kind.past_orders) == ("returning", True, 3)
    assert kind.script == types["returning"].script
    assert named_type(kind) == "returning"  # the phrases of returning buyers rank first
    assert not kind.evidence  # the badge's words are the buyer's own: the orders are a fact of their own
    assert customer_type_json(kind)["past_orders"] == 3


def test_the_buyers_own_words_decide_over_the_earlier_orders(shipped_matcher: Matcher) -> None:
    hurried = shipped_matcher.classify(calm("急用", "今天能发吗"), past_orders=2)
    assert (hurried.type, hurried.past_orders) == ("impatient", 2)
    new = shipped_matcher.classify(calm("第一次在你家买", "这个怎么拍"), past_orders=1)
    assert new.type == "newcomer"
    # Words of a returning buyer and the log agree: surer than either alone.
    said = shipped_matcher.classify(calm("又来了", "这款有黑色吗"))
    both = shipped_matcher.classify(calm("又来了", "这款有黑色吗"), past_orders=1)
    assert said.type == both.type == "returning" and both.confidence >= said.confidence


def test_a_returning_buyer_with_an_order_here_gets_the_after_order_track(shipped_matcher: Matcher) -> None:
    newcomer = shipped_matcher.library.customer_types["newcomer"]
    kind = shipped_matcher.classify(calm("这个怎么还没发货"), ordered=True, past_orders=1)
    assert kind.type == "returning" and kind.script == newcomer.ordered_script


@pytest.mark.parametrize("past", [0, -1])
def test_no_earlier_orders_changes_nothing(shipped_matcher: Matcher, past: int) -> None:
    plain = shipped_matcher.classify(calm("这款有黑色吗"))
    assert shipped_matcher.classify(calm("这款有黑色吗"), past_orders=past) == plain


@BACKENDS
async def test_the_log_knows_a_buyer_who_paid_in_another_conversation(
    aiohttp_client: Any, config: Config, db_path: store.Location
) -> None:
    client: Client = await aiohttp_client(make_app(config))

    async def post(event: dict[str, Any]) -> dict[str, Any]:
        resp = await client.post("/v1/events", data=body_of(event))
        assert resp.status == 200
        return dict(await resp.json())

    first = await post(make_event(text="这款有黑色吗", ts=TS, conversation="c1", customer="u1"))
    assert first["customer_type"]["type"] == "newcomer" and first["customer_type"]["past_orders"] == 0
    await post(make_event("order_created", ts=TS + 60_000, conversation="c1", customer="u1", order="o1"))
    unpaid = await post(make_event(text="这款有白色吗", ts=TS + 90_000, conversation="c2", customer="u1"))
    assert unpaid["customer_type"]["past_orders"] == 0  # an order never paid is no purchase
    await post(make_event("order_paid", ts=TS + 120_000, conversation="c1", customer="u1", order="o1"))
    # The buyer's next conversation, met for the first time after the payment: a returning buyer.
    again = await post(make_event(text="这款有黑色吗", ts=TS + 86_400_000, conversation="c3", customer="u1"))
    assert (again["customer_type"]["type"], again["customer_type"]["past_orders"]) == ("returning", 1)
    other = await post(make_event(text="这款有黑色吗", ts=TS + 86_400_000, conversation="c4", customer="u2"))
    assert (other["customer_type"]["type"], other["customer_type"]["past_orders"]) == ("newcomer", 0)
    elsewhere = await post(
        make_event(text="这款有黑色吗", ts=TS + 86_400_000, conversation="c5", customer="u1", shop="shop2")
    )
    assert elsewhere["customer_type"]["past_orders"] == 0  # another shop's buyer is a stranger here
    # Read back from the log (a restart, another instance): the same.
    rebuilt = Conversations(db_path)
    try:
        assert rebuilt.get("shop1", "c3").past_orders == 1
        assert rebuilt.get("shop1", "c1").past_orders == 0  # its own order is this conversation's, not an earlier one
        assert rebuilt.get("shop1", "c4").past_orders == 0
    finally:
        rebuilt.close()


async def test_a_matching_worker_is_told_of_the_earlier_orders(aiohttp_client: Any, config: Config) -> None:
    client: Client = await aiohttp_client(make_app(config, workers=1))
    await eventually(lambda: client.app[ENGINE].workers.ready, timeout=30)
    for event in (
        make_event("order_created", ts=TS, conversation="c1", customer="u1", order="o1"),
        make_event("order_paid", ts=TS + 60_000, conversation="c1", customer="u1", order="o1"),
    ):
        assert (await client.post("/v1/events", data=body_of(event))).status == 200
    resp = await client.post(
        "/v1/events", data=body_of(make_event(text="这款有黑色吗", ts=TS + 120_000, conversation="c2", customer="u1"))
    )
    found = (await resp.json())["customer_type"]
    assert (found["type"], found["past_orders"]) == ("returning", 1)


@pytest.mark.browser
async def test_the_panel_shows_the_earlier_orders_beside_the_badge(client: Client, page: Page) -> None:
    url = f"{base_url(client)}/panel?agent=agent1"
    await open_panel(page, url)
    for event in (
        make_event("order_created", conversation="c1", customer="u1", agent="agent1", order="o1"),
        make_event("order_paid", conversation="c1", customer="u1", agent="agent1", order="o1"),
        make_event("order_created", conversation="c2", customer="u1", agent="agent1", order="o2"),
        make_event("order_paid", conversation="c2", customer="u1", agent="agent1", order="o2"),
        make_event(conversation="c3", customer="u1", agent="agent1", text="这款有黑色吗"),
        make_event(conversation="c4", customer="u2", agent="agent1", text="这款有黑色吗"),
    ):
        assert (await client.post("/v1/events", data=body_of(event))).status == 200
    for reloaded in (False, True):  # drawn from the live feed, then from the page's state after a reload
        if reloaded:
            await open_panel(page, url)
        await expect(card(page, "c3").locator(".badge")).to_have_text("熟悉客户（老顾客）")
        await expect(card(page, "c3").locator(".past")).to_have_text("老顾客：之前在本店付款 2 单")
        await expect(card(page, "c4").locator(".past")).to_have_count(0)


@BACKENDS
async def test_a_payment_in_another_conversation_reaches_the_buyers_conversation_held_meanwhile(
    aiohttp_client: Any, config: Config
) -> None:
    # Found: the buyer's paid orders elsewhere were read once, when his conversation was first met, and held with it:
    # a payment he made in another conversation meanwhile went unseen until the state left the cache.
    client: Client = await aiohttp_client(make_app(config))

    async def post(event: dict[str, Any]) -> dict[str, Any]:
        resp = await client.post("/v1/events", data=body_of(event))
        assert resp.status == 200
        return dict(await resp.json())

    held = await post(make_event(text="这款有黑色吗", ts=TS, conversation="c2", customer="u1"))
    assert held["customer_type"]["past_orders"] == 0
    for type in ("order_created", "order_paid"):
        await post(make_event(type, ts=TS + 60_000, conversation="c1", customer="u1", order="o1"))
    again = await post(make_event(text="这款有白色吗", ts=TS + 120_000, conversation="c2", customer="u1"))
    assert (again["customer_type"]["type"], again["customer_type"]["past_orders"]) == ("returning", 1)
    conversations = client.app[ENGINE].conversations
    assert conversations.get("shop1", "c1").past_orders == 0  # its own payment is not its past


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_another_instances_payment_reaches_the_buyers_conversation_held_here(
    aiohttp_client: Any, config: Config
) -> None:
    # Two instances of one PostgreSQL database: the payment logged by one reaches the other's state of the buyer's
    # other conversation through the live journal, where that state is current by its own events.
    here: Client = await aiohttp_client(make_app(config))
    there: Client = await aiohttp_client(make_app(config))
    first = make_event(text="这款有黑色吗", ts=TS, conversation="c2", customer="u1")
    assert (await here.post("/v1/events", data=body_of(first))).status == 200
    relay = here.app[RELAY]
    heard = relay.received
    for type in ("order_created", "order_paid"):
        event = make_event(type, ts=TS + 60_000, conversation="c1", customer="u1", order="o1")
        assert (await there.post("/v1/events", data=body_of(event))).status == 200
    await eventually(lambda: relay.received >= heard + 2, timeout=30)
    resp = await here.post(
        "/v1/events", data=body_of(make_event(text="这款有白色吗", ts=TS + 120_000, conversation="c2", customer="u1"))
    )
    found = (await resp.json())["customer_type"]
    assert (found["type"], found["past_orders"]) == ("returning", 1)
