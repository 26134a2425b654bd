"""A batch of due timers fired as one group (followups/firing.py): a statement that fails for one timer rolls the
batch back, and each timer fires again alone; the others are recorded and sent, the failing one is retried."""

from __future__ import annotations

from assistant import pg, store
from assistant.clock import FakeClock
from assistant.config import Config
from tests.followup_harness import IDLE, Harness, Recorder
from tests.helpers import BACKENDS

pytestmark = BACKENDS


def refuse_followups_of(db: store.Location, conversation: str) -> None:
    """A trigger that makes recording a follow-up of `conversation` fail (as a constraint of the database would)."""
    conn = store.connect(db)
    try:
        if isinstance(db, pg.Location):
            conn.execute(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                f" IF NEW.conversation = '{conversation}' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$"
            )
            conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON followups FOR EACH ROW EXECUTE FUNCTION refuse()")
        else:
            conn.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON followups FOR EACH ROW"
                f" WHEN NEW.conversation = '{conversation}' BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        conn.commit()
    finally:
        conn.close()


async def test_followups_a_statement_failing_for_one_timer_of_a_batch_holds_up_none_of_the_others(
    send_config: Config, db_path: store.Location, clock: FakeClock, recorder: Recorder
) -> None:
    h = await Harness(send_config, db_path, clock, plugins=[recorder]).start()
    try:
        refuse_followups_of(db_path, "conv-bad")
        for conversation in ("conv-a", "conv-bad", "conv-b"):
            await h.agent_says(conversation=conversation)
        await h.advance(IDLE)  # all three due in one batch
        assert sorted(c["conversation"]["conversation"] for c in recorder.calls) == ["conv-a", "conv-b"]
        assert sorted(f.conversation for f in h.followups()) == ["conv-a", "conv-b"]
        assert h.service.timers.queue.get(("shop1", "conv-bad")) is not None  # will be tried again
        assert h.rows("SELECT state FROM timers WHERE conversation = 'conv-bad'") == [("armed",)]
    finally:
        await h.stop()
