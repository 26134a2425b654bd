"""Adoption counts on several instances of one PostgreSQL database: a phrase's uses logged through one instance
rank the suggestions on every instance."""

from __future__ import annotations

from collections.abc import AsyncIterator
from itertools import count
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from assistant.config import Config
from tests.helpers import body_of, eventually, make_app, make_event

Client = TestClient  # type: ignore[type-arg]
PRICE = "可以便宜点吗"
USED = "price_bargain.firm_warm"  # second for PRICE with no uses; first after five
_conversations = count()


@pytest.fixture
def backend() -> str:
    return "postgresql"


@pytest.fixture
async def trio(aiohttp_client: Any, config: Config) -> AsyncIterator[list[Client]]:
    yield [await aiohttp_client(make_app(config)) for _ in range(3)]


async def ranked(client: Client) -> list[str]:
    """The phrase ids suggested for PRICE in a new conversation of the shop."""
    event = make_event(conversation=f"ask-{next(_conversations)}", text=PRICE)
    resp = await client.post("/v1/events", data=body_of(event))
    assert resp.status == 200, await resp.text()
    return [s["phrase_id"] for s in (await resp.json())["suggestions"]]


async def test_adoption_used_on_one_instance_ranks_suggestions_on_the_others(trio: list[Client]) -> None:
    first = [await ranked(client) for client in trio]  # each instance has read the shop's counts now
    assert first[0] == first[1] == first[2] and first[0][0] != USED and USED in first[0]
    for n in range(5):
        used = make_event("suggestion_used", id=f"use-{n}", conversation="ask-0", agent="小美", phrase_id=USED)
        assert (await trio[0].post("/v1/events", data=body_of(used))).status == 200

    async def everywhere() -> bool:
        return all([(await ranked(client))[0] == USED for client in trio])

    await eventually(everywhere, timeout=10)
