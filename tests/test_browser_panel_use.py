"""The agent panel in real Chromium as a keyboard and screen-reader user meets it: what is announced, where focus
stays, what 1/2/3 act on, contrast, and the boxes' keys."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Page, Request, Route, expect

from assistant.config import Config, load_config
from assistant.store import now_ms
from assistant.web.appkeys import FEED
from tests.browser import base_url, card, open_panel
from tests.helpers import ROOT, body_of, eventually, make_app, make_event, replace_config
from tests.test_chatwoot_e2e import fixture

pytestmark = pytest.mark.browser
Client = TestClient  # type: ignore[type-arg]


async def post(client: Client, **fields: Any) -> dict[str, Any]:
    resp = await client.post("/v1/events", data=body_of(make_event(**fields)))
    assert resp.status == 200
    return await resp.json()  # type: ignore[no-any-return]


def uses(db_path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute("SELECT conversation, phrase_id FROM suggestion_uses ORDER BY seq").fetchall()


async def test_panel_announces_a_buyer_message_and_keeps_its_ticking_timers_out_of_live_regions(
    client: Client, page: Page
) -> None:
    # The whole list was one aria-live region whose timers changed every second: 170 announcements in 10 s.
    t = now_ms()
    await post(client, conversation="c1", customer="买家甲", agent="a1", ts=t - 60_000, text="什么时候发货")
    await open_panel(page, f"{base_url(client)}/panel?agent=a1")
    await expect(card(page, "c1")).to_have_attribute("aria-label", "买家甲")
    live = "[aria-live]:not([aria-live='off']), [role='status'], [role='alert'], [role='log']"
    ticking = await page.evaluate(
        f"""Array.from(document.querySelectorAll("{live}"))
            .filter((r) => r.querySelector('.wait, .followup')).map((r) => r.id || r.tagName)"""
    )
    assert ticking == []
    await post(client, conversation="c1", customer="买家甲", agent="a1", ts=t, text="太贵了能便宜点吗")
    await expect(page.locator("#announce")).to_have_text(re.compile(r"^买家甲：新消息，\d+条建议$"))


async def test_panel_says_it_is_disconnected_once_while_the_server_is_away(client: Client, page: Page) -> None:
    # Each retry flipped the status region between 已断开，重连中… and 连接中…, announced every time.
    attempts: list[str] = []

    def on_request(request: Request) -> None:
        if "/v1/stream" in request.url:
            attempts.append(request.url)

    page.on("request", on_request)
    await page.route("**/v1/stream*", lambda route: route.abort())
    await page.add_init_script(
        """document.addEventListener("DOMContentLoaded", () => {
             window.statusTexts = [];
             const s = document.getElementById("status");
             new MutationObserver(() => window.statusTexts.push(s.textContent))
               .observe(s, {childList: true, characterData: true, subtree: true});
           });"""
    )
    await page.goto(f"{base_url(client)}/panel?agent=a1")
    await eventually(lambda: len(attempts) >= 3, timeout=10)  # retried twice: after 1 s, then 2 s
    await expect(page.locator("#status")).to_have_attribute("data-state", "offline")
    assert await page.evaluate("window.statusTexts") == ["已断开，重连中…"]


@pytest.mark.parametrize("moves", [True, False], ids=["card-moves", "card-stays"])
async def test_panel_keeps_focus_on_the_same_suggestion_when_the_buyer_writes_again(
    client: Client, page: Page, moves: bool
) -> None:
    # Focus fell to the page (the card moved up the urgency order) or back to the card (it stayed).
    t = now_ms()
    await post(client, conversation="other", agent="a1", ts=t - 20_000, text="什么时候发货")
    await post(client, conversation="mine", customer="买家乙", agent="a1", ts=t - 120_000, text="太贵了能便宜点吗")
    await post(client, conversation="mine", sender="agent", agent="a1", ts=t - 60_000, text="亲，已经是活动价了")
    await open_panel(page, f"{base_url(client)}/panel?agent=a1")
    await expect(page.locator(".card .conv").first).to_have_text("#other")
    button = card(page, "mine").locator(".sugg").nth(1)
    await button.focus()
    # Stamped before the other buyer's wait began, the new message moves the card to the top; after it, not.
    await post(
        client,
        conversation="mine",
        customer="买家乙",
        agent="a1",
        ts=t - (30_000 if moves else 10_000),
        text="能包邮吗",
    )
    await expect(card(page, "mine").locator(".msg .text").last).to_have_text("能包邮吗")
    await expect(page.locator(".card .conv").first).to_have_text("#mine" if moves else "#other")
    await expect(card(page, "mine").locator('.sugg[data-index="1"]')).to_be_focused()


async def test_panel_asks_for_a_fresh_choice_when_the_outlined_card_is_handed_away(
    client: Client, page: Page, db_path: Path
) -> None:
    # The outline moved silently to the most urgent card, and 1 copied that other buyer's suggestion and logged
    # suggestion_used for a conversation the agent never answered (toast: 已复制 zl9, no buyer named).
    t = now_ms()
    await post(client, conversation="urgent", customer="买家甲", agent="a1", ts=t - 60_000, text="什么时候发货")
    mine = await post(
        client, conversation="mine", customer="买家乙", agent="a1", ts=t - 30_000, text="太贵了能便宜点吗"
    )
    await open_panel(page, f"{base_url(client)}/panel?agent=a1")
    await card(page, "mine").locator(".who").click()  # choose it (a click on a suggestion would use one)
    await expect(card(page, "mine")).to_have_class(re.compile(r"\bfocused\b"))
    await post(client, type="conversation_assigned", conversation="mine", agent="小王", ts=t)
    await expect(card(page, "mine")).to_have_count(0)
    await expect(page.locator("#toast")).to_have_text("买家乙的会话已转给小王")
    await expect(page.locator("#announce")).to_have_text("买家乙的会话已转给小王")
    await expect(page.locator(".card.focused")).to_have_count(0)
    await page.keyboard.press("1")
    await expect(page.locator("#toast")).to_have_text("请先选择一个会话（点击它，或按 ↓）")
    assert uses(db_path) == []
    await page.keyboard.press("ArrowDown")  # a fresh choice: the first card
    await expect(card(page, "urgent")).to_be_focused()
    await page.keyboard.press("1")
    await expect(page.locator("#toast")).to_have_text(re.compile(r"^已复制 \S+（买家甲）$"))
    rows = await eventually(lambda: asyncio.to_thread(uses, db_path))
    assert [conversation for conversation, _ in rows] == ["urgent"]
    assert mine["suggestions"]  # what 1 would have copied on the card that left


# Every visible text of the page against what is drawn behind it: WCAG's contrast ratio, 4.5:1 for text under
# 24 px (18.66 px bold), 3:1 above; the ancestors' opacity fades the text too. A `::before` label is text.
LOW_CONTRAST = """() => {
  const rgba = (s) => { const v = s.match(/[\\d.]+/g).map(Number); return [v[0], v[1], v[2], v.length > 3 ? v[3] : 1]; };
  const over = (top, under) => [0, 1, 2].map((i) => top[i] * top[3] + under[i] * (1 - top[3])).concat(1);
  const lum = (c) => { const f = (x) => { x /= 255; return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4; };
                       return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const ground = (el) => {
    const layers = [];
    for (let n = el; n; n = n.parentElement) {
      const c = rgba(getComputedStyle(n).backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break;
    }
    return layers.reverse().reduce((under, top) => over(top, under), [255, 255, 255, 1]);
  };
  const found = [];
  const check = (el, style, text) => {
    let opacity = 1;
    for (let n = el; n; n = n.parentElement) opacity *= Number(getComputedStyle(n).opacity);
    const fg = rgba(style.color);
    fg[3] *= opacity;
    const bg = ground(el);
    const shown = over(fg, bg);
    const [a, b] = [lum(shown), lum(bg)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    const size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700;
    const least = size >= 24 || (size >= 18.66 && bold) ? 3 : 4.5;
    if (ratio < least) found.push(`${text.trim().slice(0, 12)} ${style.color} on rgb(${bg.slice(0, 3)}): ${ratio.toFixed(2)}`);
  };
  for (const el of document.body.querySelectorAll("*")) {
    if (!el.getClientRects().length || el.closest("[hidden], .visually-hidden, script")) continue;
    const style = getComputedStyle(el);
    if (style.visibility !== "visible") continue;
    const own = Array.from(el.childNodes).filter((n) => n.nodeType === 3).map((n) => n.textContent).join("");
    if (own.trim()) check(el, style, own);
    const before = getComputedStyle(el, "::before");
    if (before.content && before.content.startsWith('"') && before.content.length > 2) check(el, before, before.content);
  }
  return found;
}"""


async def test_panel_text_is_readable_at_wcag_aa_contrast(aiohttp_client: Any, config: Config, page: Page) -> None:
    # The wait timer (#ff5000 on white, 3.28:1), the suggestion codes, the demo buttons and the dimmed
    # suggestions (opacity 0.6: their score at 2.42:1) were below 4.5:1.
    client = await aiohttp_client(make_app(replace_config(config, "panel", demo=True)))
    t = now_ms()
    answer = await post(client, conversation="c-guess", agent="小美", ts=t - 60_000, text="你好")
    assert answer["suggestions"][2]["confidence"] < 0.5  # one shown dimmed
    await post(client, conversation="c-replied", agent="小美", ts=t - 90_000, text="太贵了能便宜点吗")
    await post(client, conversation="c-replied", sender="agent", agent="小美", ts=t - 80_000, text="亲，已经是活动价了")
    await post(client, type="order_created", conversation="c-replied", agent="小美", ts=t - 70_000)
    await open_panel(page, f"{base_url(client)}/panel?agent=小美")
    await expect(card(page, "c-guess").locator(".sugg.low")).to_have_count(1)
    await expect(card(page, "c-guess").locator(".wait")).to_have_text(re.compile(r"^等待"))
    assert await page.evaluate(LOW_CONTRAST) == []


async def test_panel_escape_in_the_phrase_search_closes_its_results(client: Client, page: Page) -> None:
    # Esc emptied the box and left the results covering the list.
    await open_panel(page, f"{base_url(client)}/panel?agent=a1")
    await page.keyboard.press("/")
    await page.keyboard.type("发货")
    await expect(page.locator("#search-results li").first).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(page.locator("#search")).to_have_value("")
    await expect(page.locator("#search-results li")).to_have_count(0)
    await expect(page.locator("#search")).not_to_be_focused()


async def test_panel_search_hint_fits_a_sidebar_at_200_percent_zoom(client: Client, page: Page) -> None:
    # At 180 CSS px the placeholder was cut to 搜索话术：编码或内…, losing its "/" hint.
    await page.set_viewport_size({"width": 180, "height": 780})
    await open_panel(page, f"{base_url(client)}/panel?agent=a1")
    box = page.locator("#search")
    placeholder = await box.get_attribute("placeholder")
    assert placeholder is not None and "/" in placeholder
    fits = await box.evaluate(
        """(input) => {
             const s = getComputedStyle(input);
             const ctx = document.createElement("canvas").getContext("2d");
             ctx.font = s.font;
             const room = input.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight);
             return ctx.measureText(input.placeholder).width <= room;
           }"""
    )
    assert fits


async def test_panel_enter_checks_a_draft_without_adding_a_line(client: Client, page: Page) -> None:
    # Enter ran the check and also left a new line in the draft.
    await open_panel(page, f"{base_url(client)}/panel?agent=a1")
    await page.locator("#check-text").click()
    await page.keyboard.type("亲，好的")
    await page.keyboard.press("Enter")
    await expect(page.locator("#check-results li")).to_have_count(1)
    await expect(page.locator("#check-text")).to_have_value("亲，好的")
    await page.keyboard.press("Shift+Enter")  # a new line, as in a chat box
    await expect(page.locator("#check-text")).to_have_value("亲，好的\n")


async def test_panel_link_without_an_agent_says_so_outside_chatwoot(
    aiohttp_client: Any, db_path: Path, page: Page
) -> None:
    # /panel?token=<team token> said 等待 Chatwoot 会话… with no Chatwoot anywhere.
    env = {"ASSISTANT_AGENT_TOKEN": "agent-token", "ASSISTANT_SUPERVISOR_TOKEN": "supervisor-token"}
    config = load_config(ROOT / "config.toml", env=env, overrides={"store": {"path": str(db_path)}})
    client = await aiohttp_client(make_app(config))
    await page.goto(f"{base_url(client)}/panel?token=agent-token")
    await expect(page.locator("#scope")).to_have_text("此链接未指定客服：请在链接中加上 agent=客服名")
    await expect(page.locator("#status")).to_have_text("链接里没有客服")
    await page.goto(f"{base_url(client)}/panel?embed=chatwoot&token=agent-token")
    await expect(page.locator("#scope")).to_have_text("等待 Chatwoot 会话…")


async def test_panel_says_what_to_do_when_the_stream_refuses_its_token(
    aiohttp_client: Any, db_path: Path, page: Page
) -> None:
    # The secret rotated under an open panel: every refused retry read 已断开，重连中…, as if the server were away,
    # and nothing said that only a new link would help.
    env = {"ASSISTANT_AGENT_TOKEN": "agent-token"}
    config = load_config(ROOT / "config.toml", env=env, overrides={"store": {"path": str(db_path)}})
    client = await aiohttp_client(make_app(config))
    await post(client, conversation="c1", customer="买家甲", agent="a1", text="什么时候发货")

    async def rotated(route: Route) -> None:  # the server answers a token it no longer knows
        await route.continue_(headers={**route.request.headers, "authorization": "Bearer rotated-away"})

    await page.route("**/v1/stream*", rotated)
    await page.goto(f"{base_url(client)}/panel?agent=a1&token=agent-token")
    await expect(page.locator("#status")).to_have_attribute("data-state", "denied")
    await expect(page.locator("#status")).to_have_text("令牌无效")
    await expect(page.locator("#notice")).to_have_text("此链接的令牌无效或已过期：请向主管索取新的面板链接")
    await expect(card(page, "c1")).to_be_visible()  # what the page loaded stays usable


# Where each character of the toast's "的会话已转给" is drawn, left to right as read, or turned around.
TOAST_ORDER = """() => {
  const node = document.getElementById("toast").firstChild;
  const at = node.textContent.indexOf("的会话已转给");
  return [0, 1, 2, 3].map((i) => {
    const range = document.createRange();
    range.setStart(node, at + i);
    range.setEnd(node, at + i + 1);
    return range.getBoundingClientRect().left;
  });
}"""


async def test_panel_note_naming_a_buyer_with_a_direction_mark_reads_left_to_right(
    aiohttp_client: Any, db_path: Path, page: Page
) -> None:
    # A Chatwoot contact named with U+202E (right-to-left override; a web widget's visitor types any name) turned
    # the rest of the note around: 的会话已转给小王 was drawn backwards after the name.
    hooks = {"enabled": ["chatwoot"], "chatwoot": {"allow_unsigned": True}}
    config = load_config(ROOT / "config.toml", overrides={"store": {"path": str(db_path)}, "hooks": hooks})
    client = await aiohttp_client(make_app(config))
    payload = fixture("contact_message", "42", 9901)
    for sender in (payload["conversation"]["meta"]["sender"], payload["sender"]):
        sender["name"] = "\u202e小雨"
    assert (await client.post("/v1/chatwoot", json=payload)).status == 200
    await open_panel(page, f"{base_url(client)}/panel?agent=张美玲")
    await card(page, "42").locator(".who").click()
    shop = await page.evaluate("Array.from(window.panelState.conversations.values())[0].shop")
    await post(client, type="conversation_assigned", shop=shop, conversation="42", agent="小王", ts=now_ms())
    await expect(page.locator("#toast")).to_have_text(re.compile("小雨.*的会话已转给小王$"))
    lefts = await page.evaluate(TOAST_ORDER)
    assert lefts == sorted(lefts), lefts


async def test_panel_connection_state_stays_in_view_down_a_long_list(client: Client, page: Page) -> None:
    # In Chatwoot's short frame the badge scrolled away with the header: an agent down the list did not see
    # 已断开，重连中… and kept working from cards that no longer updated.
    for n in range(6):
        await post(client, conversation=f"c{n}", customer=f"买家{n}", agent="a1", text="这件衣服什么时候发货？包邮吗？")
    await page.set_viewport_size({"width": 400, "height": 520})
    await open_panel(page, f"{base_url(client)}/panel?agent=a1")
    await page.route("**/v1/stream*", lambda route: route.abort())
    await page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    await card(page, "c5").locator(".who").click()  # the agent works at the bottom of the list
    client.app[FEED].close_all()  # the service went away: its streams end, and reconnecting fails meanwhile
    await expect(page.locator("#status")).to_have_attribute("data-state", "offline")
    await expect(page.locator("#status")).to_be_in_viewport()


async def test_panel_draft_check_announces_only_a_change_of_its_result(client: Client, page: Page) -> None:
    # The results are a live region, drawn anew at every pause in the typing: 未发现问题 was announced again and
    # again while the agent wrote a clean draft.
    await open_panel(page, f"{base_url(client)}/panel?agent=a1")
    await page.evaluate(
        """() => {
             window.checkWrites = [];
             const r = document.getElementById("check-results");
             new MutationObserver(() => window.checkWrites.push(r.textContent)).observe(r, {childList: true});
           }"""
    )
    box = page.locator("#check-text")
    for chunk in ("亲，好的", "，马上给您安排"):  # two pauses, the same result
        async with page.expect_response("**/v1/qa/check*"):
            await box.press_sequentially(chunk)
    await expect(page.locator("#check-results")).to_have_text("未发现问题")
    async with page.expect_response("**/v1/qa/check*"):
        await box.press_sequentially("，这款是全网最低价了")
    await expect(page.locator("#check-results .qa-flag")).to_have_count(1)
    writes = await page.evaluate("window.checkWrites")
    assert writes[:-1] == ["未发现问题"], writes


# The fraction of each element inside the viewport, to the percent.
IN_VIEW = """nodes => nodes.map(n => {
  const r = n.getBoundingClientRect();
  const seen = Math.max(0, Math.min(r.bottom, innerHeight) - Math.max(r.top, 0));
  return Math.round(100 * seen / r.height) / 100;
})"""


async def test_panel_long_buyer_message_leaves_the_suggestions_in_view_in_a_short_frame(
    client: Client, page: Page, tmp_path: Path
) -> None:
    # In Chatwoot's dashboard-app frame (about 380 × 550) a long buyer message took 12 lines of its card: the
    # suggestions sat below the frame's edge, and the agent scrolled for them at every such message.
    long_text = "你好，我想问一下这件羽绒服的尺码，我身高一米六五，体重一百二十斤，平时穿M码，" * 6  # 240 characters
    t = now_ms()
    await post(client, conversation="c1", customer="买家甲", agent="a1", ts=t - 60_000, text="在吗")
    await post(client, conversation="c1", customer="买家甲", agent="a1", ts=t - 50_000, sender="agent", text="在的亲")
    await post(client, conversation="c1", customer="买家甲", agent="a1", ts=t, text=long_text)
    await page.set_viewport_size({"width": 380, "height": 550})
    await open_panel(page, f"{base_url(client)}/panel?agent=a1")
    shown = card(page, "c1")
    await expect(shown.locator(".sugg")).not_to_have_count(0)
    await page.screenshot(path=str(tmp_path / "short-frame.png"))
    assert await shown.locator(".sugg kbd").count() == 3  # the ones 1, 2, 3 take
    in_view = await shown.locator(".sugg").evaluate_all(IN_VIEW)
    # All three whole: their texts took four lines each beside key, code and score, and the talk track's summary a
    # line of its own: 44 % of the third was in view. The code under the key, the summary beside the badge: 100 %.
    assert in_view == [1.0, 1.0, 1.0], in_view
    message = shown.locator(".msg").last
    text = message.locator(".text")
    assert await text.evaluate("e => e.scrollHeight > e.clientHeight + 1")  # cut to a few lines
    await expect(message.get_by_role("button", name="展开全文")).to_have_attribute("aria-expanded", "false")
    toggle = message.locator("button.more")
    # Keyboard: Tab from the card reaches it, Enter opens the whole message.
    await shown.focus()
    for _ in range(6):
        if await toggle.evaluate("e => e === document.activeElement"):
            break
        await page.keyboard.press("Tab")
    await expect(toggle).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(toggle).to_have_attribute("aria-expanded", "true")
    await expect(toggle).to_have_text("收起")
    assert await text.evaluate("e => e.scrollHeight <= e.clientHeight + 1")  # all of it shown
    # A card drawn anew (the buyer's type changes with an order) keeps it open, and the focus where it was.
    await post(client, type="order_created", conversation="c1", customer="买家甲", agent="a1", order="o1", amount=99)
    await expect(shown.locator(".orders")).to_be_visible()
    await expect(shown.locator(".msg").last.get_by_role("button", name="收起")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(shown.locator(".msg").last.get_by_role("button", name="展开全文")).to_be_visible()
    # A short message has no button.
    await expect(shown.locator(".msg").first.get_by_role("button")).to_have_count(0)


async def test_panel_several_long_messages_leave_the_suggestions_in_view_in_a_short_frame(
    client: Client, page: Page
) -> None:
    # Found: in Chatwoot's frame (380 × 550) a card of several long messages (three of the buyer's, three replies)
    # took three lines and a 展开全文 line for each of the buyer's: 8 % of the first suggestion was in view and none
    # of the other two.
    said = [
        ("agent", "亲，在的，请问有什么可以帮您？我们店铺今天全场满299减30，欢迎选购哦"),
        ("customer", "你好，我想问一下这件羽绒服的尺码，我身高一米六五，体重一百二十斤，平时穿M码，" * 6),
        ("agent", "在的亲，您稍等，我帮您看一下尺码表和库存情况，马上回复您哦"),
        ("customer", "还有就是这个颜色会不会色差很大，上次买的一件实物和图片差太多了，洗了一次就掉色，" * 5),
        ("agent", "亲，颜色是实拍的，不同显示器可能会有一点点差异，您放心购买，不满意七天无理由退换"),
        ("customer", "另外发什么快递，几天能到，我这边是新疆的偏远地区，运费要不要另外加钱，能不能包邮，" * 5),
    ]
    t = now_ms()
    for i, (sender, text) in enumerate(said):
        await post(client, conversation="c1", customer="买家甲", agent="a1", ts=t - 60_000 + i * 10_000, sender=sender, text=text)  # fmt: skip
    await page.set_viewport_size({"width": 380, "height": 550})
    await open_panel(page, f"{base_url(client)}/panel?agent=a1")
    shown = card(page, "c1")
    await expect(shown.locator(".msg")).to_have_count(6)
    await expect(shown.locator(".msg button.more")).to_have_count(6)  # every one cut, each with its button
    assert await shown.locator(".sugg kbd").count() == 3
    in_view = await shown.locator(".sugg").evaluate_all(IN_VIEW)
    assert in_view == [1.0, 1.0, 1.0], in_view
    # Readable: each suggestion's text whole; the last message its first three lines, the earlier ones a line each.
    assert await shown.locator(".sugg .text").evaluate_all("ns => ns.every(n => n.scrollHeight <= n.clientHeight + 1)")
    lines = await shown.locator(".msg .text").evaluate_all(
        "ns => ns.map(n => Math.round(n.clientHeight / parseFloat(getComputedStyle(n).lineHeight)))"
    )
    assert lines == [1, 1, 1, 1, 1, 3], lines
    # Reachable: an earlier message opens whole from its button, and the suggestions stay where they were.
    first = shown.locator(".msg").nth(1)
    await first.get_by_role("button", name="展开全文").click()
    await expect(first.get_by_role("button", name="收起")).to_have_attribute("aria-expanded", "true")
    assert await first.locator(".text").evaluate("e => e.scrollHeight <= e.clientHeight + 1 && e.scrollWidth <= e.clientWidth + 1")  # fmt: skip
    await first.get_by_role("button", name="收起").click()
    assert await shown.locator(".sugg").evaluate_all(IN_VIEW) == [1.0, 1.0, 1.0]


async def test_panel_woken_from_sleep_reconnects_at_once_and_gets_what_it_missed(client: Client, page: Page) -> None:
    # Found: a laptop woken from sleep showed 实时 over the cards of before the sleep: the sleep had killed the
    # connection without a word, and the watchdog, a timer, had stood still with the page's other timers.
    await page.clock.install()
    await open_panel(page, f"{base_url(client)}/panel?agent=a1")
    feed = client.app[FEED]
    for stream in list(feed.streams):
        feed.close(stream)  # the connection stays open and says nothing more: what a sleep leaves
    await post(client, conversation="c-asleep", customer="买家乙", agent="a1", text="在吗，我想问一下尺码")
    await page.clock.set_system_time(now_ms() + 3_600_000)  # woken an hour later: timers did not run meanwhile
    await page.clock.run_for(2_000)  # the page's first seconds awake (the watchdog had 40 s of them left)
    await expect(card(page, "c-asleep")).to_be_visible()
    await expect(page.locator("#status")).to_have_attribute("data-state", "live")
