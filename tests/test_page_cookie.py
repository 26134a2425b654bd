"""The supervisors' pages opened from a link with ?token=: the token moves into the page cookie, out of every URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from assistant.web.auth import PAGE_COOKIE, TOKEN_PAGES, page_cookie
from tests.daylog_day import DAY, log_app, post_day, token_config

Client = TestClient  # type: ignore[type-arg]
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.fixture
async def client(aiohttp_client: Any, db_path: Path) -> Client:
    """The log's service with the tokens set (sup-token, adm-token, agent-token), holding the day."""
    client = await aiohttp_client(log_app(token_config(db_path)))
    await post_day(client)
    return client


@pytest.mark.parametrize("path", sorted(TOKEN_PAGES))
async def test_page_cookie_takes_the_token_out_of_a_bookmarked_links_url(client: Client, path: str) -> None:
    # Found: every link of the report, the daily log and the inspection pages (the day before, the conversation in the
    # log, the filter forms) carried ?token=sup-token: each page the supervisor went on to kept the token in the
    # browser's history, in the address a supervisor copies into a group chat, and in a proxy's log.
    resp = await client.get(f"{path}?date={DAY}&token=sup-token", headers=BROWSER, allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"] == f"{path}?date={DAY}"  # the same page, its other values kept
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    cookie = resp.cookies[PAGE_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/"
    assert cookie.value and "sup-token" not in cookie.value  # not the token itself: it opens no API
    page = await client.get(resp.headers["Location"], headers=BROWSER)  # the client's jar sends the cookie
    assert page.status == 200
    html = await page.text()
    assert "sup-token" not in html and "token=" not in html and 'name="token"' not in html
    # A script fetching the page (no text/html in its Accept) gets it from the URL as before; a wrong or an agent's
    # token in a browser gets the page that says the token is wrong, and no cookie.
    client.session.cookie_jar.clear()
    resp = await client.get(f"{path}?date={DAY}&token=sup-token", allow_redirects=False)
    assert resp.status == 200 and PAGE_COOKIE not in resp.cookies
    for token in ("wrong", "agent-token"):
        resp = await client.get(f"{path}?date={DAY}&token={token}", headers=BROWSER, allow_redirects=False)
        assert resp.status == 401 and PAGE_COOKIE not in resp.cookies


async def test_page_cookie_opens_only_the_supervisors_pages_to_a_get(client: Client) -> None:
    client.session.cookie_jar.update_cookies({PAGE_COOKIE: page_cookie("adm-token")})
    assert (await client.get(f"/logs/daily?date={DAY}&unmasked=1")).status == 200  # an admin's cookie unmasks
    assert (await client.get("/qa/day", params={"date": DAY.isoformat()})).status == 200
    assert (await client.get("/v1/qa/recent")).status == 200  # what the inspection page's script reads
    # Not the APIs, the panel, nor anything that writes: a cookie is sent by the browser on its own.
    assert (await client.get(f"/v1/reports/daily?date={DAY}")).status == 401
    assert (await client.get("/panel", params={"agent": "小美"})).status == 401
    assert (await client.post("/v1/admin/reload")).status == 401
    client.session.cookie_jar.clear()
    client.session.cookie_jar.update_cookies({PAGE_COOKIE: "adm-token"})  # the token itself is no cookie
    assert (await client.get(f"/reports/daily?date={DAY}")).status == 401


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/healthz"),
        ("GET", "/panel/static/panel.js"),
        ("GET", "/v1/stream?agent=小美"),
        ("POST", "/v1/events"),
    ],
)
async def test_page_every_answer_sends_no_referrer(client: Client, method: str, path: str) -> None:
    # Only the pages said it; every answer does now, whatever a page of the service comes to link to.
    resp = await client.request(method, path, headers=BROWSER, allow_redirects=False)
    assert resp.headers.get("Referrer-Policy") == "no-referrer", resp.status
