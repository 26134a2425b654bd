"""GET /reports/daily and /v1/reports/daily: supervisor token, query validation, JSON and HTML."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from assistant import store
from assistant.clock import local_day
from assistant.config import Config, load_config
from assistant.kpi import metrics, report
from assistant.web import reports
from tests.helpers import make_app
from tests.kpi_log import SHOP, D, Log

TOKENS = {
    "ASSISTANT_SUPERVISOR_TOKEN": "sup-token",
    "ASSISTANT_AGENT_TOKEN": "agent-token",
    "ASSISTANT_ADMIN_TOKEN": "admin-token",
}
SUPERVISOR = {"Authorization": "Bearer sup-token"}


@pytest.fixture
def config() -> Config:
    return load_config(None, env=TOKENS)


@pytest.fixture
def log(tmp_path: Path, config: Config) -> Iterator[Log]:
    built = Log(tmp_path / "web.db", config)
    built.customer("10:00", "<script>alert(1)</script>")
    built.agent("10:02", "A", text="好")
    built.order("10:05", "o1", 66.6, agent="A")
    built.paid("10:06", "o1", 66.6)
    yield built
    built.close()


@pytest.fixture
async def client(aiohttp_client: Any, config: Config, log: Log) -> TestClient:  # type: ignore[type-arg]
    return await aiohttp_client(make_app(config, db_path=log.path))


@pytest.mark.parametrize("path", ["/reports/daily", "/v1/reports/daily"])
async def test_report_web_requires_a_supervisor_token(client: TestClient, path: str) -> None:  # type: ignore[type-arg]
    query = f"?date={D.isoformat()}"
    assert (await client.get(path + query)).status == 401
    assert (await client.get(path + query, headers={"Authorization": "Bearer agent-token"})).status == 401
    assert (await client.get(path + query, headers={"Authorization": "Bearer wrong"})).status == 401
    assert (await client.get(path + query, headers=SUPERVISOR)).status == 200
    assert (await client.get(path + query, headers={"Authorization": "Bearer admin-token"})).status == 200


async def test_report_web_json_is_the_report(client: TestClient, log: Log) -> None:  # type: ignore[type-arg]
    resp = await client.get(f"/v1/reports/daily?date={D.isoformat()}&shop={SHOP}", headers=SUPERVISOR)
    assert resp.status == 200
    body = await resp.json()
    live = metrics.build_reports(lambda: store.connect(log.path, readonly=True), log.config, D, shop=SHOP)  # real clock
    expected = report.to_json(live)
    assert body == expected
    assert body["agents"][0]["agent"] == "A" and body["agents"][0]["sales"] == 66.6
    assert set(body) == {"shop", "date", "timezone", "pending", "payment_window_hours", "payment_window_changes", "agents", "team", "late_refunds", "qa", "supervisor_commission", "conversion_record"}  # fmt: skip
    assert body["payment_window_changes"] == []


async def test_report_web_json_lists_every_active_shop(client: TestClient, log: Log) -> None:  # type: ignore[type-arg]
    log.customer("11:00", shop="s2", conversation="x", customer="ux")
    body = await (await client.get(f"/v1/reports/daily?date={D.isoformat()}", headers=SUPERVISOR)).json()
    assert [doc["shop"] for doc in body] == ["s1", "s2"]


async def test_report_web_mistyped_shop_is_no_data_not_a_report_of_zeros(client: TestClient) -> None:  # type: ignore[type-arg]
    # shop=s11 (a typo of s1) answered a full report of zeros headed by the shop that does not exist
    resp = await client.get(f"/v1/reports/daily?date={D.isoformat()}&shop=s11", headers=SUPERVISOR)
    assert resp.status == 200 and await resp.json() == [] and "X-Latest-Date" not in resp.headers
    html = await (await client.get(f"/reports/daily?date={D.isoformat()}&shop=s11", headers=SUPERVISOR)).text()
    assert "日志里没有店铺 s11（已有的店铺：s1）。" in html and "客服排名" not in html  # not "no other day has data"


async def test_report_web_reads_a_shop_as_events_name_it(client: TestClient) -> None:  # type: ignore[type-arg]
    # Events' shop names are trimmed: a supervisor who pasted " s1" got [] and no word.
    for shop in ("%20s1", "s1%20", "%EF%BB%BFs1"):
        resp = await client.get(f"/v1/reports/daily?date={D.isoformat()}&shop={shop}", headers=SUPERVISOR)
        assert (await resp.json())["shop"] == "s1", shop
        page = await (await client.get(f"/logs/daily?date={D.isoformat()}&shop={shop}", headers=SUPERVISOR)).text()
        assert "日志里没有店铺" not in page, shop


async def test_report_web_range(client: TestClient) -> None:  # type: ignore[type-arg]
    resp = await client.get("/v1/reports/daily?from=2026-11-19&to=2026-11-21&shop=s1", headers=SUPERVISOR)
    body = await resp.json()
    assert body["date"] == "2026-11-19/2026-11-21" and body["team"]["consulted"] == 1


async def test_report_web_page_chooses_a_range_and_names_it_a_report_not_a_daily(
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    # A month was reachable only by typing from/to into the URL, and its page and workbook were 客服日报.
    day = await (await client.get(f"/reports/daily?date={D.isoformat()}&shop={SHOP}", headers=SUPERVISOR)).text()
    assert '<input type="date" name="from" value="2026-11-01">' in day  # the month to date
    assert f'<input type="date" name="to" value="{D.isoformat()}"' in day and "<title>客服日报" in day
    resp = await client.get(f"/reports/daily?from=2026-11-19&to=2026-11-21&shop={SHOP}", headers=SUPERVISOR)
    month = await resp.text()
    assert "<title>客服报表 · 2026-11-19 至 2026-11-21" in month and "<h1>客服报表" in month and "客服日报" not in month
    # the range as a reader says it, where the page wrote ISO 8601's 2026-11-19/2026-11-21
    assert '<p class="meta">2026-11-19 至 2026-11-21（北京时间） ·' in month and "2026-11-19/" not in month
    assert '<input type="date" name="from" value="2026-11-19">' in month
    assert "人次" in month and "人次" not in day
    assert f'href="/reports/daily?date=2026-11-19&amp;shop={SHOP}"' in month  # back to one day
    resp = await client.get(f"/reports/daily?from=2026-11-19&to=2026-11-21&shop={SHOP}&format=xlsx", headers=SUPERVISOR)
    assert "%E5%AE%A2%E6%9C%8D%E6%8A%A5%E8%A1%A8" in resp.headers["Content-Disposition"]  # 客服报表


async def test_report_web_page_of_a_range_without_conversations_is_the_ranges_report(
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    # It was shown as a one-day 客服日报 of the range's first day: "2026-11-01 没有会话。最近有数据的一天是 …".
    html = await (await client.get("/reports/daily?from=2026-11-01&to=2026-11-10", headers=SUPERVISOR)).text()
    assert "<title>客服报表 · 2026-11-01 至 2026-11-10</title>" in html and "客服日报" not in html
    assert f'<p class="empty-day">2026-11-01 到 2026-11-10 之间没有会话。最近有数据的一天是 {D}。</p>' in html
    assert '<input type="date" name="to" value="2026-11-10"' in html  # the form keeps the range


async def test_report_web_page_is_html_with_a_strict_policy(client: TestClient) -> None:  # type: ignore[type-arg]
    resp = await client.get(f"/reports/daily?date={D.isoformat()}&token=sup-token")
    assert resp.status == 200
    assert resp.content_type == "text/html"
    assert resp.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    html = await resp.text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    # The links carry no token, also for a program that sent it in the URL (a browser carries the page cookie).
    assert f'href="/logs/daily?date={D.isoformat()}&amp;shop={SHOP}&amp;conversation=c1#conv-c1"' in html
    assert "sup-token" not in html


async def test_report_web_page_keeps_header_tokens_out_of_links(client: TestClient) -> None:  # type: ignore[type-arg]
    html = await (await client.get(f"/reports/daily?date={D.isoformat()}", headers=SUPERVISOR)).text()
    assert "token=" not in html


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("date=2026-13-01", "date"),
        ("date=yesterday", "date"),
        ("from=2026-11-01", "to"),
        ("to=2026-11-01", "from"),
        ("from=2026-11-05&to=2026-11-01", "to"),
        ("date=2026-11-01&from=2026-11-01&to=2026-11-02", "date"),
        ("from=2026-01-01&to=2026-12-31", "to"),
        ("date=2026-11-20&shop=" + "x" * 201, "shop"),
        # Days no event can be on; the last one's next day is past what a date holds.
        ("date=9999-12-31", "date"),
        ("date=0001-01-01", "date"),
        ("from=9999-12-30&to=9999-12-31", "from"),
        ("from=2099-12-30&to=2100-01-01", "to"),
    ],
)
@pytest.mark.parametrize("path", ["/reports/daily", "/v1/reports/daily"])
async def test_report_web_rejects_bad_query_naming_the_field(
    client: TestClient,
    path: str,
    query: str,
    field: str,  # type: ignore[type-arg]
) -> None:
    resp = await client.get(f"{path}?{query}", headers=SUPERVISOR)
    assert resp.status == 400
    body = await resp.json()
    assert (body["error"], body["field"]) == ("invalid_query", field)


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ("from=2026-12-05&to=2026-11-28", "链接中的结束日（to）不对：结束日 2026-11-28 早于起始日 2026-12-05"),
        ("from=2026-01-01&to=2026-12-31", "链接中的结束日（to）不对：日期范围最多 92 天"),
        ("from=2026-11-01", "链接中的结束日（to）不对：一段日期需要同时给出起始日（from）和结束日（to）"),
        ("date=2026-13-01", "链接中的日期（date）不对：应为 YYYY-MM-DD 格式的日期，收到的是 &#39;2026-13-01&#39;"),
    ],
)
async def test_report_web_page_says_a_bad_range_in_the_pages_language(
    client: TestClient,  # type: ignore[type-arg]
    query: str,
    shown: str,
) -> None:
    # The Chinese error page said "to: 2026-11-28 is before from 2026-12-05", "a range covers at most 92 days".
    browser = {**SUPERVISOR, "Accept": "text/html"}
    resp = await client.get(f"/reports/daily?{query}", headers=browser)
    assert resp.status == 400 and shown in await resp.text()
    api = await client.get(f"/v1/reports/daily?{query}", headers=SUPERVISOR)  # programs keep the English
    assert (await api.json())["message"].isascii()


async def test_report_web_defaults_to_the_latest_day_with_data(client: TestClient) -> None:  # type: ignore[type-arg]
    resp = await client.get("/v1/reports/daily", headers=SUPERVISOR)
    assert resp.status == 200
    assert resp.headers["Content-Location"] == f"/v1/reports/daily?date={D.isoformat()}"
    assert resp.headers["X-Latest-Date"] == D.isoformat()
    body = await resp.json()
    assert (body["date"] if isinstance(body, dict) else body[0]["date"]) == D.isoformat()
    empty = await client.get("/v1/reports/daily?date=2020-01-01", headers=SUPERVISOR)
    assert await empty.json() == [] and empty.headers["Content-Location"].endswith("date=2020-01-01")


async def test_report_web_latest_day_is_never_after_today(
    client: TestClient,
    log: Log,
    config: Config,  # type: ignore[type-arg]
) -> None:
    # Found: one event stamped 2099-12-31T23:59:59-12:00 (2100-01-01 in Shanghai) made every page's latest day
    # 2100-01-01, a day every report refuses.
    log.customer("2099-12-31T23:59:59-12:00", customer="time-traveller", conversation="future")
    resp = await client.get("/v1/reports/daily", headers=SUPERVISOR)
    assert resp.status == 200 and resp.headers["X-Latest-Date"] == D.isoformat()
    assert local_day(store.now_ms(), config.tz) >= D


async def test_report_web_opens_on_the_last_finished_day_while_today_is_being_counted(
    client: TestClient,
    log: Log,
    config: Config,  # type: ignore[type-arg]
) -> None:
    # At 9 a.m. supervisors read yesterday's figures (the last day with data that has ended), not the morning's.
    log.customer(store.now_ms(), customer="early-bird", conversation="today")
    today = local_day(store.now_ms(), config.tz)
    resp = await client.get("/v1/reports/daily", headers=SUPERVISOR)
    assert resp.headers["Content-Location"] == f"/v1/reports/daily?date={D.isoformat()}"
    assert resp.headers["X-Latest-Date"] == today.isoformat()  # today's page is one click away
    page = await (await client.get("/reports/daily", headers=SUPERVISOR)).text()
    assert D.isoformat() in page and f"date={today.isoformat()}" in page


def test_report_web_parse_query_defaults(config: Config) -> None:
    q = reports.parse_query({"date": "2026-11-20", "shop": ""}, config)
    assert (q.first, q.last, q.shop) == (date(2026, 11, 20), date(2026, 11, 20), None)


async def test_report_web_page_shows_refunds_as_the_exports_do(client: TestClient, log: Log) -> None:  # type: ignore[type-arg]
    # The table, CSV, JSON and workbook carried 退款; the page showed the sales net of it and no refunds at all.
    log.event("order_refunded", "12:00", order="o1", amount=20)
    html = await (await client.get(f"/reports/daily?date={D.isoformat()}&shop={SHOP}", headers=SUPERVISOR)).text()
    more = html[html.index('<table class="agents-more">') :]
    more = more[: more.index("</table>")]
    headings = re.findall(r"<th[^>]*>([^<]*)</th>", more)
    assert headings[3:6] == ["B 付款率", "退款", "客单价"]  # before 客单价, as the table and the workbook have it
    assert more.count('<td data-label="退款" class="refunds">¥20.00</td>') == 2  # A's row and the team's
    assert '<td data-label="询单销售额">¥46.60</td>' in html


async def test_report_web_range_says_the_refunds_after_the_window(client: TestClient, log: Log) -> None:  # type: ignore[type-arg]
    # A refund ten days after its order was in the daily log of its day and in no report of a range holding it.
    log.event("order_refunded", "D+10 12:00", order="o1", amount=20)
    last = D.fromordinal(D.toordinal() + 12)
    query = f"from={D.isoformat()}&to={last.isoformat()}&shop={SHOP}"
    doc = await (await client.get(f"/v1/reports/daily?{query}", headers=SUPERVISOR)).json()
    assert doc["team"]["sales"] == 66.6 and doc["team"]["refunds"] == 0.0  # D stays final
    assert (doc["late_refunds"]["count"], doc["late_refunds"]["counted"]) == (1, 20.0)
    assert doc["late_refunds"]["refunds"][0]["order"] == "o1"
    html = await (await client.get(f"/reports/daily?{query}", headers=SUPERVISOR)).text()
    assert '<details class="list late-refunds" open>' in html and "付款期限之后的退款 1 笔，共退回 ¥20.00" in html
    day = await (await client.get(f"/v1/reports/daily?date={D.isoformat()}&shop={SHOP}", headers=SUPERVISOR)).json()
    assert day["late_refunds"] == {"count": 0, "counted": 0.0, "by_agent": {}, "refunds": []}


async def test_report_web_page_gives_the_counts_behind_its_rates(client: TestClient, log: Log) -> None:  # type: ignore[type-arg]
    # 回复率 100.0% and 答问比 1.00 stood alone: a supervisor could not tell one buyer from three hundred.
    log.customer("11:00", "在吗", customer="u2", conversation="c2")  # a second buyer nobody answers
    html = await (await client.get(f"/reports/daily?date={D.isoformat()}&shop={SHOP}", headers=SUPERVISOR)).text()
    cards = {
        re.sub(r"<[^>]+>", "", label): re.sub(r"<[^>]+>", " ", rest)
        for label, rest in re.findall(r'<div class="label">(.*?)</div>(.*?)</div></div>', html, re.S)
    }
    assert "50.0%" in cards["回复率"] and "咨询 2，接待 1" in cards["回复率"]
    assert "客服 1 条，顾客 2 条" in cards["答问比"]
    assert 'title="咨询 1，接待 1">100.0%</td>' in html  # the agent's rate, its counts on hover
    assert 'title="咨询 2，接待 1">50.0%</td>' in html  # the team's


async def test_report_web_page_says_the_answered_count_in_chinese_order(client: TestClient) -> None:  # type: ignore[type-arg]
    # The chart's caption read "响应时间分布 (1 次已回复)", English word order between ASCII parentheses.
    html = await (await client.get(f"/reports/daily?date={D.isoformat()}&shop={SHOP}", headers=SUPERVISOR)).text()
    assert "<figcaption>响应时间分布（已回复 1 次）</figcaption>" in html


async def test_report_web_page_names_the_shops_zone_as_its_staff_say_it(client: TestClient) -> None:  # type: ignore[type-arg]
    # The page's heading line read "2026-11-20 (Asia/Shanghai)": an IANA id where a Chinese page says 北京时间.
    html = await (await client.get(f"/reports/daily?date={D.isoformat()}&shop={SHOP}", headers=SUPERVISOR)).text()
    assert f'<p class="meta">{D.isoformat()}（北京时间） ·' in html and "Asia/Shanghai" not in html
