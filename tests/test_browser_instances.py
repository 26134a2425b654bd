"""The agent panel in real Chromium on one of two instances sharing a PostgreSQL database, while the conversation's
events go to the other (a load balancer moved it)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Page, expect

from assistant.store import now_ms
from assistant.web.appkeys import FEED
from tests.browser import base_url, card, open_panel
from tests.helpers import body_of, eventually, make_app, make_event, replace_config

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


async def test_browser_instances_quiet_hours_deferral_shows_on_the_other_instance_until_the_buyer_writes(
    aiohttp_client: Any, config: Any, page: Page
) -> None:
    # Found: the idle follow-up came due in quiet hours on the instance holding its timer, whose update (静默时段，
    # 跟进延后 with the time left) carried no start of the idle period, as a countdown's does: the panels kept the line
    # over the buyer's next message written through the other instance (the timer's instance told no panel), live
    # and after every reload, until the quiet hours ended.
    local = datetime.now(ZoneInfo(config.shop.timezone))
    start, end = local - timedelta(hours=1), local + timedelta(hours=2)
    quiet = replace_config(config, "followups", idle_seconds=1, quiet_hours=f"{start:%H:%M}-{end:%H:%M}")
    here, there = await aiohttp_client(make_app(quiet)), await aiohttp_client(make_app(quiet))
    t = now_ms()
    await post(here, id="m1", sender="customer", text="在吗，这个什么时候发货", ts=t - 500)
    await post(here, id="m2", sender="agent", text="亲，今天就发哦", ts=t)
    await eventually(lambda: here.app[FEED].followups.get(("shop1", "moving"), {}).get("state") == "deferred")
    await open_panel(page, f"{base_url(there)}/panel?agent=a1")
    shown = card(page, "moving")
    await expect(shown.locator(".followup")).to_have_attribute("data-state", "deferred")
    await expect(shown.locator(".followup-label")).to_have_text(re.compile(r"^静默时段，跟进延后 1小时\d+分$"))
    await post(there, id="m3", sender="customer", text="好的，那明天呢", ts=now_ms())
    for reopened in (None, there, here):  # live, after a reload, and on the timer's own instance
        if reopened is not None:
            await open_panel(page, f"{base_url(reopened)}/panel?agent=a1")
        shown = card(page, "moving")
        await expect(shown.locator(".msg .text").last).to_have_text("好的，那明天呢")
        await expect(shown.locator(".followup")).to_be_hidden()
