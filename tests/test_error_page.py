"""A page opened in a browser answers its errors as a page in the supervisors' language; programs keep JSON."""

from __future__ import annotations

from collections.abc import Callable
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from assistant.config import Config, load_config
from assistant.web.appkeys import CONFIG
from assistant.web.error_page import PAGES
from assistant.web.errors import json_error, unavailable
from assistant.web.guard import guarded
from tests.helpers import make_app, replace_config

Client = TestClient  # type: ignore[type-arg]
TOKENS = {
    "ASSISTANT_AGENT_TOKEN": "agent-token",
    "ASSISTANT_SUPERVISOR_TOKEN": "sup-token",
    "ASSISTANT_ADMIN_TOKEN": "admin-token",
}
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.fixture
def config() -> Config:
    return load_config(None, env=TOKENS)


@pytest.fixture
async def client(aiohttp_client: Any, config: Config, tmp_path: Path) -> Client:
    return await aiohttp_client(make_app(config, db_path=tmp_path / "pages.db"))


@pytest.mark.parametrize("path", sorted(PAGES))
async def test_a_page_without_its_token_says_so_in_chinese(client: Client, path: str) -> None:
    for headers in (BROWSER, {**BROWSER, "Authorization": "Bearer wrong"}):
        resp = await client.get(path, headers=headers)
        assert resp.status == 401
        assert resp.content_type == "text/html"
        html = await resp.text()
        assert "此页需要有效的令牌" in html and "?token=" in html and "向管理员索取新链接" in html
        assert "<title>此页需要有效的令牌（401）</title>" in html  # the tab's title in Chinese punctuation too
        assert "invalid token" not in html and "token required" not in html  # the detail in Chinese too
        assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
        assert resp.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", sorted(PAGES))
async def test_programs_keep_the_json_error(client: Client, path: str) -> None:
    for accept in ("*/*", "application/json"):
        resp = await client.get(path, headers={"Accept": accept})
        assert resp.status == 401 and resp.content_type == "application/json"
        assert (await resp.json())["field"] == "token"
    api = await client.get("/v1/reports/daily", headers=BROWSER)  # an API route stays JSON even for a browser
    assert api.status == 401 and api.content_type == "application/json"


async def test_a_bad_value_in_the_link_names_the_field_escaped(client: Client) -> None:
    resp = await client.get(
        "/reports/daily",
        params={"date": "<script>x</script>"},
        headers={**BROWSER, "Authorization": "Bearer sup-token"},
    )
    assert resp.status == 400 and resp.content_type == "text/html"
    html = await resp.text()
    assert "链接里的参数不对" in html and "链接中的日期（date）不对：" in html and "date:" not in html
    assert "<script>x" not in html and "&lt;script&gt;x" in html


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("date=xx", "链接中的日期（date）不对：应为 YYYY-MM-DD 格式的日期，收到的是 'xx'"),
        ("date=2100-01-01", "链接中的日期（date）不对：日期应在 2000–2099 年之间，收到的是 2100-01-01"),
        ("date=2026-11-20&offset=-1", "链接中的翻页位置（offset）不对：应在 0 到 1000000000 之间，收到的是 -1"),
        ("date=2026-11-20&limit=x", "链接中的每页条数（limit）不对：应为整数，收到的是 'x'"),
    ],
)
async def test_the_daily_log_says_a_bad_value_in_chinese(client: Client, query: str, said: str) -> None:
    # The report page said a bad date in Chinese; the daily log said "expected YYYY-MM-DD, got 'xx'".
    resp = await client.get(f"/logs/daily?{query}", headers={**BROWSER, "Authorization": "Bearer sup-token"})
    assert resp.status == 400 and resp.content_type == "text/html"
    html = unescape(await resp.text())
    assert "链接里的参数不对" in html and said in html
    assert "expected" not in html


@pytest.mark.parametrize("path", ["/reports/daily", "/logs/daily", "/qa/day"])
async def test_every_supervisors_page_says_a_bad_date_as_a_page(client: Client, path: str) -> None:
    # The quality day (/qa/day) showed a browser {"error": "invalid_query", "field": "date", …} raw.
    resp = await client.get(f"{path}?date=2026-11-33", headers={**BROWSER, "Authorization": "Bearer sup-token"})
    assert resp.status == 400 and resp.content_type == "text/html"
    html = unescape(await resp.text())
    assert "链接里的参数不对" in html and "应为 YYYY-MM-DD 格式的日期，收到的是 '2026-11-33'" in html
    assert "invalid_query" not in html


async def test_the_page_keeps_the_status_and_retry_after(aiohttp_client: Any, config: Config) -> None:
    async def busy(request: web.Request) -> web.Response:
        return unavailable("storage_unavailable", "the database cannot be written now; retry later")

    app = web.Application()
    app[CONFIG] = config
    app.router.add_get("/qa", guarded(busy))
    client = await aiohttp_client(app)
    resp = await client.get("/qa", headers=BROWSER)
    assert resp.status == 503 and resp.headers["Retry-After"] == "5"
    html = await resp.text()
    assert "服务正忙或正在重启" in html and "请稍后刷新此页" in html


async def test_a_page_in_english_when_the_service_speaks_english(aiohttp_client: Any, tmp_path: Path) -> None:
    config = replace_config(load_config(None, env=TOKENS), "ui", language="en")
    client = await aiohttp_client(make_app(config, db_path=tmp_path / "en.db"))
    html = await (await client.get("/logs/daily", headers=BROWSER)).text()
    assert "This page needs a valid token" in html


async def test_no_request_passes_a_middleware(client: Client) -> None:
    # A middleware put two coroutines around every handler (aiohttp adds its own layer whenever one exists): the
    # guards answer the same errors, a request no route takes too (the router's last resource).
    assert not client.app.middlewares
    resp = await client.get("/v1/events")
    assert (
        resp.status == 405 and resp.headers["Allow"] == "POST" and (await resp.json())["error"] == "method_not_allowed"
    )
    resp = await client.delete("/v1/nothing", headers=BROWSER)
    assert resp.status == 404 and (await resp.json())["error"] == "not_found"


@pytest.mark.parametrize("path", ["/report/daily", "/logs/dialy", "/reports"])
async def test_a_mistyped_page_address_is_a_page_in_chinese(client: Client, path: str) -> None:
    # A supervisor's link with a typo got aiohttp's {"error": "not_found", "message": "Not Found"}.
    resp = await client.get(path, headers=BROWSER)
    assert resp.status == 404 and resp.content_type == "text/html"
    html = await resp.text()
    assert "请检查地址" in html and "没有这个地址" in html and "Not Found" not in html
    # the API and programs keep the JSON
    for asked, headers in (("/v1/nothing", BROWSER), (path, {"Accept": "*/*"})):
        resp = await client.get(asked, headers=headers)
        assert resp.status == 404 and resp.content_type == "application/json"
    wrong_method = await client.post(path, headers=BROWSER)
    assert wrong_method.content_type == "application/json"


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (lambda: json_error(500, "internal_error", None, "internal error; the request was not processed"), "服务器内部出错"),
        (lambda: unavailable("starting", "the service is starting (reloading the timers); retry later"), "服务正在启动"),
        (lambda: unavailable("storage_unavailable", "the database cannot be read now (disk I/O error); retry later"), "数据库暂时无法读取"),
        (lambda: unavailable("shutting_down", "the service is stopping; retry later"), "服务正在停止"),
    ],
)  # fmt: skip
async def test_the_servers_own_trouble_is_said_in_chinese(
    aiohttp_client: Any, config: Config, answer: Callable[[], web.Response], said: str
) -> None:
    # The page's headline was Chinese and its detail English: 详情：internal error; the request was not processed.
    async def trouble(request: web.Request) -> web.Response:
        return answer()

    app = web.Application()
    app[CONFIG] = config
    app.router.add_get("/reports/daily", guarded(trouble))
    html = await (await (await aiohttp_client(app)).get("/reports/daily", headers=BROWSER)).text()
    assert said in html and "retry later" not in html and "internal error" not in html
