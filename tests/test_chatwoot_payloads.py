"""Chatwoot as it really sends (CHATWOOT.md D1–D8): each reproduction replayed through the real app."""

from __future__ import annotations

import io
import json
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient

from assistant.chatwoot import _chatwoot_id
from assistant.cli import main
from assistant.config import Config, load_config
from assistant.daylog import formats
from assistant.daylog.query import Item
from assistant.events import EventError
from assistant.signing import sign
from assistant.web.appkeys import FOLLOWUPS
from tests.helpers import ROOT, make_app
from tests.test_live import open_stream

FIXTURES = ROOT / "tests" / "data" / "chatwoot"
SECRET = "cw-account-secret"
BOT_SECRET = "cw-bot-secret"
Client = TestClient  # type: ignore[type-arg]


def fixture(name: str) -> dict[str, Any]:
    return dict(json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8")))


def cw_config(db_path: Path, **chatwoot: Any) -> Config:
    return load_config(
        ROOT / "config.toml",
        env={"CHATWOOT_WEBHOOK_SECRET": SECRET, "CHATWOOT_BOT_SECRET": BOT_SECRET},
        overrides={"store": {"path": str(db_path)}, "hooks": {"enabled": ["chatwoot"], "chatwoot": chatwoot}},
    )


@pytest.fixture
async def cw(aiohttp_client: Any, db_path: Path) -> Client:
    return await aiohttp_client(make_app(cw_config(db_path)))


@pytest.fixture
async def cw_bot(aiohttp_client: Any, db_path: Path) -> Client:
    """The account webhook and an agent bot pointed at the assistant, each with its own secret."""
    return await aiohttp_client(make_app(cw_config(db_path, extra_secrets_env=["CHATWOOT_BOT_SECRET"])))


deliveries = iter(range(1, 1_000_000))


async def send(client: Client, payload: dict[str, Any], *, secret: str = SECRET) -> tuple[int, dict[str, Any]]:
    """Post a payload signed as lib/webhooks/trigger.rb signs it, with a fresh delivery id each time."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    stamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "X-Chatwoot-Delivery": f"delivery-{next(deliveries)}",
        "X-Chatwoot-Timestamp": str(stamp),
        "X-Chatwoot-Signature": sign(secret, stamp, body),
    }
    resp = await client.post("/v1/chatwoot", data=body, headers=headers)
    return resp.status, dict(await resp.json())


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def closures(db: Path) -> list[tuple[Any, ...]]:
    return rows(db, "SELECT conversation, ts_ms FROM events WHERE type = 'conversation_closed' ORDER BY seq")


def iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ---- D1: the agent-bot route --------------------------------------------------------------------


async def test_chatwoot_each_source_signs_with_its_own_secret(cw_bot: Client, db_path: Path) -> None:
    assert (await send(cw_bot, fixture("contact_message")))[0] == 200
    assert (await send(cw_bot, fixture("status_resolved"), secret=BOT_SECRET))[0] == 200
    status, body = await send(cw_bot, fixture("agent_reply"), secret="a-secret-nobody-configured")
    assert status == 401 and body["field"] == "X-Chatwoot-Signature"
    assert rows(db_path, "SELECT type FROM events ORDER BY seq") == [("message",), ("conversation_closed",)]


async def test_chatwoot_an_accounts_own_secret_speaks_for_that_account_alone(
    aiohttp_client: Any, db_path: Path
) -> None:
    # Any configured secret acted for any account: an account's administrator, who sees their webhook's secret,
    # posted follow-ups into another account's conversations with its token, reassigned and closed them.
    config = load_config(
        ROOT / "config.toml",
        env={"CHATWOOT_WEBHOOK_SECRET": SECRET, "CW_SECRET_4": "secret-of-4"},
        overrides={"store": {"path": str(db_path)},
                   "hooks": {"enabled": ["chatwoot"], "chatwoot": {"account_secrets_env": {"4": "CW_SECRET_4"}}}},
    )  # fmt: skip
    client = await aiohttp_client(make_app(config))
    of_4 = fixture("agent_reply")
    of_4.update(id=9160, account={"id": 4, "name": "另一家店"})
    status, body = await send(client, of_4)  # the shared secret no longer speaks for account 4
    assert status == 401 and body["field"] == "X-Chatwoot-Signature", body
    assert body["message"] == "account 4 has a secret of its own; this payload is signed with another"
    assert (await send(client, of_4, secret="secret-of-4"))[0] == 200
    of_3 = fixture("agent_reply")  # account 3: no secret of its own
    status, body = await send(client, of_3, secret="secret-of-4")  # 4's secret speaks for 4 alone
    assert status == 401 and "no configured secret speaks for account 3" in body["message"], body
    assert "account_secrets_env" in body["message"]  # it said account 3 had a secret of its own, which it has not
    assert (await send(client, of_3))[0] == 200
    assert rows(db_path, "SELECT shop FROM messages ORDER BY seq") == [("chatwoot-4",), ("chatwoot-3",)]


async def test_chatwoot_bot_resolved_and_opened_events_are_status_changes(cw_bot: Client, db_path: Path) -> None:
    cw = cw_bot
    status, body = await send(cw, fixture("bot_resolved"), secret=BOT_SECRET)
    assert status == 200 and body["accepted"] is True
    assert closures(db_path) == [("42", 1795140600731)]
    status, body = await send(cw, fixture("status_resolved"))  # the account webhook's word on the same resolve
    assert status == 200 and body["accepted"] is False
    assert (await send(cw, fixture("bot_opened"), secret=BOT_SECRET))[0] == 200
    again = fixture("status_resolved")
    again["updated_at"] = 1795141500.25  # resolved again after the reopening: a second closure
    assert (await send(cw, again))[0] == 200
    assert closures(db_path) == [("42", 1795140600731), ("42", 1795141500250)]


# ---- D2: one resolution, one closure -------------------------------------------------------------


async def test_chatwoot_one_resolve_announced_twice_then_a_label_is_one_closure(cw: Client, db_path: Path) -> None:
    assert (await send(cw, fixture("status_resolved")))[0] == 200
    assert (await send(cw, fixture("updated_resolved")))[0] == 200
    status, body = await send(cw, fixture("updated_labels"))
    assert status == 200 and body == {
        "accepted": False,
        "ignored": "conversation updated without a status or assignee change",
    }
    assert closures(db_path) == [("42", 1795140600731)]  # stamped when the status changed (updated_at)


async def test_chatwoot_late_closure_never_recloses_a_reopened_conversation(cw: Client, db_path: Path) -> None:
    assert (await send(cw, fixture("status_resolved")))[0] == 200
    reopening = fixture("contact_message")  # the customer writes again: Chatwoot reopens the conversation
    reopening.update(id=9120, created_at=iso(1795141200))
    reopening["conversation"]["updated_at"] = 1795141200.402117
    assert (await send(cw, reopening))[0] == 200
    assert (await send(cw, fixture("status_opened")))[0] == 200
    late = fixture("updated_resolved")  # built while it was resolved, delivered after the reopening
    late["updated_at"] = 1795140700.5
    status, body = await send(cw, late)
    assert status == 200 and body["accepted"] is False
    assert (await send(cw, fixture("updated_labels")))[0] == 200
    assert closures(db_path) == [("42", 1795140600731)]
    assert rows(db_path, "SELECT status FROM conversations") == [("open",)]


async def test_chatwoot_a_read_receipt_after_the_resolve_is_no_second_closure(cw: Client, db_path: Path) -> None:
    # Found: the buyer read the agent's last reply after the agent resolved the conversation; Chatwoot's message_updated
    # (status read) carries the conversation as it is then, resolved, and was taken for the agent writing in a resolved
    # conversation: a second conversation_closed for one resolve, stamped at the reply's time, before the resolve.
    assert (await send(cw, fixture("agent_reply")))[0] == 200
    assert (await send(cw, fixture("status_resolved")))[0] == 200
    status, body = await send(cw, fixture("agent_reply_read"))
    assert status == 200 and [event["duplicate"] for event in body["events"]] == [True], body
    assert closures(db_path) == [("42", 1795140600731)]


async def test_chatwoot_first_closure_arriving_after_a_later_message_leaves_it_open(cw: Client, db_path: Path) -> None:
    later = fixture("contact_message")
    later.update(id=9121, created_at=iso(1795141300))
    assert (await send(cw, later))[0] == 200
    assert (await send(cw, fixture("status_resolved")))[0] == 200  # resolved before that message was written
    assert rows(db_path, "SELECT status FROM conversations") == [("open",)]


# ---- D3: our follow-up deleted or retried ---------------------------------------------------------


def echo_of_followup(message_id: int) -> dict[str, Any]:
    echo = fixture("agent_reply")
    echo.update(id=message_id, content="亲，还在吗？有问题随时找我哦~")
    echo["content_attributes"] = {"assistant_followup_id": "fu-1", "kind": "followup"}
    return echo


async def test_chatwoot_deleted_followup_adds_no_agent_message(cw: Client, db_path: Path) -> None:
    assert (await send(cw, echo_of_followup(9401)))[0] == 200
    status, body = await send(cw, fixture("message_deleted"))
    assert status == 200 and body["accepted"] is False
    assert rows(db_path, "SELECT id, sender FROM events JOIN messages USING (seq)") == [("auto-fu-1", "auto")]


async def test_chatwoot_retried_followup_is_still_ours(cw: Client, db_path: Path) -> None:
    assert (await send(cw, echo_of_followup(9401)))[0] == 200
    retried = echo_of_followup(9401)
    retried.update(event="message_updated", content_attributes={})  # MessagesController#retry empties them
    status, body = await send(cw, retried)
    assert status == 200 and body["events"][0]["duplicate"] is True
    assert rows(db_path, "SELECT sender, followup_id FROM messages") == [("auto", "fu-1")]


# ---- D4: one agent, one name --------------------------------------------------------------------


async def test_chatwoot_agent_has_one_name_in_log_and_report(
    cw: Client, db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (await send(cw, fixture("contact_message")))[0] == 200  # assignee: name 张美玲, display name 小美
    assert (await send(cw, fixture("agent_reply")))[0] == 200  # sender: name 张美玲, no display name
    assert rows(db_path, "SELECT DISTINCT agent FROM messages") == [("张美玲",)]
    config = ROOT / "config.toml"
    assert main(["log", "--config", str(config), "--db", str(db_path), "--date", "2026-11-20"]) == 0
    log_text = capsys.readouterr().out
    assert "张美玲" in log_text and "小美" not in log_text
    report = ["report", "--config", str(config), "--db", str(db_path), "--date", "2026-11-20", "--format", "json"]
    assert main(report) == 0
    agents = {row["agent"] for row in json.loads(capsys.readouterr().out)["agents"]}
    assert agents == {"张美玲"}


async def test_chatwoot_agent_renamed_in_chatwoot_keeps_one_name(cw: Client, db_path: Path) -> None:
    assert (await send(cw, fixture("agent_reply")))[0] == 200
    renamed = fixture("contact_message")
    renamed.update(id=9130, created_at=iso(1795140100))
    renamed["conversation"]["meta"]["assignee"]["name"] = "张美玲（售后）"  # the same user id 12, renamed
    assert (await send(cw, renamed))[0] == 200
    assert rows(db_path, "SELECT DISTINCT agent FROM messages") == [("张美玲",)]


async def test_chatwoot_two_users_of_one_name_stay_two_agents(cw: Client, db_path: Path) -> None:
    # Chatwoot does not keep names unique: users 12 and 13 are both 张美玲 (the second is told apart by id).
    assert (await send(cw, fixture("agent_reply")))[0] == 200
    other = fixture("agent_reply")
    other.update(id=9131, created_at=iso(1795140200))
    other["sender"] = {**other["sender"], "id": 13, "email": "other@example.com"}
    assert (await send(cw, other))[0] == 200
    again = fixture("agent_reply")
    again.update(id=9132, created_at=iso(1795140300))
    assert (await send(cw, again))[0] == 200
    assert rows(db_path, "SELECT agent FROM messages ORDER BY seq") == [("张美玲",), ("张美玲 #13",), ("张美玲",)]
    used = {"shop": "chatwoot-3", "conversation": "42", "customer": "501", "phrase_id": "fh1"}
    resp = await cw.post("/v1/panel/used", json={**used, "agent": "张美玲", "chatwoot_user": 13})
    assert resp.status == 200, await resp.text()
    assert rows(db_path, "SELECT agent FROM suggestion_uses") == [("张美玲 #13",)]


async def test_chatwoot_a_user_named_like_another_users_told_apart_name_gets_his_own_id(
    cw: Client, db_path: Path
) -> None:
    # User 200 named himself 张美玲 #13 before user 13 (a real 张美玲) wrote: he took the name user 13 was to get,
    # with user 13's panel (its conversations, in any shop) and report row.
    impostor = fixture("agent_reply")
    impostor["sender"] = {**impostor["sender"], "id": 200, "name": "张美玲 #13", "available_name": "张美玲 #13"}
    impostor["conversation"]["meta"]["assignee"] = {**impostor["conversation"]["meta"]["assignee"], "id": 200}
    assert (await send(cw, fixture("agent_reply")))[0] == 200  # user 12, 张美玲
    assert (await send(cw, {**impostor, "id": 9150, "created_at": iso(1795140200)}))[0] == 200
    real = fixture("agent_reply")
    real.update(id=9151, created_at=iso(1795140300))
    real["sender"] = {**real["sender"], "id": 13}
    assert (await send(cw, real))[0] == 200
    assert rows(db_path, "SELECT agent FROM messages ORDER BY seq") == [
        ("张美玲",),
        ("张美玲 #13 #200",),
        ("张美玲 #13",),
    ]


@pytest.mark.parametrize(
    ("where", "value", "field"),
    [
        ("conversation", "77/../../../4/conversations/77", "conversation.id"),  # the API path of another account
        ("conversation", "1?a=b", "conversation.id"),
        ("account", "04", "account.id"),  # account 4 by another spelling
        ("message", "9/../1", "id"),
    ],
)
async def test_chatwoot_ids_are_positive_integers(
    cw: Client, db_path: Path, where: str, value: str, field: str
) -> None:
    # The ids go into the Chatwoot API's paths with the service's token: a signed sender chose the endpoint.
    payload = fixture("agent_reply")
    if where == "conversation":
        payload["conversation"] = {**payload["conversation"], "id": value}
    elif where == "account":
        payload["account"] = {**payload["account"], "id": value}
    else:
        payload["id"] = value
    status, body = await send(cw, payload)
    assert status == 400 and body["field"] == field, body
    assert rows(db_path, "SELECT count(*) FROM messages") == [(0,)] or not db_path.exists()


@pytest.mark.parametrize(
    ("value", "taken"),
    [(9143, "9143"), ("9143", "9143"), (10**19 - 1, "9999999999999999999"), (10**19, None), (0, None), (-3, None)]
    + [(True, None), ("04", None), (9143.0, None)],
)
def test_chatwoot_an_integer_id_is_taken_as_its_text_spelling_would_be(value: object, taken: str | None) -> None:
    # An integer (as Chatwoot sends ids) is taken without the pattern: exactly the ones the pattern takes.
    if taken is None:
        with pytest.raises(EventError):
            _chatwoot_id(value, "id")
    else:
        assert _chatwoot_id(value, "id") == taken


async def test_chatwoot_one_name_in_two_accounts_is_two_agents_unless_one_user(cw: Client, db_path: Path) -> None:
    # Two shops (accounts) each with a 张美玲 were one agent: one report row, and one per-agent token that opened
    # both shops' conversations. A user's id is the installation's: the same person in both accounts stays one.
    assert (await send(cw, fixture("agent_reply")))[0] == 200  # account 3, user 12
    elsewhere = fixture("agent_reply")
    elsewhere.update(id=9140, created_at=iso(1795140200), account={"id": 4, "name": "另一家店"})
    elsewhere["sender"] = {**elsewhere["sender"], "id": 40}
    elsewhere["conversation"]["meta"]["assignee"] = {**elsewhere["conversation"]["meta"]["assignee"], "id": 40}
    assert (await send(cw, elsewhere))[0] == 200
    same = fixture("agent_reply")
    same.update(id=9141, created_at=iso(1795140300), account={"id": 4, "name": "另一家店"})
    assert (await send(cw, same))[0] == 200  # user 12 again, now in account 4
    assert rows(db_path, "SELECT shop, agent FROM messages ORDER BY seq") == [
        ("chatwoot-3", "张美玲"),
        ("chatwoot-4", "张美玲 #40"),
        ("chatwoot-4", "张美玲"),
    ]


@pytest.mark.parametrize(
    ("name", "logged"),
    [
        ("小\u202e美", "小美"),
        ("\u200b小美\ufeff", "小美"),
        ("小\u2066美\u2069", "小美"),
        ("小美\n(售后)", "小美 (售后)"),
    ],
)
async def test_chatwoot_a_name_loses_what_shows_nothing(cw: Client, db_path: Path, name: str, logged: str) -> None:
    # Text-direction and zero-width characters became spaces: 小\u202e美 was logged as agent "小 美".
    reply = fixture("agent_reply")
    reply["sender"] = {**reply["sender"], "name": name}
    reply["conversation"]["meta"]["assignee"] = {**reply["conversation"]["meta"]["assignee"], "name": name}
    status, answer = await send(cw, reply)
    assert status == 200, answer
    assert rows(db_path, "SELECT agent FROM messages") == [(logged,)]


@pytest.mark.parametrize("name", ["\u3164", "\u2800 \u115f", "\u200b"])
async def test_chatwoot_a_name_that_shows_nothing_is_the_user_id(cw: Client, db_path: Path, name: str) -> None:
    # A user named "ㅤ" (a Hangul filler) was logged as agent "ㅤ", blank in every panel and report row.
    reply = fixture("agent_reply")
    reply["sender"] = {**reply["sender"], "name": name}
    reply["conversation"]["meta"]["assignee"] = {**reply["conversation"]["meta"]["assignee"], "name": name}
    status, answer = await send(cw, reply)
    assert status == 200, answer
    assert rows(db_path, "SELECT agent FROM messages") == [(str(reply["sender"]["id"]),)]


async def test_chatwoot_a_name_past_the_logs_limit_is_shortened_not_refused(cw: Client, db_path: Path) -> None:
    # Chatwoot's users.name has no length limit, and an account webhook is never retried: a 400 loses it.
    reply = fixture("agent_reply")
    reply["sender"] = {**reply["sender"], "name": "售前客服" * 60}
    reply["conversation"]["meta"]["assignee"] = {**reply["conversation"]["meta"]["assignee"], "name": "售前客服" * 60}
    status, answer = await send(cw, reply)
    assert status == 200, answer
    [(agent,)] = rows(db_path, "SELECT agent FROM messages")
    assert agent.startswith("售前客服售前客服") and agent.endswith("…") and len(agent) <= 200


async def test_chatwoot_dashboard_app_credits_the_agent_under_the_logged_name(cw: Client, db_path: Path) -> None:
    assert (await send(cw, fixture("agent_reply")))[0] == 200  # user 12 is 张美玲 in the log
    used = {"shop": "chatwoot-3", "conversation": "42", "customer": "501", "phrase_id": "fh1"}
    # The Dashboard App's currentAgent after a rename in Chatwoot: {id: 12, name: "美玲"}.
    resp = await cw.post("/v1/panel/used", json={**used, "agent": "美玲", "chatwoot_user": 12})
    assert resp.status == 200, await resp.text()
    resp = await cw.post("/v1/panel/used", json={**used, "agent": "李雷", "chatwoot_user": 99})  # never seen
    assert resp.status == 200
    assert rows(db_path, "SELECT agent FROM suggestion_uses ORDER BY seq") == [("张美玲",), ("李雷",)]


async def test_chatwoot_bot_assignee_is_no_agent(cw: Client, db_path: Path) -> None:
    message = fixture("contact_message")
    message["conversation"]["meta"]["assignee"] = {"id": 2, "name": "小助手", "avatar_url": "", "type": "agent_bot"}
    message["conversation"]["meta"]["assignee_type"] = "AgentBot"
    assert (await send(cw, message))[0] == 200
    assert rows(db_path, "SELECT sender, agent FROM messages") == [("customer", None)]


# ---- D5: what Chatwoot legitimately sends is logged -----------------------------------------------


async def test_chatwoot_ten_thousand_characters_are_logged_whole(cw: Client, db_path: Path) -> None:
    status, body = await send(cw, fixture("long_message"))
    assert status == 200 and body["accepted"] is True
    assert rows(db_path, "SELECT sender, length(text) FROM messages") == [("customer", 10_000)]


async def test_chatwoot_email_sized_body_is_accepted(cw: Client, db_path: Path) -> None:
    email = fixture("long_message")
    html = "<div>" + email["content"] + "</div>"
    email["content_attributes"] = {
        "email": {"html_content": {"full": html * 10}, "text_content": {"full": email["content"]}}
    }
    email["conversation"]["messages"][0]["content_attributes"] = email["content_attributes"]
    assert len(json.dumps(email, ensure_ascii=False).encode()) > 524_288  # twice [server] max_body_bytes
    status, _ = await send(cw, email)
    assert status == 200
    assert rows(db_path, "SELECT count(*) FROM messages") == [(1,)]


async def test_chatwoot_body_limit_is_configurable(aiohttp_client: Any, db_path: Path) -> None:
    client = await aiohttp_client(make_app(cw_config(db_path, max_body_bytes=10_000)))
    status, body = await send(client, fixture("long_message"))
    assert status == 413 and body["error"] == "payload_too_large"


async def test_chatwoot_attachment_reply_is_logged_and_moves_the_follow_up(aiohttp_client: Any, db_path: Path) -> None:
    app = make_app(cw_config(db_path))
    client = await aiohttp_client(app)
    now = time.time()
    reply = fixture("agent_reply")
    reply["created_at"] = iso(now - 60)
    assert (await send(client, reply))[0] == 200
    attachment = fixture("attachment_reply")
    attachment["created_at"] = iso(now - 20)
    status, body = await send(client, attachment)
    assert status == 200 and body["accepted"] is True
    assert rows(db_path, "SELECT sender, agent, text FROM messages ORDER BY seq")[-1] == ("agent", "张美玲", "[图片]")
    timer = app[FOLLOWUPS].timers.queue.get(("chatwoot-3", "42"))
    assert timer is not None
    idle_ms = app[FOLLOWUPS].policy.idle_ms
    assert timer.due_ms == int((now - 20) * 1000) + idle_ms  # idle from the attachment, not the text before it


async def test_chatwoot_a_conversations_inbox_is_kept_without_shop_by_inbox(cw: Client, db_path: Path) -> None:
    # What a refusal of the token in that inbox names (test_chatwoot_sending): kept once, not per message.
    for message_id in (9201, 9202):
        assert (await send(cw, {**fixture("agent_reply"), "id": message_id}))[0] == 200
    assert rows(db_path, "SELECT shop, conversation, inbox FROM conversation_inboxes") == [("chatwoot-3", "42", "7")]


async def test_chatwoot_text_with_an_attachment_logs_both(cw: Client, db_path: Path) -> None:
    # Found: a customer's question with a photo was logged as the question alone; the photo was lost to the log.
    message = fixture("attachment_reply")
    message.update(content="这件有黑色吗", message_type="incoming", sender={"id": 501, "name": "王小姐"})
    message["attachments"].append({**message["attachments"][0], "file_type": "file"})
    assert (await send(cw, message))[0] == 200
    assert rows(db_path, "SELECT sender, text FROM messages") == [("customer", "这件有黑色吗 [图片] [文件]")]


def reassigned(user: dict[str, Any] | None, updated_at: float) -> dict[str, Any]:
    """`conversation_updated` as Chatwoot sends it when an agent hands the open conversation to `user`."""
    payload = fixture("updated_labels")
    payload.update(status="open", updated_at=updated_at)
    payload["changed_attributes"] = [{"assignee_id": {"previous_value": 12, "current_value": (user or {}).get("id")}}]
    payload["meta"]["assignee"] = user
    return payload


async def test_chatwoot_reassignment_hands_the_conversation_to_the_new_agent(
    aiohttp_client: Any, db_path: Path
) -> None:
    # Found: a reassignment in Chatwoot was ignored ("conversation updated without a status change"): the new
    # agent's panel never showed the waiting customer, and the old agent's kept the card.
    client = await aiohttp_client(make_app(cw_config(db_path)))
    assert (await send(client, fixture("contact_message")))[0] == 200  # assigned to 张美玲 (user 12)
    old = await open_stream(client, f"agent={quote('张美玲')}")
    status, body = await send(client, reassigned({"id": 13, "name": "阿杰", "type": "user"}, 1795140300.5))
    assert status == 200 and body["accepted"] is True
    moved = await old.wait_for(lambda e: e.event == "conversation" and e.data["payload"]["agent"] == "阿杰")
    assert moved.data["payload"]["previous_agent"] == "张美玲"  # the old panel drops the card
    await old.close()
    new = await open_stream(client, f"agent={quote('阿杰')}")
    assert [c["conversation"] for c in new.of("snapshot")[0].data["conversations"]] == ["42"]
    await new.close()
    assert (await send(client, reassigned({"id": 13, "name": "阿杰", "type": "user"}, 1795140300.5)))[1]["events"][0][
        "duplicate"
    ]  # the same change announced again
    status, body = await send(client, reassigned(None, 1795140400.0))  # unassigned: it stays with 阿杰
    assert body["accepted"] is False and "unassigned" in body["ignored"]
    assert rows(db_path, "SELECT type, agent FROM events WHERE type = 'conversation_assigned'") == [
        ("conversation_assigned", "阿杰")
    ]
    assert rows(db_path, "SELECT count(*) FROM messages") == [(1,)]  # no message invented


@pytest.mark.parametrize("told_first", [False, True])
async def test_chatwoot_a_resolve_and_a_handover_in_one_update_log_both(
    cw: Client, db_path: Path, told_first: bool
) -> None:
    # Found: a conversation_updated changing status and assignee in one save (BulkActionsJob updates the
    # conversation with all its `fields`; app/jobs/bulk_actions_job.rb) was read as a status change only: the
    # handover was lost, and after conversation_status_changed it was "status already known" altogether.
    assert (await send(cw, fixture("contact_message")))[0] == 200  # assigned to 张美玲 (user 12)
    both = reassigned({"id": 13, "name": "阿杰", "type": "user"}, 1795140600.5)
    both["status"] = "resolved"
    both["changed_attributes"].insert(0, {"status": {"previous_value": "open", "current_value": "resolved"}})
    if told_first:
        status_changed = {**both, "event": "conversation_status_changed", "changed_attributes": None}
        assert (await send(cw, status_changed))[1]["accepted"] is True
    status, body = await send(cw, both)
    assert status == 200 and body["accepted"] is True
    assert rows(db_path, "SELECT type, agent FROM events WHERE type != 'message' ORDER BY type") == [
        ("conversation_assigned", "阿杰"), ("conversation_closed", "阿杰")
    ]  # fmt: skip


# ---- D6: versions ---------------------------------------------------------------------------------


async def test_chatwoot_resolve_without_account_uses_the_inbox_account(cw: Client, db_path: Path) -> None:
    assert (await send(cw, fixture("contact_message")))[0] == 200  # inbox 7 seen in account 3
    status, body = await send(cw, fixture("status_resolved_no_account"))
    assert status == 200 and body["accepted"] is True
    assert rows(db_path, "SELECT type, shop FROM events WHERE type = 'conversation_closed'") == [
        ("conversation_closed", "chatwoot-3")
    ]


async def test_chatwoot_resolve_without_account_of_an_unknown_inbox_is_acknowledged(
    cw: Client, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    status, body = await send(cw, fixture("status_resolved_no_account"))
    assert status == 200 and body["accepted"] is False and body["ignored"].startswith("account unknown")
    assert rows(db_path, "SELECT count(*) FROM events") == [(0,)]
    assert "account unknown" in caplog.text  # the operator hears of it


# ---- D8: campaigns --------------------------------------------------------------------------------


async def test_chatwoot_campaign_message_is_auto(cw: Client, db_path: Path) -> None:
    assert (await send(cw, fixture("campaign_message")))[0] == 200
    assert rows(db_path, "SELECT sender FROM messages") == [("auto",)]


# ---- the fixtures themselves ----------------------------------------------------------------------


def test_chatwoot_fixtures_each_name_their_source() -> None:
    listed = (FIXTURES / "README.md").read_text(encoding="utf-8")
    names = sorted(p.name for p in FIXTURES.glob("*.json"))
    assert names and all(f"`{name}`" in listed for name in names)
    for name in names:
        payload = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
        assert "account_id" not in payload, f"{name}: Chatwoot never sends a top-level account_id"
        sender = payload.get("sender") or {}
        if payload.get("message_type") == "incoming":
            assert "type" not in sender, f"{name}: a contact sender has no type"


def test_chatwoot_docs_refuse_the_agent_bot_route() -> None:
    """The agent-bot route is not supported (every new conversation would wait `pending` for a hand-over)."""
    docs = (ROOT / "docs" / "chatwoot.md").read_text(encoding="utf-8")
    assert "### Do not connect the assistant as an agent bot" in docs
    assert "every new conversation starts `pending`" in docs
    assert "same address works too" not in docs
    for version in ("4.12.0", "4.13.0", "4.14.0", "4.14.1", "4.14.2", "SAFE_FETCH_ALLOW_PRIVATE_NETWORK"):
        assert version in docs


def test_chatwoot_reassignment_reads_as_a_handover_in_the_day_log() -> None:
    # Without its own line the text log read any event it did not know as "会话关闭".
    item: Item = {"kind": "conversation_assigned", "id": "cw-3-conv-42-assigned-1", "ts": "2026-11-20T10:05:00+08:00",
            "ts_ms": 1795140300000, "shop": "chatwoot-3", "conversation": "42", "customer": "501", "agent": "阿杰"}  # fmt: skip
    out = io.StringIO()
    formats.write_text([item], out, wording=formats.Wording(language="zh_CN"))
    assert "转接给 阿杰" in out.getvalue() and "会话关闭" not in out.getvalue()


async def test_chatwoot_a_new_status_is_never_answered_as_already_known(cw: Client, db_path: Path) -> None:
    # Found: a conversation moved to another open state was answered "status … already known", never having been.
    # (A snooze is a closure for the assistant: tests/test_chatwoot_inbound.py.)
    opened, pending = fixture("status_resolved"), fixture("status_resolved")
    opened.update(status="open", updated_at=1795140000.0)
    pending.update(status="pending", updated_at=1795140100.0)
    assert (await send(cw, opened))[0] == 200
    status, body = await send(cw, pending)
    assert status == 200 and body["ignored"] == "conversation status 'pending' needs no event", body
    assert (await send(cw, pending))[1]["ignored"] == "status 'pending' already known"
    assert closures(db_path) == []
