"""Local stand-ins for the DingTalk and WeCom group robots, checking requests as the platforms do.

DingTalk (自定义机器人, 加签): `POST /robot/send?access_token=…&timestamp=…&sign=…`; `timestamp` in epoch
milliseconds within an hour of the server's clock, `sign` = base64(HMAC-SHA256(secret, "{timestamp}\\n{secret}"))
(URL-encoded in the query); 20 messages a minute at most. WeCom: `POST /cgi-bin/webhook/send?key=…`.
Both answer HTTP 200 with `{"errcode", "errmsg"}`; a script of answers can be queued to test retries.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections import deque
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

WINDOW_MS = 3_600_000
RATE_PER_MINUTE = 20


class Robot:
    """What both robots share: the received messages, every request's verdict, a script of forced answers."""

    path = "/"

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []  # accepted bodies
        self.requests: list[dict[str, Any]] = []  # every request: query, body, the errcode answered
        self.script: deque[int | dict[str, Any]] = deque()  # an int: an HTTP status; a dict: a JSON answer
        self.accepted_at: deque[float] = deque()
        self.server: TestServer | None = None

    async def start(self) -> Robot:
        app = web.Application()
        app.router.add_post(self.path, self.handle)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return self

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url(self.path))

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        record: dict[str, Any] = {"query": dict(request.query), "body": raw.decode(errors="replace")}
        self.requests.append(record)
        if self.script:
            forced = self.script.popleft()
            record["forced"] = forced
            if isinstance(forced, int):
                return web.Response(status=forced, text="forced failure")
            return web.json_response(forced)
        code, message, body = self.check(request, raw)
        if code == 0:
            now = time.monotonic()
            while self.accepted_at and now - self.accepted_at[0] > 60:
                self.accepted_at.popleft()
            if len(self.accepted_at) >= RATE_PER_MINUTE:
                code, message = self.too_fast
            else:
                self.accepted_at.append(now)
                assert body is not None
                self.messages.append(body)
        record["errcode"] = code
        return web.json_response({"errcode": code, "errmsg": message})

    too_fast = (130101, "send too fast, exceed 20 times per minute")

    def check(self, request: web.Request, raw: bytes) -> tuple[int, str, dict[str, Any] | None]:
        raise NotImplementedError

    @staticmethod
    def json_body(request: web.Request, raw: bytes) -> dict[str, Any] | None:
        if request.content_type != "application/json":
            return None
        try:
            body = json.loads(raw)
        except ValueError:
            return None
        return body if isinstance(body, dict) else None


class DingTalkRobot(Robot):
    """A custom robot with 加签 (`secret`, "SEC…") or without it (None)."""

    path = "/robot/send"

    def __init__(self, access_token: str, secret: str | None) -> None:
        super().__init__()
        self.access_token = access_token
        self.secret = secret

    def check(self, request: web.Request, raw: bytes) -> tuple[int, str, dict[str, Any] | None]:
        query = request.query
        if not hmac.compare_digest(query.get("access_token", "").encode(), self.access_token.encode()):
            return 300001, "token is not exist", None
        if self.secret is not None:
            stamp, sign = query.get("timestamp", ""), query.get("sign", "")
            if not stamp.isdigit() or not sign:
                return 310000, "sign not match, more: missing timestamp or sign", None
            if abs(time.time() * 1000 - int(stamp)) > WINDOW_MS:
                return 310000, "sign not match, more: timestamp is not within one hour", None
            digest = hmac.new(self.secret.encode(), f"{stamp}\n{self.secret}".encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(sign.encode(), base64.b64encode(digest)):
                return 310000, "sign not match", None
        body = self.json_body(request, raw)
        if body is None:
            return 40035, "缺少参数 json", None
        kind = body.get("msgtype")
        part = body.get(kind) if isinstance(kind, str) else None
        if kind == "markdown" and isinstance(part, dict) and _strings(part, "title", "text"):
            return 0, "ok", body
        if kind == "text" and isinstance(part, dict) and _strings(part, "content"):
            return 0, "ok", body
        return 40035, "缺少参数 msgtype/content", None


class WecomRobot(Robot):
    """A group robot with its webhook key."""

    path = "/cgi-bin/webhook/send"
    too_fast = (45009, "api freq out of limit")

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key

    def check(self, request: web.Request, raw: bytes) -> tuple[int, str, dict[str, Any] | None]:
        if not hmac.compare_digest(request.query.get("key", "").encode(), self.key.encode()):
            return 93000, "invalid webhook url", None
        body = self.json_body(request, raw)
        if body is None:
            return 40058, "invalid json", None
        kind = body.get("msgtype")
        part = body.get(kind) if isinstance(kind, str) else None
        if kind == "markdown" and isinstance(part, dict) and _strings(part, "content"):
            if len(part["content"].encode()) > 4096:
                return 40058, "markdown.content exceed max length 4096", None
            return 0, "ok", body
        if kind == "text" and isinstance(part, dict) and _strings(part, "content"):
            if len(part["content"].encode()) > 2048:
                return 40058, "text.content exceed max length 2048", None
            return 0, "ok", body
        return 40008, "invalid message type", None


def _strings(part: dict[str, Any], *keys: str) -> bool:
    return all(isinstance(part.get(k), str) and part[k] for k in keys)
