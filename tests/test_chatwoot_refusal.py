"""A follow-up Chatwoot refuses in one conversation (401 `You are not authorized to do this action`) says why, as the
token's profile tells it: an agent bot's, an agent's whose custom role limits it, an agent's who is no member of the
inbox (hooks/chatwoot_refusal.py), against a local Chatwoot on a real port."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from assistant.clock import FakeClock
from assistant.config import Config
from assistant.outbound import Outbound
from hooks import chatwoot_refusal
from tests.fake_chatwoot import FakeChatwoot
from tests.followup_harness import IDLE, T0, Harness
from tests.test_chatwoot_sending import CHATWOOT, TOKEN, chatwoot_config

REFUSED = "You are not authorized to do this action"


async def refused_error(config: Config, db_path: Path, fake: FakeChatwoot) -> str:
    """The error of the follow-up into conversation 42 (inbox 7), which Chatwoot refuses the token."""
    fake.inbox_of = {"42": 7}
    h = await Harness(chatwoot_config(config, fake), db_path, FakeClock(T0)).start()
    try:
        await h.agent_says(**{**CHATWOOT, "shop": "chatwoot-3-7"})
        await h.advance(IDLE)
        [f] = h.followups()
    finally:
        await h.stop()
        await fake.close()
    assert (f.state, f.attempts) == ("failed", 1) and REFUSED in (f.last_error or "")
    return f.last_error or ""


@pytest.mark.parametrize("bot_reads", [True, False])
async def test_chatwoot_refusal_of_an_agent_bots_token_says_no_membership_is_at_stake(
    send_config: Config, db_path: Path, bot_reads: bool
) -> None:
    # Found: an agent bot's token refused one conversation was told "belongs to a user who is not a member of inbox 7
    # …: add that user to the inbox in Chatwoot, or use an agent bot's token": it was one, and a bot is no member.
    bot = await FakeChatwoot(TOKEN, bot=True, bot_reads=bot_reads).start()
    bot.members[TOKEN] = {8}
    error = await refused_error(send_config, db_path, bot)
    assert "is an agent bot's, refused conversation 42 in inbox 7" in error, error
    assert "chatwoot/chatwoot#14655" in error and "administrator's token" in error
    assert "use an agent bot's token" not in error and "add that user" not in error
    # A Chatwoot that let the bot look at the conversation has #14655: upgrading it is no advice there.
    assert ("upgrade Chatwoot" in error) is not bot_reads and ("yet refused this one" in error) is bot_reads


async def test_chatwoot_refusal_of_an_agent_with_a_custom_role_names_the_role(
    send_config: Config, db_path: Path
) -> None:
    # Found: an agent of inbox 7 whose custom role (Chatwoot Enterprise) manages only the conversations it takes part
    # in was told to be added to the inbox it is in.
    fake = await FakeChatwoot(TOKEN).start()
    fake.members[TOKEN] = {7}
    fake.custom_roles[TOKEN] = {"id": 5, "name": "售前", "permissions": ["conversation_participating_manage"]}
    error = await refused_error(send_config, db_path, fake)
    assert "custom role '售前' lets it see only the conversations assigned to it" in error, error
    assert "give the role conversation_manage" in error and "belongs to a user who is not a member" not in error


async def test_chatwoot_refusal_of_an_agent_not_in_the_inbox_says_to_add_the_user(
    send_config: Config, db_path: Path
) -> None:
    fake = await FakeChatwoot(TOKEN).start()
    fake.members[TOKEN] = {8}
    error = await refused_error(send_config, db_path, fake)
    assert "belongs to a user who is not a member of inbox 7 (nor of the conversation's team)" in error, error
    assert "add that user to inbox 7 in Chatwoot, or use an agent bot's token" in error


async def test_chatwoot_refusal_asks_a_tokens_profile_once_a_minute_and_sees_a_changed_role_after(
    send_config: Config,
) -> None:
    # Found: each refusal asked the token's profile again: a burst of 20 refusals sent 20 profile requests.
    fake = await FakeChatwoot(TOKEN).start()
    clock = FakeClock(T0)
    http = Outbound(now_ms=clock.now_ms)
    config = chatwoot_config(send_config, fake)
    try:
        fake.members[TOKEN] = {8}

        async def refused() -> str:
            return await chatwoot_refusal.advice(config, http, "CHATWOOT_API_TOKEN", "3", "42", "7", 5.0)

        said = await asyncio.gather(*(refused() for _ in range(20)))
        assert fake.profiles_asked == 1
        assert all("not a member of inbox 7" in why for why in said), said
        clock.advance(chatwoot_refusal.PROFILE_TTL_MS / 1000 - 1)
        fake.custom_roles[TOKEN] = {"id": 5, "name": "售前", "permissions": ["conversation_participating_manage"]}
        assert "not a member of inbox 7" in await refused()  # within the minute: as it was
        assert fake.profiles_asked == 1
        clock.advance(1)
        assert "custom role '售前'" in await refused()  # the role changed, seen once the minute is out
        assert fake.profiles_asked == 2
    finally:
        await http.close()
        await fake.close()
