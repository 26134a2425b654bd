"""The panel in real Chromium shows the conversation's item and the facts its suggestions were built from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Page, expect

from assistant import store
from assistant.catalog.importer import import_files
from assistant.config import Config
from tests.browser import base_url, card, open_panel, probe_of
from tests.catalog_data import TSHIRT, tshirt_files
from tests.helpers import body_of, make_app, make_event

pytestmark = pytest.mark.browser
Client = TestClient  # type: ignore[type-arg]


async def test_panel_card_shows_item_title_and_facts_live(
    aiohttp_client: Any, config: Config, db_path: Path, tmp_path: Path, page: Page
) -> None:
    conn = store.connect(db_path)
    assert import_files(conn, tshirt_files(tmp_path)).written
    conn.close()
    client: Client = await aiohttp_client(make_app(config))
    await open_panel(page, f"{base_url(client)}/panel?agent=agent1")
    event = make_event(conversation="shirt", agent="agent1", text="165 110斤穿什么码", item=TSHIRT)
    assert (await client.post("/v1/events", data=body_of(event))).status == 200
    shirt = card(page, "shirt")
    await expect(shirt.locator(".item-title")).to_have_text("纯棉圆领短袖T恤 男女同款")
    await expect(shirt.locator(".facts li")).to_have_text(
        ["身高165cm", "体重110斤", "尺码L（身高165-172cm，体重110-125斤）"]
    )
    await expect(shirt.locator(".sugg").first.locator(".text")).to_have_text("亲，165cm/110斤建议拿L码哦~")
    await page.screenshot(path=str(tmp_path / "item.png"), full_page=True)
    assert await page.evaluate("document.documentElement.scrollWidth") <= 360
    assert probe_of(page).errors == []
