"""The agent panel in real Chromium: live suggestions, adoption clicks, escaping, reconnection, Chatwoot iframe."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from playwright.async_api import Page, expect

from assistant.bus import Update
from assistant.config import Config
from assistant.store import now_ms
from assistant.web.appkeys import BUS
from tests.browser import DESKTOP, base_url, card, open_panel, probe_of
from tests.helpers import ROOT, body_of, eventually, make_app, make_event, replace_config
from tests.service import Service

pytestmark = pytest.mark.browser
Client = TestClient  # type: ignore[type-arg]


def uses(db_path: Path) -> list[tuple[str, str, str, str]]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute(
            "SELECT conversation, customer, agent, phrase_id FROM suggestion_uses ORDER BY seq"
        ).fetchall()


async def test_panel_shows_suggestion_live(client: Client, page: Page, tmp_path: Path) -> None:
    """The suggestion appears without a reload (how fast is bench_panel's figure, not a test's)."""
    await open_panel(page, f"{base_url(client)}/panel?agent=agent1")
    await page.screenshot(path=str(tmp_path / "empty.png"))
    event = make_event(conversation="conv-fast", agent="agent1", text="在吗？这个什么时候发货")
    resp = await client.post("/v1/events", data=body_of(event))
    top = (await resp.json())["suggestions"][0]
    suggestion = card(page, "conv-fast").locator(f'.sugg[data-phrase-id="{top["phrase_id"]}"]')
    await suggestion.wait_for()
    await page.screenshot(path=str(tmp_path / "suggestion.png"), full_page=True)
    await expect(suggestion.locator(".code")).to_have_text(top["code"])
    await expect(suggestion.locator(".text")).to_have_text(top["text"])
    await expect(card(page, "conv-fast").locator(".badge")).to_be_visible()
    await expect(card(page, "conv-fast").locator(".msg .text")).to_have_text("在吗？这个什么时候发货")
    # Readable in a 360 px sidebar: nothing overflows sideways.
    assert await page.evaluate("document.documentElement.scrollWidth") <= 360
    assert probe_of(page).errors == []


async def test_panel_click_copies_suggestion_and_logs_suggestion_used(
    client: Client, page: Page, db_path: Path, tmp_path: Path
) -> None:
    resp = await client.post(
        "/v1/events",
        data=body_of(make_event(conversation="c-click", customer="buyer7", agent="agent1", text="太贵了能便宜点吗")),
    )
    suggestions = (await resp.json())["suggestions"]
    await open_panel(page, f"{base_url(client)}/panel?agent=agent1")
    button = card(page, "c-click").locator(".sugg").nth(1)
    await button.click()
    await expect(page.locator("#toast")).to_contain_text(suggestions[1]["code"])
    await page.screenshot(path=str(tmp_path / "clicked.png"), full_page=True)
    rows = await eventually(lambda: asyncio.to_thread(uses, db_path))
    assert rows == [("c-click", "buyer7", "agent1", suggestions[1]["phrase_id"])]
    assert await page.evaluate("navigator.clipboard.readText()") == suggestions[1]["text"]
    # Keyboard: "1" takes the focused (here: the clicked) conversation's first suggestion.
    await page.keyboard.press("1")
    rows = await eventually(lambda: asyncio.to_thread(lambda: uses(db_path) if len(uses(db_path)) == 2 else None))
    assert rows[1] == ("c-click", "buyer7", "agent1", suggestions[0]["phrase_id"])
    assert await page.evaluate("navigator.clipboard.readText()") == suggestions[0]["text"]


async def test_panel_keyboard_uses_most_urgent_conversation(
    client: Client, page: Page, db_path: Path, tmp_path: Path
) -> None:
    older = make_event(conversation="c-old", ts="2026-11-20T09:00:00+08:00", agent="agent1", text="什么时候发货")
    newer = make_event(conversation="c-new", ts="2026-11-20T09:30:00+08:00", agent="agent1", text="太贵了能便宜点吗")
    old_top = (await (await client.post("/v1/events", data=body_of(older))).json())["suggestions"]
    await client.post("/v1/events", data=body_of(newer))
    await open_panel(page, f"{base_url(client)}/panel?agent=agent1")
    await expect(page.locator(".card .conv").first).to_have_text("#c-old")  # waiting longest comes first
    # Marked as the card 1/2/3 act on before anything is chosen (it was not, until ↓ was pressed).
    await expect(card(page, "c-old")).to_have_class(re.compile(r"\bfocused\b"))
    await expect(card(page, "c-new")).not_to_have_class(re.compile(r"\bfocused\b"))
    # The first ↓ moves on from the outlined card (it stayed on it: the agent saw nothing happen); ↑ comes back.
    await page.keyboard.press("ArrowDown")
    await expect(card(page, "c-new")).to_be_focused()
    await page.keyboard.press("ArrowUp")
    await expect(card(page, "c-old")).to_be_focused()
    await page.keyboard.press("2")
    rows = await eventually(lambda: asyncio.to_thread(uses, db_path))
    await page.screenshot(path=str(tmp_path / "keyboard.png"), full_page=True)
    assert rows == [("c-old", "cust1", "agent1", old_top[1]["phrase_id"])]


async def test_panel_keys_do_not_use_a_suggestion_shown_as_a_guess(client: Client, page: Page, db_path: Path) -> None:
    resp = await client.post(
        "/v1/events", data=body_of(make_event(conversation="c-guess", agent="agent1", text="你好"))
    )
    suggestions = (await resp.json())["suggestions"]
    assert suggestions[0]["confidence"] >= 0.5 and suggestions[2]["confidence"] < 0.5  # 你好: the third is a guess
    served = await (await client.get("/panel", params={"agent": "agent1"})).text()  # the page before its script runs
    assert served.count('class="sugg low"') == 1 and f'data-phrase-id="{suggestions[2]["phrase_id"]}"' in served
    await open_panel(page, f"{base_url(client)}/panel?agent=agent1")
    guess = card(page, "c-guess").locator(".sugg").nth(2)
    await expect(guess).to_have_class(re.compile(r"\blow\b"))
    await expect(guess.locator("kbd")).to_have_count(0)  # no key shown on it
    await page.keyboard.press("3")
    await expect(page.locator("#toast")).to_contain_text("第3条是猜测")
    await page.keyboard.press("1")  # the first, a sure one, still answers its key
    rows = await eventually(lambda: asyncio.to_thread(uses, db_path))
    assert rows == [("c-guess", "cust1", "agent1", suggestions[0]["phrase_id"])]  # 3 recorded nothing


async def test_panel_names_the_shop_when_the_agent_serves_several(client: Client, page: Page) -> None:
    # An agent's token opens the name in every shop: two cards 买家c04 #c04 of two shops looked the same.
    for shop in ("店A", "店B"):
        await client.post("/v1/events", data=body_of(make_event(shop=shop, conversation="c04", agent="agent1")))
    await open_panel(page, f"{base_url(client)}/panel?agent=agent1")
    await expect(page.locator(".card .shop")).to_have_count(2)
    shops = await page.locator(".card .shop").all_inner_texts()
    assert sorted(shops) == ["店A", "店B"]


async def test_panel_shows_a_message_without_the_blank_lines_around_it(client: Client, page: Page) -> None:
    text = "\n\n\n   \n好的\n\n\n\n\n换行测试\n\n\n"  # the words sat below the card's box, out of sight
    await client.post("/v1/events", data=body_of(make_event(conversation="c-blank", agent="agent1", text=text)))
    await open_panel(page, f"{base_url(client)}/panel?agent=agent1")
    shown = card(page, "c-blank").locator(".msg .text").first
    await expect(shown).to_have_text("好的\n\n换行测试", use_inner_text=True)


async def recovers_from_a_stream_never_answered(page: Page, url: str, stream: str) -> None:
    """Open `url` with its first request to `stream` held without an answer (a proxy, a half-dead network):
    the page says "connecting", and once 40 s pass on its clock it asks again and goes live."""
    requests: list[Any] = []

    async def hold_the_first(route: Any) -> None:
        requests.append(route)
        if len(requests) > 1:
            await route.continue_()  # the first is left hanging: never fulfilled, never aborted

    await page.clock.install()
    await page.route(stream, hold_the_first)
    await page.goto(url)
    await eventually(lambda: len(requests) == 1)
    await expect(page.locator("#status")).to_have_attribute("data-state", "connecting")
    await page.clock.run_for(45_000)  # past the watchdog (40 s)
    await expect(page.locator("#status")).to_have_attribute("data-state", "live", timeout=5000)
    assert len(requests) == 2


async def test_panel_retries_a_stream_request_that_is_never_answered(client: Client, page: Page) -> None:
    # The watchdog started only once the stream answered: a request held without an answer left the panel
    # "connecting" for good, with nothing to say it was not live.
    await recovers_from_a_stream_never_answered(page, f"{base_url(client)}/panel?agent=agent1", "**/v1/stream*")


async def test_panel_shows_customer_html_as_text_and_runs_nothing(client: Client, page: Page, tmp_path: Path) -> None:
    attack = "<img src=x onerror=alert(1)>"
    await open_panel(page, f"{base_url(client)}/panel?agent=agent1")
    await client.post(
        "/v1/events",
        data=body_of(make_event(conversation="c-xss", customer="<svg/onload=alert(2)>", agent="agent1", text=attack)),
    )
    message = card(page, "c-xss").locator(".msg .text")
    await expect(message).to_have_text(attack)
    await expect(card(page, "c-xss").locator(".who")).to_have_text("<svg/onload=alert(2)>")
    await page.screenshot(path=str(tmp_path / "live.png"), full_page=True)
    # The server-rendered page escapes it too.
    await page.reload()
    await expect(card(page, "c-xss").locator(".msg .text")).to_have_text(attack)
    html = await (await client.get("/panel?agent=agent1")).text()
    assert attack not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    # No element was made from the text, so no handler exists that could run later.
    await page.screenshot(path=str(tmp_path / "reloaded.png"), full_page=True)
    assert await page.locator("#conversations img, #conversations svg").count() == 0
    assert probe_of(page).dialogs == []
    assert probe_of(page).errors == []


async def test_panel_shows_followup_countdown_and_state(client: Client, page: Page, tmp_path: Path) -> None:
    await client.post("/v1/events", data=body_of(make_event(conversation="c-idle", agent="agent1")))
    await open_panel(page, f"{base_url(client)}/panel?agent=agent1")
    bus = client.app[BUS]
    bus.publish(Update("followup", "shop1", "c-idle", "agent1", {"state": "armed", "due_ms": now_ms() + 299_000}))
    line = card(page, "c-idle").locator(".followup")
    await expect(line).to_have_text(re.compile(r"跟进倒计时 4:5\d"))
    await page.screenshot(path=str(tmp_path / "countdown.png"), full_page=True)
    bus.publish(Update("followup", "shop1", "c-idle", "agent1", {"state": "sent", "text": "亲，还在吗？"}))
    await expect(line).to_contain_text("已自动发送跟进")
    await expect(line.locator(".followup-text")).to_have_text("亲，还在吗？")
    await expect(line.locator("button.followup-text")).to_have_count(0)  # sent: shown, not offered to copy
    bus.publish(Update("followup", "shop1", "c-idle", "agent1", {"state": "cancelled", "reason": "customer_replied"}))
    await expect(line).to_be_hidden()


async def test_panel_fits_a_sidebar_at_200_percent_zoom(client: Client, page: Page, tmp_path: Path) -> None:
    # A 360 px sidebar at 200 % zoom is 180 CSS px: the page once kept 280 px, so the wait, the live status
    # and the scores sat off-screen; and one long message made its card six screens tall.
    long_text = "这件衣服的面料我想问一下，" * 350  # about 4,900 characters (the limit is 5,000)
    for conversation, text in (("long", long_text), ("short", "在吗，今天能发货吗")):
        await client.post("/v1/events", data=body_of(make_event(conversation=conversation, agent="agent1", text=text)))
    await page.set_viewport_size({"width": 180, "height": 390})
    await open_panel(page, f"{base_url(client)}/panel?agent=agent1")
    await expect(page.locator(".card")).to_have_count(2)
    await page.screenshot(path=str(tmp_path / "zoom200.png"), full_page=True)
    assert await page.evaluate("document.documentElement.scrollWidth") <= 180
    for selector in ("#status", ".card .wait", ".card .sugg .score"):
        box = await page.locator(selector).first.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 180, selector
    text = card(page, "long").locator(".msg .text").first
    assert await text.evaluate("e => e.scrollHeight > e.clientHeight")  # its first lines; 展开全文 shows the rest
    box = await card(page, "long").bounding_box()
    assert box is not None and box["height"] < 3 * 390


async def test_panel_leaves_an_old_event_delivered_late_off_the_list(client: Client, page: Page) -> None:
    # The list leaves out conversations quiet for open_hours; a late delivery of an old message once put its
    # two-day-old conversation at the head of every open list, waiting 2 days.
    await client.post("/v1/events", data=body_of(make_event(conversation="today", agent="agent1")))
    await open_panel(page, f"{base_url(client)}/panel?agent=agent1")
    old = make_event(conversation="two-days-ago", agent="agent1", ts="2026-11-18T09:00:00+08:00", text="好的谢谢")
    await client.post("/v1/events", data=body_of(old))
    fresh = make_event(conversation="later", agent="agent1", ts="2026-11-20T10:05:00+08:00", text="在吗")
    await client.post("/v1/events", data=body_of(fresh))
    await card(page, "later").wait_for()  # updates arrive in order: the old one has been seen by now
    await expect(card(page, "two-days-ago")).to_have_count(0)
    await expect(page.locator(".card")).to_have_count(2)


async def test_panel_demo_box_posts_customer_message(
    aiohttp_client: Any, config: Config, page: Page, tmp_path: Path
) -> None:
    client = await aiohttp_client(make_app(replace_config(config, "panel", demo=True)))
    text = "能便宜点吗？别家才卖50"
    expected = await (await client.get("/v1/suggest", params={"text": text})).json()
    await open_panel(page, f"{base_url(client)}/panel?agent=小美")
    await page.fill("#demo-text", text)
    await page.click('#demo-form button[data-sender="customer"]')
    demo = card(page, "demo-1")
    await expect(demo.locator(".sugg .code").first).to_have_text(expected["suggestions"][0]["code"])
    await expect(demo.locator(".badge")).to_have_text(expected["customer_type"]["label"])
    await expect(demo.locator(".cues")).to_have_text("、".join(expected["customer_type"]["evidence"]))
    await page.screenshot(path=str(tmp_path / "demo.png"), full_page=True)


async def test_panel_search_box_finds_phrases(client: Client, page: Page, tmp_path: Path) -> None:
    await open_panel(page, f"{base_url(client)}/panel?agent=agent1")
    await page.keyboard.press("/")
    await page.keyboard.type("发货")
    await expect(page.locator("#search-results .sugg").first).to_be_visible()
    await page.screenshot(path=str(tmp_path / "search.png"), full_page=True)
    assert await page.locator("#search-results .sugg .text").count() >= 1


async def test_panel_supervisor_desktop_view_shows_every_agent(client: Client, page: Page, tmp_path: Path) -> None:
    await client.post("/v1/events", data=body_of(make_event(conversation="c-a", agent="agent1")))
    await client.post("/v1/events", data=body_of(make_event(conversation="c-b", agent="agent2", text="可以开发票吗")))
    await page.set_viewport_size(DESKTOP)
    await open_panel(page, f"{base_url(client)}/panel")  # no tokens configured: the supervisor view is open
    await expect(page.locator(".card")).to_have_count(2)
    await expect(card(page, "c-b").locator(".owner")).to_have_text("agent2")
    await page.screenshot(path=str(tmp_path / "desktop.png"), full_page=True)


CHATWOOT_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>Chatwoot (test double)</title></head>
<body>
<h1>Conversation 42</h1>
<iframe id="dashboard-app" src="{panel}" width="380" height="720"></iframe>
<script>
  const context = {{
    event: "appContext",
    data: {{
      conversation: {{id: 42, account_id: 1, inbox_id: 3, status: "open",
                      meta: {{sender: {{id: 9, name: "王芳"}}, assignee: {{id: 5, name: "李雷"}}}}}},
      contact: {{id: 9, name: "王芳"}},
      currentAgent: {{id: 5, name: "李雷", email: "lilei@example.com"}}
    }}
  }};
  window.asked = 0;
  window.addEventListener("message", (event) => {{
    if (event.data === "chatwoot-dashboard-app:fetch-info") {{
      window.asked += 1;
      document.getElementById("dashboard-app").contentWindow.postMessage(JSON.stringify(context), "*");
    }}
  }});
</script>
</body></html>
"""


async def test_panel_in_chatwoot_iframe_shows_that_conversation(
    client: Client, aiohttp_server: Any, page: Page, db_path: Path, tmp_path: Path
) -> None:
    resp = await client.post(
        "/v1/events",
        data=body_of(
            make_event(shop="chatwoot-1", conversation="42", customer="9", agent="李雷", text="在吗？这个什么时候发货")
        ),
    )
    top = (await resp.json())["suggestions"][0]
    await client.post("/v1/events", data=body_of(make_event(conversation="other", agent="agent1")))

    async def host(request: web.Request) -> web.Response:
        panel_url = f"{base_url(client)}/panel?embed=chatwoot"  # the URL docs/chatwoot.md gives
        return web.Response(text=CHATWOOT_PAGE.format(panel=panel_url), content_type="text/html")

    chatwoot = web.Application()
    chatwoot.router.add_get("/app/accounts/1/conversations/42", host)
    server = await aiohttp_server(chatwoot)  # another origin, as Chatwoot is
    await page.set_viewport_size({"width": 420, "height": 800})
    await page.goto(f"http://127.0.0.1:{server.port}/app/accounts/1/conversations/42")
    panel = page.frame_locator("#dashboard-app")
    await expect(panel.locator(".card")).to_have_count(1)
    await expect(panel.locator(".card .conv")).to_have_text("#42")
    await expect(panel.locator(f'.sugg[data-phrase-id="{top["phrase_id"]}"] .text')).to_have_text(top["text"])
    await expect(panel.locator(".badge")).to_be_visible()
    await expect(panel.locator("#status")).to_have_attribute("data-state", "live")
    assert await page.evaluate("window.asked") >= 1
    await page.screenshot(path=str(tmp_path / "chatwoot-iframe.png"), full_page=True)
    # Live updates of that conversation reach the iframe; suggestion_used is credited to Chatwoot's agent.
    resp = await client.post(
        "/v1/events",
        data=body_of(
            make_event(shop="chatwoot-1", conversation="42", customer="9", agent="李雷", text="太贵了能便宜点吗")
        ),
    )
    first = (await resp.json())["suggestions"][0]
    await expect(panel.locator(".msg .text").last).to_have_text("太贵了能便宜点吗")
    await panel.locator(".sugg").first.click()
    rows = await eventually(lambda: asyncio.to_thread(uses, db_path))
    assert rows[0][:3] == ("42", "9", "李雷")
    # Chatwoot's frame has no allow="clipboard-write": the copy still reaches the clipboard.
    # The contact is known by id only (no payload gave a name): named 买家 #9, not 9 as if that were a name.
    await expect(panel.locator("#toast")).to_have_text("已复制 " + first["code"] + "（买家 #9）")
    assert await page.evaluate("navigator.clipboard.readText()") == first["text"]


@pytest.mark.slow
async def test_panel_reconnects_after_server_restart(page: Page, tmp_path: Path) -> None:
    db = tmp_path / "restart.db"
    env = {
        "ASSISTANT_WEBHOOK_SECRET": "",
        "ASSISTANT_AGENT_TOKEN": "",
        "ASSISTANT_SUPERVISOR_TOKEN": "",
        "ASSISTANT_ADMIN_TOKEN": "",
    }
    first = await Service(ROOT / "config.toml", db, env=env).start()
    try:
        await open_panel(page, f"{first.url}/panel?agent=agent1")
        await page.evaluate("window.sameDocument = true")
        # An open event stream must not hold up the shutdown (aiohttp would wait out its 10 s timeout).
        assert first.terminate(timeout=5) == 0
        await expect(page.locator("#status")).not_to_have_attribute("data-state", "live")
        await page.screenshot(path=str(tmp_path / "server-down.png"), full_page=True)
    finally:
        first.stop()
    second = await Service(ROOT / "config.toml", db, env=env, port=first.port).start()
    try:
        event = make_event(conversation="after-restart", agent="agent1", text="在吗？这个什么时候发货")
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{second.url}/v1/events", data=json.dumps(event, ensure_ascii=False)) as resp:
                assert resp.status == 200
                top = (await resp.json())["suggestions"][0]
        suggestion = card(page, "after-restart").locator(f'.sugg[data-phrase-id="{top["phrase_id"]}"]')
        await expect(suggestion).to_be_visible(timeout=10_000)
        await expect(page.locator("#status")).to_have_attribute("data-state", "live")
        assert await page.evaluate("window.sameDocument") is True  # recovered by itself, not reloaded
        await page.screenshot(path=str(tmp_path / "reconnected.png"), full_page=True)
    finally:
        second.stop()


@pytest.mark.slow
async def test_panel_says_what_it_missed_after_a_restart_it_could_not_resume(page: Page, tmp_path: Path) -> None:
    # Found: a panel open across a restart (SIGTERM or SIGKILL) came back with a snapshot (its last event id belongs to
    # the old process) and redrew its list without a word: a buyer who wrote meanwhile got no announcement, and
    # nothing said that the updates between had not been replayed.
    db = tmp_path / "missed.db"
    env = {name: "" for name in ("ASSISTANT_WEBHOOK_SECRET", "ASSISTANT_AGENT_TOKEN", "ASSISTANT_SUPERVISOR_TOKEN")}
    env["ASSISTANT_ADMIN_TOKEN"] = ""
    service = await Service(ROOT / "config.toml", db, env=env).start()
    missed = page.locator("#missed")
    try:
        await open_panel(page, f"{service.url}/panel?agent=agent1")
        await page.evaluate("window.sameDocument = true")
        for n, stop in enumerate(("terminate", "kill")):
            before = make_event(conversation=f"before-{n}", customer=f"买家{n}", agent="agent1", text="在吗")
            async with aiohttp.ClientSession() as session:
                assert (await session.post(f"{service.url}/v1/events", data=body_of(before))).status == 200
            await expect(card(page, f"before-{n}")).to_have_count(1)
            await expect(missed).to_be_hidden()
            await page.route("**/v1/stream**", lambda route: route.abort())  # away while the service restarts
            if stop == "terminate":
                assert service.terminate(timeout=5) == 0
            else:
                service.kill()
            await expect(page.locator("#status")).to_have_text("已断开，重连中…")
            service = await Service(ROOT / "config.toml", db, env=env, port=service.port).start()
            meanwhile = make_event(
                conversation=f"meanwhile-{n}", customer=f"新买家{n}", agent="agent1", text="什么时候发货"
            )
            async with aiohttp.ClientSession() as session:
                assert (await session.post(f"{service.url}/v1/events", data=body_of(meanwhile))).status == 200
            await page.unroute("**/v1/stream**")
            await expect(page.locator("#status")).to_have_attribute("data-state", "live", timeout=15_000)
            await expect(missed).to_be_visible()
            await expect(missed).to_contain_text("断开期间的更新无法逐条补发")
            await expect(missed).to_contain_text(f"期间有新消息：新买家{n}")
            for conversation in [f"before-{i}" for i in range(n + 1)] + [f"meanwhile-{i}" for i in range(n + 1)]:
                await expect(card(page, conversation)).to_have_count(1)  # none lost, none twice
            await page.screenshot(path=str(tmp_path / f"missed-{stop}.png"), full_page=True)
            await missed.get_by_role("button").click()
            await expect(missed).to_be_hidden()
        assert await page.evaluate("window.sameDocument") is True  # recovered by itself, not reloaded
    finally:
        service.stop()


async def test_panel_badge_says_not_sure_on_weak_evidence(client: Client, page: Page, tmp_path: Path) -> None:
    url = f"{base_url(client)}/panel?agent=agent1"
    await open_panel(page, url)
    weak = make_event(conversation="c-weak", agent="agent1", text="下周要出差 还没发货吗")
    clear = make_event(conversation="c-clear", agent="agent1", text="急用 快点发货")
    weak_type = (await (await client.post("/v1/events", data=body_of(weak))).json())["customer_type"]
    clear_type = (await (await client.post("/v1/events", data=body_of(clear))).json())["customer_type"]
    assert (weak_type["sure"], clear_type["sure"]) == (False, True)
    for reloaded in (False, True):  # drawn from the live feed, then from the page's state after a reload
        if reloaded:
            await open_panel(page, url)
        unsure = card(page, "c-weak").locator(".badge")
        await expect(unsure).to_have_text("不确定")
        await expect(unsure).to_have_attribute("data-sure", "false")
        await expect(card(page, "c-weak").locator(".cues")).to_have_text("、".join(weak_type["evidence"]))
        named = card(page, "c-clear").locator(".badge")
        await expect(named).to_have_text(clear_type["label"])
        await expect(named).to_have_attribute("data-sure", "true")
    await page.screenshot(path=str(tmp_path / "not-sure.png"), full_page=True)


async def test_panel_badge_shows_both_types_of_a_near_tie(client: Client, page: Page) -> None:
    url = f"{base_url(client)}/panel?agent=agent1"
    await open_panel(page, url)
    tie = make_event(conversation="c-tie", agent="agent1", text="做工好吗 别家")
    kind = (await (await client.post("/v1/events", data=body_of(tie))).json())["customer_type"]
    for reloaded in (False, True):  # drawn from the live feed, then from the page's state after a reload
        if reloaded:
            await open_panel(page, url)
        badge = card(page, "c-tie").locator(".badge")
        await expect(badge).to_have_text(f"待定：{kind['label']}或{kind['rival']['label']}")
        await expect(badge).to_have_attribute("data-sure", "close")


def followup_rows(db: Path) -> dict[str, str]:
    with sqlite3.connect(db) as conn:
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'followups'").fetchone() is None:
            return {}
        return dict(conn.execute("SELECT conversation, state FROM followups").fetchall())


def armed(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'timers'").fetchone() is None:
            return set()
        return {c for (c,) in conn.execute("SELECT conversation FROM timers WHERE state = 'armed'")}


@pytest.mark.slow
async def test_panel_shows_countdown_and_prompt_again_after_sigkill(page: Page, tmp_path: Path) -> None:
    db = tmp_path / "kill.db"
    env = {
        "ASSISTANT_WEBHOOK_SECRET": "",
        "ASSISTANT_AGENT_TOKEN": "",
        "ASSISTANT_SUPERVISOR_TOKEN": "",
        "ASSISTANT_ADMIN_TOKEN": "",
    }  # the shipped config: mode "suggest", idle_seconds 300
    first = await Service(ROOT / "config.toml", db, env=env).start()
    now = now_ms()
    events = [
        make_event(sender="agent", agent="agent1", conversation="c-countdown", text="亲，这款有现货哦", ts=now),
        # Written almost five minutes ago, delivered only now: its idle period ends in a second.
        make_event(sender="agent", agent="agent1", conversation="c-prompt", text="亲，在的", ts=now - 299_000),
    ]
    try:
        async with aiohttp.ClientSession() as session:
            for event in events:
                async with session.post(f"{first.url}/v1/events", data=body_of(event)) as resp:
                    assert resp.status == 200
        await open_panel(page, f"{first.url}/panel?agent=agent1")
        await page.evaluate("window.sameDocument = true")
        countdown = card(page, "c-countdown").locator(".followup")
        prompt = card(page, "c-prompt").locator(".followup")
        await expect(countdown).to_have_text(re.compile(r"跟进倒计时 4:[45]\d"))
        await expect(prompt.locator(".followup-label")).to_have_text("建议跟进：", timeout=10_000)
        suggested = await prompt.locator(".followup-text").text_content()
        due = await countdown.get_attribute("data-due")
        assert suggested and due == str(now + 300_000)
        await page.screenshot(path=str(tmp_path / "before-kill.png"), full_page=True)
        # Both are on disk (the timer is written behind, the prompt when it is made) before the kill.
        await eventually(lambda: armed(db) == {"c-countdown"} and followup_rows(db) == {"c-prompt": "suggested"})
        first.kill()
        await expect(page.locator("#status")).not_to_have_attribute("data-state", "live")
    finally:
        first.stop()
    second = await Service(ROOT / "config.toml", db, env=env, port=first.port).start()
    try:
        await expect(page.locator("#status")).to_have_attribute("data-state", "live", timeout=15_000)
        await expect(countdown).to_have_text(re.compile(r"跟进倒计时 4:[0-5]\d"))
        await expect(countdown).to_have_attribute("data-due", due)
        await expect(prompt.locator(".followup-label")).to_have_text("建议跟进：")
        await expect(prompt.locator(".followup-text")).to_have_text(suggested)
        assert await page.evaluate("window.sameDocument") is True  # the stream came back, the page was not reloaded
        await page.screenshot(path=str(tmp_path / "after-restart.png"), full_page=True)
        # A page opened afresh shows the same.
        await page.reload()
        await expect(page.locator("#status")).to_have_attribute("data-state", "live")
        await expect(card(page, "c-countdown").locator(".followup")).to_have_attribute("data-due", due)
        await expect(card(page, "c-prompt").locator(".followup-text")).to_have_text(suggested)
        assert probe_of(page).errors == []
    finally:
        second.stop()


async def test_panel_drops_a_followup_once_the_customer_writes_after_it(
    client: Client, page: Page, tmp_path: Path
) -> None:
    fired = now_ms() - 60_000
    await client.post("/v1/events", data=body_of(make_event(conversation="c-back", agent="agent1", ts=fired - 400_000)))
    await open_panel(page, f"{base_url(client)}/panel?agent=agent1")
    payload = {"state": "suggested", "text": "亲，还在吗？", "fired_ms": fired, "followup_id": "fu-1"}
    client.app[BUS].publish(Update("followup", "shop1", "c-back", "agent1", payload))
    line = card(page, "c-back").locator(".followup")
    await expect(line.locator(".followup-text")).to_have_text("亲，还在吗？")
    # Written before the prompt, delivered after it: the prompt still stands.
    earlier = make_event(conversation="c-back", agent="agent1", text="我问一下尺码", ts=fired - 1000)
    await client.post("/v1/events", data=body_of(earlier))
    await expect(card(page, "c-back").locator(".msg .text").last).to_have_text("我问一下尺码")
    await expect(line.locator(".followup-text")).to_have_text("亲，还在吗？")
    await client.post(
        "/v1/events", data=body_of(make_event(conversation="c-back", agent="agent1", text="还在的", ts=now_ms()))
    )
    await expect(card(page, "c-back").locator(".followup")).to_be_hidden()
    await page.screenshot(path=str(tmp_path / "came-back.png"), full_page=True)


async def test_panel_says_no_messages_for_a_conversation_an_order_opened(client: Client, page: Page) -> None:
    # An order can come before any word (a buyer who just pays): nobody waits and nobody replied.
    await client.post("/v1/events", data=body_of(make_event("order_created", conversation="first", agent="小美")))
    await open_panel(page, f"{base_url(client)}/panel?agent=小美")
    await expect(card(page, "first").locator(".wait")).to_have_text("暂无消息")  # rendered by the server
    await client.post("/v1/events", data=body_of(make_event("order_created", conversation="live", agent="小美")))
    await expect(card(page, "live").locator(".wait")).to_have_text("暂无消息")  # built by panel.js
    await client.post("/v1/events", data=body_of(make_event(conversation="live", agent="小美", text="发货了吗")))
    await expect(card(page, "live").locator(".wait")).to_contain_text("等待")
    await client.post(
        "/v1/events", data=body_of(make_event(conversation="live", agent="小美", sender="agent", text="亲，今天发"))
    )
    await expect(card(page, "live").locator(".wait")).to_have_text("已回复")
    assert probe_of(page).errors == []
