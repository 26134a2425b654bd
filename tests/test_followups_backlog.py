"""A platform's backlog after a start: thousands of messages already stale, their `stale` records written together."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from assistant.clock import FakeClock
from assistant.config import Config
from assistant.events import parse_event
from tests.followup_harness import T0, Harness, Recorder, agent, customer

CONVERSATIONS = 120
ROWS = (
    "SELECT id, shop, conversation, customer, agent, kind, phrase_id, text, mode, state, attempts, last_error,"
    " armed_seq, due_ms, fired_ms, updated_ms FROM followups ORDER BY id"
)


def backlog() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Each conversation's customer message and the agent's reply, an hour old; then every fifth customer's answer
    (its conversation's stale record is voided: the conversation went on)."""
    old = T0 - 3600 * 1000
    events = []
    for n in range(CONVERSATIONS):
        at = old + n * 10
        events += [customer(at, conversation=f"b{n}", id=f"q{n}"), agent(at + 1, conversation=f"b{n}", id=f"a{n}")]
    answers = [customer(old + n * 10 + 2, conversation=f"b{n}", id=f"r{n}") for n in range(0, CONVERSATIONS, 5)]
    return events, answers


async def burst(h: Harness, events: list[dict[str, Any]]) -> None:
    """One event per request, all at once, as a platform delivers what it held; then settle."""
    await asyncio.gather(*(h.ingestor.ingest([parse_event(raw, max_text_chars=5000)]) for raw in events))
    await h.settle()


async def test_followups_backlog_of_stale_messages_is_recorded_in_a_few_writer_jobs(
    send_config: Config, tmp_path: Path, recorder: Recorder
) -> None:
    events, answers = backlog()
    at_once = await Harness(send_config, tmp_path / "burst.db", FakeClock(T0), plugins=[recorder]).start()
    one_by_one = await Harness(send_config, tmp_path / "calm.db", FakeClock(T0), plugins=[recorder]).start()
    try:
        jobs = at_once.writer.jobs
        # Each request logs its event in a job of its own (the writer groups them into a few commits). Before, every
        # stale record was a task and a writer job of its own, and so was the voiding each late event asks for.
        await burst(at_once, events)
        await burst(at_once, answers)
        assert at_once.writer.jobs - jobs <= len(events) + len(answers) + 10
        for raw in events + answers:  # the same records as one event after another
            await one_by_one.resend(raw)
        together, calm = at_once.rows(ROWS), one_by_one.rows(ROWS)
        states = [row[9] for row in together]
        assert states.count("stale") == CONVERSATIONS * 4 // 5 and states.count("cancelled") == CONVERSATIONS // 5
        assert together == calm
        assert recorder.calls == []
    finally:
        await at_once.stop()
        await one_by_one.stop()
