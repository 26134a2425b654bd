"""Quality inspection in real Chromium: the flag on the agent's own message, a draft's check, the supervisors'
live page with the alert and its link into the daily log."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Page, expect

from assistant.config import load_config
from tests.browser import DESKTOP, base_url, card, open_panel, probe_of
from tests.helpers import ROOT, body_of, day_of, live_event, make_app
from tests.test_browser_panel import recovers_from_a_stream_never_answered

pytestmark = pytest.mark.browser
Client = TestClient  # type: ignore[type-arg]
SUPERVISOR = "qa-supervisor-token-7f3a"


async def test_panel_shows_the_flag_on_the_agents_message(client: Client, page: Page, tmp_path: Path) -> None:
    await open_panel(page, f"{base_url(client)}/panel?agent=agent1")
    customer = live_event(conversation="c-qa", agent="agent1", text="能便宜点吗")
    await client.post("/v1/events", data=body_of(customer))
    reply = live_event(conversation="c-qa", sender="agent", agent="agent1", text="加我V信 abc123 给您便宜点")
    await client.post("/v1/events", data=body_of(reply))
    message = card(page, "c-qa").locator(".msg", has_text="给您便宜点")
    flag = message.locator(".qa-flag")
    await expect(flag).to_have_text("站外引流", timeout=1000)  # within a second of the webhook's answer
    await expect(flag).to_have_attribute("data-severity", "high")
    await expect(message).to_have_class(re.compile(r"\bflagged\b"))
    await expect(card(page, "c-qa").locator(".msg", has_text="能便宜点吗").locator(".qa-flag")).to_have_count(0)
    await page.screenshot(path=str(tmp_path / "panel-flag.png"), full_page=True)
    # The server-rendered page shows it too.
    await page.reload()
    await expect(card(page, "c-qa").locator(".msg.flagged .qa-flag")).to_have_text("站外引流")
    assert probe_of(page).errors == []


async def test_panel_checks_a_draft_before_sending(client: Client, page: Page, tmp_path: Path) -> None:
    await open_panel(page, f"{base_url(client)}/panel?agent=agent1")
    await page.locator("#check-text").fill("亲，这款是全网最低价了，明天肯定到")
    await page.locator("#check-form button").click()
    results = page.locator("#check-results")
    await expect(results.locator(".qa-flag")).to_have_text(["极限用语", "过度承诺"])
    await expect(results).to_contain_text("「全网最低价」")
    await page.screenshot(path=str(tmp_path / "draft-check.png"), full_page=True)
    await page.locator("#check-text").fill("亲，最快明天就能到哦")
    await expect(results).to_have_text("未发现问题")
    assert probe_of(page).errors == []


async def test_supervisor_page_shows_the_alert_live(client: Client, page: Page, tmp_path: Path) -> None:
    await page.set_viewport_size(DESKTOP)
    await page.goto(f"{base_url(client)}/qa")
    await expect(page.locator("#status")).to_have_attribute("data-state", "live")
    await expect(page.locator("#no-alerts")).to_be_visible()
    older = live_event(conversation="c-rude", sender="agent", agent="小美", text="爱买不买")
    await client.post("/v1/events", data=body_of(older))
    risk = live_event(
        conversation="c-risk", customer="<b>buyer</b>", agent="小美", text="再不处理我就投诉了 <img src=x>"
    )
    await client.post("/v1/events", data=body_of(risk))
    alert = page.locator("#alerts li.alert").first
    await expect(alert.locator(".flag")).to_have_text("投诉风险")
    await expect(alert.locator("mark").first).to_have_text("不处理我就投诉")
    await expect(alert.locator(".text")).to_contain_text("<img src=x>")  # shown as text, never as markup
    link = alert.locator("a.log")
    await expect(link).to_have_attribute(
        "href", re.compile(rf"^/logs/daily\?date={day_of(risk)}&shop=shop1&conversation=c-risk")
    )
    flags = page.locator("#flags li")
    await expect(flags).to_have_count(2)
    await expect(flags.first.locator(".flag")).to_have_text("投诉风险")  # newest first
    await expect(flags.nth(1).locator(".flag")).to_have_text("服务态度")
    await page.screenshot(path=str(tmp_path / "supervisor.png"), full_page=True)
    await link.click()
    await expect(page.locator("details#conv-c-risk")).to_have_attribute("open", "")
    assert probe_of(page).dialogs == [] and probe_of(page).errors == []


async def test_supervisor_page_marks_the_words_after_an_emoji(client: Client, page: Page) -> None:
    # Flags index the text in code points (Python); the page sliced it in UTF-16 units, so after an emoji
    # (two units) the span read "再不处理我", not the match, and nothing of an angry buyer's words was marked.
    await page.goto(f"{base_url(client)}/qa")
    await expect(page.locator("#status")).to_have_attribute("data-state", "live")
    risk = live_event(conversation="c-emoji", agent="小美", text="怎么还没发货😡😡 再不处理我就投诉了")
    await client.post("/v1/events", data=body_of(risk))
    alert = page.locator("#alerts li.alert").first
    await expect(alert.locator("mark")).to_have_text(["不处理我就投诉"])
    await expect(alert.locator(".text")).to_have_text("怎么还没发货😡😡 再不处理我就投诉了")
    assert probe_of(page).errors == []


async def test_supervisor_page_reconnects_when_its_stream_goes_silent(client: Client, page: Page) -> None:
    # The page had no watchdog: a stream request never answered (or a connection dropped without a word) left it
    # "connecting" (or "live") for good, hearing of no alert.
    await recovers_from_a_stream_never_answered(page, f"{base_url(client)}/qa", "**/v1/qa/stream*")


async def test_supervisor_page_names_an_alerts_deliveries_in_chinese(client: Client, page: Page, db_path: Path) -> None:
    risk = live_event(conversation="c-risk", agent="小美", text="再不处理我就投诉了")
    await client.post("/v1/events", data=body_of(risk))
    with sqlite3.connect(db_path) as conn:  # as the alerts' queue records two hooks' outcomes
        (alert_id,) = conn.execute("SELECT id FROM qa_alerts").fetchone()
        conn.executemany(
            "INSERT INTO qa_deliveries (alert_id, plugin, state, attempts, updated_ms) VALUES (?, ?, ?, 1, 0)",
            [(alert_id, "dingtalk", "failed"), (alert_id, "my_hook", "sent")],
        )
    await page.goto(f"{base_url(client)}/qa")
    deliveries = page.locator("#alerts li.alert .delivery")
    await expect(deliveries).to_have_text(["钉钉：发送失败", "my_hook：已发送"])  # a shop's own hook by its name
    assert probe_of(page).errors == []


async def test_supervisor_page_keeps_its_token_out_of_the_page_and_its_links(
    aiohttp_client: Any, db_path: Path, page: Page
) -> None:
    # /qa?token=… wrote the token into the page's state and its links into the daily log. The page cookie carries it
    # now: the stream, and the link followed into the log.
    env = {"ASSISTANT_SUPERVISOR_TOKEN": SUPERVISOR}
    client = await aiohttp_client(make_app(load_config(ROOT / "config.toml", env=env, overrides={"store": {"path": str(db_path)}})))  # fmt: skip
    await page.set_viewport_size(DESKTOP)
    await page.goto(f"{base_url(client)}/qa?token={SUPERVISOR}")
    assert page.url == f"{base_url(client)}/qa"
    await expect(page.locator("#status")).to_have_attribute("data-state", "live")
    risk = live_event(conversation="c-risk", agent="小美", text="再不处理我就投诉了")
    await client.post("/v1/events", data=body_of(risk))
    link = page.locator("#alerts li.alert a.log").first
    await expect(link).to_have_attribute("href", re.compile(r"^/logs/daily\?date=[^#]*conversation=c-risk#"))
    assert SUPERVISOR not in await page.content() and SUPERVISOR not in (await link.get_attribute("href") or "")
    await link.click()
    await expect(page.locator("details#conv-c-risk")).to_have_attribute("open", "")  # opened with the cookie
    assert SUPERVISOR not in page.url
    assert probe_of(page).errors == []
