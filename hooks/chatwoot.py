"""Chatwoot outbound: follow-ups posted as outgoing messages, suggestions optionally as private notes.

Messages are created with `POST /api/v1/accounts/{account}/conversations/{conversation}/messages` and the
`api_access_token` header (an agent bot's token: with a user's, Chatwoot counts them as that user's replies).
Each carries `content_attributes.assistant_followup_id`, so the webhook echo of our own message is logged as
`auto` and never mistaken for an agent's reply (deleted or retried in Chatwoot, it is still known by its id:
assistant/web/chatwoot_memory.py). Chatwoot does not deduplicate, so before a follow-up is posted again after an
attempt whose outcome is unknown, the conversation's messages are listed (`GET` on the same path) and searched
for that id. Chatwoot refuses that to an agent bot's token (401): `ListingFailed`, and the delivery then goes by
the echo in the log (assistant/followups/delivery.py).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from assistant.chatwoot import FOLLOWUP_ATTRIBUTE, account_of_shop
from assistant.config import Config, ConfigError
from assistant.hookspecs import CannotConfirm, DeliveryResult, hookimpl, reads_only
from assistant.i18n import _
from assistant.outbound import Outbound, retry_after_s
from hooks import chatwoot_refusal
from hooks.chatwoot_refusal import BOTS_REFUSED

log = logging.getLogger(__name__)

NOTE_PREFIX = "[客服助手] 建议回复"
PAGE = 20  # messages Chatwoot lists per page (the latest, or those `before` an id)
MAX_PAGES = 10
SLACK_S = 60  # clocks differ: a message this much older than the follow-up may still be it
# What Chatwoot answers for a conversation (or account) it does not have (`render_not_found_error`): deleted. A 404
# without it is not Chatwoot's answer (a wrong `url` ending at a proxy's page), and stays a failure.
NOT_FOUND = "Resource could not be found"
# What to do when something other than Chatwoot's API answered (a redirect, a page that is not JSON).
NOT_CHATWOOT = (
    "not Chatwoot's API answering: set [hooks.chatwoot] url to Chatwoot's own address (https when it sends plain http"
    " there), with no login page or other proxy page in front of /api"
)
LOW_CONFIDENCE = 0.5  # below this a suggestion is a guess: the panel dims it (panel.js), the note leaves it out
# Qianniu's and Wangwang's emoticon codes, which phrases written for Taobao end with: Chatwoot shows them as the
# bracketed word, so a follow-up it posts carries the emoji instead. Codes outside this table stay as written.
EMOTICONS = {
    "[微笑]": "🙂", "[玫瑰]": "🌹", "[握手]": "🤝", "[爱心]": "❤️", "[心]": "❤️", "[鼓掌]": "👏", "[大笑]": "😄",
    "[呲牙]": "😁", "[可爱]": "😊", "[愉快]": "😊", "[害羞]": "😳", "[亲亲]": "😘", "[飞吻]": "😘", "[抱抱]": "🤗",
    "[拥抱]": "🤗", "[抱拳]": "🙏", "[谢谢]": "🙏", "[强]": "👍", "[赞]": "👍", "[OK]": "👌", "[ok]": "👌",
    "[胜利]": "✌️", "[太阳]": "☀️", "[月亮]": "🌙", "[礼物]": "🎁", "[蛋糕]": "🎂", "[咖啡]": "☕", "[难过]": "😢",
    "[流泪]": "😢", "[大哭]": "😭", "[偷笑]": "🤭", "[调皮]": "😜", "[再见]": "👋", "[得意]": "😎", "[惊讶]": "😮",
}  # fmt: skip
_EMOTICON = re.compile("|".join(re.escape(code) for code in EMOTICONS))


def with_emoji(text: str) -> str:
    """`text` with the emoticon codes Chatwoot cannot show ([微笑]) as the emoji it can (🙂)."""
    return _EMOTICON.sub(lambda m: EMOTICONS[m.group(0)], text)


# Chatwoot's 401 to an agent bot's token on any endpoint but messages#create (AccessTokenAuthHelper): BOTS_REFUSED.
# Chatwoot's 401 when the token's user may not see the conversation (`ConversationPolicy#show?` refused, answered by
# RequestExceptionHandler): an agent who is no member of its inbox (nor of its team). The token works elsewhere.
NOT_MEMBER = "You are not authorized to do this action"
CLOSED_STATUSES = ("resolved", "snoozed")  # a conversation the agents set aside: no follow-up goes into it


class ListingFailed(CannotConfirm):
    """Chatwoot could not list a conversation's messages; whether a follow-up arrived is still unknown (`final`:
    the token may not list them, 401 or 403, and never will)."""


def messages_url(config: Config, account: str, conversation: str) -> str:
    return f"{conversation_url(config, account, conversation)}/messages"


def conversation_url(config: Config, account: str, conversation: str) -> str:
    base = config.hooks.chatwoot.url.rstrip("/")
    return f"{base}/api/v1/accounts/{account}/conversations/{conversation}"


# How the conversation is read before a follow-up, in the order tried; a way Chatwoot refuses the token as a bot's
# ("not authorized for bots") is tried again only past REASK_S and REASK_LOOKS. `conversations#show`: any token's since
# chatwoot/chatwoot#14655 (merged 2026-06-05), a user's or administrator's before. Else `conversations#update` with
# nothing to change, which an agent bot's token may call (BOT_ACCESSIBLE_ENDPOINTS) and which answers the same
# conversation partial as `show`: `update!({})` saves no change, so `Conversation#execute_after_update_commit_callbacks`
# dispatch nothing (each checks `saved_change_to_*?` or `previous_changes`): no webhook, no activity message.
READS = (("GET", "conversations#show"), ("PATCH", "conversations#update"))
# A way refused is asked again once both have passed since the refusal: Chatwoot upgraded meanwhile lets the bot
# `show`, or no longer lets it `update`. One request more in REASK_LOOKS follow-ups at most, and one an hour (a refusal
# held until the service restarted: after an upgrade the hook read by PATCH for good).
REASK_S = 3600
REASK_LOOKS = 20


async def look(
    config: Config, http: Outbound, account: str, conversation: str, timeout_s: float
) -> DeliveryResult | None:
    """Whether a follow-up may be posted into the conversation now, by its status in Chatwoot (one read, at send time):
    a result when it may not (resolved or snoozed there, its webhook lost: `closed`; Chatwoot throttled or failing:
    nothing posted, tried again), else None (open or pending; Chatwoot refused every read (READS) to this token, or
    refused it otherwise, and the create meets the same refusal and is read as ever; or no answer in time, and a slow
    Chatwoot that creates it late is asked as after any attempt timed out)."""
    name = config.hooks.chatwoot.token_env(account)
    token = config.secret(name)
    if token is None:
        return None
    started = time.monotonic()
    for method, action in READS:
        key = f"{name} {action}"
        refused = http.refused_reads.get(key)
        if refused is not None:
            at_ms, looks = refused
            if http.now_ms() - at_ms < REASK_S * 1000 or looks < REASK_LOOKS:
                http.refused_reads[key] = (at_ms, looks + 1)
                continue
        left_s = timeout_s - (time.monotonic() - started)
        answer = await _read(config, http, account, conversation, token, method, max(left_s, 0.001))
        if answer != BOTS_REFUSED:
            if refused is not None and isinstance(answer, str) and http.refused_reads.pop(key, None) is not None:
                log.info("Chatwoot takes %s with %s again (upgraded?): looked at so from now on", action, name)
            return answer if isinstance(answer, DeliveryResult) or answer is None else _closed(conversation, answer)
        http.refused_reads[key] = (http.now_ms(), 0)  # an agent bot's token: not this way, until asked again
    return None


async def _read(
    config: Config, http: Outbound, account: str, conversation: str, token: str, method: str, timeout_s: float
) -> DeliveryResult | str | None:
    """The conversation's status in Chatwoot by one request; BOTS_REFUSED when the token may not read it so; a result
    when nothing may be posted now (throttled, failing); None when it cannot say."""
    where = f"Chatwoot, looking at conversation {conversation} before posting"
    try:
        async with http.session().request(
            method,
            conversation_url(config, account, conversation),
            headers={"api_access_token": token},
            json={} if method == "PATCH" else None,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
            allow_redirects=False,
        ) as resp:
            text = await resp.text(errors="replace")
            if resp.status == 401 and BOTS_REFUSED in text:
                return BOTS_REFUSED
            if resp.status == 429 or resp.status >= 500:
                result = DeliveryResult.from_status(resp.status, f"HTTP {resp.status} from {where}: {text[:200]}")
                return replace(result, retry_after_s=retry_after_s(resp.headers.get("Retry-After")), unposted=True)
            if resp.status != 200:
                return None
            try:
                status = json.loads(text).get("status")
            except (ValueError, AttributeError):
                return None  # not Chatwoot's JSON (a proxy's page): the create's answer says what it is
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:  # a slow Chatwoot may still create it: posted
        log.info("%s from %s: posted without it", type(exc).__name__, where)
        return None
    return status if isinstance(status, str) else None


def _closed(conversation: str, status: str) -> DeliveryResult | None:
    if status not in CLOSED_STATUSES:
        return None
    return DeliveryResult(False, status=200, error=f"Chatwoot shows conversation {conversation} {status}", closed=True)


@hookimpl
def on_startup(config: Config) -> None:
    settings = config.hooks.chatwoot
    if urlsplit(settings.url).scheme not in ("http", "https"):
        raise ConfigError(
            _("%(key)s: expected an http(s) URL, got %(value)s", key="[hooks.chatwoot] url", value=repr(settings.url))
        )
    for account, name in settings.account_tokens_env.items():
        if not account.isdigit():
            raise ConfigError(
                _(
                    "%(key)s: %(account)s is not a Chatwoot account id (a number)",
                    key="[hooks.chatwoot] account_tokens_env",
                    account=repr(account),
                )
            )
        if config.secret(name) is None:
            log.warning("%s is not set: follow-ups and notes cannot be posted to Chatwoot account %s", name, account)
    if config.secret(settings.api_token_env) is None and not settings.account_tokens_env:
        log.warning("%s is not set: follow-ups and notes cannot be posted to Chatwoot", settings.api_token_env)
    names = [settings.webhook_secret_env, *settings.extra_secrets_env]
    if all(config.secret(name) is None for name in names) and not settings.allow_unsigned:
        log.warning("%s not set and allow_unsigned is false: /v1/chatwoot refuses every payload", " / ".join(names))


def inbox_of_shop(shop: str) -> str | None:
    """The Chatwoot inbox id inside a shop id made by `shop_id` with `shop_by_inbox`, else None."""
    parts = shop.split("-")
    return parts[2] if len(parts) == 3 and account_of_shop(shop) is not None and parts[2].isdigit() else None


async def post_message(
    config: Config,
    http: Outbound,
    account: str,
    conversation: str,
    body: dict[str, Any],
    inbox: str | None = None,
    *,
    timeout_s: float | None = None,
) -> DeliveryResult:
    """Create a message in a Chatwoot conversation (of `inbox`, when the shop says), with the account's token."""
    name = config.hooks.chatwoot.token_env(account)
    token = config.secret(name)
    if token is None:
        return DeliveryResult.reject(f"{name} is not set (the API token of Chatwoot account {account})")
    url = messages_url(config, account, conversation)
    data = json.dumps(body, ensure_ascii=False).encode()
    headers = {"api_access_token": token, "Content-Type": "application/json"}
    timeout_s = config.followups.delivery_timeout_s if timeout_s is None else timeout_s
    result, answer = await http.post_json(url, data, headers, timeout_s=timeout_s, peer="Chatwoot")
    if result.ok and not (isinstance(answer, dict) and "id" in answer):  # Chatwoot answers the message it made
        error = f"Chatwoot answered {result.status} with JSON that is no message: {answer!r}"[:300]
        result = DeliveryResult(False, True, result.status, error, unknown=True)
    if result.unknown:  # a proxy's page in Chatwoot's place, or its answer rewritten on the way: it may be created
        return replace(result, error=f"{result.error} ({NOT_CHATWOOT}; whether it was created is looked up first)")
    if result.status is not None and 300 <= result.status < 400:
        return replace(result, error=f"{result.error} ({NOT_CHATWOOT})")
    if result.status == 401 and NOT_MEMBER in result.error:  # this conversation (or its inbox) only: final for it
        why = await chatwoot_refusal.advice(config, http, name, account, conversation, inbox, timeout_s)
        return replace(result, retryable=False, error=f"{why}: {result.error}")
    if result.status == 401:  # a revoked or rotated token (or a bot's in another account): kept, not failed
        return replace(result, refused_credential=f"{name} (the API token of Chatwoot account {account})")
    if result.status == 404 and NOT_FOUND in result.error:  # the conversation was deleted: nobody to follow up
        return replace(result, gone=True)
    return result


@hookimpl
async def deliver_message(
    config: Config, http: Outbound, conversation: dict[str, Any], text: str, idempotency_key: str, kind: str
) -> DeliveryResult | None:
    account = account_of_shop(str(conversation["shop"]))
    if account is None:
        return None  # not a Chatwoot conversation: another plugin delivers it
    body = {
        "content": with_emoji(text),
        "message_type": "outgoing",
        "private": False,
        "content_attributes": {FOLLOWUP_ATTRIBUTE: idempotency_key, "kind": kind},
    }
    shop, conversation_id = str(conversation["shop"]), str(conversation["conversation"])
    # A resolve whose webhook was lost: Chatwoot creates the message all the same (and the channel sends it), so the
    # conversation is looked at first, with half the attempt's time at most (a slow Chatwoot leaves the rest to it).
    started = time.monotonic()
    limit_s = config.followups.delivery_timeout_s
    refused = await look(config, http, account, conversation_id, limit_s / 2)
    if refused is not None:
        return refused
    left_s = max(limit_s / 2, limit_s - (time.monotonic() - started))
    inbox = conversation.get("inbox") or inbox_of_shop(shop)  # as the webhooks said, else as the shop says
    return await post_message(config, http, account, conversation_id, body, inbox, timeout_s=left_s)


@hookimpl
async def confirm_delivery(
    config: Config, http: Outbound, conversation: dict[str, Any], idempotency_key: str, since_ms: int
) -> bool | None:
    """Whether the conversation already holds our message `idempotency_key` (newest pages first)."""
    account = account_of_shop(str(conversation["shop"]))
    name = config.hooks.chatwoot.token_env(account) if account is not None else ""
    token = config.secret(name) if account is not None else None
    if account is None or token is None:
        return None  # not a Chatwoot conversation, or no way to ask
    url = messages_url(config, account, str(conversation["conversation"]))
    timeout = aiohttp.ClientTimeout(total=config.followups.delivery_timeout_s)
    before: int | None = None
    for _page in range(MAX_PAGES):
        params = {"before": str(before)} if before is not None else {}
        try:
            async with http.session().get(
                url, params=params, headers={"api_access_token": token}, timeout=timeout, allow_redirects=False
            ) as resp:
                if resp.status != 200:
                    detail = (await resp.text(errors="replace"))[:200]
                    # A revoked or rotated token (any 401 but a bot's, whose token may never list, or one a member of
                    # other inboxes only, which may never list this one's): kept for it.
                    revoked = resp.status == 401 and BOTS_REFUSED not in detail and NOT_MEMBER not in detail
                    raise ListingFailed(
                        f"HTTP {resp.status} listing Chatwoot messages: {detail}",
                        final=resp.status in (401, 403),
                        credential=f"{name} (the API token of Chatwoot account {account})" if revoked else None,
                    )
                listing = await resp.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
            raise ListingFailed(f"{type(exc).__name__} listing Chatwoot messages: {exc}") from None
        messages = [m for m in (listing or {}).get("payload") or [] if isinstance(m, dict)]
        if any(_followup_id(m) == idempotency_key for m in messages):
            return True
        ids = [m["id"] for m in messages if isinstance(m.get("id"), int)]
        stamps = [m["created_at"] for m in messages if isinstance(m.get("created_at"), (int, float))]
        oldest_s = min(stamps, default=0)
        if len(messages) < PAGE or not ids or oldest_s * 1000 < since_ms - SLACK_S * 1000:
            return False  # the whole conversation, or everything since the follow-up, was seen
        before = min(ids)
    raise ListingFailed(f"more than {PAGE * MAX_PAGES} messages since the follow-up; cannot tell")


def _followup_id(message: dict[str, Any]) -> Any:
    attributes = message.get("content_attributes")
    if isinstance(attributes, str):  # stored as given: a JSON string stays a string
        try:
            attributes = json.loads(attributes)
        except ValueError:
            return None
    return attributes.get(FOLLOWUP_ATTRIBUTE) if isinstance(attributes, dict) else None


def confident(suggestions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The suggestions the panel shows undimmed: those without a confidence, or at least LOW_CONFIDENCE."""
    return [
        s for s in suggestions
        if not isinstance(s.get("confidence"), (int, float)) or s["confidence"] >= LOW_CONFIDENCE
    ]  # fmt: skip


def note_text(suggestions: list[dict[str, Any]], customer_type: dict[str, Any] | None) -> str:
    """The private note listing the suggestions (and the customer type) for agents working in Chatwoot."""
    lines = [NOTE_PREFIX]
    for i, s in enumerate(suggestions, 1):
        lines.append(f"{i}. [{s['code']}] {with_emoji(s['text'])}")
    if customer_type and customer_type.get("type") != "newcomer":
        script = customer_type.get("script") or []
        lines.append(f"客户类型：{customer_type.get('label')}" + (f" — {script[0]}" if script else ""))
    return "\n".join(lines)


@hookimpl
@reads_only
def on_suggestions(
    config: Config,
    http: Outbound,
    shop: str,
    conversation: str,
    suggestions: list[dict[str, Any]],
    customer_type: dict[str, Any] | None,
) -> Awaitable[None] | None:
    """The note's posting, when there is one to post: a plain call, so that a customer message without a note (as
    shipped, `post_suggestions_as_note` off) costs no task on the event loop."""
    settings = config.hooks.chatwoot
    if not settings.post_suggestions_as_note:
        return None
    suggestions = confident(suggestions)
    if not suggestions:
        return None  # guesses would read as equal options in a note: none at all when nothing is confident
    account = account_of_shop(shop)
    if account is None or (settings.note_shops and shop not in settings.note_shops):
        return None
    body = {"content": note_text(suggestions, customer_type), "message_type": "outgoing", "private": True}
    return _post_note(config, http, account, shop, conversation, body)


async def _post_note(
    config: Config, http: Outbound, account: str, shop: str, conversation: str, body: dict[str, Any]
) -> None:
    result = await post_message(config, http, account, conversation, body)
    if not result.ok:
        log.warning("suggestion note for %s/%s not posted: %s", shop, conversation, result.error)
