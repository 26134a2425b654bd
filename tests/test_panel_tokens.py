"""Per-agent panel tokens: each opens only its own agent's panel, stream and adoption record."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Page, expect

from assistant.cli import main
from assistant.config import Config, load_config
from assistant.web.auth import agent_token
from tests.helpers import ROOT, body_of, eventually, make_app, make_event

Client = TestClient  # type: ignore[type-arg]
TOKENS = {"ASSISTANT_AGENT_TOKEN": "team-secret", "ASSISTANT_SUPERVISOR_TOKEN": "supervisor-token"}


@pytest.fixture
def token_config(db_path: Path) -> Config:
    return load_config(ROOT / "config.toml", env=TOKENS, overrides={"store": {"path": str(db_path)}})


@pytest.fixture
async def client(aiohttp_client: Any, token_config: Config) -> Client:
    return await aiohttp_client(make_app(token_config))


def test_agent_tokens_differ_per_agent_and_need_the_secret(token_config: Config) -> None:
    mine, theirs = agent_token(token_config, "小美"), agent_token(token_config, "小丽")
    assert mine and theirs and mine != theirs and "team-secret" not in mine
    assert agent_token(load_config(ROOT / "config.toml", env={}), "小美") is None


async def test_agent_token_opens_own_panel_only(client: Client, token_config: Config) -> None:
    token = agent_token(token_config, "小美")
    assert token is not None
    assert (await client.get("/panel", params={"agent": "小美", "token": token})).status == 200
    assert (await client.get("/panel", params={"agent": "小丽", "token": token})).status == 401
    assert (await client.get("/panel", params={"agent": "小丽", "token": "team-secret"})).status == 200


async def test_agent_token_stream_is_own_agent_only(client: Client, token_config: Config) -> None:
    token = agent_token(token_config, "小美")
    assert token is not None
    other = await client.get("/v1/stream", params={"agent": "小丽", "token": token})
    assert other.status == 401
    watch = await client.get(
        "/v1/stream", params={"agent": "小美", "token": token, "shop": "shop1", "conversation": "conv1"}
    )
    assert watch.status == 403
    assert (await watch.json())["field"] == "conversation"
    own = await client.get("/v1/stream", params={"agent": "小美", "token": token})
    assert own.status == 200 and own.content_type == "text/event-stream"
    own.close()


async def test_agent_token_records_only_own_suggestion_use(client: Client, token_config: Config, db_path: Path) -> None:
    await client.post("/v1/events", data=body_of(make_event(agent="小美")))
    token = agent_token(token_config, "小美")
    assert token is not None
    body = {"shop": "shop1", "conversation": "conv1", "customer": "cust1", "phrase_id": "shipping_time.today"}
    forged = await client.post(
        "/v1/panel/used", params={"agent": "小美", "token": token}, json={**body, "agent": "小丽"}
    )
    assert forged.status == 403
    ok = await client.post("/v1/panel/used", params={"agent": "小美", "token": token}, json={**body, "agent": "小美"})
    assert ok.status == 200
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT agent FROM suggestion_uses").fetchall() == [("小美",)]


def test_panel_url_command_prints_the_agents_url(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSISTANT_AGENT_TOKEN", "team-secret")
    assert main(["panel-url", "--agent", "小美", "--config", str(ROOT / "config.toml")]) == 0
    out = capsys.readouterr().out.strip()
    config = load_config(ROOT / "config.toml", env=TOKENS)
    assert out.endswith(f"token={agent_token(config, '小美')}") and "/panel?agent=" in out


@pytest.mark.browser
async def test_agent_token_panel_in_chromium_records_a_click(
    client: Client, token_config: Config, db_path: Path, page: Page, tmp_path: Path
) -> None:
    resp = await client.post(
        "/v1/events", data=body_of(make_event(conversation="c-own", customer="buyer9", agent="小美", text="有优惠券吗"))
    )
    top = (await resp.json())["suggestions"][0]
    url = f"http://{client.host}:{client.port}/panel?agent={quote('小美')}&token={agent_token(token_config, '小美')}"
    await page.goto(url)
    await expect(page.locator("#status")).to_have_attribute("data-state", "live", timeout=5000)
    await page.locator(f'.sugg[data-phrase-id="{top["phrase_id"]}"]').first.click()

    def uses() -> list[tuple[str, str]]:
        with sqlite3.connect(db_path) as conn:
            return conn.execute("SELECT agent, phrase_id FROM suggestion_uses").fetchall()

    used = await eventually(uses)
    await page.screenshot(path=str(tmp_path / "own-token.png"), full_page=True)
    assert used == [("小美", top["phrase_id"])]
