"""Chatwoot end to end: payloads into the real service, follow-ups and notes out to a fake Chatwoot API."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from assistant.signing import sign
from tests.helpers import ROOT, eventually, followups_settled
from tests.service import Service

pytestmark = pytest.mark.slow

FIXTURES = ROOT / "tests" / "data" / "chatwoot"
TOKEN = "cw-api-token"
SECRET = "cw-webhook-secret"
IDLE_S = 2


class FakeChatwoot:
    """Chatwoot's message-creation API, recording what it is asked to post."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.server: TestServer | None = None

    async def create_message(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.posts.append(
            {
                "path": request.path,
                "token": request.headers.get("api_access_token"),
                "json": body,
                "at": time.monotonic(),
            }
        )
        return web.json_response({"id": 90000 + len(self.posts), "content": body["content"]})

    async def start(self) -> FakeChatwoot:
        app = web.Application()
        app.router.add_post("/api/v1/accounts/{account}/conversations/{conversation}/messages", self.create_message)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return self

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.port}"

    def kinds(self) -> list[str]:
        return ["note" if p["json"].get("private") else "message" for p in self.posts]


@pytest.fixture
async def chatwoot() -> Any:
    fake = await FakeChatwoot().start()
    yield fake
    assert fake.server is not None
    await fake.server.close()


async def start_service(tmp_path: Path, chatwoot: FakeChatwoot) -> Service:
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[followups]
idle_seconds = {IDLE_S}
mode = "send"
max_attempts = 2
backoff_base_s = 0.2

[hooks]
enabled = ["chatwoot"]

[hooks.chatwoot]
url = "{chatwoot.url}"
post_suggestions_as_note = true

[phrases]
path = "{ROOT / "phrases"}"
""",
        encoding="utf-8",
    )
    env = {"CHATWOOT_API_TOKEN": TOKEN, "CHATWOOT_WEBHOOK_SECRET": SECRET}
    return await Service(config, tmp_path / "cw.db", env=env).start()


async def post_fixture(session: aiohttp.ClientSession, service: Service, payload: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps(payload, ensure_ascii=False).encode()
    stamp = int(time.time())
    headers = {
        "X-Chatwoot-Signature": sign(SECRET, stamp, body),
        "X-Chatwoot-Timestamp": str(stamp),
        "X-Chatwoot-Delivery": f"d-{payload['id']}",
        "Content-Type": "application/json",
    }
    async with session.post(f"{service.url}/v1/chatwoot", data=body, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        return dict(await resp.json())


def fixture(name: str) -> dict[str, Any]:
    return dict(json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8")))


async def test_chatwoot_followup_posted_once_and_echo_is_auto(tmp_path: Path, chatwoot: FakeChatwoot) -> None:
    service = await start_service(tmp_path, chatwoot)
    try:
        async with aiohttp.ClientSession() as session:
            await post_fixture(session, service, fixture("contact_message"))
            await eventually(lambda: "note" in chatwoot.kinds(), timeout=3)
            reply = fixture("agent_reply")
            # Sent live (the recorded fixture is days old): the idle clock starts at the message's own time.
            reply["created_at"] = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            await post_fixture(session, service, reply)
            sent_at = time.monotonic()
            await eventually(lambda: "message" in chatwoot.kinds(), timeout=IDLE_S + 4)
            followup = next(p for p in chatwoot.posts if not p["json"].get("private"))
            # Chatwoot echoes our own message back as an outgoing message from the token's user, once it has
            # answered the POST; the service logs the message when the answer arrives (state, not a sleep).
            await eventually(lambda: _auto_logged(service.db))
            echo = fixture("agent_reply")
            echo.update(
                id=9999, content=followup["json"]["content"], content_attributes=followup["json"]["content_attributes"]
            )
            echoed = await post_fixture(session, service, echo)
            await eventually(lambda: followups_settled(service.db))  # no timer re-armed by the echo
    finally:
        service.stop()
    assert followup["path"] == "/api/v1/accounts/3/conversations/42/messages"
    assert followup["token"] == TOKEN
    assert followup["json"]["message_type"] == "outgoing" and followup["json"]["private"] is False
    assert followup["json"]["content"]
    assert IDLE_S - 0.2 <= followup["at"] - sent_at <= IDLE_S + 3
    assert chatwoot.kinds().count("message") == 1, chatwoot.posts
    note = next(p for p in chatwoot.posts if p["json"].get("private"))
    assert note["path"] == "/api/v1/accounts/3/conversations/42/messages"
    assert "[fh" in note["json"]["content"] or "建议回复" in note["json"]["content"]
    assert echoed["events"][0]["duplicate"] is True, "the echo of our follow-up is the message we logged"
    with sqlite3.connect(service.db) as conn:
        senders = conn.execute("SELECT sender, followup_id IS NOT NULL FROM messages ORDER BY seq").fetchall()
    assert senders == [("customer", 0), ("agent", 0), ("auto", 1)]


def _auto_logged(db: Path) -> bool:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM messages WHERE sender = 'auto'").fetchone()[0] == 1
