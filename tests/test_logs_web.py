"""GET /logs/daily: the day as a page — auth, escaping, masking, folding, filters, search, links."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from assistant.web.logs import daily_log_url
from tests.daylog_day import DAY, PHONE, log_app, post_day, token_config
from tests.helpers import BACKENDS

Client = TestClient  # type: ignore[type-arg]
SUPERVISOR = {"Authorization": "Bearer sup-token"}
ADMIN = {"Authorization": "Bearer adm-token"}


@pytest.fixture
async def client(aiohttp_client: Any, db_path: Path) -> Client:
    """The log's service with the tokens set, holding the day."""
    client = await aiohttp_client(log_app(token_config(db_path)))
    await post_day(client)
    return client


class Page(HTMLParser):
    """The parts of the page the tests look at."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.details: list[tuple[str, bool]] = []  # (id, open)
        self.scripts: list[dict[str, str | None]] = []
        self.texts: list[str] = []
        self.links: list[str] = []
        self._in_text = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "details":
            self.details.append((a.get("id") or "", "open" in a))
        elif tag == "script":
            self.scripts.append(a)
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"] or "")
        self._in_text = tag == "span" and a.get("class") == "text"

    def handle_data(self, data: str) -> None:
        if self._in_text:
            self.texts.append(data)
            self._in_text = False

    @property
    def conversations(self) -> list[str]:
        return [d.removeprefix("conv-") for d, _ in self.details]


async def page(client: Client, query: str = "", headers: dict[str, str] = SUPERVISOR) -> Page:
    resp = await client.get(f"/logs/daily?date={DAY.isoformat()}&shop=shop1{query}", headers=headers)
    assert resp.status == 200, await resp.text()
    assert resp.content_type == "text/html"
    return Page(await resp.text())


async def test_logs_page_requires_the_supervisor_token(client: Client) -> None:
    url = f"/logs/daily?date={DAY.isoformat()}"
    assert (await client.get(url)).status == 401
    assert (await client.get(url, headers={"Authorization": "Bearer agent-token"})).status == 401
    assert (await client.get(url, headers={"Authorization": "Bearer wrong"})).status == 401
    assert (await client.get(url, headers=SUPERVISOR)).status == 200
    assert (await client.get(url + "&token=sup-token")).status == 200


async def test_logs_page_lists_conversations_folded_in_day_order(client: Client) -> None:
    shown = await page(client)
    assert shown.conversations == ["M", "B", "A", "Z"]
    assert not any(is_open for _, is_open in shown.details)


async def test_logs_page_summary_separates_the_agent_from_the_shop(client: Client) -> None:
    # Every shop's conversations on one page: the summary read "buyer · 小美· shop1 · 3 条消息".
    html = await (await client.get(f"/logs/daily?date={DAY.isoformat()}", headers=SUPERVISOR)).text()
    summaries = [
        " ".join(re.sub(r"<[^>]+>", " ", s).split()) for s in re.findall(r"<summary>(.*?)</summary>", html, re.S)
    ]
    with_agent = [s for s in summaries if "· shop1 ·" in s and s.count("·") >= 3]
    assert with_agent, summaries
    for summary in with_agent:
        assert re.search(r"\S · shop1 ·", summary) and not re.search(r"\S· shop1", summary), summary


async def test_logs_page_names_the_shops_zone_as_its_staff_say_it(client: Client) -> None:
    # "时区 Asia/Shanghai": an IANA id where a Chinese page says 北京时间.
    html = await (await client.get(f"/logs/daily?date={DAY.isoformat()}", headers=SUPERVISOR)).text()
    assert "时区 北京时间 ·" in html and "Asia/Shanghai" not in html


async def test_logs_page_names_a_used_phrase_by_its_code(client: Client) -> None:
    resp = await client.get(f"/logs/daily?date={DAY.isoformat()}&shop=shop1", headers=SUPERVISOR)
    html = await resp.text()
    assert "用了 fh2<" in html and "用了 shipping_time.today" not in html  # agents know phrases by code


async def test_logs_page_shows_suggestion_scores_out_of_100(client: Client) -> None:
    # Found: the page said `fh1 91.3` as the text log did, a number with no scale.
    resp = await client.get(f"/logs/daily?date={DAY.isoformat()}&shop=shop1", headers=SUPERVISOR)
    html = await resp.text()
    assert '<span class="score" title="匹配分，满分 100">91/100</span>' in html
    assert '<span class="score" title="匹配分，满分 100">55/100</span>' in html and "91.3" not in html


async def test_logs_page_names_the_shops_when_asked_for_one_the_log_lacks(client: Client) -> None:
    # shop=shop11 (a typo) said "no conversations, nor on any other day yet", as if the log were empty.
    resp = await client.get(f"/logs/daily?date={DAY.isoformat()}&shop=shop11", headers=SUPERVISOR)
    assert "日志里没有店铺 shop11（已有的店铺：shop1）。" in await resp.text()


async def test_logs_page_day_links_keep_the_filters(client: Client) -> None:
    # 前一天 / 后一天 and the date picker dropped the filters: following an agent or a search across days meant
    # setting them again on every day.
    resp = await client.get(
        f"/logs/daily?date={DAY.isoformat()}&shop=shop1&agent=A&q=发货&offset=2", headers=SUPERVISOR
    )
    html = await resp.text()
    prev = re.search(r'<a class="prev" rel="prev" href="([^"]+)"', html)
    assert prev is not None
    link = prev.group(1).replace("&amp;", "&")
    assert "date=2026-11-19" in link and "shop=shop1" in link and "agent=A" in link
    assert "q=%E5%8F%91%E8%B4%A7" in link and "offset" not in link  # a new day starts at its top
    assert '<input type="hidden" name="agent" value="A">' in html  # the date picker keeps them too


async def test_logs_page_escapes_customer_text(client: Client) -> None:
    resp = await client.get(f"/logs/daily?date={DAY.isoformat()}", headers=SUPERVISOR)
    html = await resp.text()
    assert "<script>alert(" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;我下单了" in html
    shown = Page(html)
    assert len(shown.scripts) == 1 and shown.scripts[0].get("nonce")  # only the page's own folding script
    assert "<script>alert('x')</script>我下单了" in shown.texts  # shown as text
    csp = resp.headers["Content-Security-Policy"]
    assert f"'nonce-{shown.scripts[0]['nonce']}'" in csp and "default-src 'none'" in csp


async def test_logs_page_masks_personal_data_by_default(client: Client) -> None:
    resp = await client.get(f"/logs/daily?date={DAY.isoformat()}", headers=SUPERVISOR)
    html = await resp.text()
    assert PHONE not in html and "138****5678" in html and "文三路" not in html


async def test_logs_page_unmasked_needs_the_admin_token(client: Client) -> None:
    url = f"/logs/daily?date={DAY.isoformat()}&unmasked=1"
    assert (await client.get(url, headers=SUPERVISOR)).status == 401
    resp = await client.get(url, headers=ADMIN)
    assert resp.status == 200 and PHONE in await resp.text()


async def test_logs_page_link_opens_one_conversation(client: Client) -> None:
    link = daily_log_url(DAY, "shop1", "A")
    assert link == "/logs/daily?date=2026-11-20&shop=shop1&conversation=A#conv-A"
    resp = await client.get(link.partition("#")[0], headers=SUPERVISOR)
    shown = Page(await resp.text())
    assert shown.details == [("conv-A", True)]


@pytest.mark.parametrize(
    ("query", "conversations"),
    [
        ("&agent=小王", ["M"]),
        ("&customer_type=impatient", ["A"]),
        ("&intent=shipping_time", ["A"]),
        ("&slow=1", ["M", "B", "A"]),
        ("&unanswered=1", ["M", "B", "A"]),
        ("&short=1", ["M", "A"]),  # 在的亲 and 好: under four characters
        ("&q=现货", ["B"]),
        ("&q=" + PHONE, []),  # search runs over what the page shows: masked text
        ("&q=138****5678", ["A"]),
        ("&slow=1&short=1", []),  # filters combine on one message
        # A supervisor following a complaint or an order types the buyer's id or the order number: both
        # found nothing, the search looking at message text only.
        ("&q=buyer_b", ["B"]),
        ("&q=BUYER_A", ["A"]),
        ("&q=A-1001", ["A"]),
        ("&q=a-100", ["A"]),
        ("&q=buyer_a&intent=shipping_time", ["A"]),  # the customer's own message of that intent
        ("&q=buyer_a&short=1", []),  # the id is the customer's, not on the agent's short reply
        # Full-width forms, as a phone's Chinese keyboard types them, were other characters to the search.
        ("&q=在吗?", ["A"]),  # 在吗？ was typed with a full-width question mark
        ("&q=１３８", ["A"]),  # full-width digits in the box
    ],
)
async def test_logs_page_filters(client: Client, query: str, conversations: list[str]) -> None:
    assert (await page(client, query)).conversations == conversations


async def test_logs_page_offers_the_days_values_as_filter_choices(client: Client) -> None:
    resp = await client.get(f"/logs/daily?date={DAY.isoformat()}", headers=SUPERVISOR)
    html = await resp.text()
    for value in ("小美", "小王"):
        assert f"<option>{value}</option>" in html
    # intents and customer types by their Chinese labels; the ids stay the values sent back
    assert '<option value="impatient">性急型</option>' in html
    assert '<option value="shipping_time">发货时间</option>' in html


async def test_logs_page_shows_a_filter_the_day_has_no_value_for(client: Client) -> None:
    # A kept link filtered by an intent (or agent) the day does not have: the menu read 全部 while the page
    # was filtered (and empty), and sending the form again dropped the filter without a word.
    resp = await client.get(f"/logs/daily?date={DAY.isoformat()}&intent=refund&agent=小张", headers=SUPERVISOR)
    html = await resp.text()
    assert '<option value="refund" selected>退款</option>' in html
    assert "<option selected>小张</option>" in html
    assert "这一天没有符合条件的会话。" in html


async def test_logs_page_pages_through_conversations(client: Client) -> None:
    first = await page(client, "&limit=2")
    assert first.conversations == ["M", "B"]
    next_link = next(link for link in first.links if "offset=2" in link)
    resp = await client.get(next_link, headers=SUPERVISOR)
    assert Page(await resp.text()).conversations == ["A", "Z"]


async def test_logs_page_notes_of_a_message_without_intent_start_with_a_note(client: Client) -> None:
    # A message no intent was found for read "· 类型 陌生客户 · 1分00秒后回复": a separator before nothing.
    events = [
        {"id": "N1", "type": "message", "ts": "2026-11-20T10:00:00+08:00", "shop": "shop1", "conversation": "N",
         "customer": "buyer_n", "sender": "customer", "text": "+86 13812345678 是我的号"},
        {"id": "N2", "type": "message", "ts": "2026-11-20T10:00:30+08:00", "shop": "shop1", "conversation": "N",
         "customer": "buyer_n", "sender": "agent", "agent": "小美", "text": "好的亲，已备注"},
    ]  # fmt: skip
    assert (await client.post("/v1/events", json=events)).status == 200
    resp = await client.get(f"/logs/daily?date={DAY.isoformat()}&shop=shop1&conversation=N", headers=SUPERVISOR)
    notes = re.findall(r'<span class="notes">(.*?)</span>\s*(?:</li>|<span class="notes)', await resp.text(), re.S)
    words = [" ".join(re.sub(r"<[^>]+>", " ", n).split()) for n in notes]
    assert words and words[0].endswith("30秒后回复") and "意图" not in words[0], words
    assert not any(w.startswith("·") for w in words), words


@pytest.mark.parametrize("extra", ["", "&q=在吗"])
async def test_logs_page_past_the_last_conversation_does_not_call_the_day_empty(client: Client, extra: str) -> None:
    # A page past the end (a bookmarked link, a day that was archived since) said the day had no
    # conversations (没有会话), or none matching, of a day that has them on the pages before.
    resp = await client.get(f"/logs/daily?date={DAY.isoformat()}&offset=100{extra}", headers=SUPERVISOR)
    text = await resp.text()
    assert "这一天第 100 个之后没有更多会话。" in text
    assert "没有会话。" not in text and "没有符合条件的会话" not in text


async def test_logs_page_past_the_first_does_not_read_the_conversations_before_it(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every page read and annotated all the conversations before it: on a day of 20,000 conversations the
    # last page took 3.8 s against 0.35 s for the first. Without message filters it starts at its own.
    from assistant.web import logs

    read: list[str] = []

    def spy(*args: Any, **kwargs: Any) -> Any:
        for item in iter_items(*args, **kwargs):
            read.append(item["conversation"])
            yield item

    iter_items = logs.iter_items
    monkeypatch.setattr(logs, "iter_items", spy)
    shown = await page(client, "&limit=1&offset=2")
    assert shown.conversations == ["A"]
    assert set(read) <= {"A", "Z"}, read  # M and B, on the pages before, are not read
    assert (await page(client, "&limit=1&offset=1&slow=1")).conversations == ["B"]  # filtered: counted as before


def total(html: str) -> str:
    found = re.search(r'<span class="total">(.*?)</span>', html)
    assert found is not None, html
    return found.group(1)


@BACKENDS
async def test_logs_page_says_how_many_match_on_every_page(client: Client) -> None:
    # Found: a search or a filter showed its pages (本页 1 个会话, 下一页) and never how many matched in all.
    for offset in ("0", "2", "9"):
        resp = await client.get(f"/logs/daily?date={DAY}&shop=shop1&limit=2&offset={offset}", headers=SUPERVISOR)
        assert total(await resp.text()) == "共 4 个会话"
    resp = await client.get(f"/logs/daily?date={DAY}&shop=shop1&agent=小王", headers=SUPERVISOR)
    assert total(await resp.text()) == "共 1 个会话"  # M (Z is answered the next day): the listing's own filters
    for offset in ("0", "1"):  # 在的亲 (M) and 好 (A): one a page
        resp = await client.get(f"/logs/daily?date={DAY}&shop=shop1&short=1&limit=1&offset={offset}", headers=SUPERVISOR)  # fmt: skip
        assert total(await resp.text()) == "共 2 条符合条件（2 个会话）"
    resp = await client.get(f"/logs/daily?date={DAY}&shop=shop1&q=buyer_a&limit=1", headers=SUPERVISOR)
    assert total(await resp.text()) == "共 3 条符合条件（1 个会话）"  # the buyer's three messages


async def test_logs_page_stops_counting_past_the_bound(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    # A broad filter on a big day counts the conversations past its page up to a bound, and says it stopped.
    from assistant.web import logs

    monkeypatch.setattr(logs, "COUNT_AHEAD", 0)
    resp = await client.get(f"/logs/daily?date={DAY}&shop=shop1&short=1&limit=1", headers=SUPERVISOR)
    assert total(await resp.text()) == "前 1 个符合条件的会话中有 1 条符合条件，后面还有更多"
    resp = await client.get(f"/logs/daily?date={DAY}&shop=shop1&short=1&limit=1&offset=1", headers=SUPERVISOR)
    assert total(await resp.text()) == "共 2 条符合条件（2 个会话）"  # the last page has counted them all


@pytest.mark.parametrize("day", ["2026-13-01", "9999-12-31", "0001-01-01", "1999-12-31", "2100-01-01"])
async def test_logs_page_rejects_a_bad_date(client: Client, day: str) -> None:
    resp = await client.get(f"/logs/daily?date={day}", headers=SUPERVISOR)
    assert resp.status == 400
    body = await resp.json()
    assert body["error"] == "invalid_query" and body["field"] == "date"
    resp = await client.get(f"/logs/daily?date={DAY.isoformat()}&limit=x", headers=SUPERVISOR)
    assert resp.status == 400 and (await resp.json())["field"] == "limit"


async def test_logs_page_of_an_empty_day(client: Client) -> None:
    resp = await client.get("/logs/daily?date=2020-01-01", headers=SUPERVISOR)
    text = await resp.text()
    assert resp.status == 200 and "2020-01-01 没有会话。最近有数据的一天是 " in text
