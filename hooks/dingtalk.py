"""DingTalk group robot (钉钉自定义机器人): quality alerts posted to a group, signed as DingTalk requires.

`POST {url}?access_token=…&timestamp=…&sign=…` with a JSON body of msgtype `markdown` (or `text`).
With the robot's 加签 secret set, each attempt is signed: `timestamp` is epoch milliseconds and
`sign` = urlencode(base64(HMAC-SHA256(key=secret, message=f"{timestamp}\\n{secret}"))); DingTalk refuses a
timestamp more than an hour off. DingTalk answers 200 with `{"errcode": 0, "errmsg": "ok"}`, or an
`errcode`: 130101 (more than 20 messages a minute) and -1 (busy) are retried, anything else is final.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from urllib.parse import quote_plus, urlsplit

from assistant.clock import local_time
from assistant.config import Config, ConfigError
from assistant.hookspecs import Alert, DeliveryResult, hookimpl
from assistant.i18n import _
from assistant.outbound import Outbound

log = logging.getLogger(__name__)

RETRY_CODES = frozenset({-1, 130101})
MAX_QUOTE_CHARS = 500


def sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's `sign` parameter: urlencode(base64(HMAC-SHA256(secret, "{timestamp}\\n{secret}")))."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode())


def signed_url(base: str, access_token: str, secret: str | None, timestamp_ms: int) -> str:
    url = f"{base}{'&' if '?' in base else '?'}access_token={quote_plus(access_token)}"
    if secret:
        url += f"&timestamp={timestamp_ms}&sign={sign(secret, timestamp_ms)}"
    return url


@hookimpl
def on_startup(config: Config) -> None:
    settings = config.hooks.dingtalk
    if urlsplit(settings.url).scheme not in ("http", "https"):
        raise ConfigError(
            _("%(key)s: expected an http(s) URL, got %(value)s", key="[hooks.dingtalk] url", value=repr(settings.url))
        )
    if config.secret(settings.access_token_env) is None:
        raise ConfigError(
            _(
                "%(key)s: set the variable %(name)s",
                key="[hooks.dingtalk] access_token_env",
                name=settings.access_token_env,
            )
        )
    if config.secret(settings.secret_env) is None:
        log.warning(
            "%s is not set: DingTalk alerts go out unsigned (the robot must not require 加签)", settings.secret_env
        )


def title(alert: Alert) -> str:
    labels = "、".join(alert.labels)
    return f"升级告警·无人回复 {labels}" if alert.escalation else f"质检告警 {labels}"


def lines(config: Config, alert: Alert) -> list[str]:
    """The alert as short lines (shared by markdown and text)."""
    when = local_time(alert.ts_ms, config.tz).strftime("%Y-%m-%d %H:%M:%S")
    who = f"顾客 {alert.customer}" if alert.sender == "customer" else f"客服 {alert.agent or ''}"
    quote = alert.text if len(alert.text) <= MAX_QUOTE_CHARS else alert.text[:MAX_QUOTE_CHARS] + "…"
    out = [f"店铺：{alert.shop}", f"会话：{alert.conversation}（{who}）", f"时间：{when}"]
    if alert.agent and alert.sender == "customer":
        out.append(f"接待：{alert.agent}")
    elif alert.sender == "agent":
        out.append(f"顾客：{alert.customer}")
    if alert.escalation:
        out.append(f"{config.qa.escalate_after_s} 秒内没有客服回复")
    out.append(f"原话：{quote}")
    out.append(f"命中：{'、'.join(str(f.get('match')) for f in alert.flags)}")
    out.append(f"编号：{alert.id}")
    return out


def message(config: Config, alert: Alert) -> dict[str, object]:
    """The robot message body."""
    settings = config.hooks.dingtalk
    mentions = "".join(f" @{m}" for m in settings.at_mobiles)
    at = {"atMobiles": list(settings.at_mobiles), "isAtAll": settings.at_all}
    body = lines(config, alert)
    if settings.msgtype == "text":
        text = "\n".join([f"【{title(alert)}】", *body, alert.link]) + mentions
        return {"msgtype": "text", "text": {"content": text}, "at": at}
    heading = f"### {title(alert)}"
    items = [f"- {_md(line)}" for line in body]
    markdown = "\n".join([heading, *items, f"\n[查看会话]({alert.link})"]) + mentions
    return {"msgtype": "markdown", "markdown": {"title": title(alert), "text": markdown}, "at": at}


def _md(text: str) -> str:
    # Customer text must not become markdown (links, emphasis, code, HTML) in the group; each line starts
    # with "- ", so a heading or a list cannot begin inside it, and dates and numbers stay unescaped.
    return "".join("\\" + c if c in "\\`*_[]<>" else c for c in text.replace("\n", " "))


@hookimpl
async def on_alert(config: Config, http: Outbound, alert: Alert) -> DeliveryResult:
    settings = config.hooks.dingtalk
    token = config.secret(settings.access_token_env)
    if token is None:
        return DeliveryResult.reject(f"{settings.access_token_env} is not set")
    url = signed_url(settings.url, token, config.secret(settings.secret_env), int(time.time() * 1000))
    body = json.dumps(message(config, alert), ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json;charset=utf-8"}
    result, answer = await http.post_json(url, body, headers, timeout_s=settings.timeout_s, peer="DingTalk")
    if not result.ok:
        return result
    return from_answer(answer, "DingTalk", RETRY_CODES)


def from_answer(answer: object, peer: str, retry_codes: frozenset[int]) -> DeliveryResult:
    """The robot's `{"errcode", "errmsg"}` as a DeliveryResult."""
    if not isinstance(answer, dict) or not isinstance(answer.get("errcode"), int):
        return DeliveryResult.retry(f"{peer} answered without an errcode: {str(answer)[:200]}")
    code = answer["errcode"]
    if code == 0:
        return DeliveryResult.sent(200)
    error = f"{peer} errcode {code}: {answer.get('errmsg', '')}"
    return DeliveryResult.retry(error, 200) if code in retry_codes else DeliveryResult.reject(error, 200)
