"""Chatwoot's answers after a follow-up was posted, end to end: the real service and a local Chatwoot.

The channel refusing a message Chatwoot took, a conversation deleted in Chatwoot, and a revoked or rotated token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from assistant.followups.delivery import GONE
from assistant.followups.refusals import TOO_LATE
from tests.fake_chatwoot import FakeChatwoot
from tests.helpers import eventually
from tests.service import Service
from tests.test_chatwoot_e2e import (
    CONVERSATIONS,
    IDLE_S,
    SECRET,
    TOKEN,
    followup_rows,
    idle_conversation,
    start_service,
)

pytestmark = pytest.mark.slow

NEW_TOKEN = "cw-rotated-token"
CREDENTIAL = "CHATWOOT_API_TOKEN (the API token of Chatwoot account 3)"


@pytest.fixture
async def chatwoot() -> AsyncIterator[FakeChatwoot]:
    fake = await FakeChatwoot(TOKEN, conversations=CONVERSATIONS, webhook_secret=SECRET).start()
    yield fake
    await fake.close()


def settled(db: Path) -> bool:
    rows = followup_rows(db)
    return bool(rows) and rows[0][0] != "pending"


async def readyz(service: Service[Path]) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, session.get(f"{service.url}/readyz") as resp:
        assert resp.status == 200  # a refused token is said, and the service still takes events
        return dict(await resp.json())


async def test_chatwoot_follow_up_to_a_deleted_conversation_is_cancelled(
    tmp_path: Path, chatwoot: FakeChatwoot
) -> None:
    # Found: a conversation deleted in Chatwoot answered 404 and the follow-up was recorded `failed`, an error for
    # an operator to chase, where there was nobody to follow up.
    service = await start_service(tmp_path, chatwoot)
    try:
        await idle_conversation(service, chatwoot)
        chatwoot.conversations = ("43",)  # an agent deletes conversation 42
        await eventually(lambda: settled(service.db), timeout=IDLE_S + 8)
    finally:
        service.stop()
    assert followup_rows(service.db) == [("cancelled", 1, GONE)]
    assert chatwoot.refused[-1] == (404, "Resource could not be found")
    log = service.log.read_text(errors="replace")
    assert "follow-up" in log and GONE in log
    assert "attempt 1/2 failed" not in log  # no warning of a failure


def followups_config(grace_s: int) -> str:
    return f"max_attempts = 2\nlate_grace_s = {grace_s}\nbackoff_max_s = 1"


async def test_chatwoot_follow_ups_kept_while_the_token_is_refused_go_out_after_a_restart(
    tmp_path: Path, chatwoot: FakeChatwoot
) -> None:
    # Found: once the token was revoked or rotated, every follow-up due failed for good at its first 401 (a token
    # put right later did not send it), and nothing but a warning per follow-up said so.
    service = await start_service(tmp_path, chatwoot, followups_config(60))
    try:
        await idle_conversation(service, chatwoot)
        chatwoot.tokens = {NEW_TOKEN: "3"}  # the bot's token is reset in Chatwoot
        await eventually(lambda: (followup_rows(service.db) or [("", 0, "")])[0][1] >= 3, timeout=IDLE_S + 8)
        assert followup_rows(service.db)[0][0] == "pending"  # kept, past max_attempts, tried again
        body = await readyz(service)
        refused = body["followups"]["credentials_refused"]
        assert list(refused) == [CREDENTIAL] and refused[CREDENTIAL]["held"] == 1
        assert "401" in refused[CREDENTIAL]["error"]
        assert service.terminate() == 0
        log = service.log.read_text(errors="replace")
        assert log.count(f"{CREDENTIAL} was refused") == 1  # said once, however many attempts
        env = {"CHATWOOT_API_TOKEN": NEW_TOKEN, "CHATWOOT_WEBHOOK_SECRET": SECRET}
        service = await Service(service.config, service.db, env=env).start()  # with the new token
        await eventually(lambda: settled(service.db), timeout=10)
        assert "credentials_refused" not in (await readyz(service))["followups"]
    finally:
        service.stop()
    [(state, attempts, _error)] = followup_rows(service.db)
    assert state == "sent" and attempts >= 4
    assert len(chatwoot.followups("3", "42")) == 1


async def test_chatwoot_follow_up_kept_for_a_refused_token_is_missed_once_too_late(
    tmp_path: Path, chatwoot: FakeChatwoot
) -> None:
    # Found: as above; a follow-up held for the token must not go out once it reads wrong (late_grace_s past due).
    service = await start_service(tmp_path, chatwoot, followups_config(1))
    try:
        await idle_conversation(service, chatwoot)
        chatwoot.tokens = {NEW_TOKEN: "3"}
        await eventually(lambda: settled(service.db), timeout=IDLE_S + 8)
        body = await readyz(service)
    finally:
        service.stop()
    [(state, _attempts, error)] = followup_rows(service.db)
    assert state == "missed" and error.startswith(TOO_LATE) and "401" in error
    assert chatwoot.followups("3", "42") == []
    assert list(body["followups"]["credentials_refused"]) == [CREDENTIAL]  # still refused: nothing says otherwise
