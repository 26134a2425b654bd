"""Signatures and tokens a client sends in bytes that are not UTF-8: a wrong credential (401), never a 500."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from assistant.cli.log import unmasked_refusal
from assistant.config import load_config
from assistant.i18n import _
from assistant.signing import same_secret
from tests.helpers import ROOT, SECRET, exchange, make_app

TOKENS = {"ASSISTANT_AGENT_TOKEN": "team-secret", "ASSISTANT_SUPERVISOR_TOKEN": "supervisor-token"}


def request(method: str, target: str, header: bytes, body: bytes = b"") -> bytes:
    """A raw request carrying `header` as sent (HTTP allows any byte above 0x7f in a header value)."""
    stamp = str(int(time.time())).encode()
    lines = [
        f"{method} {target} HTTP/1.1".encode(),
        b"Host: localhost",
        b"Connection: close",
        b"Content-Type: application/json",
        b"X-Assistant-Timestamp: " + stamp,
        b"X-Chatwoot-Timestamp: " + stamp,
        f"Content-Length: {len(body)}".encode(),
        header,
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


@pytest.mark.parametrize(
    ("method", "target", "header", "field"),
    [
        ("POST", "/v1/events", b"X-Assistant-Signature: sha256=\xff\xfe", "X-Assistant-Signature"),
        ("POST", "/v1/chatwoot", b"X-Chatwoot-Signature: sha256=\xe4\xb8", "X-Chatwoot-Signature"),
        ("GET", "/v1/reports/daily", b"Authorization: Bearer \xff\xfe", "token"),
        ("GET", "/v1/stream?agent=a", b"Authorization: Bearer \xc3", "token"),
        ("POST", "/v1/panel/used", b"Authorization: Bearer \xff", "token"),
    ],
)
async def test_a_credential_that_is_not_utf8_is_refused_as_wrong(
    aiohttp_client: Any, tmp_path: Path, method: str, target: str, header: bytes, field: str
) -> None:
    db = tmp_path / "log.db"
    env = {"ASSISTANT_WEBHOOK_SECRET": SECRET, "CHATWOOT_WEBHOOK_SECRET": "cw-secret", **TOKENS}
    config = load_config(
        ROOT / "config.toml", env=env, overrides={"store": {"path": str(db)}, "hooks": {"enabled": ["chatwoot"]}}
    )
    client = await aiohttp_client(make_app(config))
    body = json.dumps({"id": "e1", "type": "message"}).encode() if method == "POST" else b""
    status, headers, answer = await exchange(client.server.port, request(method, target, header, body))
    assert status == 401, answer
    assert headers["content-type"].startswith("application/json")
    assert json.loads(answer)["field"] == field
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 0


def test_same_secret_compares_what_was_sent() -> None:
    assert same_secret("team-secret", "team-secret")
    assert not same_secret("team-secreT", "team-secret")
    assert not same_secret("\udcff\udcfe", "team-secret")  # b"\xff\xfe" as aiohttp decodes a header
    assert not same_secret("\ud800", "team-secret")  # a lone surrogate from anywhere else


def test_an_admin_token_argument_that_is_not_utf8_is_refused_as_wrong() -> None:
    # `assistant log --unmasked --token …`: an argument in bytes that are not UTF-8 reaches Python as surrogates.
    config = load_config(ROOT / "config.toml", env={"ASSISTANT_ADMIN_TOKEN": "admin-secret"})
    assert unmasked_refusal(config, "admin-secret", None) is None
    assert unmasked_refusal(config, "\udcff\udcfe", None) == _("the token is not the admin token")
