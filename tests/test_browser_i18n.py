"""Every page in one language (zh_CN by default, en when configured), and the report's days, in real Chromium."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Page, expect

from assistant.config import Config, load_config
from tests.browser import DESKTOP, PHONE, probe_of
from tests.helpers import ROOT, body_of, make_app, make_event

pytestmark = pytest.mark.browser
Client = TestClient  # type: ignore[type-arg]
SHOP = "旗舰店"
DAYS = ("2026-11-18", "2026-11-20")  # two days with data, a quiet day between
# Words a zh_CN page may show in Latin letters: data (the time zone) and names of things, not UI words.
ALLOWED = {"Asia", "Shanghai", "Chatwoot"}
PAGES = ("/panel", "/reports/daily", "/logs/daily", "/qa")


def config_for(db_path: Path, language: str) -> Config:
    return load_config(
        ROOT / "config.toml",
        env={},
        overrides={"store": {"path": str(db_path)}, "ui": {"language": language}, "panel": {"demo": True}},
    )


async def fill(client: Client) -> None:
    """Two days of chats: slow and short replies, an order, a quality flag, an open conversation."""
    for day in DAYS:
        t = day + "T{}+08:00"
        events = [
            make_event(
                shop=SHOP, conversation=f"a{day}", customer="买家甲", text="这件有现货吗", ts=t.format("09:00:00")
            ),
            make_event(
                shop=SHOP,
                conversation=f"a{day}",
                customer="买家甲",
                sender="agent",
                agent="小美",
                text="亲，有现货的，今天下单今天发哦",
                ts=t.format("09:02:30"),
            ),
            make_event(
                "order_created",
                shop=SHOP,
                conversation=f"a{day}",
                customer="买家甲",
                order=f"o{day}",
                amount=99.0,
                ts=t.format("09:05:00"),
            ),  # fmt: skip
            make_event(
                shop=SHOP, conversation=f"b{day}", customer="买家乙", text="能便宜点吗，太贵了", ts=t.format("14:00:00")
            ),
            make_event(
                shop=SHOP,
                conversation=f"b{day}",
                customer="买家乙",
                sender="agent",
                agent="小丽",
                text="不能",
                ts=t.format("14:00:20"),
            ),  # fmt: skip
            make_event(
                shop=SHOP,
                conversation=f"b{day}",
                customer="买家乙",
                sender="agent",
                agent="小丽",
                text="我们是全网最低价",
                ts=t.format("14:00:40"),
            ),  # fmt: skip
        ]
        for event in events:
            assert (await client.post("/v1/events", data=body_of(event))).status == 200


@pytest.fixture
async def zh(aiohttp_client: Any, db_path: Path) -> Client:
    client = await aiohttp_client(make_app(config_for(db_path, "zh_CN")))
    await fill(client)
    return client


@pytest.fixture
async def en(aiohttp_client: Any, db_path: Path) -> Client:
    client = await aiohttp_client(make_app(config_for(db_path, "en")))
    await fill(client)
    return client


async def visible_words(page: Page) -> str:
    """What a reader sees: the text, the title, placeholders, labels of controls and tooltips."""
    return str(
        await page.evaluate(
            """() => [document.title, document.body.innerText,
                ...[...document.querySelectorAll('[placeholder],[title],[aria-label]')].map(
                    (e) => [e.getAttribute('placeholder'), e.getAttribute('title'), e.getAttribute('aria-label')].join(' ')),
                ...[...document.querySelectorAll('details')].map((d) => d.querySelector('summary')?.innerText || ''),
               ].join('\\n')"""
        )
    )


async def test_every_page_in_zh_cn_shows_no_english_ui_words(zh: Client, page: Page) -> None:
    await page.set_viewport_size(DESKTOP)
    for path in PAGES:
        await page.goto(f"http://{zh.host}:{zh.port}{path}")
        if path in ("/panel", "/qa"):  # their scripts have written the live state (status, cards)
            await expect(page.locator("#status")).to_have_attribute("data-state", "live")
        for details in await page.locator("details").all():  # folded parts count too
            await details.evaluate("(d) => { d.open = true; }")
        text = await visible_words(page)
        english = sorted({w for w in re.findall(r"\b[A-Za-z]{2,}\b", text)} - ALLOWED)
        assert english == [], (path, english)
        assert re.search(r"[\u4e00-\u9fff]", text), path
    assert probe_of(page).errors == []


async def test_every_page_renders_in_english(en: Client, page: Page) -> None:
    await page.set_viewport_size(DESKTOP)
    expected = {
        "/panel": "Service assistant",
        "/reports/daily": "Daily service report",
        "/logs/daily": "Daily log",
        "/qa": "Quality inspection",
    }
    for path, heading in expected.items():
        await page.goto(f"http://{en.host}:{en.port}{path}")
        await expect(page.locator("h1")).to_contain_text(heading)
        assert await page.locator("html").get_attribute("lang") == "en"
    await page.goto(f"http://{en.host}:{en.port}/logs/daily")
    await expect(page.locator("select[name=intent] option[value=stock]")).to_have_text("stock")
    assert probe_of(page).errors == []


async def test_report_without_a_date_opens_the_latest_day_with_data(zh: Client, page: Page) -> None:
    await page.set_viewport_size(DESKTOP)
    await page.goto(f"http://{zh.host}:{zh.port}/reports/daily")
    await expect(page.locator("input[name=date]")).to_have_value(DAYS[1])
    await expect(page.locator("h1")).to_contain_text("客服日报")
    await expect(page.locator("table.agents tbody tr")).to_have_count(2)
    assert await page.locator("a.next").count() == 0  # nothing after the latest day
    await page.locator("a.prev").click()
    await expect(page.locator("input[name=date]")).to_have_value("2026-11-19")
    await expect(page.locator(".empty-day")).to_contain_text(f"2026-11-19 没有会话。最近有数据的一天是 {DAYS[1]}。")
    await page.locator("a.prev").click()
    await expect(page.locator("input[name=date]")).to_have_value(DAYS[0])
    await expect(page.locator("table.agents tbody tr")).to_have_count(2)
    await page.locator("a.next").click()
    await page.locator("a.next").click()
    await expect(page.locator("input[name=date]")).to_have_value(DAYS[1])
    await page.locator("input[name=date]").fill(DAYS[0])
    await page.locator("nav.days form:not(.range) button").click()
    await expect(page.locator("input[name=date]")).to_have_value(DAYS[0])
    # The range form: a supervisor at month's end chooses the days, and the page is the range's report.
    await page.locator("input[name=from]").fill(DAYS[0])
    await page.locator("input[name=to]").fill(DAYS[1])
    await page.locator("nav.days form.range button").click()
    await expect(page.locator("h1")).to_contain_text("客服报表")
    await expect(page.locator("input[name=from]")).to_have_value(DAYS[0])
    await page.locator("a.day").click()
    await expect(page.locator("input[name=date]")).to_have_value(DAYS[0])
    assert probe_of(page).errors == []


async def test_log_without_a_date_opens_the_latest_day_and_moves_between_days(zh: Client, page: Page) -> None:
    await page.goto(f"http://{zh.host}:{zh.port}/logs/daily")
    await expect(page.locator("h1")).to_contain_text(DAYS[1])
    await expect(page.locator("details")).to_have_count(2)
    await page.locator("a.prev").click()
    await expect(page.locator("h1")).to_contain_text("2026-11-19")
    await page.locator("a.latest").click()
    await expect(page.locator("h1")).to_contain_text(DAYS[1])


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "360px"])
async def test_report_fits_the_screen_without_horizontal_scrolling(zh: Client, page: Page, viewport: Any) -> None:
    await page.set_viewport_size(viewport)
    await page.goto(f"http://{zh.host}:{zh.port}/reports/daily?date={DAYS[1]}")
    for details in await page.locator("details").all():
        await details.evaluate("(d) => { d.open = true; }")
    overflow = await page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px at {viewport['width']}px"
    table = await page.locator("table.agents").bounding_box()
    assert table is not None and table["x"] >= 0 and table["x"] + table["width"] <= viewport["width"]
    wide = await page.evaluate(
        """() => [...document.querySelectorAll('table')].filter((t) => t.scrollWidth > t.clientWidth + 1).length"""
    )
    assert wide == 0
