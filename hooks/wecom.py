"""WeCom group robot (企业微信群机器人): quality alerts posted to a group.

`POST {url}?key=…` (the robot's webhook key, from the variable `key_env`) with a JSON body of msgtype
`markdown` (or `text`, the only kind that can @ members by phone). WeCom answers 200 with
`{"errcode": 0, "errmsg": "ok"}`, or an `errcode`: 45009 (more than 20 messages a minute) and -1 (busy)
are retried, anything else (93000: a wrong key) is final. Markdown content is limited to 4096 bytes.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import quote_plus, urlsplit

from assistant.config import Config, ConfigError
from assistant.hookspecs import Alert, DeliveryResult, hookimpl
from assistant.i18n import _
from assistant.outbound import Outbound
from hooks import dingtalk

log = logging.getLogger(__name__)

RETRY_CODES = frozenset({-1, 45009})
MAX_MARKDOWN_BYTES = 4096


@hookimpl
def on_startup(config: Config) -> None:
    settings = config.hooks.wecom
    if urlsplit(settings.url).scheme not in ("http", "https"):
        raise ConfigError(
            _("%(key)s: expected an http(s) URL, got %(value)s", key="[hooks.wecom] url", value=repr(settings.url))
        )
    if config.secret(settings.key_env) is None:
        raise ConfigError(_("%(key)s: set the variable %(name)s", key="[hooks.wecom] key_env", name=settings.key_env))


def message(config: Config, alert: Alert) -> dict[str, object]:
    """The robot message body."""
    settings = config.hooks.wecom
    lines = dingtalk.lines(config, alert)
    if settings.msgtype == "text":
        content = "\n".join([f"【{dingtalk.title(alert)}】", *lines, alert.link])
        return {
            "msgtype": "text",
            "text": {"content": content, "mentioned_mobile_list": list(settings.mentioned_mobiles)},
        }
    color = "warning" if alert.escalation else "comment"
    head = f'**{dingtalk.title(alert)}** <font color="{color}">{_md(alert.shop)}</font>'
    content = "\n".join([head, *(f"> {_md(line)}" for line in lines), f"[查看会话]({alert.link})"])
    while len(content.encode()) > MAX_MARKDOWN_BYTES:  # the quote is the long part: shorten the whole
        content = content[: len(content) * 9 // 10]
    return {"msgtype": "markdown", "markdown": {"content": content}}


def _md(text: str) -> str:
    return "".join("\\" + c if c in "\\`*_[]()<>#" else c for c in text.replace("\n", " "))


@hookimpl
async def on_alert(config: Config, http: Outbound, alert: Alert) -> DeliveryResult:
    settings = config.hooks.wecom
    key = config.secret(settings.key_env)
    if key is None:
        return DeliveryResult.reject(f"{settings.key_env} is not set")
    url = f"{settings.url}{'&' if '?' in settings.url else '?'}key={quote_plus(key)}"
    body = json.dumps(message(config, alert), ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json"}
    result, answer = await http.post_json(url, body, headers, timeout_s=settings.timeout_s, peer="WeCom")
    if not result.ok:
        return result
    return dingtalk.from_answer(answer, "WeCom", RETRY_CODES)
