"""Chatwoot's answers after a follow-up was posted, end to end: the real service and a local Chatwoot.

The channel refusing a message Chatwoot took, a conversation deleted in Chatwoot, and a revoked or rotated token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from assistant.followups.delivery import GONE
from tests.fake_chatwoot import FakeChatwoot
from tests.helpers import eventually
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


@pytest.fixture
async def chatwoot() -> AsyncIterator[FakeChatwoot]:
    fake = await FakeChatwoot(TOKEN, conversations=CONVERSATIONS, webhook_secret=SECRET).start()
    yield fake
    await fake.close()


def settled(db: Path) -> bool:
    rows = followup_rows(db)
    return bool(rows) and rows[0][0] != "pending"


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
