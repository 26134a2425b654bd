"""Chatwoot's answers after a follow-up was posted, end to end: the real service and a local Chatwoot.

The channel refusing a message Chatwoot took, a conversation deleted in Chatwoot, and a revoked or rotated token.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from assistant.cli import main
from assistant.followups.delivery import GONE
from assistant.followups.reasons import REFUSED_TOO_LATE, RETRIED, TEXTS
from tests.fake_chatwoot import FakeChatwoot
from tests.helpers import eventually, followups_settled
from tests.service import Service
from tests.test_chatwoot_e2e import (
    CONVERSATIONS,
    IDLE_S,
    SECRET,
    TOKEN,
    deliver,
    followup_rows,
    idle_conversation,
    senders,
    start_service,
)

pytestmark = pytest.mark.slow

WHATSAPP = "Message failed to send: (#131047) Re-engagement message: more than 24 hours since the customer replied"
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


def days_report_and_log(
    tmp_path: Path, db: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The report of the conversation's day (its agents by name), and the states of the follow-ups its daily log
    shows, as a supervisor reads them (`assistant report`, `assistant log`)."""
    with sqlite3.connect(db) as conn:
        first_ms = conn.execute("SELECT min(ts_ms) FROM messages").fetchone()[0]
    day = datetime.fromtimestamp(first_ms / 1000, ZoneInfo("Asia/Shanghai")).date().isoformat()
    where = ["--config", str(tmp_path / "config.toml"), "--db", str(db), "--date", day]
    assert main(["report", *where, "--format", "json"]) == 0
    report = {row["agent"]: row for row in json.loads(capsys.readouterr().out)["agents"]}
    assert main(["log", *where, "--format", "jsonl"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    return report, [line["followup"]["state"] for line in lines if isinstance(line.get("followup"), dict)]


async def test_chatwoot_follow_up_the_channel_refused_is_failed_not_counted(
    tmp_path: Path, chatwoot: FakeChatwoot, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found: Chatwoot answered 200, then WhatsApp refused the message (`message_updated` with
    # `content_attributes.external_error`): the follow-up stayed `sent`, the report counted it 跟进, and the buyer
    # never saw it.
    chatwoot.channel_error = WHATSAPP
    chatwoot.delay_after_s = 0.5  # the refusal arrives before Chatwoot's answer to the create: before our record
    service = await start_service(tmp_path, chatwoot)
    try:
        await idle_conversation(service, chatwoot)
        await eventually(lambda: settled(service.db), timeout=IDLE_S + 8)
        await eventually(lambda: len(chatwoot.deliveries) == 3, timeout=3)  # the note; created, then refused
        followup = next(m for m in chatwoot.messages[("3", "42")] if m["content_attributes"] and not m["private"])
        chatwoot.fail_delivery("3", "42", followup["id"], WHATSAPP)  # the same news again, after our record
        await eventually(lambda: len(chatwoot.deliveries) == 4, timeout=3)
        await eventually(lambda: followups_settled(service.db))
    finally:
        service.stop()
    assert [status for status, _ in chatwoot.deliveries] == [200] * 4
    [(state, attempts, error)] = followup_rows(service.db)
    assert (state, attempts) == ("failed", 1)
    assert WHATSAPP in error
    assert len(chatwoot.followups("3", "42")) == 1  # never posted again on its own
    assert senders(service.db, "42") == [("customer", 0), ("agent", 0), ("auto", 1)]
    report, shown = days_report_and_log(tmp_path, service.db, capsys)
    assert report["张美玲"]["followups_sent"] == 0
    assert shown == ["failed"]


async def refused_then_retried(service: Service[Path], chatwoot: FakeChatwoot) -> tuple[dict[str, Any], list[Any]]:
    """A follow-up the channel refused (Chatwoot's `message_updated` of it returned) that an agent then retried in
    Chatwoot and the channel delivered: the refusal, and the retry's news (the follow-up's record `sent` again)."""
    await idle_conversation(service, chatwoot)
    await eventually(lambda: settled(service.db), timeout=IDLE_S + 8)
    await eventually(lambda: len(chatwoot.deliveries) == 3, timeout=3)  # the note; created, then refused
    refusal = chatwoot.deliveries[-1][1]
    assert refusal["content_attributes"]["external_error"] == WHATSAPP
    chatwoot.channel_error = None  # the buyer wrote on WhatsApp meanwhile: the channel takes it now
    followup = next(m for m in chatwoot.messages[("3", "42")] if m["content_attributes"] and not m["private"])
    news = chatwoot.retry("3", "42", followup["id"])
    await eventually(lambda: len(chatwoot.deliveries) == 6, timeout=3)
    assert followup_rows(service.db)[0][0] == "sent"
    return refusal, news


async def test_chatwoot_follow_up_an_agent_retried_in_chatwoot_is_sent(
    tmp_path: Path, chatwoot: FakeChatwoot, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found: the channel refused a follow-up (recorded `failed`), an agent retried it in Chatwoot and the channel
    # delivered it (`message_updated`: status failed to sent, then delivered, `external_error` cleared); the record
    # stayed `failed` and the report left it out of 跟进.
    chatwoot.channel_error = WHATSAPP
    service = await start_service(tmp_path, chatwoot)
    try:
        refusal, news = await refused_then_retried(service, chatwoot)
        async with aiohttp.ClientSession() as session:
            await deliver(session, service, refusal)  # Chatwoot's refusal again, arriving after the retry's news
            assert followup_rows(service.db)[0][0] == "sent"
            await deliver(session, service, news[-1])  # and the receipt twice: nothing more
        await eventually(lambda: followups_settled(service.db))
    finally:
        service.stop()
    [(state, attempts, error)] = followup_rows(service.db)
    assert (state, attempts) == ("sent", 1)
    assert error.startswith(RETRIED) and WHATSAPP in error
    assert len(chatwoot.followups("3", "42")) == 1  # the retry was Chatwoot's: the assistant posted it once
    assert service.log.read_text(errors="replace").count(TEXTS[RETRIED]) == 1
    report, shown = days_report_and_log(tmp_path, service.db, capsys)
    assert report["张美玲"]["followups_sent"] == 1
    assert shown == ["sent"]


async def test_chatwoot_follow_up_an_agent_retried_stays_sent_when_the_older_refusal_comes_after_a_restart(
    tmp_path: Path, chatwoot: FakeChatwoot
) -> None:
    # Found: the retry's news and the older refusal were ranked by Chatwoot's stamp in the process's memory alone: a
    # restart between the two (or another instance on a shared database taking the refusal) let the older refusal
    # fail a follow-up the buyer had received.
    chatwoot.channel_error = WHATSAPP
    service = await start_service(tmp_path, chatwoot)
    try:
        refusal, _ = await refused_then_retried(service, chatwoot)
        service.stop()
        await service.start()
        async with aiohttp.ClientSession() as session:
            await deliver(session, service, refusal)  # Chatwoot's refusal again, older than the retry's news
        assert followup_rows(service.db)[0][0] == "sent"
    finally:
        service.stop()
    [(state, attempts, error)] = followup_rows(service.db)
    assert (state, attempts) == ("sent", 1)
    assert error.startswith(RETRIED) and WHATSAPP in error


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
    assert "follow-up" in log and TEXTS[GONE] in log  # said in English in the log (stored as its code)
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
    assert state == "missed" and error.startswith(REFUSED_TOO_LATE) and "401" in error
    assert chatwoot.followups("3", "42") == []
    assert list(body["followups"]["credentials_refused"]) == [CREDENTIAL]  # still refused: nothing says otherwise


async def test_chatwoot_follow_up_redirected_is_not_taken_for_sent_and_goes_once_chatwoot_answers(
    tmp_path: Path, chatwoot: FakeChatwoot
) -> None:
    # Found: a redirect in front of Chatwoot (plain http sent to https, a login page) was followed as a GET: the
    # follow-up was recorded sent on the listing's or the login page's 200 though nothing was created, and the
    # token went along to wherever the redirect pointed.
    service = await start_service(tmp_path, chatwoot, "max_attempts = 3")
    try:
        await idle_conversation(service, chatwoot, fail=(301, 302))
        await eventually(lambda: settled(service.db), timeout=IDLE_S + 8)
    finally:
        service.stop()
    [(state, attempts, error)] = followup_rows(service.db)
    assert (state, attempts) == ("sent", 3)  # once Chatwoot itself answered
    assert len(chatwoot.followups("3", "42")) == 1
    assert chatwoot.login_visits == [] and chatwoot.lists == 0  # nothing followed: the token stayed home
    log = service.log.read_text(errors="replace")
    assert "HTTP 301 from Chatwoot: redirected to http://127.0.0.1:" in log
    assert "HTTP 302 from Chatwoot: redirected to http://127.0.0.1:" in log and "/auth/sign_in?…" in log
    assert "[hooks.chatwoot] url" in log  # what to do


@pytest.mark.parametrize("created", [False, True])
async def test_chatwoot_follow_up_answered_with_a_page_not_json_is_looked_for_and_goes_once(
    tmp_path: Path, chatwoot: FakeChatwoot, created: bool
) -> None:
    # Found: a 200 that was not Chatwoot's JSON (a proxy's page in its place) was taken for the message created:
    # the follow-up was recorded sent, and the buyer got nothing. Whether it was created is looked up now.
    service = await start_service(tmp_path, chatwoot, "max_attempts = 3")
    try:
        if created:  # created, and the answer rewritten on its way
            await idle_conversation(service, chatwoot, mangled=1)
        else:  # the page answered, nothing created
            await idle_conversation(service, chatwoot, fail=(200,))
        await eventually(lambda: settled(service.db), timeout=IDLE_S + 8)
    finally:
        service.stop()
    [(state, attempts, _error)] = followup_rows(service.db)
    assert (state, attempts) == ("sent", 1 if created else 2)
    assert len(chatwoot.followups("3", "42")) == 1  # never twice
    log = service.log.read_text(errors="replace")
    assert "Chatwoot answered 200 with text/html, not JSON: <!DOCTYPE html>" in log
    assert "set [hooks.chatwoot] url to Chatwoot's own address" in log  # what to do
