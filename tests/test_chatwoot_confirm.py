"""hooks/chatwoot.confirm_delivery against a local Chatwoot: our follow-up id found page by page, or not."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from assistant.config import Config, load_config
from assistant.outbound import Outbound
from hooks import chatwoot
from tests.fake_chatwoot import FakeChatwoot
from tests.helpers import ROOT

TOKEN = "cw-confirm-token"


@pytest.fixture
async def fake() -> AsyncIterator[FakeChatwoot]:
    server = await FakeChatwoot(TOKEN).start()
    yield server
    await server.close()


def cw_config(db_path: Path, url: str, token: str | None = TOKEN) -> Config:
    return load_config(
        ROOT / "config.toml",
        env={"CHATWOOT_API_TOKEN": token} if token else {},
        overrides={"store": {"path": str(db_path)}, "hooks": {"enabled": ["chatwoot"], "chatwoot": {"url": url}}},
    )


def store(fake: FakeChatwoot, conversation: str, *attributes: dict[str, Any], created_at: int | None = None) -> None:
    for attrs in attributes:
        fake.messages.setdefault(("3", conversation), []).append(
            {"id": 5000 + sum(len(v) for v in fake.messages.values()), "content": "x", "message_type": 1,
             "content_attributes": attrs, "created_at": created_at or int(time.time()), "private": False}
        )  # fmt: skip


async def ask(config: Config, conversation: str, key: str, since_ms: int) -> Any:
    http = Outbound()
    try:
        return await chatwoot.confirm_delivery(
            config=config, http=http, conversation={"shop": "chatwoot-3", "conversation": conversation},
            idempotency_key=key, since_ms=since_ms,
        )  # fmt: skip
    finally:
        await http.close()


async def test_confirm_finds_our_message_behind_two_pages(fake: FakeChatwoot, db_path: Path) -> None:
    store(fake, "42", {"assistant_followup_id": "fu-1", "kind": "followup"})
    store(fake, "42", *({} for _ in range(45)))  # the conversation went on after it
    config = cw_config(db_path, fake.url)
    assert await ask(config, "42", "fu-1", since_ms=int(time.time() * 1000) - 60_000) is True
    assert fake.lists == 3  # latest 20, then 20 before, then the page holding it


async def test_confirm_says_absent_once_past_the_follow_up(fake: FakeChatwoot, db_path: Path) -> None:
    store(fake, "42", *({} for _ in range(30)), created_at=int(time.time()) - 3600)  # older than the follow-up
    config = cw_config(db_path, fake.url)
    assert await ask(config, "42", "fu-2", since_ms=int(time.time() * 1000)) is False
    assert fake.lists == 1  # the oldest message of the first page is older than the follow-up: stop there
    assert await ask(config, "7", "fu-2", since_ms=0) is False  # an empty conversation


async def test_confirm_raises_when_chatwoot_cannot_be_asked(fake: FakeChatwoot, db_path: Path) -> None:
    wrong = dataclasses.replace(cw_config(db_path, fake.url), secrets={"CHATWOOT_API_TOKEN": "wrong"})
    with pytest.raises(chatwoot.ListingFailed, match="HTTP 401") as refused:
        await ask(wrong, "42", "fu-3", 0)
    # A revoked or rotated token: the follow-up is kept for it (as when a create meets it), not failed.
    assert refused.value.credential == "CHATWOOT_API_TOKEN (the API token of Chatwoot account 3)"
    assert await ask(cw_config(db_path, fake.url, token=None), "42", "fu-3", 0) is None  # no token: cannot tell
    other = await ask(cw_config(db_path, fake.url), "42", "fu-3", 0)
    assert other is False


async def test_confirm_raises_for_an_agent_bot_token(db_path: Path) -> None:
    # Chatwoot lets a bot's token call messages#create only: listing is refused, so it cannot tell.
    fake = await FakeChatwoot(TOKEN, bot=True).start()
    try:
        with pytest.raises(chatwoot.ListingFailed, match="not authorized for bots") as refused:
            await ask(cw_config(db_path, fake.url), "42", "fu-4", 0)
        assert refused.value.final and refused.value.credential is None  # the token is fine: it may never list
    finally:
        await fake.close()


async def test_confirm_raises_for_a_user_not_in_the_conversations_inbox_without_holding_the_token(
    fake: FakeChatwoot, db_path: Path
) -> None:
    # Found: Chatwoot's 401 "You are not authorized to do this action" (the token's user is no member of the inbox)
    # was taken for a revoked token, which held every follow-up of the account for it.
    fake.members = {TOKEN: {8}}
    with pytest.raises(chatwoot.ListingFailed, match="You are not authorized to do this action") as refused:
        await ask(cw_config(db_path, fake.url), "42", "fu-5", 0)
    assert refused.value.final and refused.value.credential is None  # it may never list this inbox's; it works


async def test_deliver_uses_each_accounts_own_token(db_path: Path) -> None:
    # Found: one api_token_env for every account; an agent bot belongs to one account, and Chatwoot refused its
    # token in the second (401 "Bot is not authorized to access this account"): that shop got no follow-ups.
    fake = await FakeChatwoot(TOKEN, bot=True, more_tokens={"cw-token-4": "4"}).start()
    http = Outbound()
    try:
        base = cw_config(db_path, fake.url)
        settings = dataclasses.replace(base.hooks.chatwoot, account_tokens_env={"4": "CHATWOOT_TOKEN_4"})
        config = dataclasses.replace(
            base,
            hooks=dataclasses.replace(base.hooks, chatwoot=settings),
            secrets={**base.secrets, "CHATWOOT_TOKEN_4": "cw-token-4"},
        )
        for shop in ("chatwoot-3", "chatwoot-4"):
            result = await chatwoot.deliver_message(
                config=config, http=http, conversation={"shop": shop, "conversation": "42"}, text="亲，还在吗",
                idempotency_key=f"fu-{shop}", kind="followup",
            )  # fmt: skip
            assert result is not None and result.ok, result
        assert fake.followups("3", "42") == ["fu-chatwoot-3"] and fake.followups("4", "42") == ["fu-chatwoot-4"]
        missing = dataclasses.replace(config, secrets={"CHATWOOT_API_TOKEN": TOKEN})
        refused = await chatwoot.deliver_message(
            config=missing, http=http, conversation={"shop": "chatwoot-4", "conversation": "42"}, text="亲",
            idempotency_key="fu-5", kind="followup",
        )  # fmt: skip
        assert refused is not None and not refused.ok and "CHATWOOT_TOKEN_4 is not set" in refused.error
    finally:
        await http.close()
        await fake.close()


def test_account_tokens_env_names_secrets_to_read(db_path: Path) -> None:
    config = load_config(
        ROOT / "config.toml",
        env={"CHATWOOT_TOKEN_4": "t4"},
        overrides={"hooks": {"enabled": ["chatwoot"], "chatwoot": {"account_tokens_env": {"4": "CHATWOOT_TOKEN_4"}}}},
    )
    assert config.secret(config.hooks.chatwoot.token_env("4")) == "t4"
    assert config.hooks.chatwoot.token_env("3") == "CHATWOOT_API_TOKEN"


async def test_suggestion_note_leaves_out_what_the_panel_dims(fake: FakeChatwoot, db_path: Path) -> None:
    # Found: the note for "你好" listed 亲，您的退款申请… at confidence 0.031 as an equal third option.
    base = cw_config(db_path, fake.url)
    config = dataclasses.replace(
        base,
        hooks=dataclasses.replace(
            base.hooks, chatwoot=dataclasses.replace(base.hooks.chatwoot, post_suggestions_as_note=True)
        ),
    )
    sure = {"code": "hi1", "text": "亲，在的，请问有什么可以帮您？", "confidence": 0.93}
    guess = {"code": "cd5", "text": "亲，您的退款申请已收到", "confidence": 0.031}
    http = Outbound()
    try:
        for conversation, suggestions in (("42", [sure, guess]), ("43", [guess])):
            posting = chatwoot.on_suggestions(
                config=config, http=http, shop="chatwoot-3", conversation=conversation, suggestions=suggestions,
                customer_type=None,
            )  # fmt: skip
            if posting is not None:
                await posting
    finally:
        await http.close()
    [note] = fake.messages[("3", "42")]
    assert note["private"] and "[hi1]" in note["content"] and "cd5" not in note["content"]
    assert ("3", "43") not in fake.messages  # nothing confident: no note


async def test_taobao_emoticon_codes_reach_chatwoot_as_emoji(fake: FakeChatwoot, db_path: Path) -> None:
    # Chatwoot shows [微笑] as the bracketed word: the shipped closings ended so in front of every buyer.
    http = Outbound()
    try:
        result = await chatwoot.deliver_message(
            config=cw_config(db_path, fake.url), http=http, conversation={"shop": "chatwoot-3", "conversation": "42"},
            text="亲，今天先聊到这里，祝您生活愉快 [玫瑰][微笑] [握手] 【包邮】[不是表情]", idempotency_key="fu-e",
            kind="followup",
        )  # fmt: skip
    finally:
        await http.close()
    assert result is not None and result.ok, result
    [posted] = fake.messages[("3", "42")]
    assert posted["content"] == "亲，今天先聊到这里，祝您生活愉快 🌹🙂 🤝 【包邮】[不是表情]"
    note = chatwoot.note_text([{"code": "hy1", "text": "亲，在的呢 [微笑]"}], None)
    assert note.endswith("[hy1] 亲，在的呢 🙂")
