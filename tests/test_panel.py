"""The panel page and its endpoints: rendering, escaping, tokens, suggestion_used, demo mode."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from assistant import tasks
from assistant.bus import Update
from assistant.config import Config, load_config
from assistant.live import Scope
from assistant.suggest.worker import LoopBudget
from assistant.web import stream
from assistant.web.appkeys import BUS, ENGINE, FEED
from tests.helpers import BACKENDS, ROOT, body_of, eventually, make_app, make_event, replace_config
from tests.test_live import open_stream

Client = TestClient  # type: ignore[type-arg]
TOKENS = {"ASSISTANT_AGENT_TOKEN": "agent-token", "ASSISTANT_SUPERVISOR_TOKEN": "supervisor-token"}


def rows(db_path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute(sql).fetchall()


def page_state(html: str) -> dict[str, Any]:
    start = html.index('<script type="application/json" id="panel-state">') + len(
        '<script type="application/json" id="panel-state">'
    )
    return json.loads(html[start : html.index("</script>", start)])  # type: ignore[no-any-return]


@pytest.fixture
async def token_client(aiohttp_client: Any, db_path: Path) -> Client:
    config = load_config(ROOT / "config.toml", env=TOKENS, overrides={"store": {"path": str(db_path)}})
    return await aiohttp_client(make_app(config))


async def test_panel_lists_open_conversations_waiting_longest_first(client: Client) -> None:
    for conversation, ts in (("later", "2026-11-20T10:05:00+08:00"), ("earlier", "2026-11-20T10:00:00+08:00")):
        await client.post("/v1/events", data=body_of(make_event(conversation=conversation, ts=ts, agent="a1")))
    await client.post("/v1/events", data=body_of(make_event(conversation="answered", agent="a1")))
    await client.post(
        "/v1/events",
        data=body_of(
            make_event(
                conversation="answered", sender="agent", agent="a1", text="亲，今天发货", ts="2026-11-20T10:06:00+08:00"
            )
        ),
    )
    await client.post("/v1/events", data=body_of(make_event(conversation="closed", agent="a1")))
    await client.post(
        "/v1/events",
        data=body_of(make_event("conversation_closed", conversation="closed", ts="2026-11-20T10:07:00+08:00")),
    )
    await client.post("/v1/events", data=body_of(make_event(conversation="someone-else", agent="a2")))
    resp = await client.get("/panel?agent=a1")
    assert resp.status == 200 and resp.content_type == "text/html"
    html = await resp.text()
    state = page_state(html)
    assert [c["conversation"] for c in state["conversations"]] == ["earlier", "later", "answered"]
    assert html.index("#earlier") < html.index("#later") < html.index("#answered")
    assert 'class="sugg"' in html and "<kbd>1</kbd>" in html and 'class="badge"' in html


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_panel_leaves_out_conversations_quiet_for_open_hours(aiohttp_client: Any, config: Config) -> None:
    # Platforms that never say a chat ended: yesterday's "好的谢谢" must not top today's list as waiting.
    client = await aiohttp_client(make_app(config))
    for conversation, ts in (
        ("day-old", "2026-11-19T09:59:00+08:00"),  # 24 h 1 min before the newest event: gone
        ("same-day", "2026-11-19T10:01:00+08:00"),  # 23 h 59 min before: still on the list
        ("newest", "2026-11-20T10:00:00+08:00"),
    ):
        await client.post("/v1/events", data=body_of(make_event(conversation=conversation, ts=ts, agent="a1")))
    for query in ("agent=a1", ""):  # the agent's list and the supervisor's
        listed = [
            c["conversation"] for c in page_state(await (await client.get(f"/panel?{query}")).text())["conversations"]
        ]
        assert listed == ["same-day", "newest"], query
    watched = page_state(await (await client.get("/panel?shop=shop1&conversation=day-old")).text())
    assert [c["conversation"] for c in watched["conversations"]] == ["day-old"]  # asked for by name: shown
    snapshot = await stream.scope_conversations(client.app, Scope(agent="a1"))  # what a stream's snapshot holds
    assert [c["conversation"] for c in snapshot] == ["same-day", "newest"]
    unlimited = await aiohttp_client(make_app(replace_config(config, "panel", open_hours=0)))
    listed = [
        c["conversation"] for c in page_state(await (await unlimited.get("/panel?agent=a1")).text())["conversations"]
    ]
    assert listed == ["day-old", "same-day", "newest"]
    # A late delivery of an old event (a platform's retry, a backlog) moves nobody's window back.
    late = make_event("conversation_closed", conversation="unrelated", ts="2026-11-18T10:00:00+08:00")
    assert (await client.post("/v1/events", data=body_of(late))).status == 200
    listed = [
        c["conversation"] for c in page_state(await (await client.get("/panel?agent=a1")).text())["conversations"]
    ]
    assert listed == ["same-day", "newest"]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_panel_a_returning_customer_waits_from_their_new_message(aiohttp_client: Any, config: Config) -> None:
    # The chat was closed after the customer's 好的谢谢: their wait starts again when they come back, not
    # from the 好的谢谢 (it headed the list as a customer waiting 14 hours).
    client = await aiohttp_client(make_app(config))
    for kind, fields in (
        ("message", {"text": "这件有货吗", "ts": "2026-11-19T20:00:00+08:00"}),
        ("message", {"sender": "agent", "text": "有的亲", "ts": "2026-11-19T20:01:00+08:00"}),
        ("message", {"text": "好的谢谢", "ts": "2026-11-19T20:02:00+08:00"}),
        ("conversation_closed", {"ts": "2026-11-19T20:30:00+08:00"}),
        ("message", {"text": "我又来了，还有货吗", "ts": "2026-11-20T10:00:00+08:00"}),
    ):
        event = make_event(kind, conversation="back", agent="a1", **fields)
        assert (await client.post("/v1/events", data=body_of(event))).status == 200
    back_ms = 1_795_140_000_000  # 2026-11-20 10:00 in Shanghai
    fresh = await aiohttp_client(make_app(config))  # its state read back from the log
    for panel in (client, fresh):
        [card] = page_state(await (await panel.get("/panel?agent=a1")).text())["conversations"]
        assert card["waiting_since_ms"] == back_ms


async def test_panel_quiet_limit_runs_on_the_wall_clock_when_a_platform_stamps_the_future(client: Client) -> None:
    now_ms = int(time.time() * 1000)
    for conversation, ts_ms in (("an-hour-ago", now_ms - 3_600_000), ("ahead", now_ms + 2 * 86_400_000)):
        await client.post("/v1/events", data=body_of(make_event(conversation=conversation, ts=ts_ms, agent="a1")))
    listed = {
        c["conversation"] for c in page_state(await (await client.get("/panel?agent=a1")).text())["conversations"]
    }
    assert listed == {"an-hour-ago", "ahead"}


async def test_panel_escapes_customer_text_and_phrases(client: Client) -> None:
    attack = "<script>alert(1)</script><img src=x onerror=alert(1)>"
    await client.post("/v1/events", data=body_of(make_event(agent="a1", customer='"><b>x', text=attack)))
    html = await (await client.get("/panel?agent=a1")).text()
    assert "<script>alert(1)" not in html and "<img src=x" not in html and '"><b>x' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert page_state(html)["conversations"][0]["messages"][0]["text"] == attack  # JSON block: no raw '<'


async def test_panel_sets_content_security_policy(client: Client) -> None:
    resp = await client.get("/panel?agent=a1")
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["Referrer-Policy"] == "no-referrer"


async def test_panel_serves_its_script_and_style(client: Client) -> None:
    for name, kind in (
        ("sse.js", "javascript"),
        ("panel.js", "javascript"),
        ("panel.css", "css"),
        ("qa.js", "javascript"),
    ):
        resp = await client.get(f"/panel/static/{name}")
        assert resp.status == 200 and kind in resp.content_type


async def test_panel_requires_agent_token(token_client: Client) -> None:
    assert (await token_client.get("/panel?agent=a1")).status == 401
    assert (await token_client.get("/panel?agent=a1&token=wrong")).status == 401
    assert (await token_client.get("/panel?agent=a1&token=agent-token")).status == 200


async def test_panel_without_agent_waits_for_context_unless_supervisor(token_client: Client) -> None:
    await token_client.post("/v1/events", data=body_of(make_event(agent="a1")))
    agent_page = page_state(await (await token_client.get("/panel?token=agent-token")).text())
    assert agent_page["scope"]["everything"] is False and agent_page["conversations"] == []
    supervisor_page = page_state(await (await token_client.get("/panel?token=supervisor-token")).text())
    assert supervisor_page["scope"]["everything"] is True and len(supervisor_page["conversations"]) == 1


async def test_panel_used_logs_suggestion_used_with_customer_from_state(client: Client, db_path: Path) -> None:
    await client.post("/v1/events", data=body_of(make_event(conversation="c9", customer="buyer9", agent="a1")))
    resp = await client.post(
        "/v1/panel/used",
        json={"shop": "shop1", "conversation": "c9", "agent": "a1", "phrase_id": "shipping_time.within_48h"},
    )
    assert resp.status == 200
    body = await resp.json()
    assert body["accepted"] is True and body["id"].startswith("panel-used-")
    assert rows(db_path, "SELECT conversation, customer, agent, phrase_id FROM suggestion_uses") == [
        ("c9", "buyer9", "a1", "shipping_time.within_48h")
    ]


async def test_panel_used_rejects_missing_phrase(client: Client, db_path: Path) -> None:
    resp = await client.post("/v1/panel/used", json={"shop": "s", "conversation": "c", "customer": "u", "agent": "a"})
    assert resp.status == 400
    assert (await resp.json())["field"] == "phrase_id"
    assert rows(db_path, "SELECT count(*) FROM suggestion_uses") == [(0,)]


async def test_panel_used_takes_a_code_as_its_phrase_and_refuses_an_unknown_one(client: Client, db_path: Path) -> None:
    # Adoption ranks phrases and feeds the KPIs: a code is the phrase it names, a name nobody knows is refused.
    await client.post("/v1/events", data=body_of(make_event(conversation="c9", agent="a1")))
    used = {"shop": "shop1", "conversation": "c9", "agent": "a1"}
    assert (await client.post("/v1/panel/used", json={**used, "phrase_id": "fh2"})).status == 200
    unknown = await client.post("/v1/panel/used", json={**used, "phrase_id": "no.such.phrase"})
    assert unknown.status == 404 and (await unknown.json())["field"] == "phrase_id"
    assert rows(db_path, "SELECT phrase_id FROM suggestion_uses") == [("shipping_time.today",)]


async def test_panel_used_rejects_non_json(client: Client) -> None:
    resp = await client.post("/v1/panel/used", data=b"[1,2")
    assert resp.status == 400 and (await resp.json())["field"] == "body"


async def test_panel_used_requires_token(token_client: Client) -> None:
    body = {"shop": "s", "conversation": "c", "customer": "u", "agent": "a", "phrase_id": "shipping_time.today"}
    assert (await token_client.post("/v1/panel/used", json=body)).status == 401
    ok = await token_client.post("/v1/panel/used", json=body, headers={"Authorization": "Bearer agent-token"})
    assert ok.status == 200


async def test_panel_demo_posts_customer_message_into_demo_conversation(
    aiohttp_client: Any, config: Config, db_path: Path
) -> None:
    client = await aiohttp_client(make_app(replace_config(config, "panel", demo=True)))
    resp = await client.post("/v1/panel/demo", json={"text": "太贵了能便宜点吗"})
    assert resp.status == 200
    assert (await resp.json())["suggestions"], "a demo message gets suggestions like any customer message"
    assert rows(db_path, "SELECT shop, conversation, sender, agent FROM messages") == [
        ("demo", "demo-1", "customer", "小美")
    ]
    reply = await client.post("/v1/panel/demo", json={"text": "亲，已经是最低价了", "sender": "agent"})
    assert reply.status == 200
    assert (await client.post("/v1/panel/demo", json={"text": "x", "sender": "auto"})).status == 400


async def test_panel_demo_is_404_when_demo_is_off(aiohttp_client: Any, config: Config, db_path: Path) -> None:
    client = await aiohttp_client(make_app(replace_config(config, "panel", demo=False)))
    resp = await client.post("/v1/panel/demo", json={"text": "在吗"})
    assert resp.status == 404
    assert rows(db_path, "SELECT count(*) FROM events") == [(0,)]
    assert 'id="demo-form"' not in await (await client.get("/panel?agent=a1")).text()


async def test_panel_watches_chatwoot_conversation_by_account(client: Client) -> None:
    await client.post("/v1/events", data=body_of(make_event(shop="chatwoot-7", conversation="42", agent="x")))
    html = await (await client.get("/panel?account=7&conversation=42")).text()
    [conversation] = page_state(html)["conversations"]
    assert (conversation["shop"], conversation["conversation"]) == ("chatwoot-7", "42")


async def test_panel_rejects_conversation_without_shop(client: Client) -> None:
    resp = await client.get("/panel?conversation=42")
    assert resp.status == 400 and (await resp.json())["field"] == "shop"


async def test_panel_renders_latest_followup_state(client: Client) -> None:
    await client.post("/v1/events", data=body_of(make_event(conversation="c1", agent="a1")))
    client.app[BUS].publish(Update("followup", "shop1", "c1", "a1", {"state": "failed", "last_error": "HTTP 502"}))
    await eventually(lambda: ("shop1", "c1") in client.app[FEED].followups)  # the feed drains the bus in a task
    html = await (await client.get("/panel?agent=a1")).text()
    assert 'data-state="failed"' in html and "跟进发送失败" in html
    assert page_state(html)["followups"] == {'["shop1","c1"]': {"state": "failed", "last_error": "HTTP 502"}}


async def test_panel_embedded_in_chatwoot_waits_for_app_context(client: Client) -> None:
    await client.post("/v1/events", data=body_of(make_event(agent="a1")))
    html = await (await client.get("/panel?embed=chatwoot")).text()
    assert page_state(html)["conversations"] == [] and '<body class="embedded">' in html


async def test_panel_masks_personal_data_in_page_and_stream(client: Client) -> None:
    text = "电话13812345678，地址西湖区文三路478号"
    await client.post("/v1/events", data=body_of(make_event(conversation="pii", agent="a1", text=text)))
    html = await (await client.get("/panel?agent=a1")).text()
    [conversation] = page_state(html)["conversations"]
    shown = conversation["messages"][0]["text"]
    assert "13812345678" not in html and "文三路478号" not in html
    assert shown == "电话138****5678，地址西湖区****"
    resp = await client.get("/v1/stream", params={"agent": "a1"})
    first = (await resp.content.readuntil(b"\r\n\r\n")).decode()
    resp.close()
    assert "13812345678" not in first and "138****5678" in first


async def test_panel_masks_the_words_of_quality_flags_in_page_and_stream(client: Client) -> None:
    # The card's text read 139****8888 while its off_platform flag carried 13999998888 in the page source and the
    # stream every panel receives.
    text = "加我微信吧 我手机13999998888"
    reader = await open_stream(client, "agent=a1")
    try:
        event = make_event(conversation="pii2", sender="agent", agent="a1", text=text)
        await client.post("/v1/events", data=body_of(event))
        update = await reader.wait_for(lambda e: e.event == "conversation")
    finally:
        await reader.close()
    html = await (await client.get("/panel?agent=a1")).text()
    [conversation] = page_state(html)["conversations"]
    assert "13999998888" not in html
    for message in (conversation["messages"][-1], update.data["payload"]["messages"][-1]):
        assert message["text"] == "加我微信吧 我手机139****8888"
        phone = next(f for f in message["qa"] if f["rule"] == "off_platform.phone")
        assert phone["match"] == "139****8888"
        assert message["text"][phone["start"] : phone["end"]] == "139****8888"  # offsets into the masked text


async def test_panel_shows_raw_text_when_masking_is_off(aiohttp_client: Any, config: Config) -> None:
    client = await aiohttp_client(make_app(replace_config(config, "privacy", mask=False)))
    await client.post("/v1/events", data=body_of(make_event(agent="a1", text="电话13812345678")))
    [conversation] = page_state(await (await client.get("/panel?agent=a1")).text())["conversations"]
    assert conversation["messages"][0]["text"] == "电话13812345678"


async def test_panel_page_says_not_sure_instead_of_naming_a_type(client: Client) -> None:
    await client.post(
        "/v1/events", data=body_of(make_event(conversation="weak", agent="a1", text="下周要出差 还没发货吗"))
    )
    await client.post("/v1/events", data=body_of(make_event(conversation="clear", agent="a1", text="急用 快点发货")))
    html = await (await client.get("/panel?agent=a1")).text()
    weak = html[html.index("#weak") :]
    weak = weak[: weak.index("</article>")]
    assert 'data-sure="false"' in weak and ">不确定</span>" in weak and "陌生客户</span>" not in weak
    assert '<span class="cues">出差、还没发货</span>' in weak
    clear = html[html.index("#clear") :]
    assert 'data-sure="true"' in clear[: clear.index("</article>")] and ">性急型</span>" in clear


async def test_panel_page_shows_both_types_of_a_near_tie(client: Client) -> None:
    event = make_event(conversation="tie", agent="a1", text="做工好吗 别家")
    assert (await (await client.post("/v1/events", data=body_of(event))).json())["customer_type"]["rival"]
    html = await (await client.get("/panel?agent=a1")).text()
    card = html[html.index("#tie") :]
    card = card[: card.index("</article>")]
    assert 'data-sure="close"' in card and ">待定：" in card and "或" in card


async def test_panel_cards_are_built_in_turns_so_other_work_goes_on(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A big shop's agent opening the panel gets up to 500 cards, each loaded from the log with its suggestions
    # (a second and more): events and other requests must get their turns while they are built.
    for n in range(12):
        await client.post("/v1/events", data=body_of(make_event(conversation=f"c{n}", agent="a1")))
    ticks = 0
    seen: list[int] = []
    original = stream.conversation_json

    def card(*args: Any) -> dict[str, Any]:
        seen.append(ticks)
        return original(*args)

    async def other_work() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    monkeypatch.setattr(stream, "conversation_json", card)
    monkeypatch.setattr(tasks, "SLICE_S", 0.0)  # a turn after every card
    task = asyncio.create_task(other_work())
    try:
        cards = await stream.scope_conversations(client.app, Scope(agent="a1"))
    finally:
        task.cancel()
    assert len(cards) == 12
    assert all(later > earlier for earlier, later in zip(seen, seen[1:])), seen


async def test_panel_page_says_no_messages_for_a_conversation_an_order_opened(client: Client) -> None:
    await client.post("/v1/events", data=body_of(make_event("order_created", conversation="paid-first", agent="a1")))
    html = await (await client.get("/panel?agent=a1")).text()
    assert 'data-quiet="1">暂无消息</span>' in html and "已回复" not in html


class NoWorker:
    """Matching workers none of which can take a message (all restarting)."""

    states = ["waiting"]

    def submit(self, request: Any, conversation: str = "") -> None:
        return None

    def adopt(self, shop: str, counts: Any) -> None:
        pass


@BACKENDS
async def test_panel_card_rebuilt_after_a_restart_says_what_the_agent_saw_live(
    aiohttp_client: Any, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A message answered without suggestions while matching was busy (no worker could take it, the loop had had its
    # share) said so on its card; rebuilt from the log after a restart (or by another instance) the card matched it
    # again and showed suggestions the agent never saw.
    first = await aiohttp_client(make_app(config))
    engine = first.app[ENGINE]
    monkeypatch.setattr(engine, "workers", NoWorker())
    monkeypatch.setattr(engine, "budget", LoopBudget(0.0))  # the loop has no share left
    await first.post(
        "/v1/events", data=body_of(make_event(id="w1", conversation="busy", agent="a1", text="这款有现货吗"))
    )
    monkeypatch.undo()
    await first.post(
        "/v1/events", data=body_of(make_event(id="m1", conversation="matched", agent="a1", text="这款有现货吗"))
    )
    live = {
        c["conversation"]: c for c in page_state(await (await first.get("/panel?agent=a1")).text())["conversations"]
    }
    await first.close()
    second = await aiohttp_client(make_app(config))
    html = await (await second.get("/panel?agent=a1")).text()
    rebuilt = {c["conversation"]: c for c in page_state(html)["conversations"]}
    assert live["busy"]["suggestions"] == [] and live["busy"]["suggestions_withheld"] == "matching_busy"
    assert live["matched"]["suggestions"] and live["matched"]["suggestions_withheld"] is None
    for conversation in ("busy", "matched"):
        for part in ("suggestions", "suggestions_withheld"):
            assert rebuilt[conversation][part] == live[conversation][part]
    assert rebuilt["busy"]["customer_type"] is not None  # the customer's type is shown as for any message
