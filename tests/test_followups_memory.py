"""The follow-up service's per-conversation memory stays bounded however many conversations go quiet."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.clock import FakeClock
from assistant.config import Config
from assistant.followups import service as followup_service
from tests.followup_harness import IDLE, Harness, Recorder
from tests.helpers import replace_config

QUIET = 12  # conversations that get their follow-up and then say nothing more (no reply, no close)
KEPT = 5


@pytest.mark.parametrize("mode", ["send", "suggest"])
async def test_followups_memory_of_quiet_conversations_is_bounded(
    send_config: Config, db_path: Path, clock: FakeClock, recorder: Recorder, monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:  # fmt: skip
    # Each follow-up's text (and, suggested, the follow-up) stayed in memory until its conversation went on:
    # a conversation that went quiet after it, as most do, was remembered for as long as the process ran.
    monkeypatch.setattr(followup_service, "ECHOES", KEPT, raising=False)
    config = replace_config(send_config, "followups", mode=mode)
    h = await Harness(config, db_path, clock, plugins=[recorder]).start()
    try:
        for i in range(QUIET):
            await h.agent_says(conversation=f"quiet{i}", customer=f"buyer{i}")
        await h.advance(IDLE)
        made = h.followups()
        assert len(made) == QUIET and {f.state for f in made} == {"sent" if mode == "send" else "suggested"}
        assert len(h.service._echo) == KEPT
        assert [c for _, c in h.service._echo] == [f"quiet{i}" for i in range(QUIET - KEPT, QUIET)]  # the latest
        # A text written again is the latest written (a follow-up after a new idle period); a read moves nothing.
        assert (h.service._echo.on_write, h.service._echo.on_read) == (True, False)
        assert len(h.service._suggested) == (KEPT if mode == "suggest" else 0)
        # The latest ones are still known as ours: their text coming back arms no new idle period.
        _, conversation = next(reversed(h.service._echo))
        [last] = [f for f in made if f.conversation == conversation]
        await h.agent_says(text=last.text, conversation=conversation, customer=conversation.replace("quiet", "buyer"))
        assert h.rows("SELECT count(*) FROM timers WHERE state = 'armed'") == [(0,)]
    finally:
        await h.stop()
