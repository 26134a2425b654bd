"""Follow-ups posted into a local Chatwoot on a real port as Chatwoot answers, the service on a FakeClock: its rate
limits' `Retry-After`, a token whose user is not a member of an inbox, a conversation resolved whose webhook was lost.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from assistant.chatwoot import map_payload
from assistant.cli.followups import shown_reason
from assistant.clock import FakeClock
from assistant.config import ChatwootConfig, Config, HooksConfig
from assistant.followups.delivery import SUPERSEDED
from assistant.followups.reasons import TOO_LATE, WAS_CLOSED, coded, english
from assistant.followups.refusals import too_late
from assistant.hookspecs import Followup
from assistant.web.chatwoot_memory import record
from hooks import chatwoot as chatwoot_hook
from tests.fake_chatwoot import FakeChatwoot
from tests.followup_harness import IDLE, T0, Harness
from tests.helpers import replace_config
from tests.test_chatwoot_payloads import fixture

TOKEN = "cw-sending-token"
CHATWOOT = {"shop": "chatwoot-3", "conversation": "42", "customer": "501"}


@pytest.fixture
async def chatwoot() -> AsyncIterator[FakeChatwoot]:
    fake = await FakeChatwoot(TOKEN).start()
    yield fake
    await fake.close()


def chatwoot_config(send_config: Config, fake: FakeChatwoot, token: str = TOKEN, **followups: Any) -> Config:
    hooks = HooksConfig(enabled=["chatwoot"], chatwoot=ChatwootConfig(url=fake.url))
    config = dataclasses.replace(send_config, hooks=hooks, secrets={**send_config.secrets, "CHATWOOT_API_TOKEN": token})
    return replace_config(config, "followups", **followups)


async def idle(h: Harness, conversation: str = "42") -> None:
    """The agent answers in Chatwoot conversation `conversation`, and the buyer goes quiet until it is due."""
    await h.agent_says(**{**CHATWOOT, "conversation": conversation})
    await h.advance(IDLE)


async def test_chatwoot_retry_after_beyond_max_late_is_missed_at_once_not_sent_an_hour_late(
    send_config: Config, db_path: Path, chatwoot: FakeChatwoot
) -> None:
    # Found: Chatwoot (a proxy in front of its Rack::Attack) answered 429 with `Retry-After: 3600`; each wait was
    # capped at a constant 600 s, and the closing went out 600 s late at the second attempt (up to 70 minutes late over
    # eight), to a buyer long gone.
    chatwoot.fail_next, chatwoot.retry_after = [429, 429], "3600"
    h = await Harness(chatwoot_config(send_config, chatwoot), db_path, FakeClock(T0)).start()
    try:
        await idle(h)
        [f] = h.followups()
        assert f.state == "missed" and f.attempts == 1
        said = english(f.last_error or "")
        assert said.startswith("not delivered within max_late_s (900 s)") and "3600 s asked for by Retry-After" in said
        assert said.rstrip().endswith("HTTP 429 from Chatwoot: Retry later")
        assert shown_reason(f.last_error or "").startswith(
            "未在到期后 max_late_s（15 分钟）内送出"
        )  # as a supervisor reads it
        assert h.service.deliverer.in_flight == 0  # not waiting for anything
        await h.advance(4000)
        assert len(chatwoot.started) == 1 and chatwoot.followups("3", "42") == []
    finally:
        await h.stop()


async def test_chatwoot_retry_after_is_waited_up_to_retry_after_max_s(
    send_config: Config, db_path: Path, chatwoot: FakeChatwoot
) -> None:
    # The cap is a setting: Chatwoot's 429 asking for 240 s is tried again after retry_after_max_s (100 s) here.
    chatwoot.fail_next, chatwoot.retry_after = [429], "240"
    config = chatwoot_config(send_config, chatwoot, retry_after_max_s=100.0, backoff_max_s=10.0)
    h = await Harness(config, db_path, FakeClock(T0)).start()
    try:
        await idle(h)
        await h.advance(99)
        assert len(chatwoot.started) == 1 and h.followups()[0].state == "pending"
        await h.advance(1)
        [f] = h.followups()
        assert (f.state, f.attempts) == ("sent", 2) and len(chatwoot.followups("3", "42")) == 1
    finally:
        await h.stop()


async def test_chatwoot_throttled_follow_up_is_missed_once_its_backoff_passes_max_late_s(
    send_config: Config, db_path: Path, chatwoot: FakeChatwoot
) -> None:
    # Rack::Attack's own 429 carries no Retry-After: the backoff is waited, and a follow-up still refused when its next
    # attempt would come past max_late_s is given up (missed) rather than tried past it.
    chatwoot.fail_next = [429] * 10
    config = chatwoot_config(send_config, chatwoot, max_attempts=10, backoff_base_s=60.0, backoff_max_s=60.0,
                             max_late_s=100.0)  # fmt: skip
    h = await Harness(config, db_path, FakeClock(T0)).start()
    try:
        await idle(h)
        for _ in range(4):
            await h.advance(60)
        [f] = h.followups()
        assert f.state == "missed" and 2 <= f.attempts <= 3
        said = english(f.last_error or "")
        assert said.startswith("not delivered within max_late_s (100 s)") and "Retry later" in said
        assert "asked for by Retry-After" not in said
        assert chatwoot.followups("3", "42") == []
    finally:
        await h.stop()


async def test_chatwoot_token_of_a_user_not_in_an_inbox_fails_that_inbox_only_naming_it(
    send_config: Config, db_path: Path, chatwoot: FakeChatwoot
) -> None:
    # Found: an agent's token whose user is a member of inbox 8 only was refused in inbox 7's conversation (Chatwoot's
    # 401 "You are not authorized to do this action"), and the service held the token as revoked: an error that it was
    # refused, /readyz listing it, the follow-up kept until too late then missed for a "refused credential", while the
    # same token went on sending into inbox 8 (each success saying the token was "accepted again").
    chatwoot.members = {TOKEN: {8}}
    chatwoot.inbox_of = {"42": 7, "43": 8}
    h = await Harness(chatwoot_config(send_config, chatwoot), db_path, FakeClock(T0)).start()
    try:
        await h.agent_says(**{**CHATWOOT, "shop": "chatwoot-3-7"})
        await h.agent_says(**{**CHATWOOT, "shop": "chatwoot-3-8", "conversation": "43"})
        await h.advance(IDLE)
        counts = await h.service.deliverer.counts()
        by_conversation = {f.conversation: f for f in h.followups()}
    finally:
        await h.stop()
    refused, sent = by_conversation["42"], by_conversation["43"]
    error = refused.last_error or ""
    assert (refused.state, refused.attempts) == ("failed", 1)
    assert "not a member of inbox 7" in error and "CHATWOOT_API_TOKEN" in error
    assert "You are not authorized to do this action" in error
    assert sent.state == "sent" and len(chatwoot.followups("3", "43")) == 1
    assert chatwoot.followups("3", "42") == []
    assert "credentials_refused" not in counts  # the token is not revoked: it sends into inbox 8


async def test_chatwoot_token_of_a_user_not_in_an_inbox_names_the_inbox_the_webhook_carried(
    send_config: Config, db_path: Path, chatwoot: FakeChatwoot
) -> None:
    # Found: with one shop per account (shop_by_inbox off, the default) the refusal said "not a member of the inbox of
    # conversation 42", leaving the operator to find which inbox to add the user to: the log kept no conversation's
    # inbox, though every webhook of it carries `inbox_id`.
    chatwoot.members = {TOKEN: {8}}
    chatwoot.inbox_of = {"42": 7}
    h = await Harness(chatwoot_config(send_config, chatwoot), db_path, FakeClock(T0)).start()
    try:
        mapped = map_payload(fixture("agent_reply"), by_inbox=False, now_ms=T0)  # the webhook of inbox 7
        await h.writer.submit(lambda conn: record(conn, mapped.notes))  # as /v1/chatwoot remembers it
        await idle(h)
        [f] = h.followups()
    finally:
        await h.stop()
    assert (f.state, f.shop) == ("failed", "chatwoot-3")
    assert "not a member of inbox 7 " in (f.last_error or ""), f.last_error


async def test_chatwoot_follow_up_into_a_conversation_resolved_whose_webhook_was_lost_is_cancelled(
    send_config: Config, db_path: Path, chatwoot: FakeChatwoot
) -> None:
    # Found: an agent resolved the conversation in Chatwoot and its `conversation_status_changed` never came; Chatwoot
    # created the closing in the resolved conversation all the same, and its channel sent it to the buyer the agents
    # had let go (whose answer then reopens the conversation).
    h = await Harness(chatwoot_config(send_config, chatwoot), db_path, FakeClock(T0)).start()
    try:
        await h.agent_says(**CHATWOOT)
        await h.agent_says(**{**CHATWOOT, "conversation": "43"})
        chatwoot.statuses["42"] = "resolved"  # its webhook lost
        await h.advance(IDLE)
        by_conversation = {f.conversation: f for f in h.followups()}
    finally:
        await h.stop()
    assert (by_conversation["42"].state, by_conversation["42"].last_error) == ("cancelled", WAS_CLOSED)
    assert chatwoot.followups("3", "42") == [] and chatwoot.statuses["42"] == "resolved"
    assert by_conversation["43"].state == "sent" and len(chatwoot.followups("3", "43")) == 1  # open: sent
    assert chatwoot.looks == 2 and chatwoot.refused == []  # one look each, at send time


async def test_chatwoot_follow_up_with_a_bot_token_reads_the_conversation_by_an_empty_update_and_skips_a_resolved_one(
    send_config: Config, db_path: Path
) -> None:
    # Found: an agent bot's token may not show a conversation before Chatwoot #14655 ("not authorized for bots"), so
    # the look was given up and a closing went into a conversation resolved whose webhook was lost. The bot may call
    # `conversations#update`, which with nothing to change answers the conversation as `show` does.
    bot = await FakeChatwoot(TOKEN, bot=True).start()
    h = await Harness(chatwoot_config(send_config, bot), db_path, FakeClock(T0)).start()
    try:
        await h.agent_says(**CHATWOOT)
        await h.agent_says(**{**CHATWOOT, "conversation": "43"})
        bot.statuses["43"] = "resolved"  # its webhook lost
        await h.advance(IDLE)
        looked = list(bot.refused)  # the two shows started together: each refused
        await idle(h, "44")
        states = {f.conversation: (f.state, f.last_error) for f in h.followups()}
    finally:
        await h.stop()
        await bot.close()
    assert states == {"42": ("sent", None), "43": ("cancelled", WAS_CLOSED), "44": ("sent", None)}
    assert [len(bot.followups("3", c)) for c in ("42", "43", "44")] == [1, 0, 1]
    assert set(looked) == {(401, "Access to this endpoint is not authorized for bots")} and len(looked) <= 2
    assert bot.refused == looked  # learned: `show` not asked again
    assert bot.looks == 3 and bot.updates == [{}, {}, {}] and bot.priorities == {}  # an update that changed nothing


async def test_chatwoot_follow_up_with_a_bot_token_on_a_chatwoot_letting_bots_read_is_looked_at_by_show(
    send_config: Config, db_path: Path
) -> None:
    # Chatwoot since #14655 lets an agent bot show a conversation: the same look as an administrator's, no update.
    bot = await FakeChatwoot(TOKEN, bot=True, bot_reads=True).start()
    h = await Harness(chatwoot_config(send_config, bot), db_path, FakeClock(T0)).start()
    try:
        await h.agent_says(**CHATWOOT)
        await h.agent_says(**{**CHATWOOT, "conversation": "43"})
        bot.statuses["43"] = "snoozed"
        await h.advance(IDLE)
        states = {f.conversation: (f.state, f.last_error) for f in h.followups()}
    finally:
        await h.stop()
        await bot.close()
    assert states == {"42": ("sent", None), "43": ("cancelled", WAS_CLOSED)}
    assert bot.looks == 2 and bot.updates == [] and bot.refused == []


async def test_chatwoot_bot_token_asks_show_again_after_an_upgrade_of_chatwoot_without_a_second_request_each(
    send_config: Config, db_path: Path
) -> None:
    # Found: a bot's token refused `show` (Chatwoot before #14655) was read by an empty PATCH until the service
    # restarted; Chatwoot upgraded meanwhile lets it `show`, and the hook went on updating. It is asked again once an
    # hour and REASK_LOOKS looks have passed since the refusal: one request more then, not two a follow-up.
    bot = await FakeChatwoot(TOKEN, bot=True).start()
    h = await Harness(chatwoot_config(send_config, bot), db_path, FakeClock(T0)).start()
    bots_refused = (401, "Access to this endpoint is not authorized for bots")
    try:
        await idle(h, "100")
        assert bot.refused == [bots_refused] and len(bot.updates) == 1  # refused once, read by PATCH
        await h.advance(chatwoot_hook.REASK_S)  # an hour on, too few looks since: still by PATCH
        await idle(h, "101")
        assert bot.refused == [bots_refused] and len(bot.updates) == 2
        conversations = [str(200 + i) for i in range(chatwoot_hook.REASK_LOOKS)]
        for conversation in conversations[:-2]:  # enough looks, the hour long past: asked again, refused again
            await h.agent_says(**{**CHATWOOT, "conversation": conversation})
        await h.advance(IDLE)
        await idle(h, conversations[-2])
        assert bot.refused == [bots_refused] and len(bot.updates) == chatwoot_hook.REASK_LOOKS + 1
        await idle(h, conversations[-1])
        assert bot.refused == [bots_refused] * 2 and len(bot.updates) == chatwoot_hook.REASK_LOOKS + 2
        bot.bot_reads = True  # Chatwoot upgraded, the service running on
        for conversation in conversations:
            await h.agent_says(**{**CHATWOOT, "conversation": f"3{conversation}"})
        await h.advance(IDLE)
        assert len(bot.updates) == 2 * chatwoot_hook.REASK_LOOKS + 2  # the refusal's hour not over: by PATCH
        await h.advance(chatwoot_hook.REASK_S)
        bot.statuses["400"] = "resolved"  # its webhook lost: the look sees it all the same
        await idle(h, "400")
        await idle(h, "401")
        states = {f.conversation: f.state for f in h.followups()}
    finally:
        await h.stop()
        await bot.close()
    assert len(bot.refused) == 2 and len(bot.updates) == 2 * chatwoot_hook.REASK_LOOKS + 2  # read by show since
    assert bot.looks == 2 * chatwoot_hook.REASK_LOOKS + 4 and bot.priorities == {}  # one look a follow-up
    assert states.pop("400") == "cancelled" and set(states.values()) == {"sent"}
    assert len(states) == 2 * chatwoot_hook.REASK_LOOKS + 3


async def test_chatwoot_bot_token_refused_one_conversation_by_show_keeps_show_for_the_others(
    send_config: Config, db_path: Path
) -> None:
    # Chatwoot's ConversationPolicy#show? lets any agent bot of the account see any of its conversations; should one
    # be refused it all the same (401 "not authorized to do this action", or 404 as for one deleted), it is that
    # conversation's answer, not the bot's: `show` stays the way to look, and the create meets the same answer.
    bot = await FakeChatwoot(TOKEN, bot=True, bot_reads=True).start()
    bot.members[TOKEN] = {7}
    bot.inbox_of["43"] = 8
    bot.conversations = ("42", "43", "45")
    h = await Harness(chatwoot_config(send_config, bot), db_path, FakeClock(T0)).start()
    try:
        for conversation in ("42", "43", "44"):
            await h.agent_says(**{**CHATWOOT, "conversation": conversation})
        await h.advance(IDLE)
        await idle(h, "45")
        states = {f.conversation: f.state for f in h.followups()}
    finally:
        await h.stop()
        await bot.close()
    assert states == {"42": "sent", "43": "failed", "44": "cancelled", "45": "sent"}
    assert bot.updates == [] and bot.looks == 2  # 42 and 45 shown; 43 and 44 refused it, never asked by PATCH
    assert sorted(bot.refused) == sorted(
        [(401, "You are not authorized to do this action")] * 2
        + [(404, "Resource could not be found")] * 2
        + [(401, "Access to this endpoint is not authorized for bots")]  # its profile, asked to say why 43 failed
    )


async def test_chatwoot_follow_up_still_retrying_when_the_next_one_comes_due_is_dropped_not_sent_after_it(
    send_config: Config, db_path: Path, chatwoot: FakeChatwoot
) -> None:
    # Found: with two follow-ups per idle period, the first was throttled (429, Retry-After 400 s) and the second came
    # due 300 s after it and went out; the first followed 100 s later: the buyer read them in the wrong order.
    chatwoot.fail_next, chatwoot.retry_after = [429], "400"
    h = await Harness(chatwoot_config(send_config, chatwoot, max_followups_per_idle=2), db_path, FakeClock(T0)).start()
    try:
        await idle(h)
        await h.advance(IDLE)
        await h.advance(400)
        first, second = h.followups()
    finally:
        await h.stop()
    assert (first.state, first.last_error) == ("cancelled", SUPERSEDED)
    assert second.state == "sent" and chatwoot.followups("3", "42") == [second.id]


def test_too_late_before_any_attempt_names_no_platform_answer() -> None:
    # Found: a follow-up given up before its first attempt (resumed by a start past max_late_s) was recorded with
    # "…after it came due: None", as if the platform had answered "None".
    f = Followup(
        id="fu-1", shop="chatwoot-3", conversation="42", customer="501", agent="小美", kind="followup",
        phrase_id="fu.new", text="感谢光临", mode="send", state="pending", attempts=0, last_error=None, armed_seq=1,
        due_ms=T0, fired_ms=T0, updated_ms=T0,
    )  # fmt: skip
    why = too_late(f, T0 + 1_000_000, 900, None)
    assert why == coded(TOO_LATE, max_late_s="900", late_s="1000")
    assert english(why or "") == (
        "not delivered within max_late_s (900 s) of coming due: too late to send: the next attempt would be 1000 s"
        " after it came due"
    )
    assert too_late(f, T0 + 900_000, 900, None) is None
