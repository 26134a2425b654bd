"""A local Chatwoot for end-to-end tests: the message API as Chatwoot's own code answers it.

`POST /api/v1/accounts/{account}/conversations/{conversation}/messages` creates a message every time (Chatwoot
does not deduplicate), stored with `content_attributes` as given; `GET` on the same path lists the latest 20
messages oldest first, or the 20 before `?before=<id>`, or up to 100 after `?after=<id>`, as
`{"meta": {...}, "payload": [...]}` with `message_type` as its number and `created_at` in epoch seconds
(MessageFinder and `messages/index.json.jbuilder`). Both need the `api_access_token` header.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

MESSAGE_TYPES = {"incoming": 0, "outgoing": 1, "activity": 2, "template": 3}


class FakeChatwoot:
    """Stores messages per conversation; `delay_before_s` / `delay_after_s` make it a slow receiver."""

    def __init__(self, token: str, *, delay_before_s: float = 0.0, delay_after_s: float = 0.0) -> None:
        self.token = token
        self.delay_before_s = delay_before_s
        self.delay_after_s = delay_after_s
        self.messages: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.started: list[tuple[str, str]] = []  # (account, conversation) of every create request received
        self.lists = 0
        self._ids = itertools.count(1001)
        self.server: TestServer | None = None

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("api_access_token") == self.token

    async def create(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"errors": ["Invalid Access Token"]}, status=401)
        body = await request.json()
        key = (request.match_info["account"], request.match_info["conversation"])
        self.started.append(key)
        await asyncio.sleep(self.delay_before_s)  # a slow Chatwoot: the message is not there yet
        attributes = body.get("content_attributes") or {}
        if isinstance(attributes, str):
            attributes = json.loads(attributes)
        message = {
            "id": next(self._ids),
            "content": body.get("content"),
            "inbox_id": 7,
            "conversation_id": int(key[1]) if key[1].isdigit() else key[1],
            "message_type": MESSAGE_TYPES[body.get("message_type", "outgoing")],
            "content_type": "text",
            "status": "sent",
            "content_attributes": attributes,
            "created_at": int(time.time()),
            "private": bool(body.get("private", False)),
            "source_id": None,
        }
        self.messages.setdefault(key, []).append(message)
        await asyncio.sleep(self.delay_after_s)  # stored, the answer still on its way
        return web.json_response(message)

    async def index(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"errors": ["Invalid Access Token"]}, status=401)
        self.lists += 1
        stored = self.messages.get((request.match_info["account"], request.match_info["conversation"]), [])
        ordered = sorted(stored, key=lambda m: (m["created_at"], m["id"]))
        if "before" in request.query:
            before = int(request.query["before"])
            page = [m for m in ordered if m["id"] < before][-20:]
        elif "after" in request.query:
            after = int(request.query["after"])
            page = [m for m in ordered if m["id"] > after][:100]
        else:
            page = ordered[-20:]
        meta: dict[str, Any] = {
            "labels": [],
            "additional_attributes": {},
            "contact": {"id": 501},
            "agent_last_seen_at": None,
        }
        return web.json_response({"meta": meta, "payload": page})

    def followups(self, account: str, conversation: str) -> list[str]:
        """The follow-up ids of the messages a conversation holds, in order (a repeat is a duplicate)."""
        return [
            m["content_attributes"]["assistant_followup_id"]
            for m in self.messages.get((account, conversation), [])
            if "assistant_followup_id" in m["content_attributes"]
        ]

    async def start(self) -> FakeChatwoot:
        app = web.Application()
        path = "/api/v1/accounts/{account}/conversations/{conversation}/messages"
        app.router.add_post(path, self.create)
        app.router.add_get(path, self.index)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return self

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.port}"

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()
