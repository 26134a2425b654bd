"""The agent panel in real Chromium on one of two instances sharing a PostgreSQL database, while the conversation's
events go to the other (a load balancer moved it)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Page, expect

from assistant.store import now_ms
from tests.browser import base_url, card, open_panel
from tests.helpers import body_of, make_app, make_event

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("backend", ["postgresql"], indirect=True)]
Client = TestClient  # type: ignore[type-arg]


async def post(client: Client, **fields: Any) -> dict[str, Any]:
    resp = await client.post("/v1/events", data=body_of(make_event(conversation="moving", agent="a1", **fields)))
    assert resp.status == 200
    return await resp.json()  # type: ignore[no-any-return]


async def test_browser_instances_countdown_ends_when_the_buyer_writes_through_the_other_instance(
    aiohttp_client: Any, config: Any, page: Page
) -> None:
    # Found: the agent's reply, taken by the panel's instance, armed the idle follow-up there; the buyer's answer went
    # to the other instance, which holds no such timer and told no panel. The countdown (跟进倒计时) ran on over the
    # buyer's new message until it was due, and came back with every reload: the instance's timers still held it.
    here, there = await aiohttp_client(make_app(config)), await aiohttp_client(make_app(config))
    url = f"{base_url(here)}/panel?agent=a1"
    await open_panel(page, url)
    t = now_ms()
    await post(there, id="m1", sender="customer", text="在吗，这个什么时候发货", ts=t - 3000)
    await post(here, id="m2", sender="agent", text="亲，今天就发哦", ts=t - 2000)
    shown = card(page, "moving")
    await expect(shown.locator(".followup")).to_be_visible()
    await expect(shown.locator(".followup")).to_have_attribute("data-state", "armed")
    answer = await post(there, id="m3", sender="customer", text="能便宜点吗", ts=t - 1000)
    for reloaded in (False, True):  # live, then from a snapshot
        if reloaded:
            await open_panel(page, url)
        shown = card(page, "moving")
        await expect(shown).to_have_count(1)
        await expect(shown.locator(".msg .text").last).to_have_text("能便宜点吗")
        await expect(shown.locator(".sugg").first).to_have_attribute(
            "data-phrase-id", answer["suggestions"][0]["phrase_id"]
        )
        await expect(shown.locator(".followup")).to_be_hidden()
