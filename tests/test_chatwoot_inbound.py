"""Chatwoot payloads replayed through the real service: mapping, signatures, idempotency."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import given
from hypothesis import strategies as st

from assistant import chatwoot
from assistant.chatwoot import NoMemory, account_of_shop, map_payload, shop_id
from assistant.config import Config, load_config
from assistant.events import EventError
from assistant.signing import sign
from assistant.tasks import Throttled
from assistant.web import chatwoot as chatwoot_web
from assistant.web.appkeys import FOLLOWUPS
from tests.helpers import ROOT, make_app, replace_config

FIXTURES = ROOT / "tests" / "data" / "chatwoot"
SECRET = "cw-secret"
Client = TestClient  # type: ignore[type-arg]


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def cw_config(db_path: Path, *, allow_unsigned: bool = False, secret: str | None = SECRET) -> Config:
    env = {"CHATWOOT_WEBHOOK_SECRET": secret} if secret else {}
    return load_config(
        ROOT / "config.toml",
        env=env,
        overrides={
            "store": {"path": str(db_path)},
            "hooks": {"enabled": ["chatwoot"], "chatwoot": {"allow_unsigned": allow_unsigned}},
        },
    )


async def make_client(aiohttp_client: Any, config: Config) -> Client:
    return await aiohttp_client(make_app(config))


def headers(body: bytes, *, delivery: str = "d-1", ts: int | None = None, secret: str = SECRET) -> dict[str, str]:
    stamp = int(time.time()) if ts is None else ts
    return {
        "Content-Type": "application/json",
        "X-Chatwoot-Signature": sign(secret, stamp, body),
        "X-Chatwoot-Timestamp": str(stamp),
        "X-Chatwoot-Delivery": delivery,
    }


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture
async def cw(aiohttp_client: Any, db_path: Path) -> Client:
    return await make_client(aiohttp_client, cw_config(db_path))


async def post(client: Client, name: str, **kw: Any) -> Any:
    body = fixture(name)
    return await client.post("/v1/chatwoot", data=body, headers=headers(body, **kw))


async def test_chatwoot_contact_message_becomes_customer_message_with_suggestions(cw: Client, db_path: Path) -> None:
    resp = await post(cw, "contact_message")
    assert resp.status == 200
    body = await resp.json()
    assert body["accepted"] is True
    assert body["events"][0]["suggestions"], "a customer message gets suggestions"
    assert rows(db_path, "SELECT shop, conversation, customer, sender, agent, text FROM messages") == [
        ("chatwoot-3", "42", "501", "customer", "张美玲", "你好，这件外套什么时候发货？")
    ]


async def test_chatwoot_agent_reply_becomes_agent_message(cw: Client, db_path: Path) -> None:
    assert (await post(cw, "agent_reply")).status == 200
    assert rows(db_path, "SELECT sender, agent FROM messages") == [("agent", "张美玲")]


async def test_chatwoot_private_note_is_ignored(cw: Client, db_path: Path) -> None:
    resp = await post(cw, "private_note")
    assert resp.status == 200
    assert (await resp.json())["ignored"] == "private note"
    assert rows(db_path, "SELECT count(*) FROM events") == [(0,)]


async def test_chatwoot_bot_and_template_messages_are_auto(cw: Client, db_path: Path) -> None:
    assert (await post(cw, "bot_message")).status == 200
    assert (await post(cw, "template_message", delivery="d-2")).status == 200
    assert sorted(rows(db_path, "SELECT sender FROM messages")) == [("auto",), ("auto",)]


async def test_chatwoot_resolved_status_closes_conversation(cw: Client, db_path: Path) -> None:
    assert (await post(cw, "status_resolved")).status == 200
    assert rows(db_path, "SELECT type, shop, conversation, customer, agent FROM events") == [
        ("conversation_closed", "chatwoot-3", "42", "501", "张美玲")
    ]


async def test_chatwoot_widget_trigger_and_unknown_events_acknowledged(cw: Client, db_path: Path) -> None:
    assert (await post(cw, "widget_triggered")).status == 200
    assert (await post(cw, "conversation_created")).status == 200
    body = json.dumps({"event": "contact_updated", "id": 1}).encode()
    resp = await cw.post("/v1/chatwoot", data=body, headers=headers(body))
    assert resp.status == 200 and (await resp.json())["accepted"] is False
    assert rows(db_path, "SELECT count(*) FROM events") == [(0,)]


async def test_chatwoot_retry_with_same_delivery_is_logged_once(cw: Client, db_path: Path) -> None:
    first = await (await post(cw, "contact_message", delivery="same")).json()
    second = await (await post(cw, "contact_message", delivery="same")).json()
    assert first["events"][0]["duplicate"] is False and second["events"][0]["duplicate"] is True
    assert rows(db_path, "SELECT count(*) FROM messages") == [(1,)]


async def test_chatwoot_rejects_bad_signature(cw: Client, db_path: Path) -> None:
    body = fixture("contact_message")
    resp = await cw.post("/v1/chatwoot", data=body, headers=headers(body, secret="wrong"))
    assert resp.status == 401
    assert (await resp.json())["field"] == "X-Chatwoot-Signature"
    assert rows(db_path, "SELECT count(*) FROM events") == [(0,)]


async def test_chatwoot_rejects_stale_signature(cw: Client) -> None:
    resp = await post(cw, "contact_message", ts=int(time.time()) - 400)
    assert resp.status == 401


@pytest.mark.parametrize("stamp", ["9" * 400, "１７９５１４００００"])
async def test_chatwoot_timestamp_not_in_ascii_digits_is_a_401_naming_the_timestamp(
    cw: Client, db_path: Path, stamp: str
) -> None:
    # 400 digits overflowed a float in the tolerance check: a 500.
    body = fixture("contact_message")
    sent = {**headers(body), "X-Chatwoot-Timestamp": stamp, "X-Chatwoot-Signature": sign(SECRET, stamp, body)}
    resp = await cw.post("/v1/chatwoot", data=body, headers=sent)
    assert resp.status == 401, await resp.text()
    answer = await resp.json()
    assert (answer["field"], answer["message"]) == ("X-Chatwoot-Timestamp", "timestamp is not epoch seconds")
    assert rows(db_path, "SELECT count(*) FROM events") == [(0,)]
    assert (await post(cw, "contact_message")).status == 200


async def test_chatwoot_rejects_unsigned_unless_allowed(aiohttp_client: Any, db_path: Path) -> None:
    strict = await make_client(aiohttp_client, cw_config(db_path))
    resp = await strict.post("/v1/chatwoot", data=fixture("contact_message"))
    assert resp.status == 401


async def test_chatwoot_allow_unsigned_does_not_skip_a_configured_secret(aiohttp_client: Any, db_path: Path) -> None:
    client = await make_client(aiohttp_client, cw_config(db_path, allow_unsigned=True))
    resp = await client.post("/v1/chatwoot", data=fixture("contact_message"))
    assert resp.status == 401
    assert rows(db_path, "SELECT count(*) FROM events") == [(0,)]


async def test_chatwoot_unsigned_payload_accepted_when_allowed_without_secret(
    aiohttp_client: Any, db_path: Path
) -> None:
    client = await make_client(aiohttp_client, cw_config(db_path, allow_unsigned=True, secret=None))
    resp = await client.post("/v1/chatwoot", data=fixture("contact_message"))
    assert resp.status == 200, await resp.text()
    assert rows(db_path, "SELECT shop, conversation, customer, sender, ts_ms FROM messages") == [
        ("chatwoot-3", "42", "501", "customer", 1795140005123)
    ]


async def test_chatwoot_rejects_payload_missing_conversation(cw: Client) -> None:
    body = json.dumps(
        {"event": "message_created", "id": 1, "content": "在吗", "message_type": "incoming", "account": {"id": 3}}
    ).encode()
    resp = await cw.post("/v1/chatwoot", data=body, headers=headers(body))
    assert resp.status == 400
    assert (await resp.json())["field"] == "conversation.id"


async def test_chatwoot_disabled_is_404(aiohttp_client: Any, config: Config) -> None:
    client = await make_client(aiohttp_client, config)
    resp = await client.post("/v1/chatwoot", data=fixture("contact_message"))
    assert resp.status == 404


def test_chatwoot_echo_of_assistant_followup_is_auto() -> None:
    payload = json.loads(fixture("agent_reply"))
    payload["content_attributes"] = {"assistant_followup_id": "fu-1"}
    mapped = map_payload(payload, by_inbox=False, now_ms=0)
    assert mapped.events[0]["sender"] == "auto" and mapped.events[0]["followup_id"] == "fu-1"
    assert mapped.events[0]["id"] == "auto-fu-1"


class ArmedFor(NoMemory):
    """A memory that knows the agent follow-up fu-1 was armed for, and its text."""

    def followup(self, followup: str) -> tuple[str | None, str] | None:
        return ("李娜", "亲，还在吗[微笑]") if followup == "fu-1" else None


def test_chatwoot_echo_of_a_followup_posted_with_a_users_token_is_the_followups_agents() -> None:
    # Found: posted with an administrator's token, the echo's `user` sender (店长) was logged as its agent.
    payload = json.loads(fixture("agent_reply"))
    payload["sender"] = {"id": 1, "name": "店长", "email": "owner@example.com", "type": "user"}
    payload["content_attributes"] = {"assistant_followup_id": "fu-1"}
    mapped = map_payload(payload, by_inbox=False, now_ms=0, memory=ArmedFor())
    assert (mapped.events[0]["sender"], mapped.events[0]["agent"]) == ("auto", "李娜")
    assert [user for _, user, _ in mapped.notes.agents] == ["12"]  # the assignee; the token's owner is no agent
    unknown = map_payload(payload, by_inbox=False, now_ms=0)  # a follow-up no longer on record
    assert unknown.events[0]["agent"] == "张美玲"  # the conversation's assignee


def test_chatwoot_echo_of_a_followup_reads_as_the_assistant_logs_it() -> None:
    # Found: Chatwoot's copy carries emoji for the phrase's emoticon codes; logged before the assistant's own
    # record, one follow-up read 祝您生活愉快 🌹 and the next 祝您生活愉快 [玫瑰], depending on which came first.
    payload = json.loads(fixture("agent_reply"))
    payload["content"] = "亲，还在吗🙂"
    payload["content_attributes"] = {"assistant_followup_id": "fu-1"}
    mapped = map_payload(payload, by_inbox=False, now_ms=0, memory=ArmedFor())
    assert mapped.events[0]["text"] == "亲，还在吗[微笑]"


@pytest.mark.parametrize("status", ["resolved", "snoozed"])
async def test_chatwoot_an_agent_writing_in_a_set_aside_conversation_arms_no_follow_up(
    aiohttp_client: Any, db_path: Path, status: str
) -> None:
    # A tracking number sent after the resolve (or into a snoozed conversation) got the 结束语 five minutes later.
    payload = json.loads(fixture("agent_reply"))
    payload["conversation"]["status"] = status
    mapped = map_payload(payload, by_inbox=False, now_ms=0)
    assert [e["type"] for e in mapped.events] == ["message", "conversation_closed"]
    assert mapped.events[1]["ts"] == mapped.events[0]["ts"] and "text" not in mapped.events[1]
    client = await make_client(aiohttp_client, replace_config(cw_config(db_path), "followups", mode="send"))
    asked = json.loads(fixture("contact_message"))
    for n, message in enumerate((asked, payload, asked, {**payload, "conversation": {**payload["conversation"]}})):
        message["created_at"] = int(time.time()) + n  # now: a follow-up is armed only for a live exchange
        message["id"] = 9200 + n
        if n == 3:  # open again: the agent's next reply arms one as ever
            assert not client.app[FOLLOWUPS].timers.queue, "no follow-up into a conversation Chatwoot keeps aside"
            message["conversation"]["status"] = "open"
        body = json.dumps(message).encode()
        assert (await client.post("/v1/chatwoot", data=body, headers=headers(body, delivery=f"d-{n}"))).status == 200
    assert len(client.app[FOLLOWUPS].timers.queue) == 1


@pytest.mark.parametrize("created_at", [None, "2026-12-05T13:05:28.400", "soon"])
def test_chatwoot_message_without_a_zoned_time_takes_its_epoch_from_the_conversation(created_at: Any) -> None:
    # Stamped with its arrival instead, a delivery held back for a minute looked just written: a fresh idle wait.
    payload = json.loads(fixture("agent_reply"))
    payload["created_at"] = created_at
    mapped = map_payload(payload, by_inbox=False, now_ms=1_900_000_000_000)
    assert mapped.events[0]["ts"] == payload["conversation"]["messages"][0]["created_at"] * 1000


def test_chatwoot_message_without_any_time_is_logged_at_arrival_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(chatwoot, "_UNTIMED", Throttled(chatwoot.log, chatwoot._UNTIMED.message))
    payload = json.loads(fixture("agent_reply"))
    payload["created_at"] = "2026-12-05T13:05:28.400"
    payload["conversation"]["messages"][0]["id"] = 1  # another message's time is not this one's
    with caplog.at_level(logging.WARNING, logger="assistant.chatwoot"):
        for n in range(3):
            mapped = map_payload(payload, by_inbox=False, now_ms=1_900_000_000_000 + n)
            assert mapped.events[0]["ts"] == 1_900_000_000_000 + n
    warned = [r.getMessage() for r in caplog.records if r.name == "assistant.chatwoot"]
    assert len(warned) == 1 and "2026-12-05T13:05:28.400" in warned[0] and "arrival" in warned[0]


@pytest.mark.parametrize("when", [2**63, -(2**63), 10**30, -1e308, 1e308, 0, -5])
async def test_chatwoot_a_time_outside_the_logs_years_is_no_time_and_the_message_is_logged(
    cw: Client, db_path: Path, when: float
) -> None:
    # A huge `updated_at` reached the memory's table: "Python int too large to convert to SQLite INTEGER", a 500
    # after the message was logged; -1e308 seconds overflowed to -inf ms (a 500 before).
    payload = json.loads(fixture("contact_message"))
    payload["updated_at"] = payload["conversation"]["updated_at"] = payload["created_at"] = when
    body = json.dumps(payload).encode()
    resp = await cw.post("/v1/chatwoot", data=body, headers=headers(body))
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["events"][0]["duplicate"] is False
    stamped = payload["conversation"]["messages"][0]["created_at"] * 1000  # the same message's time in the list
    assert rows(db_path, "SELECT id, ts_ms FROM events") == [("cw-3-msg-9101", stamped)]
    resolved = json.loads(fixture("status_resolved"))
    resolved["updated_at"] = resolved["timestamp"] = when
    body = json.dumps(resolved).encode()
    resp = await cw.post("/v1/chatwoot", data=body, headers=headers(body, delivery="d-2"))
    assert resp.status == 200, await resp.text()
    assert rows(db_path, "SELECT type FROM events ORDER BY seq") == [("message",), ("conversation_closed",)]


def test_chatwoot_a_snoozed_status_closes_the_conversation_for_the_assistant() -> None:
    payload = json.loads(fixture("status_resolved"))
    payload["status"] = "snoozed"
    mapped = map_payload(payload, by_inbox=False, now_ms=0)
    assert [e["type"] for e in mapped.events] == ["conversation_closed"] and "snoozed" in mapped.events[0]["id"]


def test_chatwoot_echo_with_attributes_as_a_json_string_is_auto() -> None:
    payload = json.loads(fixture("agent_reply"))
    payload["content_attributes"] = json.dumps({"assistant_followup_id": "fu-2"})  # posted as a string, kept so
    mapped = map_payload(payload, by_inbox=False, now_ms=0)
    assert (mapped.events[0]["sender"], mapped.events[0]["id"]) == ("auto", "auto-fu-2")


def test_chatwoot_shop_ids_round_trip() -> None:
    assert account_of_shop(shop_id(3, 7, by_inbox=True)) == "3"
    assert account_of_shop(shop_id("12", None, by_inbox=False)) == "12"
    assert account_of_shop("taobao-shop") is None


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=12),
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "event",
                        "id",
                        "content",
                        "message_type",
                        "private",
                        "sender",
                        "conversation",
                        "account",
                        "meta",
                        "assignee",
                        "status",
                        "created_at",
                        "type",
                        "messages",
                        "account_id",
                        "inbox",
                        "attachments",
                        "changed_attributes",
                        "updated_at",
                        "content_attributes",
                    ]
                ),
                children,
                max_size=5,
            )
        ),
        max_leaves=12,
    )
)
def test_chatwoot_mapping_of_any_payload_is_events_ignored_or_named_error(payload: Any) -> None:
    """Chatwoot versions differ in which keys exist: mapping never fails other than with a named error."""
    if not isinstance(payload, dict):
        payload = {"event": "message_created", "conversation": payload}
    try:
        mapped = map_payload(payload, by_inbox=False, now_ms=1_795_140_000_000)
    except EventError as exc:
        assert exc.field
        return
    assert (mapped.ignored is None) == bool(mapped.events)


async def test_chatwoot_account_without_a_token_is_warned_about_once(
    aiohttp_client: Any, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Found: a second account's webhooks were logged while nothing could be posted back to it, and nothing said so.
    config = load_config(
        ROOT / "config.toml",
        env={"CHATWOOT_WEBHOOK_SECRET": SECRET},
        overrides={
            "store": {"path": str(db_path)},
            "hooks": {"enabled": ["chatwoot"], "chatwoot": {"post_suggestions_as_note": True}},
        },
    )
    client = await make_client(aiohttp_client, config)
    with caplog.at_level("WARNING", logger="assistant.web.chatwoot"):
        for name in ("contact_message", "agent_reply"):
            assert (await post(client, name)).status == 200
    warned = [r.getMessage() for r in caplog.records if "sends webhooks" in r.getMessage()]
    assert warned == [
        "Chatwoot account 3 sends webhooks, but CHATWOOT_API_TOKEN is not set: no follow-up or note can be posted"
        " to it (give it a token in [hooks.chatwoot] account_tokens_env, docs/chatwoot.md)"
    ]


async def test_chatwoot_suggestions_name_the_agent_as_the_buyer_reads_it(cw: Client, db_path: Path) -> None:
    # Found: the first message of a conversation was suggested 我是客服， (its agent not known yet) and a reload
    # 我是客服张美玲 #15 (the log's suffix telling two users of one name apart, offered for the buyer to read).
    assert (await post(cw, "agent_reply")).status == 200  # user 12 holds the name 张美玲
    payload = json.loads(fixture("contact_message"))
    payload.update(id=9201, content="你好 在吗")
    payload["conversation"].update(id=43)
    payload["conversation"]["meta"]["assignee"].update(id=15, name="张美玲", available_name="张美玲")
    body = json.dumps(payload, ensure_ascii=False).encode()
    resp = await cw.post("/v1/chatwoot", data=body, headers=headers(body, delivery="d-2"))
    assert resp.status == 200
    texts = [s["text"] for s in (await resp.json())["events"][0]["suggestions"]]
    assert any("我是客服张美玲，" in t for t in texts), texts
    assert not any("#15" in t or "501" in t for t in texts), texts
    assert rows(db_path, "SELECT agent FROM messages WHERE conversation = '43'") == [("张美玲 #15",)]  # the log's id


def _panel_cards(html: str) -> list[dict[str, Any]]:
    marker = '<script type="application/json" id="panel-state">'
    start = html.index(marker) + len(marker)
    return json.loads(html[start : html.index("</script>", start)])["conversations"]  # type: ignore[no-any-return]


async def test_chatwoot_card_is_headed_by_the_contacts_name_or_a_neutral_label(cw: Client) -> None:
    # The card was headed "501", the contact id shown as if it were the buyer's name.
    assert (await post(cw, "contact_message")).status == 200
    html = await (await cw.get("/panel?agent=张美玲")).text()
    [card] = _panel_cards(html)
    assert (card["customer"], card["customer_label"]) == ("501", "王小姐")
    assert '<span class="who">王小姐</span>' in html
    nameless = json.loads(fixture("contact_message"))
    nameless["id"], nameless["conversation"]["id"] = 9001, 43
    nameless["sender"]["id"] = nameless["conversation"]["meta"]["sender"]["id"] = 777001
    nameless["sender"]["name"] = nameless["conversation"]["meta"]["sender"]["name"] = " "
    body = json.dumps(nameless).encode()
    assert (await cw.post("/v1/chatwoot", data=body, headers=headers(body, delivery="d-2"))).status == 200
    html = await (await cw.get("/panel?agent=张美玲")).text()
    labels = {c["conversation"]: c["customer_label"] for c in _panel_cards(html)}
    assert labels == {"42": "王小姐", "43": "买家 #777001"}
    assert '<span class="who">777001</span>' not in html


def test_chatwoot_contact_name_comes_from_the_conversations_contact_not_an_agent_sender() -> None:
    reply = json.loads(fixture("agent_reply"))  # sender: the agent; meta.sender: the contact
    assert map_payload(reply, by_inbox=False, now_ms=0).contact_name == reply["conversation"]["meta"]["sender"]["name"]
    del reply["conversation"]["meta"]["sender"]["name"]
    assert map_payload(reply, by_inbox=False, now_ms=0).contact_name == ""  # never the agent's name


async def test_chatwoot_contact_name_survives_a_restart_and_is_saved_only_when_new_or_changed(
    aiohttp_client: Any, db_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Found: the name was kept in memory only, so after a restart the card said 买家 #501 until the contact wrote again.
    saved: list[tuple[str, str, str]] = []
    real_save = chatwoot_web.save_name

    def counting_save(conn: Any, shop: str, customer: str, name: str) -> None:
        saved.append((shop, customer, name))
        real_save(conn, shop, customer, name)

    monkeypatch.setattr(chatwoot_web, "save_name", counting_save)
    caplog.set_level(logging.DEBUG)
    client = await make_client(aiohttp_client, cw_config(db_path))
    renamed = json.loads(fixture("contact_message"))
    renamed.update(id=9003, content="还在吗")
    renamed["sender"]["name"] = renamed["conversation"]["meta"]["sender"]["name"] = "王女士"
    body = json.dumps(renamed, ensure_ascii=False).encode()
    assert (await post(client, "contact_message")).status == 200
    assert (await post(client, "contact_message", delivery="d-2")).status == 200  # the same name: nothing to save
    assert saved == [("chatwoot-3", "501", "王小姐")]
    assert (await client.post("/v1/chatwoot", data=body, headers=headers(body, delivery="d-3"))).status == 200
    assert saved == [("chatwoot-3", "501", "王小姐"), ("chatwoot-3", "501", "王女士")]
    assert rows(db_path, "SELECT shop, customer, name FROM customer_names") == [
        ("chatwoot-3", "501", "王女士")
    ]  # replaced
    await client.close()

    restarted = await make_client(aiohttp_client, cw_config(db_path))
    [card] = _panel_cards(await (await restarted.get("/panel?agent=张美玲")).text())
    assert card["customer_label"] == "王女士"
    assert not [r.getMessage() for r in caplog.records if "王小姐" in r.getMessage() or "王女士" in r.getMessage()]
    raw = rows(db_path, "SELECT raw FROM events")
    assert raw and not any("王" in r for (r,) in raw)  # in no event of the log either
