"""Chatwoot outbound: follow-ups posted as outgoing messages, suggestions optionally as private notes.

Messages are created with `POST /api/v1/accounts/{account}/conversations/{conversation}/messages` and the
`api_access_token` header. Each carries `content_attributes.assistant_followup_id`, so the webhook echo
of our own message is logged as `auto` and never mistaken for an agent's reply.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlsplit

from assistant.chatwoot import FOLLOWUP_ATTRIBUTE, account_of_shop
from assistant.config import Config, ConfigError
from assistant.hookspecs import DeliveryResult, hookimpl
from assistant.outbound import Outbound

log = logging.getLogger(__name__)

NOTE_PREFIX = "[客服助手] 建议回复"


def messages_url(config: Config, account: str, conversation: str) -> str:
    base = config.hooks.chatwoot.url.rstrip("/")
    return f"{base}/api/v1/accounts/{account}/conversations/{conversation}/messages"


@hookimpl
def on_startup(config: Config) -> None:
    settings = config.hooks.chatwoot
    if urlsplit(settings.url).scheme not in ("http", "https"):
        raise ConfigError(f"[hooks.chatwoot] url: expected an http(s) URL, got {settings.url!r}")
    if config.secret(settings.api_token_env) is None:
        log.warning("%s is not set: follow-ups and notes cannot be posted to Chatwoot", settings.api_token_env)
    if config.secret(settings.webhook_secret_env) is None and not settings.allow_unsigned:
        log.warning(
            "%s is not set and allow_unsigned is false: /v1/chatwoot refuses every payload", settings.webhook_secret_env
        )


async def post_message(
    config: Config, http: Outbound, account: str, conversation: str, body: dict[str, Any]
) -> DeliveryResult:
    """Create a message in a Chatwoot conversation."""
    token = config.secret(config.hooks.chatwoot.api_token_env)
    if token is None:
        return DeliveryResult.reject(f"{config.hooks.chatwoot.api_token_env} is not set")
    url = messages_url(config, account, conversation)
    data = json.dumps(body, ensure_ascii=False).encode()
    headers = {"api_access_token": token, "Content-Type": "application/json"}
    return await http.post(url, data, headers, timeout_s=config.followups.delivery_timeout_s, peer="Chatwoot")


@hookimpl
async def deliver_message(
    config: Config, http: Outbound, conversation: dict[str, Any], text: str, idempotency_key: str, kind: str
) -> DeliveryResult | None:
    account = account_of_shop(str(conversation["shop"]))
    if account is None:
        return None  # not a Chatwoot conversation: another plugin delivers it
    body = {
        "content": text,
        "message_type": "outgoing",
        "private": False,
        "content_attributes": {FOLLOWUP_ATTRIBUTE: idempotency_key, "kind": kind},
    }
    return await post_message(config, http, account, str(conversation["conversation"]), body)


def note_text(suggestions: list[dict[str, Any]], customer_type: dict[str, Any] | None) -> str:
    """The private note listing the suggestions (and the customer type) for agents working in Chatwoot."""
    lines = [NOTE_PREFIX]
    for i, s in enumerate(suggestions, 1):
        lines.append(f"{i}. [{s['code']}] {s['text']}")
    if customer_type and customer_type.get("type") != "newcomer":
        script = customer_type.get("script") or []
        lines.append(f"客户类型：{customer_type.get('label')}" + (f" — {script[0]}" if script else ""))
    return "\n".join(lines)


@hookimpl
async def on_suggestions(
    config: Config,
    http: Outbound,
    shop: str,
    conversation: str,
    suggestions: list[dict[str, Any]],
    customer_type: dict[str, Any] | None,
) -> None:
    settings = config.hooks.chatwoot
    if not settings.post_suggestions_as_note or not suggestions:
        return
    account = account_of_shop(shop)
    if account is None or (settings.note_shops and shop not in settings.note_shops):
        return
    body = {"content": note_text(suggestions, customer_type), "message_type": "outgoing", "private": True}
    result = await post_message(config, http, account, conversation, body)
    if not result.ok:
        log.warning("suggestion note for %s/%s not posted: %s", shop, conversation, result.error)
