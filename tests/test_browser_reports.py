"""The supervisors' pages in real Chromium: the KPI report with its charts, the daily log it links to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Page, expect

from assistant.config import Config, load_config
from tests.browser import DESKTOP, probe_of
from tests.helpers import ROOT, body_of, make_app, make_event

pytestmark = pytest.mark.browser
Client = TestClient  # type: ignore[type-arg]
TOKEN = "sup-token"
DAY = "2026-11-20"


@pytest.fixture
def supervisor_config(db_path: Path) -> Config:
    return load_config(
        ROOT / "config.toml", env={"ASSISTANT_SUPERVISOR_TOKEN": TOKEN}, overrides={"store": {"path": str(db_path)}}
    )


@pytest.fixture
async def day(aiohttp_client: Any, supervisor_config: Config) -> Client:
    """A small day through the webhook: two agents, a slow answer, a short reply, a script injection, orders."""
    client = await aiohttp_client(make_app(supervisor_config))
    t = "2026-11-20T{}+08:00"
    events = [
        make_event(conversation="c1", customer="u1", text="这件有现货吗", ts=t.format("09:00:00")),
        make_event(
            conversation="c1",
            customer="u1",
            sender="agent",
            agent="小美",
            text="亲，有现货的，今天下单今天发哦",
            ts=t.format("09:00:08"),
        ),
        make_event(
            "order_created", conversation="c1", customer="u1", order="o1", amount=199.0, ts=t.format("09:05:00")
        ),
        make_event("order_paid", conversation="c1", customer="u1", order="o1", amount=199.0, ts=t.format("09:06:00")),
        make_event(conversation="c2", customer="u2", text="<script>alert(1)</script>能便宜吗", ts=t.format("14:00:00")),
        make_event(
            conversation="c2", customer="u2", sender="agent", agent="小丽", text="不能", ts=t.format("14:03:00")
        ),
        make_event(conversation="c3", customer="u3", text="在吗 人呢", ts=t.format("20:00:00")),
    ]
    for event in events:
        assert (await client.post("/v1/events", data=body_of(event))).status == 200
    return client


async def test_report_page_renders_with_charts(day: Client, page: Page, tmp_path: Path) -> None:
    await page.set_viewport_size(DESKTOP)
    await page.goto(f"http://{day.host}:{day.port}/reports/daily?date={DAY}&token={TOKEN}")
    await expect(page.locator("svg").first).to_be_visible()
    charts = await page.locator("svg").count()
    assert charts >= 3, f"expected the funnel, response-time and hourly charts, found {charts} svg"
    for chart in await page.locator("svg").all():
        box = await chart.bounding_box()
        assert box is not None and box["width"] > 50 and box["height"] > 30
    body = await page.locator("body").inner_text()
    for name in ("小美", "小丽"):
        assert name in body
    assert "<script>alert(1)</script>" not in await page.content()  # escaped, never markup
    assert probe_of(page).dialogs == [] and probe_of(page).errors == []
    await page.screenshot(path=str(tmp_path / "report.png"), full_page=True)


async def test_report_flagged_row_links_to_the_daily_log(day: Client, page: Page, tmp_path: Path) -> None:
    await page.set_viewport_size(DESKTOP)
    await page.goto(f"http://{day.host}:{day.port}/reports/daily?date={DAY}&token={TOKEN}")
    link = page.locator('a[href*="/logs/daily"][href*="conversation=c2"]').first
    await expect(link).to_be_attached()
    await link.click()
    await page.wait_for_url("**/logs/daily**")
    conversation = page.locator("details#conv-c2")
    await expect(conversation).to_have_attribute("open", "")
    await expect(conversation).to_contain_text("<script>alert(1)</script>能便宜吗")  # shown as text
    assert probe_of(page).dialogs == [] and probe_of(page).errors == []
    await page.screenshot(path=str(tmp_path / "daylog.png"), full_page=True)


async def test_report_page_prints_on_a4(day: Client, page: Page) -> None:
    # A4 portrait with 10 mm margins leaves 190 mm, 718 CSS pixels: the ranking ran past it (回复率, 答问比 cut off).
    await page.set_viewport_size({"width": 718, "height": 1000})
    await page.emulate_media(media="print")
    await page.goto(f"http://{day.host}:{day.port}/reports/daily?date={DAY}&token={TOKEN}")
    for table in ("table.agents", "table.agents-more"):
        box = await page.locator(table).first.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 718, f"{table} is cut: {box}"
    assert await page.evaluate("document.documentElement.scrollWidth") <= 718
    await expect(page.locator("table.agents-more")).to_be_visible()  # folded on screen, printed
    await expect(page.locator("nav.days")).to_be_hidden()  # the day picker is no use on paper


async def test_daily_log_search_box_shows_its_whole_placeholder(day: Client, page: Page) -> None:
    # The box said 消息内容、顾客账号或订 and cut the rest: a supervisor could not tell an order number was searched.
    for viewport in (DESKTOP, {"width": 360, "height": 780}):
        await page.set_viewport_size(viewport)  # type: ignore[arg-type]
        await page.goto(f"http://{day.host}:{day.port}/logs/daily?date={DAY}&token={TOKEN}")
        # The placeholder's words typed into the box: its scroll width is what the text needs in the room the box
        # really gives it (a canvas's measure left out the clear button's room, and passed a box that cut 订单号).
        needed, room = await page.evaluate(
            """() => {
              const box = document.querySelector('input[name="q"]');
              box.value = box.placeholder;
              const sizes = [box.scrollWidth, box.clientWidth];
              box.value = "";
              return sizes;
            }"""
        )
        assert needed <= room, f"placeholder needs {needed} px, the box has {room} at {viewport}"


async def test_report_page_ranking_fits_a_narrow_laptop(day: Client, page: Page) -> None:
    # Between a phone's cards (≤ 700 px) and a desktop, the ranking ran past the right edge: at 800 px the page
    # scrolled sideways and 回复率 and 答问比 were off screen.
    big = make_event(
        "order_paid", conversation="c1", customer="u1", order="o1", amount=123456.78, ts="2026-11-20T09:07:00+08:00"
    )
    assert (await day.post("/v1/events", data=body_of(big))).status == 200
    for width in (1000, 800, 701):
        await page.set_viewport_size({"width": width, "height": 800})
        await page.goto(f"http://{day.host}:{day.port}/reports/daily?date={DAY}&token={TOKEN}")
        box = await page.locator("table.agents").bounding_box()
        assert box is not None and box["x"] + box["width"] <= width, f"the ranking is cut at {width} px: {box}"
        assert await page.evaluate("document.documentElement.scrollWidth") <= width


async def test_report_link_with_a_token_leaves_no_token_in_any_address_after_it(day: Client, page: Page) -> None:
    # Found: the report's day links and its links into the daily log carried ?token=…, and so did the log's own links
    # and filter form: every page a supervisor went on to put the token in the browser's history and its address bar
    # (copied into a group chat to show a colleague the day), and in the logs of any proxy on the way.
    await page.set_viewport_size(DESKTOP)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    await page.goto(f"http://{day.host}:{day.port}/reports/daily?date={DAY}&token={TOKEN}")  # the link as bookmarked
    assert page.url.endswith(f"/reports/daily?date={DAY}")
    await expect(page.locator("table.agents")).to_be_visible()
    await page.locator("a.prev").click()
    await page.wait_for_url("**/reports/daily?date=2026-11-19")
    await page.go_back()
    link = page.locator('a[href*="/logs/daily"][href*="conversation=c2"]').first
    await link.click()
    await page.wait_for_url("**/logs/daily**")
    await expect(page.locator("details#conv-c2")).to_have_attribute("open", "")
    await page.locator('input[name="q"]').fill("便宜")
    await page.locator('input[name="q"]').press("Enter")  # the filter form
    await page.wait_for_url("**q=**")
    await expect(page.locator("details#conv-c2")).to_be_visible()
    assert TOKEN not in await page.content()
    assert [url for url in requested if TOKEN in url] == [requested[0]]  # the bookmarked link only


async def test_report_link_with_a_bad_range_says_it_in_a_sentence(
    aiohttp_client: Any, supervisor_config: Config, page: Page, tmp_path: Path
) -> None:
    client = await aiohttp_client(make_app(supervisor_config))
    await page.set_viewport_size(DESKTOP)
    response = await page.goto(
        f"http://{client.host}:{client.port}/reports/daily?from=2026-12-05&to=2026-11-28&token={TOKEN}"
    )
    assert response is not None and response.status == 400
    await expect(page.locator("h1")).to_contain_text("链接里的参数不对")
    detail = await page.locator(".detail").inner_text()
    assert detail == "详情： 链接中的结束日（to）不对：结束日 2026-11-28 早于起始日 2026-12-05"
    assert probe_of(page).errors == []
    assert await page.locator(".detail code").count() == 0  # a sentence, not code
    await page.screenshot(path=str(tmp_path / "bad-range.png"), full_page=True)
