"""Per-agent panel tokens: each opens only its own agent's panel, stream and adoption record."""

from __future__ import annotations

import dataclasses
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


async def test_a_name_with_a_byte_order_mark_opens_the_agents_own_panel(
    client: Client, token_config: Config, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events name \\ufeff小美 小美 (docs/events.md); a panel link built from a spreadsheet's column opened an empty
    panel of an agent no event names."""
    event = make_event(conversation="c-bom", agent="\ufeff小美", text="在吗")
    assert (await client.post("/v1/events", data=body_of(event))).status == 200
    token = agent_token(token_config, "小美")
    assert token is not None
    page = await client.get("/panel", params={"agent": "\ufeff小美", "token": token})
    assert page.status == 200 and "#c-bom" in await page.text()
    monkeypatch.setenv("ASSISTANT_AGENT_TOKEN", "team-secret")
    assert main(["panel-url", "--agent", "\ufeff小美", "--config", str(ROOT / "config.toml")]) == 0
    assert "/panel?agent=%E5%B0%8F%E7%BE%8E&token=" in capsys.readouterr().out


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


async def test_agent_token_records_nothing_in_another_agents_conversation(
    client: Client, token_config: Config, db_path: Path
) -> None:
    await client.post("/v1/events", data=body_of(make_event(conversation="theirs", agent="小丽")))
    token = agent_token(token_config, "小美")
    assert token is not None
    body = {"shop": "shop1", "conversation": "theirs", "agent": "小美", "phrase_id": "shipping_time.today"}
    resp = await client.post("/v1/panel/used", params={"agent": "小美", "token": token}, json=body)
    assert resp.status == 403 and (await resp.json())["field"] == "conversation"
    unknown = await client.post(
        "/v1/panel/used", params={"agent": "小美", "token": token}, json={**body, "conversation": "nobody-has-it"}
    )
    assert unknown.status == 403
    team = await client.post("/v1/panel/used", headers={"Authorization": "Bearer team-secret"}, json=body)
    assert team.status == 200  # the team token (a Chatwoot dashboard app shared by all) records any
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT conversation, agent FROM suggestion_uses").fetchall() == [("theirs", "小美")]


async def test_demo_box_writes_only_its_own_conversation_in_the_callers_name(
    aiohttp_client: Any, token_config: Config, db_path: Path
) -> None:
    demo = dataclasses.replace(token_config, panel=dataclasses.replace(token_config.panel, demo=True))
    client = await aiohttp_client(make_app(demo))
    token = agent_token(demo, "小王")
    assert token is not None
    reply = {"text": "亲，马上为您查询", "sender": "agent", "conversation": "someone-elses"}
    resp = await client.post("/v1/panel/demo", params={"agent": "小王", "token": token}, json=reply)
    assert resp.status == 200
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT shop, conversation, agent FROM messages").fetchall() == [("demo", "demo-1", "小王")]
    # A real event in the demo shop's demo-1: the box refuses to write there from now on.
    real = make_event(shop="demo", conversation="demo-1", text="真实顾客的消息")
    await client.post("/v1/events", data=body_of(real))
    refused = await client.post("/v1/panel/demo", params={"agent": "小王", "token": token}, json={"text": "在吗"})
    assert refused.status == 409
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 2


def test_demo_box_is_off_in_the_shipped_config() -> None:
    assert load_config(ROOT / "config.toml", env={}).panel.demo is False


def test_serve_banner_prints_no_token(token_config: Config) -> None:
    from assistant.cli.serve import _banner

    text = _banner(token_config, "http://127.0.0.1:8080")
    assert "team-secret" not in text and "supervisor-token" not in text
    assert str(agent_token(token_config, token_config.panel.demo_agent)) not in text
    assert "assistant panel-url" in text
    assert "/panel?agent=%E5%B0%8F%E7%BE%8E " in text  # 小美, percent-encoded: the URL pastes into curl as printed


def test_panel_url_command_prints_the_agents_url(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSISTANT_AGENT_TOKEN", "team-secret")
    assert main(["panel-url", "--agent", "小美", "--config", str(ROOT / "config.toml")]) == 0
    out = capsys.readouterr().out.strip()
    config = load_config(ROOT / "config.toml", env=TOKENS)
    assert out.endswith(f"token={agent_token(config, '小美')}") and "/panel?agent=" in out


def test_panel_url_command_says_when_the_agent_token_is_not_set_here(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Run in a shell without the service's variable, it printed a URL without a token, which the service refused.
    monkeypatch.delenv("ASSISTANT_AGENT_TOKEN", raising=False)
    assert main(["panel-url", "--agent", "小美", "--config", str(ROOT / "config.toml")]) == 0
    out, err = capsys.readouterr()
    assert out.strip().endswith("/panel?agent=%E5%B0%8F%E7%BE%8E")
    assert err == (
        "注意：这里没有设置 ASSISTANT_AGENT_TOKEN：地址里没有令牌，只能打开不用令牌运行的服务的面板（请像服务那样设置这个变量）\n"
    )


def test_panel_url_command_refuses_a_blank_agent(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # `--agent ""` (an unset shell variable) printed /panel?agent= with a token, and exit 0
    monkeypatch.setenv("ASSISTANT_AGENT_TOKEN", "team-secret")
    with pytest.raises(SystemExit) as exc:
        main(["panel-url", "--agent", " ", "--config", str(ROOT / "config.toml")])
    assert exc.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and "'--agent' 的值无效：不能为空" in err


@pytest.mark.browser
async def test_agent_token_panel_in_chromium_records_a_click(
    client: Client, token_config: Config, db_path: Path, page: Page, tmp_path: Path
) -> None:
    resp = await client.post(
        "/v1/events", data=body_of(make_event(conversation="c-own", customer="buyer9", agent="小美", text="有优惠券吗"))
    )
    top = (await resp.json())["suggestions"][0]
    token = agent_token(token_config, "小美")
    assert token is not None
    url = f"http://{client.host}:{client.port}/panel?agent={quote('小美')}&token={token}"
    streams: list[tuple[str, str | None]] = []
    page.on(
        "request",
        lambda r: streams.append((r.url, r.headers.get("authorization"))) if "/v1/stream" in r.url else None,
    )
    await page.goto(url)
    await expect(page.locator("#status")).to_have_attribute("data-state", "live", timeout=5000)
    # The stream is authenticated by a header: the token is in no URL the panel requests after the page.
    assert streams and all(token not in u and auth == f"Bearer {token}" for u, auth in streams), streams
    await page.locator(f'.sugg[data-phrase-id="{top["phrase_id"]}"]').first.click()

    def uses() -> list[tuple[str, str]]:
        with sqlite3.connect(db_path) as conn:
            return conn.execute("SELECT agent, phrase_id FROM suggestion_uses").fetchall()

    used = await eventually(uses)
    await page.screenshot(path=str(tmp_path / "own-token.png"), full_page=True)
    assert used == [("小美", top["phrase_id"])]


async def test_a_role_left_without_a_token_is_closed_once_others_have_one(client: Client) -> None:
    # TOKENS sets the agent's and the supervisor's, not the admin's: the admin routes were open to anyone, and
    # the supervisor token unmasked the daily log (`unmasked=1` is the admin's).
    reload = await client.post("/v1/admin/reload")
    assert reload.status == 401 and "ASSISTANT_ADMIN_TOKEN" in (await reload.json())["message"]
    assert (await client.post("/v1/admin/reload", headers={"Authorization": "Bearer supervisor-token"})).status == 401
    unmasked = await client.get("/logs/daily", params={"token": "supervisor-token", "unmasked": "1"})
    assert unmasked.status == 401
    assert (await client.get("/logs/daily", params={"token": "supervisor-token"})).status == 200


async def test_a_role_left_without_a_token_opens_to_a_stronger_one(aiohttp_client: Any, db_path: Path) -> None:
    env = {"ASSISTANT_SUPERVISOR_TOKEN": "supervisor-token"}  # no agent token: the agents' routes were open
    config = load_config(ROOT / "config.toml", env=env, overrides={"store": {"path": str(db_path)}})
    client = await aiohttp_client(make_app(config))
    assert (await client.get("/panel", params={"agent": "小美"})).status == 401
    assert (await client.get("/v1/phrases/search", params={"q": "fh1"})).status == 401
    assert (await client.get("/panel", params={"agent": "小美", "token": "supervisor-token"})).status == 200


async def test_every_role_is_open_when_no_token_is_set(aiohttp_client: Any, db_path: Path) -> None:
    config = load_config(ROOT / "config.toml", env={}, overrides={"store": {"path": str(db_path)}})
    client = await aiohttp_client(make_app(config))  # the local demo
    assert (await client.get("/panel", params={"agent": "小美"})).status == 200
    assert (await client.get("/logs/daily", params={"unmasked": "1"})).status == 200
