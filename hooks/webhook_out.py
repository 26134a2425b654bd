"""Outbound webhook: POST each follow-up as JSON to `[hooks.webhook_out] url`, signed like inbound events.

Headers: `X-Assistant-Timestamp` (epoch seconds), `X-Assistant-Signature` (`sha256=` HMAC-SHA256 of
`timestamp.body` with the secret in the variable named by `secret_env`), `Idempotency-Key` (the
follow-up id; the same on every retry, so the receiver can drop repeats).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any
from urllib.parse import urlsplit

from assistant.config import Config, ConfigError
from assistant.hookspecs import DeliveryResult, hookimpl
from assistant.i18n import _
from assistant.outbound import Outbound
from assistant.signing import sign

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Assistant-Signature"
TIMESTAMP_HEADER = "X-Assistant-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"


@hookimpl
def on_startup(config: Config) -> None:
    settings = config.hooks.webhook_out
    if not settings.url:
        raise ConfigError(
            _(
                "%(key)s: required when %(hook)s is in [hooks] enabled",
                key="[hooks.webhook_out] url",
                hook="'webhook_out'",
            )
        )
    if urlsplit(settings.url).scheme not in ("http", "https"):
        raise ConfigError(
            _(
                "%(key)s: expected an http(s) URL, got %(value)s",
                key="[hooks.webhook_out] url",
                value=repr(settings.url),
            )
        )
    if config.secret(settings.secret_env) is None:
        log.warning("%s is not set: follow-ups are POSTed to %s unsigned", settings.secret_env, settings.url)


def payload(conversation: dict[str, Any], text: str, idempotency_key: str, kind: str) -> bytes:
    """The JSON body the receiver gets."""
    doc = {
        "conversation": conversation["conversation"],
        "shop": conversation["shop"],
        "customer": conversation["customer"],
        "text": text,
        "kind": kind,
        "idempotency_key": idempotency_key,
    }
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


@hookimpl
async def deliver_message(
    config: Config, http: Outbound, conversation: dict[str, Any], text: str, idempotency_key: str, kind: str
) -> DeliveryResult:
    settings = config.hooks.webhook_out
    body = payload(conversation, text, idempotency_key, kind)
    stamp = int(time.time())
    headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: idempotency_key, TIMESTAMP_HEADER: str(stamp)}
    secret = config.secret(settings.secret_env)
    if secret is not None:
        headers[SIGNATURE_HEADER] = sign(secret, stamp, body)
    return await http.post(settings.url, body, headers, timeout_s=settings.timeout_s, peer=settings.url)
